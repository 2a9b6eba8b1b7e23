//! The EPN animator's pages: register a voucher after the positioning interview, plan sessions,
//! tick the attendance sheet on a phone with the competences worked, and the EPN's month so far.

use chrono::{Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use passerelle_core::delivery::attendance::{self, Entry};
use passerelle_core::delivery::overview::{self, start_of_day};
use passerelle_core::delivery::registration::{self, Interview, RegisterRequest};
use passerelle_core::delivery::sessions::{self, NewSession, Session};
use passerelle_core::delivery::{AttendanceStatus, AutonomyLevel, CompetenceLevel};
use passerelle_core::emails::french;
use passerelle_core::pagination::PageRequest;
use passerelle_core::vouchers::{self, Visibility};
use passerelle_core::{Error, epns, labels, schemes};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query};
use poem::{Request, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::forms::{Choice, option, optional};
use super::french::{self as fr, FormErrors, FormRefusal};
use super::{OrBack, PageResult, Portal, message, see_other, unavailable};
use crate::access;
use crate::state::AppState;

/// A session of the EPN's coming weeks.
#[derive(Serialize)]
struct SessionRow {
    id: Uuid,
    when: String,
    scheme: String,
    module: Option<i32>,
    duration: String,
    status: &'static str,
    place: Option<String>,
}

/// The EPN's month so far.
#[derive(Serialize)]
struct MonthFigures {
    sessions_held: i64,
    presences: i64,
    absences: i64,
    people: i64,
    hours: String,
    registrations: i64,
}

/// The animator's home: the month, the sessions, and the form to plan one.
#[derive(Serialize)]
struct OverviewView<'a> {
    epn: String,
    epn_id: Uuid,
    month_label: String,
    month: MonthFigures,
    sessions: Vec<SessionRow>,
    schemes: Vec<Choice>,
    scheme_id: String,
    modules: Vec<Choice>,
    form: &'a SessionForm,
    today: String,
    errors: FormErrors,
    notice: Option<String>,
}

/// A module of the voucher's scheme offered here, ticked when chosen.
#[derive(Serialize)]
struct ModuleChoice {
    number: i32,
    title: String,
    family: String,
    checked: bool,
}

/// The voucher found at the registration's first step, with what its second step asks.
#[derive(Serialize)]
struct FoundVoucher {
    reference: String,
    scheme: String,
    hours: String,
    valid_until: String,
    status: &'static str,
    to_choose: Option<u32>,
    interview_required: bool,
    interview_minutes: Option<u32>,
    modules: Vec<ModuleChoice>,
}

/// The registration page: find the voucher, then the interview and the modules.
#[derive(Serialize)]
struct RegistrationView<'a> {
    form: &'a RegistrationForm,
    found: Option<FoundVoucher>,
    levels: Vec<Choice>,
    today: String,
    errors: FormErrors,
}

/// A person expected or enrolled on the session, with what is already recorded.
#[derive(Serialize)]
struct SheetRowView {
    index: usize,
    reference: String,
    name: String,
    left: String,
    enrolled: bool,
    /// Booked « hors parcours »: the mark is ticked already.
    off_path: bool,
    recorded: Option<&'static str>,
}

/// The session at the top of its sheet.
#[derive(Serialize)]
struct SheetSession {
    id: Uuid,
    when: String,
    scheme: String,
    module: Option<String>,
    duration: String,
    status: &'static str,
    cancelled: bool,
    place: Option<String>,
}

/// A competence of the referential the sheet offers (the session's sheet and a project's).
#[derive(Serialize)]
pub(super) struct CompetenceChoice {
    code: String,
    title: String,
    area: String,
}

impl From<overview::Competence> for CompetenceChoice {
    fn from(c: overview::Competence) -> Self {
        Self {
            code: c.code,
            title: c.title,
            area: c.area,
        }
    }
}

/// The attendance sheet, with each line's outcome after it was sent.
#[derive(Serialize)]
struct SheetView<'a> {
    session: SheetSession,
    rows: Vec<SheetRowView>,
    competences: Vec<CompetenceChoice>,
    levels: Vec<Choice>,
    outcomes: &'a [Outcome],
    all_ok: bool,
}

