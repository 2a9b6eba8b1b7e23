//! The finishing touches poem-openapi cannot express on the OpenAPI document: the servers, and the
//! response headers every operation shares (`X-Request-Id` on every answer, `Retry-After` on 429
//! and 503, `Idempotent-Replayed` on the successes of operations that take an `Idempotency-Key`).
//! Served at `/v1/openapi.json` and committed as `services/api/openapi.json`. Also says which
//! optional properties may be `null`: poem-openapi leaves an `Option` out of `required` but does
//! not mark it nullable, while the service writes `null` for it. `descriptions.rs` adds who may
//! call each operation, what each success answer holds and the meaning of shared field names.

mod descriptions;

use serde_json::{Value, json};

use crate::middleware::{idempotency, request_id};

/// The document as poem-openapi writes it, finished.
pub fn finish(spec: &str) -> String {
    let mut doc: Value = match serde_json::from_str(spec) {
        Ok(doc) => doc,
        Err(_) => return spec.to_owned(),
    };
    doc["servers"] = json!([
        { "url": "/", "description": "The deployment that serves this document" },
        { "url": "http://127.0.0.1:8080", "description": "`make run` on your own machine" },
    ]);
    mark_optional_properties_nullable(&mut doc);
    descriptions::describe(&mut doc);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for operation in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in operation.values_mut() {
                add_headers(op);
            }
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| spec.to_owned())
}

/// An optional property without a default is an `Option` in Rust, written `null` when absent:
/// the document says so (OpenAPI 3.0's `nullable`). A bare reference cannot carry `nullable`
/// beside it, so a reference to an object becomes a one-part `allOf`; a reference to an enum stays
/// bare (Python's generator refuses an `allOf` over an enum) and its field is left out of the
/// answer instead of written `null` (`skip_serializing_if_is_none`).
fn mark_optional_properties_nullable(doc: &mut Value) {
    let enums: Vec<String> = doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, schema)| schema["enum"].is_array())
        .map(|(name, _)| format!("#/components/schemas/{name}"))
        .collect();
    let Some(schemas) = doc["components"]["schemas"].as_object_mut() else {
        return;
    };
    for schema in schemas.values_mut() {
        let required: Vec<Value> = schema["required"].as_array().cloned().unwrap_or_default();
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, property) in properties.iter_mut() {
            if required.contains(&Value::String(name.clone())) || property.get("default").is_some()
            {
                continue;
            }
            match property["$ref"].as_str() {
                Some(target) if enums.iter().any(|e| e == target) => {}
                Some(target) => {
                    *property = json!({ "allOf": [{ "$ref": target }], "nullable": true })
                }
                None => property["nullable"] = json!(true),
            }
        }
    }
}

fn add_headers(op: &mut Value) {
    let idempotent = op["parameters"].as_array().is_some_and(|ps| {
        ps.iter()
            .any(|p| p["name"] == header_name(idempotency::HEADER))
    });
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let headers = response
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        let Some(headers) = headers else { continue };
        headers.insert(
            header_name(request_id::HEADER),
            json!({
                "description": "This request's id, also in the service's log line for it: give it to support. A request that carries one keeps it.",
                "schema": { "type": "string" },
            }),
        );
        if ["429", "503"].contains(&status.as_str()) {
            headers.insert(
                "Retry-After".into(),
                json!({
                    "description": "Seconds to wait before retrying.",
                    "schema": { "type": "integer", "minimum": 0 },
                }),
            );
        }
        if idempotent && status.starts_with('2') {
            headers.insert(
                header_name(idempotency::REPLAYED_HEADER),
                json!({
                    "description": "`true` when this response is the replay of the first one sent with the same Idempotency-Key; absent otherwise.",
                    "schema": { "type": "string", "enum": ["true"] },
                }),
            );
        }
    }
}

/// `idempotent-replayed` as the document spells headers: `Idempotent-Replayed`.
fn header_name(lowercase: &str) -> String {
    lowercase
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}
