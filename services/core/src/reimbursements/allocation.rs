//! The monthly run's last step: each draft line of a co-financed voucher shared between the
//! voucher's funders and the territory (`split`), stored beside the line and frozen with its
//! statement.
//!
//! Lines are taken in a fixed order — statement month, day of service, statement reference, line
//! number — so that caps are reached by the same line on every run. A funder's room on a line is
//! what is left of its cap for the scheme once every statement outside the drafts being recomputed
//! and the earlier lines of the run are counted, and, for a fixed amount per voucher, what is left
//! of that amount on the voucher. A line outside a funder's period is the territory's part for
//! that funder. A negative line (an adjustment taking time back) is given back by the parties in
//! proportion to what they were paid for the same source.

use std::collections::HashMap;

use chrono::NaiveDate;
use uuid::Uuid;

use super::split::{self, FunderShare, WHOLE};
use crate::Error;
use crate::storage::Tx;

/// A line the run has just written, as its write returns it.
#[derive(sqlx::FromRow)]
pub(crate) struct WrittenLine {
    statement_id: Uuid,
    line_no: i32,
    voucher_id: Uuid,
    source_kind: String,
    source_id: Uuid,
    occurred_on: NaiveDate,
    amount_cents: i64,
}

/// The columns of `statement_lines` a write returns for the allocation.
pub(crate) const WRITTEN_LINE_COLUMNS: &str =
    "statement_id, line_no, voucher_id, source_kind, source_id, occurred_on, amount_cents";

/// A written line with the scheme of its statement, in the allocation's order.
struct Line {
    line: WrittenLine,
    scheme_id: Uuid,
}

impl std::ops::Deref for Line {
    type Target = WrittenLine;
    fn deref(&self) -> &WrittenLine {
        &self.line
    }
}

/// Whether the tenant has co-financed vouchers at all: without any, the run has nothing to share
/// and its write returns no lines.
pub(crate) async fn tenant_has_funders(tx: &mut Tx) -> Result<bool, Error> {
    let tenant_id = tx.tenant_id();
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM voucher_funders WHERE tenant_id = $1)")
            .bind(tenant_id)
            .fetch_one(&mut **tx)
            .await?,
    )
}

#[derive(sqlx::FromRow, Clone)]
struct VoucherFunder {
    voucher_id: Uuid,
    funder_id: Uuid,
    share_basis_points: Option<i32>,
    fixed_cents: Option<i64>,
    cap_cents: Option<i64>,
    period_start: Option<NaiveDate>,
    period_end: Option<NaiveDate>,
    face_value_cents: i64,
}

impl VoucherFunder {
    fn pays_on(&self, day: NaiveDate) -> bool {
        self.period_start.is_none_or(|start| start <= day)
            && self.period_end.is_none_or(|end| day <= end)
    }

    /// Its share of each line in basis points: a fixed amount is the same share of the voucher's
    /// face value.
    fn basis_points(&self) -> u32 {
        match (self.share_basis_points, self.fixed_cents) {
            (Some(points), _) => points.unsigned_abs(),
            (None, Some(fixed)) if self.face_value_cents > 0 => {
                let points =
                    i128::from(fixed) * i128::from(WHOLE) / i128::from(self.face_value_cents);
                u32::try_from(points.clamp(0, i128::from(WHOLE))).unwrap_or(WHOLE)
            }
            _ => 0,
        }
    }
}

/// Rows written per statement: the arrays bound to one INSERT stay a few megabytes.
const CHUNK: usize = 50_000;

