//! The end-of-validity reconciliation of a scheme, at the end of a month, for each funder and the
//! territory: what was committed (the issued vouchers' face value, each party's expected share),
//! consumed (its shares of the statement lines of the months up to this one, drafts included),
//! released (the expected share a voucher expired or cancelled by then did not consume: it goes
//! back to the party's envelope), and outstanding on the vouchers still valid. It adds up:
//! committed = consumed + released + outstanding. A funder's envelope is its cap; what remains of
//! it is the cap less what it consumed and what is outstanding.
//!
//! A party's consumed share of one voucher can exceed its expected share when the funder before it
//! reached its cap and passed its part on; its release on that voucher is then negative, and the
//! capped funder's is as much larger: the parties' totals still add up to the vouchers'.

use std::collections::HashMap;

use chrono::{Months, NaiveDate};
use uuid::Uuid;

use crate::reimbursements::month_of;
use crate::reimbursements::split::{self, FunderShare, WHOLE};
use crate::{Db, Error};

/// One party's figures, in cents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    pub committed_cents: i64,
    pub consumed_cents: i64,
    pub released_cents: i64,
    /// Committed on the vouchers still valid and not yet consumed.
    pub outstanding_cents: i64,
}

impl Figures {
    fn with_outstanding(mut self) -> Self {
        self.outstanding_cents = self.committed_cents - self.consumed_cents - self.released_cents;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunderRow {
    pub funder_id: Uuid,
    pub name: String,
    pub figures: Figures,
    /// Its cap for the scheme in the latest plan version a counted voucher was issued under.
    pub envelope_cents: Option<i64>,
    /// The cap less what it consumed and what is outstanding.
    pub remaining_cents: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub scheme_id: Uuid,
    /// The month's first day; the figures stand at its last day.
    pub month: NaiveDate,
    /// Vouchers issued by the month's end, and those expired or cancelled by then.
    pub vouchers_issued: i64,
    pub vouchers_ended: i64,
    /// The funders that co-finance at least one of the scheme's vouchers, by name.
    pub funders: Vec<FunderRow>,
    /// What no funder pays.
    pub territory: Figures,
    pub total: Figures,
}

#[derive(sqlx::FromRow)]
struct VoucherFunder {
    voucher_id: Uuid,
    face_value_cents: i64,
    ended: bool,
    funder_id: Uuid,
    share_basis_points: Option<i32>,
    fixed_cents: Option<i64>,
    funding_version: i32,
    cap_cents: Option<i64>,
}

/// Each funder's expected share of one voucher's face value: a share by the largest remainder,
/// a fixed amount as it is (within the face value); the shares in plan order never exceed it.
fn expected_shares(face_value_cents: i64, funders: &[&VoucherFunder]) -> Vec<i64> {
    let mut budget = WHOLE;
    let shares: Vec<FunderShare> = funders
        .iter()
        .map(|f| {
            let points = f
                .share_basis_points
                .map_or(0, |p| p.unsigned_abs().min(budget));
            budget -= points;
            FunderShare {
                basis_points: points,
                room_cents: None,
            }
        })
        .collect();
    let by_share = split::allocate(face_value_cents.max(0), &shares)
        .map(|a| a.funders)
        .unwrap_or_else(|_| vec![0; funders.len()]);
    let mut left = face_value_cents.max(0);
    funders
        .iter()
        .zip(by_share)
        .map(|(f, share)| {
            let wanted = f.fixed_cents.unwrap_or(share);
            let part = wanted.clamp(0, left);
            left -= part;
            part
        })
        .collect()
}

/// The scheme's reconciliation at the end of `month`.
pub async fn at_month_end(
    db: &Db,
    tenant_id: Uuid,
    scheme_id: Uuid,
    month: NaiveDate,
) -> Result<Reconciliation, Error> {
    let tenant = crate::tenancy::tenants::get(db, tenant_id).await?;
    let month = month_of(month);
    let next = month + Months::new(1);
    let last_day = next.pred_opt().unwrap_or(month);
    let mut tx = db.begin_tenant(tenant_id).await?;
    // Read in one snapshot: the monthly run may be writing the drafts.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await?;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM schemes WHERE tenant_id = $2 AND id = $1)",
    )
    .bind(scheme_id)
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    if !exists {
        return Err(Error::NotFound("scheme"));
    }
    // A voucher has ended by the month's end when its validity is over or it was cancelled by then
    // (the day of cancellation in the territory's time zone).
    const ENDED: &str = "(v.valid_until <= $3
           OR (v.status = 'cancelled' AND (v.cancelled_at AT TIME ZONE $4)::date <= $3))";
    let (issued, ended, committed, released_whole): (i64, i64, i64, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH used AS (
                 SELECT l.voucher_id, sum(l.amount_cents) AS cents
                   FROM statement_lines l JOIN statements st ON st.tenant_id = l.tenant_id AND st.id = l.statement_id
                  WHERE l.tenant_id = $1 AND st.scheme_id = $2 AND st.month <= $5
                  GROUP BY l.voucher_id)
             SELECT count(*), count(*) FILTER (WHERE {ENDED}),
                    coalesce(sum(v.face_value_cents), 0)::bigint,
                    coalesce(sum(v.face_value_cents - coalesce(u.cents, 0)) FILTER (WHERE {ENDED}), 0)::bigint
               FROM vouchers v LEFT JOIN used u ON u.voucher_id = v.id
              WHERE v.tenant_id = $1 AND v.scheme_id = $2 AND v.issued_on <= $3"
        )))
        .bind(tenant_id)
        .bind(scheme_id)
        .bind(last_day)
        .bind(&tenant.time_zone)
        .bind(month)
        .fetch_one(&mut *tx)
        .await?;
    let consumed_whole: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(l.amount_cents), 0)::bigint
           FROM statement_lines l JOIN statements st ON st.tenant_id = l.tenant_id AND st.id = l.statement_id
          WHERE l.tenant_id = $1 AND st.scheme_id = $2 AND st.month <= $3",
    )
    .bind(tenant_id)
    .bind(scheme_id)
    .bind(month)
    .fetch_one(&mut *tx)
    .await?;
    let rows: Vec<VoucherFunder> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT v.id AS voucher_id, v.face_value_cents, {ENDED} AS ended, vf.funder_id,
                fl.share_basis_points, fl.fixed_cents, vf.funding_version, fl.cap_cents
           FROM voucher_funders vf
           JOIN vouchers v ON v.tenant_id = vf.tenant_id AND v.id = vf.voucher_id
           JOIN scheme_funding_lines fl ON fl.tenant_id = vf.tenant_id AND fl.scheme_id = vf.scheme_id
                                       AND fl.version = vf.funding_version AND fl.position = vf.position
          WHERE vf.tenant_id = $1 AND vf.scheme_id = $2 AND v.issued_on <= $3
          ORDER BY v.id, vf.position"
    )))
    .bind(tenant_id)
    .bind(scheme_id)
    .bind(last_day)
    .bind(&tenant.time_zone)
    .fetch_all(&mut *tx)
    .await?;
    // Each funder's shares up to the month, in all and on the vouchers ended by then.
    let consumed: Vec<(Uuid, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT s.funder_id, sum(s.amount_cents)::bigint,
                coalesce(sum(s.amount_cents) FILTER (WHERE {ENDED}), 0)::bigint
           FROM statement_line_shares s
           JOIN statements st ON st.tenant_id = s.tenant_id AND st.id = s.statement_id
           JOIN statement_lines l ON l.tenant_id = s.tenant_id AND l.statement_id = s.statement_id AND l.line_no = s.line_no
           JOIN vouchers v ON v.tenant_id = l.tenant_id AND v.id = l.voucher_id
          WHERE s.tenant_id = $1 AND st.scheme_id = $2 AND st.month <= $5
          GROUP BY s.funder_id"
    )))
    .bind(tenant_id)
    .bind(scheme_id)
    .bind(last_day)
    .bind(&tenant.time_zone)
    .bind(month)
    .fetch_all(&mut *tx)
    .await?;
    let names: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, name FROM funders WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant_id)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;

    let mut figures: HashMap<Uuid, Figures> = HashMap::new();
    // A funder's envelope: its cap in the latest plan version a counted voucher was issued under.
    let mut caps: HashMap<Uuid, (i32, Option<i64>)> = HashMap::new();
    for row in &rows {
        let cap = caps.entry(row.funder_id).or_insert((0, None));
        if row.funding_version > cap.0 {
            *cap = (row.funding_version, row.cap_cents);
        }
    }
    let mut start = 0;
    while start < rows.len() {
        let voucher = rows[start].voucher_id;
        let end = rows[start..]
            .iter()
            .position(|r| r.voucher_id != voucher)
            .map_or(rows.len(), |n| start + n);
        let group: Vec<&VoucherFunder> = rows[start..end].iter().collect();
        let shares = expected_shares(group[0].face_value_cents, &group);
        for (row, share) in group.iter().zip(shares) {
            let f = figures.entry(row.funder_id).or_default();
            f.committed_cents += share;
            if row.ended {
                f.released_cents += share;
            }
        }
        start = end;
    }
    for (funder, all, on_ended) in consumed {
        let f = figures.entry(funder).or_default();
        f.consumed_cents += all;
        f.released_cents -= on_ended;
    }
    let funders: Vec<FunderRow> = names
        .into_iter()
        .filter_map(|(id, name)| {
            let figures = figures.remove(&id)?.with_outstanding();
            let envelope = caps.get(&id).and_then(|(_, cap)| *cap);
            Some(FunderRow {
                funder_id: id,
                name,
                remaining_cents: envelope
                    .map(|cap| cap - figures.consumed_cents - figures.outstanding_cents),
                envelope_cents: envelope,
                figures,
            })
        })
        .collect();
    let total = Figures {
        committed_cents: committed,
        consumed_cents: consumed_whole,
        released_cents: released_whole,
        outstanding_cents: 0,
    }
    .with_outstanding();
    let sum = |pick: fn(&Figures) -> i64| funders.iter().map(|f| pick(&f.figures)).sum::<i64>();
    let territory = Figures {
        committed_cents: total.committed_cents - sum(|f| f.committed_cents),
        consumed_cents: total.consumed_cents - sum(|f| f.consumed_cents),
        released_cents: total.released_cents - sum(|f| f.released_cents),
        outstanding_cents: 0,
    }
    .with_outstanding();
    Ok(Reconciliation {
        scheme_id,
        month,
        vouchers_issued: issued,
        vouchers_ended: ended,
        funders,
        territory,
        total,
    })
}

