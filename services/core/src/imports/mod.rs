//! Imports that run in the background with their progress: the national open-data file of
//! places (tens of megabytes) and prescribers' bulk voucher files.
//!
//! The upload is stored in PostgreSQL in chunks as it streams in ([`receive`]), never held whole
//! in memory, and its header is checked at once so a wrong file is refused while the person is
//! still at the form. The import is then run ([`run`]) by the API right away, or by the worker
//! when the API stopped before finishing it: progress is committed with each batch of rows, so an
//! import taken over resumes after the last batch written and imports no row twice.

mod receive;
mod run;
mod status;

pub use receive::{MAX_UPLOAD_BYTES, Target, receive};
pub use run::{run, stalled};
pub use status::{ImportKind, ImportStatus, LineOutcome};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::pagination::{Page, PageRequest};
use crate::{Db, Error};

/// An import and where it stands.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Import {
    pub id: Uuid,
    pub kind: ImportKind,
    pub status: ImportStatus,
    pub file_name: Option<String>,
    pub byte_size: i64,
    pub file_sha256: String,
    pub scheme_id: Option<Uuid>,
    pub prescriber_id: Option<Uuid>,
    /// Data rows read so far (blank lines are not counted).
    pub rows_read: i32,
    /// How far into the file the rows read reach.
    pub bytes_read: i64,
    pub created: i32,
    pub updated: i32,
    pub refused: i32,
    pub warnings: i32,
    /// Why the file as a whole could not be imported, in French.
    pub error: Option<String>,
    pub requested_by: Option<Uuid>,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub(crate) const COLUMNS: &str = "id, kind, status, file_name, byte_size, file_sha256, scheme_id, prescriber_id, rows_read, bytes_read, \
     created, updated, refused, warnings, error, requested_by, requested_at, started_at, finished_at";

/// A line of an import's report: a refused row, a row imported with a warning, or (for vouchers)
/// every row with the reference issued.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ImportLine {
    pub line: i64,
    pub outcome: LineOutcome,
    /// The place's `id` in the open-data file.
    pub source_id: Option<String>,
    /// The EPN or the voucher written.
    pub object_id: Option<Uuid>,
    /// The reference of the voucher issued, or already held.
    pub reference: Option<String>,
    /// The column at fault, when one is.
    pub field: Option<String>,
    /// Why the row was refused, in French.
    pub message: Option<String>,
    /// What was kept as it came, in French.
    pub warning: Option<String>,
}

/// An import of this tenant; a prescriber sees only their organisation's.
impl Import {
    /// How much of the file is done, from 0 to 100.
    pub fn percent_done(&self) -> i64 {
        if self.status.is_finished() {
            return 100;
        }
        if self.byte_size == 0 {
            return 0;
        }
        (self.bytes_read.saturating_mul(100) / self.byte_size).clamp(0, 99)
    }
}

pub async fn get(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    prescriber_scope: Option<Uuid>,
) -> Result<Import, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let import: Option<Import> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM imports WHERE tenant_id = $3 AND id = $1 AND ($2::uuid IS NULL OR prescriber_id = $2)"
    )))
    .bind(id)
    .bind(prescriber_scope)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    import.ok_or(Error::NotFound("import"))
}

/// The latest imports of a kind, newest first; a prescriber's only for a prescriber.
pub async fn recent(
    db: &Db,
    tenant_id: Uuid,
    kind: ImportKind,
    prescriber_scope: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Import>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let imports = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM imports WHERE tenant_id = $4 AND kind = $1 AND ($2::uuid IS NULL OR prescriber_id = $2)
          ORDER BY requested_at DESC, id DESC LIMIT $3"
    )))
    .bind(kind)
    .bind(prescriber_scope)
    .bind(limit)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(imports)
}

/// The report's lines in file order, a page at a time. The opaque cursor carries the last line
/// number seen (as the 128 bits of a UUID, like the other lists' cursors).
pub async fn lines(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    prescriber_scope: Option<Uuid>,
    page: PageRequest,
) -> Result<Page<ImportLine>, Error> {
    get(db, tenant_id, id, prescriber_scope).await?;
    let after = page
        .after
        .map_or(0, |c| i64::try_from(c.as_u128()).unwrap_or(i64::MAX));
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<ImportLine> = sqlx::query_as(
        "SELECT line, outcome, source_id, object_id, reference, field, message, warning
           FROM import_lines WHERE tenant_id = $4 AND import_id = $1 AND line > $2 ORDER BY line LIMIT $3",
    )
    .bind(id)
    .bind(after)
    .bind(page.fetch_limit())
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |l| {
        Uuid::from_u128(u128::try_from(l.line).unwrap_or_default())
    }))
}
