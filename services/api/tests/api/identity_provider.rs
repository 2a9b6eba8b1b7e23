//! A territory's OpenID Connect provider as its tenant admin sets it: checked, the secret never
//! read back nor audited, and refused to every other role and territory.

use passerelle_core::tenancy::Role;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app};

async fn put(app: &TestApp, token: &str, body: &Value) -> Reply {
    app.send(
        app.request("PUT", "/v1/tenant/identity-provider", Some(token))
            .json(body),
    )
    .await
}

fn proconnect(app: &TestApp, secret: Option<&str>) -> Value {
    let mut body = json!({
        "label": "ProConnect",
        "issuer": "https://auth.agentconnect.gouv.fr/api/v2/",
        "client_id": "passerelle-lot",
        "email_domains": [
            { "domain": "@Lot.fr", "role": "tenant_admin" },
            { "domain": "caf.fr", "role": "prescriber", "prescriber_id": app.lot.prescriber_id },
            { "domain": "caf.fr", "role": "prescriber", "prescriber_id": app.lot.prescriber_id },
        ],
    });
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
    }
    body
}

#[tokio::test]
async fn the_admin_sets_the_provider_and_its_secret_is_never_read_back() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);
    assert_eq!(
        app.get("/v1/tenant/identity-provider", admin).await.status,
        404
    );
    // The first time, a secret is required.
    let refused = put(&app, admin, &proconnect(&app, None)).await;
    refused.problem(422);
    assert_eq!(refused.error_fields(), vec!["client_secret".to_owned()]);

    let set = put(&app, admin, &proconnect(&app, Some("s3cr3t-du-lot"))).await;
    assert_eq!(set.status, 200, "{}", set.raw);
    assert!(!set.raw.contains("s3cr3t-du-lot"), "{}", set.raw);
    assert_eq!(set.body["client_secret_set"], true);
    assert_eq!(
        set.body["issuer"],
        "https://auth.agentconnect.gouv.fr/api/v2"
    );
    assert!(
        set.body["redirect_uri"]
            .as_str()
            .expect("redirect")
            .ends_with("/portail/lot/oidc/retour"),
        "{}",
        set.raw
    );
    let domains = set.body["email_domains"].as_array().expect("domains");
    assert_eq!(domains.len(), 2, "a rule sent twice is one: {}", set.raw);
    assert!(
        domains.iter().any(|d| d["domain"] == "lot.fr"),
        "{}",
        set.raw
    );

    // Changed without a secret: the stored one stays.
    let mut renamed = proconnect(&app, None);
    renamed["label"] = json!("ProConnect (agents)");
    let kept = put(&app, admin, &renamed).await;
    assert_eq!(kept.status, 200, "{}", kept.raw);
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    let stored: String = sqlx::query_scalar("SELECT client_secret FROM identity_providers")
        .fetch_one(&mut *tx)
        .await
        .expect("secret");
    let audits: Vec<Value> = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'tenant.identity_provider_set' ORDER BY occurred_at",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    assert_eq!(stored, "s3cr3t-du-lot");
    assert_eq!(audits.len(), 2);
    assert_eq!(audits[0]["client_secret_replaced"], true);
    assert_eq!(audits[1]["client_secret_replaced"], false);
    assert!(
        audits.iter().all(|a| !a.to_string().contains("s3cr3t")),
        "the secret is never audited: {audits:?}"
    );

    // Each field checked, each refusal named.
    for (field, value, at) in [
        ("issuer", json!("http://auth.example.fr"), "issuer"),
        ("issuer", json!("https://auth.example.fr/?a=b"), "issuer"),
        ("label", json!("  "), "label"),
        (
            "email_domains",
            json!([{ "domain": "caf", "role": "prescriber" }]),
            "email_domains.0.domain",
        ),
        (
            "email_domains",
            json!([{ "domain": "lot.fr", "role": "epn", "prescriber_id": app.lot.prescriber_id }]),
            "email_domains.0.prescriber_id",
        ),
        (
            "email_domains",
            json!([{ "domain": "lot.fr", "role": "platform_admin" }]),
            "email_domains.0.role",
        ),
    ] {
        let mut body = proconnect(&app, None);
        body[field] = value;
        let refused = put(&app, admin, &body).await;
        refused.problem(422);
        assert_eq!(
            refused.error_fields(),
            vec![at.to_owned()],
            "{}",
            refused.raw
        );
    }
    // Another territory's organisation: not one of this territory's.
    let mut body = proconnect(&app, None);
    body["email_domains"] = json!([{ "domain": "caf.fr", "role": "prescriber", "prescriber_id": app.ara.prescriber_id }]);
    let refused = put(&app, admin, &body).await;
    refused.problem(422);
    assert_eq!(refused.error_fields(), vec!["email_domains".to_owned()]);

    // Removed; another territory never saw it.
    assert_eq!(
        app.get(
            "/v1/tenant/identity-provider",
            app.ara.token(Role::TenantAdmin)
        )
        .await
        .status,
        404
    );
    let removed = app
        .send(app.request("DELETE", "/v1/tenant/identity-provider", Some(admin)))
        .await;
    assert_eq!(removed.status, 204);
    assert_eq!(
        app.get("/v1/tenant/identity-provider", admin).await.status,
        404
    );
}

