//! Collective projects (Pass Numérique): a structure submits a project with an EPN for 5 to 10
//! people (the scheme's group range); a tenant admin approves it — each member then holds a pass
//! for the project's hours, from the structure's allocation, registered at the EPN — or rejects
//! it with a reason. The EPN records a project session's attendance for every member at once.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::attendance::{self, Entry, Recorded};
use super::{AttendanceStatus, CompetenceLevel, ProjectStatus};
use crate::audit::{self, Actor};
use crate::epns;
use crate::error::{FieldError, FieldRule, Validator};
use crate::pagination::{Page, PageRequest};
use crate::refusal::Refusal;
use crate::tenancy::tenants;
use crate::vouchers::{self, DeliveryMode, Holder, IssueRequest};
use crate::{Db, Error, beneficiaries, schemes};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Project {
    pub id: Uuid,
    pub scheme_id: Uuid,
    pub prescriber_id: Uuid,
    pub epn_id: Uuid,
    pub title: String,
    pub aim: String,
    pub planned_sessions: i32,
    pub planned_minutes: i32,
    pub status: ProjectStatus,
    pub decision_reason: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, scheme_id, prescriber_id, epn_id, title, aim, planned_sessions, planned_minutes, status, \
                       decision_reason, decided_at, created_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub beneficiary_id: Uuid,
    pub voucher_id: Option<Uuid>,
    pub reference: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewProject {
    pub scheme_id: Uuid,
    pub epn_id: Uuid,
    pub title: String,
    pub aim: String,
    pub planned_sessions: i32,
    pub planned_minutes: i32,
    pub members: Vec<Holder>,
}

/// Which projects a list shows: the caller's scope (a structure its own, an EPN those it runs)
/// and the filters asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectFilter {
    pub prescriber: Option<Uuid>,
    pub epn: Option<Uuid>,
    pub scheme: Option<Uuid>,
    pub status: Option<ProjectStatus>,
}

/// A project as a list shows it: without its members, with their count.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedProject {
    #[sqlx(flatten)]
    pub project: Project,
    pub member_count: i64,
}

#[derive(Debug, Clone)]
pub struct ProjectDetail {
    pub project: Project,
    pub members: Vec<Member>,
}

