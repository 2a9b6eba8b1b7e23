//! PostgreSQL access. Every tenant-scoped unit of work is a transaction that starts by setting
//! `app.tenant_id` transaction-locally, so a pooled connection never carries a tenant into the
//! next request.

pub mod cluster;
pub mod constraints;
pub mod memory;
pub mod preflight;
pub(crate) mod scheduled_runs;

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres, Transaction};
use uuid::Uuid;

use crate::Error;
pub use memory::Change;
use memory::Memory;

/// How long a commit that announced a change waits for the listeners to hear of it.
const NOTIFICATION_PATIENCE: Duration = Duration::from_secs(2);

/// How many prepared statements each connection keeps. The product has several hundred distinct
/// statements; with sqlx's default of 100, a connection serving the portal and the API in turn
/// would evict the request path's statements and prepare them again.
const STATEMENT_CACHE_CAPACITY: usize = 1_000;

/// How long a pooled connection may sit idle and still be handed out without a check.
const IDLE_BEFORE_CHECK: Duration = Duration::from_secs(2);

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A transaction that knows its tenant, so that every statement in it can name the tenant in its
/// own predicate (`tenant_id = $n`): Citus routes a statement to one shard by that, never by the
/// row-level security policy, which stays as the safety net.
pub struct Tx {
    inner: Transaction<'static, Postgres>,
    tenant_id: Option<Uuid>,
    memory: Arc<Memory>,
    /// The changes announced in this transaction, with the last notification's number.
    changes: Vec<Change>,
    last_notification: Option<u64>,
}

impl Tx {
    /// The transaction's tenant; the nil id in a platform transaction, which matches no row, as
    /// row-level security already ensures there.
    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id.unwrap_or_else(Uuid::nil)
    }

    /// Announces that this transaction changes rows that processes keep in memory: if it
    /// commits, every process reads them again (`memory`).
    pub async fn changed(&mut self, change: Change) -> Result<(), sqlx::Error> {
        let (sender, sequence) = self.memory.next_sequence();
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(memory::CHANNEL)
            .bind(memory::notification(change, sender, sequence))
            .execute(&mut *self.inner)
            .await?;
        self.changes.push(change);
        self.last_notification = Some(sequence);
        Ok(())
    }

    /// Commits; then forgets what it changed in this process's memory and waits (briefly) until
    /// the other processes have been told, before the caller hears of the commit.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await?;
        for change in &self.changes {
            self.memory.forget(*change);
        }
        if let Some(sequence) = self.last_notification {
            self.memory.heard(sequence, NOTIFICATION_PATIENCE).await;
        }
        Ok(())
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

#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    memory: Arc<Memory>,
    /// On a Citus cluster, `BEGIN` and the tenant's setting go as two statements: Citus passes
    /// the setting on to the workers as the text it arrived in, and a `BEGIN` sent along with it
    /// there warns on every transaction.
    tenant_setting_apart: bool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
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
            // sqlx pings every connection it hands out, a round trip per transaction. A connection
            // back from a request a moment ago is alive; one idle for longer (the server may have
            // restarted or a firewall dropped it) is still checked before use.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_CHECK {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(
                url.parse::<sqlx::postgres::PgConnectOptions>()?
                    .statement_cache_capacity(STATEMENT_CACHE_CAPACITY),
            )
            .await?;
        let mut conn = pool.acquire().await?;
        let on_cluster = cluster::citus_version(&mut conn).await?.is_some();
        drop(conn);
        Ok(Self::from_pool(pool).on_cluster(on_cluster))
    }

    /// Says whether the database is a Citus cluster (`connect` finds out by itself).
    pub fn on_cluster(mut self, on_cluster: bool) -> Self {
        self.tenant_setting_apart = on_cluster;
        self
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            memory: Arc::default(),
            tenant_setting_apart: false,
        }
    }

    /// What this process keeps in memory; used only once `follow_changes` listens.
    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    /// Listens, in the background, to the changes every process announces, so that what this
    /// process keeps in memory can be used (`memory`). The API calls it at start; a process that
    /// does not keeps reading everything from PostgreSQL.
    pub fn follow_changes(&self) {
        tokio::spawn(memory::follow(self.pool.clone(), self.memory.clone()));
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction that sees and writes only `tenant_id`'s rows. `BEGIN` and the tenant's
    /// setting go to the server together, in one round trip.
    pub async fn begin_tenant(&self, tenant_id: Uuid) -> Result<Tx, Error> {
        let inner = self.begin_with_tenant("BEGIN", tenant_id).await?;
        Ok(self.tx(inner, Some(tenant_id)))
    }

    /// A read-only transaction of `tenant_id` with one snapshot for every statement: for exports
    /// whose files must agree with one another.
    pub async fn begin_tenant_snapshot(&self, tenant_id: Uuid) -> Result<Tx, Error> {
        let inner = self
            .begin_with_tenant(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                tenant_id,
            )
            .await?;
        Ok(self.tx(inner, Some(tenant_id)))
    }

    /// A transaction with no tenant: tenant-owned tables read as empty and refuse writes.
    pub async fn begin_platform(&self) -> Result<Tx, Error> {
        Ok(self.tx(self.pool.begin().await?, None))
    }

    async fn begin_with_tenant(
        &self,
        begin: &'static str,
        tenant_id: Uuid,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        if self.tenant_setting_apart {
            let mut inner = self.pool.begin_with(begin).await?;
            set_tenant(&mut inner, tenant_id).await?;
            return Ok(inner);
        }
        self.pool
            .begin_with(sqlx::AssertSqlSafe(format!(
                "{begin}; {}",
                set_tenant_statement(tenant_id)
            )))
            .await
    }

    fn tx(&self, inner: Transaction<'static, Postgres>, tenant_id: Option<Uuid>) -> Tx {
        Tx {
            inner,
            tenant_id,
            memory: self.memory.clone(),
            changes: Vec::new(),
            last_notification: None,
        }
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
    sqlx::raw_sql(sqlx::AssertSqlSafe(set_tenant_statement(tenant_id)))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn set_tenant_statement(tenant_id: Uuid) -> String {
    format!("SET LOCAL app.tenant_id = '{}'", tenant_id.hyphenated())
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
