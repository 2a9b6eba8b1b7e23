use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::schemes::rules::{DeliveryModes, GroupSize, SchemeRules, Validity};
use passerelle_core::schemes::{
    self, Module, NewScheme, Scheme, SchemeDetail, SchemeStatus, SchemeVersion,
};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::beneficiaries::PublicCategory;
use super::schemas::{PageCursor, PageLimit, page_request};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

/// How a voucher's validity is counted: from its issue or until a fixed date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ValidityKind {
    MonthsAfterIssue,
    FixedEndDate,
}

/// How long a voucher stays valid.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ValidityDto {
    pub kind: ValidityKind,
    /// For `months_after_issue`: valid until the end of the day N months after issue.
    #[oai(validator(minimum(value = "1"), maximum(value = "120")))]
    pub months: Option<u32>,
    /// For `fixed_end_date`: the last valid day.
    pub until: Option<NaiveDate>,
}

/// The size range of a collective project's group.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct GroupSizeDto {
    /// The fewest members a group may have.
    #[oai(validator(maximum(value = "1000")))]
    pub min: u32,
    /// The most members a group may have.
    #[oai(validator(maximum(value = "1000")))]
    pub max: u32,
}

/// How the scheme is delivered: individual vouchers, collective projects, personalised
/// accompaniment.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct DeliveryModesDto {
    /// Vouchers are issued to people one by one (Ticket Net, Pass Numérique).
    pub individual_vouchers: bool,
    /// Collective projects with a group size range (Pass Numérique).
    pub collective_projects: Option<GroupSizeDto>,
    /// Personalised accompaniment, in minutes (Pass Numérique: 120).
    #[oai(validator(maximum(value = "6000")))]
    pub accompaniment_minutes: Option<u32>,
}

/// Every setting of a scheme. Money in cents, durations in minutes.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct RulesDto {
    /// A voucher's face value, in cents (Ticket Net: 20000 = 200 €).
    pub face_value_cents: i64,
    /// Time on a voucher (Ticket Net: 1200 = 20 hours).
    #[oai(validator(maximum(value = "100000")))]
    pub voucher_minutes: u32,
    /// A session's usual length, in minutes.
    #[oai(validator(maximum(value = "1440")))]
    pub session_minutes: u32,
    pub validity: ValidityDto,
    #[oai(validator(maximum(value = "1440")))]
    pub interview_minutes: u32,
    /// Whether a voucher is registered only after a positioning interview.
    pub interview_required: bool,
    /// How many modules the holder chooses at registration.
    #[oai(validator(maximum(value = "200")))]
    pub modules_to_choose: u32,
    pub delivery_modes: DeliveryModesDto,
    /// The most a holder may be asked to pay, in cents.
    pub participation_fee_cap_cents: i64,
    /// The publics the scheme is for, at least one.
    #[oai(validator(max_items = 8))]
    pub eligible_categories: Vec<PublicCategory>,
    /// Days before the end of validity on which holders are reminded (e.g. 60, 30, 7).
    #[oai(validator(max_items = 10))]
    pub reminder_days: Vec<u32>,
    /// What an EPN is paid per hour attended, in cents.
    pub hourly_rate_cents: i64,
    /// What an EPN is paid for a positioning interview, in cents.
    pub interview_fee_cents: i64,
    /// Whether absent and excused minutes are paid to the EPN (default: no).
    #[oai(default)]
    pub pay_absences: bool,
    /// The scheme's budget; none means unlimited.
    pub budget_envelope_cents: Option<i64>,
    /// Days after a session held within validity during which its attendance may still be
    /// recorded once the voucher has expired (0 to 60; default 7).
    #[oai(default = "default_grace_days", validator(maximum(value = "60")))]
    pub attendance_grace_days: u32,
}

fn default_grace_days() -> u32 {
    passerelle_core::schemes::rules::DEFAULT_ATTENDANCE_GRACE_DAYS
}

