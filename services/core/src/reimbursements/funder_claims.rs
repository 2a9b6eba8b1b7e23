//! What the territory claims from one funder: its share of every line of the approved and paid
//! statements over a period of months, with the lines as proof of service (« justificatifs de
//! service fait »: day, EPN, session, module, minutes, voucher reference — never a name), then a
//! total per month and one for the period. CSV for French Excel, like the statements' exports.
//! Drafts are left out: they change with every monthly run until finance approves them.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use super::export::{date, euros, kind_label, module_cell, session_cell, text};
use super::{LineKind, month_of};
use crate::audit::{self, Actor};
use crate::{Db, Error};

pub const HEADERS: [&str; 14] = [
    "Mois",
    "Dispositif",
    "EPN",
    "SIRET de l’EPN",
    "Date",
    "Séance",
    "Module",
    "Référence du chèque",
    "Minutes",
    "Montant de la ligne (€)",
    "Part du financeur (€)",
    "Type de ligne",
    "Relevé",
    "Statut du relevé",
];

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimLine {
    pub month: NaiveDate,
    pub scheme_name: String,
    pub epn_name: String,
    pub epn_siret: Option<String>,
    pub occurred_on: NaiveDate,
    pub session_starts_at: Option<DateTime<Utc>>,
    pub module_number: Option<i32>,
    pub module_title: Option<String>,
    pub voucher_reference: String,
    pub minutes: i32,
    pub line_cents: i64,
    pub share_cents: i64,
    pub kind: LineKind,
    pub adjusts_month: Option<NaiveDate>,
    pub statement_reference: String,
    pub statement_status: super::StatementStatus,
}

/// One funder's claim lines from `from` to `to` (months, both included).
pub async fn lines(
    db: &Db,
    tenant_id: Uuid,
    funder_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ClaimLine>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    crate::funders::fetch(&mut tx, funder_id).await?;
    let lines = sqlx::query_as(
        "SELECT st.month, sc.name AS scheme_name, e.name AS epn_name, e.pivot AS epn_siret, l.occurred_on,
                s.starts_at AS session_starts_at, l.module_number, m.title AS module_title, l.voucher_reference,
                l.minutes, l.amount_cents AS line_cents, sh.amount_cents AS share_cents, l.kind, l.adjusts_month,
                st.reference AS statement_reference, st.status AS statement_status
           FROM statement_line_shares sh
           JOIN statements st ON st.tenant_id = sh.tenant_id AND st.id = sh.statement_id
           JOIN statement_lines l ON l.tenant_id = sh.tenant_id AND l.statement_id = sh.statement_id AND l.line_no = sh.line_no
           JOIN epns e ON e.tenant_id = st.tenant_id AND e.id = st.epn_id
           JOIN schemes sc ON sc.tenant_id = st.tenant_id AND sc.id = st.scheme_id
           LEFT JOIN sessions s ON s.tenant_id = l.tenant_id AND s.id = l.session_id
           LEFT JOIN scheme_modules m ON m.tenant_id = l.tenant_id AND m.scheme_id = st.scheme_id AND m.number = l.module_number
          WHERE sh.tenant_id = $1 AND sh.funder_id = $2 AND st.status IN ('approved', 'paid')
            AND st.month BETWEEN $3 AND $4
          ORDER BY st.month, sc.name, e.name, st.reference COLLATE \"C\", l.line_no",
    )
    .bind(tenant_id)
    .bind(funder_id)
    .bind(month_of(from))
    .bind(month_of(to))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(lines)
}

/// The claim as CSV: the lines, then a total per month, then the period's total.
pub fn csv(lines: &[ClaimLine], tz: chrono_tz::Tz) -> Result<Vec<u8>, Error> {
    let failed = |e: csv::Error| Error::Internal(format!("cannot write the CSV: {e}"));
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    {
        let mut out = csv::WriterBuilder::new()
            .delimiter(b';')
            .from_writer(&mut bytes);
        out.write_record(HEADERS).map_err(failed)?;
        let mut months: Vec<(NaiveDate, i64, i64, i64)> = Vec::new();
        for line in lines {
            let session = session_cell(line.session_starts_at, tz);
            let module = module_cell(line.module_number, line.module_title.as_deref());
            out.write_record([
                line.month.format("%m/%Y").to_string(),
                text(&line.scheme_name),
                text(&line.epn_name),
                text(line.epn_siret.as_deref().unwrap_or("")),
                date(line.occurred_on),
                text(&session),
                text(&module),
                text(&line.voucher_reference),
                line.minutes.to_string(),
                euros(line.line_cents),
                euros(line.share_cents),
                text(&kind_label(line.kind, line.adjusts_month)),
                text(&line.statement_reference),
                crate::labels::statement_status(line.statement_status).to_owned(),
            ])
            .map_err(failed)?;
            match months.last_mut() {
                Some((month, minutes, cents, share)) if *month == line.month => {
                    *minutes += i64::from(line.minutes);
                    *cents += line.line_cents;
                    *share += line.share_cents;
                }
                _ => months.push((
                    line.month,
                    i64::from(line.minutes),
                    line.line_cents,
                    line.share_cents,
                )),
            }
        }
        let total_row = |label: String, minutes: i64, cents: i64, share: i64| {
            [
                label,
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                minutes.to_string(),
                euros(cents),
                euros(share),
                "Total".to_owned(),
                String::new(),
                String::new(),
            ]
        };
        for (month, minutes, cents, share) in &months {
            out.write_record(total_row(
                format!("Total {}", month.format("%m/%Y")),
                *minutes,
                *cents,
                *share,
            ))
            .map_err(failed)?;
        }
        let (minutes, cents, share) = months
            .iter()
            .fold((0, 0, 0), |acc, m| (acc.0 + m.1, acc.1 + m.2, acc.2 + m.3));
        out.write_record(total_row(
            "Total de la période".to_owned(),
            minutes,
            cents,
            share,
        ))
        .map_err(failed)?;
        out.flush()
            .map_err(|e| Error::Internal(format!("cannot write the CSV: {e}")))?;
    }
    Ok(bytes)
}

/// The claim file of one funder over `from`..=`to`, audited as an export.
pub async fn claims_csv(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    funder_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(String, Vec<u8>), Error> {
    let (from, to) = (month_of(from), month_of(to));
    if to < from {
        return Err(Error::invalid("to", "on or after from"));
    }
    if to > from + chrono::Months::new(35) {
        return Err(Error::invalid("to", "at most 36 months after from"));
    }
    let tenant = crate::tenancy::tenants::get(db, tenant_id).await?;
    let lines = lines(db, tenant_id, funder_id, from, to).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "funder.claims_exported",
        "funder",
        funder_id,
        json!({ "format": "csv", "from": from, "to": to, "lines": lines.len() }),
    )
    .await?;
    tx.commit().await?;
    let name = format!(
        "{}-financeur-{}-{}.csv",
        tenant.slug,
        from.format("%Y-%m"),
        to.format("%Y-%m")
    );
    Ok((name, csv(&lines, tenant.tz())?))
}
