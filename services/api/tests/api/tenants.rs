//! Tenant creation and listing by the platform admin.

use serde_json::json;

use crate::helpers::spawn_app;

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
