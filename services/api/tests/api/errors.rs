//! Every kind of bad request gets an RFC 9457 problem, with a request id.

use passerelle_core::tenancy::Role;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn routing_errors_are_problems() {
    let app = spawn_app().await;
    let token = app.token_for(Role::TenantAdmin);

    let unknown = app.get("/v1/nowhere", token).await;
    unknown.problem(404);
    assert!(unknown.header("x-request-id").is_some());

    let wrong_method = app.send(app.request("PUT", "/v1/me", Some(token))).await;
    wrong_method.problem(405);
}

#[tokio::test]
async fn body_errors_are_problems_that_name_the_field() {
    let app = spawn_app().await;
    let token = app.token_for(Role::TenantAdmin);

    let bad_json = app
        .send(
            app.request("POST", "/v1/users", Some(token))
                .header("content-type", "application/json")
                .body("{oops"),
        )
        .await;
    bad_json.problem(400);

    let unknown_field = app
        .post("/v1/users", token, &json!({ "email": "a@lot.example", "display_name": "A", "role": "finance", "admin": true }))
        .await;
    unknown_field.problem(400);
    assert_eq!(unknown_field.error_fields(), ["admin"]);

    let too_long = app
        .post("/v1/users", token, &json!({ "email": "a@lot.example", "display_name": "A".repeat(201), "role": "finance" }))
        .await;
    too_long.problem(400);
    assert!(
        too_long.error_fields().contains(&"display_name".to_owned()),
        "{}",
        too_long.raw
    );

    let missing = app
        .post(
            "/v1/users",
            token,
            &json!({ "display_name": "A", "email": null }),
        )
        .await;
    missing.problem(400);
    assert_eq!(missing.error_fields(), ["email", "role"]);

    let wrong_type = app
        .send(
            app.request("POST", "/v1/users", Some(token))
                .header("content-type", "text/plain")
                .body("hello"),
        )
        .await;
    wrong_type.problem(415);

    let invalid = app
        .post(
            "/v1/users",
            token,
            &json!({ "email": "not-an-email", "display_name": " ", "role": "prescriber" }),
        )
        .await;
    invalid.problem(422);
    let mut fields = invalid.error_fields();
    fields.sort();
    assert_eq!(fields, ["display_name", "email", "prescriber_id"]);

    let bad_query = app.get("/v1/users?limit=0", token).await;
    bad_query.problem(400);
    assert_eq!(bad_query.error_fields(), ["limit"]);

    let bad_cursor = app.get("/v1/users?cursor=garbage", token).await;
    bad_cursor.problem(422);
    assert_eq!(bad_cursor.error_fields(), ["cursor"]);
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_or_without_a_declared_length() {
    let app = spawn_app().await;
    let token = app.token_for(Role::TenantAdmin);
    let huge = format!("{{\"email\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));

    let declared = app
        .send(
            app.request("POST", "/v1/users", Some(token))
                .header("content-type", "application/json")
                .body(huge.clone()),
        )
        .await;
    declared.problem(413);

    let chunks = futures::stream::iter(
        huge.into_bytes()
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let streamed = app
        .send(
            app.request("POST", "/v1/users", Some(token))
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(chunks)),
        )
        .await;
    streamed.problem(413);
}

#[tokio::test]
async fn authentication_failures_are_problems() {
    let app = spawn_app().await;

    let missing = app.send(app.request("GET", "/v1/me", None)).await;
    missing.problem(401);

    for garbage in [
        "nope",
        "pst_notauuid_x",
        "psp_doesnotexist",
        &format!("pst_{}_forged", app.lot.id.simple()),
    ] {
        let reply = app.me(garbage).await;
        reply.problem(401);
    }

    // A token of tenant A presented with tenant B's id in its prefix does not authenticate.
    let lot_token = app.token_for(Role::Finance).to_owned();
    let swapped = lot_token.replace(
        &app.lot.id.simple().to_string(),
        &app.ara.id.simple().to_string(),
    );
    app.me(&swapped).await.problem(401);
}

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    let app = spawn_app().await;
    let token = app.token_for(Role::Funder);
    let generated = app.me(token).await;
    assert_eq!(generated.status, 200);
    let id = generated.header("x-request-id").expect("a request id");
    assert!(uuid::Uuid::parse_str(id).is_ok());

    let echoed = app
        .send(
            app.request("GET", "/v1/me", Some(token))
                .header("x-request-id", "caller-123"),
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), Some("caller-123"));

    let refused = app
        .send(
            app.request("GET", "/v1/me", Some(token))
                .header("x-request-id", "bad id with spaces"),
        )
        .await;
    assert_ne!(refused.header("x-request-id"), Some("bad id with spaces"));
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app
        .send(app.http.get(format!("{}/healthz", app.base)))
        .await;
    assert_eq!(health.status, 200);
    let ready = app.send(app.http.get(format!("{}/readyz", app.base))).await;
    assert_eq!(ready.status, 200, "{}", ready.raw);
    assert_eq!(ready.body["postgres"], "ok");
    assert_eq!(ready.body["redis"], "ok");
}
