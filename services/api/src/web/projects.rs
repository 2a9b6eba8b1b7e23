//! Collective projects in the portal: the list (a structure's own, an EPN's, all of them for the
//! tenant's team, with filters), a project's page with its members and their passes, the team's
//! decision (approve, or reject with a reason), and the EPN's sheet for a project session — every
//! member present unless ticked absent, with the competences the group worked.

use std::collections::HashMap;

use chrono::Utc;
use passerelle_core::delivery::overview;
use passerelle_core::delivery::projects::{self, ProjectDetail, ProjectFilter, ProjectSheet};
use passerelle_core::delivery::{CompetenceLevel, ProjectStatus};
use passerelle_core::emails::french;
use passerelle_core::pagination::PageRequest;
use passerelle_core::vouchers::{self, Visibility};
use passerelle_core::{Error, beneficiaries, epns, labels, prescribers, schemes};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::epn::{CompetenceChoice, Outcome};
use super::forms::{Choice, option, query_param};
use super::french::{FormErrors, FormRefusal};
use super::{OrBack, PageResult, Portal, see_other, unavailable};
use crate::access;
use crate::state::AppState;

/// Projects per page.
const PER_PAGE: u32 = 20;
/// How far back a project session may be recorded from the project's page.
const SESSION_DAYS_BACK: u64 = 60;

#[derive(Serialize)]
struct ProjectRow {
    id: Uuid,
    title: String,
    structure: String,
    epn: String,
    members: i64,
    status: &'static str,
    submitted: String,
}

#[derive(Serialize)]
struct ProjectsView {
    rows: Vec<ProjectRow>,
    next: Option<String>,
    first_page: bool,
    may_submit: bool,
    /// The filters the tenant's team has (a structure and an EPN see theirs only).
    filters: Option<Filters>,
    status: String,
    statuses: Vec<Choice>,
}

#[derive(Serialize)]
struct Filters {
    epns: Vec<Choice>,
    epn: String,
    structures: Vec<Choice>,
    structure: String,
}

/// The caller's scope: a structure its own projects, an EPN those it runs.
fn scope(portal: &Portal) -> (Option<Uuid>, Option<Uuid>) {
    (portal.prescriber_id(), portal.epn_id())
}

fn statuses() -> Vec<Choice> {
    ProjectStatus::all()
        .map(|s| option(s.as_str(), labels::project_status(s)))
        .collect()
}

/// The structures' names, and the names of the EPNs of `rows` (a territory may hold tens of
/// thousands of places from the national file: only the page's are read).
async fn names(
    state: &AppState,
    portal: &Portal,
    epn_ids: impl Iterator<Item = Uuid>,
) -> Result<(HashMap<Uuid, String>, HashMap<Uuid, String>), Error> {
    let tenant_id = portal.tenant.id;
    let structures = super::admin::all(|page| prescribers::list(&state.db, tenant_id, page))
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let mut places = HashMap::new();
    for id in epn_ids {
        if let std::collections::hash_map::Entry::Vacant(place) = places.entry(id) {
            place.insert(epns::get(&state.db, tenant_id, id).await?.name);
        }
    }
    Ok((structures, places))
}

