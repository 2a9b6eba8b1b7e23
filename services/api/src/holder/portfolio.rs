//! The holder's e-portfolio as a French web page, through their private link: sessions, modules,
//! hours, competences with their levels.

use passerelle_core::delivery::CompetenceLevel;
use passerelle_core::labels;
use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Html;

use crate::problem::PublicError;
use crate::state::AppState;
use crate::v1::Tag;
use crate::v1::portfolio::{PortfolioView, public_view};

/// A duration as the page shows it: "2 h", "45 min", "1 h 30".
fn hours(minutes: i32) -> String {
    match (minutes / 60, minutes % 60) {
        (h, 0) => format!("{h}\u{a0}h"),
        (0, m) => format!("{m}\u{a0}min"),
        (h, m) => format!("{h}\u{a0}h\u{a0}{m:02}"),
    }
}

/// The design system's badge colour for a level.
fn level_badge(level: CompetenceLevel) -> &'static str {
    match level {
        CompetenceLevel::Discovered => "info",
        CompetenceLevel::Practised => "new",
        CompetenceLevel::Acquired => "success",
    }
}

#[derive(serde::Serialize)]
struct CompetenceLine {
    code: String,
    title: String,
    level: &'static str,
    badge: &'static str,
}

#[derive(serde::Serialize)]
struct SessionLine {
    date: String,
    module: String,
    duration: String,
    epn: String,
    competences: Vec<CompetenceLine>,
}

/// The holder's page (`templates/pages/portfolio.html`): French, readable on a phone, dates
/// written out in French and in Paris time.
fn render(p: &PortfolioView) -> String {
    use passerelle_core::emails::french::long_date;
    let paris = chrono_tz::Europe::Paris;
    let sessions: Vec<SessionLine> = p
        .sessions
        .iter()
        .map(|s| SessionLine {
            date: long_date(s.date.with_timezone(&paris).date_naive()),
            module: match (&s.module_number, &s.module_title) {
                (Some(n), Some(t)) => format!("Module {n}\u{a0}: {t}"),
                _ => "Séance".to_owned(),
            },
            duration: hours(s.minutes),
            epn: s.epn.clone(),
            competences: s
                .competences
                .iter()
                .map(|c| {
                    let reached = CompetenceLevel::from(c.level);
                    let (level, badge) = (labels::competence_level(reached), level_badge(reached));
                    CompetenceLine {
                        code: c.code.clone(),
                        title: c.title.clone(),
                        level,
                        badge,
                    }
                })
                .collect(),
        })
        .collect();
    crate::pages::render(
        "portfolio.html",
        serde_json::json!({
            "first_name": p.first_name,
            "scheme": p.scheme,
            "reference": p.reference,
            "status": passerelle_core::labels::voucher_status(p.status.into()),
            "attended": hours(p.minutes_attended),
            "left": hours(p.minutes_left),
            "valid_until": long_date(p.valid_until),
            "epn": p.epn,
            "sessions": sessions,
            "orientation": p.orientation.as_ref().map(|o| serde_json::json!({
                "kind": labels::orientation(o.kind.into()),
                "note": o.note,
                "on": long_date(o.recorded_at.with_timezone(&paris).date_naive()),
            })),
        }),
    )
}

pub struct PortfolioPage;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Public")]
impl PortfolioPage {
    /// The holder's portfolio page (French HTML), through their private link. No token needed.
    #[oai(
        path = "/public/portfolio/:token",
        method = "get",
        operation_id = "publicPortfolioPage"
    )]
    async fn public_page(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// The secret of the holder's private link.
        token: Path<String>,
    ) -> Result<Html<String>, PublicError> {
        let view = public_view(&state, req, &token.0).await?;
        Ok(Html(render(&view)))
    }
}
