//! One file per job: its payload (ids only) and its handler.

pub mod daily_run;
pub mod monthly_reimbursements;
pub mod purge_idempotency_keys;
pub mod send_email;
pub mod statistics_export;
