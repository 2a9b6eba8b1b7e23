//! Types shared by several resources of the API.

use passerelle_core::tenancy::Role;
use poem_openapi::Enum;

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
