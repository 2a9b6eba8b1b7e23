//! The core layer's one error type. The API maps it once to problem+json; the CLI prints it.

use serde::Serialize;

/// A field of the caller's input that was refused, with the reason in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist, or exists in another tenant (the two are indistinguishable).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is well formed but clashes with existing data (a duplicate, a state).
    #[error("{0}")]
    Conflict(String),
    /// The caller's role or organisation may not do this to an object it can see (an EPN choosing
    /// whose allocation pays for a voucher).
    #[error("{0}")]
    Forbidden(String),
    /// The tenant has used up a quota (exports asked for in a day); it frees up with time.
    #[error("{0}")]
    Quota(String),
    /// The input breaks a rule; every offending field is listed.
    #[error("invalid input: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// PostgreSQL could not be reached or is restarting: the request may succeed if retried, so
    /// the API answers 503 rather than 500. Errors of a query that ran are not in this class.
    pub fn is_unavailable(&self) -> bool {
        let Error::Database(err) = self else {
            return false;
        };
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                // Class 08: connection exception; 57P01–57P03: shutting down or starting up;
                // 53300: too many connections.
                code.starts_with("08") || ["57P01", "57P02", "57P03", "53300"].contains(&&*code)
            }),
            _ => false,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        crate::storage::constraints::classify(err)
    }
}

/// Collects field errors during validation so that the caller learns every problem at once.
#[derive(Debug, Default)]
pub struct Validator(Vec<FieldError>);

impl Validator {
    pub fn check(&mut self, ok: bool, field: &str, message: impl Into<String>) -> &mut Self {
        if !ok {
            self.0.push(FieldError::new(field, message));
        }
        self
    }

    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}
