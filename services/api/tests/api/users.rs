//! Users and tokens, as a tenant admin manages them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use passerelle_core::tenancy::Role;
use serde_json::json;

use crate::helpers::{TestApp, following, spawn_app};

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

/// Clients calling `GET /v1/me` with `token` at `base` in a loop until stopped: each request's
/// sending moment and status.
fn hammer(
    app: &TestApp,
    base: &str,
    token: &str,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<(Instant, u16)>>> {
    (0..8)
        .map(|_| {
            let http = app.http.clone();
            let url = format!("{base}/v1/me");
            let token = token.to_owned();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Acquire) {
                    let sent = Instant::now();
                    let status = http
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await
                        .expect("request sent")
                        .status()
                        .as_u16();
                    seen.push((sent, status));
                }
                seen
            })
        })
        .collect()
}

/// Stops the clients after a while and checks that every request sent after `after` was
/// refused, and that the token was served before.
async fn refused_after(
    clients: Vec<tokio::task::JoinHandle<Vec<(Instant, u16)>>>,
    stop: &Arc<AtomicBool>,
    after: Instant,
) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Release);
    let mut before_ok = 0;
    let mut after_total = 0;
    for client in clients {
        for (sent, status) in client.await.expect("client") {
            if sent > after {
                after_total += 1;
                assert_eq!(status, 401, "a request sent after the change was served");
            } else if status == 200 {
                before_ok += 1;
            }
        }
    }
    assert!(before_ok > 0, "the token was never served");
    assert!(
        after_total >= 8,
        "too few requests after the change: {after_total}"
    );
}

/// The Lot's admin revokes the finance officer's token through the first instance while clients
/// keep calling `base` with it; every request sent after the revocation's answer is refused.
async fn finance_token_revoked_under_load(app: &TestApp, base: &str) {
    let admin = app.token_for(Role::TenantAdmin);
    let finance_user = app.lot.users[&Role::Finance];
    let tokens = app
        .get(&format!("/v1/users/{finance_user}/tokens"), admin)
        .await;
    let token_id = tokens.body["items"][0]["id"]
        .as_str()
        .expect("token id")
        .to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let clients = hammer(app, base, app.lot.token(Role::Finance), &stop);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let revoked = app
        .send(app.request(
            "DELETE",
            &format!("/v1/users/{finance_user}/tokens/{token_id}"),
            Some(admin),
        ))
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.raw);
    refused_after(clients, &stop, Instant::now()).await;
}

#[tokio::test]
async fn a_revoked_token_or_disabled_user_is_refused_on_the_next_request_under_load() {
    let app = spawn_app().await;
    following(&app.db.app).await;
    let admin = app.token_for(Role::TenantAdmin);
    finance_token_revoked_under_load(&app, &app.base).await;

    let stop = Arc::new(AtomicBool::new(false));
    let clients = hammer(&app, &app.base, app.lot.token(Role::Epn), &stop);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let disabled = app
        .post(
            &format!("/v1/users/{}/disable", app.lot.users[&Role::Epn]),
            admin,
            &json!({}),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.raw);
    refused_after(clients, &stop, Instant::now()).await;
}

#[tokio::test]
async fn another_instance_refuses_a_token_revoked_through_the_first_on_the_next_request() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    finance_token_revoked_under_load(&app, &other).await;

    // A change of role and name reaches the other instance too: the tenant admin, made a funder
    // by a second admin, is refused an admin's operation there on the next request, and
    // `/v1/me` there (which the other instance serves from memory) says who they are now.
    let funder_admin = app.lot.token(Role::TenantAdmin);
    let me_there = || async {
        let reply = app
            .http
            .get(format!("{other}/v1/me"))
            .bearer_auth(funder_admin)
            .send()
            .await
            .expect("sent");
        assert_eq!(reply.status(), 200);
        reply.json::<serde_json::Value>().await.expect("json")
    };
    let before = app
        .http
        .get(format!("{other}/v1/users?limit=5"))
        .bearer_auth(funder_admin)
        .send()
        .await
        .expect("sent");
    assert_eq!(before.status(), 200);
    let me_before = me_there().await;
    assert_eq!(me_before["role"], "tenant_admin");
    assert_ne!(me_before["display_name"], "Élise Financeuse");
    let second_admin = app
        .create_user(funder_admin, "second-admin@lot.example", "tenant_admin")
        .await;
    assert_eq!(second_admin.status, 201, "{}", second_admin.raw);
    let demoted = app
        .send(
            app.request(
                "PATCH",
                &format!("/v1/users/{}", app.lot.users[&Role::TenantAdmin]),
                Some(&second_admin_token(&app, &second_admin).await),
            )
            .json(&json!({ "role": "funder", "display_name": "Élise Financeuse" })),
        )
        .await;
    assert_eq!(demoted.status, 200, "{}", demoted.raw);
    let me_after = me_there().await;
    assert_eq!(me_after["role"], "funder", "{me_after}");
    assert_eq!(me_after["display_name"], "Élise Financeuse", "{me_after}");
    let after = app
        .http
        .get(format!("{other}/v1/users?limit=5"))
        .bearer_auth(funder_admin)
        .send()
        .await
        .expect("sent");
    assert_eq!(
        after.status(),
        403,
        "the demoted admin kept their role on the other instance"
    );
}

/// A token for the user `created` (a reply of `POST /v1/users`), issued by the Lot's admin.
async fn second_admin_token(app: &TestApp, created: &crate::helpers::Reply) -> String {
    let issued = app
        .post(
            &format!(
                "/v1/users/{}/tokens",
                created.body["id"].as_str().expect("id")
            ),
            app.lot.token(Role::TenantAdmin),
            &json!({ "name": "second" }),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    issued.body["secret"].as_str().expect("secret").to_owned()
}
