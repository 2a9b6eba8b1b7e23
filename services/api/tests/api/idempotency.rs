//! Idempotency-Key: replay, mismatch, concurrent duplicate, and error responses.

use passerelle_api::middleware::idempotency::fingerprint;
use passerelle_core::idempotency::{self, Claim, Scope};
use passerelle_core::tenancy::Role;
use serde_json::json;

use crate::helpers::{sf_string, spawn_app};

async fn users_with_email(app: &crate::helpers::TestApp, email: &str) -> usize {
    let listed = app
        .get("/v1/users?limit=100", app.token_for(Role::TenantAdmin))
        .await;
    listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|u| u["email"] == email)
        .count()
}

#[tokio::test]
async fn a_replay_returns_the_first_response_and_creates_nothing_more() {
    let app = spawn_app().await;
    let token = app.token_for(Role::TenantAdmin);
    let body =
        json!({ "email": "replay@lot.example", "display_name": "Replay", "role": "finance" });

    let first = app
        .post_idempotent("/v1/users", token, "create-replay-1", &body)
        .await;
    assert_eq!(first.status, 201, "{}", first.raw);
    assert!(first.header("idempotent-replayed").is_none());
    let second = app
        .post_idempotent("/v1/users", token, "create-replay-1", &body)
        .await;
    assert_eq!(second.status, 201);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(users_with_email(&app, "replay@lot.example").await, 1);
}

#[tokio::test]
async fn client_errors_are_stored_and_replayed_too() {
    let app = spawn_app().await;
    let token = app.token_for(Role::TenantAdmin);
    let body = json!({ "email": "nope", "display_name": "X", "role": "finance" });
    let first = app
        .post_idempotent("/v1/users", token, "bad-1", &body)
        .await;
    first.problem(422);
    let second = app
        .post_idempotent("/v1/users", token, "bad-1", &body)
        .await;
    second.problem(422);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.body, first.body);
}

#[tokio::test]
async fn the_same_key_with_another_request_is_refused() {
    let app = spawn_app().await;
    let token = app.token_for(Role::TenantAdmin);
    let first = app
        .post_idempotent(
            "/v1/users",
            token,
            "mismatch-1",
            &json!({ "email": "one@lot.example", "display_name": "One", "role": "finance" }),
        )
        .await;
    assert_eq!(first.status, 201);
    let other = app
        .post_idempotent(
            "/v1/users",
            token,
            "mismatch-1",
            &json!({ "email": "two@lot.example", "display_name": "Two", "role": "finance" }),
        )
        .await;
    other.problem(422);
    assert_eq!(users_with_email(&app, "two@lot.example").await, 0);
}

#[tokio::test]
async fn keys_are_per_tenant() {
    let app = spawn_app().await;
    let body = json!({ "email": "same@example.org", "display_name": "Same", "role": "funder" });
    let lot = app
        .post_idempotent(
            "/v1/users",
            app.lot.token(Role::TenantAdmin),
            "shared-key",
            &body,
        )
        .await;
    let ara = app
        .post_idempotent(
            "/v1/users",
            app.ara.token(Role::TenantAdmin),
            "shared-key",
            &body,
        )
        .await;
    assert_eq!(lot.status, 201);
    assert_eq!(ara.status, 201);
    assert!(ara.header("idempotent-replayed").is_none());
    assert_ne!(lot.body["id"], ara.body["id"]);
}

#[tokio::test]
async fn a_retry_while_the_first_request_runs_gets_a_conflict() {
    let app = spawn_app().await;
    let token = app.token_for(Role::TenantAdmin);
    let body = json!({ "email": "slow@lot.example", "display_name": "Slow", "role": "finance" });
    let raw = serde_json::to_vec(&body).expect("json");
    // The first request holds the key (as it would while its handler runs).
    let held = idempotency::claim(
        &app.db.app,
        Scope::Tenant(app.lot.id),
        app.lot.users[&Role::TenantAdmin],
        "in-flight-1",
        &fingerprint(
            &app.lot.users[&Role::TenantAdmin].to_string(),
            "POST",
            "/v1/users",
            "application/json",
            &raw,
        ),
    )
    .await
    .expect("claim");
    assert_eq!(held, Claim::Acquired);

    let retry = app
        .send(
            app.request("POST", "/v1/users", Some(token))
                .header("Idempotency-Key", sf_string("in-flight-1"))
                .header("content-type", "application/json")
                .body(raw),
        )
        .await;
    retry.problem(409);
    assert_eq!(users_with_email(&app, "slow@lot.example").await, 0);
}

#[tokio::test]
async fn concurrent_duplicates_create_exactly_one_object() {
    let app = spawn_app().await;
    let token = app.token_for(Role::TenantAdmin).to_owned();
    let body = json!({ "email": "race@lot.example", "display_name": "Race", "role": "finance" });
    let replies = futures::future::join_all(
        (0..12).map(|_| app.post_idempotent("/v1/users", &token, "race-1", &body)),
    )
    .await;
    let created: Vec<_> = replies.iter().filter(|r| r.status == 201).collect();
    assert!(!created.is_empty());
    for reply in &replies {
        assert!(
            matches!(reply.status, 201 | 409),
            "unexpected {}: {}",
            reply.status,
            reply.raw
        );
        if reply.status == 201 {
            assert_eq!(reply.body["id"], created[0].body["id"]);
        }
    }
    assert_eq!(users_with_email(&app, "race@lot.example").await, 1);
}

