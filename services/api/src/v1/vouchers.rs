use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::tenancy::tenants::{self, Tenant};
use passerelle_core::vouchers::bulk::{self, RowStatus};
use passerelle_core::vouchers::{
    self, Holder, IssueRequest, Voucher, VoucherFilter, VoucherStatus,
};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiResponse, Enum, Multipart, Object, OpenApi};
use uuid::Uuid;

use super::beneficiaries::{BeneficiaryView, NewBeneficiaryDto};
use super::schemas::{PageCursor, PageLimit, page_request};
use super::{Tag, examples};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// A voucher's status: issued → registered (at an EPN) → in_progress → completed, or expired
    /// (past its validity with time left), or cancelled (before any time was used). Read as of now:
    /// an open voucher past its last valid day reads `expired` before the daily run records it.
    #[oai(rename = "VoucherStatus", rename_all = "snake_case")]
    pub enum VoucherStatusDto mirrors VoucherStatus {
        Issued,
        Registered,
        InProgress,
        Completed,
        Expired,
        Cancelled,
    }
}

/// A voucher to issue to a person, from the prescriber's allocation.
#[derive(Debug, Object)]
#[oai(example, deny_unknown_fields)]
pub struct IssueVoucher {
    pub scheme_id: Uuid,
    /// A person already registered by the caller's organisation…
    pub beneficiary_id: Option<Uuid>,
    /// …or a new one (exactly one of the two).
    pub beneficiary: Option<NewBeneficiaryDto>,
    /// What the holder pays, within the scheme's cap (default 0: free).
    #[oai(default, validator(minimum(value = "0")))]
    pub participation_fee_cents: i64,
}

/// A voucher.
#[derive(Debug, Object)]
#[oai(example)]
pub struct VoucherView {
    pub id: Uuid,
    /// Printed on the letter and typed by the EPN, e.g. LOT-7K3F-9QX2-M.
    pub reference: String,
    pub scheme_id: Uuid,
    /// The version of the scheme's rules this voucher keeps for life.
    pub rules_version: i32,
    pub beneficiary_id: Uuid,
    pub prescriber_id: Uuid,
    pub issued_on: NaiveDate,
    /// The last valid day (valid until the end of it, tenant time zone).
    pub valid_until: NaiveDate,
    pub status: VoucherStatusDto,
    pub minutes_total: i32,
    pub minutes_left: i32,
    /// Its face value, in cents.
    pub face_value_cents: i64,
    /// What the holder paid towards it, in cents.
    pub participation_fee_cents: i64,
    /// When it was cancelled.
    #[oai(skip_serializing_if_is_none)]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Why it was cancelled.
    #[oai(skip_serializing_if_is_none)]
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl VoucherView {
    pub fn new(v: Voucher, tenant: &Tenant) -> Self {
        Self {
            status: v.status_at(tenant.tz(), Utc::now()).into(),
            id: v.id,
            reference: v.reference,
            scheme_id: v.scheme_id,
            rules_version: v.rules_version,
            beneficiary_id: v.beneficiary_id,
            prescriber_id: v.prescriber_id,
            issued_on: v.issued_on,
            valid_until: v.valid_until,
            minutes_total: v.minutes_total,
            minutes_left: v.minutes_left,
            face_value_cents: v.face_value_cents,
            participation_fee_cents: v.participation_fee_cents,
            cancelled_at: v.cancelled_at,
            cancel_reason: v.cancel_reason,
            created_at: v.created_at,
        }
    }
}

/// The voucher just issued, and its holder.
#[derive(Debug, Object)]
pub struct IssuedVoucherView {
    pub voucher: VoucherView,
    pub beneficiary: BeneficiaryView,
}

pub type VoucherPage = super::schemas::Page<VoucherView>;

/// Why a voucher is cancelled.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CancelVoucher {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

/// A spreadsheet of people (CSV, UTF-8 or Windows-1252, `;` or `,`) and the scheme to issue for.
#[derive(Debug, Multipart)]
pub struct BulkUpload {
    pub scheme_id: Uuid,
    /// Columns (French headers): Prénom, Nom, Année de naissance, Code INSEE, Catégorie, and
    /// optionally Courriel, Téléphone, Consentement.
    pub file: Upload,
}

/// What a row of a bulk issuance file gave: issued, already issued (same file sent again) or
/// refused.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RowStatusDto {
    Issued,
    AlreadyIssued,
    Refused,
}

