//! The animator's phone app under `/portail/<tenant>/epn/telephone`: an installable web app
//! (manifest and service worker) that keeps the EPN's week on the phone and works without the
//! network. Sheets saved offline wait in the phone's storage, each with its own key, and are
//! sent when the network comes back; the server answers a key sent again with its first answer,
//! and its own clock decides whether a session has started.
//!
//! Its data travels as JSON between the app and these handlers, under the portal's session
//! cookie; a posted sheet also carries the session's CSRF token in a header and must come from a
//! page of this service, like every portal form.

use passerelle_core::tenancy::tenants::Tenant;
use poem::http::{StatusCode, header};
use poem::{Request, Response};
use serde::Serialize;

use super::{Portal, portal, same_origin, same_token, signed_in};
use crate::access;
use crate::state::AppState;

pub(super) mod letter;
pub(super) mod sheets;
pub(super) mod shell;
pub(super) mod week;

/// The header that carries the session's CSRF token on the app's requests.
const CSRF_HEADER: &str = "x-csrf-token";

/// The app's path for a tenant: the service worker's scope.
fn app_path(tenant: &Tenant) -> String {
    format!("{}/epn/telephone", super::cookie_path(tenant))
}

/// A JSON answer the app reads; never cached by the browser (the app keeps what it needs).
fn json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => Response::builder()
            .status(status)
            .content_type("application/json; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-store")
            .body(bytes),
        Err(e) => {
            tracing::error!(error = %e, "phone answer not serialisable");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .finish()
        }
    }
}

/// Why the app's request was not answered, in French for the animator, with a code the app
/// branches on (`reconnexion` asks the animator to sign in again and keeps what waits).
#[derive(Serialize)]
struct Refused<'a> {
    code: &'a str,
    message: &'a str,
}

fn refused(status: StatusCode, code: &str, message: &str) -> Response {
    json(status, &Refused { code, message })
}

fn unavailable() -> Response {
    refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "indisponible",
        "Le service ne répond pas pour l’instant : les feuilles restent sur le téléphone et partiront plus tard.",
    )
}

/// The signed-in animator of `slug` with their EPN, or the JSON refusal to answer: the app keeps
/// its waiting sheets whatever the refusal.
async fn animator(
    state: &AppState,
    req: &Request,
    slug: &str,
) -> Result<(Portal, uuid::Uuid), Response> {
    let tenant = portal(state, slug).await.map_err(|_| {
        refused(
            StatusCode::NOT_FOUND,
            "introuvable",
            "Aucun espace ne porte cette adresse.",
        )
    })?;
    let user = match signed_in(state, req, &tenant).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return Err(refused(
                StatusCode::UNAUTHORIZED,
                "reconnexion",
                "Votre session a pris fin : reconnectez-vous. Les feuilles enregistrées sur le téléphone y restent et partiront ensuite.",
            ));
        }
        Err(_) => return Err(unavailable()),
    };
    if user.awaits_second_factor() {
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "double-authentification",
            "Saisissez d’abord le code de votre application d’authentification sur le portail, puis revenez : les feuilles enregistrées sur le téléphone y restent.",
        ));
    }
    let portal = Portal { tenant, user };
    match portal.epn_id() {
        Some(epn_id) if portal.may(&access::RECORD_ATTENDANCE) => Ok((portal, epn_id)),
        _ => Err(refused(
            StatusCode::FORBIDDEN,
            "role",
            "L’application des feuilles de présence est réservée aux animateurs d’un EPN.",
        )),
    }
}

/// Whether a posted request comes from a page of this service with the session's CSRF token.
fn forged(req: &Request, portal: &Portal) -> bool {
    let token = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    !same_origin(req) || !same_token(token, &portal.user.csrf_token)
}
