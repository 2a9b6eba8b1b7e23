//! Spreading the schema over a Citus cluster: the shared tables become reference tables (a copy
//! on every node) and every tenant table is distributed by `tenant_id`, all co-located, so that a
//! tenant's rows of every table live on the same shard and a statement that names its tenant runs
//! on one node.
//!
//! The tables are read from the catalog, not from a list: a table with a `tenant_id` column is a
//! tenant table, any other table of the public schema (but sqlx's own) is shared. The order is the
//! one that works on a database already migrated and holding data: Citus turns a table that
//! references a reference table into a Citus-local table, after which it can no longer be
//! distributed; so the foreign keys are dropped first, the tables placed, then the keys added
//! back, which Citus accepts between co-located tables and toward reference tables.

use sqlx::{PgConnection, PgPool};

use super::{preflight, quoted};

/// The setting each connection of the application role needs, so that `SET LOCAL
/// app.tenant_id` (`storage::set_tenant`) reaches the shards' row-level security.
pub const PROPAGATE_SET_COMMANDS: &str = "citus.propagate_set_commands";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "Citus is not installed in this database: on the coordinator, as a superuser, `CREATE EXTENSION citus;` (with citus in shared_preload_libraries), then add the workers"
    )]
    NoCitus,
    #[error(
        "this database is not the Citus coordinator: run the command with the coordinator's address in MIGRATION_DATABASE_URL"
    )]
    NotCoordinator,
    #[error(
        "the Citus coordinator has no worker node: as a superuser, `SELECT citus_add_node('<worker host>', <port>);` for each worker"
    )]
    NoWorkers,
    #[error(
        "citus.enable_unsafe_triggers is off, and {0} have triggers (they touch only their own row, which is safe on a shard): as a superuser on the coordinator, `ALTER SYSTEM SET citus.enable_unsafe_triggers = on; SELECT pg_reload_conf();`"
    )]
    UnsafeTriggersOff(String),
    #[error(
        "the application role `{0}` does not have citus.propagate_set_commands = 'local', so the tenant would not reach the shards: as a superuser, `ALTER ROLE {0} SET citus.propagate_set_commands = 'local';`"
    )]
    SetCommandsNotPropagated(String),
    #[error("could not place the tables: {0}")]
    Database(#[from] sqlx::Error),
}

/// What `distribute` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Distribution {
    pub citus_version: String,
    pub workers: i64,
    /// Made reference tables by this run.
    pub reference_tables: Vec<String>,
    /// Distributed by this run.
    pub distributed_tables: Vec<String>,
    /// Tables that were already in place.
    pub already_placed: usize,
    /// Foreign keys dropped and added back.
    pub foreign_keys: usize,
}

/// Citus's version when the extension is installed in this database.
pub async fn citus_version(conn: &mut PgConnection) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT extversion::text FROM pg_extension WHERE extname = 'citus'")
        .fetch_optional(conn)
        .await
}

/// Whether `role` gets `citus.propagate_set_commands = 'local'` in this database.
async fn role_propagates_set_commands(
    conn: &mut PgConnection,
    role: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
              WHERE r.rolname = $1
                AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
                AND 'citus.propagate_set_commands=local' = ANY (s.setconfig))",
    )
    .bind(role)
    .fetch_one(conn)
    .await
}

#[derive(sqlx::FromRow)]
struct Placement {
    name: String,
    tenant_owned: bool,
    /// `distributed`, `reference`, `local` (Citus-managed) or None (a plain table).
    placed_as: Option<String>,
    has_triggers: bool,
}