async fn detail(tx: &mut crate::storage::Tx, project: Project) -> Result<ProjectDetail, Error> {
    let members = sqlx::query_as(
        "SELECT m.beneficiary_id, m.voucher_id, v.reference FROM project_members m
           LEFT JOIN vouchers v ON v.tenant_id = m.tenant_id AND v.id = m.voucher_id
          WHERE m.tenant_id = $2 AND m.project_id = $1 ORDER BY m.beneficiary_id",
    )
    .bind(project.id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?;
    Ok(ProjectDetail { project, members })
}

pub async fn submit(
    db: &Db,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    actor: Actor,
    new: &NewProject,
) -> Result<ProjectDetail, Error> {
    let mut v = Validator::default();
    v.check(
        !new.title.trim().is_empty() && new.title.chars().count() <= 200,
        "title",
        "between 1 and 200 characters",
    )
    .check(
        !new.aim.trim().is_empty() && new.aim.chars().count() <= 2000,
        "aim",
        "between 1 and 2000 characters",
    )
    .check(
        (1..=100).contains(&new.planned_sessions),
        "planned_sessions",
        "between 1 and 100",
    )
    .check(
        (1..=100_000).contains(&new.planned_minutes),
        "planned_minutes",
        "between 1 and 100000",
    );
    v.finish()?;
    let tenant = tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let (_, rules) = schemes::rules_in_force(&mut tx, new.scheme_id, tenant.today()).await?;
    let range = rules
        .delivery_modes
        .collective_projects
        .ok_or(Refusal::NoCollectiveProjects)?;
    check_members(&mut tx, prescriber_id, range, &new.members).await?;
    if !epns::takes_part(&mut tx, new.epn_id, new.scheme_id).await? {
        return Err(Error::breaks("epn_id", FieldRule::EpnNotTakingPart));
    }
    let project: Project = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO projects (tenant_id, id, scheme_id, prescriber_id, epn_id, title, aim, planned_sessions, planned_minutes, submitted_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(new.scheme_id)
    .bind(prescriber_id)
    .bind(new.epn_id)
    .bind(new.title.trim())
    .bind(new.aim.trim())
    .bind(new.planned_sessions)
    .bind(new.planned_minutes)
    .bind(actor.user_id)
    .fetch_one(&mut *tx)
    .await?;
    for holder in &new.members {
        let beneficiary_id = holder
            .resolve(&mut tx, tenant_id, prescriber_id, actor)
            .await?
            .id;
        let added = sqlx::query("INSERT INTO project_members (tenant_id, project_id, beneficiary_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(tenant_id)
            .bind(project.id)
            .bind(beneficiary_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if added == 0 {
            return Err(Error::invalid("members", "the same person is listed twice"));
        }
    }
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "project.submitted",
        "project",
        project.id,
        json!({ "title": project.title, "members": new.members.len(), "epn_id": new.epn_id }),
    )
    .await?;
    let detail = detail(&mut tx, project).await?;
    tx.commit().await?;
    Ok(detail)
}

/// Every problem of a group at once, so that a structure corrects its list in one go: its size,
/// then each member's under `members.<position from 0>[.<field>]` — a person's details, the same
/// person twice, a new person the structure already follows (the rule of probable duplicates).
async fn check_members(
    tx: &mut crate::storage::Tx,
    prescriber_id: Uuid,
    range: crate::schemes::rules::GroupSize,
    members: &[Holder],
) -> Result<(), Error> {
    let mut errors = Vec::new();
    if !(range.min as usize..=range.max as usize).contains(&members.len()) {
        errors.push(FieldError::breaks(
            "members",
            FieldRule::GroupSize {
                min: range.min,
                max: range.max,
                given: members.len(),
            },
        ));
    }
    let mut seen: Vec<String> = Vec::with_capacity(members.len());
    for (i, member) in members.iter().enumerate() {
        let (key, known) = match member {
            Holder::Existing(id) => (id.to_string(), None),
            Holder::New(person) => {
                if let Err(Error::Invalid(fields)) = person.validate() {
                    errors.extend(fields.into_iter().map(|f| FieldError {
                        field: format!("members.{i}.{}", f.field),
                        ..f
                    }));
                    seen.push(String::new());
                    continue;
                }
                let known = if person.allow_duplicate {
                    None
                } else {
                    beneficiaries::followed_duplicate(tx, prescriber_id, person).await?
                };
                (person.match_key(), known)
            }
        };
        let allowed_twice = matches!(member, Holder::New(p) if p.allow_duplicate);
        match seen.iter().position(|k| *k == key) {
            Some(first) if !allowed_twice => errors.push(FieldError::breaks(
                format!("members.{i}"),
                FieldRule::ListedTwice { first: first + 1 },
            )),
            _ => {
                if let Some(existing) = known {
                    errors.push(FieldError::breaks(
                        format!("members.{i}"),
                        FieldRule::KnownPerson {
                            existing: existing.id,
                        },
                    ));
                }
            }
        }
        seen.push(key);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

/// A project; a prescriber sees its own, an EPN those it runs.
pub async fn get(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    prescriber: Option<Uuid>,
    epn: Option<Uuid>,
) -> Result<ProjectDetail, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let project: Project = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM projects WHERE tenant_id = $2 AND id = $1"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .filter(|p: &Project| {
        prescriber.is_none_or(|x| x == p.prescriber_id) && epn.is_none_or(|x| x == p.epn_id)
    })
    .ok_or(Error::NotFound("project"))?;
    let detail = detail(&mut tx, project).await?;
    tx.commit().await?;
    Ok(detail)
}

/// Projects, newest first: the team decides the latest submissions first, and a structure sees
/// where its last project stands. The cursor continues below the last project seen.
pub async fn list(
    db: &Db,
    tenant_id: Uuid,
    filter: ProjectFilter,
    page: PageRequest,
) -> Result<Page<ListedProject>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<ListedProject> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS},
                (SELECT count(*) FROM project_members m
                  WHERE m.tenant_id = projects.tenant_id AND m.project_id = projects.id) AS member_count
           FROM projects
          WHERE projects.tenant_id = $7 AND ($1::uuid IS NULL OR prescriber_id = $1) AND ($2::uuid IS NULL OR epn_id = $2)
            AND ($3::uuid IS NULL OR scheme_id = $3) AND ($4::text IS NULL OR status = $4)
            AND ($5::uuid IS NULL OR id < $5)
          ORDER BY id DESC LIMIT $6"
    )))
    .bind(filter.prescriber)
    .bind(filter.epn)
    .bind(filter.scheme)
    .bind(filter.status)
    .bind(page.after)
    .bind(page.fetch_limit())
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |p| p.project.id))
}

