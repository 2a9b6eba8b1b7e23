//! `Idempotency-Key` on POST: the first response (success or client error) is stored for 24 hours
//! and replayed to retries; the same key with a different request gets 422; a retry while the
//! first request still runs gets 409. Server errors release the key so that a retry runs again.
//!
//! A key is the caller's own (tenant user or platform admin), the caller is part of what makes two
//! requests "the same", and a caller whose role may not call the operation is never answered from
//! the store: the handler refuses them as it would without the header. A response that carries a
//! secret shown once is not stored; a retry gets 409 `idempotency-secret-not-replayed`.
//!
//! The header is an RFC 8941 structured-field string (`Idempotency-Key: "8e03978e-40d5"`), as the
//! IETF draft defines it.

use std::sync::Arc;

use passerelle_core::idempotency::{self, Claim, Scope, StoredResponse};
use passerelle_core::tenancy::Principal;
use poem::http::{HeaderName, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use sha2::{Digest, Sha256};

use crate::access;
use crate::problem::{ApiError, problem_response};
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
const KEPT_HEADERS: [&str; 2] = ["content-type", "location"];
const MAX_KEY_LENGTH: usize = 255;

/// Reads the header as an sf-string of 1 to 255 characters (parameters, which the draft does not
/// define, are ignored).
pub fn parse_key(value: &[u8]) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::BadRequest(
            "Idempotency-Key must be a structured-field string (RFC 8941) of 1 to 255 characters, \
             in double quotes, e.g. Idempotency-Key: \"8e03978e-40d5-43e8-bc93-6894a57f9324\""
                .into(),
        )
    };
    let item: sfv::Item = sfv::Parser::new(value).parse().map_err(|_| invalid())?;
    let key = item.bare_item.as_string().ok_or_else(invalid)?.as_str();
    if key.is_empty() || key.len() > MAX_KEY_LENGTH {
        return Err(invalid());
    }
    Ok(key.to_owned())
}

pub async fn layer<E: Endpoint>(next: Arc<E>, mut req: Request) -> Result<Response> {
    let Some(header) = req.headers().get(HEADER).cloned() else {
        return Ok(next.call(req).await?.into_response());
    };
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.into_response());
    }
    // An upload of tens of megabytes is not held in memory to be fingerprinted; importing the same
    // file twice is harmless (places are updated by their id).
    if super::body_limit::is_streamed_upload(req.method().as_str(), req.uri().path()) {
        return Ok(next.call(req).await?.into_response());
    }
    let Some(principal) = req.extensions().get::<Principal>().cloned() else {
        // Unauthenticated: let the handler refuse it; nothing is stored.
        return Ok(next.call(req).await?.into_response());
    };
    let Some(operation) = access::find(req.method().as_str(), req.uri().path())
        .filter(|operation| operation.roles.contains(&principal.role()))
    else {
        // No such operation, or not one this caller may call: the router or the handler answers
        // (404, 403) and nothing is stored or replayed.
        return Ok(next.call(req).await?.into_response());
    };
    let key = parse_key(header.as_bytes())?;
    let state = req
        .data::<AppState>()
        .cloned()
        .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
    let scope = match principal.tenant_id() {
        Some(tenant_id) => Scope::Tenant(tenant_id),
        None => Scope::Platform,
    };
    let caller = principal.caller_id();

    let body = req.take_body().into_bytes().await?;
    let fingerprint = fingerprint(
        &caller.to_string(),
        req.method().as_str(),
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_default(),
        req.content_type().unwrap_or_default(),
        &body,
    );
    req.set_body(body);

    match idempotency::claim(&state.db, scope, caller, &key, &fingerprint)
        .await
        .map_err(ApiError::from)?
    {
        Claim::Replay(stored) if stored.withheld => Err(ApiError::IdempotencySecretWithheld.into()),
        Claim::Replay(stored) => Ok(replay(stored)),
        Claim::Mismatch => Err(ApiError::IdempotencyMismatch.into()),
        Claim::InProgress => Err(ApiError::IdempotencyInProgress.into()),
        Claim::Acquired => {
            let mut resp = match next.call(req).await {
                Ok(resp) => resp.into_response(),
                Err(err) => problem_response(err),
            };
            if resp.status().is_server_error() {
                idempotency::release(&state.db, scope, caller, &key)
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
                withheld: operation.shows_secret && resp.status().is_success(),
            };
            idempotency::complete(&state.db, scope, caller, &key, &stored)
                .await
                .map_err(ApiError::from)?;
            resp.set_body(body);
            Ok(resp)
        }
    }
}

/// What makes two requests "the same": who sends it, method, path with query, content type and
/// body.
pub fn fingerprint(
    caller: &str,
    method: &str,
    path_and_query: &str,
    content_type: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in [
        caller.as_bytes(),
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
