//! Funders, each scheme's funding plan, and what the territory claims from each funder.

use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::funders::plan::{self, FundingLine, FundingShare, PlanVersion};
use passerelle_core::funders::{self, Funder, FunderKind, NewFunder, reconciliation};
use passerelle_core::reimbursements::funder_claims;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::beneficiaries::PublicCategory;
use super::schemas::Text;
use super::statements::{CsvFile, attachment, parse_month_of};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// What kind of organisation a funder is.
    #[oai(rename = "FunderKind", rename_all = "snake_case")]
    pub enum FunderKindDto mirrors FunderKind {
        /// The European social fund (FSE+) or another European fund.
        EuropeanFund,
        /// The State and its agencies.
        State,
        /// A family allowance fund (CAF).
        FamilyAllowanceFund,
        Region,
        Department,
        Commune,
        Other,
    }
}

/// An organisation that co-finances the territory's schemes.
#[derive(Debug, Object)]
pub struct FunderView {
    pub id: Uuid,
    /// Its name, unique in the territory.
    pub name: String,
    pub kind: FunderKindDto,
    /// Its SIRET, when given.
    #[oai(skip_serializing_if_is_none)]
    pub siret: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Funder> for FunderView {
    fn from(f: Funder) -> Self {
        Self {
            id: f.id,
            name: f.name,
            kind: f.kind.into(),
            siret: f.siret,
            created_at: f.created_at,
        }
    }
}

/// A new funder.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct FunderInput {
    /// Its name, unique in the territory (« FSE+ Occitanie », « CAF du Lot »).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Text,
    pub kind: FunderKindDto,
    /// Its SIRET, 14 digits.
    #[oai(validator(max_length = 14))]
    pub siret: Option<Text>,
}

/// The territory's funders.
#[derive(Debug, Object)]
pub struct FunderList {
    pub items: Vec<FunderView>,
}

/// One funder's part of a funding plan. Give either `share_basis_points` or
/// `fixed_cents_per_voucher`.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct FundingLineInput {
    /// One of the territory's funders, once per plan.
    pub funder_id: Uuid,
    /// Its share of each statement line, in basis points (2500 = 25 %).
    #[oai(validator(minimum(value = "1"), maximum(value = "10000")))]
    pub share_basis_points: Option<u32>,
    /// Or a fixed amount per voucher, in cents, taken from each line in proportion to the
    /// voucher's face value until it is reached.
    #[oai(validator(minimum(value = "1"), maximum(value = "100000000")))]
    pub fixed_cents_per_voucher: Option<i64>,
    /// The most it pays for the scheme, every voucher and month together, in cents; beyond it,
    /// its part goes to the next funder of the plan, then to the territory.
    #[oai(validator(minimum(value = "0"), maximum(value = "100000000000")))]
    pub cap_cents: Option<i64>,
    /// It pays for sessions from this day on.
    pub period_start: Option<NaiveDate>,
    /// It pays for sessions up to this day.
    pub period_end: Option<NaiveDate>,
    /// It co-finances only the vouchers of these publics (left out: every public).
    #[oai(validator(max_items = 20))]
    pub eligible_publics: Option<Vec<PublicCategory>>,
    /// It co-finances only the vouchers of these prescribers (left out: every prescriber).
    #[oai(validator(max_items = 1000))]
    pub eligible_prescribers: Option<Vec<Uuid>>,
}

impl FundingLineInput {
    fn into_domain(self, index: usize) -> Result<FundingLine, ApiError> {
        let share = match (self.share_basis_points, self.fixed_cents_per_voucher) {
            (Some(points), None) => FundingShare::BasisPoints(points),
            (None, Some(cents)) => FundingShare::FixedPerVoucher(cents),
            _ => {
                return Err(passerelle_core::Error::invalid(
                    format!("lines[{index}]"),
                    "either share_basis_points or fixed_cents_per_voucher",
                )
                .into());
            }
        };
        Ok(FundingLine {
            funder_id: self.funder_id,
            share,
            cap_cents: self.cap_cents,
            period_start: self.period_start,
            period_end: self.period_end,
            eligible_publics: self
                .eligible_publics
                .map(|p| p.into_iter().map(Into::into).collect()),
            eligible_prescribers: self.eligible_prescribers,
        })
    }
}

