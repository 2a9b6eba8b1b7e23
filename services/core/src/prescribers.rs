//! Prescriber organisations (CAF, CCAS, missions locales…): the bodies that hand out vouchers and
//! to which prescriber users belong.

use uuid::Uuid;

use crate::storage::Tx;
use crate::{Db, Error};

pub const KINDS: [&str; 8] = [
    "caf",
    "cpam",
    "france_travail",
    "ccas",
    "mission_locale",
    "association",
    "employer",
    "other",
];

pub async fn create(db: &Db, tenant_id: Uuid, name: &str, kind: &str) -> Result<Uuid, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let id = insert(&mut tx, tenant_id, Uuid::now_v7(), name, kind).await?;
    tx.commit().await?;
    Ok(id)
}

pub(crate) async fn insert(
    tx: &mut Tx,
    tenant_id: Uuid,
    id: Uuid,
    name: &str,
    kind: &str,
) -> Result<Uuid, Error> {
    if !KINDS.contains(&kind) {
        return Err(Error::invalid(
            "kind",
            format!("one of {}", KINDS.join(", ")),
        ));
    }
    sqlx::query(
        "INSERT INTO prescribers (tenant_id, id, name, kind) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(name)
    .bind(kind)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}