impl TryFrom<RulesDto> for SchemeRules {
    type Error = ApiError;

    fn try_from(r: RulesDto) -> Result<Self, ApiError> {
        let validity = match (r.validity.kind, r.validity.months, r.validity.until) {
            (ValidityKind::MonthsAfterIssue, Some(months), None) => {
                Validity::MonthsAfterIssue { months }
            }
            (ValidityKind::FixedEndDate, None, Some(until)) => Validity::FixedEndDate { until },
            (ValidityKind::MonthsAfterIssue, _, _) => {
                return Err(passerelle_core::Error::invalid(
                    "validity",
                    "months_after_issue takes `months` only",
                )
                .into());
            }
            (ValidityKind::FixedEndDate, _, _) => {
                return Err(passerelle_core::Error::invalid(
                    "validity",
                    "fixed_end_date takes `until` only",
                )
                .into());
            }
        };
        Ok(SchemeRules {
            face_value_cents: r.face_value_cents,
            voucher_minutes: r.voucher_minutes,
            session_minutes: r.session_minutes,
            validity,
            interview_minutes: r.interview_minutes,
            interview_required: r.interview_required,
            modules_to_choose: r.modules_to_choose,
            delivery_modes: DeliveryModes {
                individual_vouchers: r.delivery_modes.individual_vouchers,
                collective_projects: r.delivery_modes.collective_projects.map(|g| GroupSize {
                    min: g.min,
                    max: g.max,
                }),
                accompaniment_minutes: r.delivery_modes.accompaniment_minutes,
            },
            participation_fee_cap_cents: r.participation_fee_cap_cents,
            eligible_categories: r.eligible_categories.into_iter().map(Into::into).collect(),
            reminder_days: r.reminder_days,
            hourly_rate_cents: r.hourly_rate_cents,
            interview_fee_cents: r.interview_fee_cents,
            pay_absences: r.pay_absences,
            budget_envelope_cents: r.budget_envelope_cents,
            attendance_grace_days: r.attendance_grace_days,
        })
    }
}

impl From<SchemeRules> for RulesDto {
    fn from(r: SchemeRules) -> Self {
        let validity = match r.validity {
            Validity::MonthsAfterIssue { months } => ValidityDto {
                kind: ValidityKind::MonthsAfterIssue,
                months: Some(months),
                until: None,
            },
            Validity::FixedEndDate { until } => ValidityDto {
                kind: ValidityKind::FixedEndDate,
                months: None,
                until: Some(until),
            },
        };
        Self {
            face_value_cents: r.face_value_cents,
            voucher_minutes: r.voucher_minutes,
            session_minutes: r.session_minutes,
            validity,
            interview_minutes: r.interview_minutes,
            interview_required: r.interview_required,
            modules_to_choose: r.modules_to_choose,
            delivery_modes: DeliveryModesDto {
                individual_vouchers: r.delivery_modes.individual_vouchers,
                collective_projects: r.delivery_modes.collective_projects.map(|g| GroupSizeDto {
                    min: g.min,
                    max: g.max,
                }),
                accompaniment_minutes: r.delivery_modes.accompaniment_minutes,
            },
            participation_fee_cap_cents: r.participation_fee_cap_cents,
            eligible_categories: r.eligible_categories.into_iter().map(Into::into).collect(),
            reminder_days: r.reminder_days,
            hourly_rate_cents: r.hourly_rate_cents,
            interview_fee_cents: r.interview_fee_cents,
            pay_absences: r.pay_absences,
            budget_envelope_cents: r.budget_envelope_cents,
            attendance_grace_days: r.attendance_grace_days,
        }
    }
}

