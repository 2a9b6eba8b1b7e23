//! Opaque bearer tokens: 32 random bytes shown once, stored as a SHA-256 hash.
//!
//! A tenant token reads `pst_<tenant id>_<secret>` and a platform token `psp_<secret>`: the tenant
//! id in clear lets authentication open a transaction scoped to that tenant before looking the
//! hash up, so even token lookup runs under row-level security. The id is not a secret; the 256
//! random bits are.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Principal;
use super::users::{self, RoleColumn};
use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::pagination::{Page, PageRequest};
use crate::refusal::Refusal;
use crate::storage::{Change, Tx};
use crate::{Db, Error};
use serde_json::json;

const TENANT_PREFIX: &str = "pst_";
const PLATFORM_PREFIX: &str = "psp_";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A token just created: the only moment its secret exists outside the caller's hands.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub info: TokenInfo,
    pub secret: String,
}

#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewToken {
    fn validate(&self) -> Result<(), Error> {
        let mut v = Validator::default();
        v.check(
            !self.name.trim().is_empty() && self.name.chars().count() <= 100,
            "name",
            "between 1 and 100 characters",
        )
        .check(
            self.expires_at.is_none_or(|at| at > Utc::now()),
            "expires_at",
            "must be in the future",
        );
        v.finish()
    }
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub async fn issue_for_user(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    user_id: Uuid,
    new: &NewToken,
) -> Result<IssuedToken, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let issued = insert_for_user(&mut tx, tenant_id, actor, user_id, new).await?;
    tx.commit().await?;
    Ok(issued)
}

pub(crate) async fn insert_for_user(
    tx: &mut Tx,
    tenant_id: Uuid,
    actor: Actor,
    user_id: Uuid,
    new: &NewToken,
) -> Result<IssuedToken, Error> {
    new.validate()?;
    let user = users::fetch(tx, user_id).await?;
    if user.disabled_at.is_some() {
        return Err(Refusal::UserDisabled.into());
    }
    let secret = format!("{TENANT_PREFIX}{}_{}", tenant_id.simple(), random_secret());
    let info: TokenInfo = sqlx::query_as(
        "INSERT INTO api_tokens (tenant_id, id, user_id, name, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, user_id, name, created_at, last_used_at, expires_at, revoked_at",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(new.name.trim())
    .bind(hash(&secret))
    .bind(new.expires_at)
    .fetch_one(&mut **tx)
    .await?;
    audit::record(
        tx,
        tenant_id,
        actor,
        "token.created",
        "api_token",
        info.id,
        json!({ "user_id": user_id, "name": info.name, "expires_at": info.expires_at }),
    )
    .await?;
    Ok(IssuedToken { info, secret })
}

pub async fn list_for_user(
    db: &Db,
    tenant_id: Uuid,
    user_id: Uuid,
    page: PageRequest,
) -> Result<Page<TokenInfo>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    users::fetch(&mut tx, user_id).await?;
    let rows: Vec<TokenInfo> = sqlx::query_as(
        "SELECT id, user_id, name, created_at, last_used_at, expires_at, revoked_at
           FROM api_tokens WHERE tenant_id = $4 AND user_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
    )
    .bind(user_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |t| t.id))
}

