//! The background worker: apalis workers on Redis queues, fed by cron schedules and by the email
//! outbox relay, with a liveness endpoint of its own.
//!
//! One file per job under `jobs/`. Job payloads carry ids only, never personal data. Scheduled
//! ticks only enqueue work; the work itself runs from the Redis queue, so any replica may do it,
//! and every scheduled run is guarded in PostgreSQL so that it happens once per period.

pub mod health;
pub mod jobs;
pub mod mailer;
pub mod options;
pub mod queue;
pub mod relay;
pub mod tenant_cache;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use apalis::layers::WorkerBuilderExt;
use apalis::layers::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
use apalis::layers::retry::{HasherRng, RetryPolicy};
use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use passerelle_core::Db;
use passerelle_core::config::Settings;
use passerelle_core::tenancy::tenants;
use redis::aio::ConnectionManager;
use tokio::sync::watch;

use crate::jobs::daily_run::{self, DailyRun};
use crate::jobs::monthly_reimbursements::{self, MonthlyReimbursements};
use crate::jobs::purge_idempotency_keys::{self, PurgeIdempotencyKeys};
use crate::jobs::send_email::{self, SendEmail};
use crate::jobs::statistics_export::{self, StatisticsExport};
use crate::mailer::Mailer;
use crate::options::WorkerOptions;

