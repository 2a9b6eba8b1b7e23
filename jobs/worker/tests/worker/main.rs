//! Worker tests: jobs pushed to a real Redis queue (a random queue name per test) and run by a real
//! apalis worker against a database of their own, emails sent over SMTP to a server the test
//! starts. Each test ends by checking that its queues hold no job left behind.

mod account_emails;
mod archive;
mod archive_api;
mod emails;
mod harness;
mod imports;
mod monthly_reimbursements;
mod purge_idempotency_keys;
mod request_emails;
mod statement_emails;
mod statistics;
