//! Running a stored import: rows read from the stored chunks as a stream, written in batches, each
//! batch committed with the import's counters.

use std::io::{self, Read};

use uuid::Uuid;

use super::{COLUMNS, Import, ImportKind, LineOutcome};
use crate::audit::Actor;
use crate::epns::import::{self as places, ImportRow, ImportStatus as PlaceStatus, Place};
use crate::storage::Tx;
use crate::tenancy::tenants;
use crate::vouchers::bulk::{self, Issuer, RowOutcome, RowStatus};
use crate::{Db, Error};

/// Places written per transaction.
const PLACES_PER_BATCH: usize = 500;
/// Vouchers issued between two progress updates (each voucher has its own transaction).
const VOUCHERS_PER_UPDATE: usize = 25;
/// An import whose runner has not written for this long is taken over.
const STALLED_AFTER_SECONDS: f64 = 120.0;

enum Stop {
    /// Another process took the import over: this one stops without touching it.
    TakenOver,
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Failed(e.into())
    }
}

/// Runs an import: the queued one, or one whose runner stalled (taken over after the last batch it
/// wrote). `None` when it is finished or another process runs it. A database fault leaves it
/// running, for the worker to take over; a file that cannot be read past some point fails it,
/// with the reason, keeping what was imported before.
pub async fn run(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Option<Import>, Error> {
    let Some(import) = claim(db, tenant_id, id).await? else {
        return Ok(None);
    };
    let ran = match import.kind {
        ImportKind::Epns => run_places(db, tenant_id, &import).await,
        ImportKind::Vouchers => run_vouchers(db, tenant_id, &import).await,
    };
    let error = match ran {
        Ok(()) => None,
        Err(Stop::TakenOver) => return Ok(None),
        Err(Stop::Failed(Error::Database(e))) => return Err(Error::Database(e)),
        Err(Stop::Failed(e)) => Some(in_french(&e)),
    };
    finish(db, tenant_id, id, error).await
}

/// Imports left behind by a process that stopped: queued for a minute and not started, or running
/// with no progress for two. Marked as relayed so the worker queues each once per `requeue_after`.
pub async fn stalled(
    db: &Db,
    requeue_after: std::time::Duration,
) -> Result<Vec<(Uuid, Uuid)>, Error> {
    let mut found = Vec::new();
    for tenant_id in tenants::all_ids(db).await? {
        let mut tx = db.begin_tenant(tenant_id).await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE imports SET relayed_at = now()
              WHERE tenant_id = $3
                AND id IN (SELECT id FROM imports
                            WHERE tenant_id = $3 AND ((status = 'queued' AND requested_at < now() - interval '1 minute')
                                   OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => $1)))
                              AND (relayed_at IS NULL OR relayed_at < now() - make_interval(secs => $2))
                            FOR UPDATE SKIP LOCKED)
             RETURNING id",
        )
        .bind(STALLED_AFTER_SECONDS)
        .bind(requeue_after.as_secs_f64())
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        found.extend(ids.into_iter().map(|id| (tenant_id, id)));
    }
    Ok(found)
}

async fn claim(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Option<Import>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let import = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE imports SET status = 'running', started_at = least(started_at, now()), heartbeat_at = now()
          WHERE tenant_id = $3 AND id = $1
            AND (status = 'queued'
                 OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => $2)))
          RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(STALLED_AFTER_SECONDS)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(import)
}

