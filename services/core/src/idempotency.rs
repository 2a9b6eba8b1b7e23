//! Idempotency keys: the first response to a key is stored and replayed; the same key with another
//! request is refused; a key whose first request is still running is refused as a conflict.
//!
//! A key is claimed in its own committed transaction before the handler runs, so a concurrent
//! duplicate sees it at once. If the process dies after claiming, the claim's lease runs out and
//! the next retry takes the key over.
//!
//! A key belongs to one caller (a tenant user or a platform admin): the same key sent by someone
//! else is another key, so nobody is ever answered with another caller's response.

use sqlx::AssertSqlSafe;
use uuid::Uuid;

use crate::storage::Tx;
use crate::{Db, Error};

/// How long a claim protects a running request; longer than the API's request timeout.
pub const LEASE_SECONDS: i32 = 120;
/// How long a completed response is kept for replay.
pub const RETENTION_HOURS: i32 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Tenant(Uuid),
    Platform,
}

impl Scope {
    fn table(self) -> &'static str {
        match self {
            Scope::Tenant(_) => "idempotency_keys",
            Scope::Platform => "platform_idempotency_keys",
        }
    }

    /// The condition that names the scope's tenant, as parameter `$n` (bound to `tenant()`): the
    /// tenant table's statements carry it for Citus to route them; the platform's table has none.
    fn pin(self, n: usize) -> String {
        match self {
            Scope::Tenant(_) => format!("tenant_id = ${n}"),
            Scope::Platform => format!("${n}::uuid IS NULL"),
        }
    }

    fn tenant(self) -> Option<Uuid> {
        match self {
            Scope::Tenant(tenant_id) => Some(tenant_id),
            Scope::Platform => None,
        }
    }

    async fn begin(self, db: &Db) -> Result<Tx, Error> {
        match self {
            Scope::Tenant(tenant_id) => db.begin_tenant(tenant_id).await,
            Scope::Platform => db.begin_platform().await,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The first response carried a secret shown once: its body was not kept (`body` is empty)
    /// and a retry is told that the request already succeeded instead of being answered with it.
    pub withheld: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: run the request, then `complete` or `release`.
    Acquired,
    /// The key already holds a response for this same request.
    Replay(StoredResponse),
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key has not finished.
    InProgress,
}

type Row = (
    Vec<u8>,
    String,
    bool,
    Option<i16>,
    Option<serde_json::Value>,
    Option<Vec<u8>>,
    bool,
);

/// Claims `key` for `caller` (the user or platform admin who sent it).
pub async fn claim(
    db: &Db,
    scope: Scope,
    caller: Uuid,
    key: &str,
    fingerprint: &[u8],
) -> Result<Claim, Error> {
    let table = scope.table();
    let tenant_id = match scope {
        Scope::Tenant(id) => Some(id),
        Scope::Platform => None,
    };
    let mut tx = scope.begin(db).await?;
    let inserted = match tenant_id {
        Some(tenant_id) => sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, caller_id, key, fingerprint, state, locked_until)
             VALUES ($1, $2, $3, $4, 'running', now() + make_interval(secs => $5))
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(caller)
        .bind(key)
        .bind(fingerprint)
        .bind(LEASE_SECONDS)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        None => sqlx::query(
            "INSERT INTO platform_idempotency_keys (caller_id, key, fingerprint, state, locked_until)
             VALUES ($1, $2, $3, 'running', now() + make_interval(secs => $4))
             ON CONFLICT DO NOTHING",
        )
        .bind(caller)
        .bind(key)
        .bind(fingerprint)
        .bind(LEASE_SECONDS)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
    };
    if inserted == 1 {
        tx.commit().await?;
        return Ok(Claim::Acquired);
    }

    let (stored_fingerprint, state, lease_expired, status, headers, body, withheld): Row =
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT fingerprint, state, locked_until < now(), response_status, response_headers,
                    response_body, response_withheld
               FROM {table} WHERE {pin} AND caller_id = $1 AND key = $2 FOR UPDATE",
            pin = scope.pin(3)
        )))
        .bind(caller)
        .bind(key)
        .bind(scope.tenant())
        .fetch_one(&mut *tx)
        .await?;

    let claim = if stored_fingerprint != fingerprint {
        Claim::Mismatch
    } else if state == "completed" {
        Claim::Replay(StoredResponse {
            status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(500),
            headers: headers
                .and_then(|h| serde_json::from_value(h).ok())
                .unwrap_or_default(),
            body: body.unwrap_or_default(),
            withheld,
        })
    } else if lease_expired {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET locked_until = now() + make_interval(secs => $3)
              WHERE {pin} AND caller_id = $1 AND key = $2",
            pin = scope.pin(4)
        )))
        .bind(caller)
        .bind(key)
        .bind(LEASE_SECONDS)
        .bind(scope.tenant())
        .execute(&mut *tx)
        .await?;
        Claim::Acquired
    } else {
        Claim::InProgress
    };
    tx.commit().await?;
    Ok(claim)
}

/// Stores the response of the request that holds the key (without its body when `withheld`).
pub async fn complete(
    db: &Db,
    scope: Scope,
    caller: Uuid,
    key: &str,
    response: &StoredResponse,
) -> Result<(), Error> {
    let headers = serde_json::to_value(&response.headers).unwrap_or_default();
    let body: &[u8] = if response.withheld {
        &[]
    } else {
        &response.body
    };
    let mut tx = scope.begin(db).await?;
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {} SET state = 'completed', response_status = $3, response_headers = $4,
                response_body = $5, response_withheld = $6
          WHERE {} AND caller_id = $1 AND key = $2",
        scope.table(),
        scope.pin(7)
    )))
    .bind(caller)
    .bind(key)
    .bind(i16::try_from(response.status).unwrap_or(500))
    .bind(headers)
    .bind(body)
    .bind(response.withheld)
    .bind(scope.tenant())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Gives the key up (after a server error) so that a retry runs the request again.
pub async fn release(db: &Db, scope: Scope, caller: Uuid, key: &str) -> Result<(), Error> {
    let mut tx = scope.begin(db).await?;
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM {} WHERE {} AND caller_id = $1 AND key = $2 AND state = 'running'",
        scope.table(),
        scope.pin(3)
    )))
    .bind(caller)
    .bind(key)
    .bind(scope.tenant())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes keys older than the retention period; returns how many were removed.
pub async fn purge_expired(db: &Db, scope: Scope) -> Result<u64, Error> {
    let mut tx = scope.begin(db).await?;
    let removed = sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM {} WHERE {} AND created_at < now() - make_interval(hours => $1)",
        scope.table(),
        scope.pin(2)
    )))
    .bind(RETENTION_HOURS)
    .bind(scope.tenant())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(removed)
}