async fn active_schemes(state: &AppState, portal: &Portal) -> Result<Vec<schemes::Scheme>, Error> {
    Ok(schemes::list(
        &state.db,
        portal.tenant.id,
        PageRequest {
            limit: 100,
            after: None,
        },
    )
    .await?
    .items
    .into_iter()
    .filter(|s| s.status == passerelle_core::schemes::SchemeStatus::Active)
    .collect())
}

fn when(session: &Session, tz: chrono_tz::Tz) -> String {
    let local = session.starts_at.with_timezone(&tz);
    format!(
        "{} à {}",
        french::long_date(local.date_naive()),
        local.format("%H h %M")
    )
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct SessionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    scheme_id: String,
    #[serde(default)]
    module_number: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    duration_minutes: String,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    place: String,
}

async fn overview_page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    form: &SessionForm,
    errors: &FormRefusal,
    notice: Option<String>,
) -> PageResult {
    let Some(epn_id) = portal.epn_id() else {
        return Err(unavailable().into());
    };
    let tenant_id = portal.tenant.id;
    let tz = portal.tenant.tz();
    let today = portal.tenant.today();
    let first_of_month = today.with_day(1).unwrap_or(today);
    let from = start_of_day(today - Days::new(7), tz);
    let to = start_of_day(today + Days::new(31), tz);
    let loaded = async {
        let epn = epns::get(&state.db, tenant_id, epn_id).await?;
        let month = overview::month_so_far(&state.db, tenant_id, epn_id, first_of_month).await?;
        let sessions = overview::sessions_between(&state.db, tenant_id, epn_id, from, to).await?;
        let schemes = active_schemes(state, portal).await?;
        let mut modules = Vec::new();
        for scheme in &schemes {
            for module in
                epns::offered_module_titles(&state.db, tenant_id, epn_id, scheme.id).await?
            {
                modules.push(option(
                    module.number,
                    format!("{} — {}. {}", scheme.name, module.number, module.title),
                ));
            }
        }
        Ok::<_, Error>((epn, month, sessions, schemes, modules))
    }
    .await;
    let (epn, month, sessions, schemes, modules) = loaded?;
    let scheme_name = |id: Uuid| {
        schemes
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    let sessions: Vec<SessionRow> = sessions
        .iter()
        .map(|s| SessionRow {
            id: s.id,
            when: when(s, tz),
            scheme: scheme_name(s.scheme_id),
            module: s.module_number,
            duration: french::duration(s.duration_minutes),
            status: labels::session_status(s.status),
            place: s.place.clone(),
        })
        .collect();
    let scheme_options: Vec<Choice> = schemes.iter().map(|s| option(s.id, &s.name)).collect();
    let scheme_id = if form.scheme_id.is_empty() && schemes.len() == 1 {
        schemes[0].id.to_string()
    } else {
        form.scheme_id.clone()
    };
    Ok(portal.page(
        status,
        "epn.html",
        OverviewView {
            epn: epn.name,
            epn_id: epn.id,
            month_label: french::month_year(first_of_month),
            month: MonthFigures {
                sessions_held: month.sessions_held,
                presences: month.presences,
                absences: month.absences,
                people: month.people,
                hours: french::duration(i32::try_from(month.minutes_delivered).unwrap_or(i32::MAX)),
                registrations: month.registrations,
            },
            sessions,
            schemes: scheme_options,
            scheme_id,
            modules,
            form,
            today: today.format("%Y-%m-%d").to_string(),
            errors: errors.to_view(),
            notice,
        },
    ))
}

#[handler]
pub(super) async fn home(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::CREATE_SESSION).await?;
    let notice = req
        .uri()
        .query()
        .and_then(|q| {
            q.split('&').find_map(|p| {
                p.strip_prefix("inscrit=")
                    .map(|reference| {
                        format!(
                            "Chèque {reference} inscrit dans l’EPN : vous pouvez le noter présent à une séance."
                        )
                    })
                    .or_else(|| {
                        p.strip_prefix("coordonnees=")
                            .map(|_| "Coordonnées de l’EPN enregistrées.".to_owned())
                    })
            })
        });
    let form = SessionForm {
        capacity: "8".into(),
        time: "14:00".into(),
        ..SessionForm::default()
    };
    overview_page(
        &state,
        &portal,
        StatusCode::OK,
        &form,
        &FormRefusal::default(),
        notice,
    )
    .await
}

