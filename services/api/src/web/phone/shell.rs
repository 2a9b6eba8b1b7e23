//! The app's shell — the one page the phone keeps and opens with no network, whose script draws
//! the week from the phone's storage — its web app manifest and its service worker.

use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Request, Response, handler};
use serde::Serialize;

use super::super::{PageResult, Portal, session::portal};
use super::app_path;
use crate::access;
use crate::state::AppState;

const SERVICE_WORKER: &str = include_str!("../../../static/telephone-sw.js");

/// What the shell's script needs to find its way: the app's and the portal's addresses.
#[derive(Serialize)]
struct ShellView {
    app_path: String,
}

#[handler]
pub(in crate::web) async fn page(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::RECORD_ATTENDANCE).await?;
    let app_path = app_path(&portal.tenant);
    let mut page = portal.page(StatusCode::OK, "epn_phone.html", ShellView { app_path });
    // The service worker keeps its own copy: the browser's cache must not hand back a stale one.
    page.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    Ok(page)
}

#[derive(Serialize)]
struct Icon {
    src: &'static str,
    sizes: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    purpose: &'static str,
}

#[derive(Serialize)]
struct Manifest {
    id: String,
    name: String,
    short_name: &'static str,
    description: &'static str,
    lang: &'static str,
    start_url: String,
    scope: String,
    display: &'static str,
    orientation: &'static str,
    background_color: &'static str,
    theme_color: &'static str,
    icons: [Icon; 2],
}

/// The web app manifest: installs the app on the phone's home screen, for this territory.
#[handler]
pub(in crate::web) async fn manifest(
    Path(slug): Path<String>,
    state: Data<&AppState>,
) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    let path = app_path(&tenant);
    let manifest = Manifest {
        id: format!("{path}/"),
        name: format!("Feuilles de présence — {}", tenant.shown_name()),
        short_name: "Présences",
        description: "Les séances de l’EPN et leurs feuilles de présence, même sans réseau.",
        lang: "fr",
        start_url: format!("{path}/"),
        scope: format!("{path}/"),
        display: "standalone",
        orientation: "portrait",
        background_color: "#ffffff",
        theme_color: "#000091",
        icons: [
            Icon {
                src: "/static/passerelle/icone-192.png",
                sizes: "192x192",
                kind: "image/png",
                purpose: "any",
            },
            Icon {
                src: "/static/passerelle/icone-512.png",
                sizes: "512x512",
                kind: "image/png",
                purpose: "any",
            },
        ],
    };
    Ok(Response::builder()
        .content_type("application/manifest+json; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(serde_json::to_vec(&manifest).unwrap_or_default()))
}

/// The service worker, served under the app's path so that its scope is the app and nothing
/// else of the portal. Its cache is named after the service's version: a new version installs a
/// new worker, which drops the old cache.
#[handler]
pub(in crate::web) async fn service_worker(
    Path(slug): Path<String>,
    state: Data<&AppState>,
) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    let script = SERVICE_WORKER
        .replace("\"__VERSION__\"", &quoted(crate::assets::version()))
        .replace("\"__APP__\"", &quoted(&app_path(&tenant)));
    Ok(Response::builder()
        .content_type("text/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(script))
}

/// A string as a JavaScript literal.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}
