use chrono::{DateTime, NaiveDate, Utc};
use passerelle_core::statistics::{
    self, Export, ExportFile, ExportFilter, ExportOrigin, ExportStatus, PeriodKind, Reader,
};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Attachment, AttachmentType, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, ResponseContent};
use uuid::Uuid;

use super::Tag;
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// Where an export stands: `queued`, `running` while the worker computes it, then
    /// `succeeded` (its files can be downloaded) or `failed` (with the reason).
    #[oai(rename = "ExportStatus", rename_all = "snake_case")]
    pub enum ExportStatusDto mirrors ExportStatus {
        Queued,
        Running,
        Succeeded,
        Failed,
    }
}

mirror_enum! {
    /// A period's length: `month`, `quarter` or `year`.
    #[oai(rename = "PeriodKind", rename_all = "snake_case")]
    pub enum PeriodKindDto mirrors PeriodKind {
        Month,
        Quarter,
        Year,
    }
}

mirror_enum! {
    /// Why an export exists: `scheduled` (the nightly run after a period ends) or `on_demand`.
    #[oai(rename = "ExportOrigin", rename_all = "snake_case")]
    pub enum ExportOriginDto mirrors ExportOrigin {
        Scheduled,
        OnDemand,
    }
}

/// A statistics export to compute: a scheme over a period.
#[derive(Debug, Object)]
pub struct ExportRequest {
    pub scheme_id: Uuid,
    /// A month (`2026-10`), a quarter (`2026-T4` or `2026-Q4`) or a year (`2026`).
    #[oai(validator(max_length = 10))]
    pub period: String,
    /// Computed for this funder's scope only (the vouchers it co-finances); left out: the whole
    /// territory. A funder's staff read the territory's exports and their own funder's.
    pub funder_id: Option<Uuid>,
}

/// One file of an export.
#[derive(Debug, Object)]
pub struct ExportFileView {
    /// What to put in the download path.
    pub name: String,
    /// `indicators`, `vouchers`, `attendance_by_epn_module_month` or `competencies`.
    pub dataset: String,
    /// `parquet` (zstd) or `csv` (UTF-8 with BOM, `;`, decimal comma).
    pub format: String,
    /// Small counts blanked (with the `masque` column): the only files funders and finance read.
    pub published: bool,
    /// Rows in the file.
    pub row_count: i64,
    /// The file's size in bytes.
    pub byte_size: i64,
    /// The file's SHA-256, to check a download.
    pub sha256: String,
}

impl From<ExportFile> for ExportFileView {
    fn from(f: ExportFile) -> Self {
        Self {
            name: f.name,
            dataset: f.dataset,
            format: f.format,
            published: f.published,
            row_count: f.row_count,
            byte_size: f.byte_size,
            sha256: f.sha256,
        }
    }
}

/// A statistics export: a scheme over a period, computed by the worker.
#[derive(Debug, Object)]
pub struct ExportView {
    pub id: Uuid,
    pub scheme_id: Uuid,
    /// The scheme's code, as in the files' folder.
    pub scheme_code: String,
    /// `2026-10`, `2026-T4` or `2026`.
    pub period: String,
    pub period_kind: PeriodKindDto,
    pub period_start: NaiveDate,
    /// The last day of the period.
    pub period_end: NaiveDate,
    pub origin: ExportOriginDto,
    pub status: ExportStatusDto,
    /// Why the export failed.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When the worker started it.
    #[oai(skip_serializing_if_is_none)]
    pub started_at: Option<DateTime<Utc>>,
    /// When the worker finished it.
    #[oai(skip_serializing_if_is_none)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The funder whose scope it was computed for (the vouchers it co-finances); absent: the
    /// whole territory.
    #[oai(skip_serializing_if_is_none)]
    pub funder_id: Option<Uuid>,
    /// The files the caller may download (published ones only, except for tenant admins).
    pub files: Vec<ExportFileView>,
}

impl ExportView {
    fn new(export: Export, files: Vec<ExportFile>) -> Self {
        let period = export.period();
        Self {
            id: export.id,
            scheme_id: export.scheme_id,
            scheme_code: export.scheme_code,
            period: period.label(),
            period_kind: export.period_kind.into(),
            period_start: period.start,
            period_end: period.last_day(),
            origin: export.origin.into(),
            status: export.status.into(),
            error: export.error,
            requested_at: export.requested_at,
            started_at: export.started_at,
            finished_at: export.finished_at,
            funder_id: export.funder_id,
            files: files.into_iter().map(Into::into).collect(),
        }
    }
}

/// The statistics' small-count threshold.
#[derive(Debug, Object)]
pub struct ThresholdInput {
    /// Counts under it are blanked in published files (default 5).
    #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
    pub threshold: i32,
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// The export is queued; follow it with `getStatisticsExport`.
    #[oai(status = 202)]
    Queued(Json<ExportView>),
}

#[derive(ApiResponse)]
pub enum Done {
    #[oai(status = 204)]
    NoContent,
}

