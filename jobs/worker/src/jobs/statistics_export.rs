//! One statistics export (a scheme over a month, quarter or year), computed with polars by the
//! statistics crate. Exports are asked for by finance or tenant admins through the API, or by the
//! nightly schedule for the periods that just ended; the relay hands them to this queue.

use std::sync::Arc;
use std::time::Duration;

use apalis::layers::retry::RetryPolicy;
use apalis::prelude::*;
use apalis_cron::Tick;
use passerelle_core::Db;
use passerelle_core::tenancy::tenants;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::options::WorkerOptions;

use crate::jobs::{Context, Registered};
use crate::{queue, worker_name};

/// The export's worker (3 retries, an hour at most; the relay feeds its queue), and the schedule
/// that asks for the periods that just ended.
pub(crate) fn register(monitor: Monitor, ctx: &Context) -> Registered {
    let queue = ctx.queue::<StatisticsExport>(queue::STATISTICS_EXPORT);
    let schedule = crate::jobs::schedule(&ctx.options.statistics_schedule)?;
    let (db, options, schedule_db) = (ctx.db.clone(), ctx.options.clone(), ctx.db.clone());
    Ok(monitor
        .register(move |_restarts| {
            WorkerBuilder::new(worker_name("statistics-export"))
                .backend(queue.clone())
                .retry(RetryPolicy::retries(3))
                .timeout(Duration::from_secs(3600))
                .data(db.clone())
                .data(options.clone())
                .build(run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(worker_name("schedule-statistics"))
                .backend(crate::jobs::cron(&schedule))
                .data(schedule_db.clone())
                .build(schedule_ended_periods)
        }))
}

/// Asks, for every tenant and active scheme, for the periods that just ended; the relay hands
/// them to the statistics queue. Asking twice for a period does nothing.
async fn schedule_ended_periods(
    _tick: Tick<chrono_tz::Tz>,
    db: Data<Db>,
) -> Result<(), BoxDynError> {
    for tenant_id in tenants::all_ids(&db).await? {
        let created =
            passerelle_core::statistics::schedule_ended_periods(&db, tenant_id, chrono::Utc::now())
                .await?;
        if !created.is_empty() {
            tracing::info!(%tenant_id, exports = created.len(), "statistics exports scheduled");
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatisticsExport {
    pub tenant_id: Uuid,
    pub export_id: Uuid,
}

/// A failed export records its reason on the export row, where the API shows it; the job itself
/// ends there rather than retrying a computation that would fail the same way.
pub async fn run(
    job: StatisticsExport,
    db: Data<Db>,
    options: Data<Arc<WorkerOptions>>,
) -> Result<(), BoxDynError> {
    match passerelle_statistics::run_export(
        &db,
        &options.statistics_dir,
        job.tenant_id,
        job.export_id,
    )
    .await
    {
        Ok(Some(summary)) => tracing::info!(
            tenant_id = %job.tenant_id,
            export_id = %job.export_id,
            files = summary.files.len(),
            "statistics export written"
        ),
        Ok(None) => {
            tracing::debug!(export_id = %job.export_id, "statistics export already finished")
        }
        Err(passerelle_statistics::StatisticsError::Core(passerelle_core::Error::Database(e))) => {
            // PostgreSQL unreachable: the export could not even be marked; let the queue retry.
            return Err(Box::new(e));
        }
        Err(e) => {
            tracing::warn!(export_id = %job.export_id, error = %e, "statistics export failed")
        }
    }
    Ok(())
}
