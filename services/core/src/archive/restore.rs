//! Loads an unpacked archive into this deployment as a new tenant: a new id, the same rows. One
//! transaction: a restore that fails leaves nothing behind.
//!
//! The files are untrusted input (an archive may have been edited, truncated or forged): every
//! file is checked against the manifest's SHA-256 before a row is read, and every table and column
//! the manifest names must exist in this deployment's schema before it reaches a statement.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::export::describe_file;
use super::manifest::{FORMAT_VERSION, MANIFEST_FILE, Manifest, TENANT_FILE};
use super::tables::{self, ArchivedTable};
use super::{ArchiveError, is_safe_path};
use crate::Db;
use crate::storage::quoted;
use crate::tenancy::tenants::{self, Tenant};

/// What the new tenant is called when the archived slug or name is taken here.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub slug: Option<String>,
    pub name: Option<String>,
}

/// Statements are immutable once approved, and their lines may only be added to a draft (the
/// rule of `statement_lines_keep_approved`). A statement is therefore loaded as a draft, its
/// lines after it, and then it takes back its archived state, which a draft may always take.
const LOADED_AS_DRAFT: &str = "statements";
const DRAFT_COLUMNS: [(&str, &str); 5] = [
    ("status", "'draft'"),
    ("approved_at", "NULL"),
    ("approved_by", "NULL"),
    ("paid_on", "NULL"),
    ("bank_reference", "NULL"),
];

pub async fn read_manifest(folder: &Path) -> Result<Manifest, ArchiveError> {
    let text = tokio::fs::read(folder.join(MANIFEST_FILE))
        .await
        .map_err(|e| ArchiveError::Damaged(format!("{MANIFEST_FILE} cannot be read: {e}")))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| ArchiveError::Damaged(format!("{MANIFEST_FILE} is not a manifest: {e}")))?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(ArchiveError::Damaged(format!(
            "archive format {} is not the format {FORMAT_VERSION} this version reads",
            manifest.format_version
        )));
    }
    Ok(manifest)
}

/// Every file the manifest lists is there, whole, and inside the folder.
pub async fn verify(folder: &Path, manifest: &Manifest) -> Result<(), ArchiveError> {
    for expected in manifest.all_files() {
        if !is_safe_path(&expected.path) {
            return Err(ArchiveError::Damaged(format!(
                "{} is not a path inside the archive",
                expected.path
            )));
        }
        let found = describe_file(folder, &expected.path)
            .await
            .map_err(|_| ArchiveError::Damaged(format!("{} is missing", expected.path)))?;
        if found != *expected {
            return Err(ArchiveError::Damaged(format!(
                "{} is not the file the manifest describes (SHA-256 or size differs)",
                expected.path
            )));
        }
    }
    Ok(())
}

