//! The fault-injection suite (`make test-faults`): each test deploys the real binaries with
//! PostgreSQL, Redis and SMTP servers it may stop, restart or kill, and checks that nothing is lost
//! or done twice. RELIABILITY.md describes each fault and what is asserted.

mod concurrency;
mod postgres_restart;
mod redis_outage;
mod smtp_outage;
mod sustained_load;
mod worker_killed;
