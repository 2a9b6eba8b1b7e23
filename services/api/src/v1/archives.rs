//! A territory's archive: the tenant admin asks for it, the worker writes it, the tenant admin
//! downloads the zip (every table as CSV and Parquet, the statistics files, a manifest), which
//! `passerelle tenant restore` loads into another deployment.

use chrono::{DateTime, Utc};
use passerelle_core::archive::requests::{self, ArchiveStatus, TenantArchive};
use poem::Body;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Attachment, AttachmentType, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// `queued`, `running` while the worker writes it, then `succeeded` (download it until
    /// `expires_at`), `failed` (see `error`) or `expired` (its file was deleted).
    #[oai(rename = "ArchiveStatus", rename_all = "snake_case")]
    pub enum ArchiveStatusDto mirrors ArchiveStatus {
        Queued,
        Running,
        Succeeded,
        Failed,
        Expired,
    }
}

/// A territory's archive and where it stands.
#[derive(Debug, Object)]
#[oai(rename = "Archive")]
pub struct ArchiveView {
    pub id: Uuid,
    pub status: ArchiveStatusDto,
    /// Why the archive could not be written.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// The user who asked for it.
    #[oai(skip_serializing_if_is_none)]
    pub requested_by: Option<Uuid>,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When the worker started writing it.
    #[oai(skip_serializing_if_is_none)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it succeeded or failed.
    #[oai(skip_serializing_if_is_none)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The database schema version the archive was written under (`restore` needs a deployment
    /// at this version or later).
    #[oai(skip_serializing_if_is_none)]
    pub schema_version: Option<i64>,
    /// Tables in the archive.
    #[oai(skip_serializing_if_is_none)]
    pub table_count: Option<i32>,
    /// Rows over every table.
    #[oai(skip_serializing_if_is_none)]
    pub row_count: Option<i64>,
    /// The zip's size in bytes.
    #[oai(skip_serializing_if_is_none)]
    pub byte_size: Option<i64>,
    /// SHA-256 of the zip, hexadecimal: check the download against it.
    #[oai(skip_serializing_if_is_none)]
    pub sha256: Option<String>,
    /// When the file is deleted (it holds every person's data of the territory).
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Where to follow it: `/v1/archives/{id}`.
    pub location: String,
    /// Where to download it once `succeeded`: `/v1/archives/{id}/file`.
    pub file: String,
}

impl From<TenantArchive> for ArchiveView {
    fn from(a: TenantArchive) -> Self {
        Self {
            location: format!("/v1/archives/{}", a.id),
            file: format!("/v1/archives/{}/file", a.id),
            id: a.id,
            status: a.status.into(),
            error: a.error,
            requested_by: a.requested_by,
            requested_at: a.requested_at,
            started_at: a.started_at,
            finished_at: a.finished_at,
            schema_version: a.schema_version,
            table_count: a.table_count,
            row_count: a.row_count,
            byte_size: a.byte_size,
            sha256: a.sha256,
            expires_at: a.expires_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// The archive is queued; follow it with `getArchive`.
    #[oai(status = 202)]
    Queued(Json<ArchiveView>),
}

#[derive(ApiResponse)]
pub enum ArchiveFile {
    /// The zip as the worker wrote it (its SHA-256 is in the archive's record).
    #[oai(status = 200, content_type = "application/zip")]
    Ok(Attachment<Body>),
}

pub struct ArchivesApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Archives")]
impl ArchivesApi {
    /// Asks the worker for an archive of the whole territory: every table as CSV and Parquet,
    /// the statistics files, the audit log, and a manifest with each file's SHA-256. Answers 202
    /// at once; one archive at a time, three a day. Audited.
    #[oai(path = "/archives", method = "post", operation_id = "requestArchive")]
    async fn request(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<Accepted, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REQUEST_ARCHIVE)?;
        let archive = requests::request(&state.db, tenant_id, auth.actor()).await?;
        Ok(Accepted::Queued(Json(archive.into())))
    }

    /// The territory's archives, newest first (at most 100).
    #[oai(path = "/archives", method = "get", operation_id = "listArchives")]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<Json<Vec<ArchiveView>>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_ARCHIVES)?;
        let archives = requests::list(&state.db, tenant_id, 100).await?;
        Ok(Json(archives.into_iter().map(Into::into).collect()))
    }

    /// Where an archive stands. Poll it until `succeeded` or `failed`.
    #[oai(
        path = "/archives/:archive_id",
        method = "get",
        operation_id = "getArchive"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The archive's id, as `requestArchive` answered it.
        archive_id: Path<Uuid>,
    ) -> Result<Json<ArchiveView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_ARCHIVE)?;
        Ok(Json(
            requests::get(&state.db, tenant_id, archive_id.0)
                .await?
                .into(),
        ))
    }

    /// Downloads the archive's zip, streamed. 409 while it is queued or running, when it failed,
    /// or once its file was deleted. Audited.
    #[oai(
        path = "/archives/:archive_id/file",
        method = "get",
        operation_id = "downloadArchive"
    )]
    async fn download(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The archive's id, as `requestArchive` answered it.
        archive_id: Path<Uuid>,
    ) -> Result<ArchiveFile, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::DOWNLOAD_ARCHIVE)?;
        let (archive, path) = requests::open_file(
            &state.db,
            &state.archive_dir,
            tenant_id,
            auth.actor(),
            archive_id.0,
        )
        .await?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| {
            ApiError::from(passerelle_core::Error::Internal(format!(
                "the archive {} is recorded but cannot be read from the archive folder: {e}",
                archive.id
            )))
        })?;
        let name = format!(
            "passerelle-archive-{}.zip",
            archive
                .finished_at
                .unwrap_or(archive.requested_at)
                .format("%Y%m%d-%H%M%S")
        );
        Ok(ArchiveFile::Ok(
            Attachment::new(Body::from_async_read(file))
                .attachment_type(AttachmentType::Attachment)
                .filename(name),
        ))
    }
}
