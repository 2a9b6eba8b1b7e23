//! A territory's archive asked for through the API: the relay hands the request to this queue, the
//! job writes the zip under the archive folder (tables as CSV and Parquet, statistics files,
//! manifest) and records its size and digest for the download.

use std::sync::Arc;
use std::time::Duration;

use apalis::layers::retry::RetryPolicy;
use apalis::prelude::*;
use passerelle_core::Db;
use passerelle_core::archive::export::describe_file;
use passerelle_core::archive::requests::{self, Written};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::jobs::{Context, Registered};
use crate::options::WorkerOptions;
use crate::{queue, worker_name};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildArchive {
    pub tenant_id: Uuid,
    pub archive_id: Uuid,
}

/// The archive's worker: 3 retries, an hour at most (a territory of a million vouchers takes
/// minutes).
pub(crate) fn register(monitor: Monitor, ctx: &Context) -> Registered {
    let queue = ctx.queue::<BuildArchive>(queue::BUILD_ARCHIVE);
    let (db, options) = (ctx.db.clone(), ctx.options.clone());
    Ok(monitor.register(move |_restarts| {
        WorkerBuilder::new(worker_name("build-archive"))
            .backend(queue.clone())
            .retry(RetryPolicy::retries(3))
            .timeout(Duration::from_secs(3600))
            .data(db.clone())
            .data(options.clone())
            .build(run)
    }))
}

/// A failure is recorded on the archive, where the API shows it; only a failure to record it
/// (PostgreSQL unreachable) goes back to the queue.
pub async fn run(
    job: BuildArchive,
    db: Data<Db>,
    options: Data<Arc<WorkerOptions>>,
) -> Result<(), BoxDynError> {
    let (tenant_id, id) = (job.tenant_id, job.archive_id);
    if requests::start(&db, tenant_id, id).await?.is_none() {
        tracing::debug!(archive_id = %id, "archive finished or being written elsewhere");
        return Ok(());
    }
    match write(&db, &options, tenant_id, id).await {
        Ok(written) => {
            tracing::info!(%tenant_id, archive_id = %id, rows = written.row_count,
                bytes = written.byte_size, "archive written");
        }
        Err(reason) => {
            tracing::warn!(%tenant_id, archive_id = %id, error = %reason, "archive failed");
            let _ =
                tokio::fs::remove_file(requests::file_path(&options.archive_dir, tenant_id, id))
                    .await;
            requests::fail(&db, tenant_id, id, &reason).await?;
        }
    }
    Ok(())
}

async fn write(
    db: &Db,
    options: &WorkerOptions,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Written, String> {
    let path = requests::file_path(&options.archive_dir, tenant_id, id);
    let folder = path
        .parent()
        .expect("an archive's file is in its tenant's folder");
    tokio::fs::create_dir_all(folder)
        .await
        .map_err(|e| format!("cannot create the archive folder {}: {e}", folder.display()))?;
    let manifest = crate::archive::build(db, tenant_id, &options.statistics_dir, &path)
        .await
        .map_err(|e| e.to_string())?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("an archive's file name is its id");
    let file = describe_file(folder, name)
        .await
        .map_err(|e| e.to_string())?;
    let written = Written {
        schema_version: manifest.schema_version,
        table_count: i32::try_from(manifest.tables.len()).unwrap_or(i32::MAX),
        row_count: manifest.tables.iter().map(|t| t.rows).sum(),
        byte_size: i64::try_from(file.bytes).unwrap_or(i64::MAX),
        sha256: file.sha256,
    };
    requests::succeed(db, tenant_id, id, &written)
        .await
        .map_err(|e| e.to_string())?;
    Ok(written)
}
