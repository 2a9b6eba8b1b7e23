//! Who may call what. Each operation declares its roles here; its handler checks them through
//! `BearerAuth::authorize`, and the access test walks this table (and checks that every operation
//! of the OpenAPI document is in it), so the table and the behaviour cannot drift apart.

use passerelle_core::tenancy::Role;

#[derive(Debug)]
pub struct Operation {
    pub id: &'static str,
    pub method: &'static str,
    /// The OpenAPI path template, e.g. `/v1/users/{user_id}`.
    pub path: &'static str,
    pub roles: &'static [Role],
}

const EVERYONE: &[Role] = &Role::ALL;
const PLATFORM: &[Role] = &[Role::PlatformAdmin];
const TENANT_ADMIN: &[Role] = &[Role::TenantAdmin];

pub const GET_ME: Operation = Operation {
    id: "getMe",
    method: "GET",
    path: "/v1/me",
    roles: EVERYONE,
};

pub const CREATE_TENANT: Operation = Operation {
    id: "createTenant",
    method: "POST",
    path: "/v1/tenants",
    roles: PLATFORM,
};
pub const LIST_TENANTS: Operation = Operation {
    id: "listTenants",
    method: "GET",
    path: "/v1/tenants",
    roles: PLATFORM,
};
pub const GET_TENANT: Operation = Operation {
    id: "getTenant",
    method: "GET",
    path: "/v1/tenants/{tenant_id}",
    roles: PLATFORM,
};

pub const CREATE_USER: Operation = Operation {
    id: "createUser",
    method: "POST",
    path: "/v1/users",
    roles: TENANT_ADMIN,
};
pub const LIST_USERS: Operation = Operation {
    id: "listUsers",
    method: "GET",
    path: "/v1/users",
    roles: TENANT_ADMIN,
};
pub const GET_USER: Operation = Operation {
    id: "getUser",
    method: "GET",
    path: "/v1/users/{user_id}",
    roles: TENANT_ADMIN,
};
pub const DISABLE_USER: Operation = Operation {
    id: "disableUser",
    method: "POST",
    path: "/v1/users/{user_id}/disable",
    roles: TENANT_ADMIN,
};

pub const CREATE_TOKEN: Operation = Operation {
    id: "createToken",
    method: "POST",
    path: "/v1/users/{user_id}/tokens",
    roles: TENANT_ADMIN,
};
pub const LIST_TOKENS: Operation = Operation {
    id: "listTokens",
    method: "GET",
    path: "/v1/users/{user_id}/tokens",
    roles: TENANT_ADMIN,
};
pub const REVOKE_TOKEN: Operation = Operation {
    id: "revokeToken",
    method: "DELETE",
    path: "/v1/users/{user_id}/tokens/{token_id}",
    roles: TENANT_ADMIN,
};

pub const ALL: &[&Operation] = &[
    &GET_ME,
    &CREATE_TENANT,
    &LIST_TENANTS,
    &GET_TENANT,
    &CREATE_USER,
    &LIST_USERS,
    &GET_USER,
    &DISABLE_USER,
    &CREATE_TOKEN,
    &LIST_TOKENS,
    &REVOKE_TOKEN,
];
