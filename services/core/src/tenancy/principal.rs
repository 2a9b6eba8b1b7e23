use uuid::Uuid;

use super::Role;

/// Who is calling, as established from a bearer token. The tenant comes from here and nowhere
/// else: request paths and bodies never choose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Platform {
        admin_id: Uuid,
        token_id: Uuid,
    },
    Tenant {
        tenant_id: Uuid,
        user_id: Uuid,
        token_id: Uuid,
        role: Role,
        prescriber_id: Option<Uuid>,
        epn_id: Option<Uuid>,
    },
}

impl Principal {
    pub fn role(&self) -> Role {
        match self {
            Principal::Platform { .. } => Role::PlatformAdmin,
            Principal::Tenant { role, .. } => *role,
        }
    }

    /// The person behind the token: the tenant user or the platform admin (not the token, so
    /// that one person's retries through a renewed token are still theirs).
    pub fn caller_id(&self) -> Uuid {
        match self {
            Principal::Platform { admin_id, .. } => *admin_id,
            Principal::Tenant { user_id, .. } => *user_id,
        }
    }

    pub fn tenant_id(&self) -> Option<Uuid> {
        match self {
            Principal::Platform { .. } => None,
            Principal::Tenant { tenant_id, .. } => Some(*tenant_id),
        }
    }
}
