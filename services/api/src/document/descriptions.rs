//! What the document tells beyond the doc comments, from the sources the service itself obeys:
//! who may call each operation (the access table), whether a retry is safe (its
//! `Idempotency-Key`), what a success answer holds (the schema it returns), and the meaning of the
//! field names every resource shares (`GLOSSARY`). A doc comment always wins over these.

use serde_json::{Value, json};

use crate::access;
use crate::middleware::idempotency;
use passerelle_core::tenancy::Role;

/// Field and parameter names that mean the same thing in every resource.
const GLOSSARY: &[(&str, &str)] = &[
    ("id", "Its identifier."),
    ("tenant_id", "The tenant's (territory's) identifier."),
    ("scheme_id", "The scheme's identifier."),
    ("epn_id", "The EPN's identifier."),
    ("prescriber_id", "The prescriber organisation's identifier."),
    ("voucher_id", "The voucher's identifier."),
    ("beneficiary_id", "The person's identifier."),
    ("user_id", "The user's identifier."),
    ("token_id", "The API token's identifier."),
    ("session_id", "The session's identifier."),
    ("attendance_id", "The attendance record's identifier."),
    ("allocation_id", "The allocation's identifier."),
    ("statement_id", "The statement's identifier."),
    ("change_id", "The bank-details change's identifier."),
    ("email_id", "The email's identifier."),
    ("export_id", "The statistics export's identifier."),
    ("project_id", "The collective project's identifier."),
    ("request_id", "The accompaniment request's identifier."),
    ("created_at", "When it was created (RFC 3339, UTC)."),
    ("items", "The items of this page, in the list's order."),
    (
        "next_cursor",
        "Give it as `cursor` to read the next page; absent on the last page.",
    ),
    (
        "reference",
        "The voucher's reference, as printed on the holder's letter; case and dashes do not matter, and a typo is caught by its check character.",
    ),
    ("first_name", "The person's first name."),
    ("last_name", "The person's last name."),
    ("email", "An email address."),
    ("phone", "A phone number."),
    (
        "display_name",
        "The name people see in the portal and emails.",
    ),
    ("birth_year", "The person's year of birth."),
    (
        "commune_insee",
        "The INSEE code of the commune (5 characters, e.g. `46042`).",
    ),
    (
        "email_consent",
        "The person agreed to receive the scheme's emails (welcome, reminders).",
    ),
    ("minutes_left", "Minutes of sessions left on the voucher."),
    (
        "minutes_total",
        "Minutes of sessions the voucher was issued with.",
    ),
    (
        "module_number",
        "A module's number in the scheme's catalogue.",
    ),
    ("modules", "Module numbers from the scheme's catalogue."),
    (
        "issued_on",
        "The day it was issued, in the tenant's time zone.",
    ),
    ("period_start", "The first day of the period."),
    ("period_end", "The last day of the period."),
    (
        "decision_reason",
        "Why it was declined or rejected, as written by who decided.",
    ),
    ("reason", "Why, in a sentence: kept in the audit log."),
    (
        "contact_email",
        "Where the organisation is reached by email.",
    ),
    (
        "contact_phone",
        "Where the organisation is reached by phone.",
    ),
    ("account_holder", "The bank account holder's name."),
    ("bic", "The bank's BIC (8 or 11 characters)."),
    ("iban", "The account's IBAN."),
    (
        "needs",
        "What the person needs, in their words or the animator's.",
    ),
    ("notes", "The animator's notes."),
    (
        "interview_minutes",
        "How long the positioning interview lasted, in minutes.",
    ),
    ("interview_on", "The day of the positioning interview."),
    ("paid_on", "The day the transfer was paid."),
    (
        "valid_until",
        "The last day it can be used, in the tenant's time zone.",
    ),
    (
        "cursor",
        "The `next_cursor` of the previous page; absent for the first page.",
    ),
    (
        "limit",
        "How many items a page holds, 1 to 100 (50 when absent).",
    ),
];

/// Fills what the doc comments left empty: operations, success responses, properties and
/// parameters.
pub fn describe(doc: &mut Value) {
    let schema_descriptions = schema_descriptions(doc);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                describe_operation(op, method, path);
                describe_success_responses(op, &schema_descriptions);
                describe_parameters(op);
            }
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for schema in schemas.values_mut() {
            let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (name, property) in properties.iter_mut() {
                fill(property, glossary(name));
            }
        }
    }
}

fn glossary(name: &str) -> Option<&'static str> {
    GLOSSARY
        .iter()
        .find(|(word, _)| *word == name)
        .map(|(_, meaning)| *meaning)
}

/// Sets `description` when it is absent or empty.
fn fill(target: &mut Value, description: Option<&str>) {
    let Some(description) = description else {
        return;
    };
    if target["description"].as_str().is_none_or(str::is_empty) && target.is_object() {
        target["description"] = json!(description);
    }
}