/// A module of the scheme's catalogue.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ModuleDto {
    /// Its number in the catalogue, from 1.
    #[oai(validator(minimum(value = "1"), maximum(value = "999")))]
    pub number: i32,
    /// Its title, as the holder reads it.
    #[oai(validator(min_length = 1, max_length = 300))]
    pub title: String,
    /// The theme the module belongs to (e.g. `Démarches en ligne`).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub family: String,
    /// Resources for the awareness kit (https links).
    #[oai(default, validator(max_items = 10))]
    pub resource_links: Vec<String>,
    /// What the person learns there, in a few sentences: the awareness kit shows it under the
    /// title.
    #[oai(skip_serializing_if_is_none, validator(max_length = 1000))]
    pub description: Option<String>,
}

impl From<Module> for ModuleDto {
    fn from(m: Module) -> Self {
        Self {
            number: m.number,
            title: m.title,
            family: m.family,
            resource_links: m.resource_links,
            description: m.description,
        }
    }
}

impl From<ModuleDto> for Module {
    fn from(m: ModuleDto) -> Self {
        Self {
            number: m.number,
            title: m.title,
            family: m.family,
            resource_links: m.resource_links,
            description: m.description,
        }
    }
}

/// Who funds the scheme's requests from the public form.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PublicRequestFunding {
    /// The prescriber whose allocation funds them; none (or absent) to let only tenant admins
    /// accept them, choosing each time.
    pub prescriber_id: Option<Uuid>,
}

/// The whole module catalogue, as it should be from now on.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ReplaceModules {
    /// Every module: those kept by their number (with their texts as given), new numbers added;
    /// a number left out is removed, unless it is in use (409 `modules-in-use`).
    #[oai(validator(max_items = 200))]
    pub modules: Vec<ModuleDto>,
}

/// A preset to start a scheme from; `rules` or `modules`, if given, replace the preset's. (A
/// property that names an enum carries no description of its own: generators refuse the `allOf`
/// a described reference becomes.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum PresetDto {
    #[oai(rename = "ticket-net")]
    TicketNet,
    #[oai(rename = "pass-numerique")]
    PassNumerique,
}

mirror_enum! {
    /// A scheme's status: draft → active → closed (a draft may be closed without opening).
    #[oai(rename = "SchemeStatus", rename_all = "snake_case")]
    pub enum SchemeStatusDto mirrors SchemeStatus {
        Draft,
        Active,
        Closed,
    }
}

/// A new scheme: from a preset (Ticket Net, Pass Numérique) or with its own rules and modules.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateScheme {
    /// A short code, unique in the tenant, used in file names (e.g. `ticket-net`).
    #[oai(validator(min_length = 2, max_length = 63))]
    pub code: String,
    /// The scheme's name, as people read it (e.g. `Ticket Net`).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    pub preset: Option<PresetDto>,
    pub rules: Option<RulesDto>,
    #[oai(validator(max_items = 200))]
    pub modules: Option<Vec<ModuleDto>>,
    /// When the first version of the rules takes effect (default: today).
    pub effective_from: Option<NaiveDate>,
    /// The competency referential sessions are assessed against (default `crcn`).
    #[oai(validator(max_length = 32))]
    pub referential: Option<String>,
}

/// A new version of a scheme's rules, in force from a date.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ChangeRules {
    /// Today or later; after the latest version's start.
    pub effective_from: NaiveDate,
    pub rules: RulesDto,
}

/// A scheme's new status.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct SetStatus {
    pub status: SchemeStatusDto,
}

/// A version of a scheme's rules, in force from a date.
#[derive(Debug, Object)]
pub struct VersionView {
    /// Its number, from 1.
    pub version: i32,
    /// The first day these rules apply (to vouchers issued from that day).
    pub effective_from: NaiveDate,
    pub rules: RulesDto,
    pub created_at: DateTime<Utc>,
}

impl From<SchemeVersion> for VersionView {
    fn from(v: SchemeVersion) -> Self {
        Self {
            version: v.version,
            effective_from: v.effective_from,
            rules: v.rules.0.into(),
            created_at: v.created_at,
        }
    }
}

