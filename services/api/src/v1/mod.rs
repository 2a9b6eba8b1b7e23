//! Version 1 of the HTTP API: one file per resource.

pub mod me;
pub mod schemas;
pub mod tenants;
pub mod users;

use poem_openapi::Tags;

#[derive(Tags)]
pub enum Tag {
    /// The caller's own identity.
    Me,
    /// Territories using the platform (platform admin only).
    Tenants,
    /// Users of a tenant and their API tokens (tenant admin only).
    Users,
}

pub type Apis = (me::MeApi, tenants::TenantsApi, users::UsersApi);

pub fn apis() -> Apis {
    (me::MeApi, tenants::TenantsApi, users::UsersApi)
}
