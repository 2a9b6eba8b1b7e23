//! The month's computation, set-based, in one transaction under a per-tenant lock.
//!
//! Amounts: an attended line is `minutes × hourly rate / 60`, rounded to the nearest cent (half up),
//! per line; a positioning interview is the scheme's flat fee. Both come from the rules version the
//! voucher was issued under. Absent and excused minutes are paid only when the rules say so. What is
//! paid for one voucher never exceeds its face value: sources are taken in date order and the one
//! that crosses the face value is cut to it, the later ones to zero.
//!
//! Ledger: a source is owed its amount; its lines over every statement add up to what was accounted
//! for it. Draft statements up to the month are emptied and refilled with what is owed minus what
//! the other statements account for. A source whose own month is approved or paid gets the
//! difference as an adjustment in the month being run. A run is one transaction: interrupted, it
//! leaves nothing; run again, it gives the same lines. Its last step shares the draft lines of
//! co-financed vouchers between their funders and the territory (`allocation`).

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use uuid::Uuid;

use crate::storage::Tx;
use crate::tenancy::tenants::Tenant;
use crate::{Db, Error};

/// The month's desired statement lines, computed in one statement.
const DESIRED_LINES: &str = include_str!("sql/desired_lines.sql");

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MonthRun {
    pub month: Option<NaiveDate>,
    pub statements: i64,
    pub lines: i64,
    pub adjustments: i64,
    pub total_cents: i64,
}

