//! A territory's archive asked for through the API: the tenant admin asks, the worker writes the
//! zip under the archive folder, the tenant admin downloads it. Each step is in the audit log, as
//! an archive holds every person's data; for the same reason its file is kept `KEPT_FOR_DAYS` and
//! then deleted by the daily run, while the row stays as the record of what left and when.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::{Db, Error};

vocabulary! {
    /// Queued when asked, running while the worker writes it, then succeeded (its file can be
    /// downloaded), failed (with the reason), or expired (its file was deleted).
    pub enum ArchiveStatus {
        Queued,
        Running,
        Succeeded,
        Failed,
        Expired,
    }
}

impl ArchiveStatus {
    /// Whether the worker has still to finish it: a tenant has one such archive at most.
    pub fn is_under_way(self) -> bool {
        matches!(self, ArchiveStatus::Queued | ArchiveStatus::Running)
    }
}

/// Archives a tenant may ask for in 24 hours: each reads every table and writes the whole
/// territory to disk again.
pub const PER_DAY: i64 = 3;
/// Days an archive's file is kept after it is written.
pub const KEPT_FOR_DAYS: i64 = 7;
/// A run started longer ago than this is taken over: its worker died (the job's limit is an hour).
const TAKEN_OVER_AFTER: &str = "2 hours";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantArchive {
    pub id: Uuid,
    pub status: ArchiveStatus,
    pub error: Option<String>,
    pub requested_by: Option<Uuid>,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub schema_version: Option<i64>,
    pub table_count: Option<i32>,
    pub row_count: Option<i64>,
    pub byte_size: Option<i64>,
    pub sha256: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What the worker wrote: the manifest's figures and the zip's size and digest.
#[derive(Debug, Clone)]
pub struct Written {
    pub schema_version: i64,
    pub table_count: i32,
    pub row_count: i64,
    pub byte_size: i64,
    pub sha256: String,
}

const COLUMNS: &str = "id, status, error, requested_by, requested_at, started_at, finished_at, \
     schema_version, table_count, row_count, byte_size, sha256, expires_at";

/// Where the archive's zip is written: `root/tenant/archive.zip`.
pub fn file_path(root: &Path, tenant_id: Uuid, id: Uuid) -> PathBuf {
    root.join(tenant_id.to_string()).join(format!("{id}.zip"))
}

/// Asks for an archive of the whole tenant; the worker picks it up. One at a time, `PER_DAY` a day.
pub async fn request(db: &Db, tenant_id: Uuid, actor: Actor) -> Result<TenantArchive, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    // Concurrent requests of one tenant are decided one after the other.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('archive-request:' || $1::text, 0))",
    )
    .bind(tenant_id)
    .execute(&mut *tx)
    .await?;
    let under_way: Option<ArchiveStatus> = sqlx::query_scalar(
        "SELECT status FROM tenant_archives WHERE tenant_id = $1 AND status IN ('queued', 'running')",
    )
    .bind(tenant_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(status) = under_way {
        return Err(Refusal::ArchiveUnderWay { status }.into());
    }
    let today: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenant_archives
          WHERE tenant_id = $1 AND requested_at > now() - interval '24 hours'",
    )
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    if today >= PER_DAY {
        return Err(Refusal::ArchivesPerDayUsedUp { limit: PER_DAY }.into());
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO tenant_archives (tenant_id, id, requested_by, actor_role) VALUES ($1, $2, $3, $4)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(actor.user_id)
    .bind(actor.role)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "archive.requested",
        "tenant_archive",
        id,
        json!({}),
    )
    .await?;
    let archive = fetch(&mut tx, tenant_id, id).await?;
    tx.commit().await?;
    Ok(archive)
}

async fn fetch(tx: &mut Tx, tenant_id: Uuid, id: Uuid) -> Result<TenantArchive, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tenant_archives WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("archive"))
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<TenantArchive, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let archive = fetch(&mut tx, tenant_id, id).await?;
    tx.commit().await?;
    Ok(archive)
}

/// The tenant's archives, the latest first (`PER_DAY` a day keeps the list short).
pub async fn list(db: &Db, tenant_id: Uuid, limit: i64) -> Result<Vec<TenantArchive>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let archives = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tenant_archives WHERE tenant_id = $1
          ORDER BY requested_at DESC, id DESC LIMIT $2"
    )))
    .bind(tenant_id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(archives)
}

/// The archive's file, once written and still kept; the download is audited in the same
/// transaction, with the digest of what left.
pub async fn open_file(
    db: &Db,
    root: &Path,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
) -> Result<(TenantArchive, PathBuf), Error> {
    let tz = crate::tenancy::tenants::get(db, tenant_id).await?.tz();
    let mut tx = db.begin_tenant(tenant_id).await?;
    let archive = fetch(&mut tx, tenant_id, id).await?;
    match archive.status {
        ArchiveStatus::Succeeded => {}
        ArchiveStatus::Failed => {
            return Err(Refusal::ArchiveFailed {
                reason: archive.error.clone().unwrap_or_default(),
            }
            .into());
        }
        ArchiveStatus::Expired => return Err(expired(&archive, tz).into()),
        status => return Err(Refusal::ArchiveNotReady { status }.into()),
    }
    if archive.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(expired(&archive, tz).into());
    }
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "archive.downloaded",
        "tenant_archive",
        id,
        json!({ "sha256": archive.sha256, "byte_size": archive.byte_size }),
    )
    .await?;
    tx.commit().await?;
    Ok((archive.clone(), file_path(root, tenant_id, id)))
}