/// Reads the session form; what it can judge itself (numbers, date and time) is refused in French.
fn read_session_form(form: &SessionForm, tz: chrono_tz::Tz) -> Result<NewSession, FormRefusal> {
    let mut refusal = FormRefusal::default();
    let scheme_id = Uuid::parse_str(form.scheme_id.trim()).ok();
    if scheme_id.is_none() {
        refusal = refusal.field("scheme_id", "Choisissez un dispositif dans la liste.");
    }
    let module_number = match optional(&form.module_number) {
        None => Ok(None),
        Some(text) => text.parse::<i32>().map(Some),
    };
    if module_number.is_err() {
        refusal = refusal.field("module_number", "Choisissez un module dans la liste.");
    }
    let day = NaiveDate::parse_from_str(form.day.trim(), "%Y-%m-%d").ok();
    if day.is_none() {
        refusal = refusal.field(
            "day",
            "Saisissez la date de la séance, par exemple 2026-11-24.",
        );
    }
    let time = NaiveTime::parse_from_str(form.time.trim(), "%H:%M").ok();
    if time.is_none() {
        refusal = refusal.field("time", "Saisissez l’heure de début, par exemple 14:00.");
    }
    let duration = match optional(&form.duration_minutes) {
        None => Ok(None),
        Some(text) => text.parse::<i32>().map(Some),
    };
    if duration.is_err() {
        refusal = refusal.field(
            "duration_minutes",
            "Saisissez une durée en minutes, par exemple 120, ou laissez vide pour celle du dispositif.",
        );
    }
    let capacity = form.capacity.trim().parse::<i32>().ok();
    if capacity.is_none() {
        refusal = refusal.field("capacity", "Saisissez un nombre de places, par exemple 8.");
    }
    let starts_at = day
        .zip(time)
        .and_then(|(d, t)| tz.from_local_datetime(&d.and_time(t)).earliest());
    if day.is_some() && time.is_some() && starts_at.is_none() {
        refusal = refusal.field(
            "time",
            "Cette heure n’existe pas ce jour-là (changement d’heure).",
        );
    }
    match (scheme_id, module_number, duration, capacity, starts_at) {
        (Some(scheme_id), Ok(module_number), Ok(duration_minutes), Some(capacity), Some(start))
            if refusal.is_empty() =>
        {
            Ok(NewSession {
                scheme_id,
                module_number,
                starts_at: start.with_timezone(&Utc),
                duration_minutes,
                capacity,
                animator: None,
                place: optional(&form.place),
            })
        }
        _ => Err(refusal),
    }
}

#[handler]
pub(super) async fn plan_session(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<SessionForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::CREATE_SESSION,
        &form.csrf_token,
    )
    .await?;
    let Some(epn_id) = portal.epn_id() else {
        return Err(unavailable().into());
    };
    let new = match read_session_form(&form, portal.tenant.tz()) {
        Ok(new) => new,
        Err(errors) => {
            return overview_page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
                None,
            )
            .await;
        }
    };
    match sessions::create(&state.db, portal.tenant.id, epn_id, portal.actor(), &new).await {
        Ok(session) => Ok(see_other(&format!(
            "{}/epn/seances/{}",
            portal.path(),
            session.id
        ))),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            overview_page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &errors,
                None,
            )
            .await
        }
    }
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub(super) struct RegistrationForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    interview_on: String,
    #[serde(default)]
    interview_minutes: String,
    #[serde(default)]
    autonomy_level: String,
    #[serde(default)]
    needs: String,
    #[serde(default)]
    notes: String,
    /// `recherche` for the first step (find the voucher), `inscription` for the second.
    #[serde(default)]
    step: String,
}