#[tokio::test]
async fn platform_operations_are_idempotent_too() {
    let app = spawn_app().await;
    let body = json!({ "slug": "cantal", "name": "Département du Cantal", "kind": "departement", "insee_code": "15",
                       "sender_name": "Cantal", "sender_email": "num@cantal.example" });
    let first = app
        .post_idempotent("/v1/tenants", &app.platform_token, "tenant-cantal", &body)
        .await;
    assert_eq!(first.status, 201, "{}", first.raw);
    let again = app
        .post_idempotent("/v1/tenants", &app.platform_token, "tenant-cantal", &body)
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["id"], first.body["id"]);
}

#[tokio::test]
async fn malformed_keys_are_refused() {
    let app = spawn_app().await;
    let token = app.token_for(Role::TenantAdmin);
    let body = json!({ "email": "k@lot.example", "display_name": "K", "role": "finance" });
    app.post_idempotent("/v1/users", token, &"k".repeat(256), &body)
        .await
        .problem(400);
}

/// Whether any stored response of the Lot holds `needle`.
async fn stored_bodies_contain(app: &crate::helpers::TestApp, needle: &str) -> bool {
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    let bodies: Vec<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT response_body FROM idempotency_keys")
            .fetch_all(&mut *tx)
            .await
            .expect("stored responses");
    tx.commit().await.expect("commit");
    bodies
        .into_iter()
        .flatten()
        .any(|body| String::from_utf8_lossy(&body).contains(needle))
}

#[tokio::test]
async fn a_key_an_admin_used_replays_nothing_to_another_role() {
    let app = spawn_app().await;
    let funder_id = app.lot.users[&Role::Funder];
    let path = format!("/v1/users/{funder_id}/tokens");
    let body = json!({ "name": "poste" });
    let admin = app
        .post_idempotent(&path, app.token_for(Role::TenantAdmin), "K", &body)
        .await;
    assert_eq!(admin.status, 201, "{}", admin.raw);
    let secret = admin.body["secret"].as_str().expect("secret");

    // The attack: the funder sends the same request with the same key.
    let funder = app
        .post_idempotent(&path, app.token_for(Role::Funder), "K", &body)
        .await;
    funder.problem(403);
    assert!(funder.header("idempotent-replayed").is_none());
    assert!(!funder.raw.contains(secret), "{}", funder.raw);
}

#[tokio::test]
async fn keys_are_per_caller_within_a_tenant() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::TenantAdmin);
    let other_admin_id = app
        .create_user(admin, "seconde@lot.example", "tenant_admin")
        .await
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let other_admin = app
        .post(
            &format!("/v1/users/{other_admin_id}/tokens"),
            admin,
            &json!({ "name": "seconde" }),
        )
        .await
        .body["secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    let body = json!({ "email": "mine@lot.example", "display_name": "Mine", "role": "finance" });
    let first = app.post_idempotent("/v1/users", admin, "K", &body).await;
    assert_eq!(first.status, 201, "{}", first.raw);
    // The same request with the same key from another admin is theirs: it runs (and finds the
    // address taken) instead of replaying the first admin's answer.
    let same = app
        .post_idempotent("/v1/users", &other_admin, "K", &body)
        .await;
    assert!(same.header("idempotent-replayed").is_none(), "{}", same.raw);
    same.problem(409);
    // Another request with a key the first admin used is not a "reused key" either.
    let theirs = app
        .post_idempotent(
            "/v1/users",
            &other_admin,
            "K2",
            &json!({ "email": "theirs@lot.example", "display_name": "Theirs", "role": "finance" }),
        )
        .await;
    assert_eq!(theirs.status, 201, "{}", theirs.raw);
    let mine_again = app
        .post_idempotent(
            "/v1/users",
            admin,
            "K2",
            &json!({ "email": "mine2@lot.example", "display_name": "Mine", "role": "finance" }),
        )
        .await;
    assert_eq!(mine_again.status, 201, "{}", mine_again.raw);
    assert_ne!(theirs.body["id"], mine_again.body["id"]);
}

#[tokio::test]
async fn a_secret_is_shown_once_even_to_the_same_caller() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::TenantAdmin);
    let path = format!("/v1/users/{}/tokens", app.lot.users[&Role::Finance]);
    let body = json!({ "name": "poste comptable" });
    let first = app.post_idempotent(&path, admin, "token-1", &body).await;
    assert_eq!(first.status, 201, "{}", first.raw);
    let secret = first.body["secret"].as_str().expect("secret").to_owned();
    assert!(!stored_bodies_contain(&app, &secret).await);

    let retry = app.post_idempotent(&path, admin, "token-1", &body).await;
    let problem = retry.problem(409);
    assert_eq!(problem["type"], "/problems/idempotency-secret-not-replayed");
    assert!(!retry.raw.contains(&secret));
    // Exactly one token was made.
    let listed = app.get(&path, admin).await;
    let named = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|t| t["name"] == "poste comptable")
        .count();
    assert_eq!(named, 1, "{}", listed.raw);
}

#[tokio::test]
async fn the_key_is_a_structured_field_string() {
    let app = spawn_app().await;
    let token = app.token_for(Role::TenantAdmin);
    let body = json!({ "email": "sf@lot.example", "display_name": "SF", "role": "finance" });
    for bad in ["bare-token", "\"unterminated", "\"\"", "42", "\"a\";"] {
        let reply = app
            .send(
                app.request("POST", "/v1/users", Some(token))
                    .header("Idempotency-Key", bad)
                    .json(&body),
            )
            .await;
        reply.problem(400);
    }
    let quoted = app
        .post_idempotent("/v1/users", token, "with \"quotes\" and \\", &body)
        .await;
    assert_eq!(quoted.status, 201, "{}", quoted.raw);
    let again = app
        .post_idempotent("/v1/users", token, "with \"quotes\" and \\", &body)
        .await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}
