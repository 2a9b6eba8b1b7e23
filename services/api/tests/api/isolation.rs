//! Tenant B's tokens cannot read, change or list anything of tenant A.

use passerelle_core::tenancy::Role;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_read_and_write_of_another_tenants_objects_is_not_found() {
    let app = spawn_app().await;
    let intruder = app.ara.token(Role::TenantAdmin);
    let victim_user = app.lot.users[&Role::Finance];
    let victim_tokens = app
        .get(
            &format!("/v1/users/{victim_user}/tokens"),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(victim_tokens.status, 200);
    let victim_token_id = victim_tokens.body["items"][0]["id"]
        .as_str()
        .expect("a token id")
        .to_owned();

    app.get(&format!("/v1/users/{victim_user}"), intruder)
        .await
        .problem(404);
    app.get(&format!("/v1/users/{victim_user}/tokens"), intruder)
        .await
        .problem(404);
    app.post(
        &format!("/v1/users/{victim_user}/disable"),
        intruder,
        &json!({}),
    )
    .await
    .problem(404);
    app.post(
        &format!("/v1/users/{victim_user}/tokens"),
        intruder,
        &json!({ "name": "stolen" }),
    )
    .await
    .problem(404);
    app.send(app.request(
        "DELETE",
        &format!("/v1/users/{victim_user}/tokens/{victim_token_id}"),
        Some(intruder),
    ))
    .await
    .problem(404);

    // Nothing changed on A's side.
    let after = app
        .get(
            &format!("/v1/users/{victim_user}"),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(after.status, 200);
    assert!(
        after.body.get("disabled_at").is_none(),
        "B disabled A's user: {}",
        after.raw
    );
    assert_eq!(
        app.me(app.lot.token(Role::Finance)).await.status,
        200,
        "B revoked A's token"
    );

    // B's list shows only B's users.
    let listed = app.get("/v1/users?limit=100", intruder).await;
    assert_eq!(listed.status, 200);
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 5);
    for user in app.lot.users.values() {
        assert!(
            !ids.contains(&user.to_string().as_str()),
            "B's list shows A's user {user}"
        );
    }
}

#[tokio::test]
async fn disabling_is_refused_across_tenants() {
    let app = spawn_app().await;
    let victim_user = app.lot.users[&Role::Epn];
    app.post(
        &format!("/v1/users/{victim_user}/disable"),
        app.ara.token(Role::TenantAdmin),
        &json!({}),
    )
    .await
    .problem(404);
    assert_eq!(app.me(app.lot.token(Role::Epn)).await.status, 200);
}

#[tokio::test]
async fn binding_a_user_to_another_tenants_prescriber_is_refused() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/v1/users",
            app.ara.token(Role::TenantAdmin),
            &json!({ "email": "x@ara.example", "display_name": "X", "role": "prescriber", "prescriber_id": app.lot.prescriber_id }),
        )
        .await;
    reply.problem(422);
    assert_eq!(reply.error_fields(), ["prescriber_id"]);
}