#[tokio::test]
async fn only_the_territorys_admin_sets_its_provider() {
    let app = spawn_app().await;
    for role in [Role::Prescriber, Role::Epn, Role::Finance, Role::Funder] {
        let token = app.lot.token(role);
        put(&app, token, &proconnect(&app, Some("x")))
            .await
            .problem(403);
        assert_eq!(
            app.get("/v1/tenant/identity-provider", token).await.status,
            403
        );
    }
}

#[tokio::test]
async fn the_admin_unlinks_an_identity_linked_by_mistake_and_its_sessions_end() {
    use passerelle_core::tenancy::provider_sign_in::{self, ProviderSignIn, VouchedIdentity};

    let app = spawn_app().await;
    let admin_token = app.lot.token(Role::TenantAdmin);
    let user_id = app.lot.users[&Role::Prescriber];
    let agent = app.get(&format!("/v1/users/{user_id}"), admin_token).await;
    let email = agent.body["email"].as_str().expect("email").to_owned();
    let domain = email.rsplit_once('@').expect("an address").1.to_lowercase();
    let set = put(
        &app,
        admin_token,
        &json!({
            "label": "ProConnect",
            "issuer": "https://auth.agentconnect.gouv.fr/api/v2",
            "client_id": "passerelle-lot",
            "client_secret": "secret",
            "email_domains": [{ "domain": domain, "role": "prescriber" }],
        }),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.raw);
    // The agent signs in through the provider (its ID token verified by the API's flow, tested
    // end to end in the browser tests): the identity is linked.
    let signed = provider_sign_in::sign_in(
        &app.db.app,
        app.lot.id,
        &VouchedIdentity {
            issuer: "https://auth.agentconnect.gouv.fr/api/v2".into(),
            subject: "sub-lie-par-erreur".into(),
            email: Some(email.clone()),
            authenticated_at: Some(chrono::Utc::now()),
            id_token: "en-tete.charge.signature".into(),
        },
    )
    .await
    .expect("sign in");
    let ProviderSignIn::Opened { session, .. } = signed else {
        panic!("expected a session");
    };
    let agent_cookie = format!("passerelle_session={}", session.cookie);
    let browser = crate::web::Browser::new(&app);
    assert_eq!(
        browser
            .get("/portail/lot/", Some(&agent_cookie))
            .await
            .status,
        200
    );

    // Not by another territory's admin, nor by the agent's own token.
    let path = format!("/v1/users/{user_id}/identity");
    let foreign = app
        .send(app.request("DELETE", &path, Some(app.ara.token(Role::TenantAdmin))))
        .await;
    assert_eq!(foreign.status, 404, "{}", foreign.raw);
    let own = app
        .send(app.request("DELETE", &path, Some(app.lot.token(Role::Prescriber))))
        .await;
    assert_eq!(own.status, 403);

    // From the admin's page of the user: when it was linked, and the button.
    let admin_email = crate::web::with_password(&app, Role::TenantAdmin).await;
    let admin = crate::web::SignedIn::new(&app, "lot", &admin_email, crate::web::PASSWORD).await;
    let user_page = admin
        .get(&format!("/portail/lot/utilisateurs/{user_id}"))
        .await;
    assert!(
        user_page
            .html
            .contains("Son identité ProConnect est liée à ce compte depuis le")
            && user_page.html.contains("Délier l’identité ProConnect"),
        "{}",
        user_page.html
    );
    let unlinked = admin
        .submit(
            &format!("/portail/lot/utilisateurs/{user_id}/identite"),
            &[],
        )
        .await;
    assert_eq!(unlinked.status, 303, "{}", unlinked.html);
    assert_eq!(
        browser
            .get("/portail/lot/", Some(&agent_cookie))
            .await
            .location
            .as_deref(),
        Some("/portail/lot/connexion"),
        "the session the identity opened ended"
    );
    let user_page = admin
        .get(&format!("/portail/lot/utilisateurs/{user_id}"))
        .await;
    assert!(
        user_page
            .html
            .contains("Aucune identité ProConnect n’est liée"),
        "{}",
        user_page.html
    );
    // Nothing is left to unlink; the unlinking is audited.
    let again = app
        .send(app.request("DELETE", &path, Some(admin_token)))
        .await;
    assert_eq!(again.status, 404, "{}", again.raw);
    assert_eq!(app.audited_in_lot("user.identity_unlinked").await, 1);
}

