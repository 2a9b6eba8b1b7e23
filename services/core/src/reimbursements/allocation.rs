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

/// A line the run has just written, as its write returns it: what the sharing needs of every line
/// (a negative line's source is read apart, those are few).
pub(crate) struct WrittenLine {
    statement_id: Uuid,
    line_no: i32,
    voucher_id: Uuid,
    occurred_on: NaiveDate,
    amount_cents: i64,
}

/// The columns of `statement_lines` a write returns for the allocation, in `WrittenLine`'s order.
pub(crate) const WRITTEN_LINE_COLUMNS: &str =
    "statement_id, line_no, voucher_id, occurred_on, amount_cents";

/// Read by position, in the order of `WRITTEN_LINE_COLUMNS`: a run returns every line it writes.
impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for WrittenLine {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            statement_id: row.try_get(0)?,
            line_no: row.try_get(1)?,
            voucher_id: row.try_get(2)?,
            occurred_on: row.try_get(3)?,
            amount_cents: row.try_get(4)?,
        })
    }
}

/// A written line with the scheme of its statement and the statement's rank in byte order of
/// references, in the allocation's order.
struct Line {
    line: WrittenLine,
    scheme_id: Uuid,
    rank: usize,
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

/// A funder of a voucher: its line of the plan the voucher was issued under.
#[derive(sqlx::FromRow, Clone)]
struct VoucherFunder {
    funder_id: Uuid,
    share_basis_points: Option<i32>,
    fixed_cents: Option<i64>,
    cap_cents: Option<i64>,
    period_start: Option<NaiveDate>,
    period_end: Option<NaiveDate>,
    /// The voucher's face value, read only when the line is a fixed amount.
    #[sqlx(default)]
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

/// A line of a tenant's funding plans.
#[derive(sqlx::FromRow)]
struct PlanLine {
    scheme_id: Uuid,
    version: i32,
    position: i32,
    #[sqlx(flatten)]
    funder: VoucherFunder,
}

/// Shares written per statement: the arrays bound to one INSERT stay a few megabytes.
const CHUNK: usize = 200_000;

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
    // The tenant's funding plans (a few lines), then which line of which plan each voucher was
    // issued under: the voucher's funders, in order.
    let plan_lines: Vec<(Uuid, i32, i32, VoucherFunder)> = sqlx::query_as::<_, PlanLine>(
        "SELECT scheme_id, version, position, funder_id, share_basis_points, fixed_cents, cap_cents, period_start,
                period_end
           FROM scheme_funding_lines WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|p| (p.scheme_id, p.version, p.position, p.funder))
    .collect();
    let plan: HashMap<(Uuid, i32, i32), &VoucherFunder> = plan_lines
        .iter()
        .map(|(scheme, version, position, funder)| ((*scheme, *version, *position), funder))
        .collect();
    let mut issued: Vec<(Uuid, i32, Uuid, i32)> = sqlx::query_as(
        "SELECT vf.voucher_id, vf.position, vf.scheme_id, vf.funding_version
           FROM unnest($2::uuid[]) AS w(voucher_id)
           JOIN voucher_funders vf ON vf.tenant_id = $1 AND vf.voucher_id = w.voucher_id",
    )
    .bind(tenant_id)
    .bind(&vouchers)
    .fetch_all(&mut **tx)
    .await?;
    issued.sort_unstable_by_key(|&(voucher, position, _, _)| (voucher, position));
    let mut funders_of: HashMap<Uuid, Vec<VoucherFunder>> = HashMap::new();
    for (voucher_id, position, scheme_id, version) in issued {
        let Some(funder) = plan.get(&(scheme_id, version, position)) else {
            return Err(Error::Internal(format!(
                "voucher {voucher_id} names no line of its funding plan"
            )));
        };
        funders_of
            .entry(voucher_id)
            .or_default()
            .push((*funder).clone());
    }
    // A fixed amount per voucher is a share of the voucher's face value.
    let fixed_vouchers: Vec<Uuid> = funders_of
        .iter()
        .filter(|(_, funders)| funders.iter().any(|f| f.fixed_cents.is_some()))
        .map(|(voucher, _)| *voucher)
        .collect();
    if !fixed_vouchers.is_empty() {
        let faces: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT v.id, v.face_value_cents FROM unnest($2::uuid[]) AS w(id)
               JOIN vouchers v ON v.tenant_id = $1 AND v.id = w.id",
        )
        .bind(tenant_id)
        .bind(&fixed_vouchers)
        .fetch_all(&mut **tx)
        .await?;
        for (voucher, face) in faces {
            for funder in funders_of.get_mut(&voucher).into_iter().flatten() {
                funder.face_value_cents = face;
            }
        }
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
            Line {
                line,
                scheme_id,
                rank,
            },
        ));
    }
    keyed.sort_unstable_by_key(|(key, _)| *key);
    let lines: Vec<Line> = keyed.into_iter().map(|(_, line)| line).collect();

    // What the statements outside the recomputed drafts already gave each funder: per scheme (for
    // caps) and, when a funder pays a fixed amount per voucher, per voucher.
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
    let any_fixed = funders_of
        .values()
        .flatten()
        .any(|f| f.fixed_cents.is_some());
    let per_voucher: Vec<(Uuid, Uuid, i64)> = if any_fixed {
        sqlx::query_as(
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
        .await?
    } else {
        Vec::new()
    };
    let mut paid_on_voucher: HashMap<(Uuid, Uuid), i64> = per_voucher
        .into_iter()
        .map(|(voucher, funder, cents)| ((voucher, funder), cents))
        .collect();

    // For negative lines: their source, and what each party was paid for it.
    let negative: Vec<(Uuid, i32)> = lines
        .iter()
        .filter(|l| l.amount_cents < 0)
        .map(|l| (l.statement_id, l.line_no))
        .collect();
    let mut source_of: HashMap<(Uuid, i32), (String, Uuid)> = HashMap::new();
    if !negative.is_empty() {
        let (statements, numbers): (Vec<Uuid>, Vec<i32>) = negative.iter().copied().unzip();
        let sources: Vec<(Uuid, i32, String, Uuid)> = sqlx::query_as(
            "SELECT l.statement_id, l.line_no, l.source_kind, l.source_id
               FROM unnest($2::uuid[], $3::integer[]) AS n(statement_id, line_no)
               JOIN statement_lines l ON l.tenant_id = $1 AND l.statement_id = n.statement_id AND l.line_no = n.line_no",
        )
        .bind(tenant_id)
        .bind(&statements)
        .bind(&numbers)
        .fetch_all(&mut **tx)
        .await?;
        source_of = sources
            .into_iter()
            .map(|(statement, line_no, kind, id)| ((statement, line_no), (kind, id)))
            .collect();
    }
    let negative_sources: Vec<Uuid> = source_of.values().map(|(_, id)| *id).collect();
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

    // Each share as (statement's rank, funder, line number, cents), gathered per statement and
    // funder below.
    let mut shares: Vec<(usize, Uuid, i32, i64)> = Vec::with_capacity(lines.len() * 2);
    let none = Vec::new();
    for line in &lines {
        let funders = funders_of.get(&line.voucher_id).unwrap_or(&none);
        let parts: Vec<i64> = if line.amount_cents >= 0 {
            let mut budget = WHOLE;
            let split_of_line: Vec<FunderShare> = funders
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
            split::allocate(line.amount_cents, &split_of_line)
                .map_err(|e| Error::Internal(format!("cannot share a line: {e:?}")))?
                .funders
        } else {
            let Some(source) = source_of.get(&(line.statement_id, line.line_no)) else {
                return Err(Error::Internal(format!(
                    "a written line is not in its statement: {} {}",
                    line.statement_id, line.line_no
                )));
            };
            let (paid, by_funder) = held_by_source.get(source).cloned().unwrap_or_default();
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
            if funder.cap_cents.is_some() {
                *paid_by_scheme
                    .entry((line.scheme_id, funder.funder_id))
                    .or_default() += cents;
            }
            if funder.fixed_cents.is_some() {
                *paid_on_voucher
                    .entry((line.voucher_id, funder.funder_id))
                    .or_default() += cents;
            }
            shares.push((line.rank, funder.funder_id, line.line_no, cents));
        }
    }
    let written = shares.len() as u64;
    shares.sort_unstable();
    write_shares(tx, &by_reference, &shares).await?;
    Ok(written)
}