/// Approves (issuing every member's pass, all or nothing) or rejects with a reason.
pub async fn decide(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
    approve: bool,
    reason: Option<&str>,
) -> Result<ProjectDetail, Error> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if !approve && reason.is_none() {
        return Err(Error::invalid("reason", "a rejection needs a reason"));
    }
    let tenant = tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let project: Project = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM projects WHERE tenant_id = $2 AND id = $1 FOR UPDATE"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("project"))?;
    if project.status.is_decided() {
        return Err(Refusal::ProjectAlreadyDecided {
            status: project.status,
        }
        .into());
    }
    if approve {
        let members: Vec<Uuid> = sqlx::query_scalar("SELECT beneficiary_id FROM project_members WHERE tenant_id = $2 AND project_id = $1 ORDER BY beneficiary_id")
            .bind(id)
            .bind(tx.tenant_id())
            .fetch_all(&mut *tx)
            .await?;
        let minutes = u32::try_from(project.planned_minutes).unwrap_or_default();
        for beneficiary_id in members {
            let request = IssueRequest {
                scheme_id: project.scheme_id,
                holder: Holder::Existing(beneficiary_id),
                participation_fee_cents: 0,
            };
            let issued = vouchers::issue_for(
                &mut tx,
                &tenant,
                project.prescriber_id,
                actor,
                &request,
                DeliveryMode::Project { minutes },
            )
            .await?;
            super::registration::register_direct(
                &mut tx,
                tenant_id,
                &issued.voucher,
                project.epn_id,
                actor,
            )
            .await?;
            sqlx::query("UPDATE project_members SET voucher_id = $3 WHERE tenant_id = $4 AND project_id = $1 AND beneficiary_id = $2")
                .bind(id)
                .bind(beneficiary_id)
                .bind(issued.voucher.id)
                .bind(tx.tenant_id())
                .execute(&mut *tx)
                .await?;
        }
    }
    let status = if approve {
        ProjectStatus::Approved
    } else {
        ProjectStatus::Rejected
    };
    let project: Project = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE projects SET status = $2, decision_reason = $3, decided_at = now() WHERE tenant_id = $4 AND id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(status)
    .bind(reason)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        &format!("project.{status}"),
        "project",
        id,
        json!({ "reason": reason }),
    )
    .await?;
    let detail = detail(&mut tx, project).await?;
    tx.commit().await?;
    Ok(detail)
}

/// A project session's sheet: who was absent, and the competences the others worked.
#[derive(Debug, Clone)]
pub struct ProjectSheet {
    pub session_id: Uuid,
    pub absent: Vec<String>,
    pub competences: Vec<(String, CompetenceLevel)>,
}

/// Records a project session for every member at once: present (with the competences worked)
/// except those listed absent.
pub async fn record_session(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Uuid,
    actor: Actor,
    project_id: Uuid,
    sheet: &ProjectSheet,
) -> Result<Vec<(String, Result<Recorded, Error>)>, Error> {
    let ProjectSheet {
        session_id,
        absent,
        competences,
    } = sheet;
    let session_id = *session_id;
    let detail = get(db, tenant_id, project_id, None, Some(epn_id)).await?;
    if !detail.project.status.runs_sessions() {
        return Err(Refusal::ProjectNotApproved.into());
    }
    let absent: Vec<String> = absent
        .iter()
        .map(|r| {
            vouchers::reference::parse(r)
                .map(|(canonical, _)| canonical)
                .map_err(|e| Error::invalid("absent", e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let entries: Vec<Entry> = detail
        .members
        .iter()
        .filter_map(|m| m.reference.clone())
        .map(|reference| {
            let present = !absent.contains(&reference);
            Entry {
                status: if present {
                    AttendanceStatus::Present
                } else {
                    AttendanceStatus::Absent
                },
                competences: if present {
                    competences.to_vec()
                } else {
                    Vec::new()
                },
                reference,
                off_path: false,
            }
        })
        .collect();
    let outcomes = attendance::record(db, tenant_id, epn_id, actor, session_id, &entries).await?;
    Ok(entries
        .into_iter()
        .map(|e| e.reference)
        .zip(outcomes)
        .collect())
}
