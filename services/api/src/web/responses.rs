//! The answers a portal handler gives besides its own page: a refusal in French, the
//! "unavailable" and error pages, redirections.

use poem::Response;
use poem::http::{StatusCode, header};

use super::*;
use crate::pages;

/// The page a portal handler answers instead of its own — the sign-in page, a French refusal, a
/// 403, the "unavailable" page — so that handlers return it with `?`. Boxed: a `Response` is
/// large and travels in every handler's `Result`.
pub(super) struct PageError(Box<Response>);

/// What a portal handler or page builder returns: its page, or the page to answer instead.
pub(super) type PageResult<T = Response> = Result<T, PageError>;

impl From<Response> for PageError {
    fn from(page: Response) -> Self {
        Self(Box::new(page))
    }
}

/// A domain error on a page: the French refusal, the "unavailable" page or a 500 (see `failed`).
impl From<passerelle_core::Error> for PageError {
    fn from(err: passerelle_core::Error) -> Self {
        failed(&err, None).into()
    }
}

/// Marks an error that carries a page already made, so that the edge that turns errors into
/// problem+json answers the page as it is (see `problem::problem_response`).
#[derive(Clone, Copy)]
pub(crate) struct PortalPage;

impl From<PageError> for poem::Error {
    fn from(page: PageError) -> Self {
        let mut err = poem::Error::from_response(*page.0);
        err.set_data(PortalPage);
        err
    }
}

/// A domain error whose page links back to where the user came from.
pub(super) trait OrBack<T> {
    fn or_back(self, href: &str, label: &str) -> PageResult<T>;
}

impl<T> OrBack<T> for Result<T, passerelle_core::Error> {
    fn or_back(self, href: &str, label: &str) -> PageResult<T> {
        self.map_err(|err| failed(&err, Some((href, label))).into())
    }
}

/// What to tell next to a form's fields, or the page to answer when the error is the service's.
pub(super) fn refusal_of(err: &passerelle_core::Error) -> PageResult<french::FormRefusal> {
    french::refusal(err).ok_or_else(|| failed(err, None).into())
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
            internal_error()
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

/// A page that says one thing, with a link onwards.
#[derive(serde::Serialize)]
struct MessageView<'a> {
    title: &'a str,
    message: &'a str,
    link: Option<&'a str>,
    link_label: Option<&'a str>,
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
            MessageView {
                title,
                message: text,
                link: link.map(|(href, _)| href),
                link_label: link.map(|(_, label)| label),
            },
        ),
    )
}

/// The page for a fault of the service itself (it is logged by the caller).
pub(super) fn internal_error() -> Response {
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Erreur interne",
        "Une erreur inattendue est survenue ; elle est enregistrée. Réessayez plus tard, ou signalez-la à l’administrateur de l’espace.",
        None,
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

/// "12 secondes", "3 minutes", "5 heures" (rounded up).
pub(super) fn french_delay(seconds: u64) -> String {
    match seconds {
        0..=1 => "une seconde".into(),
        2..=59 => format!("{seconds} secondes"),
        60..=119 => "une minute".into(),
        120..=3599 => format!("{} minutes", seconds.div_ceil(60)),
        3600 => "une heure".into(),
        _ => format!("{} heures", seconds.div_ceil(3600)),
    }
}
