//! Tenants, their users and roles, API tokens, and the principal a token resolves to.

pub mod account_links;
pub mod accounts;
pub mod branding;
pub mod identity_provider;
pub mod onboarding;
pub mod principal;
pub mod provider_sign_in;
pub mod role;
pub mod second_factor;
pub mod secrets;
pub mod tenants;
pub mod tokens;
pub mod users;

pub use principal::Principal;
pub use role::Role;
