//! A scheduled job's run for a tenant and a period (a day, a month) happens once: the run claims a
//! `scheduled_runs` row in its own transaction, so two replicas, every later cron tick and a
//! restart find it claimed and do nothing; the row keeps the run's summary.

use chrono::NaiveDate;
use uuid::Uuid;

use super::Tx;
use crate::Error;

/// Claims `job`'s run for `period`; `false` when it was already claimed (the caller rolls back).
pub(crate) async fn claim(
    tx: &mut Tx,
    tenant_id: Uuid,
    job: &str,
    period: NaiveDate,
) -> Result<bool, Error> {
    let claimed = sqlx::query(
        "INSERT INTO scheduled_runs (tenant_id, job, period) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(job)
    .bind(period)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// Marks the claimed run finished, with its summary.
pub(crate) async fn finish(
    tx: &mut Tx,
    job: &str,
    period: NaiveDate,
    summary: &serde_json::Value,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE scheduled_runs SET finished_at = now(), summary = $3 WHERE tenant_id = $4 AND job = $1 AND period = $2",
    )
    .bind(job)
    .bind(period)
    .bind(summary)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
