use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::reimbursements::{
    self, LineKind, Statement, StatementFilter, StatementLine, StatementStatus, export, sepa,
};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Attachment, AttachmentType, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Serialize;
use uuid::Uuid;

use super::Tag;
use super::epns::BankDetailsInput;
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// A statement's status: `draft` (recomputed by each monthly run), then `approved` by finance,
    /// then `paid` (both immutable).
    #[oai(rename = "StatementStatus", rename_all = "snake_case")]
    pub enum StatementStatusDto mirrors StatementStatus {
        Draft,
        Approved,
        Paid,
    }
}

mirror_enum! {
    /// What a statement line pays: `attendance` (a session), `interview` (a positioning
    /// interview) or `adjustment` (a correction of an earlier month, possibly negative).
    #[oai(rename = "StatementLineKind", rename_all = "snake_case")]
    pub enum LineKindDto mirrors LineKind {
        Attendance,
        Interview,
        Adjustment,
    }
}

/// What the tenant owes one EPN for one scheme and month.
#[derive(Debug, Object)]
pub struct StatementView {
    pub id: Uuid,
    /// Also the EndToEndId of its SEPA transfer.
    pub reference: String,
    pub epn_id: Uuid,
    /// The EPN's name.
    pub epn_name: String,
    pub scheme_id: Uuid,
    /// The scheme's name.
    pub scheme_name: String,
    /// The first day of the month.
    pub month: NaiveDate,
    pub status: StatementStatusDto,
    /// What the tenant owes the EPN, in cents.
    pub total_cents: i64,
    /// How many lines it has.
    pub line_count: i32,
    /// When the monthly run last computed it.
    pub computed_at: DateTime<Utc>,
    /// When finance approved it.
    #[oai(skip_serializing_if_is_none)]
    pub approved_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub paid_on: Option<NaiveDate>,
    /// The bank's reference of the transfer that paid it.
    #[oai(skip_serializing_if_is_none)]
    pub bank_reference: Option<String>,
}

impl From<Statement> for StatementView {
    fn from(s: Statement) -> Self {
        Self {
            id: s.id,
            reference: s.reference,
            epn_id: s.epn_id,
            epn_name: s.epn_name,
            scheme_id: s.scheme_id,
            scheme_name: s.scheme_name,
            month: s.month,
            status: s.status.into(),
            total_cents: s.total_cents,
            line_count: s.line_count,
            computed_at: s.computed_at,
            approved_at: s.approved_at,
            paid_on: s.paid_on,
            bank_reference: s.bank_reference,
        }
    }
}

/// One line: an attendance, an interview, or an adjustment of an earlier month. Never a name.
#[derive(Debug, Object)]
pub struct StatementLineView {
    /// Its number in the statement, from 1.
    pub line_no: i32,
    pub kind: LineKindDto,
    /// The day of the session or interview.
    pub occurred_on: NaiveDate,
    #[oai(skip_serializing_if_is_none)]
    pub session_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub module_number: Option<i32>,
    /// The voucher's reference.
    pub voucher_reference: String,
    /// Negative on an adjustment that takes minutes back.
    pub minutes: i32,
    /// The hourly rate (attendance) or the flat fee (interview), in cents.
    pub rate_cents: i64,
    /// What the line is worth, in cents (negative for an adjustment that takes time back).
    pub amount_cents: i64,
    /// For an adjustment: the month it corrects.
    #[oai(skip_serializing_if_is_none)]
    pub adjusts_month: Option<NaiveDate>,
    /// The attendance was recorded « hors parcours »: a session of a module the holder had not
    /// chosen, counted on the animator's decision.
    pub off_path: bool,
}

impl From<StatementLine> for StatementLineView {
    fn from(l: StatementLine) -> Self {
        Self {
            line_no: l.line_no,
            kind: l.kind.into(),
            occurred_on: l.occurred_on,
            session_id: l.session_id,
            module_number: l.module_number,
            voucher_reference: l.voucher_reference,
            minutes: l.minutes,
            rate_cents: l.rate_cents,
            amount_cents: l.amount_cents,
            adjusts_month: l.adjusts_month,
            off_path: l.off_path,
        }
    }
}

/// A statement with its lines.
#[derive(Debug, Object)]
pub struct StatementDetail {
    pub statement: StatementView,
    /// Its lines, in order.
    pub lines: Vec<StatementLineView>,
}

