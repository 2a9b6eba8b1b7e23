//! The attendance sheet of a session, line by line, and its voiding.

use chrono::{DateTime, Utc};
use passerelle_core::delivery::attendance::{self, Entry};
use passerelle_core::delivery::{AttendanceStatus, CompetenceLevel};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::{Tag, examples};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::v1::vouchers::VoucherStatusDto;

mirror_enum! {
    /// How the person attended: only `present` debits the session's minutes from the voucher.
    #[oai(rename_all = "snake_case")]
    pub enum Presence mirrors AttendanceStatus {
        Present,
        Absent,
        Excused,
    }
}

mirror_enum! {
    /// How far the person got with the competence in this session, from `discovered` to `acquired`.
    #[oai(rename_all = "snake_case")]
    pub enum Level mirrors CompetenceLevel {
        Discovered,
        Practised,
        Acquired,
    }
}

/// A competence of the scheme's referential worked in the session, with the level reached.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CompetenceInput {
    /// A competence of the scheme's referential, e.g. `2.1` (CRCN: Interagir).
    #[oai(validator(min_length = 1, max_length = 10))]
    pub code: String,
    pub level: Level,
}

/// One line of an attendance sheet: a voucher, how its holder attended and the competences worked.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct AttendanceEntryInput {
    #[oai(validator(min_length = 1, max_length = 40))]
    pub reference: String,
    pub status: Presence,
    /// The competences worked, for a person present only.
    #[oai(default, validator(max_items = 16))]
    pub competences: Vec<CompetenceInput>,
    /// « Hors parcours »: records a session of a module the holder did not choose, on purpose
    /// (refused otherwise with `module-not-chosen`); the statement line shows it to finance.
    #[oai(default)]
    pub off_path: bool,
}

/// A session's attendance sheet.
#[derive(Debug, Object)]
#[oai(example, deny_unknown_fields)]
pub struct AttendanceSheet {
    /// The lines, one per voucher; each is recorded or refused on its own.
    #[oai(validator(min_items = 1, max_items = 100))]
    pub entries: Vec<AttendanceEntryInput>,
}

/// Whether an attendance line was recorded or refused.
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
    /// Minutes taken from the voucher: the session's length when present, 0 otherwise.
    #[oai(skip_serializing_if_is_none)]
    pub minutes_debited: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub minutes_left: Option<i32>,
    #[oai(skip_serializing_if_is_none)]
    pub voucher_status: Option<VoucherStatusDto>,
    #[oai(skip_serializing_if_is_none)]
    pub problem: Option<Problem>,
}

/// What became of each line of a sheet: lines are recorded or refused one by one.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AttendanceReport {
    /// Lines recorded.
    pub recorded: usize,
    /// Lines refused; each says why in its `problem`.
    pub refused: usize,
    /// One outcome per line, in the sheet's order.
    pub results: Vec<AttendanceResult>,
}

/// Why an attendance record is voided.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct VoidInput {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

/// The voided attendance record and the minutes given back.
#[derive(Debug, Object)]
pub struct VoidedView {
    pub id: Uuid,
    pub voucher_id: Uuid,
    /// Minutes given back to the voucher.
    pub minutes_returned: i32,
    /// When it was voided.
    pub voided_at: Option<DateTime<Utc>>,
    /// Why it was voided.
    pub void_reason: Option<String>,
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

pub struct AttendanceApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Delivery")]
impl AttendanceApi {
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
                status: e.status.into(),
                competences: e
                    .competences
                    .into_iter()
                    .map(|c| (c.code, c.level.into()))
                    .collect(),
                off_path: e.off_path,
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

impl Example for AttendanceSheet {
    fn example() -> Self {
        Self {
            entries: vec![
                AttendanceEntryInput {
                    reference: examples::REFERENCE.into(),
                    status: Presence::Present,
                    competences: vec![CompetenceInput {
                        code: "2.1".into(),
                        level: Level::Practised,
                    }],
                    off_path: false,
                },
                AttendanceEntryInput {
                    reference: examples::OTHER_REFERENCE.into(),
                    status: Presence::Present,
                    competences: Vec::new(),
                    off_path: false,
                },
            ],
        }
    }
}

/// The answer to the sheet above when the second person's presence was already recorded on this
/// session from another phone: Paul's line is recorded, the other is refused with its reason.
impl Example for AttendanceReport {
    fn example() -> Self {
        let refused = AttendanceResult {
            reference: examples::OTHER_REFERENCE.into(),
            ..AttendanceResult::from_outcome(Err(passerelle_core::Refusal::AlreadyRecorded.into()))
        };
        Self {
            recorded: 1,
            refused: 1,
            results: vec![
                AttendanceResult {
                    reference: examples::REFERENCE.into(),
                    outcome: Outcome::Recorded,
                    attendance_id: Some(examples::ATTENDANCE_ID),
                    minutes_debited: Some(120),
                    minutes_left: Some(1080),
                    voucher_status: Some(VoucherStatusDto::InProgress),
                    problem: None,
                },
                refused,
            ],
        }
    }
}
