use chrono::{DateTime, Utc};
use passerelle_core::audit::Actor;
use passerelle_core::tenancy::onboarding;
use passerelle_core::tenancy::tenants::{self, NewTenant, Tenant, TenantKind};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::schemas::{PageCursor, PageLimit, page_request};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::v1::users::UserView;

mirror_enum! {
    /// A territory's kind: a département or a région.
    #[oai(rename_all = "snake_case")]
    pub enum TenantKindDto mirrors TenantKind {
        Departement,
        Region,
    }
}

/// A new territory (département or région).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateTenant {
    /// Short stable identifier, lowercase letters, digits and dashes (e.g. `lot`).
    #[oai(validator(min_length = 2, max_length = 63))]
    pub slug: String,
    /// The territory's name, as people read it in pages and emails (e.g. `Département du Lot`).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    pub kind: TenantKindDto,
    /// INSEE code of the département (e.g. `46`, `2A`, `971`) or région (e.g. `84`).
    #[oai(validator(min_length = 2, max_length = 3))]
    pub insee_code: String,
    /// IANA time zone for business dates; defaults to Europe/Paris.
    #[oai(validator(max_length = 64))]
    pub time_zone: Option<String>,
    /// The name emails are sent under.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub sender_name: String,
    /// The address the tenant's emails are sent from.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub sender_email: String,
    /// 2 to 5 capital letters that start this tenant's voucher references (e.g. `LOT`), unique
    /// across tenants; derived from the slug when absent.
    #[oai(validator(max_length = 5))]
    pub reference_prefix: Option<String>,
}

/// A territory using the platform.
#[derive(Debug, Object)]
pub struct TenantView {
    pub id: Uuid,
    /// Its short name, as in its portal's address.
    pub slug: String,
    /// The territory's name.
    pub name: String,
    pub kind: TenantKindDto,
    /// The territory's INSEE code (département or région).
    pub insee_code: String,
    /// The IANA time zone its business dates are in (e.g. `Europe/Paris`).
    pub time_zone: String,
    /// The name its emails are sent under.
    pub sender_name: String,
    /// The address its emails are sent from.
    pub sender_email: String,
    /// The prefix of its vouchers' references (e.g. `LOT`).
    pub reference_prefix: String,
    pub created_at: DateTime<Utc>,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id,
            kind: t.kind.into(),
            slug: t.slug,
            name: t.name,
            insee_code: t.insee_code,
            time_zone: t.time_zone,
            sender_name: t.sender_name,
            sender_email: t.sender_email,
            reference_prefix: t.reference_prefix,
            created_at: t.created_at,
        }
    }
}

pub type TenantPage = super::schemas::Page<TenantView>;

#[derive(ApiResponse)]
pub enum CreatedTenant {
    /// The tenant was created.
    #[oai(status = 201)]
    Created(Json<TenantView>, #[oai(header = "Location")] String),
}

/// The first tenant admin of a territory, invited by email.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct InviteTenantAdmin {
    /// Where the invitation goes; the address they will sign in with.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
    /// Their name, as the territory's users see it.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub display_name: String,
}

#[derive(ApiResponse)]
pub enum InvitedAdmin {
    /// The tenant admin was created; the invitation email, with a link to choose a password, is
    /// sent by the worker.
    #[oai(status = 201)]
    Created(Json<UserView>, #[oai(header = "Location")] String),
}

pub struct TenantsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Tenants")]
impl TenantsApi {
    /// Creates a tenant (a département or a région).
    #[oai(path = "/tenants", method = "post", operation_id = "createTenant")]
    async fn create_tenant(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<CreateTenant>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedTenant, ApiError> {
        auth.authorize(&access::CREATE_TENANT)?;
        let body = body.0;
        let tenant = tenants::create(
            &state.db,
            &NewTenant {
                slug: body.slug,
                name: body.name,
                kind: body.kind.into(),
                insee_code: body.insee_code,
                time_zone: body.time_zone.unwrap_or_else(|| "Europe/Paris".into()),
                sender_name: body.sender_name,
                sender_email: body.sender_email,
                reference_prefix: body.reference_prefix,
            },
        )
        .await?;
        let location = format!("/v1/tenants/{}", tenant.id);
        Ok(CreatedTenant::Created(Json(tenant.into()), location))
    }

    /// Lists tenants, oldest first.
    #[oai(path = "/tenants", method = "get", operation_id = "listTenants")]
    async fn list_tenants(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<TenantPage>, ApiError> {
        auth.authorize(&access::LIST_TENANTS)?;
        let page = page_request(limit.0, cursor.0)?;
        let page = tenants::list(&state.db, page).await?.map(TenantView::from);
        Ok(Json(TenantPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }

    /// Invites a tenant admin of a territory by email: the first one of a new territory, who then
    /// sets it up and invites its users. The address must not be a user of the tenant already.
    #[oai(
        path = "/tenants/:tenant_id/admins",
        method = "post",
        operation_id = "inviteTenantAdmin"
    )]
    async fn invite_tenant_admin(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        tenant_id: Path<Uuid>,
        body: Json<InviteTenantAdmin>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<InvitedAdmin, ApiError> {
        let operator = Actor::from(auth.authorize(&access::INVITE_TENANT_ADMIN)?);
        let tenant = tenants::get(&state.db, tenant_id.0).await?;
        let user = onboarding::invite_admin(
            &state.db,
            tenant.id,
            operator,
            &body.email,
            &body.display_name,
        )
        .await?;
        let location = format!("/v1/tenants/{}/admins/{}", tenant.id, user.id);
        Ok(InvitedAdmin::Created(Json(user.into()), location))
    }

    /// One tenant.
    #[oai(
        path = "/tenants/:tenant_id",
        method = "get",
        operation_id = "getTenant"
    )]
    async fn get_tenant(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        tenant_id: Path<Uuid>,
    ) -> Result<Json<TenantView>, ApiError> {
        auth.authorize(&access::GET_TENANT)?;
        Ok(Json(tenants::get(&state.db, tenant_id.0).await?.into()))
    }
}
