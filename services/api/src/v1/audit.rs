use chrono::{DateTime, Utc};
use passerelle_core::audit::{self, AuditEntry, AuditFilter};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::schemas::{PageCursor, PageLimit, page_request};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

/// One recorded change: who, what, when.
#[derive(Debug, Object)]
pub struct AuditEntryView {
    pub id: Uuid,
    /// When it was done.
    pub occurred_at: DateTime<Utc>,
    /// The user who did it; absent for the service's own runs.
    #[oai(skip_serializing_if_is_none)]
    pub actor_id: Option<Uuid>,
    /// The role the user acted in.
    pub actor_role: String,
    /// What was done, e.g. `voucher.issued`, `statement.approved`.
    pub action: String,
    /// What it was done to, e.g. `voucher`, `statement`.
    pub object_type: String,
    /// The identifier of what it was done to.
    pub object_id: String,
    /// What the action changed, as recorded with it.
    pub details: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at,
            actor_id: e.actor_id,
            actor_role: e.actor_role,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            details: e.details,
        }
    }
}

pub type AuditPage = super::schemas::Page<AuditEntryView>;

pub struct AuditApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Audit")]
impl AuditApi {
    /// The tenant's audit log, oldest first, with filters.
    #[oai(path = "/audit", method = "get", operation_id = "listAudit")]
    #[allow(clippy::too_many_arguments)]
    async fn list_audit(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// e.g. `voucher.issued`, `voucher.cancelled`, `scheme.rules_changed`.
        #[oai(validator(max_length = 64))]
        action: Query<Option<String>>,
        /// Only the entries about this kind of object, e.g. `voucher`.
        #[oai(validator(max_length = 64))]
        object_type: Query<Option<String>>,
        /// Only the entries about this object.
        #[oai(validator(max_length = 100))]
        object_id: Query<Option<String>>,
        /// Only the entries of this user.
        actor_id: Query<Option<Uuid>>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<AuditPage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_AUDIT)?;
        let page = page_request(limit.0, cursor.0)?;
        let filter = AuditFilter {
            action: action.0,
            object_type: object_type.0,
            object_id: object_id.0,
            actor_id: actor_id.0,
            newest_first: false,
        };
        let page = audit::list(&state.db, tenant_id, &filter, page)
            .await?
            .map(AuditEntryView::from);
        Ok(Json(AuditPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }
}
