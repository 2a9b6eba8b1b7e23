//! The portal's own files, compiled into the binary and served under `/static/passerelle/`: its
//! style sheets (pages carry no inline style, so the Content-Security-Policy can refuse any), the
//! phone app's script and icons. The QR decoder comes from the pinned npm lock, like the DSFR.

use std::sync::OnceLock;

use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Response, handler};
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// Each file: its name, its media type and its bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "passerelle.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/passerelle.css"),
    ),
    (
        "courrier.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/courrier.css"),
    ),
    (
        "telephone.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/telephone.js"),
    ),
    (
        "deconnexion.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/deconnexion.js"),
    ),
    (
        "suivi-import.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/suivi-import.js"),
    ),
    (
        "icone-192.png",
        "image/png",
        include_bytes!("../static/icone-192.png"),
    ),
    (
        "icone-512.png",
        "image/png",
        include_bytes!("../static/icone-512.png"),
    ),
];

/// Where the QR decoder's file is, under the pinned npm packages beside the DSFR.
pub(crate) const QR_DECODER: &str = "../../../jsqr/dist/jsQR.js";

/// A digest of the files the phone app keeps: its service worker changes with them, so that a
/// phone takes a new version the next time it is online.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut digest = Sha256::new();
        digest.update(env!("CARGO_PKG_VERSION"));
        for (name, _, bytes) in FILES {
            digest.update(name);
            digest.update(bytes);
        }
        digest.update(include_bytes!("../static/telephone-sw.js"));
        digest.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}

#[handler]
pub fn file(Path(name): Path<String>) -> Response {
    let Some((_, media_type, bytes)) = FILES.iter().find(|(file, _, _)| *file == name) else {
        return Response::builder().status(StatusCode::NOT_FOUND).finish();
    };
    Response::builder()
        .header(header::CONTENT_TYPE, *media_type)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(bytes.to_vec())
}

/// The QR decoder the phone app uses where the browser has no `BarcodeDetector`.
#[handler]
pub async fn qr_decoder(state: Data<&AppState>) -> Response {
    match tokio::fs::read(state.web_assets_dir.join(QR_DECODER)).await {
        Ok(bytes) => Response::builder()
            .header(header::CONTENT_TYPE, "text/javascript; charset=utf-8")
            .header(header::CACHE_CONTROL, "public, max-age=3600")
            .body(bytes),
        Err(e) => {
            tracing::error!(error = %e, "the QR decoder is not installed: run infra/local/web-assets.sh");
            Response::builder().status(StatusCode::NOT_FOUND).finish()
        }
    }
}