async fn registration_page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    form: &RegistrationForm,
    chosen: &[i32],
    errors: &FormRefusal,
) -> PageResult {
    let Some(epn_id) = portal.epn_id() else {
        return Err(unavailable().into());
    };
    // The second step shows the voucher's scheme's modules offered here, and its rules.
    let mut found = None;
    if !form.reference.trim().is_empty() && !errors.fields.contains_key("reference") {
        let voucher = vouchers::get(
            &state.db,
            portal.tenant.id,
            &form.reference,
            Visibility::Tenant,
        )
        .await;
        match voucher {
            Ok(voucher) => {
                let loaded = async {
                    let scheme =
                        schemes::get(&state.db, portal.tenant.id, voucher.scheme_id).await?;
                    let modules = epns::offered_module_titles(
                        &state.db,
                        portal.tenant.id,
                        epn_id,
                        voucher.scheme_id,
                    )
                    .await?;
                    Ok::<_, Error>((scheme, modules))
                }
                .await;
                let (scheme, modules) = loaded?;
                let rules = scheme.current.as_ref().map(|v| &v.rules.0);
                found = Some(FoundVoucher {
                    reference: voucher.reference.clone(),
                    scheme: scheme.scheme.name.clone(),
                    hours: french::duration(voucher.minutes_total),
                    valid_until: french::long_date(voucher.valid_until),
                    status: labels::voucher_status(
                        voucher.status_at(portal.tenant.tz(), Utc::now()),
                    ),
                    to_choose: rules.map(|r| r.modules_to_choose),
                    interview_required: rules.is_some_and(|r| r.interview_required),
                    interview_minutes: rules.map(|r| r.interview_minutes),
                    modules: modules
                        .iter()
                        .map(|m| ModuleChoice {
                            number: m.number,
                            title: m.title.clone(),
                            family: m.family.clone(),
                            checked: chosen.contains(&m.number),
                        })
                        .collect(),
                });
            }
            Err(Error::Database(e)) => return Err(Error::Database(e).into()),
            Err(_) => {}
        }
    }
    let levels: Vec<Choice> = AutonomyLevel::all()
        .map(|l| option(l.as_str(), labels::autonomy_level(l)))
        .collect();
    Ok(portal.page(
        status,
        "epn_register.html",
        RegistrationView {
            form,
            found,
            levels,
            today: portal.tenant.today().format("%Y-%m-%d").to_string(),
            errors: errors.to_view(),
        },
    ))
}

/// `?reference=` fills the reference in (the phone app links here from a scanned letter); the
/// holder's last name is still asked, as for a reference typed.
#[derive(Deserialize)]
pub(super) struct Prefilled {
    #[serde(default)]
    reference: String,
}

#[handler]
pub(super) async fn find_form(
    Path(slug): Path<String>,
    Query(prefilled): Query<Prefilled>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::REGISTER_VOUCHER).await?;
    let form = RegistrationForm {
        reference: prefilled
            .reference
            .trim()
            .to_uppercase()
            .chars()
            .take(40)
            .collect(),
        ..RegistrationForm::default()
    };
    registration_page(
        &state,
        &portal,
        StatusCode::OK,
        &form,
        &[],
        &FormRefusal::default(),
    )
    .await
}

