//! A territory's branding as its admin sets it and as people see it: the name and sender in
//! emails, the logo in the header of its pages and at its public address; every way around the
//! logo's checks tried, and every other role and territory refused.

use passerelle_core::tenancy::Role;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app};
use crate::web::{SignedIn, with_password};

/// A PNG of `width` × `height` pixels, the territory's blue.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("header");
    let pixels: Vec<u8> = (0..width * height).flat_map(|_| [0, 0, 145]).collect();
    writer.write_image_data(&pixels).expect("pixels");
    writer.finish().expect("finish");
    out
}

const PLAIN_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><rect width="40" height="10" fill="#000091"/></svg>"##;

async fn send_logo(app: &TestApp, token: &str, bytes: Vec<u8>, file_name: &str) -> Reply {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()),
    );
    app.send(
        app.request("PUT", "/v1/branding/logo", Some(token))
            .multipart(form),
    )
    .await
}

async fn patch(app: &TestApp, token: &str, body: &Value) -> Reply {
    app.send(app.request("PATCH", "/v1/branding", Some(token)).json(body))
        .await
}

/// The logo at its public address, as a browser or a mail client asks for it.
async fn public_logo(app: &TestApp, slug: &str) -> reqwest::Response {
    app.http
        .get(format!("{}/territoires/{slug}/logo", app.base))
        .send()
        .await
        .expect("logo")
}

#[tokio::test]
async fn the_admin_names_the_territory_and_its_sender_and_emails_carry_them() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);

    let before = app.get("/v1/branding", admin).await;
    assert_eq!(before.status, 200, "{}", before.raw);
    assert_eq!(before.body["name"], "Tenant lot");
    assert!(before.body.get("display_name").is_none());
    assert!(before.body.get("logo").is_none());

    let updated = patch(
        &app,
        admin,
        &json!({ "display_name": "  Lot numérique ", "sender_name": "Ticket Net du Lot",
                 "sender_email": "ticket-net@lot.example" }),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.raw);
    assert_eq!(updated.body["display_name"], "Lot numérique");
    assert_eq!(updated.body["sender_email"], "ticket-net@lot.example");

    // The same rules as at creation: a bad address, an empty sender, a name too long.
    for (body, field) in [
        (json!({ "sender_email": "pas-une-adresse" }), "sender_email"),
        (json!({ "sender_name": "   " }), "sender_name"),
        (json!({ "display_name": "L".repeat(121) }), "display_name"),
    ] {
        let refused = patch(&app, admin, &body).await;
        refused.problem(422);
        assert_eq!(
            refused.error_fields(),
            vec![field.to_owned()],
            "{}",
            refused.raw
        );
    }

    // An email shows the chosen name; the sender is the new one.
    let preview = app.get("/v1/emails/preview/invitation", admin).await;
    assert_eq!(preview.status, 200, "{}", preview.raw);
    let html = preview.body["html"].as_str().expect("html");
    assert!(html.contains("<strong>Lot numérique</strong>"), "{html}");

    // Audited with the values before and after, in the admin's name.
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    let audits: Vec<(String, Value)> = sqlx::query_as(
        "SELECT actor_role, details FROM audit_log WHERE action = 'tenant.branding_updated'",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    assert_eq!(
        audits.len(),
        1,
        "refused edits are not recorded: {audits:?}"
    );
    assert_eq!(audits[0].0, "tenant_admin");
    assert_eq!(audits[0].1["before"]["display_name"], Value::Null);
    assert_eq!(audits[0].1["after"]["display_name"], "Lot numérique");
    assert_eq!(audits[0].1["after"]["sender_name"], "Ticket Net du Lot");

    // Cleared: the registered name is shown again.
    let cleared = patch(&app, admin, &json!({ "display_name": null })).await;
    assert_eq!(cleared.status, 200, "{}", cleared.raw);
    assert!(
        cleared.body.get("display_name").is_none(),
        "{}",
        cleared.raw
    );

    // The other territory's branding did not move.
    let other = app
        .get("/v1/branding", app.ara.token(Role::TenantAdmin))
        .await;
    assert_eq!(other.body["name"], "Tenant ara");
    assert!(other.body.get("display_name").is_none());
}