/// What a person reads of a file that could not be imported.
fn in_french(e: &Error) -> String {
    match e {
        Error::Invalid(fields) => fields
            .iter()
            .map(|f| {
                f.rule
                    .as_ref()
                    .map_or_else(|| f.message.clone(), |r| r.french())
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// Reads the stored chunks as one file, fed by [`feed`] through a channel: the file's reader runs
/// on a blocking thread, PostgreSQL is read asynchronously, and at most two chunks are in memory.
struct ChunkReader {
    chunks: tokio::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.chunks.blocking_recv() {
                Some(chunk) => {
                    self.current = chunk?;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Sends the import's chunks in order, read in one transaction on one connection (whose read
/// buffer grows to a chunk once, rather than on every connection of the pool). A chunk that cannot
/// be read is sent as an error, so the reader never takes a cut file for a whole one.
async fn feed(
    db: Db,
    tenant_id: Uuid,
    id: Uuid,
    to: tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>,
) -> Result<(), Error> {
    let fed: Result<(), Error> = async {
        let mut tx = db.begin_tenant(tenant_id).await?;
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM import_chunks WHERE tenant_id = $2 AND import_id = $1")
                .bind(id)
                .bind(tx.tenant_id())
                .fetch_one(&mut *tx)
                .await?;
        for seq in 0..i32::try_from(count).unwrap_or(i32::MAX) {
            let data: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT data FROM import_chunks WHERE tenant_id = $3 AND import_id = $1 AND seq = $2",
            )
            .bind(id)
            .bind(seq)
            .bind(tx.tenant_id())
            .fetch_optional(&mut *tx)
            .await?;
            // A chunk gone missing is a storage fault, not the end of the file.
            let data = data.ok_or(Error::Database(sqlx::Error::RowNotFound))?;
            if to.send(Ok(data)).await.is_err() {
                break;
            }
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(e) = &fed {
        let _ = to.send(Err(io::Error::other(e.to_string()))).await;
    }
    fed
}

/// Counts of a batch, added to the import's in the batch's transaction.
#[derive(Default)]
struct Tally {
    rows: i32,
    /// How far into the file the batch reaches.
    bytes_read: i64,
    created: i32,
    updated: i32,
    refused: i32,
    warnings: i32,
}

impl Tally {
    /// A row read, counted by what became of it (a voucher already held counts as updated).
    fn count(&mut self, outcome: LineOutcome) {
        self.rows += 1;
        match outcome {
            LineOutcome::Created => self.created += 1,
            LineOutcome::Updated | LineOutcome::AlreadyHeld => self.updated += 1,
            LineOutcome::Refused => self.refused += 1,
        }
    }
}

/// Adds a batch's counts, provided no other process wrote since `rows_before` (then it took the
/// import over, and the batch is rolled back with the caller's transaction).
async fn advance(tx: &mut Tx, id: Uuid, rows_before: i32, tally: &Tally) -> Result<(), Stop> {
    let advanced = sqlx::query(
        "UPDATE imports SET rows_read = rows_read + $3, created = created + $4, updated = updated + $5,
                            refused = refused + $6, warnings = warnings + $7,
                            bytes_read = greatest(bytes_read, $8), heartbeat_at = now()
          WHERE tenant_id = $9 AND id = $1 AND status = 'running' AND rows_read = $2",
    )
    .bind(id)
    .bind(rows_before)
    .bind(tally.rows)
    .bind(tally.created)
    .bind(tally.updated)
    .bind(tally.refused)
    .bind(tally.warnings)
    .bind(tally.bytes_read)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    if advanced.rows_affected() == 0 {
        return Err(Stop::TakenOver);
    }
    Ok(())
}

/// A line of the report.
#[allow(clippy::too_many_arguments)]
async fn write_line(
    tx: &mut Tx,
    tenant_id: Uuid,
    id: Uuid,
    line: u64,
    outcome: LineOutcome,
    source_id: Option<&str>,
    object_id: Option<Uuid>,
    reference: Option<&str>,
    field: Option<&str>,
    message: Option<&str>,
    warning: Option<&str>,
) -> Result<(), Error> {
    let cut = |t: Option<&str>| t.map(|t| t.chars().take(2000).collect::<String>());
    sqlx::query(
        "INSERT INTO import_lines (tenant_id, import_id, line, outcome, source_id, object_id, reference, field, message, warning)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(i64::try_from(line).unwrap_or(i64::MAX))
    .bind(outcome)
    .bind(source_id)
    .bind(object_id)
    .bind(reference)
    .bind(field)
    .bind(cut(message))
    .bind(cut(warning))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes a batch of places and its counts in one transaction: a statement per place, and if the
/// database refuses one, the batch again with each place in a savepoint (refused alone).
async fn write_places(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    rows_before: i32,
    batch: Vec<Place>,
) -> Result<i32, Stop> {
    match write_places_with(db, tenant_id, id, rows_before, &batch, false).await {
        Err(Stop::Failed(e)) if !matches!(e, Error::Database(_)) => {
            write_places_with(db, tenant_id, id, rows_before, &batch, true).await
        }
        Err(Stop::Failed(Error::Database(e))) if !is_connection_fault(&e) => {
            write_places_with(db, tenant_id, id, rows_before, &batch, true).await
        }
        other => other,
    }
}

/// A fault of the connection rather than of a row: retrying the batch would not help.
fn is_connection_fault(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
    )
}

async fn write_places_with(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    rows_before: i32,
    batch: &[Place],
    careful: bool,
) -> Result<i32, Stop> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let mut tally = Tally::default();
    for place in batch {
        tally.bytes_read = i64::try_from(place.byte).unwrap_or(i64::MAX);
        let row: ImportRow = places::write_place(&mut tx, tenant_id, place, careful).await?;
        let outcome = match row.status {
            PlaceStatus::Created => LineOutcome::Created,
            PlaceStatus::Updated => LineOutcome::Updated,
            PlaceStatus::Refused => LineOutcome::Refused,
        };
        tally.count(outcome);
        if row.warning.is_some() {
            tally.warnings += 1;
        }
        if row.status == PlaceStatus::Refused || row.warning.is_some() {
            write_line(
                &mut tx,
                tenant_id,
                id,
                row.line,
                outcome,
                row.source_id.as_deref(),
                row.epn_id,
                None,
                None,
                row.reason.as_deref(),
                row.warning.as_deref(),
            )
            .await?;
        }
    }
    advance(&mut tx, id, rows_before, &tally).await?;
    tx.commit().await?;
    Ok(rows_before + tally.rows)
}

async fn run_places(db: &Db, tenant_id: Uuid, import: &Import) -> Result<(), Stop> {
    let (chunk_tx, chunk_rx) = tokio::sync::mpsc::channel(2);
    let (place_tx, mut place_rx) = tokio::sync::mpsc::channel::<Place>(PLACES_PER_BATCH / 2);
    let reader = ChunkReader {
        chunks: chunk_rx,
        current: Vec::new(),
        at: 0,
    };
    let parser = tokio::task::spawn_blocking(move || {
        places::read_places(reader, |place| place_tx.blocking_send(place).is_ok())
    });
    let feeder = tokio::spawn(feed(db.clone(), tenant_id, import.id, chunk_tx));

    let mut skip = usize::try_from(import.rows_read).unwrap_or_default();
    let mut rows = import.rows_read;
    let mut batch = Vec::with_capacity(PLACES_PER_BATCH);
    while let Some(place) = place_rx.recv().await {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        batch.push(place);
        if batch.len() == PLACES_PER_BATCH {
            rows = write_places(db, tenant_id, import.id, rows, std::mem::take(&mut batch)).await?;
        }
    }
    let fed = feeder
        .await
        .map_err(|e| Error::Internal(format!("the import's reader stopped: {e}")))?;
    // A chunk that could not be read leaves the import for the worker to take over.
    fed?;
    if !batch.is_empty() {
        write_places(db, tenant_id, import.id, rows, batch).await?;
    }
    parser
        .await
        .map_err(|e| Error::Internal(format!("the import's parser stopped: {e}")))??;
    Ok(())
}

async fn run_vouchers(db: &Db, tenant_id: Uuid, import: &Import) -> Result<(), Stop> {
    let (Some(scheme_id), Some(prescriber_id)) = (import.scheme_id, import.prescriber_id) else {
        return Err(Error::Internal("a voucher import without its scheme".into()).into());
    };
    let mut tx = db.begin_tenant(tenant_id).await?;
    let chunks: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT data FROM import_chunks WHERE tenant_id = $2 AND import_id = $1 ORDER BY seq",
    )
    .bind(import.id)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let file = chunks.concat();
    let rows = bulk::people(&file)?;
    let (requested_by, role) = requester(db, tenant_id, import.id).await?;
    let mut issuer = Issuer::new(
        db,
        tenant_id,
        prescriber_id,
        Actor::stored(requested_by, &role),
        scheme_id,
    )
    .await?;
    let done = usize::try_from(import.rows_read).unwrap_or_default();
    let total = rows.len().max(1);
    let mut rows_before = import.rows_read;
    let mut pending: Vec<RowOutcome> = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        if i < done {
            issuer.seen_before(&row);
            continue;
        }
        pending.push(issuer.issue(row).await?);
        if pending.len() == VOUCHERS_PER_UPDATE {
            let reached = import.byte_size * (i as i64 + 1) / total as i64;
            rows_before = write_vouchers(
                db,
                tenant_id,
                import.id,
                rows_before,
                reached,
                std::mem::take(&mut pending),
            )
            .await?;
        }
    }
    if !pending.is_empty() {
        write_vouchers(
            db,
            tenant_id,
            import.id,
            rows_before,
            import.byte_size,
            pending,
        )
        .await?;
    }
    Ok(())
}

/// Writes the outcomes of vouchers already issued, and the counts. A voucher issued just before
/// a crash, whose outcome was not written, is reported "already held" when the import resumes:
/// nothing is issued twice.
async fn write_vouchers(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    rows_before: i32,
    bytes_read: i64,
    outcomes: Vec<RowOutcome>,
) -> Result<i32, Stop> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let mut tally = Tally {
        bytes_read,
        ..Tally::default()
    };
    for row in &outcomes {
        let outcome = match row.status {
            RowStatus::Issued => LineOutcome::Created,
            RowStatus::AlreadyIssued => LineOutcome::AlreadyHeld,
            RowStatus::Refused => LineOutcome::Refused,
        };
        tally.count(outcome);
        let message = row
            .refusal
            .as_ref()
            .map(|r| r.french())
            .or_else(|| row.reason.clone());
        write_line(
            &mut tx,
            tenant_id,
            id,
            row.line,
            outcome,
            None,
            None,
            row.reference.as_deref(),
            row.field.as_deref(),
            message.as_deref(),
            None,
        )
        .await?;
    }
    advance(&mut tx, id, rows_before, &tally).await?;
    tx.commit().await?;
    Ok(rows_before + tally.rows)
}

async fn requester(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<(Option<Uuid>, String), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let found = requester_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(found)
}

/// Ends the import (succeeded, or failed with the reason), drops its chunks, and records it in the
/// audit log with its counts.
async fn finish(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    error: Option<String>,
) -> Result<Option<Import>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let import: Option<Import> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE imports SET status = CASE WHEN $2::text IS NULL THEN 'succeeded' ELSE 'failed' END,
                            error = $2, finished_at = now(), heartbeat_at = now(),
                            bytes_read = CASE WHEN $2::text IS NULL THEN byte_size ELSE bytes_read END
          WHERE tenant_id = $3 AND id = $1 AND status = 'running'
          RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(&error)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(import) = import else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM import_chunks WHERE tenant_id = $2 AND import_id = $1")
        .bind(id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    let (requested_by, role) = requester_in(&mut tx, id).await?;
    let actor = Actor::stored(requested_by, &role);
    match import.kind {
        ImportKind::Epns => {
            places::record_imported(
                &mut tx,
                tenant_id,
                actor,
                import.created as usize,
                import.updated as usize,
                import.refused as usize,
            )
            .await?
        }
        ImportKind::Vouchers => {
            crate::audit::record(
                &mut tx,
                tenant_id,
                actor,
                "vouchers.bulk_imported",
                "scheme",
                import.scheme_id.unwrap_or_default(),
                serde_json::json!({ "file_sha256": import.file_sha256, "prescriber_id": import.prescriber_id,
                        "issued": import.created, "already_issued": import.updated, "refused": import.refused }),
            )
            .await?
        }
    }
    tx.commit().await?;
    Ok(Some(import))
}

async fn requester_in(tx: &mut Tx, id: Uuid) -> Result<(Option<Uuid>, String), Error> {
    Ok(sqlx::query_as(
        "SELECT requested_by, actor_role FROM imports WHERE tenant_id = $2 AND id = $1",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_one(&mut **tx)
    .await?)
}
