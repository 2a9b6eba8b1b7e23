//! Turns PostgreSQL constraint violations into errors that name the problem for the caller.

use crate::error::{Error, FieldError};

/// What a violated constraint means to the person who sent the request: the field at fault and
/// a sentence. Every named constraint of the schema that a user can trip belongs here.
const KNOWN: &[(&str, &str, &str)] = &[
    (
        "tenants_slug_key",
        "slug",
        "a tenant with this slug already exists",
    ),
    (
        "tenants_kind_insee_code_key",
        "insee_code",
        "a tenant of this kind with this INSEE code already exists",
    ),
    (
        "tenants_slug_format",
        "slug",
        "lowercase letters, digits and dashes, 2 to 63 characters",
    ),
    (
        "tenants_insee_code_format",
        "insee_code",
        "an INSEE département or région code such as 46, 2A or 84",
    ),
    (
        "users_email_key",
        "email",
        "a user with this email already exists in this tenant",
    ),
    (
        "users_prescriber_fkey",
        "prescriber_id",
        "no such prescriber organisation in this tenant",
    ),
    ("users_epn_fkey", "epn_id", "no such EPN in this tenant"),
    (
        "users_prescriber_binding",
        "prescriber_id",
        "required for the prescriber role and only for it",
    ),
    (
        "users_epn_binding",
        "epn_id",
        "required for the epn role and only for it",
    ),
    (
        "api_tokens_user_fkey",
        "user_id",
        "no such user in this tenant",
    ),
];

const UNIQUE_VIOLATION: &str = "23505";
const FOREIGN_KEY_VIOLATION: &str = "23503";
const CHECK_VIOLATION: &str = "23514";
const NOT_NULL_VIOLATION: &str = "23502";

pub(crate) fn classify(err: sqlx::Error) -> Error {
    let Some(db) = err.as_database_error() else {
        return Error::Database(err);
    };
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    let constraint = db.constraint().unwrap_or_default().to_owned();
    let known = KNOWN.iter().find(|(name, _, _)| *name == constraint);
    match (code.as_str(), known) {
        (UNIQUE_VIOLATION, Some((_, _, message))) => Error::Conflict((*message).to_owned()),
        (UNIQUE_VIOLATION, None) => Error::Conflict(format!("duplicate value ({constraint})")),
        (FOREIGN_KEY_VIOLATION | CHECK_VIOLATION, Some((_, field, message))) => {
            Error::Invalid(vec![FieldError::new(*field, *message)])
        }
        (FOREIGN_KEY_VIOLATION, None) => Error::Invalid(vec![FieldError::new(
            constraint,
            "refers to something that does not exist in this tenant",
        )]),
        (CHECK_VIOLATION, None) => {
            Error::Invalid(vec![FieldError::new(constraint, "value not allowed")])
        }
        (NOT_NULL_VIOLATION, _) => {
            let column = db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .and_then(|e| e.column())
                .unwrap_or("unknown")
                .to_owned();
            Error::Invalid(vec![FieldError::new(column, "is required")])
        }
        _ => Error::Database(err),
    }
}
