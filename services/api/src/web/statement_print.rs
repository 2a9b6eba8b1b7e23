//! A statement as a document the EPN files and the finance officer attaches to the payment: an
//! A4 page printed by the browser ("Enregistrer au format PDF"), like the voucher letter.
//!
//! Why the browser and not a PDF library in the service: the page is the same HTML and DSFR
//! typography as the screen, readable by a screen reader before it is printed; every browser the
//! EPNs use saves it as PDF; the service then carries no layout engine, font files or headless
//! browser of its own, and a change of wording is a change of template. The print style sheet
//! starts each statement on its own page and repeats the lines' header on the next ones.

use std::collections::BTreeMap;

use passerelle_core::emails::french;
use passerelle_core::epns;
use passerelle_core::labels;
use passerelle_core::reimbursements;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, handler};
use serde::Serialize;

use passerelle_core::emails::french::euros;

use super::statements::{LineRow, line_rows};
use super::{OrBack, PageResult, Portal};
use crate::access;
use crate::state::AppState;

/// What the statement paid for one module (or one kind of line without a module).
#[derive(Serialize)]
struct ModuleTotal {
    label: String,
    lines: usize,
    minutes: String,
    amount: String,
}

#[derive(Serialize)]
struct PrintedStatement {
    sender: String,
    today: String,
    reference: String,
    scheme: String,
    month_label: String,
    status: &'static str,
    epn: String,
    epn_address: Option<String>,
    epn_siret: Option<String>,
    total: String,
    line_count: i32,
    computed_on: String,
    approved_on: Option<String>,
    paid_on: Option<String>,
    bank_reference: Option<String>,
    /// Where the transfer goes, masked: the EPN checks it is its account.
    account: Option<String>,
    modules: Vec<ModuleTotal>,
    lines: Vec<LineRow>,
    back: String,
}

#[handler]
pub(super) async fn print(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::GET_STATEMENT).await?;
    let id = super::path_id(&id, "statement")?;
    let back = format!("{}/releve/{id}", portal.path());
    let (statement, lines) = reimbursements::get(&state.db, portal.tenant.id, id, portal.epn_id())
        .await
        .or_back(&format!("{}/releves", portal.path()), "Revenir aux relevés")?;
    let epn = epns::get(&state.db, portal.tenant.id, statement.epn_id).await?;
    let tz = portal.tenant.tz();
    let mut by_module: BTreeMap<String, (usize, i32, i64)> = BTreeMap::new();
    for line in &lines {
        let label = line
            .module_title
            .clone()
            .unwrap_or_else(|| labels::line_kind(line.kind).to_owned());
        let total = by_module.entry(label).or_default();
        total.0 += 1;
        total.1 += line.minutes;
        total.2 += line.amount_cents;
    }
    let town = [epn.postal_code.as_deref(), epn.commune.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let epn_address = [epn.address.clone(), Some(town).filter(|t| !t.is_empty())]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    Ok(portal.page(
        StatusCode::OK,
        "statement_print.html",
        PrintedStatement {
            sender: portal.tenant.sender_name.clone(),
            today: french::long_date(portal.tenant.today()),
            reference: statement.reference.clone(),
            scheme: statement.scheme_name.clone(),
            month_label: french::month_year(statement.month),
            status: labels::statement_status(statement.status),
            epn: statement.epn_name.clone(),
            epn_address: (!epn_address.is_empty()).then(|| epn_address.join(", ")),
            epn_siret: statement.epn_siret.clone(),
            total: euros(statement.total_cents),
            line_count: statement.line_count,
            computed_on: french::long_date(statement.computed_at.with_timezone(&tz).date_naive()),
            approved_on: statement
                .approved_at
                .map(|t| french::long_date(t.with_timezone(&tz).date_naive())),
            paid_on: statement.paid_on.map(french::long_date),
            bank_reference: statement.bank_reference.clone(),
            account: epn.iban.as_deref().map(epns::mask_iban),
            modules: by_module
                .into_iter()
                .map(|(label, (count, minutes, cents))| ModuleTotal {
                    label,
                    lines: count,
                    minutes: french::duration(minutes),
                    amount: euros(cents),
                })
                .collect(),
            lines: line_rows(&lines, tz),
            back,
        },
    ))
}