#[handler]
pub(super) async fn register(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::REGISTER_VOUCHER).await?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let form = RegistrationForm {
        csrf_token: field("csrf_token"),
        reference: field("reference").trim().to_uppercase(),
        last_name: field("last_name"),
        interview_on: field("interview_on"),
        interview_minutes: field("interview_minutes"),
        autonomy_level: field("autonomy_level"),
        needs: field("needs"),
        notes: field("notes"),
        step: field("step"),
    };
    let chosen: Vec<i32> = pairs
        .iter()
        .filter(|(k, _)| k == "modules")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    if let Some(page) = portal.form_refused(req, &form.csrf_token) {
        return Ok(page);
    }
    let Some(epn_id) = portal.epn_id() else {
        return Err(unavailable().into());
    };
    let (state_ref, portal_ref, form_ref, chosen_ref) = (&*state, &portal, &form, &chosen);
    let form_page = move |status: StatusCode, errors: FormRefusal| async move {
        registration_page(state_ref, portal_ref, status, form_ref, chosen_ref, &errors).await
    };
    if form.step != "inscription" {
        // First step: find the voucher; its holder's name is checked when registering.
        let mut errors = FormRefusal::default();
        if form.last_name.trim().is_empty() {
            errors = errors.field(
                "last_name",
                "Saisissez le nom du titulaire, tel qu’il figure sur le courrier.",
            );
        }
        return match vouchers::get(
            &state.db,
            portal.tenant.id,
            &form.reference,
            Visibility::Tenant,
        )
        .await
        {
            Ok(_) if errors.is_empty() => form_page(StatusCode::OK, errors).await,
            Ok(_) => form_page(StatusCode::UNPROCESSABLE_ENTITY, errors).await,
            Err(Error::Database(e)) => Err(Error::Database(e).into()),
            Err(_) => {
                let errors = errors.field(
                    "reference",
                    "Aucun chèque ne porte cette référence dans cet espace : vérifiez-la sur le courrier, par exemple LOT-7K4M-Q2XP.",
                );
                form_page(StatusCode::UNPROCESSABLE_ENTITY, errors).await
            }
        };
    }
    let mut errors = FormRefusal::default();
    let interview_on = match optional(&form.interview_on) {
        None => Ok(None),
        Some(text) => NaiveDate::parse_from_str(&text, "%Y-%m-%d").map(Some),
    };
    if interview_on.is_err() {
        errors = errors.field(
            "interview_on",
            "Saisissez la date de l’entretien, par exemple 2026-11-24.",
        );
    }
    let interview_minutes = match optional(&form.interview_minutes) {
        None => Ok(None),
        Some(text) => text.parse::<i32>().map(Some),
    };
    if interview_minutes.is_err() {
        errors = errors.field(
            "interview_minutes",
            "Saisissez la durée de l’entretien en minutes, par exemple 30.",
        );
    }
    let autonomy_level = optional(&form.autonomy_level)
        .map(|text| text.parse::<AutonomyLevel>())
        .transpose();
    if autonomy_level.is_err() {
        errors = errors.field(
            "autonomy_level",
            "Choisissez un niveau d’autonomie dans la liste.",
        );
    }
    let (Ok(on), Ok(minutes), Ok(autonomy_level), true) = (
        interview_on,
        interview_minutes,
        autonomy_level,
        errors.is_empty(),
    ) else {
        return form_page(StatusCode::UNPROCESSABLE_ENTITY, errors).await;
    };
    let request = RegisterRequest {
        reference: form.reference.clone(),
        last_name: form.last_name.clone(),
        interview: Interview {
            on,
            minutes,
            autonomy_level,
            needs: optional(&form.needs),
            notes: optional(&form.notes),
        },
        modules: chosen.clone(),
    };
    match registration::register(
        &state.db,
        portal.tenant.id,
        epn_id,
        portal.actor(),
        &request,
    )
    .await
    {
        Ok(registered) => Ok(see_other(&format!(
            "{}/epn?inscrit={}",
            portal.path(),
            registered.voucher.reference
        ))),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            form_page(StatusCode::UNPROCESSABLE_ENTITY, errors).await
        }
    }
}

/// One row's outcome after the sheet was sent.
#[derive(Debug, serde::Serialize)]
pub(super) struct Outcome {
    reference: String,
    pub ok: bool,
    pub(in crate::web) text: String,
}

impl Outcome {
    /// A line of a sent sheet as the animator reads it: what was noted and the time left, or
    /// why the line was refused, in French.
    pub(super) fn of(reference: &str, result: &Result<attendance::Recorded, Error>) -> Self {
        match result {
            Ok(r) => Outcome {
                reference: reference.to_owned(),
                ok: true,
                text: format!(
                    "{reference} noté {} ; il reste {}.",
                    labels::attendance_status(r.attendance.status),
                    french::duration(r.minutes_left)
                ),
            },
            Err(e) => Outcome {
                reference: reference.to_owned(),
                ok: false,
                text: format!(
                    "{reference} : {}",
                    fr::refusal(e)
                        .and_then(|r| r.form.or_else(|| r.fields.into_values().next()))
                        .unwrap_or_default()
                ),
            },
        }
    }
}

