//! Users and tokens, as a tenant admin manages them.

use passerelle_core::tenancy::Role;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn me_describes_the_caller() {
    let app = spawn_app().await;
    let prescriber = app.me(app.lot.token(Role::Prescriber)).await;
    assert_eq!(prescriber.status, 200);
    assert_eq!(prescriber.body["role"], "prescriber");
    assert_eq!(prescriber.body["tenant_slug"], app.lot.slug);
    assert_eq!(
        prescriber.body["prescriber_id"],
        app.lot.prescriber_id.to_string()
    );

    let animator = app.me(app.ara.token(Role::Epn)).await;
    assert_eq!(animator.body["role"], "epn");
    assert_eq!(animator.body["tenant_slug"], app.ara.slug);
    assert_eq!(animator.body["epn_id"], app.ara.epn_id.to_string());

    let platform = app.me(&app.platform_token).await;
    assert_eq!(platform.body["role"], "platform_admin");
    assert!(platform.body.get("tenant_id").is_none());
}

#[tokio::test]
async fn a_new_user_gets_a_working_token_that_can_be_revoked() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::TenantAdmin);
    let created = app
        .create_user(admin, "nouvelle@lot.example", "finance")
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let user_id = created.body["id"].as_str().expect("id").to_owned();

    let issued = app
        .post(
            &format!("/v1/users/{user_id}/tokens"),
            admin,
            &json!({ "name": "poste comptable" }),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    let secret = issued.body["secret"].as_str().expect("secret").to_owned();
    let token_id = issued.body["token"]["id"]
        .as_str()
        .expect("token id")
        .to_owned();
    let me = app.me(&secret).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["role"], "finance");

    let listed = app.get(&format!("/v1/users/{user_id}/tokens"), admin).await;
    assert_eq!(listed.status, 200);
    assert!(!listed.raw.contains(&secret), "secrets are never listed");
    assert!(
        listed.body["items"][0]["last_used_at"].is_string(),
        "last use is recorded: {}",
        listed.raw
    );

    let revoked = app
        .send(app.request(
            "DELETE",
            &format!("/v1/users/{user_id}/tokens/{token_id}"),
            Some(admin),
        ))
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.raw);
    assert!(revoked.body["revoked_at"].is_string());
    app.me(&secret).await.problem(401);

    let audit = app
        .get("/v1/audit?object_type=api_token&limit=100", admin)
        .await;
    let ours: Vec<&serde_json::Value> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["object_id"] == token_id.as_str())
        .collect();
    let actions: Vec<&str> = ours.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["token.created", "token.revoked"]);
    assert!(ours.iter().all(|e| e["actor_role"] == "tenant_admin"));
}

#[tokio::test]
async fn expired_tokens_and_disabled_users_are_refused() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::TenantAdmin);
    let past = app
        .post(
            &format!("/v1/users/{}/tokens", app.lot.users[&Role::Funder]),
            admin,
            &json!({ "name": "old", "expires_at": "2020-01-01T00:00:00Z" }),
        )
        .await;
    past.problem(422);
    assert_eq!(past.error_fields(), ["expires_at"]);

    let untouched = sqlx::query(
        "UPDATE api_tokens SET expires_at = now() WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(app.lot.id)
    .bind(app.lot.users[&Role::Funder])
    .execute(app.db.app.pool())
    .await
    .expect("an update that row-level security filters to nothing");
    assert_eq!(
        untouched.rows_affected(),
        0,
        "without a tenant set, the application role changes nothing"
    );
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    sqlx::query(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
    )
    .bind(app.lot.users[&Role::Funder])
    .execute(&mut *tx)
    .await
    .expect("expire");
    tx.commit().await.expect("commit");
    app.me(app.lot.token(Role::Funder)).await.problem(401);

    let disabled = app
        .post(
            &format!("/v1/users/{}/disable", app.lot.users[&Role::Epn]),
            admin,
            &json!({}),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.raw);
    assert!(disabled.body["disabled_at"].is_string());
    app.me(app.lot.token(Role::Epn)).await.problem(401);
}

#[tokio::test]
async fn users_are_listed_page_by_page_and_emails_are_unique_per_tenant() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::TenantAdmin);
    let duplicate = app
        .create_user(admin, "FINANCE@lot.example", "finance")
        .await;
    duplicate.problem(409);
    assert!(
        duplicate.body["detail"]
            .as_str()
            .expect("detail")
            .contains("email")
    );

    let first = app.get("/v1/users?limit=3", admin).await;
    assert_eq!(first.body["items"].as_array().expect("items").len(), 3);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("/v1/users?limit=3&cursor={cursor}"), admin)
        .await;
    assert_eq!(second.body["items"].as_array().expect("items").len(), 2);
    assert!(second.body.get("next_cursor").is_none());
    let big = app.get("/v1/users?limit=101", admin).await;
    big.problem(400);
}
