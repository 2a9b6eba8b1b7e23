//! The background worker: apalis workers on Redis queues, fed by cron schedules.
//!
//! One file per job under `jobs/`. Job payloads carry ids only, never personal data. Scheduled
//! ticks only enqueue work; the work itself runs from the Redis queue, so any replica may do it.

pub mod jobs;
pub mod queue;

use std::str::FromStr;
use std::time::Duration;

use apalis::layers::retry::RetryPolicy;
use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use passerelle_core::Db;
use passerelle_core::config::Settings;

use crate::jobs::purge_idempotency_keys::{self, PurgeIdempotencyKeys};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot connect to PostgreSQL: {0}")]
    Database(#[source] sqlx::Error),
    #[error(transparent)]
    Preflight(#[from] passerelle_core::storage::preflight::PreflightError),
    #[error("cannot connect to Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("invalid schedule `{0}`")]
    Schedule(String),
    #[error("worker stopped with an error: {0}")]
    Monitor(String),
}

/// Hourly, in the platform's time zone: enqueue the purge of expired idempotency keys.
const PURGE_SCHEDULE: &str = "0 17 * * * *";

/// A name unique to this process, so that a crashed worker's jobs are recovered by the others.
pub fn worker_name(kind: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    format!("{kind}@{host}:{}", std::process::id())
}

/// Runs every worker until Ctrl-C or SIGTERM.
pub async fn run(
    settings: &Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let db = Db::connect(&settings.database_url, settings.database_max_connections)
        .await
        .map_err(WorkerError::Database)?;
    passerelle_core::storage::preflight::check(db.pool()).await?;
    let redis = queue::connect(&settings.redis_url).await?;
    let purge_queue =
        queue::storage::<PurgeIdempotencyKeys>(redis.clone(), queue::PURGE_IDEMPOTENCY_KEYS);
    let schedule = cron::Schedule::from_str(PURGE_SCHEDULE)
        .map_err(|_| WorkerError::Schedule(PURGE_SCHEDULE.into()))?;

    let monitor = Monitor::new()
        .register({
            let db = db.clone();
            let purge_queue = purge_queue.clone();
            move |_restarts| {
                WorkerBuilder::new(worker_name("purge-idempotency-keys"))
                    .backend(purge_queue.clone())
                    .retry(RetryPolicy::retries(3))
                    .data(db.clone())
                    .build(purge_idempotency_keys::run)
            }
        })
        .register({
            let purge_queue = purge_queue.clone();
            let schedule = schedule.clone();
            move |_restarts| {
                WorkerBuilder::new(worker_name("schedule-purge-idempotency-keys"))
                    .backend(
                        CronScheduler::new(schedule.clone())
                            .with_timezone(chrono_tz::Europe::Paris),
                    )
                    .data(purge_queue.clone())
                    .build(enqueue_purge)
            }
        })
        .shutdown_timeout(Duration::from_secs(20));
    tracing::info!("worker running");
    monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
        .map_err(|e| WorkerError::Monitor(e.to_string()))
}

async fn enqueue_purge(
    _tick: Tick<chrono_tz::Tz>,
    queue: Data<queue::Storage<PurgeIdempotencyKeys>>,
) -> Result<(), BoxDynError> {
    let mut queue = (*queue).clone();
    queue.push(PurgeIdempotencyKeys {}).await?;
    Ok(())
}