#[handler]
pub(super) async fn list(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::LIST_PROJECTS).await?;
    let tenant_id = portal.tenant.id;
    let after = query_param(req, "apres");
    let page = PageRequest::parse(Some(PER_PAGE), after.as_deref())?;
    let status = query_param(req, "etat").and_then(|s| s.parse::<ProjectStatus>().ok());
    let (own_structure, own_epn) = scope(&portal);
    let team = own_structure.is_none() && own_epn.is_none();
    let asked = |name: &str| query_param(req, name).and_then(|v| Uuid::parse_str(&v).ok());
    let filter = ProjectFilter {
        prescriber: own_structure.or(asked("structure").filter(|_| team)),
        epn: own_epn.or(asked("epn").filter(|_| team)),
        scheme: None,
        status,
    };
    let found = projects::list(&state.db, tenant_id, filter, page).await?;
    let (structures, places) = names(
        &state,
        &portal,
        found.items.iter().map(|p| p.project.epn_id),
    )
    .await?;
    let tz = portal.tenant.tz();
    let rows = found
        .items
        .into_iter()
        .map(|listed| {
            let p = listed.project;
            ProjectRow {
                id: p.id,
                structure: structures
                    .get(&p.prescriber_id)
                    .cloned()
                    .unwrap_or_default(),
                epn: places.get(&p.epn_id).cloned().unwrap_or_default(),
                members: listed.member_count,
                status: labels::project_status(p.status),
                submitted: french::long_date(p.created_at.with_timezone(&tz).date_naive()),
                title: p.title,
            }
        })
        .collect();
    let sorted = |map: HashMap<Uuid, String>| {
        let mut choices: Vec<Choice> = map.into_iter().map(|(id, n)| option(id, n)).collect();
        choices.sort_by(|a, b| a.label.cmp(&b.label));
        choices
    };
    let filters = if team {
        Some(Filters {
            epn: filter.epn.map(|e| e.to_string()).unwrap_or_default(),
            structure: filter.prescriber.map(|p| p.to_string()).unwrap_or_default(),
            epns: super::project_form::project_epn_choices(&state, &portal).await?,
            structures: sorted(structures),
        })
    } else {
        None
    };
    Ok(portal.page(
        StatusCode::OK,
        "projects.html",
        ProjectsView {
            rows,
            next: found.next_cursor,
            first_page: after.is_none(),
            may_submit: portal.may(&access::SUBMIT_PROJECT),
            filters,
            status: status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            statuses: statuses(),
        },
    ))
}

#[derive(Serialize)]
struct MemberView {
    index: usize,
    name: String,
    birth_year: Option<i16>,
    commune: Option<String>,
    reference: Option<String>,
    left: Option<String>,
}

/// The EPN's sheet for a project session.
#[derive(Serialize)]
struct SheetForm {
    sessions: Vec<Choice>,
    competences: Vec<CompetenceChoice>,
    levels: Vec<Choice>,
}

#[derive(Serialize)]
struct ProjectView {
    id: Uuid,
    title: String,
    aim: String,
    status: &'static str,
    submitted: bool,
    approved: bool,
    scheme: String,
    structure: String,
    epn: String,
    planned_sessions: i32,
    hours: String,
    submitted_on: String,
    decided_on: Option<String>,
    decision_reason: Option<String>,
    members: Vec<MemberView>,
    /// The tenant's team decides a submitted project.
    may_decide: bool,
    /// The structure prints its members' letters.
    may_print: bool,
    sheet: Option<SheetForm>,
    outcomes: Vec<Outcome>,
    notice: Option<&'static str>,
    errors: FormErrors,
}

/// The project of the page's address within the caller's scope (another's is not found).
async fn project(state: &AppState, portal: &Portal, id: &str) -> PageResult<ProjectDetail> {
    let id = super::path_id(id, "project")?;
    let (structure, epn) = scope(portal);
    let back = format!("{}/projets", portal.path());
    projects::get(&state.db, portal.tenant.id, id, structure, epn)
        .await
        .or_back(&back, "Revenir aux projets")
}

