//! « Mes remboursements »: an EPN's staff see what their EPN is owed and was paid, a year at a
//! time — each month's statement with its status, its payment (date and bank reference) and a link
//! to its lines and CSV — and the year's totals. Only their EPN's statements: the domain is asked
//! with the EPN as the filter, and a statement page of another EPN is not found.

use chrono::Datelike;
use passerelle_core::emails::french;
use passerelle_core::emails::french::euros;
use passerelle_core::labels;
use passerelle_core::reimbursements::{self, StatementFilter, StatementStatus};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, handler};
use serde::Serialize;
use uuid::Uuid;

use super::forms::query_param;
use super::{PageResult, Portal, see_other, unavailable};
use crate::access;
use crate::state::AppState;

#[derive(Serialize)]
struct Row {
    id: Uuid,
    month: String,
    scheme: String,
    reference: String,
    lines: i32,
    amount: String,
    status: &'static str,
    paid_on: Option<String>,
    bank_reference: Option<String>,
}

#[derive(Serialize)]
struct YearView {
    epn: String,
    year: i32,
    rows: Vec<Row>,
    /// Approved or paid: what the territory owes or paid.
    owed: String,
    paid: String,
    /// Still being checked by the territory's finance.
    draft: String,
    previous: Option<i32>,
    next: Option<i32>,
}

#[handler]
pub(super) async fn year(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::LIST_STATEMENTS).await?;
    let Some(epn_id) = portal.epn_id() else {
        // The territory's finance have the month's page of every EPN.
        return Ok(see_other(&format!("{}/releves", portal.path())));
    };
    let this_year = portal.tenant.today().year();
    let year = query_param(req, "annee")
        .and_then(|y| y.parse::<i32>().ok())
        .filter(|y| (2000..=this_year).contains(y))
        .unwrap_or(this_year);
    let filter = StatementFilter {
        epn_id: Some(epn_id),
        ..StatementFilter::default()
    };
    let all = match reimbursements::list(&state.db, portal.tenant.id, &filter).await {
        Ok(all) => all,
        Err(e) => {
            tracing::error!(error = %e, "EPN statements page failed");
            return Err(unavailable().into());
        }
    };
    let epn = passerelle_core::epns::get(&state.db, portal.tenant.id, epn_id).await?;
    let first_year = all.iter().map(|s| s.month.year()).min();
    let mut statements: Vec<_> = all.into_iter().filter(|s| s.month.year() == year).collect();
    statements.sort_by(|a, b| {
        b.month
            .cmp(&a.month)
            .then(a.scheme_name.cmp(&b.scheme_name))
    });
    let sum = |keep: &dyn Fn(StatementStatus) -> bool| -> i64 {
        statements
            .iter()
            .filter(|s| keep(s.status))
            .map(|s| s.total_cents)
            .sum()
    };
    let owed = sum(&|s| s != StatementStatus::Draft);
    let paid = sum(&|s| s == StatementStatus::Paid);
    let draft = sum(&|s| s == StatementStatus::Draft);
    let rows = statements
        .iter()
        .map(|s| Row {
            id: s.id,
            month: french::month_year(s.month),
            scheme: s.scheme_name.clone(),
            reference: s.reference.clone(),
            lines: s.line_count,
            amount: euros(s.total_cents),
            status: labels::statement_status(s.status),
            paid_on: s.paid_on.map(french::long_date),
            bank_reference: s.bank_reference.clone(),
        })
        .collect();
    Ok(portal.page(
        StatusCode::OK,
        "epn_statements.html",
        YearView {
            epn: epn.name,
            year,
            rows,
            owed: euros(owed),
            paid: euros(paid),
            draft: euros(draft),
            previous: first_year.filter(|first| *first < year).map(|_| year - 1),
            next: (year < this_year).then_some(year + 1),
        },
    ))
}