pub use options::RetrySchedule;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot connect to PostgreSQL: {0}")]
    Database(#[source] sqlx::Error),
    #[error(transparent)]
    Preflight(#[from] passerelle_core::storage::preflight::PreflightError),
    #[error("cannot connect to Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Mailer(#[from] mailer::MailerError),
    #[error("invalid schedule `{0}`")]
    Schedule(String),
    #[error("cannot serve the liveness endpoint: {0}")]
    Health(#[source] std::io::Error),
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
    format!(
        "{kind}@{host}:{}:{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Connects from the settings and runs every worker until Ctrl-C or SIGTERM.
pub async fn run(
    settings: &Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let db = Db::connect(
        &settings.database_url,
        settings.database_max_connections,
        settings.database_acquire_timeout,
    )
    .await
    .map_err(WorkerError::Database)?;
    passerelle_core::storage::preflight::check(db.pool()).await?;
    let redis = queue::connect(&settings.redis_url).await?;
    let options = WorkerOptions::from_settings(settings);
    let mailer = Mailer::new(
        settings.smtp_url.as_deref(),
        settings.mail_dir.clone(),
        u32::try_from(options.send_concurrency).unwrap_or(8),
    )?;
    run_with(db, redis, mailer, options, shutdown).await
}

/// Runs the workers, the schedules, the relay and the liveness endpoint on what it is given.
pub async fn run_with(
    db: Db,
    redis: ConnectionManager,
    mailer: Mailer,
    options: WorkerOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    let options = Arc::new(options);
    let purge_queue = queue::storage::<PurgeIdempotencyKeys>(
        redis.clone(),
        &options.queue(queue::PURGE_IDEMPOTENCY_KEYS),
    );
    let email_queue = queue::storage::<SendEmail>(redis.clone(), &options.queue(queue::SEND_EMAIL));
    let daily_queue = queue::storage::<DailyRun>(redis.clone(), &options.queue(queue::DAILY_RUN));
    let monthly_queue = queue::storage::<MonthlyReimbursements>(
        redis.clone(),
        &options.queue(queue::MONTHLY_REIMBURSEMENTS),
    );
    let statistics_queue =
        queue::storage::<StatisticsExport>(redis.clone(), &options.queue(queue::STATISTICS_EXPORT));
    let statistics_schedule = cron::Schedule::from_str(&options.statistics_schedule)
        .map_err(|_| WorkerError::Schedule(options.statistics_schedule.clone()))?;
    let monthly_schedule = cron::Schedule::from_str(&options.monthly_schedule)
        .map_err(|_| WorkerError::Schedule(options.monthly_schedule.clone()))?;
    let purge_schedule = cron::Schedule::from_str(PURGE_SCHEDULE)
        .map_err(|_| WorkerError::Schedule(PURGE_SCHEDULE.into()))?;
    let daily_schedule = cron::Schedule::from_str(&options.daily_schedule)
        .map_err(|_| WorkerError::Schedule(options.daily_schedule.clone()))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let liveness = Arc::new(health::Liveness::new(
        worker_name("worker"),
        (options.relay_interval * 10).max(Duration::from_secs(30)),
    ));
    let relay = tokio::spawn(relay::run(
        db.clone(),
        email_queue.clone(),
        statistics_queue.clone(),
        redis.clone(),
        options.clone(),
        liveness.clone(),
        stop_rx.clone(),
    ));
    let health = match options.health_addr {
        Some(addr) => {
            // Bind now so that a port in use stops the start-up with a clear message.
            std::net::TcpListener::bind(addr).map_err(WorkerError::Health)?;
            Some(tokio::spawn(health::serve(
                addr,
                liveness.clone(),
                stop_rx.clone(),
            )))
        }
        None => None,
    };

    let monitor = Monitor::new()
        // A worker whose queue became unreachable (Redis stopped or restarted) ends with an error;
        // it is started again, so that once Redis is back its jobs run without a restart of the
        // process. Each attempt first waits for Redis's connection retries (seconds, not a spin).
        .should_restart(|worker, error| {
            tracing::warn!(worker = worker.name(), restarts = worker.restarts(), %error, "worker stopped; restarting it");
            true
        })
        .register({
            let (db, purge_queue) = (db.clone(), purge_queue.clone());
            move |_restarts| {
                WorkerBuilder::new(worker_name("purge-idempotency-keys"))
                    .backend(purge_queue.clone())
                    .retry(RetryPolicy::retries(3))
                    .data(db.clone())
                    .build(purge_idempotency_keys::run)
            }
        })
        .register({
            let (purge_queue, schedule) = (purge_queue.clone(), purge_schedule.clone());
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
        .register({
            let tenant_cache = tenant_cache::TenantCache::default();
            let (db, mailer, options, email_queue) = (
                db.clone(),
                mailer.clone(),
                options.clone(),
                email_queue.clone(),
            );
            move |_restarts| {
                // Unexpected errors (PostgreSQL unreachable) are retried a few times here; SMTP
                // failures are not errors of the job: the outbox row records them and the relay
                // queues the row again when it is due.
                let backoff = ExponentialBackoffMaker::new(
                    Duration::from_millis(500),
                    Duration::from_secs(30),
                    0.5,
                    HasherRng::default(),
                )
                .expect("valid backoff bounds")
                .make_backoff();
                WorkerBuilder::new(worker_name("send-email"))
                    .backend(email_queue.clone())
                    .concurrency(options.send_concurrency)
                    .retry(RetryPolicy::retries(5).with_backoff(backoff))
                    .timeout(options.send_timeout + Duration::from_secs(30))
                    .data(db.clone())
                    .data(mailer.clone())
                    .data(options.clone())
                    .data(tenant_cache.clone())
                    .build(send_email::run)
            }
        })
        .register({
            let (db, daily_queue) = (db.clone(), daily_queue.clone());
            move |_restarts| {
                WorkerBuilder::new(worker_name("daily-run"))
                    .backend(daily_queue.clone())
                    .retry(RetryPolicy::retries(3))
                    .timeout(Duration::from_secs(600))
                    .data(db.clone())
                    .build(daily_run::run)
            }
        })
        .register({
            let (db, daily_queue, schedule) =
                (db.clone(), daily_queue.clone(), daily_schedule.clone());
            move |_restarts| {
                WorkerBuilder::new(worker_name("schedule-daily-run"))
                    .backend(
                        CronScheduler::new(schedule.clone())
                            .with_timezone(chrono_tz::Europe::Paris),
                    )
                    .data(db.clone())
                    .data(daily_queue.clone())
                    .build(enqueue_daily_runs)
            }
        })
        .register({
            let (db, monthly_queue) = (db.clone(), monthly_queue.clone());
            move |_restarts| {
                WorkerBuilder::new(worker_name("monthly-reimbursements"))
                    .backend(monthly_queue.clone())
                    .retry(RetryPolicy::retries(3))
                    .timeout(Duration::from_secs(1800))
                    .data(db.clone())
                    .build(monthly_reimbursements::run)
            }
        })
        .register({
            let (db, monthly_queue, schedule) =
                (db.clone(), monthly_queue.clone(), monthly_schedule.clone());
            move |_restarts| {
                WorkerBuilder::new(worker_name("schedule-monthly-reimbursements"))
                    .backend(
                        CronScheduler::new(schedule.clone())
                            .with_timezone(chrono_tz::Europe::Paris),
                    )
                    .data(db.clone())
                    .data(monthly_queue.clone())
                    .build(enqueue_monthly_reimbursements)
            }
        })
        .register({
            let (db, options, statistics_queue) =
                (db.clone(), options.clone(), statistics_queue.clone());
            move |_restarts| {
                WorkerBuilder::new(worker_name("statistics-export"))
                    .backend(statistics_queue.clone())
                    .retry(RetryPolicy::retries(3))
                    .timeout(Duration::from_secs(3600))
                    .data(db.clone())
                    .data(options.clone())
                    .build(statistics_export::run)
            }
        })
        .register({
            let (db, schedule) = (db.clone(), statistics_schedule.clone());
            move |_restarts| {
                WorkerBuilder::new(worker_name("schedule-statistics"))
                    .backend(
                        CronScheduler::new(schedule.clone())
                            .with_timezone(chrono_tz::Europe::Paris),
                    )
                    .data(db.clone())
                    .build(schedule_statistics)
            }
        })
        .shutdown_timeout(Duration::from_secs(20));
    tracing::info!(mailer = %mailer.describe(), worker = %liveness.worker, "worker running");
    let result = monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
        .map_err(|e| WorkerError::Monitor(e.to_string()));
    let _ = stop_tx.send(true);
    let _ = relay.await;
    if let Some(health) = health {
        let _ = health.await;
    }
    result
}

async fn enqueue_purge(
    _tick: Tick<chrono_tz::Tz>,
    queue: Data<queue::Storage<PurgeIdempotencyKeys>>,
) -> Result<(), BoxDynError> {
    let mut queue = (*queue).clone();
    queue.push(PurgeIdempotencyKeys {}).await?;
    Ok(())
}

/// One job per tenant: each runs its tenant's day, in its own time zone, at most once.
async fn enqueue_daily_runs(
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

/// Asks, for every tenant and active scheme, for the periods that just ended; the relay hands
/// them to the statistics queue. Asking twice for a period does nothing.
async fn schedule_statistics(_tick: Tick<chrono_tz::Tz>, db: Data<Db>) -> Result<(), BoxDynError> {
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

/// One job per tenant; each computes its tenant's previous month at most once.
async fn enqueue_monthly_reimbursements(
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
