//! A tenant's secrets (the statistics pseudonymisation key, the treasury account) live in
//! `tenant_secrets`, under row-level security like every tenant table, and not in the tenant
//! registry, which has none. A tenant's row is made the first time one of its transactions needs it:
//! tenants are created by the operator, outside any tenant's scope.

use uuid::Uuid;

use crate::Error;
use crate::storage::Tx;

/// Makes the tenant's secrets row (a fresh random statistics key) if it has none yet.
pub(crate) async fn ensure(tx: &mut Tx, tenant_id: Uuid) -> Result<(), Error> {
    sqlx::query("INSERT INTO tenant_secrets (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
