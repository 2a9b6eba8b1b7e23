//! The outbox rows themselves: written in the transaction that makes a message due, handed to
//! the queue by the relay, and finished by the sending job. A row is `pending`, `sent`, `failed`
//! (with its reason) or `cancelled` (with its reason): nothing disappears.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::pagination::{Page, PageRequest};
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::{Db, Error};

pub use super::status::EmailStatus;

vocabulary! {
    /// What an email is about; stored as its snake_case name.
    pub enum Kind {
        Welcome,
        Reminder,
        Expired,
        PrescriberDigest,
        /// A tenant admin invites a new portal user to choose a password.
        Invitation,
        /// A portal user asked for a link to choose a new password.
        PasswordReset,
        /// The person who filled the public form: their request was received.
        RequestReceived,
        /// The person who filled the public form: their request was declined, and why.
        RequestDeclined,
        /// The EPN's contact: a statement was approved, the transfer will follow.
        StatementApproved,
        /// The EPN's contact: a statement was paid, with the transfer's date and reference.
        StatementPaid,
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub kind: Kind,
    pub reminder_days: Option<i32>,
    pub voucher_id: Option<Uuid>,
    pub prescriber_id: Option<Uuid>,
    pub digest_on: Option<NaiveDate>,
    /// The portal user an invitation or a password-reset email is for.
    pub user_id: Option<Uuid>,
    /// The public request a confirmation or a refusal is about.
    pub accompaniment_request_id: Option<Uuid>,
    /// The statement an EPN is told about.
    pub statement_id: Option<Uuid>,
    pub status: EmailStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub enqueued_at: Option<DateTime<Utc>>,
    pub recipient: Option<String>,
    pub last_error: Option<String>,
    pub retrying_since: Option<DateTime<Utc>>,
    pub smtp_message_id: Option<String>,
    pub smtp_response: Option<String>,
    pub unsubscribe_key: Uuid,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, kind, reminder_days, voucher_id, prescriber_id, digest_on, user_id, accompaniment_request_id, statement_id, status, attempts, \
                       next_attempt_at, enqueued_at, recipient, last_error, retrying_since, smtp_message_id, smtp_response, \
                       unsubscribe_key, created_at, sent_at, finished_at";

/// Makes a message to the EPN about its statement due, in the transaction that approves or pays
/// it; the same news twice adds nothing.
pub(crate) async fn add_statement_news(
    tx: &mut Tx,
    tenant_id: Uuid,
    statement_id: Uuid,
    kind: Kind,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO email_outbox (tenant_id, id, kind, statement_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(kind)
    .bind(statement_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Makes the welcome message due, in the issuing transaction, when the holder gave an address and
/// consented to receive emails.
pub(crate) async fn add_welcome(
    tx: &mut Tx,
    tenant_id: Uuid,
    voucher_id: Uuid,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO email_outbox (tenant_id, id, kind, voucher_id) VALUES ($1, $2, 'welcome', $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(voucher_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct EmailFilter {
    pub status: Option<EmailStatus>,
    pub kind: Option<Kind>,
    pub voucher_id: Option<Uuid>,
    /// Newest first (a person reading the log), instead of oldest first.
    pub newest_first: bool,
}

/// Messages, oldest first unless the filter asks for the newest first; the cursor continues in
/// the same order.
pub async fn list(
    db: &Db,
    tenant_id: Uuid,
    filter: &EmailFilter,
    page: PageRequest,
) -> Result<Page<OutboxMessage>, Error> {
    let (after, order) = if filter.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<OutboxMessage> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM email_outbox
         WHERE tenant_id = $6 AND ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2)
           AND ($3::uuid IS NULL OR voucher_id = $3) AND ($4::uuid IS NULL OR id {after} $4)
         ORDER BY id {order} LIMIT $5"
    )))
    .bind(filter.status)
    .bind(filter.kind)
    .bind(filter.voucher_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |m| m.id))
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<OutboxMessage, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let message = fetch(&mut tx, id).await?;
    tx.commit().await?;
    message.ok_or(Error::NotFound("email"))
}

pub async fn fetch(tx: &mut Tx, id: Uuid) -> Result<Option<OutboxMessage>, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM email_outbox WHERE tenant_id = $2 AND id = $1"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?)
}

/// A tenant admin sends a failed or cancelled message again, typically after correcting the
/// address: the address recorded on the message leaves the suppression list.
pub async fn retry(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
) -> Result<OutboxMessage, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let message = sqlx::query_as::<_, OutboxMessage>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM email_outbox WHERE tenant_id = $2 AND id = $1 FOR UPDATE"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("email"))?;
    if !message.status.can_be_retried() {
        return Err(Refusal::EmailNotRetryable {
            status: message.status,
        }
        .into());
    }
    if let Some(recipient) = &message.recipient {
        sqlx::query("DELETE FROM email_suppressions WHERE tenant_id = $2 AND address = lower($1)")
            .bind(recipient)
            .bind(tx.tenant_id())
            .execute(&mut *tx)
            .await?;
    }
    let retried: OutboxMessage = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE email_outbox SET status = 'pending', next_attempt_at = now(), enqueued_at = NULL,
                finished_at = NULL, retrying_since = NULL
         WHERE tenant_id = $2 AND id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "email.retried",
        "email",
        id,
        json!({ "previous_status": message.status, "last_error": message.last_error }),
    )
    .await?;
    tx.commit().await?;
    Ok(retried)
}

