//! `Idempotency-Key` on POST: the first response (success or client error) is stored for 24 hours
//! and replayed to retries; the same key with a different request gets 422; a retry while the
//! first request still runs gets 409. Server errors release the key so that a retry runs again.

use std::sync::Arc;

use passerelle_core::idempotency::{self, Claim, Scope, StoredResponse};
use passerelle_core::tenancy::Principal;
use poem::http::{HeaderName, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use sha2::{Digest, Sha256};

use crate::problem::{ApiError, problem_response};
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
const KEPT_HEADERS: [&str; 2] = ["content-type", "location"];

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

pub async fn layer<E: Endpoint>(next: Arc<E>, mut req: Request) -> Result<Response> {
    let Some(key) = req.headers().get(HEADER).cloned() else {
        return Ok(next.call(req).await?.into_response());
    };
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.into_response());
    }
    let Some(principal) = req.extensions().get::<Principal>().cloned() else {
        // Unauthenticated: let the handler refuse it; nothing is stored.
        return Ok(next.call(req).await?.into_response());
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| valid_key(k))
        .ok_or_else(|| {
            ApiError::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into())
        })?
        .to_owned();
    let state = req
        .data::<AppState>()
        .cloned()
        .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
    let scope = match principal.tenant_id() {
        Some(tenant_id) => Scope::Tenant(tenant_id),
        None => Scope::Platform,
    };

    let body = req.take_body().into_bytes().await?;
    let fingerprint = fingerprint(
        req.method().as_str(),
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_default(),
        req.content_type().unwrap_or_default(),
        &body,
    );
    req.set_body(body);

    match idempotency::claim(&state.db, scope, &key, &fingerprint)
        .await
        .map_err(ApiError::from)?
    {
        Claim::Replay(stored) => Ok(replay(stored)),
        Claim::Mismatch => Err(ApiError::IdempotencyMismatch.into()),
        Claim::InProgress => Err(ApiError::IdempotencyInProgress.into()),
        Claim::Acquired => {
            let mut resp = match next.call(req).await {
                Ok(resp) => resp.into_response(),
                Err(err) => problem_response(err),
            };
            if resp.status().is_server_error() {
                idempotency::release(&state.db, scope, &key)
                    .await
                    .map_err(ApiError::from)?;
                return Ok(resp);
            }
            let body = resp.take_body().into_bytes().await?;
            let stored = StoredResponse {
                status: resp.status().as_u16(),
                headers: KEPT_HEADERS
                    .iter()
                    .filter_map(|name| {
                        let value = resp.headers().get(*name)?.to_str().ok()?;
                        Some(((*name).to_owned(), value.to_owned()))
                    })
                    .collect(),
                body: body.to_vec(),
            };
            idempotency::complete(&state.db, scope, &key, &stored)
                .await
                .map_err(ApiError::from)?;
            resp.set_body(body);
            Ok(resp)
        }
    }
}

/// What makes two requests "the same": method, path with query, content type and body.
pub fn fingerprint(method: &str, path_and_query: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in [
        method.as_bytes(),
        path_and_query.as_bytes(),
        content_type.as_bytes(),
    ] {
        hasher.update(part);
        hasher.update([0]);
    }
    hasher.update(body);
    hasher.finalize().to_vec()
}

fn replay(stored: StoredResponse) -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
        .body(stored.body);
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp.headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    resp
}
