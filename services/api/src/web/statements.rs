//! The finance officer's statements: a month's list with its total, and the month's CSV.

use chrono::{Datelike, Months, NaiveDate, Utc};
use passerelle_core::audit::Actor;
use passerelle_core::emails::french;
use passerelle_core::emails::french::euros;
use passerelle_core::labels;
use passerelle_core::reimbursements::StatementStatus;
use passerelle_core::reimbursements::{self, StatementFilter, StatementLine, export, sepa};
use poem::http::{StatusCode, header};
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::forms::optional;
use super::french::{FormErrors, FormRefusal};
use super::{OrBack, PageResult, Portal, message, see_other, unavailable};
use crate::access;
use crate::state::AppState;

pub(super) fn parse_month(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d").ok()
}

/// The month asked in `?mois=AAAA-MM`, or `otherwise` without one; `None` for a month that does
/// not parse.
pub(super) fn asked_month_or(
    req: &Request,
    otherwise: impl FnOnce() -> Option<NaiveDate>,
) -> Option<NaiveDate> {
    match req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("mois=")))
    {
        Some(text) => parse_month(text),
        None => otherwise(),
    }
}

/// The month asked, or the one before this month in Paris (the one the monthly run has just
/// computed).
fn asked_month(req: &Request) -> Option<NaiveDate> {
    asked_month_or(req, || {
        let today = Utc::now()
            .with_timezone(&chrono_tz::Europe::Paris)
            .date_naive();
        today
            .with_day(1)
            .and_then(|first| first.checked_sub_months(Months::new(1)))
    })
}

/// A month's statement, as a line of the month's list.
#[derive(Serialize)]
struct StatementRow {
    id: Uuid,
    reference: String,
    epn: String,
    scheme: String,
    lines: i32,
    amount: String,
    status: &'static str,
}

/// The month's statements page.
#[derive(Serialize)]
struct MonthView {
    month: String,
    month_label: String,
    statements: Vec<StatementRow>,
    total: String,
    csv_path: String,
    sepa_path: String,
    /// Whether the finance officer may download the month's SEPA file.
    may_pay: bool,
    approved_count: usize,
    /// Changes of EPNs' bank details waiting for a second person: the SEPA file keeps paying
    /// their confirmed accounts until one confirms them.
    bank_changes: Vec<super::bank::ChangeRow>,
    bank_notice: Option<&'static str>,
}

/// A statement line as the statement's page and its printed copy show it.
#[derive(Serialize)]
pub(super) struct LineRow {
    no: i32,
    kind: &'static str,
    day: String,
    time: Option<String>,
    module: Option<String>,
    reference: String,
    minutes: String,
    amount: String,
    /// For an adjustment: the month it corrects, in words.
    adjusts: Option<String>,
    /// Recorded « hors parcours »: a module the holder had not chosen.
    off_path: bool,
}

pub(super) fn line_rows(lines: &[StatementLine], tz: chrono_tz::Tz) -> Vec<LineRow> {
    lines
        .iter()
        .map(|l| LineRow {
            no: l.line_no,
            kind: labels::line_kind(l.kind),
            day: l.occurred_on.format("%d/%m/%Y").to_string(),
            time: l
                .session_starts_at
                .map(|t| t.with_timezone(&tz).format("%H h %M").to_string()),
            module: l.module_title.clone(),
            reference: l.voucher_reference.clone(),
            minutes: french::duration(l.minutes),
            amount: euros(l.amount_cents),
            adjusts: l.adjusts_month.map(french::month_year),
            off_path: l.off_path,
        })
        .collect()
}

/// The statement's heading: who, what month, how much, where it stands.
#[derive(Serialize)]
struct StatementSummary {
    id: Uuid,
    reference: String,
    epn: String,
    scheme: String,
    month: String,
    month_label: String,
    status: &'static str,
    /// It may still be approved.
    draft: bool,
    /// It may be marked paid.
    approved: bool,
    total: String,
    line_count: i32,
    paid_on: Option<String>,
    bank_reference: Option<String>,
}

/// A statement's page, with its approval and payment forms.
#[derive(Serialize)]
struct StatementView<'a> {
    /// Where the page leads back: the month's statements, or the EPN's own page.
    back: String,
    back_label: String,
    statement: StatementSummary,
    lines: Vec<LineRow>,
    may_approve: bool,
    csv_path: String,
    today: String,
    errors: FormErrors,
    notice: Option<&'a str>,
}

