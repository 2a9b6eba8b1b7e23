//! One statistics export (a scheme over a month, quarter or year), computed with polars by the
//! statistics crate. Exports are asked for by finance or tenant admins through the API, or by the
//! nightly schedule for the periods that just ended; the relay hands them to this queue.

use std::sync::Arc;

use apalis::prelude::*;
use passerelle_core::Db;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::options::WorkerOptions;

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
