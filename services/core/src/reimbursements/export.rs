//! Statements as CSV for French Excel: UTF-8 with a byte-order mark, `;` between cells, decimal
//! commas, dates as dd/mm/yyyy, French headers, and text cells that a spreadsheet would read as a
//! formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) prefixed with `'`.
//! The last row of a file is its total, equal to the sum of the statements' totals.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{LineKind, Statement, StatementLine, lines_in, month_of};
use crate::audit::{self, Actor};
use crate::{Db, Error};

pub const HEADERS: [&str; 12] = [
    "Mois",
    "EPN",
    "SIRET",
    "Date",
    "Séance",
    "Module",
    "Référence",
    "Minutes",
    "Taux horaire (€)",
    "Montant (€)",
    "Type de ligne",
    // « oui » on a session of a module the holder did not choose, recorded on purpose.
    "Hors parcours",
];

/// 1234 → "12,34"; -5 → "-0,05".
pub fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{},{:02}", abs / 100, abs % 100)
}

pub(crate) fn text(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

pub(crate) fn date(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// What a line pays for, as its « Type de ligne » cell reads.
pub(crate) fn kind_label(kind: LineKind, adjusts_month: Option<NaiveDate>) -> String {
    match (kind, adjusts_month) {
        (LineKind::Interview, _) => "Entretien de positionnement".into(),
        (LineKind::Adjustment, Some(m)) => format!("Régularisation de {}", m.format("%m/%Y")),
        (LineKind::Attendance | LineKind::Adjustment, _) => "Séance".into(),
    }
}

/// A session's start in the territory's time, as its « Séance » cell reads.
pub(crate) fn session_cell(starts_at: Option<DateTime<Utc>>, tz: chrono_tz::Tz) -> String {
    starts_at
        .map(|at| at.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string())
        .unwrap_or_default()
}

/// « 3 - Messagerie », as the « Module » cell reads.
pub(crate) fn module_cell(number: Option<i32>, title: Option<&str>) -> String {
    match (number, title) {
        (Some(n), Some(t)) => format!("{n} - {t}"),
        (Some(n), None) => n.to_string(),
        _ => String::new(),
    }
}

fn write_statement(
    out: &mut csv::Writer<&mut Vec<u8>>,
    statement: &Statement,
    lines: &[StatementLine],
    tz: chrono_tz::Tz,
) -> Result<(), csv::Error> {
    for line in lines {
        let session = session_cell(line.session_starts_at, tz);
        let module = module_cell(line.module_number, line.module_title.as_deref());
        let rate = if line.source_kind.paid_by_the_hour() {
            euros(line.rate_cents)
        } else {
            String::new()
        };
        out.write_record([
            statement.month.format("%m/%Y").to_string(),
            text(&statement.epn_name),
            text(statement.epn_siret.as_deref().unwrap_or("")),
            date(line.occurred_on),
            text(&session),
            text(&module),
            text(&line.voucher_reference),
            line.minutes.to_string(),
            rate,
            euros(line.amount_cents),
            text(&kind_label(line.kind, line.adjusts_month)),
            if line.off_path { "oui" } else { "" }.to_owned(),
        ])?;
    }
    Ok(())
}

fn finish(
    statements: &[(Statement, Vec<StatementLine>)],
    tz: chrono_tz::Tz,
    total_label: &str,
) -> Result<Vec<u8>, Error> {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    {
        let mut out = csv::WriterBuilder::new()
            .delimiter(b';')
            .from_writer(&mut bytes);
        let failed = |e: csv::Error| Error::Internal(format!("cannot write the CSV: {e}"));
        out.write_record(HEADERS).map_err(failed)?;
        let mut total = 0;
        for (statement, lines) in statements {
            write_statement(&mut out, statement, lines, tz).map_err(failed)?;
            total += statement.total_cents;
        }
        let minutes: i64 = statements
            .iter()
            .flat_map(|(_, l)| l.iter().map(|x| i64::from(x.minutes)))
            .sum();
        out.write_record([
            total_label,
            "",
            "",
            "",
            "",
            "",
            "",
            &minutes.to_string(),
            "",
            &euros(total),
            "Total",
            "",
        ])
        .map_err(failed)?;
        out.flush()
            .map_err(|e| Error::Internal(format!("cannot write the CSV: {e}")))?;
    }
    Ok(bytes)
}

/// One statement's CSV, audited as an export; `epn` is the caller's EPN when it is an EPN's staff
/// (another EPN's statement is not found).
pub async fn statement_csv(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
    epn: Option<Uuid>,
) -> Result<(String, Vec<u8>), Error> {
    let tenant = crate::tenancy::tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    super::compute::lock_tenant(&mut tx, tenant_id).await?;
    let statement = super::fetch_for(&mut tx, id, epn).await?;
    let lines = lines_in(&mut tx, id).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "statement.exported",
        "statement",
        id,
        json!({ "format": "csv", "reference": statement.reference }),
    )
    .await?;
    tx.commit().await?;
    let name = format!("{}.csv", statement.reference);
    let label = format!("Total {}", statement.reference);
    Ok((name, finish(&[(statement, lines)], tenant.tz(), &label)?))
}

/// Every statement of a month in one CSV, audited as an export.
pub async fn month_csv(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    month: NaiveDate,
) -> Result<(String, Vec<u8>), Error> {
    let month = month_of(month);
    let tenant = crate::tenancy::tenants::get(db, tenant_id).await?;
    // Under the tenant's reimbursement lock, so that no run recomputes drafts between reading the
    // statements and their lines: the file's total is the statements' total.
    let mut tx = db.begin_tenant(tenant_id).await?;
    super::compute::lock_tenant(&mut tx, tenant_id).await?;
    let statements = super::list_in(
        &mut tx,
        &super::StatementFilter {
            month: Some(month),
            ..super::StatementFilter::default()
        },
    )
    .await?;
    let mut with_lines = Vec::with_capacity(statements.len());
    for statement in statements {
        let lines = lines_in(&mut tx, statement.id).await?;
        with_lines.push((statement, lines));
    }
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "statements.exported",
        "month",
        month.format("%Y-%m"),
        json!({ "format": "csv", "statements": with_lines.len() }),
    )
    .await?;
    tx.commit().await?;
    let name = format!(
        "{}-remboursements-{}.csv",
        tenant.slug,
        month.format("%Y-%m")
    );
    let label = format!("Total {}", month.format("%m/%Y"));
    Ok((name, finish(&with_lines, tenant.tz(), &label)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_use_a_decimal_comma_and_keep_their_sign() {
        assert_eq!(euros(123_456), "1234,56");
        assert_eq!(euros(5), "0,05");
        assert_eq!(euros(-1_000), "-10,00");
        assert_eq!(euros(0), "0,00");
    }

    #[test]
    fn formula_like_text_is_neutralised() {
        assert_eq!(text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(text("+33"), "'+33");
        assert_eq!(text("-x"), "'-x");
        assert_eq!(text("@SUM"), "'@SUM");
        assert_eq!(text("EPN de Figeac"), "EPN de Figeac");
    }
}
