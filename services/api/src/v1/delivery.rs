use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::delivery::attendance::{self, Entry};
use passerelle_core::delivery::registration::{self, Interview, RegisterRequest, Registration};
use passerelle_core::delivery::sessions::{self, NewSession, Session};
use passerelle_core::pagination::PageRequest;
use passerelle_core::vouchers::{self, Visibility};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::v1::vouchers::VoucherStatusDto;

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AutonomyLevel {
    None,
    Beginner,
    Intermediate,
    Autonomous,
}

impl AutonomyLevel {
    fn as_str(self) -> &'static str {
        match self {
            AutonomyLevel::None => "none",
            AutonomyLevel::Beginner => "beginner",
            AutonomyLevel::Intermediate => "intermediate",
            AutonomyLevel::Autonomous => "autonomous",
        }
    }
}

/// The positioning interview held before the first session.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct InterviewInput {
    pub on: Option<NaiveDate>,
    #[oai(validator(minimum(value = "1"), maximum(value = "480")))]
    pub minutes: Option<i32>,
    pub autonomy_level: Option<AutonomyLevel>,
    #[oai(validator(max_length = 2000))]
    pub needs: Option<String>,
    #[oai(validator(max_length = 2000))]
    pub notes: Option<String>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
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

#[derive(Debug, Object)]
pub struct RegistrationView {
    pub id: Uuid,
    pub voucher_id: Uuid,
    pub epn_id: Uuid,
    pub registered_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub interview_on: Option<NaiveDate>,
    #[oai(skip_serializing_if_is_none)]
    pub interview_minutes: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub autonomy_level: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub needs: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub notes: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub ended_at: Option<DateTime<Utc>>,
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
            autonomy_level: r.autonomy_level,
            needs: r.needs,
            notes: r.notes,
            ended_at: r.ended_at,
            end_reason: r.end_reason,
        }
    }
}

