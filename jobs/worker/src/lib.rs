//! The background worker: apalis workers on Redis queues, fed by cron schedules and by the email
//! outbox relay, with a liveness endpoint of its own.
//!
//! One file per job under `jobs/`. Job payloads carry ids only, never personal data. Scheduled
//! ticks only enqueue work; the work itself runs from the Redis queue, so any replica may do it,
//! and every scheduled run is guarded in PostgreSQL so that it happens once per period.

pub mod archive;
pub mod health;
pub mod jobs;
pub mod mailer;
pub mod options;
pub mod queue;
pub mod relay;
pub mod tenant_cache;

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use passerelle_core::Db;
use passerelle_core::config::Settings;
use redis::aio::ConnectionManager;
use tokio::sync::watch;

use crate::jobs::send_email::SendEmail;
use crate::jobs::statistics_export::StatisticsExport;
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
    let ctx = jobs::Context {
        db,
        redis,
        mailer,
        options: Arc::new(options),
    };
    // The relay feeds these queues from PostgreSQL (the outbox, the export and archive requests,
    // the imports left behind).
    let email_queue = ctx.queue::<SendEmail>(queue::SEND_EMAIL);
    let statistics_queue = ctx.queue::<StatisticsExport>(queue::STATISTICS_EXPORT);
    let import_queue = ctx.queue::<jobs::run_import::RunImport>(queue::RUN_IMPORT);
    let archive_queue = ctx.queue::<jobs::build_archive::BuildArchive>(queue::BUILD_ARCHIVE);
    let monitor = jobs::register_all(
        Monitor::new()
            // A worker whose queue became unreachable (Redis stopped or restarted) ends with an
            // error; it is started again, so that once Redis is back its jobs run without a
            // restart of the process. Each attempt first waits for Redis's connection retries
            // (seconds, not a spin).
            .should_restart(|worker, error| {
                tracing::warn!(worker = worker.name(), restarts = worker.restarts(), %error, "worker stopped; restarting it");
                true
            }),
        &ctx,
    )?
    .shutdown_timeout(Duration::from_secs(20));
    let jobs::Context {
        db,
        redis,
        mailer,
        options,
    } = ctx;

    let (stop_tx, stop_rx) = watch::channel(false);
    let liveness = Arc::new(health::Liveness::new(
        worker_name("worker"),
        (options.relay_interval * 10).max(Duration::from_secs(30)),
    ));
    let relay = tokio::spawn(relay::run(
        db.clone(),
        relay::RelayQueues {
            emails: email_queue.clone(),
            statistics: statistics_queue.clone(),
            imports: import_queue,
            archives: archive_queue,
        },
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
