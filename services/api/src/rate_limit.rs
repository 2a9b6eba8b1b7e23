//! Per-client-address rate limiting in Redis: a fixed one-minute window counted with INCR, shared
//! by every API replica.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;

use crate::problem::ApiError;
use crate::state::AppState;

const WINDOW_SECONDS: u64 = 60;

/// Counts one request of `scope` from `client`; refuses it past `limit` per minute. If Redis is
/// unreachable the request is let through (and logged): the limit protects, it must not lock
/// citizens out.
pub async fn hit(
    state: &AppState,
    scope: &str,
    client: Option<IpAddr>,
    limit: u64,
) -> Result<(), ApiError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let window = now / WINDOW_SECONDS;
    let client = client
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into());
    let key = format!(
        "{}:ratelimit:{scope}:{client}:{window}",
        state.redis_namespace
    );
    let mut redis = state.redis.clone();
    let count: redis::RedisResult<u64> = async {
        let count: u64 = redis.incr(&key, 1).await?;
        if count == 1 {
            let _: () = redis.expire(&key, WINDOW_SECONDS as i64 + 1).await?;
        }
        Ok(count)
    }
    .await;
    match count {
        Ok(count) if count > limit => Err(ApiError::TooManyRequests {
            retry_after: (window + 1) * WINDOW_SECONDS - now,
        }),
        Ok(_) => Ok(()),
        Err(err) => {
            tracing::error!(error = %err, "rate limiter unavailable; request let through");
            Ok(())
        }
    }
}
