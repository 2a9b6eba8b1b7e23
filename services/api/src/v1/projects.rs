use chrono::{DateTime, Utc};
use passerelle_core::delivery::ProjectStatus;
use passerelle_core::delivery::projects::{
    self, ListedProject, NewProject, ProjectDetail, ProjectFilter, ProjectSheet,
};
use passerelle_core::pagination::Page as DomainPage;
use passerelle_core::vouchers::{Holder, Visibility};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::attendance::{AttendanceReport, AttendanceResult, CompetenceInput, Outcome};
use super::beneficiaries::NewBeneficiaryDto;
use super::schemas::{Page, PageCursor, PageLimit, page_request};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

/// A member: someone the structure already registered, or a new person.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct MemberInput {
    pub beneficiary_id: Option<Uuid>,
    pub person: Option<NewBeneficiaryDto>,
}

/// A collective project a structure submits for a group (Pass Numérique).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ProjectInput {
    pub scheme_id: Uuid,
    pub epn_id: Uuid,
    /// The project's title.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    /// What the group will do (e.g. a travel diary after the end-of-year trip).
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub aim: String,
    /// How many sessions the project plans.
    #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
    pub planned_sessions: i32,
    /// The hours each member's pass will hold, in minutes.
    #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
    pub planned_minutes: i32,
    /// Within the scheme's group range (Pass Numérique: 5 to 10).
    #[oai(validator(min_items = 1, max_items = 100))]
    pub members: Vec<MemberInput>,
}

/// A member of a collective project, with the pass issued to them once the project is approved.
#[derive(Debug, Object)]
pub struct MemberView {
    pub beneficiary_id: Uuid,
    #[oai(skip_serializing_if_is_none)]
    pub voucher_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub reference: Option<String>,
}

mirror_enum! {
    /// Where a collective project stands: `submitted` by its structure, then `approved` (its
    /// members' vouchers are issued and its sessions may be run) or `rejected`, once.
    #[oai(rename = "ProjectStatus", rename_all = "snake_case")]
    pub enum ProjectStatusDto mirrors ProjectStatus {
        Submitted,
        Approved,
        Rejected,
    }
}

/// A collective project with its members.
#[derive(Debug, Object)]
pub struct ProjectView {
    pub id: Uuid,
    pub scheme_id: Uuid,
    pub prescriber_id: Uuid,
    pub epn_id: Uuid,
    /// The project's title.
    pub title: String,
    /// What the group will do.
    pub aim: String,
    /// How many sessions the project plans.
    pub planned_sessions: i32,
    /// The time each member's pass holds, in minutes.
    pub planned_minutes: i32,
    pub status: ProjectStatusDto,
    #[oai(skip_serializing_if_is_none)]
    pub decision_reason: Option<String>,
    /// When it was approved or rejected.
    #[oai(skip_serializing_if_is_none)]
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The group's members.
    pub members: Vec<MemberView>,
}

impl From<ProjectDetail> for ProjectView {
    fn from(d: ProjectDetail) -> Self {
        let p = d.project;
        Self {
            id: p.id,
            scheme_id: p.scheme_id,
            prescriber_id: p.prescriber_id,
            epn_id: p.epn_id,
            title: p.title,
            aim: p.aim,
            planned_sessions: p.planned_sessions,
            planned_minutes: p.planned_minutes,
            status: p.status.into(),
            decision_reason: p.decision_reason,
            decided_at: p.decided_at,
            created_at: p.created_at,
            members: d
                .members
                .into_iter()
                .map(|m| MemberView {
                    beneficiary_id: m.beneficiary_id,
                    voucher_id: m.voucher_id,
                    reference: m.reference,
                })
                .collect(),
        }
    }
}

/// A collective project as a list shows it: without its members, with their count.
#[derive(Debug, Object)]
pub struct ProjectSummaryView {
    pub id: Uuid,
    pub scheme_id: Uuid,
    pub prescriber_id: Uuid,
    pub epn_id: Uuid,
    /// The project's title.
    pub title: String,
    /// How many sessions the project plans.
    pub planned_sessions: i32,
    /// The time each member's pass holds, in minutes.
    pub planned_minutes: i32,
    pub status: ProjectStatusDto,
    /// When it was approved or rejected.
    #[oai(skip_serializing_if_is_none)]
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// How many people the group has.
    pub member_count: i64,
}

impl From<ListedProject> for ProjectSummaryView {
    fn from(listed: ListedProject) -> Self {
        let p = listed.project;
        Self {
            id: p.id,
            scheme_id: p.scheme_id,
            prescriber_id: p.prescriber_id,
            epn_id: p.epn_id,
            title: p.title,
            planned_sessions: p.planned_sessions,
            planned_minutes: p.planned_minutes,
            status: p.status.into(),
            decided_at: p.decided_at,
            created_at: p.created_at,
            member_count: listed.member_count,
        }
    }
}

pub type ProjectPage = Page<ProjectSummaryView>;

/// Narrows a filter to the caller's scope: a structure or an EPN asking for another's projects
/// gets none (`None`), never someone else's.
fn within(scope: Option<Uuid>, asked: Option<Uuid>) -> Option<Option<Uuid>> {
    match (scope, asked) {
        (Some(own), Some(other)) if own != other => None,
        (Some(own), _) => Some(Some(own)),
        (None, asked) => Some(asked),
    }
}

/// Why a collective project is rejected.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct RejectInput {
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

/// A project session's sheet: who was absent (the others were present) and the competences worked.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ProjectSheetInput {
    /// A session of the project's EPN and scheme.
    pub session_id: Uuid,
    /// References of the members who did not come; everyone else is present.
    #[oai(default, validator(max_items = 100))]
    pub absent: Vec<String>,
    /// Competences the members present worked.
    #[oai(default, validator(max_items = 16))]
    pub competences: Vec<CompetenceInput>,
}