#[handler]
pub(super) async fn list(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::LIST_STATEMENTS).await?;
    // An EPN's staff have their own page, with their EPN's statements only.
    if portal.epn_id().is_some() {
        return Ok(see_other(&format!("{}/remboursements", portal.path())));
    }
    let Some(month) = asked_month(req) else {
        return Ok(message(
            StatusCode::BAD_REQUEST,
            "Mois non reconnu",
            "Indiquez le mois sous la forme AAAA-MM, par exemple 2026-10.",
            Some((&format!("{}/releves", portal.path()), "Revenir aux relevés")),
        ));
    };
    let filter = StatementFilter {
        month: Some(month),
        ..StatementFilter::default()
    };
    let statements = match reimbursements::list(&state.db, portal.tenant.id, &filter).await {
        Ok(statements) => statements,
        Err(e) => {
            tracing::error!(error = %e, "statements page failed");
            return Err(unavailable().into());
        }
    };
    let total: i64 = statements.iter().map(|s| s.total_cents).sum();
    let rows: Vec<StatementRow> = statements
        .iter()
        .map(|s| StatementRow {
            id: s.id,
            reference: s.reference.clone(),
            epn: s.epn_name.clone(),
            scheme: s.scheme_name.clone(),
            lines: s.line_count,
            amount: euros(s.total_cents),
            status: labels::statement_status(s.status),
        })
        .collect();
    let month_path = format!("{}/releves/{}", portal.path(), month.format("%Y-%m"));
    let bank_changes = super::bank::waiting(&state, &portal).await?;
    let bank_notice = match super::forms::query_param(req, "banque").as_deref() {
        Some("confirme") => {
            Some("Coordonnées bancaires confirmées : le prochain fichier SEPA les utilise.")
        }
        Some("refuse") => {
            Some("Changement de coordonnées bancaires refusé : l’EPN lit le motif sur sa page.")
        }
        _ => None,
    };
    Ok(portal.page(
        StatusCode::OK,
        "statements.html",
        MonthView {
            month: month.format("%Y-%m").to_string(),
            month_label: french::month_year(month),
            approved_count: statements
                .iter()
                .filter(|s| s.status == StatementStatus::Approved)
                .count(),
            statements: rows,
            total: euros(total),
            csv_path: format!("{month_path}/csv"),
            sepa_path: format!("{month_path}/sepa"),
            may_pay: portal.may(&access::MONTH_SEPA),
            bank_changes,
            bank_notice,
        },
    ))
}

/// A file to save, named for the person's disk.
pub(super) fn attachment(content_type: &str, name: &str, body: impl Into<poem::Body>) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .content_type(content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
}

#[handler]
pub(super) async fn statement_csv(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::STATEMENT_CSV).await?;
    let id = super::path_id(&id, "statement")?;
    let (name, bytes) = export::statement_csv(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        id,
        portal.epn_id(),
    )
    .await?;
    Ok(attachment("text/csv; charset=utf-8", &name, bytes))
}

#[handler]
pub(super) async fn month_csv(
    Path((slug, month)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::MONTH_CSV).await?;
    let Some(month) = parse_month(&month) else {
        return Ok(message(
            StatusCode::NOT_FOUND,
            "Page introuvable",
            "Ce mois n’existe pas.",
            None,
        ));
    };
    let actor = Actor::from(&portal.user.principal);
    match export::month_csv(&state.db, portal.tenant.id, actor, month).await {
        Ok((name, bytes)) => Ok(attachment("text/csv; charset=utf-8", &name, bytes)),
        Err(e) => {
            tracing::error!(error = %e, "month CSV failed");
            Err(unavailable().into())
        }
    }
}