/// A new version of a scheme's funding plan.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct FundingPlanInput {
    /// The first issue day it applies to: today or later, not before the latest version's.
    pub effective_from: NaiveDate,
    /// The funders in cascade order; empty: the territory pays alone from that date.
    #[oai(validator(max_items = 20))]
    pub lines: Vec<FundingLineInput>,
}

/// One funder's part of a version.
#[derive(Debug, Object)]
pub struct FundingLineView {
    /// The funder.
    pub funder_id: Uuid,
    /// Its share of each line, in basis points.
    #[oai(skip_serializing_if_is_none)]
    pub share_basis_points: Option<u32>,
    /// Its fixed amount per voucher, in cents.
    #[oai(skip_serializing_if_is_none)]
    pub fixed_cents_per_voucher: Option<i64>,
    /// The most it pays for the scheme, in cents.
    #[oai(skip_serializing_if_is_none)]
    pub cap_cents: Option<i64>,
    /// It pays for sessions from this day on.
    #[oai(skip_serializing_if_is_none)]
    pub period_start: Option<NaiveDate>,
    /// It pays for sessions up to this day.
    #[oai(skip_serializing_if_is_none)]
    pub period_end: Option<NaiveDate>,
    /// The publics whose vouchers it co-finances (absent: every public).
    #[oai(skip_serializing_if_is_none)]
    pub eligible_publics: Option<Vec<PublicCategory>>,
    /// The prescribers whose vouchers it co-finances (absent: every prescriber).
    #[oai(skip_serializing_if_is_none)]
    pub eligible_prescribers: Option<Vec<Uuid>>,
}

/// A version of the plan: the vouchers issued from its date on keep its funders.
#[derive(Debug, Object)]
pub struct FundingVersionView {
    /// Its number, from 1.
    pub version: i32,
    /// The first issue day it applies to.
    pub effective_from: NaiveDate,
    pub created_at: DateTime<Utc>,
    /// In cascade order.
    pub lines: Vec<FundingLineView>,
}

/// Every version of a scheme's funding plan, oldest first.
#[derive(Debug, Object)]
pub struct FundingPlanView {
    /// Oldest first; the last one whose date has come applies to new vouchers.
    pub versions: Vec<FundingVersionView>,
}