async fn sheet_page(
    state: &AppState,
    portal: &Portal,
    session_id: &str,
    status: StatusCode,
    outcomes: &[Outcome],
) -> PageResult {
    let Some(epn_id) = portal.epn_id() else {
        return Err(unavailable().into());
    };
    let session_id = super::path_id(session_id, "session")?;
    let tenant_id = portal.tenant.id;
    let loaded = async {
        let session = sessions::get(&state.db, tenant_id, Some(epn_id), session_id).await?;
        let rows = overview::sheet(&state.db, tenant_id, &session).await?;
        let competences = overview::competences(&state.db, tenant_id, session.scheme_id).await?;
        let scheme = schemes::get(&state.db, tenant_id, session.scheme_id).await?;
        Ok::<_, Error>((session, rows, competences, scheme))
    }
    .await;
    let back = format!("{}/epn", portal.path());
    let (session, rows, competences, scheme) = loaded.or_back(&back, "Revenir aux séances")?;
    let module = session.module_number.and_then(|n| {
        scheme
            .modules
            .iter()
            .find(|m| m.number == n)
            .map(|m| format!("{n}. {}", m.title))
    });
    let levels: Vec<Choice> = CompetenceLevel::all()
        .map(|l| option(l.as_str(), labels::competence_level(l)))
        .collect();
    let rows: Vec<SheetRowView> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| SheetRowView {
            index: i,
            reference: r.reference.clone(),
            name: format!(
                "{} {}",
                r.first_name.as_deref().unwrap_or_default(),
                r.last_name.as_deref().unwrap_or_default()
            )
            .trim()
            .to_owned(),
            left: french::duration(r.minutes_left),
            enrolled: r.enrolled,
            off_path: r.booked_off_path,
            recorded: r.recorded.map(labels::attendance_status),
        })
        .collect();
    Ok(portal.page(
        status,
        "epn_sheet.html",
        SheetView {
            session: SheetSession {
                id: session.id,
                when: when(&session, portal.tenant.tz()),
                scheme: scheme.scheme.name,
                module,
                duration: french::duration(session.duration_minutes),
                status: labels::session_status(session.status),
                cancelled: session.status.is_cancelled(),
                place: session.place,
            },
            rows,
            competences: competences
                .into_iter()
                .map(CompetenceChoice::from)
                .collect(),
            levels,
            outcomes,
            all_ok: outcomes.iter().all(|o| o.ok),
        },
    ))
}

#[handler]
pub(super) async fn sheet(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::RECORD_ATTENDANCE).await?;
    sheet_page(&state, &portal, &id, StatusCode::OK, &[]).await
}

/// The most rows a sheet may carry: a session's largest capacity.
const MAX_SHEET_ROWS: usize = 500;
/// The most competences a row may carry (the API's bound).
const MAX_ROW_COMPETENCES: usize = 16;

/// Why a posted sheet is refused whole.
#[derive(Debug, PartialEq, Eq)]
enum SheetRefused {
    /// Past the bounds above.
    TooLong,
    /// An attendance or a level that is not one of the sheet's choices: the form was not the page's.
    Unreadable,
}

/// What a person's competence select says: as the group (empty), not worked by them, or a level.
const NOT_WORKED: &str = "aucune";

