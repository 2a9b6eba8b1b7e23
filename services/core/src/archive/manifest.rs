//! `manifest.json`, the archive's table of contents: what each file holds and its SHA-256, so
//! that a reader (or `restore`) knows a file is whole and what its columns mean.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::tables::ArchivedTable;

/// Raised when the layout of the archive changes in a way an older `restore` cannot read.
pub const FORMAT_VERSION: u32 = 1;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const TENANT_FILE: &str = "tenant.csv";
pub const README_FILE: &str = "LISEZMOI.txt";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// The last migration applied to the exporting database: `restore` refuses an archive from a
    /// newer schema than its own.
    pub schema_version: i64,
    pub exported_at: DateTime<Utc>,
    pub tenant: ArchivedTenant,
    pub tables: Vec<TableEntry>,
    /// Other files: the tenant row, the statistics files, the Parquet copies.
    pub files: Vec<FileEntry>,
    /// Tables that were not exported, with the reason.
    pub left_out: Vec<LeftOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchivedTenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableEntry {
    #[serde(flatten)]
    pub table: ArchivedTable,
    pub rows: i64,
    /// The CSV copy, the one `restore` loads.
    pub csv: FileEntry,
    /// The Parquet copy, for tools; absent when only the CSV was written.
    pub parquet: Option<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The file's path inside the archive, with `/` separators.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeftOut {
    pub table: String,
    pub reason: String,
}

impl Manifest {
    /// Every file the manifest vouches for.
    pub fn all_files(&self) -> impl Iterator<Item = &FileEntry> {
        self.tables
            .iter()
            .flat_map(|t| std::iter::once(&t.csv).chain(t.parquet.as_ref()))
            .chain(self.files.iter())
    }
}
