//! Tenants as the sending job sees them, kept a minute: every email needs its tenant's name,
//! sender and time zone, which change rarely, and reading them per message costs a round trip.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use passerelle_core::tenancy::tenants::{self, Tenant};
use passerelle_core::{Db, Error};
use uuid::Uuid;

const FRESH_FOR: Duration = Duration::from_secs(60);

#[derive(Clone, Default)]
pub struct TenantCache {
    entries: Arc<Mutex<HashMap<Uuid, (Instant, Tenant)>>>,
}

impl TenantCache {
    pub async fn get(&self, db: &Db, tenant_id: Uuid) -> Result<Tenant, Error> {
        if let Some((at, tenant)) = self
            .entries
            .lock()
            .map_err(|_| Error::Internal("tenant cache poisoned".into()))?
            .get(&tenant_id)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(tenant.clone());
        }
        let tenant = tenants::get(db, tenant_id).await?;
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(tenant_id, (Instant::now(), tenant.clone()));
        }
        Ok(tenant)
    }
}
