//! Single-use links sent by email: the invitation a tenant admin sends to a new portal user, and the
//! link to choose a new password. The email is made due here; the link's secret is made by the
//! worker when it writes the email (`create`), so that it is never stored in clear — only its hash,
//! with its expiry and its use.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::accounts::{
    hash_password, hash_secret, random_secret, store_password, validate_password,
};
use crate::audit::{self, Actor};
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::{Db, Error};

/// How long an invitation link stays usable.
pub const INVITATION_DAYS: i64 = 7;
/// How long a password-reset link stays usable.
pub const RESET_MINUTES: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Invitation,
    PasswordReset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Invitation => "invitation",
            Purpose::PasswordReset => "password_reset",
        }
    }

    fn lifetime(self) -> Duration {
        match self {
            Purpose::Invitation => Duration::days(INVITATION_DAYS),
            Purpose::PasswordReset => Duration::minutes(RESET_MINUTES),
        }
    }
}

async fn make_due(
    tx: &mut Tx,
    tenant_id: Uuid,
    user_id: Uuid,
    purpose: Purpose,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO email_outbox (tenant_id, id, kind, user_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(purpose.as_str())
    .bind(user_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Makes the invitation email due for a user of the tenant (sent again when asked again).
pub async fn invite(db: &Db, tenant_id: Uuid, actor: Actor, user_id: Uuid) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    invite_in(&mut tx, tenant_id, actor, user_id).await?;
    tx.commit().await?;
    Ok(())
}

/// `invite`, inside the caller's transaction (a user created and invited at once).
pub(crate) async fn invite_in(
    tx: &mut Tx,
    tenant_id: Uuid,
    actor: Actor,
    user_id: Uuid,
) -> Result<(), Error> {
    let disabled: Option<bool> = sqlx::query_scalar(
        "SELECT disabled_at IS NOT NULL FROM users WHERE tenant_id = $2 AND id = $1 FOR UPDATE",
    )
    .bind(user_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?;
    match disabled {
        None => return Err(Error::NotFound("user")),
        Some(true) => return Err(Refusal::UserDisabled.into()),
        Some(false) => {}
    }
    make_due(tx, tenant_id, user_id, Purpose::Invitation).await?;
    audit::record(
        tx,
        tenant_id,
        actor,
        "user.invited",
        "user",
        user_id,
        json!({}),
    )
    .await?;
    Ok(())
}

/// Asks for a password-reset email to `email`, when it is the address of an active user of the
/// tenant. The caller answers the same whether or not it is, so that the form tells nobody which
/// addresses have an account.
pub async fn request_reset(db: &Db, tenant_id: Uuid, email: &str) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let user_id: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM users WHERE tenant_id = $2 AND lower(email) = lower($1) AND disabled_at IS NULL",
    )
    .bind(email.trim())
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(user_id) = user_id {
        make_due(&mut tx, tenant_id, user_id, Purpose::PasswordReset).await?;
        audit::record(
            &mut tx,
            tenant_id,
            Actor::SYSTEM,
            "user.password_reset_requested",
            "user",
            user_id,
            json!({}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A new link for the email being written, in the sending transaction: its secret (for the URL)
/// and when it expires.
pub(crate) async fn create(
    tx: &mut Tx,
    tenant_id: Uuid,
    user_id: Uuid,
    purpose: Purpose,
) -> Result<(String, DateTime<Utc>), Error> {
    let secret = random_secret();
    let expires_at = Utc::now() + purpose.lifetime();
    sqlx::query(
        "INSERT INTO account_links (tenant_id, id, user_id, purpose, secret_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(hash_secret(&secret))
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok((secret, expires_at))
}

/// Whom a valid link is for.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkHolder {
    pub link_id: Uuid,
    pub user_id: Uuid,
    pub purpose: String,
    pub display_name: String,
    pub email: String,
    pub role: String,
}

async fn holder(tx: &mut Tx, secret: &str, lock: bool) -> Result<Option<LinkHolder>, Error> {
    let lock = if lock { " FOR UPDATE OF l" } else { "" };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT l.id AS link_id, l.user_id, l.purpose, u.display_name, u.email, u.role
           FROM account_links l JOIN users u ON u.tenant_id = l.tenant_id AND u.id = l.user_id
          WHERE l.tenant_id = $2 AND l.secret_hash = $1 AND l.used_at IS NULL AND l.expires_at > now() AND u.disabled_at IS NULL{lock}"
    )))
    .bind(hash_secret(secret))
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?)
}

/// The user a link is for, while it is unused, unexpired and its user active.
pub async fn check(db: &Db, tenant_id: Uuid, secret: &str) -> Result<Option<LinkHolder>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let found = holder(&mut tx, secret, false).await?;
    tx.commit().await?;
    Ok(found)
}

/// Sets the password through a link, which is then used up with every other open link of the
/// user. `None` when the link is no longer valid.
pub async fn use_link(
    db: &Db,
    tenant_id: Uuid,
    secret: &str,
    password: &str,
) -> Result<Option<LinkHolder>, Error> {
    validate_password(password)?;
    let phc = hash_password(password.to_owned()).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let Some(found) = holder(&mut tx, secret, true).await? else {
        return Ok(None);
    };
    sqlx::query("UPDATE account_links SET used_at = now() WHERE tenant_id = $2 AND user_id = $1 AND used_at IS NULL")
        .bind(found.user_id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    // The person who received the link acts on their own account.
    let actor = Actor {
        user_id: Some(found.user_id),
        role: found
            .role
            .parse::<super::Role>()
            .map_or("system", super::Role::as_str),
    };
    store_password(&mut tx, tenant_id, actor, found.user_id, &phc).await?;
    tx.commit().await?;
    Ok(Some(found))
}