/// Statements, as the filters asked.
#[derive(Debug, Object)]
pub struct StatementList {
    pub items: Vec<StatementView>,
}

/// The transfer that paid a statement.
#[derive(Debug, Object, Serialize)]
#[oai(deny_unknown_fields)]
pub struct PaymentInput {
    pub paid_on: NaiveDate,
    /// The bank's reference of the transfer.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub bank_reference: String,
}

/// What a run computed for the month.
#[derive(Debug, Object)]
pub struct RunView {
    /// The month computed (its first day).
    pub month: NaiveDate,
    /// Statements written or recomputed.
    pub statements: i64,
    /// Statement lines written.
    pub lines: i64,
    /// Adjustment lines for earlier months (a voided attendance, a late record).
    pub adjustments: i64,
    /// The month's total owed to the EPNs, in cents.
    pub total_cents: i64,
}

#[derive(ApiResponse)]
pub enum CsvFile {
    /// UTF-8 with BOM, `;`, decimal comma: opens as is in French Excel.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(Attachment<Vec<u8>>),
}

#[derive(ApiResponse)]
pub enum XmlFile {
    /// A pain.001.001.03 credit transfer file.
    #[oai(status = 200, content_type = "application/xml")]
    Ok(Attachment<Vec<u8>>),
}

#[derive(ApiResponse)]
pub enum TreasurySet {
    /// Saved.
    #[oai(status = 204)]
    NoContent,
}

/// "2026-09" → 1 September 2026.
fn parse_month(month: &str) -> Result<NaiveDate, ApiError> {
    parse_month_of("month", month)
}

/// "2026-09" given as `field` → 1 September 2026.
pub(crate) fn parse_month_of(field: &str, month: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .ok()
        .filter(|_| month.len() == 7)
        .ok_or_else(|| {
            passerelle_core::Error::invalid(field, "a month as YYYY-MM, e.g. 2026-09").into()
        })
}

pub(crate) fn attachment(name: String, bytes: Vec<u8>) -> Attachment<Vec<u8>> {
    Attachment::new(bytes)
        .attachment_type(AttachmentType::Attachment)
        .filename(name)
}

