//! Funders: the organisations that co-finance a territory's schemes (the European social fund,
//! the State, the CAF, a commune). Each scheme's split between them is versioned (`plan`, the « plan de financement »), each
//! voucher keeps the funders it was issued with, and the monthly run shares every statement line
//! between them (`reimbursements::allocation`).

pub mod kind;
pub mod plan;
pub mod reconciliation;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

pub use kind::FunderKind;

use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::storage::{Change, Tx};
use crate::tenancy::Role;
use crate::{Db, Error};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Funder {
    pub id: Uuid,
    pub name: String,
    pub kind: FunderKind,
    pub siret: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewFunder {
    pub name: String,
    pub kind: FunderKind,
    pub siret: Option<String>,
}

const COLUMNS: &str = "id, name, kind, siret, created_at";

pub async fn create(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    new: &NewFunder,
) -> Result<Funder, Error> {
    let name = new.name.trim();
    let siret = new
        .siret
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut v = Validator::default();
    v.check(
        (1..=200).contains(&name.chars().count()),
        "name",
        "between 1 and 200 characters",
    );
    v.check(
        siret.is_none_or(|s| s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit())),
        "siret",
        "14 digits",
    );
    v.finish()?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let funder: Funder = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO funders (tenant_id, id, name, kind, siret) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(new.kind)
    .bind(siret)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "funder.created",
        "funder",
        funder.id,
        json!({ "name": funder.name, "kind": funder.kind }),
    )
    .await?;
    tx.commit().await?;
    Ok(funder)
}

pub async fn list(db: &Db, tenant_id: Uuid) -> Result<Vec<Funder>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let funders = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM funders WHERE tenant_id = $1 ORDER BY name"
    )))
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(funders)
}

pub(crate) async fn fetch(tx: &mut Tx, id: Uuid) -> Result<Funder, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM funders WHERE tenant_id = $2 AND id = $1"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("funder"))
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Funder, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let funder = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(funder)
}

/// Binds a user with the funder role to its funder organisation (`None` unbinds it): from then on
/// the dashboard and the funder's statistics files it reads are that funder's scope. Audited.
pub async fn assign_user(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    user_id: Uuid,
    funder_id: Option<Uuid>,
) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let row: Option<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT role, funder_id FROM users WHERE tenant_id = $2 AND id = $1 FOR UPDATE",
    )
    .bind(user_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    let (role, before) = row.ok_or(Error::NotFound("user"))?;
    if role != Role::Funder.as_str() {
        return Err(Error::invalid(
            "funder_id",
            "only a user with the funder role belongs to a funder",
        ));
    }
    sqlx::query("UPDATE users SET funder_id = $2 WHERE tenant_id = $3 AND id = $1")
        .bind(user_id)
        .bind(funder_id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    // Users are kept in memory beside their principals: they are read again.
    tx.changed(Change::TenantPrincipals(tenant_id)).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "user.funder_set",
        "user",
        user_id,
        json!({ "before": before, "after": funder_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The funder whose scope a user reads: its funder organisation for a bound funder user; `None`
/// (the whole territory) for everyone else.
pub async fn scope_of(db: &Db, tenant_id: Uuid, user_id: Uuid) -> Result<Option<Uuid>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let scope: Option<Option<Uuid>> = sqlx::query_scalar(
        "SELECT funder_id FROM users WHERE tenant_id = $2 AND id = $1 AND role = 'funder'",
    )
    .bind(user_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(scope.flatten())
}
