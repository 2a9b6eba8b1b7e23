//! Bounds request bodies whether or not the client declares a Content-Length.

use std::sync::Arc;

use poem::error::ReadBodyError;
use poem::{Endpoint, IntoResponse, Request, Response, Result};

use crate::problem::ApiError;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub async fn layer<E: Endpoint>(next: Arc<E>, mut req: Request) -> Result<Response> {
    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES).into());
    }
    let body = req.take_body();
    let bytes = match body.into_bytes_limit(MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(ReadBodyError::PayloadTooLarge) => {
            return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES).into());
        }
        Err(err) => {
            return Err(
                ApiError::BadRequest(format!("could not read the request body: {err}")).into(),
            );
        }
    };
    req.set_body(bytes);
    Ok(next.call(req).await?.into_response())
}
