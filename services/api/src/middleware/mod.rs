//! Everything a request passes through before its handler, from the outside in:
//! request id and logging → security headers → body limit → authentication → idempotency →
//! payload error details.

pub mod auth;
pub mod body_limit;
pub mod idempotency;
pub mod payload_errors;
pub mod request_id;
pub mod security_headers;