/// The first day of the month `date` falls in.
pub fn month_of(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// Serialises reimbursement work of one tenant (runs, approvals) across processes.
pub(crate) async fn lock_tenant(tx: &mut Tx, tenant_id: Uuid) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('reimbursements:' || $1::text, 0))")
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Fills the temporary table `desired_lines` with the lines the draft statements up to `month`
/// should hold now, each with its target (EPN, scheme, month).
pub(crate) async fn build_desired(
    tx: &mut Tx,
    tenant: &Tenant,
    month: NaiveDate,
) -> Result<(), Error> {
    // A month of a large tenant sorts tens of thousands of sources by voucher and by statement:
    // give those sorts memory rather than temporary files, for this transaction only.
    sqlx::query("SET LOCAL work_mem = '64MB'")
        .execute(&mut **tx)
        .await?;
    sqlx::query("DROP TABLE IF EXISTS desired_lines")
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "CREATE TEMPORARY TABLE desired_lines (
             epn_id uuid, scheme_id uuid, target_month date, kind text, source_kind text, source_id uuid,
             occurred_on date, occurred_at timestamptz, session_id uuid, module_number integer, voucher_id uuid,
             voucher_reference text, minutes integer, rate_cents bigint, amount_cents bigint, adjusts_month date
         ) ON COMMIT DROP",
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query(DESIRED_LINES)
        .bind(month)
        .bind(&tenant.time_zone)
        .bind(tenant.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Computes `month` (and refreshes every earlier draft) for one tenant.
pub async fn run_month(db: &Db, tenant_id: Uuid, month: NaiveDate) -> Result<MonthRun, Error> {
    let tenant = crate::tenancy::tenants::get(db, tenant_id).await?;
    let month = month_of(month);
    let mut tx = db.begin_tenant(tenant_id).await?;
    let run = run_month_in(&mut tx, &tenant, month).await?;
    tx.commit().await?;
    Ok(run)
}

pub async fn run_month_in(
    tx: &mut Tx,
    tenant: &Tenant,
    month: NaiveDate,
) -> Result<MonthRun, Error> {
    lock_tenant(tx, tenant.id).await?;
    build_desired(tx, tenant, month).await?;
    sqlx::query(
        "DELETE FROM statement_funder_shares s USING statements st
         WHERE s.tenant_id = $2 AND st.tenant_id = s.tenant_id AND st.id = s.statement_id
           AND st.status = 'draft' AND st.month <= $1",
    )
    .bind(month)
    .bind(tenant.id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM statement_lines l USING statements st
         WHERE l.tenant_id = $2 AND st.tenant_id = l.tenant_id AND st.id = l.statement_id
           AND st.status = 'draft' AND st.month <= $1",
    )
    .bind(month)
    .bind(tenant.id)
    .execute(&mut **tx)
    .await?;
    // The statements the desired lines fall in, with their totals, read once from the temporary
    // table and given to the statements below as arrays: Citus refuses a DELETE or an UPDATE of a
    // distributed table that reads a local (temporary) table.
    let groups: Vec<(Uuid, Uuid, NaiveDate, i64, i32, i64)> = sqlx::query_as(
        "SELECT epn_id, scheme_id, target_month, sum(amount_cents)::bigint, count(*)::integer,
                count(*) FILTER (WHERE kind = 'adjustment')
           FROM desired_lines GROUP BY epn_id, scheme_id, target_month",
    )
    .fetch_all(&mut **tx)
    .await?;
    let epns: Vec<Uuid> = groups.iter().map(|g| g.0).collect();
    let schemes: Vec<Uuid> = groups.iter().map(|g| g.1).collect();
    let months: Vec<NaiveDate> = groups.iter().map(|g| g.2).collect();
    let totals: Vec<i64> = groups.iter().map(|g| g.3).collect();
    let line_counts: Vec<i32> = groups.iter().map(|g| g.4).collect();
    // Drafts left with nothing to hold go away (their lines were just removed).
    sqlx::query(
        "DELETE FROM statements st WHERE st.tenant_id = $2 AND st.status = 'draft' AND st.month <= $1
           AND NOT EXISTS (SELECT 1 FROM unnest($3::uuid[], $4::uuid[], $5::date[]) AS g(epn_id, scheme_id, month)
                           WHERE g.epn_id = st.epn_id AND g.scheme_id = st.scheme_id AND g.month = st.month)",
    )
    .bind(month)
    .bind(tenant.id)
    .bind(&epns)
    .bind(&schemes)
    .bind(&months)
    .execute(&mut **tx)
    .await?;
    // The id and the reference are computed once per statement, not per line; a statement gets its
    // total and line count from the desired lines as it is written (or, a draft already there,
    // rewritten).
    sqlx::query(
        "INSERT INTO statements (tenant_id, id, reference, epn_id, scheme_id, month, total_cents, line_count, computed_at)
         SELECT $1, uuid_v7(),
                $2 || '-' || to_char(g.month, 'YYYYMM') || '-'
                   || upper(substr(md5(g.epn_id::text || g.scheme_id::text), 1, 10)),
                g.epn_id, g.scheme_id, g.month, g.total, g.lines, now()
         FROM unnest($3::uuid[], $4::uuid[], $5::date[], $6::bigint[], $7::integer[])
              AS g(epn_id, scheme_id, month, total, lines)
         ON CONFLICT (tenant_id, epn_id, scheme_id, month) DO UPDATE
            SET total_cents = excluded.total_cents, line_count = excluded.line_count, computed_at = excluded.computed_at
          WHERE statements.status = 'draft'",
    )
    .bind(tenant.id)
    .bind(&tenant.reference_prefix)
    .bind(&epns)
    .bind(&schemes)
    .bind(&months)
    .bind(&totals)
    .bind(&line_counts)
    .execute(&mut **tx)
    .await?;
    // The allocation needs the lines just written: the write returns them when the tenant has
    // co-financed vouchers, rather than the allocation reading them back.
    let shared = super::allocation::tenant_has_funders(tx).await?;
    let returning = if shared {
        super::allocation::WRITTEN_LINE_COLUMNS
    } else {
        "1"
    };
    let write_lines = format!(
        "INSERT INTO statement_lines (tenant_id, statement_id, line_no, kind, source_kind, source_id, occurred_on,
                                      session_id, module_number, voucher_id, voucher_reference, minutes, rate_cents,
                                      amount_cents, adjusts_month)
         SELECT $1, st.id,
                row_number() OVER (PARTITION BY st.id ORDER BY d.kind = 'adjustment', d.occurred_at, d.voucher_reference COLLATE \"C\", d.source_id),
                d.kind, d.source_kind, d.source_id, d.occurred_on, d.session_id, d.module_number, d.voucher_id,
                d.voucher_reference, d.minutes, d.rate_cents, d.amount_cents, d.adjusts_month
         FROM desired_lines d
         JOIN statements st ON st.epn_id = d.epn_id AND st.scheme_id = d.scheme_id AND st.month = d.target_month
         WHERE st.tenant_id = $1 AND st.status = 'draft'
         RETURNING {returning}"
    );
    let written: Vec<super::allocation::WrittenLine> = if shared {
        sqlx::query_as(sqlx::AssertSqlSafe(write_lines))
            .bind(tenant.id)
            .fetch_all(&mut **tx)
            .await?
    } else {
        sqlx::query(sqlx::AssertSqlSafe(write_lines))
            .bind(tenant.id)
            .execute(&mut **tx)
            .await?;
        Vec::new()
    };
    super::allocation::allocate_drafts(tx, month, written).await?;
    let (statements, lines, total_cents): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(line_count), 0)::bigint, coalesce(sum(total_cents), 0)::bigint
         FROM statements WHERE tenant_id = $2 AND month = $1",
    )
    .bind(month)
    .bind(tx.tenant_id())
    .fetch_one(&mut **tx)
    .await?;
    let adjustments: i64 = groups.iter().filter(|g| g.2 == month).map(|g| g.5).sum();
    Ok(MonthRun {
        month: Some(month),
        statements,
        lines,
        adjustments,
        total_cents,
    })
}

pub const SCHEDULED_JOB: &str = "monthly-reimbursements";

/// The scheduled run: the month before the one `now` falls in (tenant time zone), once. The guard
/// row is written in the run's own transaction, so a failed run leaves no guard and is tried again
/// at the next tick; finance can always run a month again on demand.
pub async fn run_previous_month_once(
    db: &Db,
    tenant_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<MonthRun>, Error> {
    let tenant = crate::tenancy::tenants::get(db, tenant_id).await?;
    let this_month = month_of(now.with_timezone(&tenant.tz()).date_naive());
    let previous = this_month
        .checked_sub_months(chrono::Months::new(1))
        .unwrap_or(this_month);
    let mut tx = db.begin_tenant(tenant_id).await?;
    if !crate::storage::scheduled_runs::claim(&mut tx, tenant_id, SCHEDULED_JOB, previous).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    let run = run_month_in(&mut tx, &tenant, previous).await?;
    crate::storage::scheduled_runs::finish(
        &mut tx,
        SCHEDULED_JOB,
        previous,
        &serde_json::json!(run),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(run))
}