/// What became of one row of a bulk issuance file.
#[derive(Debug, Object)]
pub struct RowOutcomeView {
    /// The line in the file as a spreadsheet shows it (the header is line 1).
    pub line: u64,
    pub status: RowStatusDto,
    #[oai(skip_serializing_if_is_none)]
    pub reference: Option<String>,
    /// For a refused row: the column that was refused.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
}

/// What became of each row of a bulk issuance file.
#[derive(Debug, Object)]
pub struct BulkReportView {
    /// The SHA-256 of the file, which makes its rows recognisable when it is sent again.
    pub file_sha256: String,
    /// Rows issued by this sending.
    pub issued: usize,
    /// Rows already issued by an earlier sending of the same file: nothing was issued twice.
    pub already_issued: usize,
    /// Rows refused; each says which field and why.
    pub refused: usize,
    /// One outcome per row, in the file's order.
    pub rows: Vec<RowOutcomeView>,
}

#[derive(ApiResponse)]
pub enum IssuedVoucher {
    /// The voucher was issued from the prescriber's allocation.
    #[oai(status = 201)]
    Created(Json<IssuedVoucherView>, #[oai(header = "Location")] String),
}

pub struct VouchersApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Vouchers")]
impl VouchersApi {
    /// Issues a nominative voucher from the caller's allocation, under the scheme's rules in force
    /// today. 409 when the allocation is used up (the detail gives the stock).
    #[oai(path = "/vouchers", method = "post", operation_id = "issueVoucher")]
    async fn issue_voucher(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<IssueVoucher>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<IssuedVoucher, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::ISSUE_VOUCHER)?;
        let prescriber_id = auth.prescriber_id()?;
        let body = body.0;
        let holder = Holder::one_of(body.beneficiary_id, body.beneficiary.map(Into::into))
            .ok_or_else(|| {
                passerelle_core::Error::invalid(
                    "beneficiary",
                    "give exactly one of beneficiary_id and beneficiary",
                )
            })?;
        let request = IssueRequest {
            scheme_id: body.scheme_id,
            holder,
            participation_fee_cents: body.participation_fee_cents,
        };
        let issued =
            vouchers::issue(&state.db, tenant_id, prescriber_id, auth.actor(), &request).await?;
        let location = format!("/v1/vouchers/{}", issued.voucher.reference);
        Ok(IssuedVoucher::Created(
            Json(IssuedVoucherView {
                voucher: VoucherView::new(issued.voucher, &issued.tenant),
                beneficiary: issued.beneficiary.into(),
            }),
            location,
        ))
    }