#[tokio::test]
async fn a_logo_is_served_at_its_public_address_and_shown_in_pages_and_emails() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);
    let logo = png(240, 80);
    let sent = send_logo(&app, admin, logo.clone(), "logo.png").await;
    assert_eq!(sent.status, 200, "{}", sent.raw);
    assert_eq!(sent.body["logo"]["format"], "png");
    assert_eq!(sent.body["logo"]["width"], 240);
    let url = sent.body["logo"]["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("/territoires/lot/logo?v="), "{url}");

    // Public, the same bytes, cached for long at its versioned address, under a policy that
    // lets nothing run.
    let served = app
        .http
        .get(format!("{}{url}", app.base))
        .send()
        .await
        .expect("logo");
    assert_eq!(served.status(), 200);
    let header = |name: &str| {
        served
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "image/png");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-security-policy").contains("sandbox"));
    assert!(header("cache-control").contains("immutable"));
    let etag = header("etag");
    assert_eq!(served.bytes().await.expect("bytes").to_vec(), logo);
    let again = app
        .http
        .get(format!("{}{url}", app.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("logo");
    assert_eq!(again.status(), 304);

    // The header of the sign-in page and of the admin's pages shows it; so does an email.
    let sign_in = app
        .http
        .get(format!("{}/portail/lot/connexion", app.base))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        sign_in.contains(&format!("class=\"logo-territoire\" src=\"{url}\"")),
        "{sign_in}"
    );
    let preview = app.get("/v1/emails/preview/welcome", admin).await;
    // The template escapes `/` in attributes (`&#x2f;`), which a mail client reads as `/`.
    let html = preview.body["html"]
        .as_str()
        .expect("html")
        .replace("&#x2f;", "/");
    assert!(
        html.contains(&format!("{url}\" alt=\"Tenant lot\"")),
        "{html}"
    );

    // An SVG replaces it: pages show it, emails (many clients show no SVG) show the name alone.
    let svg = send_logo(&app, admin, PLAIN_SVG.as_bytes().to_vec(), "logo.svg").await;
    assert_eq!(svg.status, 200, "{}", svg.raw);
    let served = public_logo(&app, "lot").await;
    assert_eq!(served.headers()["content-type"], "image/svg+xml");
    let preview = app.get("/v1/emails/preview/welcome", admin).await;
    assert!(
        !preview.body["html"]
            .as_str()
            .expect("html")
            .contains("logo?v="),
        "{}",
        preview.raw
    );

    // Another territory has none of it.
    assert_eq!(public_logo(&app, "ara").await.status(), 404);
    assert!(
        app.get("/v1/branding", app.ara.token(Role::TenantAdmin))
            .await
            .body
            .get("logo")
            .is_none()
    );

    // Removed: no logo at the address, the name alone in the pages.
    let removed = app
        .send(app.request("DELETE", "/v1/branding/logo", Some(admin)))
        .await;
    assert_eq!(removed.status, 204, "{}", removed.raw);
    assert_eq!(public_logo(&app, "lot").await.status(), 404);
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE object_type = 'tenant' ORDER BY occurred_at, id",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    assert_eq!(
        actions,
        ["tenant.logo_set", "tenant.logo_set", "tenant.logo_removed"]
    );
}

#[tokio::test]
async fn a_logo_that_is_too_large_damaged_forged_or_scripted_is_refused() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);
    let good = png(64, 64);
    let mut oversized = good.clone();
    oversized.resize(600 * 1024, 0);
    let cases: Vec<(Vec<u8>, &str, u16, &str)> = vec![
        (oversized, "big.png", 413, "logo-too-large"),
        (good[..good.len() - 20].to_vec(), "cut.png", 422, "logo-unreadable"),
        (png(8, 8), "tiny.png", 422, "logo-dimensions"),
        (b"GIF89a\x01\x00\x01\x00".to_vec(), "logo.png", 422, "logo-unreadable"),
        (
            b"<html><script>alert(1)</script></html>".to_vec(),
            "logo.svg",
            422,
            "logo-unreadable",
        ),
        (
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>fetch('/v1/me')</script></svg>"#
                .to_vec(),
            "logo.svg",
            422,
            "logo-unsafe",
        ),
        (
            br#"<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1" onload="alert(1)"/></svg>"#
                .to_vec(),
            "logo.svg",
            422,
            "logo-unsafe",
        ),
        (
            br#"<svg xmlns="http://www.w3.org/2000/svg"><image href="https://tracker.example/pixel.png"/></svg>"#
                .to_vec(),
            "logo.svg",
            422,
            "logo-unsafe",
        ),
        (
            br#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>"#
                .to_vec(),
            "logo.svg",
            422,
            "logo-unreadable",
        ),
    ];
    for (bytes, name, status, kind) in cases {
        let refused = send_logo(&app, admin, bytes, name).await;
        let problem = refused.problem(status);
        assert_eq!(
            problem["type"],
            format!("/problems/{kind}"),
            "{name}: {}",
            refused.raw
        );
    }
    // Nothing was kept, nothing is served.
    assert!(
        app.get("/v1/branding", admin)
            .await
            .body
            .get("logo")
            .is_none()
    );
    assert_eq!(public_logo(&app, "lot").await.status(), 404);
}

