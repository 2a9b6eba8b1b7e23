//! The outbox relay: moves due outbox rows to the email queue. The row is marked queued in the
//! same transaction that pushes the job, and a push that fails rolls the mark back, so a row is
//! never left waiting for a job that does not exist. Rows queued long ago and still pending (their
//! job was lost with a Redis restart or a killed worker) are queued again.
//!
//! The relay keeps at most `MAX_QUEUED` email jobs waiting in Redis and leaves the rest in the
//! outbox: PostgreSQL holds the backlog. Besides keeping Redis small, this is needed by
//! apalis-redis 1.0, whose fetch script moves every due job of the `scheduled` set in one Lua
//! `unpack`, which fails beyond about 8,000 jobs and then stops every worker of the queue.

use std::sync::Arc;

use apalis::prelude::*;
use passerelle_core::Db;
use passerelle_core::emails::outbox;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::watch;

use crate::health::Liveness;
use crate::jobs::build_archive::BuildArchive;
use crate::jobs::run_import::RunImport;
use crate::jobs::send_email::SendEmail;
use crate::jobs::statistics_export::StatisticsExport;
use crate::options::WorkerOptions;
use crate::queue;

const BATCH: i64 = 500;
/// Email jobs allowed to wait in Redis at once (scheduled and active).
pub const MAX_QUEUED: i64 = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Database(#[from] passerelle_core::Error),
    #[error("cannot queue an email job: {0}")]
    Queue(String),
    #[error("cannot measure the email queue: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Jobs waiting in the queue: scheduled (apalis schedules every push) and active.
async fn waiting(
    queue: &queue::Storage<SendEmail>,
    redis: &mut ConnectionManager,
) -> Result<i64, RelayError> {
    let config = queue.get_config();
    let scheduled: i64 = redis.zcard(config.scheduled_jobs_set()).await?;
    let active: i64 = redis.llen(config.active_jobs_list()).await?;
    Ok(scheduled + active)
}

/// One pass over every tenant with due messages; returns how many jobs were queued.
pub async fn relay_once(
    db: &Db,
    queue: &queue::Storage<SendEmail>,
    redis: &mut ConnectionManager,
    options: &WorkerOptions,
) -> Result<usize, RelayError> {
    let mut queued = 0;
    let mut room = MAX_QUEUED - waiting(queue, redis).await?;
    for tenant_id in outbox::tenants_with_due_messages(db).await? {
        while room > 0 {
            let mut tx = db.begin_tenant(tenant_id).await?;
            let ids =
                outbox::take_for_relay(&mut tx, options.requeue_after, BATCH.min(room)).await?;
            let mut storage = queue.clone();
            for message_id in &ids {
                storage
                    .push(SendEmail {
                        tenant_id,
                        message_id: *message_id,
                    })
                    .await
                    .map_err(|e| RelayError::Queue(e.to_string()))?;
            }
            tx.commit().await.map_err(passerelle_core::Error::from)?;
            queued += ids.len();
            room -= ids.len() as i64;
            if (ids.len() as i64) < BATCH {
                break;
            }
        }
    }
    Ok(queued)
}

/// Hands queued statistics exports to their queue, each marked in the transaction that pushes it.
pub async fn relay_statistics_once(
    db: &Db,
    queue: &queue::Storage<StatisticsExport>,
    options: &WorkerOptions,
) -> Result<usize, RelayError> {
    let mut queued = 0;
    for tenant_id in passerelle_core::statistics::tenants_with_queued_exports(db).await? {
        let mut tx = db.begin_tenant(tenant_id).await?;
        let ids = passerelle_core::statistics::take_for_relay(&mut tx, options.requeue_after, 100)
            .await?;
        let mut storage = queue.clone();
        for export_id in &ids {
            storage
                .push(StatisticsExport {
                    tenant_id,
                    export_id: *export_id,
                })
                .await
                .map_err(|e| RelayError::Queue(e.to_string()))?;
        }
        tx.commit().await.map_err(passerelle_core::Error::from)?;
        queued += ids.len();
    }
    Ok(queued)
}

/// Hands imports left behind by a stopped process to the import queue (each import is marked in
/// PostgreSQL so it is queued once per `requeue_after`; running it twice is harmless, as only one
/// runner can hold it).
pub async fn relay_imports_once(
    db: &Db,
    queue: &queue::Storage<RunImport>,
    options: &WorkerOptions,
) -> Result<usize, RelayError> {
    let stalled = passerelle_core::imports::stalled(db, options.requeue_after).await?;
    let mut storage = queue.clone();
    for (tenant_id, import_id) in &stalled {
        storage
            .push(RunImport {
                tenant_id: *tenant_id,
                import_id: *import_id,
            })
            .await
            .map_err(|e| RelayError::Queue(e.to_string()))?;
    }
    Ok(stalled.len())
}

/// Hands archives asked for through the API to their queue, each marked in the transaction that
/// pushes it.
pub async fn relay_archives_once(
    db: &Db,
    queue: &queue::Storage<BuildArchive>,
    options: &WorkerOptions,
) -> Result<usize, RelayError> {
    let mut queued = 0;
    for tenant_id in passerelle_core::archive::requests::tenants_with_queued(db).await? {
        let mut tx = db.begin_tenant(tenant_id).await?;
        let ids = passerelle_core::archive::requests::take_for_relay(
            &mut tx,
            tenant_id,
            options.requeue_after,
        )
        .await?;
        let mut storage = queue.clone();
        for archive_id in &ids {
            storage
                .push(BuildArchive {
                    tenant_id,
                    archive_id: *archive_id,
                })
                .await
                .map_err(|e| RelayError::Queue(e.to_string()))?;
        }
        tx.commit().await.map_err(passerelle_core::Error::from)?;
        queued += ids.len();
    }
    Ok(queued)
}

/// The queues the relay feeds from PostgreSQL.
pub struct RelayQueues {
    pub emails: queue::Storage<SendEmail>,
    pub statistics: queue::Storage<StatisticsExport>,
    pub imports: queue::Storage<RunImport>,
    pub archives: queue::Storage<BuildArchive>,
}

/// One pass of every relay; returns how many jobs were queued.
async fn relay_all_once(
    db: &Db,
    queues: &RelayQueues,
    redis: &mut ConnectionManager,
    options: &WorkerOptions,
) -> Result<usize, RelayError> {
    Ok(relay_once(db, &queues.emails, redis, options).await?
        + relay_statistics_once(db, &queues.statistics, options).await?
        + relay_imports_once(db, &queues.imports, options).await?
        + relay_archives_once(db, &queues.archives, options).await?)
}

/// Relays until shutdown. Errors are logged and retried at the next tick; the liveness signal
/// records only successful passes, so a relay that cannot reach PostgreSQL or Redis shows up.
pub async fn run(
    db: Db,
    queues: RelayQueues,
    mut redis: ConnectionManager,
    options: Arc<WorkerOptions>,
    liveness: Arc<Liveness>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(options.relay_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => break,
        }
        match relay_all_once(&db, &queues, &mut redis, &options).await {
            Ok(queued) => {
                liveness.relay_ticked();
                if queued > 0 {
                    tracing::info!(queued, "outbox relayed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "outbox relay failed; retrying at the next tick"),
        }
    }
}
