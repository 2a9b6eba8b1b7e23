//! The core layer's one error type. The API maps it once to problem+json; the CLI prints it.

use serde::Serialize;

pub use crate::field_rule::FieldRule;
pub use crate::refusal::{Refusal, RefusalKind};

/// A field of the caller's input that was refused, with the reason in plain words, and the rule it
/// breaks when the field can be refused for more than one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    #[serde(skip)]
    pub rule: Option<FieldRule>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            rule: None,
        }
    }

    /// The field breaks a named rule; its message is the rule's.
    pub fn breaks(field: impl Into<String>, rule: FieldRule) -> Self {
        Self {
            field: field.into(),
            message: rule.english(),
            rule: Some(rule),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist, or exists in another tenant (the two are indistinguishable).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is well formed but the rules or the data refuse it: a business refusal, typed,
    /// with its own problem type and its wording in English and French.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The input breaks a rule; every offending field is listed.
    #[error("invalid input: {}", describe(.0))]
    Invalid(Vec<FieldError>),
    /// The service is too busy for this request now (every password-hashing thread is taken); a
    /// retry in a moment may succeed.
    #[error("{0}")]
    Busy(&'static str),
    /// A fault of the service, not of the request (a template that does not render, a CSV writer
    /// that fails, a record that cannot be read back): answered as an internal error and logged.
    #[error("internal error: {0}")]
    Internal(String),
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

    /// The refusal, when this error is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Refused(refusal) => Some(refusal),
            _ => None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    /// The input breaks a named rule of one field.
    pub fn breaks(field: impl Into<String>, rule: FieldRule) -> Self {
        Self::Invalid(vec![FieldError::breaks(field, rule)])
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

    /// Like `check`, for a field that breaks a named rule.
    pub fn check_rule(&mut self, ok: bool, field: &str, rule: FieldRule) -> &mut Self {
        if !ok {
            self.0.push(FieldError::breaks(field, rule));
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
