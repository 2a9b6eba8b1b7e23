//! The finance officer's statements: a month's list with its total, and the month's CSV.

use chrono::{Datelike, Months, NaiveDate, Utc};
use passerelle_core::audit::Actor;
use passerelle_core::reimbursements::{self, StatementFilter, export};
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Request, Response, handler};
use serde_json::json;

use super::{Portal, message, unavailable};
use crate::access::{self, Operation};
use crate::pages;
use crate::state::AppState;

fn parse_month(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d").ok()
}

/// The month asked in `?mois=AAAA-MM`, or the one before this month in Paris (the one the monthly
/// run has just computed).
fn asked_month(req: &Request) -> Option<NaiveDate> {
    match req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("mois=")))
    {
        Some(text) => parse_month(text),
        None => {
            let today = Utc::now()
                .with_timezone(&chrono_tz::Europe::Paris)
                .date_naive();
            today
                .with_day(1)
                .and_then(|first| first.checked_sub_months(Months::new(1)))
        }
    }
}

fn status_fr(status: &str) -> &'static str {
    match status {
        "draft" => "à valider",
        "approved" => "validé",
        "paid" => "payé",
        _ => "",
    }
}

fn not_allowed() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Accès réservé",
        "Cette page est réservée aux gestionnaires financiers et aux administrateurs de l’espace.",
        None,
    )
}

/// The signed-in portal of `slug` when its user may call `operation`, or the page to answer.
async fn finance_portal(
    state: &AppState,
    req: &Request,
    slug: &str,
    operation: &Operation,
) -> Result<Portal, Response> {
    let portal = Portal::signed_in(state, req, slug).await?;
    if portal.may(operation) {
        Ok(portal)
    } else {
        Err(not_allowed())
    }
}

#[handler]
pub(super) async fn list(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> Response {
    let portal = match finance_portal(&state, req, &slug, &access::LIST_STATEMENTS).await {
        Ok(portal) => portal,
        Err(page) => return page,
    };
    let Some(month) = asked_month(req) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Mois non reconnu",
            "Indiquez le mois sous la forme AAAA-MM, par exemple 2026-10.",
            Some((&format!("{}/releves", portal.path()), "Revenir aux relevés")),
        );
    };
    let filter = StatementFilter {
        month: Some(month),
        ..StatementFilter::default()
    };
    let statements = match reimbursements::list(&state.db, portal.tenant.id, &filter).await {
        Ok(statements) => statements,
        Err(e) => {
            tracing::error!(error = %e, "statements page failed");
            return unavailable();
        }
    };
    let total: i64 = statements.iter().map(|s| s.total_cents).sum();
    let rows: Vec<_> = statements
        .iter()
        .map(|s| {
            json!({
                "reference": s.reference,
                "epn": s.epn_name,
                "scheme": s.scheme_name,
                "lines": s.line_count,
                "amount": format!("{} €", export::euros(s.total_cents)),
                "status": status_fr(&s.status),
            })
        })
        .collect();
    super::html(
        StatusCode::OK,
        pages::render(
            "statements.html",
            json!({
                "tenant_name": portal.tenant.name,
                "month": month.format("%Y-%m").to_string(),
                "month_label": passerelle_core::emails::french::month_year(month),
                "statements": rows,
                "total": format!("{} €", export::euros(total)),
                "home_path": format!("{}/", portal.path()),
                "csv_path": format!("{}/releves/{}/csv", portal.path(), month.format("%Y-%m")),
            }),
        ),
    )
}

#[handler]
pub(super) async fn month_csv(
    Path((slug, month)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> Response {
    let portal = match finance_portal(&state, req, &slug, &access::MONTH_CSV).await {
        Ok(portal) => portal,
        Err(page) => return page,
    };
    let Some(month) = parse_month(&month) else {
        return message(
            StatusCode::NOT_FOUND,
            "Page introuvable",
            "Ce mois n’existe pas.",
            None,
        );
    };
    let actor = Actor::from(&portal.user.principal);
    match export::month_csv(&state.db, portal.tenant.id, actor, month).await {
        Ok((name, bytes)) => Response::builder()
            .status(StatusCode::OK)
            .content_type("text/csv; charset=utf-8")
            .header(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            )
            .header(header::CACHE_CONTROL, "no-store")
            .body(bytes),
        Err(e) => {
            tracing::error!(error = %e, "month CSV failed");
            unavailable()
        }
    }
}
