//! Tenant creation and listing by the platform admin.

use passerelle_core::tenancy::Role;
use serde_json::json;

use crate::helpers::spawn_app;
use crate::web::{PASSWORD, SignedIn, with_password};

fn tenant(slug: &str, insee_code: &str) -> serde_json::Value {
    json!({ "slug": slug, "name": format!("Département {slug}"), "kind": "departement", "insee_code": insee_code,
            "sender_name": "Inclusion numérique", "sender_email": format!("contact@{slug}.example") })
}

#[tokio::test]
async fn the_platform_admin_creates_reads_and_lists_tenants() {
    let app = spawn_app().await;
    let created = app
        .post("/v1/tenants", &app.platform_token, &tenant("correze", "19"))
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    assert_eq!(created.body["time_zone"], "Europe/Paris");
    let location = created.header("location").expect("Location").to_owned();
    let fetched = app.get(&location, &app.platform_token).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body["slug"], "correze");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/tenants?limit=2&cursor={c}"),
            None => "/v1/tenants?limit=2".to_owned(),
        };
        let page = app.get(&path, &app.platform_token).await;
        assert_eq!(page.status, 200, "{}", page.raw);
        let items = page.body["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|t| t["slug"].as_str().expect("slug").to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["lot", "ara", "correze"]);
}

#[tokio::test]
async fn duplicates_and_bad_codes_are_refused_with_the_reason() {
    let app = spawn_app().await;
    let duplicate = app
        .post("/v1/tenants", &app.platform_token, &tenant("lot", "12"))
        .await;
    duplicate.problem(409);
    assert!(
        duplicate.body["detail"]
            .as_str()
            .expect("detail")
            .contains("slug"),
        "{}",
        duplicate.raw
    );

    let same_code = app
        .post(
            "/v1/tenants",
            &app.platform_token,
            &tenant("autre-lot", "46"),
        )
        .await;
    same_code.problem(409);
    assert!(
        same_code.body["detail"]
            .as_str()
            .expect("detail")
            .contains("INSEE"),
        "{}",
        same_code.raw
    );

    let mut bad = tenant("Bad Slug!", "4X");
    bad["time_zone"] = json!("Mars/Olympus");
    bad["sender_email"] = json!("contact@bad.example");
    let invalid = app.post("/v1/tenants", &app.platform_token, &bad).await;
    invalid.problem(422);
    let mut fields = invalid.error_fields();
    fields.sort();
    assert_eq!(fields, ["insee_code", "slug", "time_zone"]);
}

/// A new territory can start without anyone touching the database: the platform admin invites
/// its first tenant admin, whose first sign-in lands on the set-up checklist.
#[tokio::test]
async fn a_new_territory_gets_its_first_admin_by_invitation_and_a_checklist() {
    let app = spawn_app().await;
    let created = app
        .post("/v1/tenants", &app.platform_token, &tenant("cantal", "15"))
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let tenant_id: uuid::Uuid = created.body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let path = format!("/v1/tenants/{tenant_id}/admins");
    let admin = json!({ "email": "inclusion@cantal.example", "display_name": "Service inclusion" });

    // Nobody but the platform admin invites; a malformed address and an unknown tenant are told.
    let tenant_admin = app
        .post(&path, app.lot.token(Role::TenantAdmin), &admin)
        .await;
    assert_eq!(tenant_admin.status, 403, "{}", tenant_admin.raw);
    let malformed = app
        .post(
            &path,
            &app.platform_token,
            &json!({ "email": "pas-une-adresse", "display_name": "X" }),
        )
        .await;
    assert_eq!(malformed.status, 422, "{}", malformed.raw);
    let unknown = app
        .post(
            &format!("/v1/tenants/{}/admins", uuid::Uuid::now_v7()),
            &app.platform_token,
            &admin,
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.raw);

    let invited = app.post(&path, &app.platform_token, &admin).await;
    assert_eq!(invited.status, 201, "{}", invited.raw);
    assert_eq!(invited.body["role"], "tenant_admin");
    let user_id: uuid::Uuid = invited.body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let again = app.post(&path, &app.platform_token, &admin).await;
    assert_eq!(again.status, 409, "{}", again.raw);

    // The invitation is due (the worker sends it with its link), once, and audited.
    let outbox = passerelle_core::emails::outbox::list(
        &app.db.app,
        tenant_id,
        &passerelle_core::emails::outbox::EmailFilter {
            kind: Some(passerelle_core::emails::Kind::Invitation),
            ..Default::default()
        },
        passerelle_core::pagination::PageRequest::parse(Some(10), None).expect("page"),
    )
    .await
    .expect("outbox")
    .items;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].user_id, Some(user_id));
    let mut tx = app.db.app.begin_tenant(tenant_id).await.expect("tx");
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE object_id = $1::text ORDER BY occurred_at, id",
    )
    .bind(user_id)
    .fetch_all(&mut *tx)
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    assert_eq!(actions, ["tenant.admin_invited", "user.invited"]);

    // Once their password is chosen (the invitation's link), they sign in to a checklist with
    // every step still to do.
    passerelle_core::tenancy::accounts::set_password(
        &app.db.app,
        tenant_id,
        passerelle_core::audit::Actor::SYSTEM,
        user_id,
        PASSWORD,
    )
    .await
    .expect("password");
    let browser = SignedIn::new(&app, "cantal", "inclusion@cantal.example", PASSWORD).await;
    let home = browser.get("/portail/cantal/").await;
    assert!(
        home.html.contains("Mise en place de l’espace"),
        "{}",
        home.html
    );
    assert_eq!(home.html.matches("à faire").count(), 4, "{}", home.html);
    assert!(home.html.contains("/portail/cantal/dispositifs"));
}

/// The checklist flags a prescriber the daily digest cannot reach.
#[tokio::test]
async fn the_checklist_names_a_prescriber_without_a_contact_email() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/prescribers",
            app.lot.token(Role::TenantAdmin),
            &json!({ "name": "CCAS de Souillac", "kind": "ccas" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let email = with_password(&app, Role::TenantAdmin).await;
    let browser = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let home = browser.get("/portail/lot/").await;
    let flagged = home
        .html
        .split("manquante pour ")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a prescriber without a contact email is flagged");
    assert!(
        flagged.split(", ").any(|name| name == "CCAS de Souillac"),
        "{flagged}"
    );
    // Another role sees no checklist.
    let prescriber_email = with_password(&app, Role::Prescriber).await;
    let prescriber = SignedIn::new(&app, "lot", &prescriber_email, PASSWORD).await;
    assert!(
        !prescriber
            .get("/portail/lot/")
            .await
            .html
            .contains("Mise en place")
    );
}
