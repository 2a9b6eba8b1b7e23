//! Writes a tenant's rows as CSV, one file per table, from one snapshot: every file of an archive
//! shows the territory at the same instant, even while the service keeps running.

use std::path::Path;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use sqlx::AssertSqlSafe;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::ArchiveError;
use super::manifest::{ArchivedTenant, FileEntry, TENANT_FILE, TableEntry};
use super::tables::{self, ArchivedTable};
use crate::Db;
use crate::storage::quoted;

/// What `export_tables` wrote under its folder.
#[derive(Debug)]
pub struct ExportedTables {
    pub schema_version: i64,
    pub tenant: ArchivedTenant,
    pub tenant_file: FileEntry,
    pub tables: Vec<TableEntry>,
}

/// PostgreSQL's own CSV for every table, dates and times in ISO 8601 and UTC, so that `restore`
/// loads exactly what was read: `tenant.csv` and `tables/<table>.csv` under `folder`.
pub async fn export_tables(
    db: &Db,
    tenant_id: Uuid,
    folder: &Path,
) -> Result<ExportedTables, ArchiveError> {
    tokio::fs::create_dir_all(folder.join("tables")).await?;
    let mut tx = db.begin_tenant_snapshot(tenant_id).await?;
    sqlx::query(
        "SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true),
                set_config('bytea_output', 'hex', true)",
    )
    .execute(&mut *tx)
    .await?;
    let schema_version: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&mut *tx)
        .await?;
    let tenant: Option<(String, String)> =
        sqlx::query_as("SELECT slug, name FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((slug, name)) = tenant else {
        return Err(crate::Error::NotFound("tenant").into());
    };
    let tenant_file = copy_to_file(
        &mut tx,
        &format!("COPY (SELECT * FROM tenants WHERE id = '{tenant_id}') TO STDOUT (FORMAT csv, HEADER true)"),
        folder,
        TENANT_FILE,
    )
    .await?;

    let mut entries = Vec::new();
    for table in tables::tenant_tables(&mut tx).await? {
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {} WHERE tenant_id = $1",
            quoted(&table.name)
        )))
        .bind(tenant_id)
        .fetch_one(&mut *tx)
        .await?;
        let path = format!("tables/{}.csv", table.name);
        let csv = copy_to_file(&mut tx, &copy_statement(&table, tenant_id), folder, &path).await?;
        entries.push(TableEntry {
            table,
            rows,
            csv,
            parquet: None,
        });
    }
    tx.commit().await?;
    Ok(ExportedTables {
        schema_version,
        tenant: ArchivedTenant {
            id: tenant_id,
            slug,
            name,
        },
        tenant_file,
        tables: entries,
    })
}

fn copy_statement(table: &ArchivedTable, tenant_id: Uuid) -> String {
    let select: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            if table.is_blanked(&c.name) {
                format!("NULL AS {}", quoted(&c.name))
            } else {
                quoted(&c.name)
            }
        })
        .collect();
    let order: Vec<String> = if table.key.is_empty() {
        table.columns.iter().map(|c| quoted(&c.name)).collect()
    } else {
        table.key.iter().map(|c| quoted(c)).collect()
    };
    format!(
        "COPY (SELECT {} FROM {} WHERE tenant_id = '{tenant_id}' ORDER BY {}) TO STDOUT (FORMAT csv, HEADER true)",
        select.join(", "),
        quoted(&table.name),
        order.join(", ")
    )
}

async fn copy_to_file(
    tx: &mut sqlx::PgConnection,
    statement: &str,
    folder: &Path,
    path: &str,
) -> Result<FileEntry, ArchiveError> {
    let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(folder.join(path)).await?);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut stream = tx.copy_out_raw(statement).await?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        bytes += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(FileEntry {
        path: path.to_owned(),
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Hashes a file already written, as `copy_to_file` does while it writes.
pub async fn describe_file(folder: &Path, path: &str) -> Result<FileEntry, ArchiveError> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(folder.join(path)).await?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok(FileEntry {
        path: path.to_owned(),
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}