#[tokio::test]
async fn only_the_territorys_admin_sets_its_branding() {
    let app = spawn_app().await;
    for role in [Role::Prescriber, Role::Epn, Role::Finance, Role::Funder] {
        let token = app.lot.token(role);
        assert_eq!(app.get("/v1/branding", token).await.status, 403, "{role}");
        patch(&app, token, &json!({ "display_name": "Piraté" }))
            .await
            .problem(403);
        send_logo(&app, token, png(32, 32), "logo.png")
            .await
            .problem(403);
    }
    // Another territory's admin changes its own, never the Lot's.
    let ara = app.ara.token(Role::TenantAdmin);
    assert_eq!(
        patch(
            &app,
            ara,
            &json!({ "display_name": "Auvergne-Rhône-Alpes" })
        )
        .await
        .status,
        200
    );
    assert_eq!(
        send_logo(&app, ara, png(32, 32), "logo.png").await.status,
        200
    );
    let lot = app
        .get("/v1/branding", app.lot.token(Role::TenantAdmin))
        .await;
    assert!(lot.body.get("display_name").is_none(), "{}", lot.raw);
    assert!(lot.body.get("logo").is_none(), "{}", lot.raw);
    assert_eq!(public_logo(&app, "lot").await.status(), 404);
    assert_eq!(public_logo(&app, "ara").await.status(), 200);
}

#[tokio::test]
async fn the_admin_sets_the_branding_from_the_portal() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::TenantAdmin).await;
    let admin = SignedIn::new(&app, "lot", &email, crate::web::PASSWORD).await;
    let home = admin.get("/portail/lot/").await;
    assert!(home.html.contains("/portail/lot/identite"), "{}", home.html);

    let saved = admin
        .submit(
            "/portail/lot/identite",
            &[
                ("display_name", "Lot numérique"),
                ("sender_name", "Ticket Net du Lot"),
                ("sender_email", "pas-une-adresse"),
            ],
        )
        .await;
    assert_eq!(saved.status, 422);
    assert!(
        saved
            .html
            .contains("Saisissez l’adresse d’expédition des courriels"),
        "{}",
        saved.html
    );
    let saved = admin
        .submit(
            "/portail/lot/identite",
            &[
                ("display_name", "Lot numérique"),
                ("sender_name", "Ticket Net du Lot"),
                ("sender_email", "ticket-net@lot.example"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let page = admin.get("/portail/lot/identite?enregistre=nom").await;
    assert!(
        page.html
            .contains("<p class=\"fr-header__service-title\">Lot numérique</p>"),
        "{}",
        page.html
    );

    let upload = |bytes: Vec<u8>, token: &str| {
        reqwest::multipart::Form::new()
            .text("csrf_token", token.to_owned())
            .part(
                "fichier",
                reqwest::multipart::Part::bytes(bytes).file_name("logo.svg"),
            )
    };
    let post_logo = |form: reqwest::multipart::Form| {
        admin
            .browser
            .http
            .post(format!("{}/portail/lot/identite/logo", app.base))
            .header("cookie", &admin.cookie)
            .header("origin", &app.base)
            .multipart(form)
            .send()
    };
    // A scripted SVG: refused in French, next to the field.
    let refused = post_logo(upload(
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec(),
        &admin.token,
    ))
    .await
    .expect("upload");
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.expect("html");
    assert!(
        html.contains("Ce logo SVG contient un élément &lt;script&gt;"),
        "{html}"
    );
    // Without the session's token: refused before anything is read.
    let forged = post_logo(upload(PLAIN_SVG.as_bytes().to_vec(), "forged"))
        .await
        .expect("upload");
    assert_eq!(forged.status(), 403);
    assert_eq!(public_logo(&app, "lot").await.status(), 404);

    let accepted = post_logo(upload(PLAIN_SVG.as_bytes().to_vec(), &admin.token))
        .await
        .expect("upload");
    assert_eq!(accepted.status(), 303);
    let page = admin.get("/portail/lot/identite?enregistre=logo").await;
    assert!(
        page.html.contains("Le logo est enregistré."),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("class=\"logo-territoire\""),
        "{}",
        page.html
    );
    assert_eq!(public_logo(&app, "lot").await.status(), 200);

    let removed = admin
        .submit("/portail/lot/identite/logo/retrait", &[])
        .await;
    assert_eq!(removed.status, 303);
    assert_eq!(public_logo(&app, "lot").await.status(), 404);

    // Another role has no such page.
    let email = with_password(&app, Role::Prescriber).await;
    let prescriber = SignedIn::new(&app, "lot", &email, crate::web::PASSWORD).await;
    assert_eq!(prescriber.get("/portail/lot/identite").await.status, 403);
}
