//! The committed OpenAPI document is the one the code serves. Regenerate it with `make openapi`
//! (or run this test with UPDATE_OPENAPI=1).

use crate::helpers::spawn_app;
use serde_json::json;

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

/// Counts the objects of a JSON text that carry a key twice, naming the first: JSON readers keep
/// one of the two silently (serde_json the last), YAML-based ones refuse the document.
fn duplicated_keys(text: &str) -> Vec<String> {
    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Walk<'a>(&'a mut Vec<String>);
    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::BTreeSet::new();
            while let Some(key) = map.next_key::<String>()? {
                map.next_value_seed(Seed(self.0))?;
                if !seen.insert(key.clone()) {
                    self.0.push(key);
                }
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Seed(self.0))?.is_some() {}
            Ok(())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
    }
    struct Seed<'a>(&'a mut Vec<String>);
    impl<'de> de::DeserializeSeed<'de> for Seed<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(Walk(self.0))
        }
    }
    let mut found = Vec::new();
    let mut reader = serde_json::Deserializer::from_str(text);
    de::DeserializeSeed::deserialize(Seed(&mut found), &mut reader).expect("the document is JSON");
    found
}

#[test]
fn the_document_holds_what_client_generators_need() {
    assert_eq!(
        duplicated_keys(r#"{"a": 1, "b": {"c": 2, "c": 3}}"#),
        ["c"],
        "the check finds a key written twice"
    );
    let generated = passerelle_api::openapi_json_as_generated();
    assert_eq!(
        duplicated_keys(&generated),
        Vec::<String>::new(),
        "a key written twice (an operation documenting a status twice?)"
    );

    let doc: serde_json::Value =
        serde_json::from_str(&passerelle_api::openapi_json()).expect("json");
    assert!(!doc["servers"].as_array().expect("servers").is_empty());
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"].as_str().unwrap_or(path);
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has no summary"
            );
            let responses = op["responses"].as_object().expect("responses");
            if op.get("security").is_none() {
                assert!(
                    !responses.contains_key("401") && !responses.contains_key("403"),
                    "{id} is open to anyone, yet documents 401 or 403"
                );
            }
            for (status, response) in responses {
                assert!(
                    response["headers"]["X-Request-Id"].is_object(),
                    "{id} {status} lacks X-Request-Id"
                );
                if ["429", "503"].contains(&status.as_str()) {
                    assert!(
                        response["headers"]["Retry-After"].is_object(),
                        "{id} {status}"
                    );
                }
            }
        }
    }
    // The service writes `null` for an absent optional property: the document must allow it, or a
    // generated client refuses the answer. Only a bare enum reference may stay non-nullable (its
    // field is left out when absent).
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        for (property, value) in schema["properties"].as_object().into_iter().flatten() {
            if required.contains(&json!(property)) || value.get("default").is_some() {
                continue;
            }
            let enum_reference = value["$ref"].as_str().is_some_and(|target| {
                doc["components"]["schemas"][target.trim_start_matches("#/components/schemas/")]
                    ["enum"]
                    .is_array()
            });
            assert!(
                value["nullable"] == json!(true) || enum_reference,
                "{name}.{property} is optional but not nullable: {value}"
            );
        }
    }
    // A property that names an enum by reference, with a description beside it, becomes an
    // `allOf` that Python's generator refuses.
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        for (property, value) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(parts) = value["allOf"].as_array() {
                for part in parts.iter().filter_map(|p| p["$ref"].as_str()) {
                    let target = part.trim_start_matches("#/components/schemas/");
                    assert!(
                        doc["components"]["schemas"][target]["enum"].is_null(),
                        "{name}.{property} is an allOf over the enum {target}"
                    );
                }
            }
        }
    }
}

