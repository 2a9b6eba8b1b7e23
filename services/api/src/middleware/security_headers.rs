//! Headers that tell the browser what a response may do, on every response: no MIME sniffing, never
//! framed (clickjacking), no referrer outside the site, HSTS when the service is reached over
//! https, and a Content-Security-Policy. Pages carry no inline script and no inline style (the
//! portal's own rules and scripts are in `/static/passerelle/`), so their policy allows only the
//! site's own files — scripts, the phone app's service worker and manifest, its requests; the
//! interactive API documentation (`/docs`, Swagger UI) runs inline scripts and gets a policy of
//! its own, still never framed.

use std::sync::Arc;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response, Result};

use crate::state::AppState;

pub const PAGES_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; connect-src 'self'; \
     worker-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";
const DOCS_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";
/// Two years, as the HSTS preload list asks.
const HSTS: &str = "max-age=63072000; includeSubDomains";

pub async fn layer<E: Endpoint>(next: Arc<E>, req: Request) -> Result<Response> {
    let https = req
        .data::<AppState>()
        .is_some_and(|state| state.links.public_base_url.starts_with("https://"));
    let docs = req.uri().path().starts_with("/docs");
    let mut resp = match next.call(req).await {
        Ok(resp) => resp.into_response(),
        Err(err) => crate::problem::problem_response(err),
    };
    let headers = resp.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers
        .entry("referrer-policy")
        .or_insert(HeaderValue::from_static("same-origin"));
    // A response that set its own, stricter policy (a territory's logo) keeps it.
    headers
        .entry("content-security-policy")
        .or_insert(HeaderValue::from_static(if docs {
            DOCS_POLICY
        } else {
            PAGES_POLICY
        }));
    if https {
        headers.insert("strict-transport-security", HeaderValue::from_static(HSTS));
    }
    Ok(resp)
}
