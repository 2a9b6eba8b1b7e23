//! Public internet spaces (EPN): where sessions are delivered and to which EPN users belong.

use uuid::Uuid;

use crate::storage::Tx;
use crate::{Db, Error};

pub async fn create(db: &Db, tenant_id: Uuid, name: &str) -> Result<Uuid, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let id = insert(&mut tx, tenant_id, Uuid::now_v7(), name).await?;
    tx.commit().await?;
    Ok(id)
}

pub(crate) async fn insert(
    tx: &mut Tx,
    tenant_id: Uuid,
    id: Uuid,
    name: &str,
) -> Result<Uuid, Error> {
    sqlx::query(
        "INSERT INTO epns (tenant_id, id, name) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(name)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}