/// Restores the tables of the archive unpacked in `folder`; returns the new tenant.
pub async fn restore_tables(
    db: &Db,
    folder: &Path,
    options: &RestoreOptions,
) -> Result<Tenant, ArchiveError> {
    let manifest = read_manifest(folder).await?;
    verify(folder, &manifest).await?;
    let new_id = Uuid::new_v4();
    let mut tx = db.begin_tenant(new_id).await?;
    sqlx::query(
        "SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true)",
    )
    .execute(&mut *tx)
    .await?;
    let here: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&mut *tx)
        .await?;
    if manifest.schema_version > here {
        return Err(ArchiveError::NewerSchema {
            archive: manifest.schema_version,
            here,
        });
    }
    let schema: BTreeMap<String, ArchivedTable> = tables::tenant_tables(&mut tx)
        .await?
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();

    let tenant_columns = header(&folder.join(TENANT_FILE))?;
    let known: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute
          WHERE attrelid = 'tenants'::regclass AND attnum > 0 AND NOT attisdropped",
    )
    .fetch_all(&mut *tx)
    .await?;
    if let Some(unknown) = tenant_columns.iter().find(|c| !known.contains(c)) {
        return Err(ArchiveError::UnknownColumn {
            table: "tenants".into(),
            column: unknown.clone(),
        });
    }
    stage(
        &mut tx,
        "tenants",
        &tenant_columns,
        &folder.join(TENANT_FILE),
    )
    .await?;
    let values: Vec<String> = tenant_columns
        .iter()
        .map(|c| match c.as_str() {
            "id" => "$1".to_owned(),
            "slug" => "coalesce($2, slug)".to_owned(),
            "name" => "coalesce($3, name)".to_owned(),
            other => quoted(other),
        })
        .collect();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO tenants ({}) SELECT {} FROM archived_tenants",
        column_list(&tenant_columns),
        values.join(", ")
    )))
    .bind(new_id)
    .bind(&options.slug)
    .bind(&options.name)
    .execute(&mut *tx)
    .await
    .map_err(
        |e| match e.as_database_error().and_then(|d| d.constraint()) {
            Some(constraint) if constraint.starts_with("tenants_") => {
                ArchiveError::TenantTaken(constraint.to_owned())
            }
            _ => e.into(),
        },
    )?;

    for entry in &manifest.tables {
        let Some(target) = schema.get(&entry.table.name) else {
            return Err(ArchiveError::UnknownTable(entry.table.name.clone()));
        };
        let columns: Vec<String> = entry.table.columns.iter().map(|c| c.name.clone()).collect();
        if let Some(unknown) = columns
            .iter()
            .find(|c| !target.columns.iter().any(|t| &t.name == *c))
        {
            return Err(ArchiveError::UnknownColumn {
                table: entry.table.name.clone(),
                column: unknown.clone(),
            });
        }
        if header(&folder.join(&entry.csv.path))? != columns {
            return Err(ArchiveError::Damaged(format!(
                "the header of {} is not the manifest's columns",
                entry.csv.path
            )));
        }
        stage(
            &mut tx,
            &target.name,
            &columns,
            &folder.join(&entry.csv.path),
        )
        .await?;
        let values: Vec<String> = columns
            .iter()
            .map(|c| {
                let draft = DRAFT_COLUMNS.iter().find(|(name, _)| name == c);
                match (c.as_str(), draft) {
                    ("tenant_id", _) => "$1".to_owned(),
                    (_, Some((_, value))) if target.name == LOADED_AS_DRAFT => (*value).to_owned(),
                    _ => quoted(c),
                }
            })
            .collect();
        // With `RETURNING`, Citus inserts the staged rows on the shard with an INSERT, not a COPY
        // that row-level security would refuse.
        let inserted = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {} RETURNING 1",
            quoted(&target.name),
            column_list(&columns),
            values.join(", "),
            quoted(&format!("archived_{}", target.name))
        )))
        .bind(new_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if i64::try_from(inserted).ok() != Some(entry.rows) {
            return Err(ArchiveError::Damaged(format!(
                "{} holds {inserted} rows, the manifest says {}",
                entry.csv.path, entry.rows
            )));
        }
    }
    if manifest
        .tables
        .iter()
        .any(|t| t.table.name == LOADED_AS_DRAFT)
    {
        let names: Vec<&str> = DRAFT_COLUMNS.iter().map(|(name, _)| *name).collect();
        let archived: Vec<String> = names.iter().map(|n| format!("a.{}", quoted(n))).collect();
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE statements t SET ({}) = ({}) FROM archived_statements a
              WHERE t.tenant_id = $1 AND t.id = a.id",
            column_list(&names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()),
            archived.join(", ")
        )))
        .bind(new_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(tenants::get(db, new_id).await?)
}

/// Loads a file into a temporary table shaped like `table`, dropped with the transaction.
async fn stage(
    tx: &mut sqlx::PgConnection,
    table: &str,
    columns: &[String],
    file: &Path,
) -> Result<(), ArchiveError> {
    let staging = quoted(&format!("archived_{table}"));
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TEMPORARY TABLE {staging} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP",
        quoted(table)
    )))
    .execute(&mut *tx)
    .await?;
    let mut copy = tx
        .copy_in_raw(&format!(
            "COPY {staging} ({}) FROM STDIN (FORMAT csv, HEADER true)",
            column_list(columns)
        ))
        .await?;
    let source = tokio::fs::File::open(file).await?;
    match copy.read_from(source).await {
        Ok(_) => {
            copy.finish().await?;
            Ok(())
        }
        Err(e) => {
            copy.abort(e.to_string()).await?;
            Err(e.into())
        }
    }
}

/// The column names of a CSV file's header.
fn header(file: &Path) -> Result<Vec<String>, ArchiveError> {
    let mut reader = csv::Reader::from_path(file)
        .map_err(|e| ArchiveError::Damaged(format!("{}: {e}", file.display())))?;
    let headers = reader
        .headers()
        .map_err(|e| ArchiveError::Damaged(format!("{}: {e}", file.display())))?;
    Ok(headers.iter().map(str::to_owned).collect())
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| quoted(c))
        .collect::<Vec<_>>()
        .join(", ")
}
