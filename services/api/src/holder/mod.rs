//! The holder's own pages, in French: the balance check, the e-portfolio and the email
//! unsubscribe page. They keep the addresses under `/v1/public/` that emails and letters carry,
//! and stay in the OpenAPI document (tag Public) beside the JSON operations they mirror; they
//! answer HTML drawn with the State's design system, like the portal's pages.

pub mod balance;
pub mod credentials;
pub mod portfolio;
pub mod unsubscribe;

use poem_openapi::payload::Html;

/// A page of the holder's, drawn from its template.
fn page(name: &str, context: serde_json::Value) -> Html<String> {
    Html(crate::pages::render(name, context))
}

/// A French page that says one thing, with a link onward if there is one.
fn message(title: &str, text: &str, link: Option<(&str, &str)>) -> Html<String> {
    page(
        "message.html",
        serde_json::json!({
            "title": title,
            "message": text,
            "link": link.map(|(href, _)| href),
            "link_label": link.map(|(_, label)| label),
        }),
    )
}

/// The French page of the rate limit on the holder's pages.
fn too_many_page() -> Html<String> {
    message(
        "Trop de tentatives",
        "Trop de pages ouvertes depuis cette connexion. Réessayez dans une minute.",
        None,
    )
}
