//! One file per job.

pub mod purge_idempotency_keys;