/// Hands due rows to the relay: pending, due, and either never queued or queued so long ago that
/// the job must have been lost (Redis flushed, worker killed). Rows locked by a sender are skipped.
pub async fn take_for_relay(
    tx: &mut Tx,
    requeue_after: std::time::Duration,
    limit: i64,
) -> Result<Vec<Uuid>, Error> {
    let requeue_after_ms = i64::try_from(requeue_after.as_millis()).unwrap_or(i64::MAX);
    Ok(sqlx::query_scalar(
        "UPDATE email_outbox SET enqueued_at = now()
         WHERE tenant_id = $3
           AND id IN (SELECT id FROM email_outbox
                      WHERE tenant_id = $3 AND status = 'pending' AND next_attempt_at <= now()
                        AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => $1::double precision / 1000))
                      ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id",
    )
    .bind(requeue_after_ms)
    .bind(limit)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?)
}

/// Locks a message for sending. `None` when it is no longer pending, not yet due, or being sent
/// by another worker right now: the job then has nothing to do.
pub async fn lock_for_sending(tx: &mut Tx, id: Uuid) -> Result<Option<OutboxMessage>, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM email_outbox
         WHERE tenant_id = $2 AND id = $1 AND status = 'pending' AND next_attempt_at <= now()
         FOR UPDATE SKIP LOCKED"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?)
}

pub async fn mark_sent(
    tx: &mut Tx,
    id: Uuid,
    recipient: &str,
    smtp_message_id: &str,
    smtp_response: &str,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE email_outbox SET status = 'sent', attempts = attempts + 1, recipient = $2, smtp_message_id = $3,
                smtp_response = $4, last_error = NULL, sent_at = now(), finished_at = now()
         WHERE tenant_id = $5 AND id = $1",
    )
    .bind(id)
    .bind(recipient)
    .bind(smtp_message_id)
    .bind(smtp_response)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A transient failure: the relay hands the row back to the queue at `next_attempt_at`.
pub async fn mark_for_retry(
    tx: &mut Tx,
    id: Uuid,
    recipient: Option<&str>,
    error: &str,
    next_attempt_at: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE email_outbox SET attempts = attempts + 1, recipient = coalesce($2, recipient), last_error = $3,
                next_attempt_at = $4, enqueued_at = NULL, retrying_since = least(retrying_since, now())
         WHERE tenant_id = $5 AND id = $1",
    )
    .bind(id)
    .bind(recipient)
    .bind(error)
    .bind(next_attempt_at)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A permanent failure, or transient ones for longer than the retry window. A permanent refusal
/// of the address also puts it on the tenant's suppression list.
pub async fn mark_failed(
    tx: &mut Tx,
    tenant_id: Uuid,
    id: Uuid,
    recipient: Option<&str>,
    error: &str,
    suppress: bool,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE email_outbox SET status = 'failed', attempts = attempts + 1, recipient = coalesce($2, recipient),
                last_error = $3, finished_at = now()
         WHERE tenant_id = $4 AND id = $1",
    )
    .bind(id)
    .bind(recipient)
    .bind(error)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    if suppress && let Some(address) = recipient {
        // `EXCLUDED.created_at` is the column's default, now(), which Citus accepts in `DO UPDATE`.
        sqlx::query(
            "INSERT INTO email_suppressions (tenant_id, address, reason, message_id) VALUES ($1, lower($2), $3, $4)
             ON CONFLICT (tenant_id, address) DO UPDATE SET reason = EXCLUDED.reason, message_id = EXCLUDED.message_id,
                                                            created_at = EXCLUDED.created_at",
        )
        .bind(tenant_id)
        .bind(address)
        .bind(error)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Nothing to send any more (consent withdrawn, voucher closed, address suppressed).
pub async fn mark_cancelled(tx: &mut Tx, id: Uuid, reason: &str) -> Result<(), Error> {
    sqlx::query(
        "UPDATE email_outbox SET status = 'cancelled', last_error = $2, finished_at = now() WHERE tenant_id = $3 AND id = $1",
    )
    .bind(id)
    .bind(reason)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn is_suppressed(tx: &mut Tx, address: &str) -> Result<bool, Error> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM email_suppressions WHERE tenant_id = $2 AND address = lower($1))",
    )
    .bind(address)
    .bind(tx.tenant_id())
    .fetch_one(&mut **tx)
    .await?)
}

/// Tenants with messages the relay should look at, so that it visits only those.
pub async fn tenants_with_due_messages(db: &Db) -> Result<Vec<Uuid>, Error> {
    crate::tenancy::tenants::where_any(
        db,
        "SELECT EXISTS (SELECT 1 FROM email_outbox
                         WHERE tenant_id = $1 AND status = 'pending' AND next_attempt_at <= now())",
    )
    .await
}
