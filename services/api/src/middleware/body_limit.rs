//! Bounds request bodies whether or not the client declares a Content-Length.
//!
//! Every body is read whole up to 1 MiB, except the uploads of imports, which stream into
//! PostgreSQL as they arrive (a national file of places is tens of megabytes): those are counted
//! as they pass, and cut past their own limit.

use std::sync::Arc;

use futures::StreamExt;
use poem::error::ReadBodyError;
use poem::{Body, Endpoint, IntoResponse, Request, Response, Result};

use crate::problem::ApiError;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// An upload of an import: the file's limit, and room for the form around it.
pub const MAX_UPLOAD_BODY_BYTES: usize = passerelle_core::imports::MAX_UPLOAD_BYTES + 64 * 1024;

/// The routes whose body is a streamed upload: the API's import of places, and the portal's
/// imports of places and of bulk vouchers.
pub fn is_streamed_upload(method: &str, path: &str) -> bool {
    if method != "POST" {
        return false;
    }
    if path == "/v1/epns/import" {
        return true;
    }
    let mut segments = path.trim_end_matches('/').split('/').skip(1);
    matches!(
        (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next()
        ),
        (
            Some("portail"),
            Some(_),
            Some("epns" | "cheques"),
            Some("import"),
            None
        )
    )
}

fn declared_length(req: &Request) -> Option<usize> {
    req.headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// The body as a stream that fails once more than `max` bytes have passed.
fn counted(body: Body, max: usize) -> Body {
    let mut seen = 0usize;
    Body::from_bytes_stream(body.into_bytes_stream().map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len();
        if seen > max {
            return Err(std::io::Error::other(format!(
                "the request body is larger than {max} bytes"
            )));
        }
        Ok(chunk)
    }))
}

pub async fn layer<E: Endpoint>(next: Arc<E>, mut req: Request) -> Result<Response> {
    let streamed = is_streamed_upload(req.method().as_str(), req.uri().path());
    let max = if streamed {
        MAX_UPLOAD_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    };
    if declared_length(&req).is_some_and(|len| len > max) {
        return Err(ApiError::PayloadTooLarge(max).into());
    }
    let body = req.take_body();
    if streamed {
        req.set_body(counted(body, max));
        return Ok(next.call(req).await?.into_response());
    }
    let bytes = match body.into_bytes_limit(max).await {
        Ok(bytes) => bytes,
        Err(ReadBodyError::PayloadTooLarge) => {
            return Err(ApiError::PayloadTooLarge(max).into());
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

#[cfg(test)]
mod tests {
    use super::is_streamed_upload;

    #[test]
    fn only_the_import_uploads_stream() {
        assert!(is_streamed_upload("POST", "/v1/epns/import"));
        assert!(is_streamed_upload("POST", "/portail/lot/epns/import"));
        assert!(is_streamed_upload("POST", "/portail/lot/cheques/import"));
        assert!(!is_streamed_upload("GET", "/portail/lot/epns/import"));
        assert!(!is_streamed_upload("POST", "/portail/lot/epns/import/x"));
        assert!(!is_streamed_upload("POST", "/v1/vouchers/bulk"));
        assert!(!is_streamed_upload("POST", "/portail/lot/epns"));
    }
}
