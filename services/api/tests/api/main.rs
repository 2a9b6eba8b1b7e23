//! API tests: the real service on a random port, a fresh database per test, real Redis.

mod access;
mod branding;
mod corrections;
mod delivery;
mod emails;
mod errors;
mod helpers;
mod holder;
mod idempotency;
mod identity_provider;
mod imports;
mod isolation;
mod kit;
mod leaks;
mod openapi;
mod phone;
mod project_pages;
mod public_request;
mod reimbursements;
mod second_factor;
mod security;
mod tenants;
mod users;
mod vouchers;
mod web;
mod web_pages;