/// A scheme as lists show it.
#[derive(Debug, Object)]
pub struct SchemeSummary {
    pub id: Uuid,
    /// Its short code, unique in the tenant.
    pub code: String,
    /// Its name, as people read it.
    pub name: String,
    pub status: SchemeStatusDto,
    /// The preset it was created from, if any.
    #[oai(skip_serializing_if_is_none)]
    pub preset: Option<String>,
    /// The competency referential its sessions are assessed against (e.g. `crcn`).
    pub referential: String,
    pub created_at: DateTime<Utc>,
}

impl From<Scheme> for SchemeSummary {
    fn from(s: Scheme) -> Self {
        Self {
            id: s.id,
            code: s.code,
            name: s.name,
            status: s.status.into(),
            preset: s.preset,
            referential: s.referential_code,
            created_at: s.created_at,
        }
    }
}

/// A scheme with its versions of rules and its module catalogue.
#[derive(Debug, Object)]
pub struct SchemeView {
    #[oai(flatten)]
    pub scheme: SchemeSummary,
    /// The rules in force today; absent while every version starts in the future.
    #[oai(skip_serializing_if_is_none)]
    pub current: Option<VersionView>,
    /// Its versions of rules, oldest first.
    pub versions: Vec<VersionView>,
    pub modules: Vec<ModuleDto>,
    /// The prescriber whose allocation funds requests from the public form, when one is
    /// designated: EPNs then accept those requests themselves.
    #[oai(skip_serializing_if_is_none)]
    pub public_requests_funded_by: Option<Uuid>,
}

impl From<SchemeDetail> for SchemeView {
    fn from(d: SchemeDetail) -> Self {
        Self {
            public_requests_funded_by: d.scheme.public_requests_funded_by,
            scheme: d.scheme.into(),
            current: d.current.map(Into::into),
            versions: d.versions.into_iter().map(Into::into).collect(),
            modules: d.modules.into_iter().map(Into::into).collect(),
        }
    }
}

pub type SchemePage = super::schemas::Page<SchemeSummary>;

#[derive(ApiResponse)]
pub enum CreatedScheme {
    /// The scheme was created, in draft.
    #[oai(status = 201)]
    Created(Json<SchemeView>, #[oai(header = "Location")] String),
}

/// A scheme's new name.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RenameScheme {
    /// The name people read on letters, pages and emails (e.g. `Ticket Net 2027`).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
}