/// Writes the shares, sorted by statement, funder and line, as one row per statement and funder:
/// the line numbers and cents of every row go in two flat arrays, and each row takes its slice.
async fn write_shares(
    tx: &mut Tx,
    by_reference: &[&(Uuid, Uuid, NaiveDate, String)],
    shares: &[(usize, Uuid, i32, i64)],
) -> Result<(), Error> {
    let tenant_id = tx.tenant_id();
    let mut rest = shares;
    while !rest.is_empty() {
        let mut statement_ids = Vec::new();
        let mut funder_ids = Vec::new();
        let mut firsts: Vec<i32> = Vec::new();
        let mut lasts: Vec<i32> = Vec::new();
        let mut taken = 0;
        // Whole rows only: a chunk ends before the row that would take it over `CHUNK`, unless it
        // is that row alone.
        while taken < rest.len() {
            let (rank, funder_id, _, _) = rest[taken];
            let length = rest[taken..]
                .iter()
                .take_while(|s| s.0 == rank && s.1 == funder_id)
                .count();
            if taken > 0 && taken + length > CHUNK {
                break;
            }
            statement_ids.push(by_reference[rank].0);
            funder_ids.push(funder_id);
            // PostgreSQL's arrays count from 1; both ends are included.
            firsts.push(i32::try_from(taken + 1).map_err(|e| Error::Internal(e.to_string()))?);
            lasts.push(i32::try_from(taken + length).map_err(|e| Error::Internal(e.to_string()))?);
            taken += length;
        }
        let (chunk, after) = rest.split_at(taken);
        let line_nos: Vec<i32> = chunk.iter().map(|s| s.2).collect();
        let cents: Vec<i64> = chunk.iter().map(|s| s.3).collect();
        sqlx::query(
            "INSERT INTO statement_funder_shares (tenant_id, statement_id, funder_id, line_nos, cents)
             SELECT $1, r.statement_id, r.funder_id, ($6::integer[])[r.first:r.last], ($7::bigint[])[r.first:r.last]
               FROM unnest($2::uuid[], $3::uuid[], $4::integer[], $5::integer[]) AS r(statement_id, funder_id, first, last)
             RETURNING 1",
        )
        .bind(tenant_id)
        .bind(&statement_ids)
        .bind(&funder_ids)
        .bind(&firsts)
        .bind(&lasts)
        .bind(&line_nos)
        .bind(&cents)
        .execute(&mut **tx)
        .await?;
        rest = after;
    }
    Ok(())
}
