//! `GET …/epn/telephone/semaine`: the EPN's sessions of today and the coming week with their
//! sheets, as the phone keeps them, and who they are kept for.

use chrono::{DateTime, Utc};
use passerelle_core::delivery::CompetenceLevel;
use passerelle_core::delivery::phone::{self, PhoneWeek};
use passerelle_core::emails::french;
use passerelle_core::{epns, labels};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, Response, handler};
use serde::Serialize;
use uuid::Uuid;

use super::{animator, json, unavailable};
use crate::state::AppState;

/// Who the data is kept for: the app wipes what it holds when another user signs in.
#[derive(Serialize)]
struct Owner {
    user_id: Uuid,
    tenant: String,
    display_name: String,
    epn: String,
    csrf_token: String,
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct ModuleView {
    number: i32,
    title: String,
}

#[derive(Serialize)]
struct CompetenceView {
    code: String,
    title: String,
    area: String,
}

#[derive(Serialize)]
struct SchemeView {
    id: Uuid,
    name: String,
    modules: Vec<ModuleView>,
    competences: Vec<CompetenceView>,
}

#[derive(Serialize)]
struct VoucherView {
    reference: String,
    name: String,
    minutes_left: i32,
    /// "12 h 30", as the sheet writes it.
    left: String,
    scheme_id: Uuid,
    modules: Vec<i32>,
    /// Matches the holder's letter code (see `phone::letter_lookup`); absent without a letter.
    #[serde(skip_serializing_if = "Option::is_none")]
    letter: Option<String>,
}

#[derive(Serialize)]
struct RowView {
    reference: String,
    enrolled: bool,
    off_path: bool,
    /// What is already recorded (« présent », …), in French.
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded: Option<&'static str>,
}

#[derive(Serialize)]
struct SessionView {
    id: Uuid,
    starts_at: DateTime<Utc>,
    /// The local day (YYYY-MM-DD), for grouping.
    day: String,
    /// « mardi 8 décembre 2026 à 14 h 00 ».
    when: String,
    scheme_id: Uuid,
    module_number: Option<i32>,
    duration: String,
    place: Option<String>,
    cancelled: bool,
    rows: Vec<RowView>,
}

#[derive(Serialize)]
struct WeekView {
    owner: Owner,
    fetched_at: DateTime<Utc>,
    /// The territory's time zone, in which the phone writes times.
    time_zone: &'static str,
    /// « du samedi 5 décembre au samedi 12 décembre 2026 ».
    period: String,
    levels: Vec<Choice>,
    attendance: Vec<Choice>,
    schemes: Vec<SchemeView>,
    vouchers: Vec<VoucherView>,
    sessions: Vec<SessionView>,
}

fn view(week: PhoneWeek, owner: Owner, tz: chrono_tz::Tz) -> WeekView {
    let mut names: std::collections::HashMap<String, (String, i32)> = Default::default();
    let sessions = week
        .sessions
        .into_iter()
        .map(|s| {
            let local = s.session.starts_at.with_timezone(&tz);
            let rows = s
                .rows
                .into_iter()
                .map(|r| {
                    let name = format!(
                        "{} {}",
                        r.first_name.as_deref().unwrap_or_default(),
                        r.last_name.as_deref().unwrap_or_default()
                    )
                    .trim()
                    .to_owned();
                    names.insert(r.reference.clone(), (name, r.minutes_left));
                    RowView {
                        reference: r.reference,
                        enrolled: r.enrolled,
                        off_path: r.booked_off_path,
                        recorded: r.recorded.map(labels::attendance_status),
                    }
                })
                .collect();
            SessionView {
                id: s.session.id,
                starts_at: s.session.starts_at,
                day: local.date_naive().to_string(),
                when: format!(
                    "{} à {}",
                    french::long_date(local.date_naive()),
                    local.format("%H h %M")
                ),
                scheme_id: s.session.scheme_id,
                module_number: s.session.module_number,
                duration: french::duration(s.session.duration_minutes),
                place: s.session.place,
                cancelled: s.session.status.is_cancelled(),
                rows,
            }
        })
        .collect();
    let vouchers = week
        .vouchers
        .into_iter()
        .map(|v| {
            let (name, minutes_left) = names.remove(&v.reference).unwrap_or_default();
            VoucherView {
                left: french::duration(minutes_left),
                reference: v.reference,
                name,
                minutes_left,
                scheme_id: v.scheme_id,
                modules: v.modules,
                letter: v.letter_lookup,
            }
        })
        .collect();
    let period = match (week.first_day, week.last_day) {
        (Some(first), Some(last)) => format!(
            "du {} au {}",
            french::long_date(first),
            french::long_date(last)
        ),
        _ => String::new(),
    };
    WeekView {
        owner,
        fetched_at: Utc::now(),
        time_zone: tz.name(),
        period,
        levels: CompetenceLevel::all()
            .map(|l| Choice {
                value: l.as_str(),
                label: labels::competence_level(l),
            })
            .collect(),
        attendance: [
            ("present", "Présent"),
            ("absent", "Absent"),
            ("excused", "Excusé"),
        ]
        .into_iter()
        .map(|(value, label)| Choice { value, label })
        .collect(),
        schemes: week
            .schemes
            .into_iter()
            .map(|s| SchemeView {
                id: s.id,
                name: s.name,
                modules: s
                    .modules
                    .into_iter()
                    .map(|m| ModuleView {
                        number: m.number,
                        title: m.title,
                    })
                    .collect(),
                competences: s
                    .competences
                    .into_iter()
                    .map(|c| CompetenceView {
                        code: c.code,
                        title: c.title,
                        area: c.area,
                    })
                    .collect(),
            })
            .collect(),
        vouchers,
        sessions,
    }
}

#[handler]
pub(in crate::web) async fn show(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> Response {
    let (portal, epn_id) = match animator(&state, req, &slug).await {
        Ok(found) => found,
        Err(refusal) => return refusal,
    };
    let tenant = &portal.tenant;
    let loaded = async {
        let epn = epns::get(&state.db, tenant.id, epn_id).await?;
        let week = phone::week(&state.db, tenant, epn_id, tenant.today()).await?;
        Ok::<_, passerelle_core::Error>((epn, week))
    }
    .await;
    let (epn, week) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            tracing::error!(error = %e, "phone week failed");
            return unavailable();
        }
    };
    let owner = Owner {
        user_id: portal.user_id().unwrap_or_default(),
        tenant: tenant.slug.clone(),
        display_name: portal.user.display_name.clone(),
        epn: epn.name,
        csrf_token: portal.user.csrf_token.clone(),
    };
    json(StatusCode::OK, &view(week, owner, tenant.tz()))
}
