//! Attacks on the service as a whole rather than on one operation: what the logs keep, what the
//! browser is told a response may do.

use std::io::Write;
use std::sync::{Arc, Mutex};

use passerelle_core::tenancy::Role;

use crate::helpers::spawn_app;

/// Every log line written while the guard lives, as text.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_that_travels_in_a_path_or_header_reaches_the_logs() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime runs the server's tasks on this thread: they log here.
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = spawn_app().await;

    let password_link_secret = "S3cretLienMotDePasse0000000000000000000000";
    let portfolio_secret = "S3cretPortfolio1111111111111111111111111";
    let token = app.token_for(Role::TenantAdmin).to_owned();
    let reset = app
        .send(app.request(
            "GET",
            &format!(
                "/portail/{}/mot-de-passe/{password_link_secret}",
                app.lot.slug
            ),
            None,
        ))
        .await;
    assert!(reset.status < 500, "{}", reset.raw);
    let portfolio = app
        .send(app.request(
            "GET",
            &format!("/v1/public/portfolio/{portfolio_secret}"),
            None,
        ))
        .await;
    assert!(portfolio.status < 500, "{}", portfolio.raw);
    let holder_code = "S3CR-ETC0-DE33-3333";
    let space = app
        .send(app.request("GET", &format!("/p/{}/{holder_code}", app.lot.slug), None))
        .await;
    assert_eq!(space.status, 404, "{}", space.raw);
    assert_eq!(app.me(&token).await.status, 200);
    let unmatched = "S3cretInAnUnknownPath22222222222222";
    app.send(app.request("GET", &format!("/nulle-part/{unmatched}"), None))
        .await;

    let text = logs.text();
    assert!(
        text.matches("request done").count() >= 5,
        "the requests were logged: {text}"
    );
    assert!(
        text.contains("route=\"/portail/:tenant/mot-de-passe/:secret\""),
        "the route's template is logged instead: {text}"
    );
    for secret in [
        password_link_secret,
        portfolio_secret,
        holder_code,
        token.as_str(),
        unmatched,
    ] {
        assert!(!text.contains(secret), "{secret} is in the logs: {text}");
    }
}

#[tokio::test]
async fn pages_and_api_answers_carry_the_browser_protections() {
    let app = spawn_app().await;
    let sign_in = app
        .send(app.request("GET", &format!("/portail/{}/connexion", app.lot.slug), None))
        .await;
    assert_eq!(sign_in.status, 200, "{}", sign_in.raw);
    let api = app.me(app.token_for(Role::TenantAdmin)).await;
    let missing = app.send(app.request("GET", "/nulle-part", None)).await;
    for reply in [&sign_in, &api, &missing] {
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
        let policy = reply.header("content-security-policy").expect("a CSP");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        // Served over http here: no HSTS, which would be ignored (or lock a local setup out).
        assert!(reply.header("strict-transport-security").is_none());
    }
    // The page links only the site's own style sheets and runs no script, so the strict policy
    // takes nothing away from it.
    assert!(!sign_in.raw.contains("<script"), "{}", sign_in.raw);
    assert!(!sign_in.raw.contains("<style"), "{}", sign_in.raw);
    assert!(!sign_in.raw.contains("style=\""), "{}", sign_in.raw);
    let css = app
        .send(app.request("GET", "/static/passerelle/passerelle.css", None))
        .await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
}

#[tokio::test]
async fn over_https_answers_ask_for_https_from_then_on() {
    let app = crate::helpers::spawn_app_with(|state| {
        state.links.public_base_url = "https://passerelle.example".into();
    })
    .await;
    let reply = app.send(app.request("GET", "/healthz", None)).await;
    let hsts = reply
        .header("strict-transport-security")
        .expect("HSTS over https");
    assert!(hsts.starts_with("max-age=63072000"), "{hsts}");
}

#[tokio::test]
async fn names_cannot_be_tried_on_one_reference_from_many_addresses() {
    let app = crate::helpers::spawn_app_with(|state| {
        state.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    let reference = passerelle_core::vouchers::reference::generate("LOT");
    let mut statuses = Vec::new();
    for n in 0..6 {
        let reply = app
            .send(
                app.request("POST", "/v1/public/balance", None)
                    .header("x-forwarded-for", format!("203.0.113.{n}"))
                    .json(&serde_json::json!({ "reference": reference, "last_name": format!("Nom{n}") })),
            )
            .await;
        statuses.push(reply.status);
    }
    assert_eq!(statuses, [404, 404, 404, 404, 404, 429]);
    // Another reference is not held back by it.
    let other = app
        .send(
            app.request("POST", "/v1/public/balance", None)
                .header("x-forwarded-for", "203.0.113.50")
                .json(&serde_json::json!({ "reference": passerelle_core::vouchers::reference::generate("LOT"), "last_name": "Nom" })),
        )
        .await;
    assert_eq!(other.status, 404);
}