/// Places every table of the schema on the cluster (see the module's comment), as the owner role
/// on the coordinator. Idempotent: a second run finds everything in place and changes nothing.
/// `application_role` is the role the API and the worker connect as.
pub async fn distribute(
    owner: &PgPool,
    application_role: &str,
) -> Result<Distribution, ClusterError> {
    let mut conn = owner.acquire().await?;
    let citus_version = citus_version(&mut conn)
        .await?
        .ok_or(ClusterError::NoCitus)?;
    let coordinator: bool = sqlx::query_scalar("SELECT citus_is_coordinator()")
        .fetch_one(&mut *conn)
        .await?;
    if !coordinator {
        return Err(ClusterError::NotCoordinator);
    }
    let workers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_dist_node WHERE groupid <> 0 AND noderole = 'primary' AND isactive",
    )
    .fetch_one(&mut *conn)
    .await?;
    if workers == 0 {
        return Err(ClusterError::NoWorkers);
    }
    if !role_propagates_set_commands(&mut conn, application_role).await? {
        return Err(ClusterError::SetCommandsNotPropagated(
            application_role.to_owned(),
        ));
    }

    let tables: Vec<Placement> = sqlx::query_as(
        "SELECT c.relname::text AS name,
                EXISTS (SELECT 1 FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS tenant_owned,
                CASE WHEN p.partmethod = 'h' THEN 'distributed'
                     WHEN p.partmethod = 'n' AND p.repmodel = 't' THEN 'reference'
                     WHEN p.logicalrelid IS NOT NULL THEN 'local' END AS placed_as,
                EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal) AS has_triggers
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
           LEFT JOIN pg_dist_partition p ON p.logicalrelid = c.oid
          WHERE c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations'
          ORDER BY c.relname",
    )
    .fetch_all(&mut *conn)
    .await?;
    let wanted = |t: &Placement| {
        if t.tenant_owned {
            "distributed"
        } else {
            "reference"
        }
    };
    let to_place: Vec<&Placement> = tables
        .iter()
        .filter(|t| t.placed_as.as_deref() != Some(wanted(t)))
        .collect();
    let mut done = Distribution {
        citus_version,
        workers,
        already_placed: tables.len() - to_place.len(),
        ..Distribution::default()
    };
    if to_place.is_empty() {
        return Ok(done);
    }
    let with_triggers: Vec<&str> = to_place
        .iter()
        .filter(|t| t.has_triggers && t.tenant_owned)
        .map(|t| t.name.as_str())
        .collect();
    if !with_triggers.is_empty() {
        let unsafe_triggers: String = sqlx::query_scalar("SHOW citus.enable_unsafe_triggers")
            .fetch_one(&mut *conn)
            .await?;
        if unsafe_triggers != "on" {
            return Err(ClusterError::UnsafeTriggersOff(with_triggers.join(", ")));
        }
    }

    // Only the keys from or to a table placed now: the others already hold on the cluster, and
    // adding a key back checks every row it covers.
    let placing: Vec<&str> = to_place.iter().map(|t| t.name.as_str()).collect();
    let foreign_keys: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, c.conname::text, pg_get_constraintdef(c.oid)
           FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace AND n.nspname = 'public'
          WHERE c.contype = 'f'
            AND (c.conrelid::regclass::text = ANY ($1) OR c.confrelid::regclass::text = ANY ($1))
          ORDER BY 1, 2",
    )
    .bind(&placing)
    .fetch_all(&mut *conn)
    .await?;
    drop(conn);

    let mut tx = owner.begin().await?;
    // Placing tables with data in a transaction that also changes foreign keys: Citus then needs
    // every step over one connection per node.
    sqlx::raw_sql("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        .execute(&mut *tx)
        .await?;
    for (table, name, _) in &foreign_keys {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {} DROP CONSTRAINT {}",
            quoted(table),
            quoted(name)
        )))
        .execute(&mut *tx)
        .await?;
    }
    for table in to_place
        .iter()
        .filter(|t| t.placed_as.as_deref() == Some("local"))
    {
        sqlx::query("SELECT undistribute_table($1::regclass)")
            .bind(&table.name)
            .execute(&mut *tx)
            .await?;
    }
    for table in to_place.iter().filter(|t| !t.tenant_owned) {
        sqlx::query("SELECT create_reference_table($1::regclass)")
            .bind(&table.name)
            .execute(&mut *tx)
            .await?;
        done.reference_tables.push(table.name.clone());
    }
    // Co-located with a table distributed earlier, or with the first one placed now.
    let mut colocate_with: Option<String> = tables
        .iter()
        .find(|t| t.tenant_owned && t.placed_as.as_deref() == Some("distributed"))
        .map(|t| t.name.clone());
    for table in to_place.iter().filter(|t| t.tenant_owned) {
        sqlx::query(
            "SELECT create_distributed_table($1::regclass, 'tenant_id', colocate_with => $2)",
        )
        .bind(&table.name)
        .bind(colocate_with.as_deref().unwrap_or("none"))
        .execute(&mut *tx)
        .await?;
        colocate_with.get_or_insert_with(|| table.name.clone());
        done.distributed_tables.push(table.name.clone());
    }
    for (table, name, definition) in &foreign_keys {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {definition}",
            quoted(table),
            quoted(name)
        )))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    done.foreign_keys = foreign_keys.len();
    Ok(done)
}

/// On a cluster, what the start-up check adds: the application role's connections carry
/// `citus.propagate_set_commands = 'local'`, every tenant table is distributed, and every shard
/// of every tenant table has row-level security enabled and forced, with its policy.
pub async fn check(pool: &PgPool) -> Result<(), preflight::PreflightError> {
    use preflight::PreflightError;

    let mut conn = pool.acquire().await?;
    if citus_version(&mut conn).await?.is_none() {
        return Ok(());
    }
    let propagate: String = sqlx::query_scalar("SELECT current_setting($1)")
        .bind(PROPAGATE_SET_COMMANDS)
        .fetch_one(&mut *conn)
        .await?;
    if propagate != "local" {
        let role: String = sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(&mut *conn)
            .await?;
        return Err(PreflightError::SetCommandsNotPropagated(role));
    }
    let not_distributed: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
          WHERE c.relkind IN ('r', 'p')
            AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid AND p.partmethod = 'h')
          ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    if !not_distributed.is_empty() {
        return Err(PreflightError::NotDistributed(not_distributed.join(", ")));
    }
    // Each node says which of its tables are protected (one statement per node); every shard of a
    // tenant table must be among them.
    let unprotected: Vec<String> = sqlx::query_scalar(
        "WITH protected AS (
             SELECT unnest(string_to_array(r.result, ',')) AS shard_name
               FROM run_command_on_all_nodes(
                    $$SELECT coalesce(string_agg(c.relname, ','), '') FROM pg_class c
                       WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity AND c.relforcerowsecurity
                         AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)$$) r
              WHERE r.success)
         SELECT s.shard_name::text FROM citus_shards s
           JOIN pg_attribute a ON a.attrelid = s.table_name AND a.attname = 'tenant_id' AND NOT a.attisdropped
          WHERE s.citus_table_type = 'distributed'
            AND s.shard_name::text NOT IN (SELECT shard_name FROM protected)
          ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    if !unprotected.is_empty() {
        return Err(PreflightError::UnprotectedShards(unprotected.join(", ")));
    }
    Ok(())
}