/// The sheet's entries: `ref_<i>` names a row's voucher, `statut_<i>` its attendance (rows left
/// blank are not recorded), `horsparcours_<i>` its « hors parcours » mark. The competences are
/// ticked once for the session — `groupe_<code>`, a level — and apply to everyone present;
/// `comp_<i>_<code>` adjusts one person: a level, `aucune` (not worked by them) or empty (as the
/// group). Read in one pass over the form, whatever its size.
fn entries(pairs: &[(String, String)]) -> Result<Vec<Entry>, SheetRefused> {
    use std::collections::{BTreeMap, HashMap, HashSet};
    let level = |value: &str| -> Result<CompetenceLevel, SheetRefused> {
        value.parse().map_err(|_| SheetRefused::Unreadable)
    };
    let mut references: Vec<(&str, &str)> = Vec::new();
    let mut statuses: HashMap<&str, &str> = HashMap::new();
    let mut group: BTreeMap<&str, CompetenceLevel> = BTreeMap::new();
    let mut adjusted: HashMap<&str, Vec<(&str, Option<CompetenceLevel>)>> = HashMap::new();
    let mut off_path: HashSet<&str> = HashSet::new();
    for (key, value) in pairs {
        let value = value.trim();
        if let Some(row) = key.strip_prefix("ref_") {
            references.push((row, value));
            if references.len() > MAX_SHEET_ROWS {
                return Err(SheetRefused::TooLong);
            }
        } else if let Some(row) = key.strip_prefix("statut_") {
            statuses.insert(row, value);
        } else if let Some(row) = key.strip_prefix("horsparcours_") {
            off_path.insert(row);
        } else if let Some(code) = key.strip_prefix("groupe_")
            && !value.is_empty()
        {
            group.insert(code, level(value)?);
            if group.len() > MAX_ROW_COMPETENCES {
                return Err(SheetRefused::TooLong);
            }
        } else if let Some((row, code)) = key
            .strip_prefix("comp_")
            .and_then(|rest| rest.split_once('_'))
            && !value.is_empty()
        {
            let chosen = if value == NOT_WORKED {
                None
            } else {
                Some(level(value)?)
            };
            let row_adjusted = adjusted.entry(row).or_default();
            row_adjusted.push((code, chosen));
            if row_adjusted.len() > MAX_ROW_COMPETENCES {
                return Err(SheetRefused::TooLong);
            }
        }
    }
    references
        .into_iter()
        .filter_map(|(row, reference)| {
            let status = statuses.get(row).copied().unwrap_or_default();
            (!status.is_empty()).then(|| {
                let status = status
                    .parse::<AttendanceStatus>()
                    .map_err(|_| SheetRefused::Unreadable)?;
                // The group's competences are those of the people present.
                let mut worked: BTreeMap<&str, CompetenceLevel> =
                    if status == AttendanceStatus::Present {
                        group.clone()
                    } else {
                        BTreeMap::new()
                    };
                for (code, chosen) in adjusted.remove(row).unwrap_or_default() {
                    match chosen {
                        Some(level) => worked.insert(code, level),
                        None => worked.remove(code),
                    };
                }
                if worked.len() > MAX_ROW_COMPETENCES {
                    return Err(SheetRefused::TooLong);
                }
                Ok(Entry {
                    reference: reference.to_owned(),
                    status,
                    competences: worked
                        .into_iter()
                        .map(|(code, level)| (code.to_owned(), level))
                        .collect(),
                    off_path: off_path.contains(row),
                })
            })
        })
        .collect()
}

