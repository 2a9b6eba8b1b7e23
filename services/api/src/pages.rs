//! Server-rendered pages for holders (no account): the templates live in `templates/pages/`.

use std::sync::OnceLock;

use minijinja::Environment;
use serde::Serialize;

const TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../templates/pages/layout.html"),
    ),
    (
        "unsubscribe.html",
        include_str!("../templates/pages/unsubscribe.html"),
    ),
    (
        "balance.html",
        include_str!("../templates/pages/balance.html"),
    ),
    (
        "portfolio.html",
        include_str!("../templates/pages/portfolio.html"),
    ),
    (
        "sign_in.html",
        include_str!("../templates/pages/sign_in.html"),
    ),
    ("home.html", include_str!("../templates/pages/home.html")),
    (
        "statements.html",
        include_str!("../templates/pages/statements.html"),
    ),
    (
        "message.html",
        include_str!("../templates/pages/message.html"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("page template {name} does not parse: {e}"));
        }
        env
    })
}

/// Renders a page; a template error (a bug, caught by the tests) becomes a plain French message.
pub fn render(name: &str, context: impl Serialize) -> String {
    let context = minijinja::Value::from(minijinja::value::Serde(context));
    environment()
        .get_template(name)
        .and_then(|t| t.render(&context))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, template = name, "page template failed");
            "<!DOCTYPE html><html lang=\"fr\"><title>Erreur</title><p>Cette page est momentanément indisponible.</p></html>".into()
        })
}