/// Every operation tells what it does and who may call it, every success answer what it holds,
/// and every parameter, schema and property what it means: an integrator reads the document, not
/// the code. A reference to a schema is documented by that schema.
#[test]
fn every_operation_parameter_schema_and_property_is_documented() {
    let doc: serde_json::Value =
        serde_json::from_str(&passerelle_api::openapi_json()).expect("json");
    let described = |value: &serde_json::Value| {
        value["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty() && d != "Done.")
    };
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let name = format!("{} {path}", method.to_uppercase());
            if op["summary"].as_str().is_none_or(str::is_empty) {
                missing.push(format!("{name}: summary"));
            }
            let description = op["description"].as_str().unwrap_or_default();
            if !description.contains("**Who may call it:**") {
                missing.push(format!("{name}: who may call it"));
            }
            for (status, response) in op["responses"].as_object().expect("responses") {
                if status.starts_with('2') && !described(response) {
                    missing.push(format!("{name}: response {status}"));
                }
            }
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                if !described(parameter) {
                    missing.push(format!("{name}: parameter {}", parameter["name"]));
                }
            }
        }
    }
    for (schema_name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        if !described(schema) {
            missing.push(format!("schema {schema_name}"));
        }
        for (property, value) in schema["properties"].as_object().into_iter().flatten() {
            let by_reference = value.get("$ref").is_some() || value.get("allOf").is_some();
            if !by_reference && !described(value) {
                missing.push(format!("{schema_name}.{property}"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
}

/// The main operations show an integrator a request and an answer, and those examples are ones the
/// service accepts: each parses with the operation's own parser, validators included, and its
/// voucher references carry the right check character.
#[test]
fn the_main_operations_have_examples_the_service_accepts() {
    use passerelle_api::v1::{attendance, public, registrations, vouchers};
    use poem_openapi::types::ParseFromJSON;

    let doc: serde_json::Value =
        serde_json::from_str(&passerelle_api::openapi_json()).expect("json");
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    let resolve = |value: &serde_json::Value| -> serde_json::Value {
        match value["$ref"].as_str() {
            Some(target) => schema(target.trim_start_matches("#/components/schemas/")),
            None => value.clone(),
        }
    };
    let operation = |id: &str| -> serde_json::Value {
        doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|item| item.as_object().expect("operations").values())
            .find(|op| op["operationId"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no operation {id}"))
    };
    let json_schema = |content: &serde_json::Value| {
        content
            .as_object()
            .and_then(|media| {
                media
                    .iter()
                    .find(|(kind, _)| kind.starts_with("application/json"))
            })
            .map(|(_, media)| media["schema"].clone())
            .unwrap_or_default()
    };
    for id in [
        "issueVoucher",
        "registerVoucher",
        "recordAttendance",
        "checkBalance",
    ] {
        let op = operation(id);
        let request = resolve(&json_schema(&op["requestBody"]["content"]));
        assert!(request["example"].is_object(), "{id}: no request example");
        let (_, success) = op["responses"]
            .as_object()
            .expect("responses")
            .iter()
            .find(|(status, _)| status.starts_with('2'))
            .expect("a success");
        let answer = resolve(&json_schema(&success["content"]));
        let shown = answer["example"].is_object()
            || answer["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, p)| p.get("$ref").is_some())
                .all(|(_, p)| resolve(p)["example"].is_object());
        assert!(shown, "{id}: no answer example");
    }

    let example = |name: &str| Some(schema(name)["example"].clone());
    vouchers::IssueVoucher::parse_from_json(example("IssueVoucher")).expect("IssueVoucher");
    vouchers::VoucherView::parse_from_json(example("VoucherView")).expect("VoucherView");
    registrations::RegisterInput::parse_from_json(example("RegisterInput")).expect("RegisterInput");
    attendance::AttendanceSheet::parse_from_json(example("AttendanceSheet"))
        .expect("AttendanceSheet");
    attendance::AttendanceReport::parse_from_json(example("AttendanceReport"))
        .expect("AttendanceReport");
    public::BalanceQuery::parse_from_json(example("BalanceQuery")).expect("BalanceQuery");
    let text = serde_json::to_string(&doc["components"]["schemas"]).expect("text");
    use passerelle_api::v1::examples;
    for reference in [examples::REFERENCE, examples::OTHER_REFERENCE] {
        assert!(text.contains(reference), "the examples show {reference}");
        passerelle_core::vouchers::reference::parse(reference).expect("a valid reference");
    }
}
