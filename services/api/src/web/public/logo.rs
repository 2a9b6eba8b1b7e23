//! A territory's logo at its public address, for its pages, letters and emails (an email client
//! fetches it without any session). The address carries the logo's digest (`?v=`), so that one
//! version is cached for a year and a new logo is a new address.

use passerelle_core::tenancy::branding;
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{IntoResponse, Request, Response, handler};

use super::super::responses::{PageResult, message};
use super::super::session::portal;
use crate::state::AppState;

/// An SVG opened on its own is a document: whatever got past the checks may not run, load or
/// submit anything.
const LOGO_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

#[handler]
pub(super) async fn logo(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    let Some(logo) = branding::logo(&state.db, tenant.id).await? else {
        return Err(message(
            StatusCode::NOT_FOUND,
            "Logo introuvable",
            "Ce territoire n’a pas de logo.",
            None,
        )
        .into());
    };
    let etag = format!("\"{}\"", logo.sha256);
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag))
    {
        return Ok(Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, etag)
            .finish());
    }
    let versioned = req
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("v="))
        .is_some_and(|v| v.len() >= 8 && logo.sha256.starts_with(v));
    Ok(Response::builder()
        .content_type(logo.format.media_type())
        .header(header::ETAG, etag)
        .header(
            header::CACHE_CONTROL,
            if versioned {
                "public, max-age=31536000, immutable"
            } else {
                "public, max-age=300"
            },
        )
        .header(header::CONTENT_SECURITY_POLICY, LOGO_POLICY)
        .header("cross-origin-resource-policy", "cross-origin")
        .body(logo.content)
        .into_response())
}