async fn project_page(
    state: &AppState,
    portal: &Portal,
    detail: ProjectDetail,
    status: StatusCode,
    outcomes: Vec<Outcome>,
    errors: &FormRefusal,
    notice: Option<&'static str>,
) -> PageResult {
    let tenant_id = portal.tenant.id;
    let tz = portal.tenant.tz();
    let p = &detail.project;
    let scheme = schemes::get(&state.db, tenant_id, p.scheme_id).await?;
    let structure = prescribers::get(&state.db, tenant_id, p.prescriber_id).await?;
    let epn = epns::get(&state.db, tenant_id, p.epn_id).await?;
    let mut members = Vec::with_capacity(detail.members.len());
    for (index, m) in detail.members.iter().enumerate() {
        let person = beneficiaries::get(&state.db, tenant_id, m.beneficiary_id, None).await?;
        let left = match &m.reference {
            Some(reference) => Some(
                vouchers::get(&state.db, tenant_id, reference, Visibility::Tenant)
                    .await?
                    .minutes_left,
            ),
            None => None,
        };
        members.push(MemberView {
            index,
            name: format!(
                "{} {}",
                person.first_name.as_deref().unwrap_or_default(),
                person.last_name.as_deref().unwrap_or_default()
            )
            .trim()
            .to_owned(),
            birth_year: person.birth_year,
            commune: person
                .commune_insee
                .as_deref()
                .map(passerelle_core::communes::label),
            reference: m.reference.clone(),
            left: left.map(french::duration),
        });
    }
    let runs_sheet = portal.may(&access::RECORD_PROJECT_ATTENDANCE) && p.status.runs_sessions();
    let sheet = if runs_sheet {
        let Some(epn_id) = portal.epn_id() else {
            return Err(unavailable().into());
        };
        let now = Utc::now();
        let from = now - chrono::Days::new(SESSION_DAYS_BACK);
        let sessions = overview::sessions_between(&state.db, tenant_id, epn_id, from, now)
            .await?
            .into_iter()
            .filter(|s| s.scheme_id == p.scheme_id && !s.status.is_cancelled())
            .rev()
            .map(|s| {
                let at = s.starts_at.with_timezone(&tz);
                option(
                    s.id,
                    format!(
                        "{} à {} ({})",
                        french::long_date(at.date_naive()),
                        at.format("%H h %M"),
                        french::duration(s.duration_minutes)
                    ),
                )
            })
            .collect();
        let competences = overview::competences(&state.db, tenant_id, p.scheme_id)
            .await?
            .into_iter()
            .map(CompetenceChoice::from)
            .collect();
        Some(SheetForm {
            sessions,
            competences,
            levels: CompetenceLevel::all()
                .map(|l| option(l.as_str(), labels::competence_level(l)))
                .collect(),
        })
    } else {
        None
    };
    Ok(portal.page(
        status,
        "project.html",
        ProjectView {
            id: p.id,
            title: p.title.clone(),
            aim: p.aim.clone(),
            status: labels::project_status(p.status),
            submitted: p.status == ProjectStatus::Submitted,
            approved: p.status == ProjectStatus::Approved,
            scheme: scheme.scheme.name,
            structure: structure.name,
            epn: epn.name,
            planned_sessions: p.planned_sessions,
            hours: french::duration(p.planned_minutes),
            submitted_on: french::long_date(p.created_at.with_timezone(&tz).date_naive()),
            decided_on: p
                .decided_at
                .map(|at| french::long_date(at.with_timezone(&tz).date_naive())),
            decision_reason: p.decision_reason.clone(),
            members,
            may_decide: portal.may(&access::APPROVE_PROJECT),
            may_print: portal.may(&access::SUBMIT_PROJECT),
            sheet,
            outcomes,
            notice,
            errors: errors.to_view(),
        },
    ))
}

#[handler]
pub(super) async fn show(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::GET_PROJECT).await?;
    let detail = project(&state, &portal, &id).await?;
    let notice = if query_param(req, "propose").is_some() {
        Some("Projet proposé : l’équipe du territoire va l’examiner.")
    } else if query_param(req, "approuve").is_some() {
        Some("Projet approuvé : chaque personne a reçu son pass, inscrit dans l’EPN.")
    } else if query_param(req, "refuse").is_some() {
        Some("Projet refusé : la structure voit le motif sur cette page.")
    } else {
        None
    };
    project_page(
        &state,
        &portal,
        detail,
        StatusCode::OK,
        Vec::new(),
        &FormRefusal::default(),
        notice,
    )
    .await
}

