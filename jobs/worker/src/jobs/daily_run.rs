//! The daily expiry run. A cron tick enqueues one job per tenant; the job runs the tenant's
//! current day (in its time zone) unless that day is already done, which makes every later tick
//! of the day, every replica's tick, and a restart harmless. The same job then runs the day's
//! retention purge of personal data, guarded the same way.

use apalis::prelude::*;
use chrono::Utc;
use passerelle_core::Db;
use passerelle_core::emails::daily;
use passerelle_core::retention;
use passerelle_core::tenancy::tenants;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DailyRun {
    pub tenant_id: Uuid,
}

pub async fn run(job: DailyRun, db: Data<Db>) -> Result<(), BoxDynError> {
    let summary = daily::run(&db, job.tenant_id, Utc::now()).await?;
    if summary.ran {
        tracing::info!(tenant_id = %job.tenant_id, ?summary, "daily expiry run done");
    } else {
        tracing::debug!(tenant_id = %job.tenant_id, day = ?summary.day, "daily expiry run already done");
    }
    let today = Utc::now()
        .with_timezone(&tenants::get(&db, job.tenant_id).await?.tz())
        .date_naive();
    let purge = retention::purge_day(&db, job.tenant_id, today).await?;
    if purge.erased > 0 {
        tracing::info!(tenant_id = %job.tenant_id, ?purge, "retention purge done");
    }
    Ok(())
}