fn schema_descriptions(doc: &Value) -> Vec<(String, String)> {
    doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, schema)| {
            let text = schema["description"].as_str()?;
            let first = text.split("\n\n").next()?.replace('\n', " ");
            Some((format!("#/components/schemas/{name}"), first))
        })
        .collect()
}

/// The role as an integrator reads it in the document.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::PlatformAdmin => "the platform admin",
        Role::TenantAdmin => "tenant admins",
        Role::Prescriber => "prescribers' agents",
        Role::Epn => "EPN animators",
        Role::Finance => "finance officers",
        Role::Funder => "funders",
    }
}

/// The summary's first sentence stays the summary (what a list of operations shows); the rest of
/// it and the operation's own description follow, then who may call it and whether a retry is
/// safe.
fn describe_operation(op: &mut Value, method: &str, path: &str) {
    let summary = op["summary"]
        .as_str()
        .unwrap_or_default()
        .replace('\n', " ");
    let (first, rest) = split_first_sentence(&summary);
    if !first.is_empty() {
        op["summary"] = json!(first);
    }
    let mut paragraphs: Vec<String> = [rest, op["description"].as_str().unwrap_or_default()]
        .into_iter()
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
        .collect();
    let operation = access::ALL.iter().find(|o| {
        o.method.eq_ignore_ascii_case(method) && (o.path == path || op["operationId"] == o.id)
    });
    if let Some(operation) = operation {
        if operation.public {
            paragraphs.push("**Who may call it:** anyone, without a token.".into());
        } else {
            let roles: Vec<&str> = operation.roles.iter().map(|r| role_name(*r)).collect();
            let roles = match roles.as_slice() {
                [] => String::new(),
                [one] => (*one).to_owned(),
                [first @ .., last] => format!("{} and {last}", first.join(", ")),
            };
            paragraphs.push(format!(
                "**Who may call it:** {roles}; any other caller is answered 403."
            ));
        }
        if operation.shows_secret {
            paragraphs.push(
                "Its answer shows a secret once: a retry with the same `Idempotency-Key` is told the request succeeded, without the secret.".into(),
            );
        }
    }
    let idempotent = op["parameters"].as_array().is_some_and(|ps| {
        ps.iter().any(|p| {
            p["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(idempotency::HEADER))
        })
    });
    if idempotent {
        paragraphs.push(
            "**Retries:** send an `Idempotency-Key`; the same key within 24 hours replays the first answer instead of doing the work again.".into(),
        );
    }
    if !paragraphs.is_empty() {
        op["description"] = json!(paragraphs.join("\n\n"));
    }
}

/// An empty success description becomes what the answer holds, from its schema's description.
fn describe_success_responses(op: &mut Value, schemas: &[(String, String)]) {
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        if !status.starts_with('2') {
            continue;
        }
        let content = &response["content"];
        let media_type = content
            .as_object()
            .and_then(|media| media.keys().next())
            .cloned()
            .unwrap_or_default();
        let schema = content
            .as_object()
            .and_then(|media| media.values().next())
            .map(|media| &media["schema"]);
        let described = |target: &Value| {
            target["$ref"]
                .as_str()
                .and_then(|r| schemas.iter().find(|(name, _)| name == r))
                .map(|(_, text)| text.clone())
        };
        let text = match schema {
            None => match status.as_str() {
                "204" => "Done; the answer has no body.".to_owned(),
                _ => "Done.".to_owned(),
            },
            Some(schema) if schema["type"] == "array" => match described(&schema["items"]) {
                Some(item) => format!("A list, each item: {}", lower_first(&item)),
                None => "A list.".to_owned(),
            },
            Some(_) if media_type.starts_with("text/html") => "The page, in French.".to_owned(),
            Some(schema) if schema["format"] == "binary" => "The file.".to_owned(),
            Some(schema) => described(schema).unwrap_or_else(|| "Done.".to_owned()),
        };
        fill(response, Some(&text));
    }
}

fn describe_parameters(op: &mut Value) {
    let Some(parameters) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for parameter in parameters {
        let name = parameter["name"].as_str().unwrap_or_default().to_owned();
        fill(parameter, glossary(&name));
    }
}

/// "Issues a voucher. 409 when…" → ("Issues a voucher.", "409 when…"); an abbreviation ("e.g.",
/// "i.e.") does not end a sentence.
fn split_first_sentence(text: &str) -> (&str, &str) {
    let mut search_from = 0;
    while let Some(offset) = text[search_from..].find(". ") {
        let end = search_from + offset + 1;
        let abbreviation = ["e.g.", "i.e.", "etc."]
            .iter()
            .any(|a| text[..end].ends_with(a));
        if !abbreviation {
            return (&text[..end], text[end..].trim_start());
        }
        search_from = end;
    }
    (text, "")
}

/// "A statistics export…" → "a statistics export…", but "EPN…" stays as it is.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if second.is_lowercase() => {
            first.to_lowercase().chain([second]).chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}
