//! Storage tests against a real PostgreSQL: the schema's tenancy rules, row-level security as the
//! application role, and the start-up checks.

mod fixtures;
mod isolation;
mod preflight;
mod schema_rules;