#[derive(Debug, Object)]
pub struct RegisteredView {
    pub registration: RegistrationView,
    pub reference: String,
    pub status: VoucherStatusDto,
    pub minutes_left: i32,
    pub modules: Vec<i32>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ModulesInput {
    #[oai(validator(max_items = 200))]
    pub modules: Vec<i32>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct MoveInput {
    pub epn_id: Uuid,
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct SessionInput {
    pub scheme_id: Uuid,
    pub module_number: Option<i32>,
    pub starts_at: DateTime<Utc>,
    /// The scheme's session length when absent.
    #[oai(validator(minimum(value = "1"), maximum(value = "1440")))]
    pub duration_minutes: Option<i32>,
    #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
    pub capacity: i32,
    #[oai(validator(max_length = 200))]
    pub animator: Option<String>,
    #[oai(validator(max_length = 200))]
    pub place: Option<String>,
}

#[derive(Debug, Object)]
pub struct SessionView {
    pub id: Uuid,
    pub epn_id: Uuid,
    pub scheme_id: Uuid,
    #[oai(skip_serializing_if_is_none)]
    pub module_number: Option<i32>,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub capacity: i32,
    #[oai(skip_serializing_if_is_none)]
    pub animator: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub place: Option<String>,
    pub status: String,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        Self {
            id: s.id,
            epn_id: s.epn_id,
            scheme_id: s.scheme_id,
            module_number: s.module_number,
            starts_at: s.starts_at,
            duration_minutes: s.duration_minutes,
            capacity: s.capacity,
            animator: s.animator,
            place: s.place,
            status: s.status,
        }
    }
}

#[derive(Debug, Object)]
pub struct SessionPage {
    pub items: Vec<SessionView>,
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct EnrolInput {
    #[oai(validator(min_length = 1, max_length = 40))]
    pub reference: String,
}

#[derive(Debug, Object)]
pub struct EnrolledView {
    pub enrolled: i64,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SessionStatusInput {
    Held,
    Cancelled,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct SessionStatusBody {
    pub status: SessionStatusInput,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Presence {
    Present,
    Absent,
    Excused,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Level {
    Discovered,
    Practised,
    Acquired,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CompetenceInput {
    /// A competence of the scheme's referential, e.g. `2.1` (CRCN: Interagir).
    #[oai(validator(min_length = 1, max_length = 10))]
    pub code: String,
    pub level: Level,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AttendanceEntryInput {
    #[oai(validator(min_length = 1, max_length = 40))]
    pub reference: String,
    pub status: Presence,
    #[oai(default, validator(max_items = 16))]
    pub competences: Vec<CompetenceInput>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AttendanceSheet {
    #[oai(validator(min_items = 1, max_items = 100))]
    pub entries: Vec<AttendanceEntryInput>,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Outcome {
    Recorded,
    Refused,
}

/// One line of the sheet: recorded (with the voucher's new balance) or refused (with the problem).
#[derive(Debug, Object)]
pub struct AttendanceResult {
    pub reference: String,
    pub outcome: Outcome,
    #[oai(skip_serializing_if_is_none)]
    pub attendance_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub minutes_debited: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub minutes_left: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub voucher_status: Option<VoucherStatusDto>,
    #[oai(skip_serializing_if_is_none)]
    pub problem: Option<Problem>,
}

#[derive(Debug, Object)]
pub struct AttendanceReport {
    pub recorded: usize,
    pub refused: usize,
    pub results: Vec<AttendanceResult>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct VoidInput {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

#[derive(Debug, Object)]
pub struct VoidedView {
    pub id: Uuid,
    pub voucher_id: Uuid,
    pub minutes_returned: i32,
    pub voided_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreatedRegistration {
    /// The voucher is registered at the caller's EPN.
    #[oai(status = 201)]
    Created(Json<RegisteredView>),
}

#[derive(ApiResponse)]
pub enum CreatedSession {
    #[oai(status = 201)]
    Created(Json<SessionView>, #[oai(header = "Location")] String),
}

pub fn level_str(level: Level) -> &'static str {
    match level {
        Level::Discovered => "discovered",
        Level::Practised => "practised",
        Level::Acquired => "acquired",
    }
}

impl AttendanceResult {
    /// One line's outcome; a refused line's reference is set by the caller, who knows what was sent.
    pub fn from_outcome(outcome: Result<attendance::Recorded, passerelle_core::Error>) -> Self {
        match outcome {
            Ok(r) => Self {
                reference: r.reference,
                outcome: Outcome::Recorded,
                attendance_id: Some(r.attendance.id),
                minutes_debited: Some(r.attendance.minutes_debited),
                minutes_left: Some(r.minutes_left),
                voucher_status: Some(r.voucher_status.into()),
                problem: None,
            },
            Err(err) => Self {
                reference: String::new(),
                outcome: Outcome::Refused,
                attendance_id: None,
                minutes_debited: None,
                minutes_left: None,
                voucher_status: None,
                problem: Some(ApiError::from(err).to_problem()),
            },
        }
    }
}

pub struct DeliveryApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Delivery")]
impl DeliveryApi {
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
                autonomy_level: b.interview.autonomy_level.map(|l| l.as_str().to_owned()),
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

    /// Plans a session at the caller's EPN.
    #[oai(path = "/sessions", method = "post", operation_id = "createSession")]
    async fn create_session(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<SessionInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedSession, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CREATE_SESSION)?;
        let epn_id = auth.epn_id()?;
        let b = body.0;
        let new = NewSession {
            scheme_id: b.scheme_id,
            module_number: b.module_number,
            starts_at: b.starts_at,
            duration_minutes: b.duration_minutes,
            capacity: b.capacity,
            animator: b.animator,
            place: b.place,
        };
        let session = sessions::create(&state.db, tenant_id, epn_id, auth.actor(), &new).await?;
        let location = format!("/v1/sessions/{}", session.id);
        Ok(CreatedSession::Created(Json(session.into()), location))
    }

    /// Sessions, oldest first (EPN staff see their EPN's only).
    #[oai(path = "/sessions", method = "get", operation_id = "listSessions")]
    async fn list_sessions(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Page size, 1 to 100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        #[oai(validator(max_length = 64))]
        cursor: Query<Option<String>>,
    ) -> Result<Json<SessionPage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_SESSIONS)?;
        let page = PageRequest::parse(limit.0, cursor.0.as_deref())?;
        let page = sessions::list(&state.db, tenant_id, auth.epn_scope(), page)
            .await?
            .map(SessionView::from);
        Ok(Json(SessionPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }

    /// One session.
    #[oai(
        path = "/sessions/:session_id",
        method = "get",
        operation_id = "getSession"
    )]
    async fn get_session(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        session_id: Path<Uuid>,
    ) -> Result<Json<SessionView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_SESSION)?;
        Ok(Json(
            sessions::get(&state.db, tenant_id, auth.epn_scope(), session_id.0)
                .await?
                .into(),
        ))
    }

    /// Books a registered voucher on a session, within its capacity.
    #[oai(
        path = "/sessions/:session_id/enrolments",
        method = "post",
        operation_id = "enrolInSession"
    )]
    async fn enrol(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        session_id: Path<Uuid>,
        body: Json<EnrolInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<EnrolledView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::ENROL_IN_SESSION)?;
        let epn_id = auth.epn_id()?;
        let enrolled = sessions::enrol(
            &state.db,
            tenant_id,
            epn_id,
            session_id.0,
            &body.0.reference,
        )
        .await?;
        Ok(Json(EnrolledView { enrolled }))
    }

    /// Marks a session held or cancelled.
    #[oai(
        path = "/sessions/:session_id/status",
        method = "post",
        operation_id = "setSessionStatus"
    )]
    async fn set_session_status(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        session_id: Path<Uuid>,
        body: Json<SessionStatusBody>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<SessionView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_SESSION_STATUS)?;
        let epn_id = auth.epn_id()?;
        let status = match body.0.status {
            SessionStatusInput::Held => "held",
            SessionStatusInput::Cancelled => "cancelled",
        };
        Ok(Json(
            sessions::set_status(
                &state.db,
                tenant_id,
                epn_id,
                auth.actor(),
                session_id.0,
                status,
            )
            .await?
            .into(),
        ))
    }

    /// Records the attendance sheet of a session. `present` debits the session's minutes from the
    /// voucher, exactly once; each line is recorded or refused on its own, with the reason. Send an
    /// `Idempotency-Key` so that a sheet resent after a network failure is answered, not re-run.
    #[oai(
        path = "/sessions/:session_id/attendance",
        method = "post",
        operation_id = "recordAttendance"
    )]
    async fn record_attendance(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        session_id: Path<Uuid>,
        body: Json<AttendanceSheet>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<AttendanceReport>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::RECORD_ATTENDANCE)?;
        let epn_id = auth.epn_id()?;
        let entries: Vec<Entry> = body
            .0
            .entries
            .into_iter()
            .map(|e| Entry {
                reference: e.reference,
                status: match e.status {
                    Presence::Present => "present",
                    Presence::Absent => "absent",
                    Presence::Excused => "excused",
                }
                .to_owned(),
                competences: e
                    .competences
                    .into_iter()
                    .map(|c| (c.code, level_str(c.level).to_owned()))
                    .collect(),
            })
            .collect();
        let outcomes = attendance::record(
            &state.db,
            tenant_id,
            epn_id,
            auth.actor(),
            session_id.0,
            &entries,
        )
        .await?;
        let results: Vec<AttendanceResult> = entries
            .iter()
            .zip(outcomes)
            .map(|(entry, outcome)| {
                let mut result = AttendanceResult::from_outcome(outcome);
                if result.reference.is_empty() {
                    result.reference.clone_from(&entry.reference);
                }
                result
            })
            .collect();
        let recorded = results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Recorded))
            .count();
        Ok(Json(AttendanceReport {
            recorded,
            refused: results.len() - recorded,
            results,
        }))
    }

    /// Voids a recorded attendance (reason required, audited) and gives its minutes back.
    #[oai(
        path = "/attendances/:attendance_id/void",
        method = "post",
        operation_id = "voidAttendance"
    )]
    async fn void_attendance(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        attendance_id: Path<Uuid>,
        body: Json<VoidInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<VoidedView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::VOID_ATTENDANCE)?;
        let voided = attendance::void(
            &state.db,
            tenant_id,
            auth.epn_scope(),
            auth.actor(),
            attendance_id.0,
            &body.0.reason,
        )
        .await?;
        Ok(Json(VoidedView {
            id: voided.id,
            voucher_id: voided.voucher_id,
            minutes_returned: voided.minutes_debited,
            voided_at: voided.voided_at,
            void_reason: voided.void_reason,
        }))
    }
}
