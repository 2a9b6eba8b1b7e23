//! Start-up checks: the API and the worker refuse to run on a connection that could see across
//! tenants, or on a schema whose tenant tables are not all protected.

use sqlx::PgPool;

use super::MIGRATOR;

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "the database role `{0}` is a superuser: superusers bypass row-level security. Connect as the application role (passerelle_app)"
    )]
    Superuser(String),
    #[error(
        "the database role `{0}` has BYPASSRLS: it would see every tenant. Connect as the application role (passerelle_app)"
    )]
    BypassRls(String),
    #[error(
        "the database role `{role}` owns (or inherits ownership of) {tables}: owners can bypass row-level security. Connect as a role that owns no table"
    )]
    OwnsTables { role: String, tables: String },
    #[error("tenant-owned tables without ENABLE + FORCE ROW LEVEL SECURITY: {0}")]
    UnprotectedTables(String),
    #[error(
        "the database schema is at migration {found:?} but this build expects {expected}: run `passerelle migrate` first"
    )]
    NotMigrated { found: Option<i64>, expected: i64 },
    #[error(
        "the database role `{0}` does not have citus.propagate_set_commands = 'local': the tenant would not reach the shards, whose row-level security would refuse everything. As a superuser: `ALTER ROLE {0} SET citus.propagate_set_commands = 'local';`"
    )]
    SetCommandsNotPropagated(String),
    #[error(
        "Citus is installed but these tenant tables are not distributed: {0}. Run `passerelle cluster distribute`"
    )]
    NotDistributed(String),
    #[error("shards of tenant tables without ENABLE + FORCE ROW LEVEL SECURITY and a policy: {0}")]
    UnprotectedShards(String),
    #[error("could not inspect the database: {0}")]
    Database(#[from] sqlx::Error),
}

pub async fn check(pool: &PgPool) -> Result<(), PreflightError> {
    let (role, superuser, bypass): (String, bool, bool) = sqlx::query_as(
        "SELECT rolname::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    if superuser {
        return Err(PreflightError::Superuser(role));
    }
    if bypass {
        return Err(PreflightError::BypassRls(role));
    }

    let owned: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            AND pg_has_role(current_user, c.relowner, 'USAGE')
          ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    if !owned.is_empty() {
        return Err(PreflightError::OwnsTables {
            role,
            tables: owned.join(", "),
        });
    }

    let unprotected = unprotected_tenant_tables(pool).await?;
    if !unprotected.is_empty() {
        return Err(PreflightError::UnprotectedTables(unprotected.join(", ")));
    }

    let expected = MIGRATOR.iter().map(|m| m.version).max().unwrap_or_default();
    let found: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .ok()
            .flatten();
    if found != Some(expected) {
        return Err(PreflightError::NotMigrated { found, expected });
    }
    super::cluster::check(pool).await
}

/// Tables of the public schema with a `tenant_id` column: the tenant-owned tables.
pub async fn tenant_tables(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
          ORDER BY 1",
    )
    .fetch_all(pool)
    .await
}

/// Tables of the public schema with a `tenant_id` column that lack RLS or FORCE.
pub async fn unprotected_tenant_tables(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
          ORDER BY 1",
    )
    .fetch_all(pool)
    .await
}
