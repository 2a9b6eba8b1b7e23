//! Statistics exports for funders: the request, its lifecycle and the files it wrote. The datasets
//! themselves are computed by the worker's statistics crate (the only one that links polars); this
//! module is what the API and the worker share: periods, export rows, file records and where the
//! files live on disk.

pub mod dashboard;
pub mod period;
pub mod status;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::{Db, Error};

pub use period::{Period, PeriodKind};
pub use status::{ExportOrigin, ExportStatus};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Export {
    pub id: Uuid,
    pub scheme_id: Uuid,
    pub scheme_code: String,
    pub period_kind: PeriodKind,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub origin: ExportOrigin,
    pub status: ExportStatus,
    pub error: Option<String>,
    pub requested_by: Option<Uuid>,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The funder whose scope it was computed for (the vouchers it co-finances); `None`: the
    /// whole territory.
    pub funder_id: Option<Uuid>,
}

/// Who reads exports: which files (published only, or also the ones whose small counts are not
/// blanked) and which scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    /// Tenant admins read the files whose small counts are not blanked.
    pub unpublished: bool,
    /// A funder's staff read the territory's exports and their own funder's (`Some(None)`: a
    /// funder user bound to no funder reads the territory's only); `None`: every export.
    pub funder: Option<Option<Uuid>>,
}

impl From<bool> for Reader {
    /// The territory's staff: every export, with or without the unpublished files.
    fn from(unpublished: bool) -> Self {
        Self {
            unpublished,
            funder: None,
        }
    }
}

impl Reader {
    /// What a tenant user of `role` reads: the tenant admin the unpublished files too, a funder's
    /// staff the territory's exports and their funder's.
    pub async fn of(
        db: &Db,
        tenant_id: Uuid,
        role: crate::tenancy::Role,
        user_id: Uuid,
    ) -> Result<Self, Error> {
        Ok(Self {
            unpublished: role == crate::tenancy::Role::TenantAdmin,
            funder: if role == crate::tenancy::Role::Funder {
                Some(crate::funders::scope_of(db, tenant_id, user_id).await?)
            } else {
                None
            },
        })
    }

    fn may_read(&self, export: &Export) -> bool {
        match (self.funder, export.funder_id) {
            (None, _) | (Some(_), None) => true,
            (Some(own), Some(scope)) => own == Some(scope),
        }
    }
}

impl Export {
    pub fn period(&self) -> Period {
        Period::from_parts(self.period_kind, self.period_start)
            .expect("the database holds only valid periods")
    }

    /// Where the files of this export are written: `tenant/scheme/period/export`.
    pub fn folder(&self, root: &Path, tenant_id: Uuid) -> PathBuf {
        root.join(tenant_id.to_string())
            .join(&self.scheme_code)
            .join(self.period().label())
            .join(self.id.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExportFile {
    pub name: String,
    pub dataset: String,
    pub format: String,
    pub published: bool,
    pub row_count: i64,
    pub byte_size: i64,
    pub sha256: String,
}

impl ExportFile {
    pub fn content_type(&self) -> &'static str {
        match self.format.as_str() {
            "parquet" => "application/vnd.apache.parquet",
            _ => "text/csv; charset=utf-8",
        }
    }
}

const EXPORT_SELECT: &str = "SELECT x.id, x.scheme_id, sc.code AS scheme_code, x.period_kind, x.period_start, x.period_end,
        x.origin, x.status, x.error, x.requested_by, x.requested_at, x.started_at, x.finished_at, x.funder_id
    FROM statistics_exports x JOIN schemes sc ON sc.tenant_id = x.tenant_id AND sc.id = x.scheme_id";

/// On-demand exports a tenant may ask for in 24 hours: each one reads the tenant's whole activity
/// and writes files, so asking without end would take the worker and the disk.
pub const ON_DEMAND_PER_DAY: i64 = 20;
/// On-demand exports a tenant may have waiting or running at once.
pub const ON_DEMAND_WAITING: i64 = 3;

/// Asks for an export of a scheme over a period; the worker picks it up. Within the tenant's
/// quotas (`ON_DEMAND_PER_DAY`, `ON_DEMAND_WAITING`).
pub async fn request(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    scheme_id: Uuid,
    period: &str,
) -> Result<Export, Error> {
    request_scoped(db, tenant_id, actor, scheme_id, period, None).await
}

/// Like `request`, computed for one funder's scope (the vouchers it co-finances) when `funder` is
/// given.
pub async fn request_scoped(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    scheme_id: Uuid,
    period: &str,
    funder: Option<Uuid>,
) -> Result<Export, Error> {
    let period = Period::parse(period)?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    if let Some(funder) = funder {
        let known: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM funders WHERE tenant_id = $2 AND id = $1)",
        )
        .bind(funder)
        .bind(tx.tenant_id())
        .fetch_one(&mut *tx)
        .await?;
        if !known {
            return Err(Error::invalid("funder_id", "no such funder in this tenant"));
        }
    }
    let scheme_exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM schemes WHERE tenant_id = $2 AND id = $1)",
    )
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    if !scheme_exists {
        return Err(Error::NotFound("scheme"));
    }
    // Concurrent requests of one tenant count one after the other.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('statistics-request:' || $1::text, 0))",
    )
    .bind(tenant_id)
    .execute(&mut *tx)
    .await?;
    let under_way: Vec<ExportStatus> = ExportStatus::all().filter(|s| s.is_under_way()).collect();
    let (today, waiting): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE requested_at > now() - interval '24 hours'),
                count(*) FILTER (WHERE status = ANY($1))
           FROM statistics_exports WHERE tenant_id = $3 AND origin = $2",
    )
    .bind(under_way)
    .bind(ExportOrigin::OnDemand)
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    if today >= ON_DEMAND_PER_DAY {
        return Err(Refusal::ExportsPerDayUsedUp {
            limit: ON_DEMAND_PER_DAY,
        }
        .into());
    }
    if waiting >= ON_DEMAND_WAITING {
        return Err(Refusal::ExportsWaiting {
            limit: ON_DEMAND_WAITING,
        }
        .into());
    }
    let id = Uuid::now_v7();
    insert(
        &mut tx,
        id,
        scheme_id,
        &period,
        ExportOrigin::OnDemand,
        actor.user_id,
        funder,
    )
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "statistics.export_requested",
        "statistics_export",
        id,
        json!({ "scheme_id": scheme_id, "period": period.label(), "funder_id": funder }),
    )
    .await?;
    let export = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(export)
}

