//! Liveness and readiness, outside `/v1` and outside authentication: load balancers call them.

use std::time::Duration;

use poem::web::{Data, Json};
use poem::{IntoResponse, Response, handler};
use serde_json::json;

use crate::problem::ApiError;
use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The process is up and serving.
#[handler]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// PostgreSQL and Redis both answer: the instance can take traffic.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> Response {
    let database = tokio::time::timeout(CHECK_TIMEOUT, state.db.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    let mut redis = state.redis.clone();
    let redis_ok = tokio::time::timeout(
        CHECK_TIMEOUT,
        redis::cmd("PING").query_async::<String>(&mut redis),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if database && redis_ok {
        Json(json!({ "status": "ready", "postgres": "ok", "redis": "ok" })).into_response()
    } else {
        tracing::warn!(database, redis = redis_ok, "not ready");
        poem::error::ResponseError::as_response(&ApiError::Unavailable)
    }
}
