//! Authentication happens once, before routing into handlers, so that the idempotency layer knows
//! the caller's tenant. Handlers receive the principal through the `BearerAuth` security scheme,
//! which only reads what this layer found.

use std::sync::Arc;

use passerelle_core::tenancy::{Principal, Role, tokens};
use poem::{Endpoint, IntoResponse, Request, Response, Result};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

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

    /// As `authorize`, for operations on a tenant's data: returns the caller's tenant.
    pub fn authorize_tenant(&self, operation: &Operation) -> Result<uuid::Uuid, ApiError> {
        debug_assert!(!operation.roles.contains(&Role::PlatformAdmin));
        self.authorize(operation)?
            .tenant_id()
            .ok_or_else(|| ApiError::Forbidden(format!("{} needs a tenant user", operation.id)))
    }
}
