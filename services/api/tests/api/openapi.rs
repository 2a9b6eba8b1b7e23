//! The committed OpenAPI document is the one the code serves. Regenerate it with `make openapi`
//! (or run this test with UPDATE_OPENAPI=1).

use crate::helpers::spawn_app;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[tokio::test]
async fn the_committed_document_matches_the_code_and_is_served() {
    let generated = passerelle_api::openapi_json();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(COMMITTED, format!("{generated}\n")).expect("write openapi.json");
    }
    let committed = std::fs::read_to_string(COMMITTED).expect("services/api/openapi.json exists");
    assert!(
        committed.trim_end() == generated.trim_end(),
        "services/api/openapi.json is stale: run `make openapi` and commit it"
    );

    let app = spawn_app().await;
    let served = app
        .send(app.http.get(format!("{}/v1/openapi.json", app.base)))
        .await;
    assert_eq!(served.status, 200);
    let committed: serde_json::Value = serde_json::from_str(&committed).expect("json");
    assert_eq!(served.body, committed);
    let docs = app.send(app.http.get(format!("{}/docs", app.base))).await;
    assert_eq!(docs.status, 200);
    assert!(
        docs.raw.contains("swagger"),
        "the docs page is the interactive UI"
    );
}
