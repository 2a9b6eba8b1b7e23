//! The finishing touches poem-openapi cannot express on the OpenAPI document: the servers, and the
//! response headers every operation shares (`X-Request-Id` on every answer, `Retry-After` on 429
//! and 503, `Idempotent-Replayed` on the successes of operations that take an `Idempotency-Key`).
//! Served at `/v1/openapi.json` and committed as `services/api/openapi.json`.

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
    if let Some(paths) = doc["paths"].as_object_mut() {
        for operation in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in operation.values_mut() {
                add_headers(op);
            }
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| spec.to_owned())
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