/// A business refusal answers with its own status (a decision taken twice is a conflict); an
/// input the domain refuses, 422.
fn refused_status(err: &Error) -> StatusCode {
    match err {
        Error::Refused(refusal) => crate::problem::refusal_status(refusal.kind()),
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reason: String,
}

async fn decide(
    state: &AppState,
    req: &Request,
    slug: &str,
    id: &str,
    form: DecisionForm,
    approving: bool,
) -> PageResult {
    let operation = if approving {
        &access::APPROVE_PROJECT
    } else {
        &access::REJECT_PROJECT
    };
    let portal = Portal::allowed_form(state, req, slug, operation, &form.csrf_token).await?;
    let detail = project(state, &portal, id).await?;
    let reason = Some(form.reason.as_str()).filter(|_| !approving);
    match projects::decide(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        detail.project.id,
        approving,
        reason,
    )
    .await
    {
        Ok(decided) => Ok(see_other(&format!(
            "{}/projets/{}?{}=1",
            portal.path(),
            decided.project.id,
            if approving { "approuve" } else { "refuse" }
        ))),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            project_page(
                state,
                &portal,
                detail,
                refused_status(&e),
                Vec::new(),
                &errors,
                None,
            )
            .await
        }
    }
}

#[handler]
pub(super) async fn approve(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    decide(&state, req, &slug, &id, form, true).await
}

#[handler]
pub(super) async fn reject(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    decide(&state, req, &slug, &id, form, false).await
}

/// The posted sheet: `session_id`, `absent` once per member ticked absent (their reference), and
/// `comp_<code>` a competence's level for those present.
fn read_sheet(pairs: &[(String, String)]) -> Result<ProjectSheet, FormRefusal> {
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .unwrap_or_default()
    };
    let Ok(session_id) = Uuid::parse_str(value("session_id")) else {
        return Err(FormRefusal::default().field(
            "session_id",
            "Choisissez la séance du projet (elle se planifie depuis la page des séances de l’EPN).",
        ));
    };
    let absent = pairs
        .iter()
        .filter(|(k, _)| k == "absent")
        .map(|(_, v)| v.clone())
        .collect();
    let mut competences = Vec::new();
    for (key, level) in pairs {
        let Some(code) = key.strip_prefix("comp_") else {
            continue;
        };
        if level.is_empty() {
            continue;
        }
        let Ok(level) = level.parse::<CompetenceLevel>() else {
            return Err(FormRefusal::default().field(
                "competences",
                "Un niveau de compétence n’est pas un choix de la feuille : rechargez la page.",
            ));
        };
        competences.push((code.to_owned(), level));
    }
    Ok(ProjectSheet {
        session_id,
        absent,
        competences,
    })
}

#[handler]
pub(super) async fn record_session(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let token = pairs
        .iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::RECORD_PROJECT_ATTENDANCE,
        token,
    )
    .await?;
    let Some(epn_id) = portal.epn_id() else {
        return Err(unavailable().into());
    };
    let detail = project(&state, &portal, &id).await?;
    let sheet = match read_sheet(&pairs) {
        Ok(sheet) => sheet,
        Err(errors) => {
            return project_page(
                &state,
                &portal,
                detail,
                StatusCode::UNPROCESSABLE_ENTITY,
                Vec::new(),
                &errors,
                None,
            )
            .await;
        }
    };
    let recorded = projects::record_session(
        &state.db,
        portal.tenant.id,
        epn_id,
        portal.actor(),
        detail.project.id,
        &sheet,
    )
    .await;
    let results = match recorded {
        Ok(results) => results,
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            return project_page(
                &state,
                &portal,
                detail,
                refused_status(&e),
                Vec::new(),
                &errors,
                None,
            )
            .await;
        }
    };
    let outcomes: Vec<Outcome> = results
        .iter()
        .map(|(reference, result)| Outcome::of(reference, result))
        .collect();
    let status = if outcomes.iter().all(|o| o.ok) {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let detail = project(&state, &portal, &id).await?;
    project_page(
        &state,
        &portal,
        detail,
        status,
        outcomes,
        &FormRefusal::default(),
        None,
    )
    .await
}
