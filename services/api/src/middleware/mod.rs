//! Everything a request passes through before its handler, from the outside in:
//! request id and logging → body limit → problem+json mapping → authentication → idempotency.

pub mod auth;
pub mod body_limit;
pub mod idempotency;
pub mod request_id;
