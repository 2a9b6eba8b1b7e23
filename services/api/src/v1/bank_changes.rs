//! Changes of an EPN's bank details, under four eyes: submitted by the EPN's staff or a tenant
//! admin (`setEpnBankDetails`), confirmed or rejected by a tenant admin or finance officer other
//! than the submitter. The SEPA file reads only confirmed accounts.

use chrono::{DateTime, Utc};
use passerelle_core::epns::bank::{self, BankChange, BankChangeStatus};
use passerelle_core::epns::mask_iban;
use passerelle_core::tenancy::{Principal, Role};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// `pending` (waiting for a second person), `confirmed` (the EPN's account now), `rejected`
    /// (with the reason), `superseded` (replaced by a later submission before anyone decided).
    #[oai(rename = "BankChangeStatus", rename_all = "snake_case")]
    pub enum BankChangeStatusDto mirrors BankChangeStatus {
        Pending,
        Confirmed,
        Rejected,
        Superseded,
    }
}

/// A submitted change of an EPN's bank details and where it stands.
#[derive(Debug, Object)]
pub struct BankChangeView {
    pub id: Uuid,
    pub epn_id: Uuid,
    /// The EPN's name, as the confirmer reads it next to the IBAN.
    pub epn_name: String,
    /// In full for tenant admins and finance officers (who check it against the bank's
    /// document); masked (e.g. `FR76…0189`) for the EPN's staff.
    pub iban: String,
    #[oai(skip_serializing_if_is_none)]
    pub bic: Option<String>,
    pub account_holder: String,
    pub status: BankChangeStatusDto,
    /// The user who submitted it; the one user who may not decide it.
    #[oai(skip_serializing_if_is_none)]
    pub submitted_by: Option<Uuid>,
    /// When it was submitted (RFC 3339, UTC).
    pub submitted_at: DateTime<Utc>,
    /// Who confirmed or rejected it (or superseded it with a later submission).
    #[oai(skip_serializing_if_is_none)]
    pub decided_by: Option<Uuid>,
    /// When it was decided (RFC 3339, UTC).
    #[oai(skip_serializing_if_is_none)]
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it was rejected.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
    /// The account the EPN is paid to today, masked.
    #[oai(skip_serializing_if_is_none)]
    pub current_iban: Option<String>,
}

impl BankChangeView {
    pub fn new(c: BankChange, principal: &Principal) -> Self {
        let full = matches!(principal.role(), Role::TenantAdmin | Role::Finance);
        Self {
            iban: if full { c.iban } else { mask_iban(&c.iban) },
            current_iban: c.current_iban.as_deref().map(mask_iban),
            id: c.id,
            epn_id: c.epn_id,
            epn_name: c.epn_name,
            bic: c.bic,
            account_holder: c.account_holder,
            status: c.status.into(),
            submitted_by: c.submitted_by,
            submitted_at: c.submitted_at,
            decided_by: c.decided_by,
            decided_at: c.decided_at,
            reason: c.reason,
        }
    }
}

/// The changes of bank details waiting for a second person, oldest first.
#[derive(Debug, Object)]
pub struct BankChangeList {
    pub items: Vec<BankChangeView>,
}

/// Why a change is rejected; the EPN reads it.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RejectBankChangeInput {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

pub struct BankChangesApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Reimbursements")]
impl BankChangesApi {
    /// The changes waiting for confirmation, oldest first; an EPN's staff see their EPN's only.
    #[oai(
        path = "/bank-changes",
        method = "get",
        operation_id = "listBankChanges"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<Json<BankChangeList>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_BANK_CHANGES)?;
        let changes = bank::pending(&state.db, tenant_id, auth.epn_scope()).await?;
        Ok(Json(BankChangeList {
            items: changes
                .into_iter()
                .map(|c| BankChangeView::new(c, &auth.0))
                .collect(),
        }))
    }

    /// Confirms a pending change: the EPN is paid to this account from the next SEPA file. Refused
    /// with 403 `bank-change-needs-another-person` to the person who submitted it. Audited.
    #[oai(
        path = "/bank-changes/:change_id/confirm",
        method = "post",
        operation_id = "confirmBankChange"
    )]
    async fn confirm(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        change_id: Path<Uuid>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<BankChangeView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CONFIRM_BANK_CHANGE)?;
        let change = bank::confirm(&state.db, tenant_id, auth.actor(), change_id.0).await?;
        Ok(Json(BankChangeView::new(change, &auth.0)))
    }

    /// Rejects a pending change with the reason the EPN reads; its account stays as it was.
    /// The submitter cannot reject their own change either. Audited.
    #[oai(
        path = "/bank-changes/:change_id/reject",
        method = "post",
        operation_id = "rejectBankChange"
    )]
    async fn reject(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        change_id: Path<Uuid>,
        body: Json<RejectBankChangeInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<BankChangeView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REJECT_BANK_CHANGE)?;
        let change = bank::reject(
            &state.db,
            tenant_id,
            auth.actor(),
            change_id.0,
            &body.0.reason,
        )
        .await?;
        Ok(Json(BankChangeView::new(change, &auth.0)))
    }
}
