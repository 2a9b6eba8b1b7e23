//! Authentication happens once, before routing into handlers, so that the idempotency layer knows
//! the caller's tenant. Handlers receive the principal through the `BearerAuth` security scheme,
//! which only reads what this layer found.

use std::sync::Arc;

use passerelle_core::audit::Actor;
use passerelle_core::tenancy::{Principal, Role, tokens};
use passerelle_core::vouchers::Visibility;
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use uuid::Uuid;

use crate::access::Operation;
use crate::problem::ApiError;
use crate::state::AppState;

pub async fn layer<E: Endpoint>(next: Arc<E>, mut req: Request) -> Result<Response> {
    let token = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    if let Some(token) = token {
        let state = req.data::<AppState>().cloned().ok_or_else(|| {
            poem::Error::from_string(
                "application state missing",
                poem::http::StatusCode::INTERNAL_SERVER_ERROR,
            )
        })?;
        if let Some(principal) = tokens::authenticate(&state.db, &token)
            .await
            .map_err(ApiError::from)?
        {
            req.extensions_mut().insert(principal);
        }
    }
    Ok(next.call(req).await?.into_response())
}

/// An opaque bearer token created by a tenant admin (or by the operator's CLI).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "opaque", checker = "principal_of")]
pub struct BearerAuth(pub Principal);

async fn principal_of(req: &Request, _bearer: Bearer) -> Option<Principal> {
    req.extensions().get::<Principal>().cloned()
}

impl BearerAuth {
    /// Checks the caller's role against the operation's declared roles.
    pub fn authorize(&self, operation: &Operation) -> Result<&Principal, ApiError> {
        let role = self.0.role();
        if operation.roles.contains(&role) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(format!(
                "the {role} role may not call {}",
                operation.id
            )))
        }
    }

    /// What a prescriber agent may see is limited to their organisation's records.
    pub fn visibility(&self) -> Visibility {
        match &self.0 {
            Principal::Tenant {
                role: Role::Prescriber,
                prescriber_id: Some(prescriber_id),
                ..
            } => Visibility::Prescriber(*prescriber_id),
            _ => Visibility::Tenant,
        }
    }

    /// The caller's prescriber organisation, for operations only prescriber agents perform.
    pub fn prescriber_id(&self) -> Result<Uuid, ApiError> {
        match &self.0 {
            Principal::Tenant {
                prescriber_id: Some(id),
                ..
            } => Ok(*id),
            _ => Err(ApiError::Forbidden(
                "only a prescriber agent can do this".into(),
            )),
        }
    }

    /// The caller's EPN, for operations only EPN staff perform.
    pub fn epn_id(&self) -> Result<Uuid, ApiError> {
        match &self.0 {
            Principal::Tenant {
                epn_id: Some(id), ..
            } => Ok(*id),
            _ => Err(ApiError::Forbidden("only EPN staff can do this".into())),
        }
    }

    /// An EPN user's own EPN; none for tenant-wide roles.
    pub fn epn_scope(&self) -> Option<Uuid> {
        match &self.0 {
            Principal::Tenant {
                role: Role::Epn,
                epn_id,
                ..
            } => *epn_id,
            _ => None,
        }
    }

    /// Refuses a prescriber agent who asks about another organisation (as not found: its existence
    /// is not theirs to learn).
    pub fn check_prescriber(&self, prescriber_id: Uuid) -> Result<(), ApiError> {
        match self.visibility() {
            Visibility::Prescriber(own) if own != prescriber_id => {
                Err(passerelle_core::Error::NotFound("prescriber").into())
            }
            _ => Ok(()),
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::from(&self.0)
    }

    /// As `authorize`, for operations on a tenant's data: returns the caller's tenant.
    pub fn authorize_tenant(&self, operation: &Operation) -> Result<Uuid, ApiError> {
        debug_assert!(!operation.roles.contains(&Role::PlatformAdmin));
        self.authorize(operation)?
            .tenant_id()
            .ok_or_else(|| ApiError::Forbidden(format!("{} needs a tenant user", operation.id)))
    }
}