impl From<Vec<PlanVersion>> for FundingPlanView {
    fn from(versions: Vec<PlanVersion>) -> Self {
        Self {
            versions: versions
                .into_iter()
                .map(|v| FundingVersionView {
                    version: v.version,
                    effective_from: v.effective_from,
                    created_at: v.created_at,
                    lines: v
                        .lines
                        .into_iter()
                        .map(|l| {
                            let (points, fixed) = match l.share {
                                FundingShare::BasisPoints(p) => (Some(p), None),
                                FundingShare::FixedPerVoucher(c) => (None, Some(c)),
                            };
                            FundingLineView {
                                funder_id: l.funder_id,
                                share_basis_points: points,
                                fixed_cents_per_voucher: fixed,
                                cap_cents: l.cap_cents,
                                period_start: l.period_start,
                                period_end: l.period_end,
                                eligible_publics: l
                                    .eligible_publics
                                    .map(|p| p.into_iter().map(Into::into).collect()),
                                eligible_prescribers: l.eligible_prescribers,
                            }
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// One party's figures at the month's end, in cents: committed = consumed + released +
/// outstanding.
#[derive(Debug, Object)]
pub struct ReconciliationFigures {
    /// The issued vouchers' face value (the party's expected share of it).
    pub committed_cents: i64,
    /// Its shares of the statement lines of the months up to this one, drafts included.
    pub consumed_cents: i64,
    /// What the vouchers expired or cancelled by the month's end did not consume: back to the
    /// envelope. Negative for a party that paid beyond its share when the funder before it
    /// reached its cap.
    pub released_cents: i64,
    /// Committed on the vouchers still valid, not yet consumed.
    pub outstanding_cents: i64,
}

impl From<reconciliation::Figures> for ReconciliationFigures {
    fn from(f: reconciliation::Figures) -> Self {
        Self {
            committed_cents: f.committed_cents,
            consumed_cents: f.consumed_cents,
            released_cents: f.released_cents,
            outstanding_cents: f.outstanding_cents,
        }
    }
}

/// A funder's row of the reconciliation.
#[derive(Debug, Object)]
pub struct ReconciliationFunder {
    /// The funder.
    pub funder_id: Uuid,
    /// Its name.
    pub name: String,
    pub figures: ReconciliationFigures,
    /// Its cap for the scheme, in the latest plan version a counted voucher was issued under.
    #[oai(skip_serializing_if_is_none)]
    pub envelope_cents: Option<i64>,
    /// The cap less what it consumed and what is outstanding (negative: over-committed).
    #[oai(skip_serializing_if_is_none)]
    pub remaining_cents: Option<i64>,
}

/// A scheme's reconciliation at the end of a month, per funder and for the territory.
#[derive(Debug, Object)]
pub struct ReconciliationView {
    /// The scheme.
    pub scheme_id: Uuid,
    /// The month's first day; the figures stand at its last day.
    pub month: NaiveDate,
    /// Vouchers issued by the month's end.
    pub vouchers_issued: i64,
    /// Of which expired or cancelled by then.
    pub vouchers_ended: i64,
    /// The funders co-financing at least one of the scheme's vouchers, by name.
    pub funders: Vec<ReconciliationFunder>,
    /// What no funder pays.
    pub territory: ReconciliationFigures,
    /// The whole scheme: the funders and the territory add up to it.
    pub total: ReconciliationFigures,
}

impl From<reconciliation::Reconciliation> for ReconciliationView {
    fn from(r: reconciliation::Reconciliation) -> Self {
        Self {
            scheme_id: r.scheme_id,
            month: r.month,
            vouchers_issued: r.vouchers_issued,
            vouchers_ended: r.vouchers_ended,
            funders: r
                .funders
                .into_iter()
                .map(|f| ReconciliationFunder {
                    funder_id: f.funder_id,
                    name: f.name,
                    figures: f.figures.into(),
                    envelope_cents: f.envelope_cents,
                    remaining_cents: f.remaining_cents,
                })
                .collect(),
            territory: r.territory.into(),
            total: r.total.into(),
        }
    }
}

/// The funder organisation a funder user belongs to.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct UserFunderInput {
    /// One of the territory's funders; null: the user reads the territory's published figures.
    pub funder_id: Option<Uuid>,
}

#[derive(ApiResponse)]
pub enum UserFunderSet {
    /// Saved: the user's next page or file is its funder's scope.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum FunderCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<FunderView>),
}

pub struct FundersApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Reimbursements")]
impl FundersApi {
    /// Adds a funder (tenant admin). Audited.
    #[oai(path = "/funders", method = "post", operation_id = "createFunder")]
    async fn create_funder(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<FunderInput>,
    ) -> Result<FunderCreated, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CREATE_FUNDER)?;
        let funder = funders::create(
            &state.db,
            tenant_id,
            auth.actor(),
            &NewFunder {
                name: body.0.name.0,
                kind: body.0.kind.into(),
                siret: body.0.siret.map(|s| s.0),
            },
        )
        .await?;
        Ok(FunderCreated::Created(Json(funder.into())))
    }

    /// The territory's funders (tenant admin, finance).
    #[oai(path = "/funders", method = "get", operation_id = "listFunders")]
    async fn list_funders(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<Json<FunderList>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_FUNDERS)?;
        let items = funders::list(&state.db, tenant_id).await?;
        Ok(Json(FunderList {
            items: items.into_iter().map(FunderView::from).collect(),
        }))
    }

    /// What the territory claims from a funder over a period of months: its share of each line of
    /// the approved and paid statements, with the lines as proof of service (day, EPN, session,
    /// minutes, voucher reference, never a name), a total per month and for the period. CSV for
    /// French Excel (finance, tenant admin). Audited.
    #[oai(
        path = "/funders/:funder_id/claims/csv",
        method = "get",
        operation_id = "funderClaimsCsv"
    )]
    async fn claims_csv(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The funder.
        funder_id: Path<Uuid>,
        /// The first month, YYYY-MM (required).
        #[oai(validator(max_length = 7))]
        from: Query<Option<String>>,
        /// The last month, YYYY-MM, at most 36 months after the first; the first by default.
        #[oai(validator(max_length = 7))]
        to: Query<Option<String>>,
    ) -> Result<CsvFile, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::FUNDER_CLAIMS_CSV)?;
        // An unknown funder is not found, whatever the months asked.
        funders::get(&state.db, tenant_id, funder_id.0).await?;
        let from = parse_month_of("from", from.0.as_deref().unwrap_or_default())?;
        let to = match to.0.as_deref() {
            Some(to) => parse_month_of("to", to)?,
            None => from,
        };
        let (name, bytes) =
            funder_claims::claims_csv(&state.db, tenant_id, auth.actor(), funder_id.0, from, to)
                .await?;
        Ok(CsvFile::Ok(attachment(name, bytes)))
    }

    /// Writes a new version of a scheme's funding plan (tenant admin): vouchers issued from its
    /// date on are co-financed by its funders, those issued before keep theirs. Audited.
    #[oai(
        path = "/schemes/:scheme_id/funding",
        method = "put",
        operation_id = "changeSchemeFunding",
        tag = "Tag::Schemes"
    )]
    async fn change_funding(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The scheme.
        scheme_id: Path<Uuid>,
        body: Json<FundingPlanInput>,
    ) -> Result<Json<FundingPlanView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CHANGE_SCHEME_FUNDING)?;
        let lines = body
            .0
            .lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| l.into_domain(i))
            .collect::<Result<Vec<_>, _>>()?;
        let versions = plan::change(
            &state.db,
            tenant_id,
            auth.actor(),
            scheme_id.0,
            body.0.effective_from,
            &lines,
        )
        .await?;
        Ok(Json(versions.into()))
    }

    /// The scheme's reconciliation at the end of a month (finance, tenant admin): for each funder
    /// and the territory, what was committed, consumed, released by vouchers expired or cancelled,
    /// and is outstanding, against the funder's envelope.
    #[oai(
        path = "/schemes/:scheme_id/reconciliation",
        method = "get",
        operation_id = "getSchemeReconciliation",
        tag = "Tag::Schemes"
    )]
    async fn reconciliation(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The scheme.
        scheme_id: Path<Uuid>,
        /// The month, YYYY-MM (required).
        #[oai(validator(max_length = 7))]
        month: Query<Option<String>>,
    ) -> Result<Json<ReconciliationView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_SCHEME_RECONCILIATION)?;
        // An unknown scheme is not found, whatever the month asked.
        plan::versions(&state.db, tenant_id, scheme_id.0).await?;
        let month = parse_month_of("month", month.0.as_deref().unwrap_or_default())?;
        let report = reconciliation::at_month_end(&state.db, tenant_id, scheme_id.0, month).await?;
        Ok(Json(report.into()))
    }

    /// The same reconciliation as CSV for French Excel. Audited.
    #[oai(
        path = "/schemes/:scheme_id/reconciliation/csv",
        method = "get",
        operation_id = "schemeReconciliationCsv",
        tag = "Tag::Schemes"
    )]
    async fn reconciliation_csv(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The scheme.
        scheme_id: Path<Uuid>,
        /// The month, YYYY-MM (required).
        #[oai(validator(max_length = 7))]
        month: Query<Option<String>>,
    ) -> Result<CsvFile, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SCHEME_RECONCILIATION_CSV)?;
        // An unknown scheme is not found, whatever the month asked.
        plan::versions(&state.db, tenant_id, scheme_id.0).await?;
        let month = parse_month_of("month", month.0.as_deref().unwrap_or_default())?;
        let (name, bytes) =
            reconciliation::export(&state.db, tenant_id, auth.actor(), scheme_id.0, month).await?;
        Ok(CsvFile::Ok(attachment(name, bytes)))
    }

    /// Binds a user with the funder role to its funder organisation (tenant admin): the
    /// dashboard and statistics files it reads are then that funder's scope, the vouchers it
    /// co-finances. Audited.
    #[oai(
        path = "/users/:user_id/funder",
        method = "put",
        operation_id = "setUserFunder",
        tag = "Tag::Users"
    )]
    async fn set_user_funder(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The user, of the funder role.
        user_id: Path<Uuid>,
        body: Json<UserFunderInput>,
    ) -> Result<UserFunderSet, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_USER_FUNDER)?;
        funders::assign_user(
            &state.db,
            tenant_id,
            auth.actor(),
            user_id.0,
            body.0.funder_id,
        )
        .await?;
        Ok(UserFunderSet::NoContent)
    }

    /// Every version of a scheme's funding plan (tenant admin, finance).
    #[oai(
        path = "/schemes/:scheme_id/funding",
        method = "get",
        operation_id = "getSchemeFunding",
        tag = "Tag::Schemes"
    )]
    async fn get_funding(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The scheme.
        scheme_id: Path<Uuid>,
    ) -> Result<Json<FundingPlanView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_SCHEME_FUNDING)?;
        let versions = plan::versions(&state.db, tenant_id, scheme_id.0).await?;
        Ok(Json(versions.into()))
    }
}