/// Revokes a token of the tenant; with `owner`, only if it belongs to that user.
pub async fn revoke(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    owner: Option<Uuid>,
    token_id: Uuid,
) -> Result<TokenInfo, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let token: TokenInfo = sqlx::query_as(
        "UPDATE api_tokens SET revoked_at = least(revoked_at, now())
          WHERE tenant_id = $3 AND id = $1 AND ($2::uuid IS NULL OR user_id = $2)
         RETURNING id, user_id, name, created_at, last_used_at, expires_at, revoked_at",
    )
    .bind(token_id)
    .bind(owner)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("token"))?;
    tx.changed(Change::TenantPrincipals(tenant_id)).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "token.revoked",
        "api_token",
        token_id,
        json!({ "user_id": token.user_id, "name": token.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Revokes an operator token (CLI only).
pub async fn revoke_platform(db: &Db, token_id: Uuid) -> Result<(), Error> {
    let mut tx = db.begin_platform().await?;
    let revoked = sqlx::query(
        "UPDATE platform_tokens SET revoked_at = least(revoked_at, now()) WHERE id = $1",
    )
    .bind(token_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.changed(Change::PlatformPrincipals).await?;
    tx.commit().await?;
    if revoked == 0 {
        return Err(Error::NotFound("token"));
    }
    Ok(())
}

/// Creates a platform admin (if new) and a token for them. Only the CLI calls this: there is no
/// API that mints operator credentials.
pub async fn issue_platform(
    db: &Db,
    email: &str,
    display_name: &str,
    new: &NewToken,
) -> Result<IssuedToken, Error> {
    new.validate()?;
    let mut tx = db.begin_platform().await?;
    let admin_id: Uuid = sqlx::query_scalar(
        "INSERT INTO platform_admins (id, email, display_name) VALUES ($1, $2, $3)
         ON CONFLICT (lower(email)) DO UPDATE SET display_name = EXCLUDED.display_name
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(email)
    .bind(display_name)
    .fetch_one(&mut *tx)
    .await?;
    let secret = format!("{PLATFORM_PREFIX}{}", random_secret());
    let info = sqlx::query_as(
        "INSERT INTO platform_tokens (id, admin_id, name, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, admin_id AS user_id, name, created_at, last_used_at, expires_at, revoked_at",
    )
    .bind(Uuid::now_v7())
    .bind(admin_id)
    .bind(new.name.trim())
    .bind(hash(&secret))
    .bind(new.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(IssuedToken { info, secret })
}

/// Deletes the named tokens of a user: used by the demo seed so that re-running it replaces the
/// demo tokens instead of piling them up.
pub(crate) async fn delete_named(tx: &mut Tx, user_id: Uuid, name: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM api_tokens WHERE tenant_id = $3 AND user_id = $1 AND name = $2")
        .bind(user_id)
        .bind(name)
        .bind(tx.tenant_id())
        .execute(&mut **tx)
        .await?;
    let tenant_id = tx.tenant_id();
    tx.changed(Change::TenantPrincipals(tenant_id)).await?;
    Ok(())
}

pub(crate) async fn delete_named_platform(
    tx: &mut Tx,
    email: &str,
    name: &str,
) -> Result<(), Error> {
    sqlx::query(
        "DELETE FROM platform_tokens t USING platform_admins a
          WHERE t.admin_id = a.id AND lower(a.email) = lower($1) AND t.name = $2",
    )
    .bind(email)
    .bind(name)
    .execute(&mut **tx)
    .await?;
    tx.changed(Change::PlatformPrincipals).await?;
    Ok(())
}

/// Resolves a bearer token to its principal, or `None` when it is unknown, revoked, expired, or
/// its user is disabled. Records the last use at most once a minute per token.
///
/// A principal found is kept in the process's memory (`storage::memory`) until its tenant's users
/// or tokens change, the token expires, or `KEPT_FOR` passes: then PostgreSQL is asked again.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<Principal>, Error> {
    let token_hash = hash(token);
    if let Some(principal) = db.memory().principal(&token_hash) {
        return Ok(Some(principal));
    }
    let read_at = db.memory().generation();
    let found = if let Some(rest) = token.strip_prefix(TENANT_PREFIX) {
        let Some((tenant, _secret)) = rest.split_once('_') else {
            return Ok(None);
        };
        let Ok(tenant_id) = Uuid::try_parse(tenant) else {
            return Ok(None);
        };
        authenticate_tenant(db, tenant_id, &token_hash).await?
    } else if token.starts_with(PLATFORM_PREFIX) {
        authenticate_platform(db, &token_hash).await?
    } else {
        None
    };
    Ok(found.map(|(principal, expires_at)| {
        db.memory()
            .keep_principal(read_at, token_hash, principal.clone(), expires_at);
        principal
    }))
}

#[derive(sqlx::FromRow)]
struct TokenOwner {
    token_id: Uuid,
    expires_at: Option<DateTime<Utc>>,
    /// Whether `last_used_at` is old enough to be worth a write.
    stale: bool,
    user_id: Uuid,
    role: String,
    prescriber_id: Option<Uuid>,
    epn_id: Option<Uuid>,
}

/// The token's principal and its expiry.
type Found = Option<(Principal, Option<DateTime<Utc>>)>;

async fn authenticate_tenant(db: &Db, tenant_id: Uuid, token_hash: &[u8]) -> Result<Found, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let row: Option<TokenOwner> = sqlx::query_as(
        "SELECT t.id AS token_id, t.expires_at, t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute' AS stale,
                u.id AS user_id, u.role, u.prescriber_id, u.epn_id
           FROM api_tokens t JOIN users u ON u.tenant_id = t.tenant_id AND u.id = t.user_id
          WHERE t.tenant_id = $2 AND t.token_hash = $1 AND t.revoked_at IS NULL
            AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.disabled_at IS NULL",
    )
    .bind(token_hash)
    .bind(tenant_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(TokenOwner {
        token_id,
        expires_at,
        stale,
        user_id,
        role,
        prescriber_id,
        epn_id,
    }) = row
    else {
        return Ok(None);
    };
    let RoleColumn(role) = RoleColumn::try_from(role)
        .map_err(|e| Error::Internal(format!("corrupt user record: {e}")))?;
    if stale {
        sqlx::query("UPDATE api_tokens SET last_used_at = now() WHERE tenant_id = $2 AND id = $1")
            .bind(token_id)
            .bind(tx.tenant_id())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let principal = Principal::Tenant {
        tenant_id,
        user_id,
        token_id,
        role,
        prescriber_id,
        epn_id,
    };
    Ok(Some((principal, expires_at)))
}

async fn authenticate_platform(db: &Db, token_hash: &[u8]) -> Result<Found, Error> {
    let mut tx = db.begin_platform().await?;
    let row: Option<(Uuid, Uuid, Option<DateTime<Utc>>, bool)> = sqlx::query_as(
        "SELECT id, admin_id, expires_at, last_used_at IS NULL OR last_used_at < now() - interval '1 minute'
           FROM platform_tokens
          WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((token_id, admin_id, expires_at, stale)) = row else {
        return Ok(None);
    };
    if stale {
        sqlx::query("UPDATE platform_tokens SET last_used_at = now() WHERE id = $1")
            .bind(token_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Some((
        Principal::Platform { admin_id, token_id },
        expires_at,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_distinct() {
        let a = random_secret();
        let b = random_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 32);
    }
}
