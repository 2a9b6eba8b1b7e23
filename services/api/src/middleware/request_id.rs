//! A request id on every response (`X-Request-Id`) and in every log line of the request. A client
//! may send its own (letters, digits, `-` and `_`, at most 64); otherwise one is generated.
//!
//! The log names the route's template (`/portail/:tenant/mot-de-passe/:secret`), never the path
//! itself: some paths carry a secret (a password link, a holder's portfolio link) that must not
//! end up in log files. A path that matched no route is logged as such, without its text.

use std::sync::Arc;
use std::time::Instant;

use poem::PathPattern;
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use tracing::Instrument;
use uuid::Uuid;

pub const HEADER: &str = "x-request-id";

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub async fn layer<E: Endpoint>(next: Arc<E>, req: Request) -> Result<Response> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::now_v7().to_string());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method());
    let started = Instant::now();
    async move {
        let (mut resp, route) = match next.call(req).await {
            Ok(resp) => {
                let resp = resp.into_response();
                let route = resp.data::<PathPattern>().map(|p| p.0.clone());
                (resp, route)
            }
            Err(err) => {
                let route = err.data::<PathPattern>().map(|p| p.0.clone());
                (crate::problem::problem_response(err), route)
            }
        };
        if let Ok(value) = id.parse() {
            resp.headers_mut().insert(HEADER, value);
        }
        tracing::info!(
            route = route
                .as_deref()
                .filter(|r| !r.is_empty())
                .unwrap_or("(no route)"),
            status = resp.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request done"
        );
        Ok(resp)
    }
    .instrument(span)
    .await
}