#[tokio::test]
async fn the_sign_in_pages_answer_in_french_when_nothing_can_be_done() {
    let app = spawn_app().await;
    let browser = crate::web::Browser::new(&app);
    // A territory without a provider has no button and no way in through one.
    let sign_in = browser.get("/portail/ara/connexion", None).await;
    assert!(
        !sign_in.html.contains("S’identifier avec"),
        "{}",
        sign_in.html
    );
    let none = browser.get("/portail/ara/oidc/connexion", None).await;
    assert_eq!(none.status, 404, "{}", none.html);
    assert!(
        none.html
            .contains("ne propose pas de se connecter par un fournisseur d’identité")
    );

    // A provider nobody answers for: a French page, and the button still on the sign-in page.
    let set = put(
        &app,
        app.lot.token(Role::TenantAdmin),
        &json!({
            "label": "ProConnect",
            "issuer": "https://127.0.0.1:1",
            "client_id": "passerelle-lot",
            "client_secret": "secret",
            "email_domains": [],
        }),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.raw);
    let sign_in = browser.get("/portail/lot/connexion", None).await;
    assert!(
        sign_in.html.contains("S’identifier avec ProConnect"),
        "{}",
        sign_in.html
    );
    let unreachable = browser.get("/portail/lot/oidc/connexion", None).await;
    assert_eq!(unreachable.status, 502, "{}", unreachable.html);
    assert!(
        unreachable
            .html
            .contains("La connexion par ProConnect n’a pas abouti")
    );

    // A return that no sign-in of this browser began.
    let forged = browser
        .get("/portail/lot/oidc/retour?code=abc&state=def", None)
        .await;
    assert_eq!(forged.status, 400, "{}", forged.html);
    assert!(
        forged
            .html
            .contains("La connexion n’a pas pu être vérifiée")
    );

    // A client looping on the button is stopped at 20 sign-ins begun a minute, whatever the
    // territory (two were begun above).
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(
            browser
                .get("/portail/lot/oidc/connexion", None)
                .await
                .status,
        );
    }
    assert!(statuses[..18].iter().all(|s| *s == 502), "{statuses:?}");
    assert!(statuses[18..].iter().all(|s| *s == 429), "{statuses:?}");
}
