//! Types shared by several resources of the API.

use passerelle_core::tenancy::Role;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{Enum, Object};

/// One page of a list. Ask for the next one with `cursor` set to `next_cursor`, absent on the
/// last page.
#[derive(Debug, Object)]
pub struct Page<T: ParseFromJSON + ToJSON> {
    pub items: Vec<T>,
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// What a user may do: one role per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RoleDto {
    PlatformAdmin,
    TenantAdmin,
    Prescriber,
    Epn,
    Finance,
    Funder,
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> Self {
        match role {
            Role::PlatformAdmin => RoleDto::PlatformAdmin,
            Role::TenantAdmin => RoleDto::TenantAdmin,
            Role::Prescriber => RoleDto::Prescriber,
            Role::Epn => RoleDto::Epn,
            Role::Finance => RoleDto::Finance,
            Role::Funder => RoleDto::Funder,
        }
    }
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::PlatformAdmin => Role::PlatformAdmin,
            RoleDto::TenantAdmin => Role::TenantAdmin,
            RoleDto::Prescriber => Role::Prescriber,
            RoleDto::Epn => Role::Epn,
            RoleDto::Finance => Role::Finance,
            RoleDto::Funder => Role::Funder,
        }
    }
}
