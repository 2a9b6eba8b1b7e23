//! A territory's archive: every row it owns, as open files another deployment can load.
//!
//! An operator may fail, and its territories with it (the national Pass numérique operator was
//! liquidated in 2024). A territory takes its data away as CSV, the copy `restore` loads back, and
//! Parquet for tools, with `manifest.json` listing each file's rows, columns, types and SHA-256.
//! This module reads and writes the tables; the worker crate adds the Parquet copies and the
//! statistics files (polars lives there) and packs the zip.

pub mod export;
pub mod manifest;
pub mod requests;
pub mod restore;
pub mod tables;

/// Why an archive could not be written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file is missing, altered or not what the manifest says.
    #[error("the archive is damaged: {0}")]
    Damaged(String),
    #[error(
        "the archive comes from a newer version (schema {archive}, this deployment has {here}): update this deployment first"
    )]
    NewerSchema { archive: i64, here: i64 },
    #[error("the archive has a table this deployment does not know: {0}")]
    UnknownTable(String),
    #[error("the archive has a column this deployment does not know: {table}.{column}")]
    UnknownColumn { table: String, column: String },
    /// The slug, reference prefix or code of the archived territory is already used here.
    #[error(
        "a tenant of this deployment already holds what the archived one needs ({0}): choose another --slug, or restore into another deployment"
    )]
    TenantTaken(String),
    #[error(transparent)]
    Core(#[from] crate::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot read or write the archive's files: {0}")]
    Io(#[from] std::io::Error),
}

/// Records in the tenant's audit log that its archive was written, and by whom: an archive holds
/// every person's data.
pub async fn record_export(
    db: &crate::Db,
    tenant_id: uuid::Uuid,
    actor: crate::audit::Actor,
    manifest: &manifest::Manifest,
) -> Result<(), crate::Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    crate::audit::record(
        &mut tx,
        tenant_id,
        actor,
        "archive.exported",
        "tenant",
        tenant_id,
        serde_json::json!({
            "tables": manifest.tables.len(),
            "rows": manifest.tables.iter().map(|t| t.rows).sum::<i64>(),
            "exported_at": manifest.exported_at,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A relative path made of plain names: what an archive may hold, so that unpacking or reading it
/// never reaches outside its folder.
pub fn is_safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::is_safe_path;

    #[test]
    fn paths_stay_inside_the_archive() {
        for good in [
            "manifest.json",
            "tables/vouchers.csv",
            "statistics/a/b.parquet",
        ] {
            assert!(is_safe_path(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "tables/../../x",
            "tables//x",
            "./x",
            "a\\..\\b",
            "C:x",
        ] {
            assert!(!is_safe_path(bad), "{bad}");
        }
    }
}
