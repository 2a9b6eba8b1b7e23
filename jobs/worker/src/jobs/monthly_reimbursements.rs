//! The monthly reimbursement run: a nightly tick enqueues one job per tenant, and each job
//! computes its tenant's previous month the first time it runs in a month (the 1st, or the first
//! night the worker is up after an outage). The month's statements stay drafts for finance.

use std::time::Duration;

use apalis::layers::retry::RetryPolicy;
use apalis::prelude::*;
use apalis_cron::Tick;
use chrono::Utc;
use passerelle_core::Db;
use passerelle_core::reimbursements::compute;
use passerelle_core::tenancy::tenants;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::jobs::{Context, Registered};
use crate::{queue, worker_name};

/// The monthly run's worker (3 retries, 30 minutes at most), and its schedule that enqueues one
/// job per tenant.
pub(crate) fn register(monitor: Monitor, ctx: &Context) -> Registered {
    let queue = ctx.queue::<MonthlyReimbursements>(queue::MONTHLY_REIMBURSEMENTS);
    let schedule = crate::jobs::schedule(&ctx.options.monthly_schedule)?;
    let (db, enqueue_db, enqueue_queue) = (ctx.db.clone(), ctx.db.clone(), queue.clone());
    Ok(monitor
        .register(move |_restarts| {
            WorkerBuilder::new(worker_name("monthly-reimbursements"))
                .backend(queue.clone())
                .retry(RetryPolicy::retries(3))
                .timeout(Duration::from_secs(1800))
                .data(db.clone())
                .build(run)
        })
        .register(move |_restarts| {
            WorkerBuilder::new(worker_name("schedule-monthly-reimbursements"))
                .backend(crate::jobs::cron(&schedule))
                .data(enqueue_db.clone())
                .data(enqueue_queue.clone())
                .build(enqueue)
        }))
}

/// One job per tenant; each computes its tenant's previous month at most once.
async fn enqueue(
    _tick: Tick<chrono_tz::Tz>,
    db: Data<Db>,
    queue: Data<queue::Storage<MonthlyReimbursements>>,
) -> Result<(), BoxDynError> {
    let mut queue = (*queue).clone();
    for tenant_id in tenants::all_ids(&db).await? {
        queue.push(MonthlyReimbursements { tenant_id }).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonthlyReimbursements {
    pub tenant_id: Uuid,
}

pub async fn run(job: MonthlyReimbursements, db: Data<Db>) -> Result<(), BoxDynError> {
    match compute::run_previous_month_once(&db, job.tenant_id, Utc::now()).await? {
        Some(run) => {
            tracing::info!(tenant_id = %job.tenant_id, ?run, "monthly reimbursements computed")
        }
        None => {
            tracing::debug!(tenant_id = %job.tenant_id, "monthly reimbursements already computed")
        }
    }
    Ok(())
}
