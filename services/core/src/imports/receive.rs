//! Storing an upload as it streams in.

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use uuid::Uuid;

use super::{COLUMNS, Import, ImportKind};
use crate::audit::Actor;
use crate::{Db, Error, FieldRule};

/// The largest file an import takes: the national file of places is a few tens of megabytes.
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;

/// Stored chunks are this size: a 50 MB file is 50 rows of `import_chunks`.
pub(crate) const CHUNK_BYTES: usize = 1024 * 1024;

/// What a file imports into.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Epns,
    /// Vouchers of this scheme, issued by this prescriber organisation from its allocation.
    Vouchers {
        scheme_id: Uuid,
        prescriber_id: Uuid,
    },
}

impl Target {
    fn kind(self) -> ImportKind {
        match self {
            Target::Epns => ImportKind::Epns,
            Target::Vouchers { .. } => ImportKind::Vouchers,
        }
    }
}

/// Reads the next chunk of `file`: `CHUNK_BYTES`, or less at the end of the file.
async fn next_chunk(file: &mut (impl AsyncRead + Unpin)) -> Result<Vec<u8>, Error> {
    let mut chunk = Vec::with_capacity(CHUNK_BYTES);
    let mut piece = vec![0u8; 64 * 1024];
    while chunk.len() < CHUNK_BYTES {
        let want = (CHUNK_BYTES - chunk.len()).min(piece.len());
        let n = file
            .read(&mut piece[..want])
            .await
            .map_err(|e| Error::invalid("file", format!("could not read the file: {e}")))?;
        if n == 0 {
            break;
        }
        chunk.extend_from_slice(&piece[..n]);
    }
    Ok(chunk)
}

/// The file's first line, where its columns are named.
fn header_line(first_chunk: &[u8]) -> &[u8] {
    let end = first_chunk
        .iter()
        .position(|b| *b == b'\n' || *b == b'\r')
        .unwrap_or(first_chunk.len());
    &first_chunk[..end]
}

/// Refuses at once a file whose header is not the import's format.
fn check_header(target: Target, first_chunk: &[u8]) -> Result<(), Error> {
    let header = header_line(first_chunk);
    match target {
        Target::Epns => crate::epns::import::read_places(header, |_| false),
        Target::Vouchers { .. } => crate::vouchers::bulk::people(header).map(|_| ()),
    }
}

/// Stores a file streaming in, chunk by chunk, and queues its import. Nothing is kept of a file
/// refused here: too large, empty, or whose header is not the format.
pub async fn receive(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    target: Target,
    file_name: Option<String>,
    mut file: impl AsyncRead + Unpin,
    max_bytes: usize,
) -> Result<Import, Error> {
    let id = Uuid::now_v7();
    let (scheme_id, prescriber_id) = match target {
        Target::Epns => (None, None),
        Target::Vouchers {
            scheme_id,
            prescriber_id,
        } => (Some(scheme_id), Some(prescriber_id)),
    };
    let file_name = file_name
        .map(|n| n.chars().take(255).collect::<String>())
        .filter(|n| !n.trim().is_empty());
    let mut tx = db.begin_tenant(tenant_id).await?;
    sqlx::query(
        "INSERT INTO imports (tenant_id, id, kind, file_name, byte_size, file_sha256, scheme_id, prescriber_id,
                              requested_by, actor_role)
         VALUES ($1, $2, $3, $4, 0, '', $5, $6, $7, $8)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(target.kind())
    .bind(&file_name)
    .bind(scheme_id)
    .bind(prescriber_id)
    .bind(actor.user_id)
    .bind(actor.role)
    .execute(&mut *tx)
    .await?;
    let mut sha = Sha256::new();
    let mut total = 0usize;
    let mut seq = 0i32;
    loop {
        let chunk = next_chunk(&mut file).await?;
        if chunk.is_empty() {
            break;
        }
        total += chunk.len();
        if total > max_bytes {
            return Err(Error::breaks(
                "file",
                FieldRule::FileTooLarge {
                    max_megabytes: max_bytes / (1024 * 1024),
                },
            ));
        }
        if seq == 0 {
            check_header(target, &chunk)?;
        }
        sha.update(&chunk);
        sqlx::query(
            "INSERT INTO import_chunks (tenant_id, import_id, seq, data) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(seq)
        .bind(&chunk)
        .execute(&mut *tx)
        .await?;
        seq += 1;
    }
    if total == 0 {
        return Err(Error::breaks("file", FieldRule::EmptyFile));
    }
    let import = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE imports SET byte_size = $2, file_sha256 = $3 WHERE tenant_id = $4 AND id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(total as i64)
    .bind(hex::encode(sha.finalize()))
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(import)
}