pub struct StatementsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Reimbursements")]
impl StatementsApi {
    /// Statements, by month, status or EPN (finance; tenant admins read; an EPN's staff read their
    /// own EPN's).
    #[oai(path = "/statements", method = "get", operation_id = "listStatements")]
    async fn list_statements(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// YYYY-MM.
        #[oai(validator(max_length = 7))]
        month: Query<Option<String>>,
        /// Only the statements in this status.
        status: Query<Option<StatementStatusDto>>,
        epn_id: Query<Option<Uuid>>,
    ) -> Result<Json<StatementList>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_STATEMENTS)?;
        let filter = StatementFilter {
            month: month.0.as_deref().map(parse_month).transpose()?,
            status: status.0.map(StatementStatus::from),
            epn_id: auth.epn_scope().or(epn_id.0),
        };
        // An EPN's staff asking for another EPN's statements gets none.
        let items = match (auth.epn_scope(), epn_id.0) {
            (Some(own), Some(asked)) if own != asked => Vec::new(),
            _ => reimbursements::list(&state.db, tenant_id, &filter).await?,
        };
        Ok(Json(StatementList {
            items: items.into_iter().map(StatementView::from).collect(),
        }))
    }

    /// A statement with its lines.
    #[oai(
        path = "/statements/:statement_id",
        method = "get",
        operation_id = "getStatement"
    )]
    async fn get_statement(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        statement_id: Path<Uuid>,
    ) -> Result<Json<StatementDetail>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_STATEMENT)?;
        let (statement, lines) =
            reimbursements::get(&state.db, tenant_id, statement_id.0, auth.epn_scope()).await?;
        Ok(Json(StatementDetail {
            statement: statement.into(),
            lines: lines.into_iter().map(StatementLineView::from).collect(),
        }))
    }

    /// Approves a draft (finance). Refused with 409 and the reason when its total does not match
    /// its lines or attendance changed since it was computed. Audited.
    #[oai(
        path = "/statements/:statement_id/approve",
        method = "post",
        operation_id = "approveStatement"
    )]
    async fn approve_statement(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        statement_id: Path<Uuid>,
    ) -> Result<Json<StatementView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::APPROVE_STATEMENT)?;
        let statement =
            reimbursements::approve(&state.db, tenant_id, auth.actor(), statement_id.0).await?;
        Ok(Json(statement.into()))
    }

    /// Records the payment of an approved statement (finance). Audited.
    #[oai(
        path = "/statements/:statement_id/paid",
        method = "post",
        operation_id = "markStatementPaid"
    )]
    async fn mark_paid(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        statement_id: Path<Uuid>,
        body: Json<PaymentInput>,
    ) -> Result<Json<StatementView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::MARK_STATEMENT_PAID)?;
        let statement = reimbursements::mark_paid(
            &state.db,
            tenant_id,
            auth.actor(),
            statement_id.0,
            body.0.paid_on,
            &body.0.bank_reference,
        )
        .await?;
        Ok(Json(statement.into()))
    }

    /// The statement's detail as CSV for French Excel. Audited.
    #[oai(
        path = "/statements/:statement_id/csv",
        method = "get",
        operation_id = "statementCsv"
    )]
    async fn statement_csv(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        statement_id: Path<Uuid>,
    ) -> Result<CsvFile, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::STATEMENT_CSV)?;
        let (name, bytes) = export::statement_csv(
            &state.db,
            tenant_id,
            auth.actor(),
            statement_id.0,
            auth.epn_scope(),
        )
        .await?;
        Ok(CsvFile::Ok(attachment(name, bytes)))
    }

    /// Computes a month now (finance): its statements, and adjustments for approved earlier months.
    /// Running it again never duplicates a line.
    #[oai(
        path = "/reimbursements/:month/run",
        method = "post",
        operation_id = "runReimbursements"
    )]
    async fn run(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// YYYY-MM.
        #[oai(validator(max_length = 7))]
        month: Path<String>,
    ) -> Result<Json<RunView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::RUN_REIMBURSEMENTS)?;
        let month = parse_month(&month.0)?;
        let run = reimbursements::run_month(&state.db, tenant_id, month).await?;
        Ok(Json(RunView {
            month,
            statements: run.statements,
            lines: run.lines,
            adjustments: run.adjustments,
            total_cents: run.total_cents,
        }))
    }

    /// Every statement of the month in one CSV. Audited.
    #[oai(
        path = "/reimbursements/:month/csv",
        method = "get",
        operation_id = "reimbursementsCsv"
    )]
    async fn month_csv(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// YYYY-MM.
        #[oai(validator(max_length = 7))]
        month: Path<String>,
    ) -> Result<CsvFile, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::MONTH_CSV)?;
        let month = parse_month(&month.0)?;
        let (name, bytes) = export::month_csv(&state.db, tenant_id, auth.actor(), month).await?;
        Ok(CsvFile::Ok(attachment(name, bytes)))
    }

    /// The SEPA credit transfer file for the month's approved, unpaid statements (finance).
    /// Refused with 409, naming them, when an EPN's IBAN or the treasury account is missing or
    /// invalid. Audited.
    #[oai(
        path = "/reimbursements/:month/sepa",
        method = "get",
        operation_id = "reimbursementsSepa"
    )]
    async fn month_sepa(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// YYYY-MM.
        #[oai(validator(max_length = 7))]
        month: Path<String>,
    ) -> Result<XmlFile, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::MONTH_SEPA)?;
        let month = parse_month(&month.0)?;
        let file = sepa::month_file(&state.db, tenant_id, auth.actor(), month).await?;
        Ok(XmlFile::Ok(attachment(file.name, file.xml.into_bytes())))
    }

    /// The tenant's treasury account, debtor of the SEPA transfers (tenant admin; IBAN checked).
    #[oai(
        path = "/tenant/treasury",
        method = "put",
        operation_id = "setTreasuryAccount"
    )]
    async fn set_treasury(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<BankDetailsInput>,
    ) -> Result<TreasurySet, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_TREASURY)?;
        let bank = passerelle_core::epns::BankDetails {
            iban: body.0.iban,
            bic: body.0.bic,
            account_holder: body.0.account_holder,
        };
        reimbursements::set_treasury(&state.db, tenant_id, auth.actor(), &bank).await?;
        Ok(TreasurySet::NoContent)
    }
}
