//! The daily expiry run. A cron tick enqueues one job per tenant; the job runs the tenant's
//! current day (in its time zone) unless that day is already done, which makes every later tick
//! of the day, every replica's tick, and a restart harmless. The same job then runs the day's
//! retention purge of personal data, guarded the same way, and deletes the territory's archives
//! kept long enough.

use std::sync::Arc;
use std::time::Duration;

use apalis::layers::retry::RetryPolicy;
use apalis::prelude::*;
use apalis_cron::Tick;
use chrono::Utc;
use passerelle_core::Db;
use passerelle_core::archive::requests;
use passerelle_core::delivery::accompaniment;
use passerelle_core::emails::daily;
use passerelle_core::retention;
use passerelle_core::tenancy::tenants;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::jobs::{Context, Registered};
use crate::options::WorkerOptions;
use crate::{queue, worker_name};

/// The daily run's worker (3 retries, 10 minutes at most), and its schedule that enqueues one job
/// per tenant.
pub(crate) fn register(monitor: Monitor, ctx: &Context) -> Registered {
    let queue = ctx.queue::<DailyRun>(queue::DAILY_RUN);
    let schedule = crate::jobs::schedule(&ctx.options.daily_schedule)?;
    let (db, enqueue_db, enqueue_queue) = (ctx.db.clone(), ctx.db.clone(), queue.clone());
    let options = ctx.options.clone();
    Ok(monitor
        .register(move |_restarts| {
            WorkerBuilder::new(worker_name("daily-run"))
                .backend(queue.clone())
                .retry(RetryPolicy::retries(3))
                .timeout(Duration::from_secs(600))
                .data(db.clone())
                .data(options.clone())
                .build(run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(worker_name("schedule-daily-run"))
                .backend(crate::jobs::cron(&schedule))
                .data(enqueue_db.clone())
                .data(enqueue_queue.clone())
                .build(enqueue)
        }))
}

/// One job per tenant: each runs its tenant's day, in its own time zone, at most once.
async fn enqueue(
    _tick: Tick<chrono_tz::Tz>,
    db: Data<Db>,
    queue: Data<queue::Storage<DailyRun>>,
) -> Result<(), BoxDynError> {
    let mut queue = (*queue).clone();
    for tenant_id in tenants::all_ids(&db).await? {
        queue.push(DailyRun { tenant_id }).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DailyRun {
    pub tenant_id: Uuid,
}

pub async fn run(
    job: DailyRun,
    db: Data<Db>,
    options: Data<Arc<WorkerOptions>>,
) -> Result<(), BoxDynError> {
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
    let expired = accompaniment::expire_due(&db, job.tenant_id).await?;
    if expired > 0 {
        tracing::info!(tenant_id = %job.tenant_id, expired, "unanswered public requests expired");
    }
    let archives = expire_archives(&db, &options.archive_dir, job.tenant_id).await?;
    if archives > 0 {
        tracing::info!(tenant_id = %job.tenant_id, archives, "archives kept long enough deleted");
    }
    Ok(())
}

/// Deletes the files of the archives kept `KEPT_FOR_DAYS`, then marks them expired: a file that
/// cannot be deleted keeps its archive as it was, for the next run to try again.
pub async fn expire_archives(
    db: &Db,
    archive_dir: &std::path::Path,
    tenant_id: Uuid,
) -> Result<usize, BoxDynError> {
    let mut deleted = Vec::new();
    for id in requests::due_to_expire(db, tenant_id, Utc::now()).await? {
        match tokio::fs::remove_file(requests::file_path(archive_dir, tenant_id, id)).await {
            Ok(()) => deleted.push(id),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => deleted.push(id),
            Err(e) => {
                tracing::warn!(%tenant_id, archive_id = %id, error = %e, "cannot delete an archive's file")
            }
        }
    }
    requests::mark_expired(db, tenant_id, &deleted).await?;
    Ok(deleted.len())
}
