//! Registration of a voucher at an EPN: the positioning interview, the modules chosen, a move to another EPN.

use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::delivery::AutonomyLevel as DomainAutonomyLevel;
use passerelle_core::delivery::registration::{self, Interview, RegisterRequest, Registration};
use passerelle_core::vouchers::{self, Visibility};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::{Tag, examples};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::v1::vouchers::VoucherStatusDto;

mirror_enum! {
    /// The person's autonomy with digital tools: `none` has never used a computer or a
    /// smartphone.
    #[oai(rename_all = "snake_case")]
    pub enum AutonomyLevel mirrors DomainAutonomyLevel {
        None,
        Beginner,
        Intermediate,
        Autonomous,
    }
}

/// The positioning interview held before the first session.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct InterviewInput {
    /// The day it was held (not before the voucher's issue).
    pub on: Option<NaiveDate>,
    /// How long it lasted, in minutes.
    #[oai(validator(minimum(value = "1"), maximum(value = "480")))]
    pub minutes: Option<i32>,
    pub autonomy_level: Option<AutonomyLevel>,
    #[oai(validator(max_length = 2000))]
    pub needs: Option<String>,
    #[oai(validator(max_length = 2000))]
    pub notes: Option<String>,
}

/// A voucher to register at the caller's EPN after the positioning interview.
#[derive(Debug, Object)]
#[oai(example, deny_unknown_fields)]
pub struct RegisterInput {
    /// As printed on the holder's letter; a typo is caught by the check character.
    #[oai(validator(min_length = 1, max_length = 40))]
    pub reference: String,
    /// The holder's last name, as a check that the voucher is theirs.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: String,
    pub interview: InterviewInput,
    /// Exactly the scheme's number of modules, among those this EPN offers.
    #[oai(validator(max_items = 200))]
    pub modules: Vec<i32>,
}

/// A voucher's registration at an EPN.
#[derive(Debug, Object)]
pub struct RegistrationView {
    pub id: Uuid,
    pub voucher_id: Uuid,
    pub epn_id: Uuid,
    /// When the voucher was registered here.
    pub registered_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub interview_on: Option<NaiveDate>,
    #[oai(skip_serializing_if_is_none)]
    pub interview_minutes: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub autonomy_level: Option<AutonomyLevel>,
    #[oai(skip_serializing_if_is_none)]
    pub needs: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub notes: Option<String>,
    /// When the registration ended.
    #[oai(skip_serializing_if_is_none)]
    pub ended_at: Option<DateTime<Utc>>,
    /// Why the registration ended (e.g. a move to another EPN).
    #[oai(skip_serializing_if_is_none)]
    pub end_reason: Option<String>,
}

impl From<Registration> for RegistrationView {
    fn from(r: Registration) -> Self {
        Self {
            id: r.id,
            voucher_id: r.voucher_id,
            epn_id: r.epn_id,
            registered_at: r.registered_at,
            interview_on: r.interview_on,
            interview_minutes: r.interview_minutes,
            autonomy_level: r.autonomy_level.map(Into::into),
            needs: r.needs,
            notes: r.notes,
            ended_at: r.ended_at,
            end_reason: r.end_reason,
        }
    }
}

/// The registration and the voucher's new status.
#[derive(Debug, Object)]
#[oai(example)]
pub struct RegisteredView {
    pub registration: RegistrationView,
    pub reference: String,
    pub status: VoucherStatusDto,
    pub minutes_left: i32,
    pub modules: Vec<i32>,
}

/// The modules a voucher's holder chose, replacing the former choice.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ModulesInput {
    #[oai(validator(max_items = 200))]
    pub modules: Vec<i32>,
}

/// The EPN a registered voucher moves to.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct MoveInput {
    pub epn_id: Uuid,
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

#[derive(ApiResponse)]
pub enum CreatedRegistration {
    /// The voucher is registered at the caller's EPN.
    #[oai(status = 201)]
    Created(Json<RegisteredView>),
}