#[derive(ApiResponse)]
pub enum CreatedProject {
    /// The project is submitted; a tenant admin approves or rejects it.
    #[oai(status = 201)]
    Created(Json<ProjectView>, #[oai(header = "Location")] String),
}

pub struct ProjectsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Delivery")]
impl ProjectsApi {
    /// A structure submits a collective project with an EPN and its members.
    #[oai(path = "/projects", method = "post", operation_id = "submitProject")]
    async fn submit(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<ProjectInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedProject, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SUBMIT_PROJECT)?;
        let prescriber_id = auth.prescriber_id()?;
        let b = body.0;
        let members = b
            .members
            .into_iter()
            .map(|m| {
                Holder::one_of(m.beneficiary_id, m.person.map(Into::into)).ok_or_else(|| {
                    passerelle_core::Error::invalid(
                        "members",
                        "each member is a beneficiary_id or a person, not both",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let new = NewProject {
            scheme_id: b.scheme_id,
            epn_id: b.epn_id,
            title: b.title,
            aim: b.aim,
            planned_sessions: b.planned_sessions,
            planned_minutes: b.planned_minutes,
            members,
        };
        let detail =
            projects::submit(&state.db, tenant_id, prescriber_id, auth.actor(), &new).await?;
        let location = format!("/v1/projects/{}", detail.project.id);
        Ok(CreatedProject::Created(Json(detail.into()), location))
    }

    /// Projects, newest first, a page at a time: a structure sees its own, an EPN those it runs,
    /// a tenant admin all of them.
    #[oai(path = "/projects", method = "get", operation_id = "listProjects")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// Only the projects in this status.
        status: Query<Option<ProjectStatusDto>>,
        /// Only the projects of this scheme.
        scheme_id: Query<Option<Uuid>>,
        /// Only the projects run by this EPN.
        epn_id: Query<Option<Uuid>>,
        /// Only the projects of this structure.
        prescriber_id: Query<Option<Uuid>>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<ProjectPage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_PROJECTS)?;
        let page = page_request(limit.0, cursor.0)?;
        let own_prescriber = match auth.visibility() {
            Visibility::Prescriber(p) => Some(p),
            Visibility::Tenant => None,
        };
        let scoped =
            within(own_prescriber, prescriber_id.0).zip(within(auth.epn_scope(), epn_id.0));
        let page = match scoped {
            Some((prescriber, epn)) => {
                let filter = ProjectFilter {
                    prescriber,
                    epn,
                    scheme: scheme_id.0,
                    status: status.0.map(Into::into),
                };
                projects::list(&state.db, tenant_id, filter, page).await?
            }
            None => DomainPage {
                items: Vec::new(),
                next_cursor: None,
            },
        }
        .map(ProjectSummaryView::from);
        Ok(Json(ProjectPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }

    /// A project and its members (with their passes once approved).
    #[oai(
        path = "/projects/:project_id",
        method = "get",
        operation_id = "getProject"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        project_id: Path<Uuid>,
    ) -> Result<Json<ProjectView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_PROJECT)?;
        let prescriber = match auth.visibility() {
            Visibility::Prescriber(p) => Some(p),
            Visibility::Tenant => None,
        };
        Ok(Json(
            projects::get(
                &state.db,
                tenant_id,
                project_id.0,
                prescriber,
                auth.epn_scope(),
            )
            .await?
            .into(),
        ))
    }

    /// Approves a project: every member receives a pass for the project's hours, registered at the
    /// EPN, from the structure's allocation (all or none).
    #[oai(
        path = "/projects/:project_id/approve",
        method = "post",
        operation_id = "approveProject"
    )]
    async fn approve(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        project_id: Path<Uuid>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<ProjectView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::APPROVE_PROJECT)?;
        Ok(Json(
            projects::decide(&state.db, tenant_id, auth.actor(), project_id.0, true, None)
                .await?
                .into(),
        ))
    }

    /// Rejects a project, with the reason.
    #[oai(
        path = "/projects/:project_id/reject",
        method = "post",
        operation_id = "rejectProject"
    )]
    async fn reject(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        project_id: Path<Uuid>,
        body: Json<RejectInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<ProjectView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REJECT_PROJECT)?;
        Ok(Json(
            projects::decide(
                &state.db,
                tenant_id,
                auth.actor(),
                project_id.0,
                false,
                Some(&body.0.reason),
            )
            .await?
            .into(),
        ))
    }

    /// Records a project session for all members at once.
    #[oai(
        path = "/projects/:project_id/attendance",
        method = "post",
        operation_id = "recordProjectAttendance"
    )]
    async fn attendance(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        project_id: Path<Uuid>,
        body: Json<ProjectSheetInput>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<AttendanceReport>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::RECORD_PROJECT_ATTENDANCE)?;
        let epn_id = auth.epn_id()?;
        let b = body.0;
        let sheet = ProjectSheet {
            session_id: b.session_id,
            absent: b.absent,
            competences: b
                .competences
                .into_iter()
                .map(|c| (c.code, c.level.into()))
                .collect(),
        };
        let outcomes = projects::record_session(
            &state.db,
            tenant_id,
            epn_id,
            auth.actor(),
            project_id.0,
            &sheet,
        )
        .await?;
        let results: Vec<AttendanceResult> = outcomes
            .into_iter()
            .map(|(reference, outcome)| AttendanceResult {
                reference,
                ..AttendanceResult::from_outcome(outcome)
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
}
