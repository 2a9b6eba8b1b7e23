//! Deletes idempotency keys past their 24-hour retention, tenant by tenant (each in a transaction
//! scoped to that tenant, as row-level security requires), then the platform's own.

use apalis::layers::retry::RetryPolicy;
use apalis::prelude::*;
use apalis_cron::Tick;
use passerelle_core::Db;
use passerelle_core::idempotency::{self, Scope};
use passerelle_core::tenancy::tenants;
use serde::{Deserialize, Serialize};

use crate::jobs::{Context, Registered};
use crate::{queue, worker_name};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeIdempotencyKeys {}

/// Hourly, in the platform's time zone.
const SCHEDULE: &str = "0 17 * * * *";

/// The purge's worker (3 retries), and its hourly schedule that enqueues it.
pub(crate) fn register(monitor: Monitor, ctx: &Context) -> Registered {
    let queue = ctx.queue::<PurgeIdempotencyKeys>(queue::PURGE_IDEMPOTENCY_KEYS);
    let schedule = crate::jobs::schedule(SCHEDULE)?;
    let db = ctx.db.clone();
    let enqueue_queue = queue.clone();
    Ok(monitor
        .register(move |_restarts| {
            WorkerBuilder::new(worker_name("purge-idempotency-keys"))
                .backend(queue.clone())
                .retry(RetryPolicy::retries(3))
                .data(db.clone())
                .build(run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(worker_name("schedule-purge-idempotency-keys"))
                .backend(crate::jobs::cron(&schedule))
                .data(enqueue_queue.clone())
                .build(enqueue)
        }))
}

async fn enqueue(
    _tick: Tick<chrono_tz::Tz>,
    queue: Data<queue::Storage<PurgeIdempotencyKeys>>,
) -> Result<(), BoxDynError> {
    let mut queue = (*queue).clone();
    queue.push(PurgeIdempotencyKeys {}).await?;
    Ok(())
}

pub async fn run(_job: PurgeIdempotencyKeys, db: Data<Db>) -> Result<u64, BoxDynError> {
    let mut removed = 0;
    for tenant_id in tenants::all_ids(&db).await? {
        removed += idempotency::purge_expired(&db, Scope::Tenant(tenant_id)).await?;
    }
    removed += idempotency::purge_expired(&db, Scope::Platform).await?;
    tracing::info!(removed, "expired idempotency keys purged");
    Ok(removed)
}