/// The day the file was deleted, in the tenant's time zone.
fn expired(archive: &TenantArchive, tz: chrono_tz::Tz) -> Refusal {
    Refusal::ArchiveExpired {
        expired_on: archive
            .expires_at
            .unwrap_or_else(Utc::now)
            .with_timezone(&tz)
            .date_naive(),
        days: KEPT_FOR_DAYS,
    }
}

/// Archives waiting for the worker, marked as handed over in the caller's transaction; one handed
/// over long ago and still queued (its job was lost), or running past the time a run may take
/// (its worker died), is handed over again.
pub async fn take_for_relay(
    tx: &mut Tx,
    tenant_id: Uuid,
    requeue_after: Duration,
) -> Result<Vec<Uuid>, Error> {
    let requeue_after = i64::try_from(requeue_after.as_secs()).unwrap_or(i64::MAX);
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE tenant_archives SET relayed_at = now()
          WHERE tenant_id = $1
            AND id IN (SELECT id FROM tenant_archives
                        WHERE tenant_id = $1
                          AND ((status = 'queued'
                                AND (relayed_at IS NULL OR relayed_at < now() - make_interval(secs => $2)))
                            OR (status = 'running' AND started_at < now() - interval '{TAKEN_OVER_AFTER}'
                                AND relayed_at < now() - interval '{TAKEN_OVER_AFTER}'))
                        FOR UPDATE SKIP LOCKED)
          RETURNING id"
    )))
    .bind(tenant_id)
    .bind(requeue_after as f64)
    .fetch_all(&mut **tx)
    .await?)
}

/// Tenants with an archive waiting for the worker; each is asked under its own setting, as
/// row-level security requires.
pub async fn tenants_with_queued(db: &Db) -> Result<Vec<Uuid>, Error> {
    crate::tenancy::tenants::where_any(
        db,
        "SELECT EXISTS (SELECT 1 FROM tenant_archives
                         WHERE tenant_id = $1 AND status IN ('queued', 'running'))",
    )
    .await
}

/// Marks a queued archive running. `None` when it is finished or running in another worker (a job
/// can be delivered twice); a run older than `TAKEN_OVER_AFTER` is taken over.
pub async fn start(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Option<TenantArchive>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let started: Option<TenantArchive> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE tenant_archives SET status = 'running', started_at = now()
          WHERE tenant_id = $1 AND id = $2
            AND (status = 'queued'
                 OR (status = 'running' AND started_at < now() - interval '{TAKEN_OVER_AFTER}'))
          RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(started)
}

/// Records what was written and marks the archive succeeded; the audit log names the person who
/// asked for it, as the CLI's export does for the operator.
pub async fn succeed(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    written: &Written,
) -> Result<TenantArchive, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let archive: TenantArchive = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE tenant_archives
            SET status = 'succeeded', finished_at = now(),
                expires_at = now() + make_interval(days => $3),
                schema_version = $4, table_count = $5, row_count = $6, byte_size = $7, sha256 = $8
          WHERE tenant_id = $1 AND id = $2 AND status = 'running'
          RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(id)
    .bind(KEPT_FOR_DAYS as i32)
    .bind(written.schema_version)
    .bind(written.table_count)
    .bind(written.row_count)
    .bind(written.byte_size)
    .bind(&written.sha256)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("running archive"))?;
    let (requested_by, role): (Option<Uuid>, String) = sqlx::query_as(
        "SELECT requested_by, actor_role FROM tenant_archives WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        Actor::stored(requested_by, &role),
        "archive.exported",
        "tenant_archive",
        id,
        json!({
            "tables": written.table_count,
            "rows": written.row_count,
            "byte_size": written.byte_size,
            "sha256": written.sha256,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(archive)
}

pub async fn fail(db: &Db, tenant_id: Uuid, id: Uuid, reason: &str) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    sqlx::query(
        "UPDATE tenant_archives SET status = 'failed', error = $3, finished_at = now()
          WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Archives whose file has been kept long enough, for the caller to delete the files and then
/// mark them with [`mark_expired`].
pub async fn due_to_expire(
    db: &Db,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let ids = sqlx::query_scalar(
        "SELECT id FROM tenant_archives
          WHERE tenant_id = $1 AND status = 'succeeded' AND expires_at <= $2",
    )
    .bind(tenant_id)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids)
}

/// Marks archives whose file was deleted.
pub async fn mark_expired(db: &Db, tenant_id: Uuid, ids: &[Uuid]) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    sqlx::query(
        "UPDATE tenant_archives SET status = 'expired'
          WHERE tenant_id = $1 AND id = ANY($2) AND status = 'succeeded'",
    )
    .bind(tenant_id)
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_queued_or_running_archive_is_under_way() {
        let under_way: Vec<_> = ArchiveStatus::all().filter(|s| s.is_under_way()).collect();
        assert_eq!(under_way, [ArchiveStatus::Queued, ArchiveStatus::Running]);
    }

    #[test]
    fn the_file_of_an_archive_is_in_its_tenant_folder() {
        let (tenant, id) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            file_path(Path::new("/srv/archives"), tenant, id),
            PathBuf::from(format!("/srv/archives/{tenant}/{id}.zip"))
        );
    }
}
