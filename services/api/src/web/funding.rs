//! Finance's page of the funders' money: each co-financed scheme's reconciliation at the end of a
//! month (committed, consumed, released, outstanding, what remains of each envelope), its CSV, and
//! each funder's claim file from January to that month.

use chrono::{Datelike, NaiveDate};
use passerelle_core::audit::Actor;
use passerelle_core::emails::french::{self, euros};
use passerelle_core::funders::{self, reconciliation};
use passerelle_core::labels;
use passerelle_core::pagination::PageRequest;
use passerelle_core::reimbursements::funder_claims;
use passerelle_core::schemes;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, handler};
use serde::Serialize;

use super::statements::{asked_month_or, attachment, parse_month};
use super::{PageResult, Portal, message, path_id, unavailable};
use crate::access;
use crate::state::AppState;

/// One party's figures, in euros.
#[derive(Serialize)]
struct FiguresRow {
    party: String,
    committed: String,
    consumed: String,
    released: String,
    outstanding: String,
    envelope: Option<String>,
    remaining: Option<String>,
}

fn figures_row(party: String, f: &reconciliation::Figures) -> FiguresRow {
    FiguresRow {
        party,
        committed: euros(f.committed_cents),
        consumed: euros(f.consumed_cents),
        released: euros(f.released_cents),
        outstanding: euros(f.outstanding_cents),
        envelope: None,
        remaining: None,
    }
}

/// A co-financed scheme's reconciliation at the month's end.
#[derive(Serialize)]
struct SchemeReconciliation {
    scheme: String,
    vouchers_issued: i64,
    vouchers_ended: i64,
    funders: Vec<FiguresRow>,
    territory: FiguresRow,
    total: FiguresRow,
    csv_path: String,
}

#[derive(Serialize)]
struct FunderRow {
    name: String,
    kind: &'static str,
    siret: Option<String>,
    claims_path: String,
}

#[derive(Serialize)]
struct FundingView {
    month: String,
    month_label: String,
    /// The claims run from January of the month's year to the month.
    claims_label: String,
    schemes: Vec<SchemeReconciliation>,
    funders: Vec<FunderRow>,
}

fn not_found(what: &str) -> poem::Response {
    message(StatusCode::NOT_FOUND, "Page introuvable", what, None)
}

/// `financeurs?mois=AAAA-MM`.
#[handler]
pub(super) async fn page(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::GET_SCHEME_RECONCILIATION).await?;
    // Without a month asked, this month: its figures so far.
    let Some(month) = asked_month_or(req, || portal.tenant.today().with_day(1)) else {
        return Ok(not_found("Ce mois n’existe pas."));
    };
    let month_text = month.format("%Y-%m").to_string();
    let first_of_year = NaiveDate::from_ymd_opt(month.year(), 1, 1).unwrap_or(month);
    let listed = funders::list(&state.db, portal.tenant.id).await?;
    let funders = listed
        .iter()
        .map(|f| FunderRow {
            name: f.name.clone(),
            kind: labels::funder_kind(f.kind),
            siret: f.siret.clone(),
            claims_path: format!(
                "{}/financeurs/{}/demande/{}/{month_text}",
                portal.path(),
                f.id,
                first_of_year.format("%Y-%m")
            ),
        })
        .collect();
    let mut rows = Vec::new();
    let page = PageRequest::parse(Some(100), None)?;
    for scheme in schemes::list(&state.db, portal.tenant.id, page)
        .await?
        .items
    {
        let report =
            reconciliation::at_month_end(&state.db, portal.tenant.id, scheme.id, month).await?;
        if report.funders.is_empty() {
            continue;
        }
        rows.push(SchemeReconciliation {
            scheme: scheme.name.clone(),
            vouchers_issued: report.vouchers_issued,
            vouchers_ended: report.vouchers_ended,
            funders: report
                .funders
                .iter()
                .map(|f| FiguresRow {
                    envelope: f.envelope_cents.map(euros),
                    remaining: f.remaining_cents.map(euros),
                    ..figures_row(f.name.clone(), &f.figures)
                })
                .collect(),
            territory: figures_row("Territoire".into(), &report.territory),
            total: figures_row("Total".into(), &report.total),
            csv_path: format!(
                "{}/financeurs/rapprochement/{}/{month_text}",
                portal.path(),
                scheme.id
            ),
        });
    }
    Ok(portal.page(
        StatusCode::OK,
        "funding.html",
        FundingView {
            month_label: french::month_year(month),
            claims_label: if month.month() == 1 {
                french::month_year(month)
            } else {
                format!(
                    "de {} à {}",
                    french::month_year(first_of_year),
                    french::month_year(month)
                )
            },
            month: month_text,
            schemes: rows,
            funders,
        },
    ))
}

/// `financeurs/<funder>/demande/<from>/<to>`: the funder's claim file, as the API's.
#[handler]
pub(super) async fn claims_csv(
    Path((slug, funder, from, to)): Path<(String, String, String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::FUNDER_CLAIMS_CSV).await?;
    let funder_id = path_id(&funder, "funder")?;
    // An unknown funder (or another territory's) is not found before the months are read.
    funders::get(&state.db, portal.tenant.id, funder_id).await?;
    let (Some(from), Some(to)) = (parse_month(&from), parse_month(&to)) else {
        return Ok(not_found("Cette période n’existe pas."));
    };
    let actor = Actor::from(&portal.user.principal);
    match funder_claims::claims_csv(&state.db, portal.tenant.id, actor, funder_id, from, to).await {
        Ok((name, bytes)) => Ok(attachment("text/csv; charset=utf-8", &name, bytes)),
        Err(passerelle_core::Error::Invalid(_)) => {
            Ok(not_found("Cette période n’est pas valable."))
        }
        Err(e) => {
            tracing::error!(error = %e, "claims CSV failed");
            Err(unavailable().into())
        }
    }
}

/// `financeurs/rapprochement/<scheme>/<month>`: the scheme's reconciliation file, as the API's.
#[handler]
pub(super) async fn reconciliation_csv(
    Path((slug, scheme, month)): Path<(String, String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::SCHEME_RECONCILIATION_CSV).await?;
    let scheme_id = path_id(&scheme, "scheme")?;
    schemes::get(&state.db, portal.tenant.id, scheme_id).await?;
    let Some(month) = parse_month(&month) else {
        return Ok(not_found("Ce mois n’existe pas."));
    };
    let actor = Actor::from(&portal.user.principal);
    let (name, bytes) =
        reconciliation::export(&state.db, portal.tenant.id, actor, scheme_id, month).await?;
    Ok(attachment("text/csv; charset=utf-8", &name, bytes))
}
