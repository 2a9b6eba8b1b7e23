//! Limits on what one client may ask: the public forms' rates, the balance check per reference,
//! and growing delays after failed sign-ins. Counters live in Redis, shared by the API's replicas;
//! while Redis is unreachable each process keeps counting in memory, so the limits still protect.

pub mod client;
pub mod form_token;
pub mod rate;
pub mod sign_in;
mod store;

pub use store::LocalCounters;