    /// Vouchers, oldest first, with filters (a prescriber agent sees their organisation's only).
    #[oai(path = "/vouchers", method = "get", operation_id = "listVouchers")]
    #[allow(clippy::too_many_arguments)]
    async fn list_vouchers(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Only the vouchers in this status (as of now: an open voucher past its last day is `expired`).
        status: Query<Option<VoucherStatusDto>>,
        scheme_id: Query<Option<Uuid>>,
        prescriber_id: Query<Option<Uuid>>,
        beneficiary_id: Query<Option<Uuid>>,
        /// Open vouchers whose last valid day is before this date.
        expiring_before: Query<Option<NaiveDate>>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<VoucherPage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_VOUCHERS)?;
        let page = page_request(limit.0, cursor.0)?;
        let filter = VoucherFilter {
            status: status.0.map(VoucherStatus::from),
            scheme_id: scheme_id.0,
            prescriber_id: prescriber_id.0,
            beneficiary_id: beneficiary_id.0,
            expiring_before: expiring_before.0,
            newest_first: false,
        };
        let tenant = tenants::get(&state.db, tenant_id).await?;
        let page = vouchers::list(&state.db, tenant_id, &filter, auth.visibility(), page).await?;
        Ok(Json(VoucherPage {
            items: page
                .items
                .into_iter()
                .map(|v| VoucherView::new(v, &tenant))
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// A voucher by its reference, typed in any case, with or without dashes. A typo is caught by
    /// the check character and explained (422).
    #[oai(
        path = "/vouchers/:reference",
        method = "get",
        operation_id = "getVoucher"
    )]
    async fn get_voucher(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        reference: Path<String>,
    ) -> Result<Json<VoucherView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_VOUCHER)?;
        let voucher = vouchers::get(&state.db, tenant_id, &reference.0, auth.visibility()).await?;
        let tenant = tenants::get(&state.db, tenant_id).await?;
        Ok(Json(VoucherView::new(voucher, &tenant)))
    }

    /// Cancels a voucher none of whose time is used; the place returns to the allocation.
    #[oai(
        path = "/vouchers/:reference/cancel",
        method = "post",
        operation_id = "cancelVoucher"
    )]
    async fn cancel_voucher(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        reference: Path<String>,
        body: Json<CancelVoucher>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<VoucherView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CANCEL_VOUCHER)?;
        let voucher = vouchers::cancel(
            &state.db,
            tenant_id,
            auth.actor(),
            &reference.0,
            &body.0.reason,
            auth.visibility(),
        )
        .await?;
        let tenant = tenants::get(&state.db, tenant_id).await?;
        Ok(Json(VoucherView::new(voucher, &tenant)))
    }

    /// Issues one voucher per row of a CSV file. Each row stands alone: refused rows come back
    /// with their line and reason, the others are issued. Uploading the same file again issues
    /// nothing twice (people who already hold an open voucher are reported `already_issued`).
    #[oai(
        path = "/vouchers/bulk",
        method = "post",
        operation_id = "bulkIssueVouchers"
    )]
    async fn bulk_issue(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        form: BulkUpload,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<BulkReportView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::BULK_ISSUE_VOUCHERS)?;
        let prescriber_id = auth.prescriber_id()?;
        let file = form
            .file
            .into_vec()
            .await
            .map_err(|e| ApiError::BadRequest(format!("could not read the file: {e}")))?;
        let report = bulk::import(
            &state.db,
            tenant_id,
            prescriber_id,
            auth.actor(),
            form.scheme_id,
            &file,
        )
        .await?;
        Ok(Json(BulkReportView {
            issued: report.count(RowStatus::Issued),
            already_issued: report.count(RowStatus::AlreadyIssued),
            refused: report.count(RowStatus::Refused),
            file_sha256: report.file_sha256,
            rows: report
                .rows
                .into_iter()
                .map(|r| RowOutcomeView {
                    line: r.line,
                    status: match r.status {
                        RowStatus::Issued => RowStatusDto::Issued,
                        RowStatus::AlreadyIssued => RowStatusDto::AlreadyIssued,
                        RowStatus::Refused => RowStatusDto::Refused,
                    },
                    reference: r.reference,
                    field: r.field,
                    reason: r.reason,
                })
                .collect(),
        }))
    }
}

impl Example for IssueVoucher {
    fn example() -> Self {
        Self {
            scheme_id: examples::SCHEME_ID,
            beneficiary_id: None,
            beneficiary: Some(NewBeneficiaryDto::example()),
            participation_fee_cents: 0,
        }
    }
}

impl Example for VoucherView {
    fn example() -> Self {
        Self {
            id: examples::VOUCHER_ID,
            reference: examples::REFERENCE.into(),
            scheme_id: examples::SCHEME_ID,
            rules_version: 1,
            beneficiary_id: examples::BENEFICIARY_ID,
            prescriber_id: examples::PRESCRIBER_ID,
            issued_on: examples::issued_on(),
            valid_until: examples::valid_until(),
            status: VoucherStatusDto::Issued,
            minutes_total: 1200,
            minutes_left: 1200,
            face_value_cents: 20000,
            participation_fee_cents: 0,
            cancelled_at: None,
            cancel_reason: None,
            created_at: examples::issued_at(),
        }
    }
}