async fn statement_page(
    state: &AppState,
    portal: &Portal,
    id: Uuid,
    status: StatusCode,
    errors: &FormRefusal,
    notice: Option<&str>,
) -> PageResult {
    let back = match portal.epn_id() {
        Some(_) => format!("{}/remboursements", portal.path()),
        None => format!("{}/releves", portal.path()),
    };
    let (statement, lines) = reimbursements::get(&state.db, portal.tenant.id, id, portal.epn_id())
        .await
        .or_back(&back, "Revenir aux relevés")?;
    let lines = line_rows(&lines, portal.tenant.tz());
    Ok(portal.page(
        status,
        "statement.html",
        StatementView {
            back: match portal.epn_id() {
                Some(_) => format!(
                    "{}/remboursements?annee={}",
                    portal.path(),
                    statement.month.year()
                ),
                None => format!(
                    "{}/releves?mois={}",
                    portal.path(),
                    statement.month.format("%Y-%m")
                ),
            },
            back_label: match portal.epn_id() {
                Some(_) => format!("Mes remboursements {}", statement.month.year()),
                None => format!("Relevés de {}", french::month_year(statement.month)),
            },
            statement: StatementSummary {
                id: statement.id,
                reference: statement.reference.clone(),
                epn: statement.epn_name.clone(),
                scheme: statement.scheme_name.clone(),
                month: statement.month.format("%Y-%m").to_string(),
                month_label: french::month_year(statement.month),
                status: labels::statement_status(statement.status),
                draft: statement.status.can_be_approved(),
                approved: statement.status.can_be_paid(),
                total: euros(statement.total_cents),
                line_count: statement.line_count,
                paid_on: statement.paid_on.map(french::long_date),
                bank_reference: statement.bank_reference.clone(),
            },
            lines,
            may_approve: portal.may(&access::APPROVE_STATEMENT),
            csv_path: format!("{}/releve/{}/csv", portal.path(), statement.id),
            today: portal.tenant.today().format("%Y-%m-%d").to_string(),
            errors: errors.to_view(),
            notice,
        },
    ))
}

#[handler]
pub(super) async fn show(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::GET_STATEMENT).await?;
    let id = super::path_id(&id, "statement")?;
    let notice = req.uri().query().and_then(|q| match q {
        "valide=1" => Some("Relevé validé : il figurera dans le fichier de virement SEPA du mois."),
        "paye=1" => Some("Relevé marqué payé."),
        _ => None,
    });
    statement_page(
        &state,
        &portal,
        id,
        StatusCode::OK,
        &FormRefusal::default(),
        notice,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    paid_on: String,
    #[serde(default)]
    bank_reference: String,
}

#[handler]
pub(super) async fn approve(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::APPROVE_STATEMENT,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "statement")?;
    portal.money_moves(&format!("{}/releve/{id}", portal.path()))?;
    match reimbursements::approve(&state.db, portal.tenant.id, portal.actor(), id).await {
        Ok(_) => Ok(see_other(&format!(
            "{}/releve/{id}?valide=1",
            portal.path()
        ))),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            statement_page(&state, &portal, id, StatusCode::CONFLICT, &errors, None).await
        }
    }
}

#[handler]
pub(super) async fn mark_paid(
    Path((slug, id)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<DecisionForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::MARK_STATEMENT_PAID,
        &form.csrf_token,
    )
    .await?;
    let id = super::path_id(&id, "statement")?;
    let Ok(paid_on) = NaiveDate::parse_from_str(form.paid_on.trim(), "%Y-%m-%d") else {
        let errors = FormRefusal::default().field(
            "paid_on",
            "Saisissez la date du virement, par exemple 2026-11-05.",
        );
        return statement_page(
            &state,
            &portal,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            &errors,
            None,
        )
        .await;
    };
    let Some(bank_reference) = optional(&form.bank_reference) else {
        let errors = FormRefusal::default().field(
            "bank_reference",
            "Saisissez la référence du virement donnée par la banque ou la paierie.",
        );
        return statement_page(
            &state,
            &portal,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            &errors,
            None,
        )
        .await;
    };
    match reimbursements::mark_paid(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        id,
        paid_on,
        &bank_reference,
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("{}/releve/{id}?paye=1", portal.path()))),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            statement_page(
                &state,
                &portal,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                &errors,
                None,
            )
            .await
        }
    }
}

#[handler]
pub(super) async fn month_sepa(
    Path((slug, month)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::MONTH_SEPA).await?;
    let Some(month) = parse_month(&month) else {
        return Ok(message(
            StatusCode::NOT_FOUND,
            "Page introuvable",
            "Ce mois n’existe pas.",
            None,
        ));
    };
    let back = format!("{}/releves?mois={}", portal.path(), month.format("%Y-%m"));
    portal.money_moves(&back)?;
    let file = sepa::month_file(&state.db, portal.tenant.id, portal.actor(), month)
        .await
        .or_back(&back, "Revenir aux relevés du mois")?;
    Ok(attachment(
        "application/xml; charset=utf-8",
        &file.name,
        file.xml,
    ))
}