/// Shares the lines of the draft statements up to `month`, which the run has just written (all of
/// them: a run empties its drafts and refills them) and gives here as its write returned them.
pub(crate) async fn allocate_drafts(
    tx: &mut Tx,
    month: NaiveDate,
    written: Vec<WrittenLine>,
) -> Result<u64, Error> {
    let tenant_id = tx.tenant_id();
    if written.is_empty() {
        return Ok(0);
    }
    // The drafts' month, scheme and place in byte order of references, for the fixed order.
    let drafts: Vec<(Uuid, Uuid, NaiveDate, String)> = sqlx::query_as(
        "SELECT id, scheme_id, month, reference FROM statements
          WHERE tenant_id = $1 AND status = 'draft' AND month <= $2",
    )
    .bind(tenant_id)
    .bind(month)
    .fetch_all(&mut **tx)
    .await?;
    let mut by_reference: Vec<&(Uuid, Uuid, NaiveDate, String)> = drafts.iter().collect();
    by_reference.sort_unstable_by(|a, b| a.3.as_bytes().cmp(b.3.as_bytes()));
    let draft_of: HashMap<Uuid, (Uuid, NaiveDate, usize)> = by_reference
        .iter()
        .enumerate()
        .map(|(rank, d)| (d.0, (d.1, d.2, rank)))
        .collect();

    let mut vouchers: Vec<Uuid> = written.iter().map(|l| l.voucher_id).collect();
    vouchers.sort_unstable();
    vouchers.dedup();
    let rows: Vec<VoucherFunder> = sqlx::query_as(
        "SELECT vf.voucher_id, vf.funder_id, fl.share_basis_points, fl.fixed_cents, fl.cap_cents, fl.period_start,
                fl.period_end, v.face_value_cents
           FROM voucher_funders vf
           JOIN scheme_funding_lines fl ON fl.tenant_id = vf.tenant_id AND fl.scheme_id = vf.scheme_id
                                       AND fl.version = vf.funding_version AND fl.position = vf.position
           JOIN vouchers v ON v.tenant_id = vf.tenant_id AND v.id = vf.voucher_id
          WHERE vf.tenant_id = $1 AND vf.voucher_id = ANY ($2)
          ORDER BY vf.voucher_id, vf.position",
    )
    .bind(tenant_id)
    .bind(&vouchers)
    .fetch_all(&mut **tx)
    .await?;
    let mut funders_of: HashMap<Uuid, Vec<VoucherFunder>> = HashMap::new();
    for row in rows {
        funders_of.entry(row.voucher_id).or_default().push(row);
    }
    let mut keyed: Vec<((NaiveDate, NaiveDate, usize, i32), Line)> = Vec::new();
    for line in written {
        if !funders_of.contains_key(&line.voucher_id) {
            continue;
        }
        let Some(&(scheme_id, statement_month, rank)) = draft_of.get(&line.statement_id) else {
            return Err(Error::Internal(format!(
                "a written line names no draft statement: {}",
                line.statement_id
            )));
        };
        keyed.push((
            (statement_month, line.occurred_on, rank, line.line_no),
            Line { line, scheme_id },
        ));
    }
    keyed.sort_unstable_by_key(|(key, _)| *key);
    let lines: Vec<Line> = keyed.into_iter().map(|(_, line)| line).collect();

    // What the statements outside the recomputed drafts already gave each funder: per scheme (for
    // caps) and per voucher (for fixed amounts).
    let per_scheme: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
        "SELECT st.scheme_id, s.funder_id, sum(s.amount_cents)::bigint
           FROM statement_line_shares s
           JOIN statements st ON st.tenant_id = s.tenant_id AND st.id = s.statement_id
          WHERE s.tenant_id = $1 AND NOT (st.status = 'draft' AND st.month <= $2)
          GROUP BY st.scheme_id, s.funder_id",
    )
    .bind(tenant_id)
    .bind(month)
    .fetch_all(&mut **tx)
    .await?;
    let mut paid_by_scheme: HashMap<(Uuid, Uuid), i64> = per_scheme
        .into_iter()
        .map(|(scheme, funder, cents)| ((scheme, funder), cents))
        .collect();
    let per_voucher: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
        "SELECT l.voucher_id, s.funder_id, sum(s.amount_cents)::bigint
           FROM statement_line_shares s
           JOIN statements st ON st.tenant_id = s.tenant_id AND st.id = s.statement_id
           JOIN statement_lines l ON l.tenant_id = s.tenant_id AND l.statement_id = s.statement_id AND l.line_no = s.line_no
          WHERE s.tenant_id = $1 AND NOT (st.status = 'draft' AND st.month <= $2) AND l.voucher_id = ANY ($3)
          GROUP BY 1, 2",
    )
    .bind(tenant_id)
    .bind(month)
    .bind(&vouchers)
    .fetch_all(&mut **tx)
    .await?;
    let mut paid_on_voucher: HashMap<(Uuid, Uuid), i64> = per_voucher
        .into_iter()
        .map(|(voucher, funder, cents)| ((voucher, funder), cents))
        .collect();

    // For negative lines: what each party was paid for their source.
    let negative_sources: Vec<Uuid> = lines
        .iter()
        .filter(|l| l.amount_cents < 0)
        .map(|l| l.source_id)
        .collect();
    let mut held_by_source: HashMap<(String, Uuid), (i64, HashMap<Uuid, i64>)> = HashMap::new();
    if !negative_sources.is_empty() {
        let paid: Vec<(String, Uuid, i64)> = sqlx::query_as(
            "SELECT l.source_kind, l.source_id, sum(l.amount_cents)::bigint
               FROM statement_lines l JOIN statements st ON st.tenant_id = l.tenant_id AND st.id = l.statement_id
              WHERE l.tenant_id = $1 AND NOT (st.status = 'draft' AND st.month <= $2) AND l.source_id = ANY ($3)
              GROUP BY 1, 2",
        )
        .bind(tenant_id)
        .bind(month)
        .bind(&negative_sources)
        .fetch_all(&mut **tx)
        .await?;
        for (kind, id, cents) in paid {
            held_by_source.entry((kind, id)).or_default().0 = cents;
        }
        let shares: Vec<(String, Uuid, Uuid, i64)> = sqlx::query_as(
            "SELECT l.source_kind, l.source_id, s.funder_id, sum(s.amount_cents)::bigint
               FROM statement_line_shares s
               JOIN statement_lines l ON l.tenant_id = s.tenant_id AND l.statement_id = s.statement_id AND l.line_no = s.line_no
               JOIN statements st ON st.tenant_id = s.tenant_id AND st.id = s.statement_id
              WHERE s.tenant_id = $1 AND NOT (st.status = 'draft' AND st.month <= $2) AND l.source_id = ANY ($3)
              GROUP BY 1, 2, 3",
        )
        .bind(tenant_id)
        .bind(month)
        .bind(&negative_sources)
        .fetch_all(&mut **tx)
        .await?;
        for (kind, id, funder, cents) in shares {
            held_by_source
                .entry((kind, id))
                .or_default()
                .1
                .insert(funder, cents);
        }
    }

    let mut statement_ids = Vec::new();
    let mut line_nos = Vec::new();
    let mut funder_ids = Vec::new();
    let mut amounts = Vec::new();
    let none = Vec::new();
    for line in &lines {
        let funders = funders_of.get(&line.voucher_id).unwrap_or(&none);
        let parts: Vec<i64> = if line.amount_cents >= 0 {
            let mut budget = WHOLE;
            let shares: Vec<FunderShare> = funders
                .iter()
                .map(|f| {
                    let points = if f.pays_on(line.occurred_on) {
                        f.basis_points().min(budget)
                    } else {
                        0
                    };
                    budget -= points;
                    let cap_room = f.cap_cents.map(|cap| {
                        cap - paid_by_scheme
                            .get(&(line.scheme_id, f.funder_id))
                            .copied()
                            .unwrap_or(0)
                    });
                    let fixed_room = f.fixed_cents.map(|fixed| {
                        fixed
                            - paid_on_voucher
                                .get(&(line.voucher_id, f.funder_id))
                                .copied()
                                .unwrap_or(0)
                    });
                    let room = match (cap_room, fixed_room) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    FunderShare {
                        basis_points: points,
                        room_cents: room,
                    }
                })
                .collect();
            split::allocate(line.amount_cents, &shares)
                .map_err(|e| Error::Internal(format!("cannot share a line: {e:?}")))?
                .funders
        } else {
            let key = (line.source_kind.clone(), line.source_id);
            let (paid, by_funder) = held_by_source.get(&key).cloned().unwrap_or_default();
            let mut held: Vec<i64> = funders
                .iter()
                .map(|f| by_funder.get(&f.funder_id).copied().unwrap_or(0))
                .collect();
            held.push(paid - held.iter().sum::<i64>());
            let mut parts = split::take_back(line.amount_cents, &held);
            parts.pop();
            parts
        };
        for (funder, cents) in funders.iter().zip(parts) {
            if cents == 0 {
                continue;
            }
            *paid_by_scheme
                .entry((line.scheme_id, funder.funder_id))
                .or_default() += cents;
            *paid_on_voucher
                .entry((line.voucher_id, funder.funder_id))
                .or_default() += cents;
            statement_ids.push(line.statement_id);
            line_nos.push(line.line_no);
            funder_ids.push(funder.funder_id);
            amounts.push(cents);
        }
    }
    let written = amounts.len() as u64;
    for start in (0..amounts.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(amounts.len());
        sqlx::query(
            "INSERT INTO statement_line_shares (tenant_id, statement_id, line_no, funder_id, amount_cents)
             SELECT $1, s, n, f, a FROM unnest($2::uuid[], $3::integer[], $4::uuid[], $5::bigint[]) AS x(s, n, f, a)
             RETURNING 1",
        )
        .bind(tenant_id)
        .bind(&statement_ids[start..end])
        .bind(&line_nos[start..end])
        .bind(&funder_ids[start..end])
        .bind(&amounts[start..end])
        .execute(&mut **tx)
        .await?;
    }
    Ok(written)
}