pub struct RegistrationsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Delivery")]
impl RegistrationsApi {
    /// Registers a voucher at the caller's EPN after the positioning interview, with the modules
    /// chosen. The reference and the holder's last name identify the voucher.
    #[oai(
        path = "/registrations",
        method = "post",
        operation_id = "registerVoucher"
    )]
    async fn register(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<RegisterInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedRegistration, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REGISTER_VOUCHER)?;
        let epn_id = auth.epn_id()?;
        let b = body.0;
        let request = RegisterRequest {
            reference: b.reference,
            last_name: b.last_name,
            interview: Interview {
                on: b.interview.on,
                minutes: b.interview.minutes,
                autonomy_level: b.interview.autonomy_level.map(Into::into),
                needs: b.interview.needs,
                notes: b.interview.notes,
            },
            modules: b.modules,
        };
        let done =
            registration::register(&state.db, tenant_id, epn_id, auth.actor(), &request).await?;
        Ok(CreatedRegistration::Created(Json(RegisteredView {
            registration: done.registration.into(),
            reference: done.voucher.reference,
            status: done.voucher.status.into(),
            minutes_left: done.voucher.minutes_left,
            modules: done.modules,
        })))
    }

    /// Changes the modules chosen, while sessions remain on the voucher.
    #[oai(
        path = "/vouchers/:reference/modules",
        method = "post",
        operation_id = "changeVoucherModules"
    )]
    async fn change_modules(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        reference: Path<String>,
        body: Json<ModulesInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<ModulesInput>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CHANGE_VOUCHER_MODULES)?;
        let epn_id = auth.epn_id()?;
        let modules = registration::change_modules(
            &state.db,
            tenant_id,
            epn_id,
            auth.actor(),
            &reference.0,
            &body.0.modules,
        )
        .await?;
        Ok(Json(ModulesInput { modules }))
    }

    /// Moves a registered voucher to another EPN; the history is kept.
    #[oai(
        path = "/vouchers/:reference/move",
        method = "post",
        operation_id = "moveVoucher"
    )]
    async fn move_voucher(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        reference: Path<String>,
        body: Json<MoveInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<RegistrationView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::MOVE_VOUCHER)?;
        let moved = registration::move_to(
            &state.db,
            tenant_id,
            auth.actor(),
            &reference.0,
            body.0.epn_id,
            &body.0.reason,
        )
        .await?;
        Ok(Json(moved.into()))
    }

    /// Every registration of a voucher, oldest first.
    #[oai(
        path = "/vouchers/:reference/registrations",
        method = "get",
        operation_id = "listRegistrations"
    )]
    async fn registrations(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        reference: Path<String>,
    ) -> Result<Json<Vec<RegistrationView>>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_REGISTRATIONS)?;
        let voucher = vouchers::get(&state.db, tenant_id, &reference.0, Visibility::Tenant).await?;
        let history = registration::history(&state.db, tenant_id, voucher.id).await?;
        if let Some(epn) = auth.epn_scope()
            && !history.iter().any(|r| r.epn_id == epn)
        {
            return Err(passerelle_core::Error::NotFound("voucher").into());
        }
        Ok(Json(history.into_iter().map(Into::into).collect()))
    }
}

impl Example for RegisterInput {
    fn example() -> Self {
        Self {
            reference: examples::REFERENCE.into(),
            last_name: "Lacombe".into(),
            interview: InterviewInput {
                on: Some(examples::issued_on()),
                minutes: Some(30),
                autonomy_level: Some(AutonomyLevel::Beginner),
                needs: Some(
                    "Faire ses démarches de retraite en ligne, échanger avec ses petits-enfants."
                        .into(),
                ),
                notes: None,
            },
            modules: (1..=10).collect(),
        }
    }
}

impl Example for RegisteredView {
    fn example() -> Self {
        let input = RegisterInput::example();
        Self {
            registration: RegistrationView {
                id: examples::REGISTRATION_ID,
                voucher_id: examples::VOUCHER_ID,
                epn_id: examples::EPN_ID,
                registered_at: examples::issued_at(),
                interview_on: input.interview.on,
                interview_minutes: input.interview.minutes,
                autonomy_level: input.interview.autonomy_level,
                needs: input.interview.needs,
                notes: None,
                ended_at: None,
                end_reason: None,
            },
            reference: examples::REFERENCE.into(),
            status: VoucherStatusDto::Registered,
            minutes_left: 1200,
            modules: input.modules,
        }
    }
}
