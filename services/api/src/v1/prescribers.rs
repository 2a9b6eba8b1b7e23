use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::prescribers::PrescriberKind as DomainPrescriberKind;
use passerelle_core::prescribers::{
    self, Allocation, NewAllocation, NewPrescriber, Prescriber, PrescriberChanges,
};
use passerelle_core::tenancy::tenants;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::schemas::{PageCursor, PageLimit, page_request, patched};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// The kind of prescriber organisation.
    #[oai(rename_all = "snake_case")]
    pub enum PrescriberKind mirrors DomainPrescriberKind {
        Caf,
        Cpam,
        FranceTravail,
        Ccas,
        MissionLocale,
        Association,
        Employer,
        Other,
    }
}

/// A prescriber organisation (CAF, CCAS, France Travail, mission locale…).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CreatePrescriber {
    /// The organisation's name, as its agents and the territory read it.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    pub kind: PrescriberKind,
    /// 14 digits, checked.
    #[oai(validator(max_length = 14))]
    pub siret: Option<String>,
    #[oai(validator(max_length = 254))]
    pub contact_email: Option<String>,
    #[oai(validator(max_length = 30))]
    pub contact_phone: Option<String>,
}

/// What changes in a prescriber organisation: a field left out stays as it is; `null` clears an
/// optional one. The same rules as at creation.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct UpdatePrescriber {
    /// The organisation's new name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    pub kind: Option<PrescriberKind>,
    /// 14 digits, checked; `null` clears it.
    #[oai(validator(max_length = 14))]
    pub siret: MaybeUndefined<String>,
    /// Where the daily digest of the organisation's vouchers goes; `null` clears it.
    #[oai(validator(max_length = 254))]
    pub contact_email: MaybeUndefined<String>,
    /// The organisation's phone; `null` clears it.
    #[oai(validator(max_length = 30))]
    pub contact_phone: MaybeUndefined<String>,
}

/// A prescriber organisation.
#[derive(Debug, Object)]
pub struct PrescriberView {
    pub id: Uuid,
    /// The organisation's name.
    pub name: String,
    pub kind: PrescriberKind,
    /// The organisation's SIRET (14 digits).
    #[oai(skip_serializing_if_is_none)]
    pub siret: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub contact_email: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub contact_phone: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Prescriber> for PrescriberView {
    fn from(p: Prescriber) -> Self {
        Self {
            id: p.id,
            name: p.name,
            kind: p.kind.into(),
            siret: p.siret,
            contact_email: p.contact_email,
            contact_phone: p.contact_phone,
            created_at: p.created_at,
        }
    }
}

pub type PrescriberPage = super::schemas::Page<PrescriberView>;

/// A quantity of vouchers a prescriber may issue for a scheme over a period.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateAllocation {
    pub scheme_id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// Vouchers the prescriber may issue over the period.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
    pub quantity: i32,
}

/// The new quantity of an allocation.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct SetQuantity {
    /// Vouchers the prescriber may issue over the period; not fewer than those already issued.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000")))]
    pub quantity: i32,
}

/// Vouchers a prescriber may issue for a scheme over a period, and how many are left.
#[derive(Debug, Object)]
pub struct AllocationView {
    pub id: Uuid,
    pub prescriber_id: Uuid,
    pub scheme_id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// Vouchers the prescriber may issue over the period.
    pub quantity: i32,
    /// Vouchers issued from it so far.
    pub issued: i32,
    /// Vouchers still to issue: `quantity - issued`.
    pub remaining: i32,
    pub created_at: DateTime<Utc>,
}

impl From<Allocation> for AllocationView {
    fn from(a: Allocation) -> Self {
        Self {
            remaining: a.remaining(),
            id: a.id,
            prescriber_id: a.prescriber_id,
            scheme_id: a.scheme_id,
            period_start: a.period_start,
            period_end: a.period_end,
            quantity: a.quantity,
            issued: a.issued,
            created_at: a.created_at,
        }
    }
}

/// How a prescriber's vouchers have fared.
#[derive(Debug, Object)]
pub struct FunnelView {
    /// Vouchers issued.
    pub issued: i64,
    /// Vouchers registered at an EPN.
    pub registered: i64,
    /// Vouchers with at least one session attended.
    pub started: i64,
    /// Vouchers whose hours were all used.
    pub completed: i64,
    /// Vouchers that expired without any time used.
    pub expired_unused: i64,
    /// Vouchers cancelled.
    pub cancelled: i64,
}