async fn insert(
    tx: &mut Tx,
    id: Uuid,
    scheme_id: Uuid,
    period: &Period,
    origin: ExportOrigin,
    requested_by: Option<Uuid>,
    funder: Option<Uuid>,
) -> Result<u64, Error> {
    Ok(sqlx::query(
        "INSERT INTO statistics_exports (tenant_id, id, scheme_id, period_kind, period_start, period_end, origin, requested_by,
                                         funder_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, scheme_id, period_kind, period_start) WHERE origin = 'scheduled' DO NOTHING",
    )
    .bind(tx.tenant_id())
    .bind(id)
    .bind(scheme_id)
    .bind(period.kind)
    .bind(period.start)
    .bind(period.end)
    .bind(origin)
    .bind(requested_by)
    .bind(funder)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// The periods that ended just before `today` (tenant time zone): always the previous month, the
/// previous quarter on the first month of a quarter, the previous year in January. Each active
/// scheme gets one scheduled export per period, however often this runs.
pub async fn schedule_ended_periods(
    db: &Db,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, Error> {
    let tenant = crate::tenancy::tenants::get(db, tenant_id).await?;
    let today = now.with_timezone(&tenant.tz()).date_naive();
    let periods = Period::ended_before(today);
    let mut tx = db.begin_tenant(tenant_id).await?;
    let schemes: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM schemes WHERE tenant_id = $1 AND status = 'active' ORDER BY code",
    )
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    let mut created = Vec::new();
    for scheme_id in schemes {
        for period in &periods {
            let id = Uuid::now_v7();
            if insert(
                &mut tx,
                id,
                scheme_id,
                period,
                ExportOrigin::Scheduled,
                None,
                None,
            )
            .await?
                == 1
            {
                created.push(id);
            }
        }
    }
    tx.commit().await?;
    Ok(created)
}

#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub scheme_id: Option<Uuid>,
    pub status: Option<ExportStatus>,
}