pub struct SchemesApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Schemes")]
impl SchemesApi {
    /// Creates a scheme in draft, from a preset or from explicit rules and modules.
    #[oai(path = "/schemes", method = "post", operation_id = "createScheme")]
    async fn create_scheme(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<CreateScheme>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedScheme, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CREATE_SCHEME)?;
        let body = body.0;
        let new = NewScheme {
            code: body.code,
            name: body.name,
            preset: body.preset.map(|p| match p {
                PresetDto::TicketNet => "ticket-net".to_owned(),
                PresetDto::PassNumerique => "pass-numerique".to_owned(),
            }),
            rules: body.rules.map(SchemeRules::try_from).transpose()?,
            modules: body
                .modules
                .map(|m| m.into_iter().map(Into::into).collect()),
            effective_from: body.effective_from,
            referential: body.referential,
        };
        let detail = schemes::create(&state.db, tenant_id, auth.actor(), new).await?;
        let location = format!("/v1/schemes/{}", detail.scheme.id);
        Ok(CreatedScheme::Created(Json(detail.into()), location))
    }

    /// Lists the tenant's schemes, oldest first.
    #[oai(path = "/schemes", method = "get", operation_id = "listSchemes")]
    async fn list_schemes(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<SchemePage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_SCHEMES)?;
        let page = page_request(limit.0, cursor.0)?;
        let page = schemes::list(&state.db, tenant_id, page)
            .await?
            .map(SchemeSummary::from);
        Ok(Json(SchemePage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }

    /// A scheme with its rules in force, every version and its module catalogue.
    #[oai(
        path = "/schemes/:scheme_id",
        method = "get",
        operation_id = "getScheme"
    )]
    async fn get_scheme(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        scheme_id: Path<Uuid>,
    ) -> Result<Json<SchemeView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_SCHEME)?;
        Ok(Json(
            schemes::get(&state.db, tenant_id, scheme_id.0)
                .await?
                .into(),
        ))
    }

    /// Renames a scheme: the name its letters, pages and emails show. Its code, in the public
    /// addresses, stays. Audited before and after.
    #[oai(
        path = "/schemes/:scheme_id",
        method = "patch",
        operation_id = "renameScheme"
    )]
    async fn rename_scheme(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        scheme_id: Path<Uuid>,
        body: Json<RenameScheme>,
    ) -> Result<Json<SchemeView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::RENAME_SCHEME)?;
        Ok(Json(
            schemes::rename(
                &state.db,
                tenant_id,
                auth.actor(),
                scheme_id.0,
                &body.0.name,
            )
            .await?
            .into(),
        ))
    }

    /// Changes the rules from a date on: a new version. Vouchers already issued keep theirs.
    #[oai(
        path = "/schemes/:scheme_id/versions",
        method = "post",
        operation_id = "changeSchemeRules"
    )]
    async fn change_rules(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        scheme_id: Path<Uuid>,
        body: Json<ChangeRules>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<SchemeView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CHANGE_SCHEME_RULES)?;
        let body = body.0;
        let rules = SchemeRules::try_from(body.rules)?;
        let detail = schemes::change_rules(
            &state.db,
            tenant_id,
            auth.actor(),
            scheme_id.0,
            body.effective_from,
            rules,
        )
        .await?;
        Ok(Json(detail.into()))
    }

    /// Replaces the module catalogue: texts and links can change at any time (the public awareness
    /// kit shows them), modules can be added, and a module no EPN offers, no voucher chose and no
    /// session uses can be removed. Every version of the rules must still have enough modules to
    /// choose among. Audited.
    #[oai(
        path = "/schemes/:scheme_id/modules",
        method = "put",
        operation_id = "replaceSchemeModules"
    )]
    async fn replace_modules(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        scheme_id: Path<Uuid>,
        body: Json<ReplaceModules>,
    ) -> Result<Json<SchemeView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REPLACE_SCHEME_MODULES)?;
        let modules = body.0.modules.into_iter().map(Into::into).collect();
        let detail =
            schemes::catalogue::replace(&state.db, tenant_id, auth.actor(), scheme_id.0, modules)
                .await?;
        Ok(Json(detail.into()))
    }

    /// Designates the prescriber whose allocation funds the requests that reach the scheme through
    /// the public form, so that EPNs accept them without the territory (or none). Audited.
    #[oai(
        path = "/schemes/:scheme_id/public-request-funding",
        method = "put",
        operation_id = "setPublicRequestFunding"
    )]
    async fn set_public_request_funding(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        scheme_id: Path<Uuid>,
        body: Json<PublicRequestFunding>,
    ) -> Result<Json<SchemeView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_PUBLIC_REQUEST_FUNDING)?;
        let detail = schemes::set_public_request_funding(
            &state.db,
            tenant_id,
            auth.actor(),
            scheme_id.0,
            body.0.prescriber_id,
        )
        .await?;
        Ok(Json(detail.into()))
    }

    /// Moves a scheme draft → active → closed. Vouchers are issued only from active schemes.
    #[oai(
        path = "/schemes/:scheme_id/status",
        method = "post",
        operation_id = "setSchemeStatus"
    )]
    async fn set_status(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        scheme_id: Path<Uuid>,
        body: Json<SetStatus>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<SchemeView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_SCHEME_STATUS)?;
        let detail = schemes::set_status(
            &state.db,
            tenant_id,
            auth.actor(),
            scheme_id.0,
            body.0.status.into(),
        )
        .await?;
        Ok(Json(detail.into()))
    }
}
