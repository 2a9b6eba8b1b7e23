use passerelle_core::tenancy::{Principal, tenants, users};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::schemas::RoleDto;
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

/// Who the bearer token belongs to.
#[derive(Debug, Object)]
pub struct Me {
    pub role: RoleDto,
    /// The user (or, for the platform admin, the operator account).
    pub user_id: Uuid,
    #[oai(skip_serializing_if_is_none)]
    pub tenant_id: Option<Uuid>,
    /// The tenant's short name, as in its portal's address.
    #[oai(skip_serializing_if_is_none)]
    pub tenant_slug: Option<String>,
    /// The tenant's name.
    #[oai(skip_serializing_if_is_none)]
    pub tenant_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub display_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub prescriber_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub epn_id: Option<Uuid>,
}

pub struct MeApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Me")]
impl MeApi {
    /// The caller's identity, role and tenant.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn get_me(&self, auth: BearerAuth, state: Data<&AppState>) -> Result<Json<Me>, ApiError> {
        let principal = auth.authorize(&access::GET_ME)?;
        let me = match principal {
            Principal::Platform { admin_id, .. } => Me {
                role: RoleDto::PlatformAdmin,
                user_id: *admin_id,
                tenant_id: None,
                tenant_slug: None,
                tenant_name: None,
                display_name: None,
                prescriber_id: None,
                epn_id: None,
            },
            Principal::Tenant {
                tenant_id,
                user_id,
                role,
                prescriber_id,
                epn_id,
                ..
            } => {
                let tenant = tenants::get(&state.db, *tenant_id).await?;
                let user = users::get(&state.db, *tenant_id, *user_id).await?;
                Me {
                    role: (*role).into(),
                    user_id: *user_id,
                    tenant_id: Some(tenant.id),
                    tenant_slug: Some(tenant.slug),
                    tenant_name: Some(tenant.name),
                    display_name: Some(user.display_name),
                    prescriber_id: *prescriber_id,
                    epn_id: *epn_id,
                }
            }
        };
        Ok(Json(me))
    }
}