#[derive(ResponseContent)]
pub enum FileContent {
    #[oai(content_type = "application/vnd.apache.parquet")]
    Parquet(Attachment<Vec<u8>>),
    #[oai(content_type = "text/csv; charset=utf-8")]
    Csv(Attachment<Vec<u8>>),
}

#[derive(ApiResponse)]
pub enum StatisticsFile {
    /// The file as the worker wrote it (its SHA-256 is in the export).
    #[oai(status = 200)]
    Ok(FileContent),
}

/// Only tenant admins read the files whose small counts are not blanked; a funder's staff read
/// the territory's exports and their own funder's.
async fn reader(state: &AppState, tenant_id: Uuid, auth: &BearerAuth) -> Result<Reader, ApiError> {
    Ok(Reader::of(&state.db, tenant_id, auth.0.role(), auth.0.caller_id()).await?)
}

pub struct StatisticsApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Statistics")]
impl StatisticsApi {
    /// Asks the worker for the datasets of a scheme over a month, quarter or year. Answers 202 at
    /// once with the export's id; the files follow when its status is `succeeded`. Audited.
    #[oai(
        path = "/statistics/exports",
        method = "post",
        operation_id = "requestStatisticsExport"
    )]
    async fn request(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<ExportRequest>,
    ) -> Result<Accepted, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REQUEST_STATISTICS_EXPORT)?;
        let export = statistics::request_scoped(
            &state.db,
            tenant_id,
            auth.actor(),
            body.0.scheme_id,
            &body.0.period,
            body.0.funder_id,
        )
        .await?;
        Ok(Accepted::Queued(Json(ExportView::new(export, Vec::new()))))
    }

    /// Exports, newest first (at most 500), by scheme or status.
    #[oai(
        path = "/statistics/exports",
        method = "get",
        operation_id = "listStatisticsExports"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        scheme_id: Query<Option<Uuid>>,
        /// Only the exports in this status.
        status: Query<Option<ExportStatusDto>>,
    ) -> Result<Json<Vec<ExportView>>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_STATISTICS_EXPORTS)?;
        let exports = statistics::list(
            &state.db,
            tenant_id,
            &ExportFilter {
                scheme_id: scheme_id.0,
                status: status.0.map(Into::into),
            },
            reader(&state, tenant_id, &auth).await?,
        )
        .await?;
        Ok(Json(
            exports
                .into_iter()
                .map(|(export, files)| ExportView::new(export, files))
                .collect(),
        ))
    }

    /// One export: its status (and the reason when it failed) and the files the caller may read.
    #[oai(
        path = "/statistics/exports/:export_id",
        method = "get",
        operation_id = "getStatisticsExport"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        export_id: Path<Uuid>,
    ) -> Result<Json<ExportView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_STATISTICS_EXPORT)?;
        let (export, files) = statistics::get(
            &state.db,
            tenant_id,
            export_id.0,
            reader(&state, tenant_id, &auth).await?,
        )
        .await?;
        Ok(Json(ExportView::new(export, files)))
    }

    /// Downloads one file by name. 409 while the export is queued or running, or when it failed
    /// (with the reason); funders and finance get published files only. Audited.
    #[oai(
        path = "/statistics/exports/:export_id/files/:name",
        method = "get",
        operation_id = "downloadStatisticsFile"
    )]
    async fn download(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        export_id: Path<Uuid>,
        /// The file's name, as the export lists it.
        #[oai(validator(max_length = 100))]
        name: Path<String>,
    ) -> Result<StatisticsFile, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::DOWNLOAD_STATISTICS_FILE)?;
        let (file, path) = statistics::open_file(
            &state.db,
            &state.statistics_dir,
            tenant_id,
            auth.actor(),
            export_id.0,
            &name.0,
            reader(&state, tenant_id, &auth).await?,
        )
        .await?;
        let bytes = tokio::fs::read(&path).await.map_err(|e| {
            ApiError::from(passerelle_core::Error::Internal(format!(
                "the file {} is recorded but cannot be read from the statistics folder: {e}",
                file.name
            )))
        })?;
        let attachment = Attachment::new(bytes)
            .attachment_type(AttachmentType::Attachment)
            .filename(file.name.clone());
        Ok(StatisticsFile::Ok(if file.format == "parquet" {
            FileContent::Parquet(attachment)
        } else {
            FileContent::Csv(attachment)
        }))
    }

    /// Sets the threshold under which counts are blanked in published files (tenant admin).
    /// Audited; applies to the exports computed from now on.
    #[oai(
        path = "/tenant/statistics-threshold",
        method = "put",
        operation_id = "setStatisticsThreshold"
    )]
    async fn set_threshold(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<ThresholdInput>,
    ) -> Result<Done, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_STATISTICS_THRESHOLD)?;
        statistics::set_threshold(&state.db, tenant_id, auth.actor(), body.0.threshold).await?;
        Ok(Done::NoContent)
    }
}
