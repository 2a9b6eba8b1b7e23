//! poem-openapi's payload errors do not say which required field is missing ("expected input type
//! string, found null"). This layer, innermost so that idempotency stores the enriched answer,
//! compares a refused body with the schema's required fields, taken from our own OpenAPI
//! document, and names every one that is absent or null.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use poem::{Endpoint, IntoResponse, Request, Response, Result};
use poem_openapi::error::ParseRequestPayloadError;

use crate::problem::ApiError;

pub async fn layer<E: Endpoint>(next: Arc<E>, mut req: Request) -> Result<Response> {
    // An upload streams on to PostgreSQL: it is not held in memory to be explained (its form has
    // one field, the file).
    if super::body_limit::is_streamed_upload(req.method().as_str(), req.uri().path()) {
        return Ok(next.call(req).await?.into_response());
    }
    let body = req.take_body().into_bytes().await?;
    req.set_body(body.clone());
    match next.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) if err.is::<ParseRequestPayloadError>() => {
            let detail = err.to_string();
            let missing = schema_named_in(&detail)
                .map(|schema| missing_required_fields(schema, &body))
                .unwrap_or_default();
            if missing.is_empty() {
                Err(err)
            } else {
                Err(ApiError::MalformedBody { detail, missing }.into())
            }
        }
        Err(err) => Err(err),
    }
}

/// The schema poem-openapi was parsing: the last `"Name"` quoted in its message.
fn schema_named_in(message: &str) -> Option<&str> {
    let end = message.rfind('"')?;
    let start = message[..end].rfind('"')?;
    Some(&message[start + 1..end])
}

fn required_fields() -> &'static HashMap<String, Vec<String>> {
    static REQUIRED: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    REQUIRED.get_or_init(|| {
        let spec: serde_json::Value =
            serde_json::from_str(&crate::openapi_json()).unwrap_or_default();
        spec["components"]["schemas"]
            .as_object()
            .map(|schemas| {
                schemas
                    .iter()
                    .map(|(name, schema)| {
                        let required = schema["required"]
                            .as_array()
                            .map(|r| {
                                r.iter()
                                    .filter_map(|f| f.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (name.clone(), required)
                    })
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn missing_required_fields(schema: &str, body: &[u8]) -> Vec<String> {
    let Some(required) = required_fields().get(schema) else {
        return Vec::new();
    };
    let Ok(serde_json::Value::Object(object)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return Vec::new();
    };
    required
        .iter()
        .filter(|field| {
            object
                .get(field.as_str())
                .is_none_or(serde_json::Value::is_null)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_schema_and_its_missing_fields() {
        let message = r#"parse request payload error: Expected input type "string", found null. (occurred while parsing "CreateUser")"#;
        assert_eq!(schema_named_in(message), Some("CreateUser"));
        let missing =
            missing_required_fields("CreateUser", br#"{"display_name": "A", "email": null}"#);
        assert_eq!(missing, ["email", "role"]);
        assert!(missing_required_fields("NoSuchSchema", b"{}").is_empty());
    }
}
