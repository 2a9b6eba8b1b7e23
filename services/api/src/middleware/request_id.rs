//! A request id on every response (`X-Request-Id`) and in every log line of the request. A client
//! may send its own (letters, digits, `-` and `_`, at most 64); otherwise one is generated.

use std::sync::Arc;
use std::time::Instant;

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
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    async move {
        let mut resp = match next.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => crate::problem::problem_response(err),
        };
        if let Ok(value) = id.parse() {
            resp.headers_mut().insert(HEADER, value);
        }
        tracing::info!(
            status = resp.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request done"
        );
        Ok(resp)
    }
    .instrument(span)
    .await
}
