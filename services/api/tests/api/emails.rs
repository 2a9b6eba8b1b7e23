//! The email outbox through the API: a tenant admin lists, inspects, retries and previews emails;
//! a holder unsubscribes in one click and checks the balance on the page emails link to.

use passerelle_core::tenancy::Role;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

/// An active Ticket Net with an allocation, and a voucher for a holder who consented to emails.
async fn voucher_with_welcome(app: &TestApp) -> (String, String) {
    let scheme_id = app.active_ticket_net_in_lot(5).await;
    let issued = app
        .post(
            "/v1/vouchers",
            app.lot.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "beneficiary": {
                "first_name": "Jeanne", "last_name": "Martin", "birth_year": 1957, "commune_insee": "46102",
                "public_category": "senior", "email": "jeanne@example.org", "email_consent": true } }),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    (
        scheme_id,
        issued.body["voucher"]["reference"]
            .as_str()
            .expect("reference")
            .to_owned(),
    )
}

#[tokio::test]
async fn a_tenant_admin_lists_inspects_and_retries_emails() {
    let app = spawn_app().await;
    voucher_with_welcome(&app).await;
    let admin = app.lot.token(Role::TenantAdmin);

    let pending = app.get("/v1/emails?status=pending", admin).await;
    assert_eq!(pending.status, 200, "{}", pending.raw);
    let items = pending.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", pending.raw);
    assert_eq!(items[0]["kind"], "welcome");
    assert_eq!(items[0]["attempts"], 0);
    let id = items[0]["id"].as_str().expect("id").to_owned();
    let sent = app.get("/v1/emails?status=sent", admin).await;
    assert_eq!(sent.body["items"].as_array().map(Vec::len), Some(0));
    let bad = app.get("/v1/emails?status=lost", admin).await;
    assert_eq!(bad.problem(422)["errors"][0]["field"], "status");

    let one = app.get(&format!("/v1/emails/{id}"), admin).await;
    assert_eq!(one.body["status"], "pending", "{}", one.raw);
    // Only failed or cancelled emails can be retried.
    app.post(&format!("/v1/emails/{id}/retry"), admin, &json!({}))
        .await
        .problem(409);
    // Another tenant cannot see it.
    app.get(
        &format!("/v1/emails/{id}"),
        app.ara.token(Role::TenantAdmin),
    )
    .await
    .problem(404);

    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    passerelle_core::emails::outbox::mark_failed(
        &mut tx,
        app.lot.id,
        id.parse().expect("uuid"),
        Some("jeanne@example.org"),
        "550 5.1.1 No such user here",
        true,
    )
    .await
    .expect("fail it");
    tx.commit().await.expect("commit");
    let failed = app.get("/v1/emails?status=failed", admin).await;
    assert_eq!(
        failed.body["items"][0]["last_error"],
        "550 5.1.1 No such user here"
    );
    let retried = app
        .post(&format!("/v1/emails/{id}/retry"), admin, &json!({}))
        .await;
    assert_eq!(retried.status, 200, "{}", retried.raw);
    assert_eq!(retried.body["status"], "pending");
    let audit = app.get("/v1/audit?action=email.retried", admin).await;
    assert_eq!(
        audit.body["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        audit.raw
    );
}

#[tokio::test]
async fn a_tenant_admin_previews_each_kind_in_french() {
    let app = spawn_app().await;
    let (scheme_id, _) = voucher_with_welcome(&app).await;
    let admin = app.lot.token(Role::TenantAdmin);
    for (kind, needle) in [
        ("welcome", "vous a attribué un chèque"),
        ("reminder", "arrive bientôt à échéance"),
        ("expired", "Il a expiré"),
        ("prescriber_digest", "demandent votre attention"),
    ] {
        let preview = app
            .get(
                &format!("/v1/emails/preview/{kind}?scheme_id={scheme_id}"),
                admin,
            )
            .await;
        assert_eq!(preview.status, 200, "{kind}: {}", preview.raw);
        let text = preview.body["text"].as_str().expect("text");
        assert!(text.contains(needle), "{kind}: {text}");
        assert!(
            preview.body["html"]
                .as_str()
                .expect("html")
                .contains("lang=\"fr\"")
        );
        assert!(
            preview.body["subject"]
                .as_str()
                .expect("subject")
                .contains("Ticket Net"),
            "{}",
            preview.raw
        );
    }
    app.get("/v1/emails/preview/newsletter", admin)
        .await
        .problem(422);
    app.get(
        "/v1/emails/preview/welcome",
        app.lot.token(Role::Prescriber),
    )
    .await
    .problem(403);
}

#[tokio::test]
async fn a_holder_unsubscribes_in_one_click_and_a_get_changes_nothing() {
    let app = spawn_app().await;
    voucher_with_welcome(&app).await;
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    let key: Uuid = sqlx::query_scalar("SELECT unsubscribe_key FROM email_outbox")
        .fetch_one(&mut *tx)
        .await
        .expect("key");
    tx.commit().await.expect("commit");
    let consent = || async {
        let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
        let c: bool = sqlx::query_scalar(
            "SELECT email_consent FROM beneficiaries WHERE last_name = 'Martin'",
        )
        .fetch_one(&mut *tx)
        .await
        .expect("consent");
        tx.commit().await.expect("commit");
        c
    };
    let path = format!(
        "/v1/public/unsubscribe/{}/{}",
        app.lot.id.simple(),
        key.simple()
    );

    let page = app.send(app.request("GET", &path, None)).await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    assert!(
        page.raw.contains("Ne plus recevoir ces courriels"),
        "{}",
        page.raw
    );
    assert!(page.raw.contains("j…@example.org"), "{}", page.raw);
    assert!(
        !page.raw.contains("jeanne@example.org"),
        "the page shows the address"
    );
    assert!(consent().await, "a GET withdrew consent");

    // What a mail client sends for RFC 8058.
    let one_click = app
        .send(
            app.request("POST", &path, None)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click"),
        )
        .await;
    assert_eq!(one_click.status, 200, "{}", one_click.raw);
    assert!(
        one_click.raw.contains("ne recevra plus de courriels"),
        "{}",
        one_click.raw
    );
    assert!(!consent().await);
    let admin = app.lot.token(Role::TenantAdmin);
    let cancelled = app.get("/v1/emails?status=cancelled", admin).await;
    assert_eq!(
        cancelled.body["items"][0]["last_error"], "the holder unsubscribed",
        "{}",
        cancelled.raw
    );
    let audit = app
        .get(
            "/v1/audit?action=beneficiary.email_consent_withdrawn",
            admin,
        )
        .await;
    assert_eq!(audit.body["items"].as_array().map(Vec::len), Some(1));

    // A second click is harmless; an unknown key or another tenant is a 404.
    let again = app.send(app.request("POST", &path, None)).await;
    assert_eq!(again.status, 200);
    let unknown = format!(
        "/v1/public/unsubscribe/{}/{}",
        app.lot.id.simple(),
        Uuid::new_v4().simple()
    );
    app.send(app.request("POST", &unknown, None))
        .await
        .problem(404);
    let elsewhere = format!(
        "/v1/public/unsubscribe/{}/{}",
        app.ara.id.simple(),
        key.simple()
    );
    app.send(app.request("GET", &elsewhere, None))
        .await
        .problem(404);
}

#[tokio::test]
async fn the_balance_page_answers_in_french() {
    let app = spawn_app().await;
    let (_, reference) = voucher_with_welcome(&app).await;
    let form = app
        .send(app.request(
            "GET",
            &format!("/v1/public/balance-page?reference={reference}"),
            None,
        ))
        .await;
    assert_eq!(form.status, 200);
    assert!(
        form.raw
            .contains("<label class=\"fr-label\" for=\"last_name\">"),
        "{}",
        form.raw
    );
    assert!(form.raw.contains(&reference));
    // Drawn with the State's design system, served by the service itself.
    assert!(form.raw.contains("href=\"/static/dsfr/dsfr.min.css\""));
    let stylesheet = app
        .send(app.request("GET", "/static/dsfr/dsfr.min.css", None))
        .await;
    assert_eq!(stylesheet.status, 200);
    assert!(stylesheet.raw.contains(".fr-btn"));

    let found = app
        .send(app.request("POST", "/v1/public/balance-page", None).form(&[
            ("reference", reference.to_lowercase().as_str()),
            ("last_name", "martin"),
        ]))
        .await;
    assert_eq!(found.status, 200, "{}", found.raw);
    assert!(found.raw.contains("20 heures"), "{}", found.raw);
    let valid_until = passerelle_core::emails::french::long_date(
        passerelle_test_support::paris_today() + chrono::Days::new(364),
    );
    let year = valid_until.rsplit(' ').next().unwrap_or_default();
    assert!(found.raw.contains(year), "{}", found.raw);

    let wrong = app
        .send(
            app.request("POST", "/v1/public/balance-page", None)
                .form(&[("reference", reference.as_str()), ("last_name", "Dupont")]),
        )
        .await;
    assert_eq!(wrong.status, 404);
    assert!(
        wrong.raw.contains("Aucun chèque ne correspond"),
        "{}",
        wrong.raw
    );
    assert!(!wrong.raw.contains("20 heures"));
    // The error is announced and tied to the field it is about.
    assert!(wrong.raw.contains("aria-describedby=\"balance-error\""));
    assert!(wrong.raw.contains("id=\"balance-error\""));
}
