//! Server-rendered pages, for holders (no account) and the portal: the templates live in
//! `templates/pages/`.

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
        "portfolio_print.html",
        include_str!("../templates/pages/portfolio_print.html"),
    ),
    (
        "holder_code.html",
        include_str!("../templates/pages/holder_code.html"),
    ),
    (
        "holder_renewed.html",
        include_str!("../templates/pages/holder_renewed.html"),
    ),
    (
        "credential_holder.html",
        include_str!("../templates/pages/credential_holder.html"),
    ),
    (
        "credential_check.html",
        include_str!("../templates/pages/credential_check.html"),
    ),
    (
        "credential_check_form.html",
        include_str!("../templates/pages/credential_check_form.html"),
    ),
    (
        "sign_in.html",
        include_str!("../templates/pages/sign_in.html"),
    ),
    ("home.html", include_str!("../templates/pages/home.html")),
    (
        "epn_details.html",
        include_str!("../templates/pages/epn_details.html"),
    ),
    (
        "user_edit.html",
        include_str!("../templates/pages/user_edit.html"),
    ),
    (
        "prescriber_edit.html",
        include_str!("../templates/pages/prescriber_edit.html"),
    ),
    (
        "epn_phone.html",
        include_str!("../templates/pages/epn_phone.html"),
    ),
    (
        "requests.html",
        include_str!("../templates/pages/requests.html"),
    ),
    (
        "request.html",
        include_str!("../templates/pages/request.html"),
    ),
    (
        "request_receipt.html",
        include_str!("../templates/pages/request_receipt.html"),
    ),
    ("kit.html", include_str!("../templates/pages/kit.html")),
    (
        "orientation.html",
        include_str!("../templates/pages/orientation.html"),
    ),
    (
        "epn_statements.html",
        include_str!("../templates/pages/epn_statements.html"),
    ),
    (
        "projects.html",
        include_str!("../templates/pages/projects.html"),
    ),
    (
        "project.html",
        include_str!("../templates/pages/project.html"),
    ),
    (
        "project_new.html",
        include_str!("../templates/pages/project_new.html"),
    ),
    (
        "kit_list.html",
        include_str!("../templates/pages/kit_list.html"),
    ),
    (
        "statements.html",
        include_str!("../templates/pages/statements.html"),
    ),
    (
        "funding.html",
        include_str!("../templates/pages/funding.html"),
    ),
    (
        "message.html",
        include_str!("../templates/pages/message.html"),
    ),
    (
        "provider_sign_out.html",
        include_str!("../templates/pages/provider_sign_out.html"),
    ),
    ("forms.html", include_str!("../templates/pages/forms.html")),
    (
        "voucher_new.html",
        include_str!("../templates/pages/voucher_new.html"),
    ),
    (
        "voucher.html",
        include_str!("../templates/pages/voucher.html"),
    ),
    (
        "epn_bank.html",
        include_str!("../templates/pages/epn_bank.html"),
    ),
    (
        "statement_print.html",
        include_str!("../templates/pages/statement_print.html"),
    ),
    (
        "voucher_letter.html",
        include_str!("../templates/pages/voucher_letter.html"),
    ),
    (
        "vouchers.html",
        include_str!("../templates/pages/vouchers.html"),
    ),
    (
        "voucher_import.html",
        include_str!("../templates/pages/voucher_import.html"),
    ),
    (
        "statement.html",
        include_str!("../templates/pages/statement.html"),
    ),
    ("epn.html", include_str!("../templates/pages/epn.html")),
    (
        "epn_register.html",
        include_str!("../templates/pages/epn_register.html"),
    ),
    (
        "epn_sheet.html",
        include_str!("../templates/pages/epn_sheet.html"),
    ),
    (
        "exports.html",
        include_str!("../templates/pages/exports.html"),
    ),
    (
        "dashboard.html",
        include_str!("../templates/pages/dashboard.html"),
    ),
    (
        "password_forgotten.html",
        include_str!("../templates/pages/password_forgotten.html"),
    ),
    (
        "password_choose.html",
        include_str!("../templates/pages/password_choose.html"),
    ),
    ("users.html", include_str!("../templates/pages/users.html")),
    (
        "emails.html",
        include_str!("../templates/pages/emails.html"),
    ),
    (
        "journal.html",
        include_str!("../templates/pages/journal.html"),
    ),
    (
        "schemes.html",
        include_str!("../templates/pages/schemes.html"),
    ),
    (
        "scheme.html",
        include_str!("../templates/pages/scheme.html"),
    ),
    (
        "prescribers.html",
        include_str!("../templates/pages/prescribers.html"),
    ),
    (
        "network.html",
        include_str!("../templates/pages/network.html"),
    ),
    (
        "import.html",
        include_str!("../templates/pages/import.html"),
    ),
    (
        "network_epn.html",
        include_str!("../templates/pages/network_epn.html"),
    ),
    (
        "problem_type.html",
        include_str!("../templates/pages/problem_type.html"),
    ),
    (
        "archive.html",
        include_str!("../templates/pages/archive.html"),
    ),
    (
        "second_factor.html",
        include_str!("../templates/pages/second_factor.html"),
    ),
    (
        "branding.html",
        include_str!("../templates/pages/branding.html"),
    ),
    (
        "problem_types.html",
        include_str!("../templates/pages/problem_types.html"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_formatter(escape_html);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("page template {name} does not parse: {e}"));
        }
        env
    })
}

/// HTML escaping of the five characters that matter in text and quoted attributes. minijinja's
/// own also escapes `/`, which is harmless to browsers but turns every link and address a reader
/// copies out of a page's source into `&#x2f;`.
fn escape_html(
    out: &mut minijinja::Output<'_>,
    state: &mut minijinja::State<'_, '_>,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(text) if *state.auto_escape() == minijinja::AutoEscape::Html && !value.is_safe() => {
            let mut escaped = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str("&quot;"),
                    '\'' => escaped.push_str("&#39;"),
                    c => escaped.push(c),
                }
            }
            out.write_str(&escaped).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
            })
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn text_is_escaped_and_addresses_stay_readable() {
        let html = super::render(
            "message.html",
            json!({ "title": "<script>", "message": "https://exemple.fr/solde?a=1&b=\"2\"", "link": null }),
        );
        assert!(html.contains("&lt;script&gt;"));
        assert!(
            html.contains("https://exemple.fr/solde?a=1&amp;b=&quot;2&quot;"),
            "{html}"
        );
    }
}