#[handler]
pub(super) async fn record_sheet(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::RECORD_ATTENDANCE).await?;
    let token = pairs
        .iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    if let Some(page) = portal.form_refused(req, token) {
        return Ok(page);
    }
    let Some(epn_id) = portal.epn_id() else {
        return Err(unavailable().into());
    };
    let session_id = super::path_id(&id, "session")?;
    let back = format!("{}/epn", portal.path());
    let entries = match entries(&pairs) {
        Ok(entries) => entries,
        Err(SheetRefused::TooLong) => {
            return Ok(message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Feuille trop longue",
                &format!(
                    "Une feuille compte au plus {MAX_SHEET_ROWS} personnes et {MAX_ROW_COMPETENCES} compétences par personne."
                ),
                Some((&back, "Revenir aux séances")),
            ));
        }
        Err(SheetRefused::Unreadable) => {
            return Ok(message(
                StatusCode::BAD_REQUEST,
                "Feuille illisible",
                "Une présence ou un niveau de compétence n’est pas un choix de la feuille. Rechargez la feuille et recommencez.",
                Some((&back, "Revenir aux séances")),
            ));
        }
    };
    if entries.is_empty() {
        let outcomes = [Outcome {
            reference: String::new(),
            ok: false,
            text: "Aucune présence cochée : choisissez présent, absent ou excusé pour chaque personne venue ou attendue.".into(),
        }];
        return sheet_page(
            &state,
            &portal,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            &outcomes,
        )
        .await;
    }
    let recorded = attendance::record(
        &state.db,
        portal.tenant.id,
        epn_id,
        portal.actor(),
        session_id,
        &entries,
    )
    .await;
    let results = recorded.or_back(&back, "Revenir aux séances")?;
    let outcomes: Vec<Outcome> = entries
        .iter()
        .zip(&results)
        .map(|(entry, result)| Outcome::of(&entry.reference, result))
        .collect();
    let status = if outcomes.iter().all(|o| o.ok) {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    sheet_page(&state, &portal, &id, status, &outcomes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn a_sheet_is_read_row_by_row_with_its_competences() {
        let form = vec![
            pair("csrf_token", "t"),
            pair("ref_0", "LOT-AAAA-BBBB"),
            pair("statut_0", "present"),
            pair("comp_0_2.1", "practised"),
            pair("comp_0_1.1", ""),
            pair("ref_1", "LOT-CCCC-DDDD"),
            pair("statut_1", ""),
            pair("ref_2", "LOT-EEEE-FFFF"),
            pair("comp_2_3.1", "acquired"),
            pair("statut_2", "absent"),
        ];
        let read = entries(&form).expect("within bounds");
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].reference, "LOT-AAAA-BBBB");
        assert_eq!(read[0].status, AttendanceStatus::Present);
        assert_eq!(
            read[0].competences,
            [("2.1".into(), CompetenceLevel::Practised)]
        );
        assert_eq!(
            (read[1].reference.as_str(), read[1].status),
            ("LOT-EEEE-FFFF", AttendanceStatus::Absent)
        );
    }

    #[test]
    fn the_groups_competences_apply_to_everyone_present_and_each_person_can_differ() {
        let form = vec![
            pair("groupe_2.1", "practised"),
            pair("groupe_1.1", "discovered"),
            pair("groupe_3.1", ""),
            pair("ref_0", "LOT-AAAA"),
            pair("statut_0", "present"),
            pair("comp_0_2.1", ""),
            pair("ref_1", "LOT-BBBB"),
            pair("statut_1", "present"),
            pair("comp_1_2.1", "acquired"),
            pair("comp_1_1.1", "aucune"),
            pair("comp_1_4.2", "discovered"),
            pair("ref_2", "LOT-CCCC"),
            pair("statut_2", "absent"),
        ];
        let read = entries(&form).expect("within bounds");
        assert_eq!(
            read[0].competences,
            [
                ("1.1".into(), CompetenceLevel::Discovered),
                ("2.1".into(), CompetenceLevel::Practised)
            ],
            "as the group"
        );
        assert_eq!(
            read[1].competences,
            [
                ("2.1".into(), CompetenceLevel::Acquired),
                ("4.2".into(), CompetenceLevel::Discovered)
            ],
            "adjusted: one level higher, one not worked, one more"
        );
        assert!(read[2].competences.is_empty(), "nothing for the absent");
        let forged = vec![pair("groupe_2.1", "expert"), pair("ref_0", "LOT-X")];
        assert_eq!(entries(&forged).err(), Some(SheetRefused::Unreadable));
        let too_many: Vec<_> = (0..=MAX_ROW_COMPETENCES)
            .map(|c| pair(&format!("groupe_{c}"), "acquired"))
            .collect();
        assert_eq!(entries(&too_many).err(), Some(SheetRefused::TooLong));
    }

    #[test]
    fn an_oversized_sheet_is_refused_whole() {
        let rows: Vec<_> = (0..=MAX_SHEET_ROWS)
            .flat_map(|i| {
                [
                    pair(&format!("ref_{i}"), "LOT-X"),
                    pair(&format!("statut_{i}"), "present"),
                ]
            })
            .collect();
        assert_eq!(entries(&rows).err(), Some(SheetRefused::TooLong));
        let competences: Vec<_> = std::iter::once(pair("ref_0", "LOT-X"))
            .chain((0..=MAX_ROW_COMPETENCES).map(|c| pair(&format!("comp_0_{c}"), "acquired")))
            .collect();
        assert_eq!(entries(&competences).err(), Some(SheetRefused::TooLong));
    }

    #[test]
    fn a_forged_attendance_or_level_refuses_the_sheet() {
        let status = vec![pair("ref_0", "LOT-X"), pair("statut_0", "sleeping")];
        assert_eq!(entries(&status).err(), Some(SheetRefused::Unreadable));
        let level = vec![
            pair("ref_0", "LOT-X"),
            pair("statut_0", "present"),
            pair("comp_0_2.1", "expert"),
        ];
        assert_eq!(entries(&level).err(), Some(SheetRefused::Unreadable));
    }
}
