//! Takes over an import whose runner stopped: the API runs each import as soon as its file is
//! stored, and should the API stop first, the relay finds the import stalled (queued and not
//! started, or running without progress) and hands it to this queue. The import resumes after
//! the last batch it committed.

use std::time::Duration;

use apalis::layers::retry::RetryPolicy;
use apalis::prelude::*;
use passerelle_core::Db;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::jobs::{Context, Registered};
use crate::{queue, worker_name};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunImport {
    pub tenant_id: Uuid,
    pub import_id: Uuid,
}

/// The import's worker: 3 retries, an hour at most (a national file takes under a minute).
pub(crate) fn register(monitor: Monitor, ctx: &Context) -> Registered {
    let queue = ctx.queue::<RunImport>(queue::RUN_IMPORT);
    let db = ctx.db.clone();
    Ok(monitor.register(move |_restarts| {
        WorkerBuilder::new(worker_name("run-import"))
            .backend(queue.clone())
            .retry(RetryPolicy::retries(3))
            .timeout(Duration::from_secs(3600))
            .data(db.clone())
            .build(run)
    }))
}

/// A database fault is retried by the queue; anything else is recorded on the import itself.
pub async fn run(job: RunImport, db: Data<Db>) -> Result<(), BoxDynError> {
    match passerelle_core::imports::run(&db, job.tenant_id, job.import_id).await {
        Ok(Some(done)) => tracing::info!(
            tenant_id = %job.tenant_id,
            import_id = %job.import_id,
            status = %done.status,
            rows = done.rows_read,
            "import taken over and finished"
        ),
        Ok(None) => {
            tracing::debug!(import_id = %job.import_id, "import finished or running elsewhere")
        }
        Err(e) => return Err(Box::new(e)),
    }
    Ok(())
}
