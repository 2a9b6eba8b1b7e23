//! Imports running in the background: where one stands (rows read, imported, refused) and its
//! report, line by line.

use chrono::{DateTime, Utc};
use passerelle_core::Db;
use passerelle_core::imports::{self, Import, ImportKind, ImportLine, ImportStatus, LineOutcome};
use passerelle_core::tenancy::Role;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::schemas::{PageCursor, PageLimit, page_request};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// What a file imports: places (`epns`) or a prescriber's vouchers (`vouchers`).
    #[oai(rename_all = "snake_case")]
    pub enum ImportKindDto mirrors ImportKind {
        Epns,
        Vouchers,
    }
}

mirror_enum! {
    /// `queued`, `running`, then `succeeded` (every row has its outcome) or `failed` (see `error`).
    #[oai(rename_all = "snake_case")]
    pub enum ImportStatusDto mirrors ImportStatus {
        Queued,
        Running,
        Succeeded,
        Failed,
    }
}

mirror_enum! {
    /// What became of a row: `created`, `updated`, `refused`, or `already_held` (the person
    /// already holds an open voucher of the scheme).
    #[oai(rename_all = "snake_case")]
    pub enum LineOutcomeDto mirrors LineOutcome {
        Created,
        Updated,
        Refused,
        AlreadyHeld,
    }
}

/// An import and its progress.
#[derive(Debug, Object)]
pub struct ImportView {
    pub id: Uuid,
    pub kind: ImportKindDto,
    pub status: ImportStatusDto,
    /// The uploaded file's name, as sent.
    #[oai(skip_serializing_if_is_none)]
    pub file_name: Option<String>,
    /// The file's size in bytes.
    pub byte_size: i64,
    /// SHA-256 of the file, hexadecimal.
    pub file_sha256: String,
    /// The scheme of a voucher import.
    #[oai(skip_serializing_if_is_none)]
    pub scheme_id: Option<Uuid>,
    /// Data rows read so far.
    pub rows_read: i32,
    /// Places or vouchers created.
    pub created: i32,
    /// Places updated, or people who already held a voucher.
    pub updated: i32,
    /// Rows refused (each has its line in the report).
    pub refused: i32,
    /// Rows imported with a warning, e.g. opening hours kept as text.
    pub warnings: i32,
    /// Why the file could not be imported past some point, in French.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// When the file was received.
    pub requested_at: DateTime<Utc>,
    /// When its rows started being read.
    #[oai(skip_serializing_if_is_none)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it succeeded or failed.
    #[oai(skip_serializing_if_is_none)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Where to follow it: `/v1/imports/{id}`.
    pub location: String,
}

impl From<Import> for ImportView {
    fn from(i: Import) -> Self {
        Self {
            location: format!("/v1/imports/{}", i.id),
            id: i.id,
            kind: i.kind.into(),
            status: i.status.into(),
            file_name: i.file_name,
            byte_size: i.byte_size,
            file_sha256: i.file_sha256,
            scheme_id: i.scheme_id,
            rows_read: i.rows_read,
            created: i.created,
            updated: i.updated,
            refused: i.refused,
            warnings: i.warnings,
            error: i.error,
            requested_at: i.requested_at,
            started_at: i.started_at,
            finished_at: i.finished_at,
        }
    }
}

/// A line of an import's report.
#[derive(Debug, Object)]
pub struct ImportLineView {
    /// The row's line in the file, as a spreadsheet shows it (the header is line 1).
    pub line: i64,
    pub outcome: LineOutcomeDto,
    /// The place's `id` in the open-data file.
    #[oai(skip_serializing_if_is_none)]
    pub source_id: Option<String>,
    /// The EPN written.
    #[oai(skip_serializing_if_is_none)]
    pub object_id: Option<Uuid>,
    /// The reference of the voucher issued or already held.
    #[oai(skip_serializing_if_is_none)]
    pub reference: Option<String>,
    /// The column at fault.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
    /// Why the row was refused, in French.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
    /// What was kept as it came, in French.
    #[oai(skip_serializing_if_is_none)]
    pub warning: Option<String>,
}

impl From<ImportLine> for ImportLineView {
    fn from(l: ImportLine) -> Self {
        Self {
            line: l.line,
            outcome: l.outcome.into(),
            source_id: l.source_id,
            object_id: l.object_id,
            reference: l.reference,
            field: l.field,
            message: l.message,
            warning: l.warning,
        }
    }
}

pub type ImportLinePage = super::schemas::Page<ImportLineView>;

/// Runs an import in the background, right after its upload. Should this process stop first, the
/// worker takes the import over from its last batch.
pub fn run_in_background(db: Db, tenant_id: Uuid, import_id: Uuid) {
    tokio::spawn(async move {
        match imports::run(&db, tenant_id, import_id).await {
            Ok(Some(done)) => tracing::info!(
                %tenant_id, %import_id, status = %done.status, rows = done.rows_read,
                refused = done.refused, "import finished"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                %tenant_id, %import_id, error = %e,
                "import interrupted; the worker will take it over"
            ),
        }
    });
}

/// A prescriber agent sees their organisation's imports only.
fn prescriber_scope(auth: &BearerAuth) -> Result<Option<Uuid>, ApiError> {
    match auth.0.role() {
        Role::Prescriber => auth.prescriber_id().map(Some),
        _ => Ok(None),
    }
}

pub struct ImportsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Imports")]
impl ImportsApi {
    /// Where an import stands: rows read, created, updated, refused, and its status. Poll it until
    /// `succeeded` or `failed`.
    #[oai(
        path = "/imports/:import_id",
        method = "get",
        operation_id = "getImport"
    )]
    async fn get_import(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The import's id, as `importEpns` returned it.
        import_id: Path<Uuid>,
    ) -> Result<Json<ImportView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_IMPORT)?;
        let import =
            imports::get(&state.db, tenant_id, import_id.0, prescriber_scope(&auth)?).await?;
        Ok(Json(import.into()))
    }

    /// An import's report in file order: the refused rows and those imported with a warning (for
    /// places), every row with its reference (for vouchers).
    #[oai(
        path = "/imports/:import_id/lines",
        method = "get",
        operation_id = "listImportLines"
    )]
    async fn list_lines(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The import's id.
        import_id: Path<Uuid>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<ImportLinePage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_IMPORT_LINES)?;
        let page = page_request(limit.0, cursor.0)?;
        let page = imports::lines(
            &state.db,
            tenant_id,
            import_id.0,
            prescriber_scope(&auth)?,
            page,
        )
        .await?;
        Ok(Json(ImportLinePage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }
}
