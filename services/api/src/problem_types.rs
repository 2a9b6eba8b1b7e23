//! The problem types' own pages: every `type` URI of a problem document (`/problems/<slug>`)
//! answers with a short page in French and English saying what it means and what to do, as
//! RFC 9457 asks of a type URI. `/problems` lists them all.

use passerelle_core::RefusalKind;
use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{Response, handler};
use serde::Serialize;

use crate::pages;
use crate::problem::refusal_status;

/// One problem type as its page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemType {
    pub slug: &'static str,
    pub status: u16,
    pub title: &'static str,
    pub titre: &'static str,
    /// For the refusals of the domain: the rules refused the request, which the data can explain.
    pub refusal: bool,
}

/// The problem types of the protocol (authentication, parsing, limits, faults): each with its
/// status and its titles in English and French.
const PROTOCOL: &[(&str, u16, &str, &str)] = &[
    ("bad-request", 400, "Bad request", "Requête mal formée"),
    (
        "unauthenticated",
        401,
        "Authentication required",
        "Authentification requise",
    ),
    ("forbidden", 403, "Not allowed", "Action non permise"),
    ("not-found", 404, "Not found", "Introuvable"),
    (
        "method-not-allowed",
        405,
        "Method not allowed",
        "Méthode non permise",
    ),
    (
        "idempotency-key-in-progress",
        409,
        "Request in progress",
        "Requête en cours de traitement",
    ),
    (
        "idempotency-secret-not-replayed",
        409,
        "Secret not shown again",
        "Secret non montré une seconde fois",
    ),
    (
        "payload-too-large",
        413,
        "Request body too large",
        "Corps de requête trop grand",
    ),
    (
        "unsupported-media-type",
        415,
        "Unsupported content type",
        "Type de contenu non accepté",
    ),
    ("validation-error", 422, "Invalid input", "Saisie refusée"),
    (
        "idempotency-key-reused",
        422,
        "Idempotency-Key reused",
        "Clé d’idempotence réutilisée",
    ),
    (
        "too-many-requests",
        429,
        "Too many requests",
        "Trop de requêtes",
    ),
    ("internal-error", 500, "Internal error", "Erreur interne"),
    (
        "unavailable",
        503,
        "Service unavailable",
        "Service momentanément indisponible",
    ),
];

/// Every problem type the API answers with: the protocol's, then the domain's refusals.
pub fn catalogue() -> Vec<ProblemType> {
    let protocol = PROTOCOL
        .iter()
        .map(|&(slug, status, title, titre)| ProblemType {
            slug,
            status,
            title,
            titre,
            refusal: false,
        });
    let refusals = RefusalKind::all().map(|kind| ProblemType {
        slug: kind.slug(),
        status: refusal_status(kind).as_u16(),
        title: kind.title(),
        titre: kind.titre(),
        refusal: true,
    });
    protocol.chain(refusals).collect()
}

pub fn find(slug: &str) -> Option<ProblemType> {
    catalogue().into_iter().find(|t| t.slug == slug)
}

fn page(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(body)
}

#[handler]
pub fn index() -> Response {
    page(
        StatusCode::OK,
        pages::render(
            "problem_types.html",
            serde_json::json!({ "types": catalogue() }),
        ),
    )
}

#[handler]
pub fn show(Path(slug): Path<String>) -> Response {
    match find(&slug) {
        Some(kind) => page(
            StatusCode::OK,
            pages::render("problem_type.html", serde_json::json!({ "type": kind })),
        ),
        None => page(
            StatusCode::NOT_FOUND,
            pages::render(
                "message.html",
                serde_json::json!({
                    "title": "Type de problème inconnu",
                    "message": "Aucun problème de l’API ne porte ce nom.",
                    "link": "/problems",
                    "link_label": "Tous les types de problème",
                }),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slug_is_unique() {
        let all = catalogue();
        let mut slugs: Vec<_> = all.iter().map(|t| t.slug).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), all.len());
    }
}