#[derive(ApiResponse)]
pub enum CreatedPrescriber {
    #[oai(status = 201)]
    Created(Json<PrescriberView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum CreatedAllocation {
    #[oai(status = 201)]
    Created(Json<AllocationView>),
}

pub struct PrescribersApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Prescribers")]
impl PrescribersApi {
    /// Registers a prescriber organisation.
    #[oai(
        path = "/prescribers",
        method = "post",
        operation_id = "createPrescriber"
    )]
    async fn create_prescriber(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<CreatePrescriber>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedPrescriber, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CREATE_PRESCRIBER)?;
        let body = body.0;
        let new = NewPrescriber {
            name: body.name,
            kind: body.kind.into(),
            siret: body.siret,
            contact_email: body.contact_email,
            contact_phone: body.contact_phone,
        };
        let prescriber = prescribers::create(&state.db, tenant_id, auth.actor(), &new).await?;
        let location = format!("/v1/prescribers/{}", prescriber.id);
        Ok(CreatedPrescriber::Created(
            Json(prescriber.into()),
            location,
        ))
    }

    /// Lists prescriber organisations, oldest first.
    #[oai(
        path = "/prescribers",
        method = "get",
        operation_id = "listPrescribers"
    )]
    async fn list_prescribers(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<PrescriberPage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_PRESCRIBERS)?;
        let page = page_request(limit.0, cursor.0)?;
        let page = prescribers::list(&state.db, tenant_id, page)
            .await?
            .map(PrescriberView::from);
        Ok(Json(PrescriberPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }

    /// One prescriber organisation (a prescriber agent sees only their own).
    #[oai(
        path = "/prescribers/:prescriber_id",
        method = "get",
        operation_id = "getPrescriber"
    )]
    async fn get_prescriber(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        prescriber_id: Path<Uuid>,
    ) -> Result<Json<PrescriberView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_PRESCRIBER)?;
        auth.check_prescriber(prescriber_id.0)?;
        Ok(Json(
            prescribers::get(&state.db, tenant_id, prescriber_id.0)
                .await?
                .into(),
        ))
    }

    /// Corrects a prescriber organisation: its name, kind, SIRET or contacts (a prescriber created
    /// without a contact email never gets its daily digest). Audited with each changed field's
    /// value before and after.
    #[oai(
        path = "/prescribers/:prescriber_id",
        method = "patch",
        operation_id = "updatePrescriber"
    )]
    async fn update_prescriber(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        prescriber_id: Path<Uuid>,
        body: Json<UpdatePrescriber>,
    ) -> Result<Json<PrescriberView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::UPDATE_PRESCRIBER)?;
        let body = body.0;
        let changes = PrescriberChanges {
            name: body.name,
            kind: body.kind.map(Into::into),
            siret: patched(body.siret),
            contact_email: patched(body.contact_email),
            contact_phone: patched(body.contact_phone),
        };
        let updated =
            prescribers::update(&state.db, tenant_id, auth.actor(), prescriber_id.0, changes)
                .await?;
        Ok(Json(updated.into()))
    }

    /// Gives a prescriber vouchers of a scheme for a period (periods of one prescriber and scheme
    /// do not overlap).
    #[oai(
        path = "/prescribers/:prescriber_id/allocations",
        method = "post",
        operation_id = "createAllocation"
    )]
    async fn create_allocation(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        prescriber_id: Path<Uuid>,
        body: Json<CreateAllocation>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedAllocation, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CREATE_ALLOCATION)?;
        let body = body.0;
        let new = NewAllocation {
            scheme_id: body.scheme_id,
            period_start: body.period_start,
            period_end: body.period_end,
            quantity: body.quantity,
        };
        let allocation =
            prescribers::allocate(&state.db, tenant_id, auth.actor(), prescriber_id.0, &new)
                .await?;
        Ok(CreatedAllocation::Created(Json(allocation.into())))
    }

    /// A prescriber's allocations, most recent period first.
    #[oai(
        path = "/prescribers/:prescriber_id/allocations",
        method = "get",
        operation_id = "listAllocations"
    )]
    async fn list_allocations(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        prescriber_id: Path<Uuid>,
        scheme_id: Query<Option<Uuid>>,
    ) -> Result<Json<Vec<AllocationView>>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_ALLOCATIONS)?;
        auth.check_prescriber(prescriber_id.0)?;
        let rows =
            prescribers::allocations(&state.db, tenant_id, prescriber_id.0, scheme_id.0).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Changes an allocation's quantity (never below what was already issued from it).
    #[oai(
        path = "/prescribers/:prescriber_id/allocations/:allocation_id/quantity",
        method = "post",
        operation_id = "setAllocationQuantity"
    )]
    async fn set_quantity(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        prescriber_id: Path<Uuid>,
        allocation_id: Path<Uuid>,
        body: Json<SetQuantity>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<AllocationView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_ALLOCATION_QUANTITY)?;
        let allocation = prescribers::set_quantity(
            &state.db,
            tenant_id,
            auth.actor(),
            prescriber_id.0,
            allocation_id.0,
            body.0.quantity,
        )
        .await?;
        Ok(Json(allocation.into()))
    }

    /// The stock a prescriber can issue today, per scheme (the allocations covering today).
    #[oai(
        path = "/prescribers/:prescriber_id/stock",
        method = "get",
        operation_id = "getStock"
    )]
    async fn get_stock(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        prescriber_id: Path<Uuid>,
        scheme_id: Query<Option<Uuid>>,
    ) -> Result<Json<Vec<AllocationView>>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_STOCK)?;
        auth.check_prescriber(prescriber_id.0)?;
        let today = tenants::get(&state.db, tenant_id).await?.today();
        let rows =
            prescribers::allocations(&state.db, tenant_id, prescriber_id.0, scheme_id.0).await?;
        Ok(Json(
            rows.into_iter()
                .filter(|a| a.period_start <= today && today <= a.period_end)
                .map(Into::into)
                .collect(),
        ))
    }

    /// Issued → registered at an EPN → started → completed, expired unused and cancelled.
    #[oai(
        path = "/prescribers/:prescriber_id/funnel",
        method = "get",
        operation_id = "getFunnel"
    )]
    async fn get_funnel(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        prescriber_id: Path<Uuid>,
        scheme_id: Query<Option<Uuid>>,
    ) -> Result<Json<FunnelView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_FUNNEL)?;
        auth.check_prescriber(prescriber_id.0)?;
        let today = tenants::get(&state.db, tenant_id).await?.today();
        let f =
            prescribers::funnel(&state.db, tenant_id, prescriber_id.0, scheme_id.0, today).await?;
        Ok(Json(FunnelView {
            issued: f.issued,
            registered: f.registered,
            started: f.started,
            completed: f.completed,
            expired_unused: f.expired_unused,
            cancelled: f.cancelled,
        }))
    }
}
