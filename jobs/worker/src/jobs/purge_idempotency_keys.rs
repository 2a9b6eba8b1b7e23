//! Deletes idempotency keys past their 24-hour retention, tenant by tenant (each in a transaction
//! scoped to that tenant, as row-level security requires), then the platform's own.

use apalis::prelude::*;
use passerelle_core::Db;
use passerelle_core::idempotency::{self, Scope};
use passerelle_core::tenancy::tenants;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeIdempotencyKeys {}

pub async fn run(_job: PurgeIdempotencyKeys, db: Data<Db>) -> Result<u64, BoxDynError> {
    let mut removed = 0;
    for tenant_id in tenants::all_ids(&db).await? {
        removed += idempotency::purge_expired(&db, Scope::Tenant(tenant_id)).await?;
    }
    removed += idempotency::purge_expired(&db, Scope::Platform).await?;
    tracing::info!(removed, "expired idempotency keys purged");
    Ok(removed)
}
