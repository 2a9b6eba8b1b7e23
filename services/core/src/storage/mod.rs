//! PostgreSQL access. Every tenant-scoped unit of work is a transaction that starts by setting
//! `app.tenant_id` transaction-locally, so a pooled connection never carries a tenant into the
//! next request.

pub mod cluster;
pub mod constraints;
pub mod preflight;
pub(crate) mod scheduled_runs;

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::Error;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A transaction that knows its tenant, so that every statement in it can name the tenant in its
/// own predicate (`tenant_id = $n`): Citus routes a statement to one shard by that, never by the
/// row-level security policy, which stays as the safety net.
pub struct Tx {
    inner: Transaction<'static, Postgres>,
    tenant_id: Option<Uuid>,
}

impl Tx {
    /// The transaction's tenant; the nil id in a platform transaction, which matches no row, as
    /// row-level security already ensures there.
    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id.unwrap_or_else(Uuid::nil)
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl Deref for Tx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.inner
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.inner
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
}

impl Db {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction that sees and writes only `tenant_id`'s rows.
    pub async fn begin_tenant(&self, tenant_id: Uuid) -> Result<Tx, Error> {
        let mut inner = self.pool.begin().await?;
        set_tenant(&mut inner, tenant_id).await?;
        Ok(Tx {
            inner,
            tenant_id: Some(tenant_id),
        })
    }

    /// A read-only transaction of `tenant_id` with one snapshot for every statement: for exports
    /// whose files must agree with one another.
    pub async fn begin_tenant_snapshot(&self, tenant_id: Uuid) -> Result<Tx, Error> {
        let mut inner = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *inner)
            .await?;
        set_tenant(&mut inner, tenant_id).await?;
        Ok(Tx {
            inner,
            tenant_id: Some(tenant_id),
        })
    }

    /// A transaction with no tenant: tenant-owned tables read as empty and refuse writes.
    pub async fn begin_platform(&self) -> Result<Tx, Error> {
        Ok(Tx {
            inner: self.pool.begin().await?,
            tenant_id: None,
        })
    }

    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Sets the tenant of the transaction `tx` (row-level security reads it), until it ends.
///
/// With `SET LOCAL`, a statement Citus sends on to the worker nodes (with
/// `citus.propagate_set_commands = 'local'`), where `set_config()`, a function call, was not: the
/// shards' policies saw no tenant. The value is the typed id's own hyphenated form (hex digits and
/// hyphens, never text from a request), so it can be written into the statement; it goes by the
/// simple protocol, so the one statement per tenant is not kept prepared.
pub async fn set_tenant(
    tx: &mut Transaction<'static, Postgres>,
    tenant_id: Uuid,
) -> Result<(), sqlx::Error> {
    let statement = format!("SET LOCAL app.tenant_id = '{}'", tenant_id.hyphenated());
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A catalog name as an SQL identifier. The names come from the catalog, not from a user; the
/// quoting keeps them whole whatever they are.
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs the migrations. Must be called with the owner role's connection, never the application's.
pub async fn migrate(owner_url: &str) -> Result<(), sqlx::migrate::MigrateError> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(owner_url)
        .await?;
    MIGRATOR.run(&pool).await?;
    pool.close().await;
    Ok(())
}
