//! Sessions an EPN holds: creation, listing, enrolment and status.

use chrono::{DateTime, Utc};
use passerelle_core::delivery::SessionStatus;
use passerelle_core::delivery::sessions::{self, NewSession, Session};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::schemas::{PageCursor, PageLimit, page_request};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

/// A session to plan at the caller's EPN.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct SessionInput {
    pub scheme_id: Uuid,
    pub module_number: Option<i32>,
    /// When it starts (RFC 3339).
    pub starts_at: DateTime<Utc>,
    /// The scheme's session length when absent.
    #[oai(validator(minimum(value = "1"), maximum(value = "1440")))]
    pub duration_minutes: Option<i32>,
    /// The most people it takes.
    #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
    pub capacity: i32,
    /// Who leads it.
    #[oai(validator(max_length = 200))]
    pub animator: Option<String>,
    /// Where it is held, if not at the EPN's address.
    #[oai(validator(max_length = 200))]
    pub place: Option<String>,
}

/// A session at an EPN.
#[derive(Debug, Object)]
pub struct SessionView {
    pub id: Uuid,
    pub epn_id: Uuid,
    pub scheme_id: Uuid,
    #[oai(skip_serializing_if_is_none)]
    pub module_number: Option<i32>,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// Its length, in minutes: what a presence debits from a voucher.
    pub duration_minutes: i32,
    /// The most people it takes.
    pub capacity: i32,
    /// Who leads it.
    #[oai(skip_serializing_if_is_none)]
    pub animator: Option<String>,
    /// Where it is held, if not at the EPN's address.
    #[oai(skip_serializing_if_is_none)]
    pub place: Option<String>,
    pub status: SessionStatusDto,
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
            status: s.status.into(),
        }
    }
}

pub type SessionPage = super::schemas::Page<SessionView>;

/// A voucher to book on a session.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct EnrolInput {
    #[oai(validator(min_length = 1, max_length = 40))]
    pub reference: String,
    /// « Hors parcours »: books a session of a module the holder did not choose, on purpose
    /// (refused otherwise with `module-not-chosen`); the attendance recorded on it carries the
    /// mark to the statement line.
    #[oai(default)]
    pub off_path: bool,
}

/// The session's bookings after this one.
#[derive(Debug, Object)]
pub struct EnrolledView {
    /// People booked on the session, this one included.
    pub enrolled: i64,
}

mirror_enum! {
    /// A session's status: `planned`, then `held` or `cancelled` once.
    #[oai(rename = "SessionStatus", rename_all = "snake_case")]
    pub enum SessionStatusDto mirrors SessionStatus {
        Planned,
        Held,
        Cancelled,
    }
}

/// What a planned session becomes.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SessionStatusInput {
    Held,
    Cancelled,
}

impl From<SessionStatusInput> for SessionStatus {
    fn from(status: SessionStatusInput) -> Self {
        match status {
            SessionStatusInput::Held => SessionStatus::Held,
            SessionStatusInput::Cancelled => SessionStatus::Cancelled,
        }
    }
}

/// What a planned session becomes.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct SessionStatusBody {
    pub status: SessionStatusInput,
}

#[derive(ApiResponse)]
pub enum CreatedSession {
    #[oai(status = 201)]
    Created(Json<SessionView>, #[oai(header = "Location")] String),
}

pub struct SessionsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Delivery")]
impl SessionsApi {
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
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<SessionPage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_SESSIONS)?;
        let page = page_request(limit.0, cursor.0)?;
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

    /// Books a registered voucher on a session, within its capacity, on a module the holder chose
    /// (or marked « hors parcours »).
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
            body.0.off_path,
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
        Ok(Json(
            sessions::set_status(
                &state.db,
                tenant_id,
                epn_id,
                auth.actor(),
                session_id.0,
                body.0.status.into(),
            )
            .await?
            .into(),
        ))
    }
}
