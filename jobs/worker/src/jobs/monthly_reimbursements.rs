//! The monthly reimbursement run: a nightly tick enqueues one job per tenant, and each job
//! computes its tenant's previous month the first time it runs in a month (the 1st, or the first
//! night the worker is up after an outage). The month's statements stay drafts for finance.

use apalis::prelude::*;
use chrono::Utc;
use passerelle_core::Db;
use passerelle_core::reimbursements::compute;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
