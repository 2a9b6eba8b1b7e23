//! What a territory set up can be corrected, with the rules of its creation, audited with the
//! values before and after: a prescriber organisation's name, SIRET and contacts, a user's
//! address and role, a scheme's name.

use passerelle_core::tenancy::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::web::{PASSWORD, SignedIn, with_password};

async fn patch(app: &TestApp, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = app
        .http
        .patch(format!("{}{path}", app.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn new_prescriber(app: &TestApp) -> String {
    let created = app
        .post(
            "/v1/prescribers",
            app.lot.token(Role::TenantAdmin),
            &json!({ "name": "CCAS de Figeac", "kind": "ccas", "contact_phone": "05 65 00 00 00" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    created.body["id"].as_str().expect("id").to_owned()
}

/// The audit entries of `action` on `object_id`, oldest first: who (role) and the details.
async fn audit_entries(app: &TestApp, action: &str, object_id: &str) -> Vec<(String, Value)> {
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    let entries = sqlx::query_as(
        "SELECT actor_role, details FROM audit_log WHERE action = $1 AND object_id = $2 ORDER BY occurred_at, id",
    )
    .bind(action)
    .bind(object_id)
    .fetch_all(&mut *tx)
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    entries
}

async fn audit_details(app: &TestApp, action: &str, object_id: &str) -> Vec<Value> {
    audit_entries(app, action, object_id)
        .await
        .into_iter()
        .map(|(_, details)| details)
        .collect()
}

#[tokio::test]
async fn a_prescriber_is_corrected_with_the_rules_of_its_creation_and_audited() {
    let app = spawn_app().await;
    let id = new_prescriber(&app).await;
    let path = format!("/v1/prescribers/{id}");
    let admin = app.lot.token(Role::TenantAdmin);

    // The contact email its daily digest needs, and a corrected name; the phone is left as it is.
    let (status, body) = patch(
        &app,
        &path,
        admin,
        &json!({ "name": "CCAS de la ville de Figeac", "contact_email": "ccas@figeac.example" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "CCAS de la ville de Figeac");
    assert_eq!(body["contact_email"], "ccas@figeac.example");
    assert_eq!(body["contact_phone"], "05 65 00 00 00");
    assert_eq!(
        audit_details(&app, "prescriber.updated", &id).await,
        vec![json!({
            "before": { "name": "CCAS de Figeac", "contact_email": null },
            "after": { "name": "CCAS de la ville de Figeac", "contact_email": "ccas@figeac.example" },
        })]
    );

    // `null` clears an optional field; a bad SIRET or email is refused by field, changing nothing.
    let (status, body) = patch(&app, &path, admin, &json!({ "contact_phone": null })).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("contact_phone").is_none(), "{body}");
    // (An empty name breaks the request's schema, like at creation: 400.)
    for (field, value, expected) in [
        ("siret", "12345678901234", 422),
        ("contact_email", "pas une adresse", 422),
        ("name", "", 400),
    ] {
        let (status, body) = patch(&app, &path, admin, &json!({ field: value })).await;
        assert_eq!(status, expected, "{field}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    let (status, body) = patch(&app, &path, admin, &json!({ "siret": "73282932000074" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["siret"], "73282932000074");
    let (_, body) = patch(&app, &path, admin, &json!({ "unknown": 1 })).await;
    assert!(body["status"].as_u64().is_some_and(|s| s >= 400), "{body}");
    assert_eq!(
        audit_details(&app, "prescriber.updated", &id).await.len(),
        3
    );

    // Another role, another tenant, an unknown organisation.
    let (status, _) = patch(
        &app,
        &path,
        app.lot.token(Role::Prescriber),
        &json!({ "name": "X" }),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = patch(
        &app,
        &path,
        app.ara.token(Role::TenantAdmin),
        &json!({ "name": "X" }),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = patch(
        &app,
        &format!("/v1/prescribers/{}", uuid::Uuid::now_v7()),
        admin,
        &json!({ "name": "X" }),
    )
    .await;
    assert_eq!(status, 404);
    let fetched = app.get(&path, admin).await;
    assert_eq!(fetched.body["name"], "CCAS de la ville de Figeac");
}

#[tokio::test]
async fn the_tenant_admin_corrects_a_prescriber_from_the_portal() {
    let app = spawn_app().await;
    let id = new_prescriber(&app).await;
    let email = with_password(&app, Role::TenantAdmin).await;
    let browser = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let list = browser.get("/portail/lot/prescripteurs").await;
    assert!(
        list.html
            .contains(&format!("/portail/lot/prescripteurs/{id}\""))
    );
    let form = browser
        .get(&format!("/portail/lot/prescripteurs/{id}"))
        .await;
    assert_eq!(form.status, 200);
    assert!(
        form.html.contains("value=\"CCAS de Figeac\""),
        "{}",
        form.html
    );

    let path = format!("/portail/lot/prescripteurs/{id}");
    let fields = |email: &'static str| {
        vec![
            ("name", "CCAS de Figeac"),
            ("kind", "ccas"),
            ("siret", ""),
            ("contact_email", email),
            ("contact_phone", "05 65 00 00 00"),
        ]
    };
    let refused = browser.submit(&path, &fields("pas une adresse")).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.html.contains("aria-describedby"),
        "{}",
        refused.html
    );
    let saved = browser.submit(&path, &fields("ccas@figeac.example")).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let list = browser.get("/portail/lot/prescripteurs?modifie=1").await;
    assert!(list.html.contains("Structure prescriptrice modifiée."));
    assert!(list.html.contains("ccas@figeac.example"));

    // A forged form and another role change nothing.
    let forged = browser
        .send_form(
            &path,
            &[("csrf_token", "autre"), ("name", "Forgé"), ("kind", "ccas")],
        )
        .await;
    assert_eq!(forged.status, 403);
    let prescriber_email = with_password(&app, Role::Prescriber).await;
    let prescriber = SignedIn::new(&app, "lot", &prescriber_email, PASSWORD).await;
    assert_eq!(prescriber.get(&path).await.status, 403);
    let fetched = app
        .get(
            &format!("/v1/prescribers/{id}"),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(fetched.body["name"], "CCAS de Figeac");
    assert_eq!(fetched.body["contact_email"], "ccas@figeac.example");
}

#[tokio::test]
async fn a_user_is_corrected_at_once_and_the_last_tenant_admin_stays() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);
    let prescriber_id = app.lot.users[&Role::Prescriber];
    let path = format!("/v1/users/{prescriber_id}");

    // The prescriber agent becomes a funder: the organisation goes with the old role, and their
    // token carries the new role at its next request.
    let (status, body) = patch(&app, &path, admin, &json!({ "role": "funder" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role"], "funder");
    assert!(body.get("prescriber_id").is_none(), "{body}");
    let me = app.me(app.lot.token(Role::Prescriber)).await;
    assert_eq!(me.body["role"], "funder", "{}", me.raw);

    // The rules of creation: an animator needs an EPN; an address taken by another user.
    let (status, body) = patch(&app, &path, admin, &json!({ "role": "epn" })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "epn_id", "{body}");
    let (status, body) = patch(
        &app,
        &path,
        admin,
        &json!({ "email": "FINANCE@lot.example" }),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/user-email-taken")),
        "{body}"
    );
    let (status, body) = patch(
        &app,
        &path,
        admin,
        &json!({ "role": "epn", "epn_id": app.lot.epn_id, "email": "animation@figeac.example" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["epn_id"], app.lot.epn_id.to_string());

    let details = audit_details(&app, "user.updated", &prescriber_id.to_string()).await;
    assert_eq!(details.len(), 2);
    assert_eq!(
        details[0],
        json!({ "before": { "role": "prescriber", "prescriber_id": app.lot.prescriber_id.to_string() },
                "after": { "role": "funder", "prescriber_id": null } })
    );

    // The tenant's only admin cannot give the role up; once another admin exists, they can.
    let admin_id = app.lot.users[&Role::TenantAdmin];
    let own = format!("/v1/users/{admin_id}");
    let (status, body) = patch(&app, &own, admin, &json!({ "role": "finance" })).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/last-tenant-admin")),
        "{body}"
    );
    let finance_id = app.lot.users[&Role::Finance];
    let (status, _) = patch(
        &app,
        &format!("/v1/users/{finance_id}"),
        admin,
        &json!({ "role": "tenant_admin" }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = patch(&app, &own, admin, &json!({ "role": "finance" })).await;
    assert_eq!(status, 200, "{body}");

    // Another role, another tenant.
    let (status, _) = patch(
        &app,
        &path,
        app.lot.token(Role::Finance),
        &json!({ "display_name": "X" }),
    )
    .await;
    assert_eq!(status, 200, "finance is the tenant admin now");
    let (status, _) = patch(
        &app,
        &path,
        app.ara.token(Role::TenantAdmin),
        &json!({ "display_name": "X" }),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = patch(
        &app,
        &path,
        app.lot.token(Role::Epn),
        &json!({ "display_name": "X" }),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_tenant_admin_corrects_a_user_from_the_portal_in_french() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::TenantAdmin).await;
    let browser = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let funder_id = app.lot.users[&Role::Funder];
    let path = format!("/portail/lot/utilisateurs/{funder_id}");
    let list = browser.get("/portail/lot/utilisateurs").await;
    assert!(
        list.html.contains(&format!("href=\"{path}\"")),
        "{}",
        list.html
    );
    let form = browser.get(&path).await;
    assert_eq!(form.status, 200);
    assert!(
        form.html.contains("value=\"funder@lot.example\""),
        "{}",
        form.html
    );

    let epn_id = app.lot.epn_id.to_string();
    let without_epn = browser
        .submit(
            &path,
            &[
                ("display_name", "Animation de Figeac"),
                ("email", "funder@lot.example"),
                ("role", "epn"),
                ("prescriber_id", ""),
                ("epn_id", ""),
            ],
        )
        .await;
    assert_eq!(without_epn.status, 422, "{}", without_epn.html);
    assert!(
        without_epn.html.contains("aria-describedby"),
        "{}",
        without_epn.html
    );
    let saved = browser
        .submit(
            &path,
            &[
                ("display_name", "Animation de Figeac"),
                ("email", "animation@figeac.example"),
                ("role", "epn"),
                ("prescriber_id", ""),
                ("epn_id", epn_id.as_str()),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let list = browser.get("/portail/lot/utilisateurs?modifie=1").await;
    assert!(list.html.contains("Compte modifié."));
    assert!(list.html.contains("animation@figeac.example"));

    // Giving up the role of the tenant's only admin is refused in French.
    let admin_id = app.lot.users[&Role::TenantAdmin];
    let refused = browser
        .submit(
            &format!("/portail/lot/utilisateurs/{admin_id}"),
            &[
                ("display_name", "Admin"),
                ("email", email.as_str()),
                ("role", "finance"),
                ("prescriber_id", ""),
                ("epn_id", ""),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.html.contains("dernier administrateur actif"),
        "{}",
        refused.html
    );
    // Another role is refused the page.
    let finance_email = with_password(&app, Role::Finance).await;
    let finance = SignedIn::new(&app, "lot", &finance_email, PASSWORD).await;
    assert_eq!(finance.get(&path).await.status, 403);
}

#[tokio::test]
async fn a_scheme_is_renamed_and_its_code_stays() {
    let app = spawn_app().await;
    let scheme_id = app.active_ticket_net_in_lot(5).await;
    let admin = app.lot.token(Role::TenantAdmin);
    let path = format!("/v1/schemes/{scheme_id}");
    let code = app.get(&path, admin).await.body["code"].clone();
    let (status, body) = patch(&app, &path, admin, &json!({ "name": "Ticket Net 2027" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Ticket Net 2027");
    assert_eq!(body["code"], code);
    let (status, _) = patch(&app, &path, admin, &json!({ "name": "" })).await;
    assert_eq!(status, 400);
    let (status, _) = patch(&app, &path, admin, &json!({ "name": "  " })).await;
    assert_eq!(status, 422);
    let (status, _) = patch(
        &app,
        &path,
        app.lot.token(Role::Prescriber),
        &json!({ "name": "X" }),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = patch(
        &app,
        &path,
        app.ara.token(Role::TenantAdmin),
        &json!({ "name": "X" }),
    )
    .await;
    assert_eq!(status, 404);

    // From the scheme's page, audited.
    let email = with_password(&app, Role::TenantAdmin).await;
    let browser = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let page = format!("/portail/lot/dispositifs/{scheme_id}");
    let renamed = browser
        .submit(&format!("{page}/nom"), &[("name", "Ticket Net du Lot")])
        .await;
    assert_eq!(renamed.status, 303, "{}", renamed.html);
    let shown = browser.get(&format!("{page}?nom=1")).await;
    assert!(
        shown.html.contains("<h1>Ticket Net du Lot</h1>"),
        "{}",
        shown.html
    );
    assert!(shown.html.contains("Dispositif renommé"));
    let details = audit_details(&app, "scheme.renamed", &scheme_id).await;
    assert_eq!(
        details.last(),
        Some(
            &json!({ "before": { "name": "Ticket Net 2027" }, "after": { "name": "Ticket Net du Lot" } })
        )
    );
}

#[tokio::test]
async fn an_epns_details_are_corrected_by_the_territory_or_its_own_staff_only() {
    let app = spawn_app().await;
    let path = format!("/v1/epns/{}", app.lot.epn_id);
    let admin = app.lot.token(Role::TenantAdmin);
    let (status, body) = patch(
        &app,
        &path,
        admin,
        &json!({ "telephone": "05 65 34 00 00", "horaires": "Mo-Fr 09:00-12:00", "courriels": ["epn@figeac.example"] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["telephone"], "05 65 34 00 00");
    assert_eq!(body["courriels"], json!(["epn@figeac.example"]));
    let name = body["nom"].clone();

    // The rules of creation, by field.
    for (field, value) in [
        ("horaires", json!("tous les jours")),
        ("code_postal", json!("4610")),
        ("courriels", json!(["pas une adresse"])),
        ("site_web", json!("figeac.example")),
    ] {
        let (status, body) = patch(&app, &path, admin, &json!({ field: value })).await;
        assert_eq!(status, 422, "{field}: {body}");
    }

    // The EPN's own animator corrects their hours; `null` clears the phone.
    let epn = app.lot.token(Role::Epn);
    let (status, body) = patch(
        &app,
        &path,
        epn,
        &json!({ "horaires": "Tu-Sa 14:00-18:00", "telephone": null }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["horaires"], "Tu-Sa 14:00-18:00");
    assert!(
        body.get("telephone").is_none() || body["telephone"].is_null(),
        "{body}"
    );
    assert_eq!(body["nom"], name);

    // Another EPN's animator, another role, another territory.
    let elsewhere = app
        .animator_of_another_epn(&app.lot, "Cahors", "46000")
        .await;
    let (status, _) = patch(&app, &path, &elsewhere.token, &json!({ "telephone": "0" })).await;
    assert_eq!(status, 404);
    let (status, _) = patch(
        &app,
        &path,
        app.lot.token(Role::Prescriber),
        &json!({ "telephone": "0" }),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = patch(
        &app,
        &path,
        app.ara.token(Role::TenantAdmin),
        &json!({ "telephone": "0" }),
    )
    .await;
    assert_eq!(status, 404);

    let entries = audit_entries(&app, "epn.updated", &app.lot.epn_id.to_string()).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].0, "epn");
    assert_eq!(
        entries[1].1,
        json!({ "before": { "horaires": "Mo-Fr 09:00-12:00", "telephone": "05 65 34 00 00" },
                "after": { "horaires": "Tu-Sa 14:00-18:00", "telephone": null } })
    );
}

#[tokio::test]
async fn an_epns_details_are_corrected_from_the_portal_by_its_staff_or_the_territory() {
    let app = spawn_app().await;
    let path = format!("/portail/lot/epns/{}/coordonnees", app.lot.epn_id);
    let fields = |hours: &'static str| {
        vec![
            ("nom", "EPN de Figeac"),
            ("adresse", "2 boulevard Pasteur"),
            ("code_postal", "46100"),
            ("commune", "Figeac"),
            ("code_insee", "46102"),
            ("courriels", "epn@figeac.example | animation@figeac.example"),
            ("telephone", "05 65 34 00 00"),
            ("site_web", ""),
            ("horaires", hours),
        ]
    };
    let email = with_password(&app, Role::Epn).await;
    let staff = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let home = staff.get("/portail/lot/epn").await;
    assert!(home.html.contains(&path), "{}", home.html);
    assert_eq!(staff.get(&path).await.status, 200);
    let refused = staff.submit(&path, &fields("tous les jours")).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.html.contains("aria-describedby=\"horaires-"),
        "{}",
        refused.html
    );
    let saved = staff.submit(&path, &fields("Mo-Fr 09:00-12:00")).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    assert_eq!(
        saved.location.as_deref(),
        Some("/portail/lot/epn?coordonnees=1")
    );
    let fetched = app
        .get(
            &format!("/v1/epns/{}", app.lot.epn_id),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(
        fetched.body["courriels"],
        json!(["epn@figeac.example", "animation@figeac.example"])
    );
    assert_eq!(fetched.body["horaires"], "Mo-Fr 09:00-12:00");

    // The territory's admin reaches it from the EPN's page; another EPN's staff and another role
    // do not.
    let admin_email = with_password(&app, Role::TenantAdmin).await;
    let admin = SignedIn::new(&app, "lot", &admin_email, PASSWORD).await;
    let network = admin
        .get(&format!("/portail/lot/epns/{}", app.lot.epn_id))
        .await;
    assert!(network.html.contains(&path), "{}", network.html);
    let elsewhere = app
        .animator_of_another_epn(&app.lot, "Cahors", "46000")
        .await;
    let other = SignedIn::new(&app, "lot", &elsewhere.email, PASSWORD).await;
    assert_eq!(other.get(&path).await.status, 404);
    assert_eq!(
        other.submit(&path, &fields("Mo 09:00-10:00")).await.status,
        404
    );
    let prescriber_email = with_password(&app, Role::Prescriber).await;
    let prescriber = SignedIn::new(&app, "lot", &prescriber_email, PASSWORD).await;
    assert_eq!(prescriber.get(&path).await.status, 403);
    let unchanged = app
        .get(
            &format!("/v1/epns/{}", app.lot.epn_id),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(unchanged.body["horaires"], "Mo-Fr 09:00-12:00");
}
