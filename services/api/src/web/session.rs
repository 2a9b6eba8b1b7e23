//! Who is signed in: the tenant of the path, the session cookie, and the forgery checks (same
//! origin, CSRF token) every form goes through.

use passerelle_core::tenancy::accounts::{self, SessionUser};
use passerelle_core::tenancy::tenants::{self, Tenant};
use poem::Request;
use poem::http::header;

use super::*;
use crate::state::AppState;

pub(super) const COOKIE: &str = "passerelle_session";

pub(super) async fn portal(state: &AppState, slug: &str) -> PageResult<Tenant> {
    match tenants::find_by_slug(&state.db, slug).await {
        Ok(Some(tenant)) => Ok(tenant),
        Ok(None) => Err(unknown_portal().into()),
        Err(e) => {
            tracing::error!(error = %e, "portal lookup failed");
            Err(unavailable().into())
        }
    }
}

pub(super) fn session_cookie(req: &Request) -> Option<String> {
    cookie_named(req, COOKIE)
}

/// The value of the request's cookie `name`.
pub(super) fn cookie_named(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value.to_owned())
}

/// `; Secure` when the service is served over HTTPS, for every cookie it sets.
pub(super) fn secure_attribute(state: &AppState) -> &'static str {
    if state.links.public_base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

pub(super) fn cookie_path(tenant: &Tenant) -> String {
    format!("/portail/{}", tenant.slug)
}

pub(super) fn set_cookie(state: &AppState, tenant: &Tenant, value: &str, max_age: i64) -> String {
    let secure = secure_attribute(state);
    format!(
        "{COOKIE}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_path(tenant)
    )
}

/// Whether a form was posted from a page of this service: its `Origin` (or `Referer`) must name
/// the host the request was sent to.
pub(super) fn same_origin(req: &Request) -> bool {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let source = req
        .headers()
        .get(header::ORIGIN)
        .or_else(|| req.headers().get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    source
        .and_then(|s| s.split_once("://"))
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
        .is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host))
}

/// Compares two tokens in a time that does not depend on where they differ.
pub(super) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub(super) async fn signed_in(
    state: &AppState,
    req: &Request,
    tenant: &Tenant,
) -> PageResult<Option<SessionUser>> {
    let Some(cookie) = session_cookie(req) else {
        return Ok(None);
    };
    match accounts::authenticate(&state.db, &cookie).await {
        Ok(Some(user)) if user.principal.tenant_id() == Some(tenant.id) => Ok(Some(user)),
        Ok(_) => Ok(None),
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            Err(unavailable().into())
        }
    }
}
