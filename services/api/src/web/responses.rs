//! The answers a portal handler gives besides its own page: a refusal in French, the
//! "unavailable" and error pages, redirections.

use poem::Response;
use poem::http::{StatusCode, header};
use serde_json::json;

use super::*;
use crate::pages;

/// What to tell next to a form's fields, or the page to answer when the error is the service's.
#[expect(
    clippy::result_large_err,
    reason = "the error is the page to answer, returned at once by `try_page!`"
)]
pub(super) fn refusal_of(err: &passerelle_core::Error) -> Result<french::FormRefusal, Response> {
    french::refusal(err).ok_or_else(|| failed(err, None))
}

/// The answer to a domain error on a page: the "unavailable" page for the database's errors, a
/// French message otherwise.
pub(super) fn failed(err: &passerelle_core::Error, back: Option<(&str, &str)>) -> Response {
    match french::refusal(err) {
        Some(refusal) => {
            let (status, title) = match err {
                passerelle_core::Error::NotFound(_) => (StatusCode::NOT_FOUND, "Page introuvable"),
                passerelle_core::Error::Refused(refusal) => (
                    crate::problem::refusal_status(refusal.kind()),
                    "Opération impossible",
                ),
                _ => (StatusCode::UNPROCESSABLE_ENTITY, "Opération impossible"),
            };
            let text = refusal
                .form
                .or_else(|| refusal.fields.into_values().next())
                .unwrap_or_default();
            message(status, title, &text, back)
        }
        None if err.is_unavailable() || matches!(err, passerelle_core::Error::Busy(_)) => {
            tracing::warn!(error = %err, "portal page unavailable");
            unavailable()
        }
        None => {
            tracing::error!(error = %err, "portal page failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Erreur interne",
                "Une erreur inattendue est survenue ; elle est enregistrée. Réessayez plus tard, ou signalez-la à l’administrateur de l’espace.",
                None,
            )
        }
    }
}

pub(super) fn html(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        // A password link's secret is in its page's address: it must not leave in a Referer.
        .header(header::REFERRER_POLICY, "same-origin")
        .body(body)
}

pub(super) fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

pub(super) fn message(
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Response {
    html(
        status,
        pages::render(
            "message.html",
            json!({
                "title": title,
                "message": text,
                "link": link.map(|(href, _)| href),
                "link_label": link.map(|(_, label)| label),
            }),
        ),
    )
}

pub(super) fn unavailable() -> Response {
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service momentanément indisponible",
        "Le service ne répond pas pour l’instant. Réessayez dans quelques minutes.",
        None,
    )
}

pub(super) fn unknown_portal() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Page introuvable",
        "Aucun espace ne porte cette adresse. Vérifiez le lien que vous avez reçu.",
        None,
    )
}

pub(super) fn forbidden_form() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Formulaire refusé",
        "Ce formulaire n’a pas été envoyé depuis une page de ce service, ou il a expiré. Revenez à la page précédente, rechargez-la et recommencez.",
        None,
    )
}

pub(super) fn retry_after(mut response: Response, seconds: u64) -> Response {
    if let Ok(value) = seconds.to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// "12 secondes", "3 minutes" (rounded up).
pub(super) fn french_delay(seconds: u64) -> String {
    match seconds {
        0..=1 => "une seconde".into(),
        2..=59 => format!("{seconds} secondes"),
        60..=119 => "une minute".into(),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}
