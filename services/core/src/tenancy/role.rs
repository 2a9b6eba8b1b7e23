use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a caller may do. `PlatformAdmin` belongs to no tenant; every other role to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    TenantAdmin,
    Prescriber,
    Epn,
    Finance,
    Funder,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::PlatformAdmin,
        Role::TenantAdmin,
        Role::Prescriber,
        Role::Epn,
        Role::Finance,
        Role::Funder,
    ];

    /// The roles a tenant user can hold.
    pub const TENANT: [Role; 5] = [
        Role::TenantAdmin,
        Role::Prescriber,
        Role::Epn,
        Role::Finance,
        Role::Funder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::TenantAdmin => "tenant_admin",
            Role::Prescriber => "prescriber",
            Role::Epn => "epn",
            Role::Finance => "finance",
            Role::Funder => "funder",
        }
    }

    /// The person who holds the role, as a French reader names them (pages, emails).
    pub fn title_fr(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "exploitation de la plateforme",
            Role::TenantAdmin => "administrateur de l’espace",
            Role::Prescriber => "prescripteur",
            Role::Epn => "animateur d’EPN",
            Role::Finance => "gestionnaire financier",
            Role::Funder => "financeur",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}`")]
pub struct UnknownRole(String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}