/// The reconciliation file of a scheme at the end of `month`, audited as an export.
pub async fn export(
    db: &Db,
    tenant_id: Uuid,
    actor: crate::audit::Actor,
    scheme_id: Uuid,
    month: NaiveDate,
) -> Result<(String, Vec<u8>), Error> {
    let report = at_month_end(db, tenant_id, scheme_id, month).await?;
    let tenant = crate::tenancy::tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    crate::audit::record(
        &mut tx,
        tenant_id,
        actor,
        "scheme.reconciliation_exported",
        "scheme",
        scheme_id,
        serde_json::json!({ "format": "csv", "month": report.month }),
    )
    .await?;
    tx.commit().await?;
    let name = format!(
        "{}-rapprochement-{}.csv",
        tenant.slug,
        report.month.format("%Y-%m")
    );
    Ok((name, csv(&report)?))
}

pub const CSV_HEADERS: [&str; 8] = [
    "Financeur",
    "Mois",
    "Engagé (€)",
    "Consommé (€)",
    "Libéré (€)",
    "Reste engagé (€)",
    "Enveloppe (€)",
    "Disponible sur l’enveloppe (€)",
];

/// The reconciliation as CSV for French Excel: a row per funder, the territory's, the total.
pub fn csv(report: &Reconciliation) -> Result<Vec<u8>, Error> {
    use crate::reimbursements::export::{euros, text};
    let failed = |e: csv::Error| Error::Internal(format!("cannot write the CSV: {e}"));
    let month = report.month.format("%m/%Y").to_string();
    let row = |name: &str, f: &Figures, envelope: Option<i64>, remaining: Option<i64>| {
        [
            text(name),
            month.clone(),
            euros(f.committed_cents),
            euros(f.consumed_cents),
            euros(f.released_cents),
            euros(f.outstanding_cents),
            envelope.map(euros).unwrap_or_default(),
            remaining.map(euros).unwrap_or_default(),
        ]
    };
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    {
        let mut out = csv::WriterBuilder::new()
            .delimiter(b';')
            .from_writer(&mut bytes);
        out.write_record(CSV_HEADERS).map_err(failed)?;
        for funder in &report.funders {
            out.write_record(row(
                &funder.name,
                &funder.figures,
                funder.envelope_cents,
                funder.remaining_cents,
            ))
            .map_err(failed)?;
        }
        out.write_record(row(
            "Territoire (part non cofinancée)",
            &report.territory,
            None,
            None,
        ))
        .map_err(failed)?;
        out.write_record(row("Total", &report.total, None, None))
            .map_err(failed)?;
        out.flush()
            .map_err(|e| Error::Internal(format!("cannot write the CSV: {e}")))?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn funder(points: Option<i32>, fixed: Option<i64>) -> VoucherFunder {
        VoucherFunder {
            voucher_id: Uuid::nil(),
            face_value_cents: 0,
            ended: false,
            funder_id: Uuid::new_v4(),
            share_basis_points: points,
            fixed_cents: fixed,
            funding_version: 1,
            cap_cents: None,
        }
    }

    #[test]
    fn expected_shares_stay_within_the_face_value() {
        let half = funder(Some(5_000), None);
        let fixed = funder(None, Some(5_000));
        assert_eq!(expected_shares(20_000, &[&half, &fixed]), [10_000, 5_000]);
        let big = funder(None, Some(15_000));
        assert_eq!(expected_shares(20_000, &[&half, &big]), [10_000, 10_000]);
        let thirds = funder(Some(3_333), None);
        // The third cent is the territory's: its remainder is the largest.
        assert_eq!(expected_shares(100, &[&thirds, &thirds]), [33, 33]);
    }
}