/// Exports, newest first (at most 500), each with the files the caller may read, in one
/// transaction and two queries.
pub async fn list(
    db: &Db,
    tenant_id: Uuid,
    filter: &ExportFilter,
    reader: impl Into<Reader>,
) -> Result<Vec<(Export, Vec<ExportFile>)>, Error> {
    let reader = reader.into();
    let with_unpublished = reader.unpublished;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let exports: Vec<Export> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{EXPORT_SELECT} WHERE x.tenant_id = $3 AND ($1::uuid IS NULL OR x.scheme_id = $1) AND ($2::text IS NULL OR x.status = $2)
           AND ($4 OR x.funder_id IS NULL OR x.funder_id = $5)
         ORDER BY x.requested_at DESC, x.id DESC LIMIT 500"
    )))
    .bind(filter.scheme_id)
    .bind(filter.status)
    .bind(tx.tenant_id())
    .bind(reader.funder.is_none())
    .bind(reader.funder.flatten())
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = exports.iter().map(|e| e.id).collect();
    let files: Vec<(Uuid, ExportFile)> = sqlx::query_as::<_, FileOfExport>(
        "SELECT export_id, name, dataset, format, published, row_count, byte_size, sha256 FROM statistics_files
         WHERE tenant_id = $3 AND export_id = ANY($1) AND (published OR $2) ORDER BY dataset, published, format",
    )
    .bind(&ids)
    .bind(with_unpublished)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|f| (f.export_id, f.file))
    .collect();
    tx.commit().await?;
    let mut by_export: std::collections::HashMap<Uuid, Vec<ExportFile>> =
        std::collections::HashMap::new();
    for (export_id, file) in files {
        by_export.entry(export_id).or_default().push(file);
    }
    Ok(exports
        .into_iter()
        .map(|e| {
            let files = by_export.remove(&e.id).unwrap_or_default();
            (e, files)
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct FileOfExport {
    export_id: Uuid,
    #[sqlx(flatten)]
    file: ExportFile,
}

pub(crate) async fn fetch(tx: &mut Tx, id: Uuid) -> Result<Export, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{EXPORT_SELECT} WHERE x.tenant_id = $2 AND x.id = $1"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("statistics export"))
}

async fn files_in(tx: &mut Tx, id: Uuid, with_unpublished: bool) -> Result<Vec<ExportFile>, Error> {
    Ok(sqlx::query_as(
        "SELECT name, dataset, format, published, row_count, byte_size, sha256 FROM statistics_files
         WHERE tenant_id = $3 AND export_id = $1 AND (published OR $2) ORDER BY dataset, published, format",
    )
    .bind(id)
    .bind(with_unpublished)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?)
}

/// An export and the files the caller may read: funders see only published files.
pub async fn get(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    reader: impl Into<Reader>,
) -> Result<(Export, Vec<ExportFile>), Error> {
    let reader = reader.into();
    let mut tx = db.begin_tenant(tenant_id).await?;
    let export = fetch(&mut tx, id).await?;
    if !reader.may_read(&export) {
        return Err(Error::NotFound("statistics export"));
    }
    let files = files_in(&mut tx, id, reader.unpublished).await?;
    tx.commit().await?;
    Ok((export, files))
}

/// A file to download, after checking that the export is done and the caller may read it. The
/// download is audited in the same transaction.
pub async fn open_file(
    db: &Db,
    root: &Path,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
    name: &str,
    reader: impl Into<Reader>,
) -> Result<(ExportFile, PathBuf), Error> {
    let reader = reader.into();
    let mut tx = db.begin_tenant(tenant_id).await?;
    let export = fetch(&mut tx, id).await?;
    if !reader.may_read(&export) {
        return Err(Error::NotFound("statistics export"));
    }
    match export.status {
        ExportStatus::Succeeded => {}
        ExportStatus::Failed => {
            return Err(Refusal::ExportFailed {
                reason: export
                    .error
                    .clone()
                    .unwrap_or_else(|| "unknown reason".into()),
            }
            .into());
        }
        status => {
            return Err(Refusal::ExportNotReady { status }.into());
        }
    }
    let file = files_in(&mut tx, id, reader.unpublished)
        .await?
        .into_iter()
        .find(|f| f.name == name)
        .ok_or(Error::NotFound("statistics file"))?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "statistics.file_downloaded",
        "statistics_export",
        id,
        json!({ "file": file.name, "published": file.published, "sha256": file.sha256 }),
    )
    .await?;
    tx.commit().await?;
    let path = export.folder(root, tenant_id).join(&file.name);
    Ok((file, path))
}

/// Exports waiting for the worker, marked as handed over in the caller's transaction. An export
/// handed over long ago and still queued (its job was lost), or running for longer than the job's
/// time limit (its worker died and its job with it), is handed over again.
pub async fn take_for_relay(
    tx: &mut Tx,
    requeue_after: Duration,
    limit: i64,
) -> Result<Vec<Uuid>, Error> {
    let requeue_after = i64::try_from(requeue_after.as_secs()).unwrap_or(i64::MAX);
    Ok(sqlx::query_scalar(
        "UPDATE statistics_exports SET relayed_at = now()
         WHERE tenant_id = $3
           AND id IN (SELECT id FROM statistics_exports
                      WHERE tenant_id = $3
                        AND ((status = 'queued'
                              AND (relayed_at IS NULL OR relayed_at < now() - make_interval(secs => $1)))
                             OR (status = 'running' AND started_at < now() - interval '2 hours'
                                 AND relayed_at < now() - interval '2 hours'))
                      ORDER BY requested_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id",
    )
    .bind(requeue_after as f64)
    .bind(limit)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?)
}

/// Tenants with exports waiting for the worker; each tenant is asked under its own setting, as
/// row-level security requires.
pub async fn tenants_with_queued_exports(db: &Db) -> Result<Vec<Uuid>, Error> {
    crate::tenancy::tenants::where_any(
        db,
        "SELECT EXISTS (SELECT 1 FROM statistics_exports
                         WHERE tenant_id = $1 AND status IN ('queued', 'running'))",
    )
    .await
}

/// Marks a queued export running and returns it. `None` when it is finished, or running in
/// another worker (a job can be delivered twice); a run started longer ago than twice the job's
/// time limit is taken over, as its worker died.
pub async fn start(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Option<Export>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    fetch(&mut tx, id).await?;
    let claimed = sqlx::query(
        "UPDATE statistics_exports SET status = 'running', started_at = now()
         WHERE tenant_id = $2 AND id = $1 AND (status = 'queued' OR (status = 'running' AND started_at < now() - interval '2 hours'))",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        tx.commit().await?;
        return Ok(None);
    }
    sqlx::query("DELETE FROM statistics_files WHERE tenant_id = $2 AND export_id = $1")
        .bind(id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    let export = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Some(export))
}

/// Records the files and marks the export succeeded, in one transaction. Earlier on-demand exports
/// of the same scheme and period are superseded: their records are deleted and returned, for the
/// caller to delete their folders (the scheduled export of a period, made once, stays).
pub async fn succeed(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    files: &[ExportFile],
) -> Result<Vec<Export>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    sqlx::query("DELETE FROM statistics_files WHERE tenant_id = $2 AND export_id = $1")
        .bind(id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    for file in files {
        sqlx::query(
            "INSERT INTO statistics_files (tenant_id, export_id, name, dataset, format, published, row_count, byte_size, sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(&file.name)
        .bind(&file.dataset)
        .bind(&file.format)
        .bind(file.published)
        .bind(file.row_count)
        .bind(file.byte_size)
        .bind(&file.sha256)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE statistics_exports SET status = 'succeeded', error = NULL, finished_at = now() WHERE tenant_id = $2 AND id = $1",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .execute(&mut *tx)
    .await?;
    let superseded: Vec<Export> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{EXPORT_SELECT}
          JOIN statistics_exports this ON this.tenant_id = x.tenant_id AND this.id = $1
         WHERE x.tenant_id = $2 AND x.id <> this.id AND x.origin = 'on_demand' AND x.status IN ('succeeded', 'failed')
           AND x.scheme_id = this.scheme_id AND x.period_kind = this.period_kind
           AND x.period_start = this.period_start AND x.requested_at <= this.requested_at
           AND x.funder_id IS NOT DISTINCT FROM this.funder_id"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = superseded.iter().map(|e| e.id).collect();
    sqlx::query("DELETE FROM statistics_files WHERE tenant_id = $2 AND export_id = ANY($1)")
        .bind(&ids)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM statistics_exports WHERE tenant_id = $2 AND id = ANY($1)")
        .bind(&ids)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(superseded)
}

pub async fn fail(db: &Db, tenant_id: Uuid, id: Uuid, reason: &str) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    sqlx::query(
        "UPDATE statistics_exports SET status = 'failed', error = $2, finished_at = now() WHERE tenant_id = $3 AND id = $1",
    )
    .bind(id)
    .bind(reason)
    .bind(tx.tenant_id())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The tenant's settings for statistics: the suppression threshold and the pseudonymisation key
/// (made, at random, the first time it is needed).
pub async fn tenant_settings(db: &Db, tenant_id: Uuid) -> Result<(i32, Vec<u8>), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    crate::tenancy::secrets::ensure(&mut tx, tenant_id).await?;
    let row: (i32, Vec<u8>) = sqlx::query_as(
        "SELECT t.statistics_threshold, s.statistics_key
           FROM tenants t JOIN tenant_secrets s ON s.tenant_id = $1 WHERE t.id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("tenant"))?;
    tx.commit().await?;
    Ok(row)
}

/// Sets the small-count threshold of published files.
pub async fn set_threshold(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    threshold: i32,
) -> Result<(), Error> {
    if !(1..=100).contains(&threshold) {
        return Err(Error::invalid("threshold", "between 1 and 100"));
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    sqlx::query("UPDATE tenants SET statistics_threshold = $2 WHERE id = $1")
        .bind(tenant_id)
        .bind(threshold)
        .execute(&mut *tx)
        .await?;
    tx.changed(crate::storage::Change::Tenant(tenant_id))
        .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "tenant.statistics_threshold_set",
        "tenant",
        tenant_id,
        json!({ "threshold": threshold }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The first day of the quarter `date` falls in.
pub fn quarter_of(date: NaiveDate) -> NaiveDate {
    let month = (date.month0() / 3) * 3 + 1;
    NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date)
}
