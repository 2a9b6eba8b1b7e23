//! Core tests against a real PostgreSQL: the schema's tenancy rules, row-level security as the
//! application role, the start-up checks, and the voucher rules.

mod accounts;
mod code_rules;
mod delivery;
mod demo;
mod fixtures;
mod funding;
mod imports;
mod isolation;
mod preflight;
mod privacy;
mod provider_sign_in;
mod reimbursements;
mod rules;
mod schema_rules;
mod statement_routing;
mod statistics;
mod vouchers;
