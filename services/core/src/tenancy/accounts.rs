//! Browser accounts: a password per user, sign-in, and server-side sessions. API tokens stay for
//! machines. Repeated failures are slowed down by the caller (the API's sign-in throttle, per
//! address and per account and address): an account is never locked, so nobody can lock another
//! person out by failing on purpose.
//!
//! A session cookie reads `pws_<tenant id>_<secret>`, like a tenant token: the tenant id in clear
//! opens a transaction scoped to that tenant before the secret's hash is looked up, so even the
//! session lookup runs under row-level security. Each session carries its own CSRF token, which
//! every form sends back.
//!
//! Passwords are hashed with argon2id (the `argon2` crate's defaults: 19 MiB, two passes) on a
//! blocking thread. A sign-in with an unknown address verifies against a fixed hash all the same,
//! so that the answer and its time do not tell which addresses have an account.
//!
//! Hashing is gated: it runs on a few threads of its own (half the cores), a few more hashes may
//! wait for their turn, and past that a sign-in is answered `Busy` at once. Without the gate, a burst of sign-ins
//! (each hash holds 19 MiB) took the process to gigabytes and every tenant's requests to seconds.
//! No database connection is held while a hash runs: the hash is read in one short transaction,
//! the outcome written in another.

use std::sync::OnceLock;

use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Principal;
use super::users::RoleColumn;
use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::{Db, Error};

const COOKIE_PREFIX: &str = "pws_";
/// A session ends this long after sign-in, whatever happens.
pub const SESSION_HOURS: i64 = 12;
/// A session ends after this long without a request: long enough for an animator to tick the
/// sheet at the end of a two-hour session opened at its start, short enough that a forgotten
/// browser in a shared space does not stay signed in for the day.
pub const IDLE_MINUTES: i32 = 150;
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 200;

/// A session just opened: the cookie's value and the token its forms send back.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub cookie: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub enum SignIn {
    Opened(WebSession),
    /// Wrong address or wrong password: the same answer for both.
    Refused,
    /// Too many passwords are being checked right now: try again in a moment.
    Busy,
}

/// Where passwords are hashed: a few threads of their own (half the cores, at least one) at the
/// lowest scheduling priority, so that hashing never takes the cores from the requests, and each
/// thread's allocator keeps one 19 MiB buffer at most (on tokio's blocking pool, every one of
/// hundreds of threads kept its own).
/// `QUEUED_PER_THREAD` more wait their turn; past that a sign-in is `Busy` at once.
struct HashPool {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
    in_flight: AtomicUsize,
    limit: usize,
}

const QUEUED_PER_THREAD: usize = 4;

fn hash_pool() -> &'static HashPool {
    static POOL: OnceLock<HashPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (cores / 2).max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || {
                    // The lowest priority: under a burst of sign-ins, hashing gets what the
                    // requests leave of the cores, never the other way round.
                    if let Err(e) = thread_priority::set_current_thread_priority(
                        thread_priority::ThreadPriority::Min,
                    ) {
                        tracing::warn!(error = ?e, "cannot lower the password hashing thread's priority");
                    }
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        HashPool {
            jobs,
            in_flight: AtomicUsize::new(0),
            limit: threads * (1 + QUEUED_PER_THREAD),
        }
    })
}

/// Whether a password check would be turned away right now (the sign-in form answers `Busy`
/// without doing anything else).
pub fn hashing_saturated() -> bool {
    let pool = hash_pool();
    pool.in_flight.load(Ordering::Relaxed) >= pool.limit
}

/// Runs `work` on a hashing thread, or `None` at once when the threads and their queue are full.
async fn on_hash_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let pool = hash_pool();
    if pool.in_flight.fetch_add(1, Ordering::AcqRel) >= pool.limit {
        pool.in_flight.fetch_sub(1, Ordering::AcqRel);
        return None;
    }
    let (done, result) = tokio::sync::oneshot::channel();
    let job = Box::new(move || {
        let _ = done.send(work());
        hash_pool().in_flight.fetch_sub(1, Ordering::AcqRel);
    });
    if pool.jobs.send(job).is_err() {
        pool.in_flight.fetch_sub(1, Ordering::AcqRel);
        return None;
    }
    result.await.ok()
}

/// Who is signed in, as a session cookie establishes it.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub principal: Principal,
    pub session_id: Uuid,
    pub csrf_token: String,
    pub display_name: String,
    pub email: String,
    /// Whether the user set up a second factor (`second_factor`), and when this session last
    /// proved it.
    pub second_factor_enrolled: bool,
    pub second_factor_at: Option<DateTime<Utc>>,
    /// Whether the user's role must use one (`second_factor::required`).
    pub second_factor_required: bool,
    pub opened_by: SessionOrigin,
}

/// How a session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOrigin {
    Password,
    IdentityProvider,
}

impl SessionOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::IdentityProvider => "identity_provider",
        }
    }
}

impl SessionUser {
    /// Signed in with the password only, by a user whose account a second factor protects or
    /// whose role requires one: the session may do nothing until the code is typed (or, without
    /// a second factor yet, until one is set up). A session the provider opened does not wait.
    pub fn awaits_second_factor(&self) -> bool {
        self.opened_by == SessionOrigin::Password
            && (self.second_factor_enrolled || self.second_factor_required)
            && self.second_factor_at.is_none()
    }

    /// Whether the second factor was proven recently enough for an action that moves money.
    pub fn second_factor_fresh(&self, now: DateTime<Utc>) -> bool {
        self.second_factor_at.is_some_and(|at| {
            now - at <= Duration::minutes(super::second_factor::FRESH_FOR_MINUTES)
        })
    }
}

pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh 16-byte salt from the thread's cryptographic generator.
fn salt() -> Result<SaltString, Error> {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    SaltString::encode_b64(&bytes).map_err(|e| Error::Internal(format!("cannot make a salt: {e}")))
}

pub(crate) fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

pub(crate) fn validate_password(password: &str) -> Result<(), Error> {
    let chars = password.chars().count();
    let mut v = Validator::default();
    v.check(
        (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars),
        "password",
        format!("between {MIN_PASSWORD_CHARS} and {MAX_PASSWORD_CHARS} characters"),
    );
    v.finish()
}

pub(crate) async fn hash_password(password: String) -> Result<String, Error> {
    let salt = salt()?;
    on_hash_thread(move || {
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("cannot hash the password: {e}")))
    })
    .await
    .ok_or_else(|| Error::Busy("too many passwords are being checked; retry in a moment"))?
}

/// A hash of a password nobody has, for unknown addresses to be verified against.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        salt()
            .ok()
            .and_then(|salt| {
                Argon2::default()
                    .hash_password(random_secret().as_bytes(), &salt)
                    .ok()
                    .map(|h| h.to_string())
            })
            .unwrap_or_default()
    })
}

/// Checks `password` against `phc` (the decoy hash when `None`) on a hashing thread; `None` when
/// the threads and their queue are full.
async fn verify_password(password: String, phc: Option<String>) -> Option<bool> {
    on_hash_thread(move || {
        let phc = phc.as_deref().unwrap_or_else(|| decoy_hash());
        PasswordHash::new(phc).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
}

/// Sets a user's password (from an invitation, a reset link, or an operator) and ends the user's
/// open sessions.
pub async fn set_password(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    user_id: Uuid,
    password: &str,
) -> Result<(), Error> {
    validate_password(password)?;
    let phc = hash_password(password.to_owned()).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    store_password(&mut tx, tenant_id, actor, user_id, &phc).await?;
    tx.commit().await?;
    Ok(())
}

/// Stores a hashed password in the caller's transaction and ends the user's open sessions
/// (audited).
pub(crate) async fn store_password(
    tx: &mut crate::storage::Tx,
    tenant_id: Uuid,
    actor: Actor,
    user_id: Uuid,
    phc: &str,
) -> Result<(), Error> {
    let updated =
        sqlx::query("UPDATE users SET password_hash = $2 WHERE tenant_id = $3 AND id = $1")
            .bind(user_id)
            .bind(phc)
            .bind(tx.tenant_id())
            .execute(&mut **tx)
            .await?
            .rows_affected();
    if updated == 0 {
        return Err(Error::NotFound("user"));
    }
    sqlx::query("UPDATE web_sessions SET ended_at = now() WHERE tenant_id = $2 AND user_id = $1 AND ended_at IS NULL")
        .bind(user_id)
        .bind(tx.tenant_id())
        .execute(&mut **tx)
        .await?;
    audit::record(
        tx,
        tenant_id,
        actor,
        "user.password_set",
        "user",
        user_id,
        json!({}),
    )
    .await?;
    Ok(())
}

/// The users of the tenant who have chosen a password (the others are still invited).
pub async fn users_with_password(db: &Db, tenant_id: Uuid) -> Result<Vec<Uuid>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let ids = sqlx::query_scalar(
        "SELECT id FROM users WHERE tenant_id = $1 AND password_hash IS NOT NULL",
    )
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids)
}

#[derive(sqlx::FromRow)]
struct Candidate {
    id: Uuid,
    password_hash: Option<String>,
    disabled: bool,
}

/// Signs a user of `tenant_id` in with their address and password.
pub async fn sign_in(
    db: &Db,
    tenant_id: Uuid,
    email: &str,
    password: &str,
) -> Result<SignIn, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let candidate: Option<Candidate> = sqlx::query_as(
        "SELECT id, password_hash, disabled_at IS NOT NULL AS disabled
           FROM users WHERE tenant_id = $2 AND lower(email) = lower($1)",
    )
    .bind(email.trim())
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let phc = candidate.as_ref().and_then(|c| c.password_hash.clone());
    let Some(matches) = verify_password(password.to_owned(), phc).await else {
        return Ok(SignIn::Busy);
    };
    let Some(candidate) = candidate else {
        return Ok(SignIn::Refused);
    };
    if !matches || candidate.password_hash.is_none() || candidate.disabled {
        return Ok(SignIn::Refused);
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    // The password may have changed (or the user been disabled) while it was being checked.
    let still: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM users WHERE tenant_id = $3 AND id = $1 AND password_hash = $2 AND disabled_at IS NULL",
    )
    .bind(candidate.id)
    .bind(candidate.password_hash.as_deref())
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    if still.is_none() {
        return Ok(SignIn::Refused);
    }
    let session = open_session(&mut tx, tenant_id, candidate.id, Opening::Password).await?;
    tx.commit().await?;
    Ok(SignIn::Opened(session))
}

/// How a session is opened, and what it keeps of it.
pub(crate) enum Opening<'a> {
    Password,
    /// Through the tenant's OpenID Connect provider, which authenticated the person at
    /// `authenticated_at` (when it says): that counts as the session's proof of who is there (the
    /// password's second factor does not apply), and money-moving actions ask the provider again
    /// once it is older than a quarter of an hour, or unknown. The ID token is kept for the
    /// provider's logout.
    IdentityProvider {
        id_token: &'a str,
        authenticated_at: Option<DateTime<Utc>>,
    },
}

/// Opens a session for `user_id` in the caller's transaction.
pub(crate) async fn open_session(
    tx: &mut crate::storage::Tx,
    tenant_id: Uuid,
    user_id: Uuid,
    opening: Opening<'_>,
) -> Result<WebSession, Error> {
    let secret = random_secret();
    let cookie = format!("{COOKIE_PREFIX}{tenant_id}_{secret}");
    let csrf_token = random_secret();
    let expires_at = Utc::now() + Duration::hours(SESSION_HOURS);
    let (opened_by, id_token, proven_at) = match opening {
        Opening::Password => (SessionOrigin::Password, None, None),
        Opening::IdentityProvider {
            id_token,
            authenticated_at,
        } => (
            SessionOrigin::IdentityProvider,
            Some(id_token),
            authenticated_at,
        ),
    };
    sqlx::query(
        "INSERT INTO web_sessions (tenant_id, id, user_id, secret_hash, csrf_token, expires_at,
                                   opened_by, provider_id_token, second_factor_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(hash_secret(&cookie))
    .bind(&csrf_token)
    .bind(expires_at)
    .bind(opened_by.as_str())
    .bind(id_token)
    .bind(proven_at)
    .execute(&mut **tx)
    .await?;
    Ok(WebSession {
        cookie,
        csrf_token,
        expires_at,
    })
}

fn tenant_of(cookie: &str) -> Option<Uuid> {
    let rest = cookie.strip_prefix(COOKIE_PREFIX)?;
    let (tenant, _secret) = rest.split_once('_')?;
    Uuid::try_parse(tenant).ok()
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: Uuid,
    csrf_token: String,
    user_id: Uuid,
    role: String,
    prescriber_id: Option<Uuid>,
    epn_id: Option<Uuid>,
    display_name: String,
    email: String,
    second_factor_at: Option<DateTime<Utc>>,
    opened_by: String,
}

/// The user behind a session cookie, or `None` when it is unknown, ended, expired, or its user is
/// disabled.
pub async fn authenticate(db: &Db, cookie: &str) -> Result<Option<SessionUser>, Error> {
    let Some(tenant_id) = tenant_of(cookie) else {
        return Ok(None);
    };
    let mut tx = db.begin_tenant(tenant_id).await?;
    let row: Option<SessionRow> = sqlx::query_as(
        "UPDATE web_sessions s SET last_seen_at = now()
           FROM users u
          WHERE s.tenant_id = $3 AND u.tenant_id = s.tenant_id AND u.id = s.user_id
            AND s.secret_hash = $1 AND s.ended_at IS NULL AND s.expires_at > now() AND u.disabled_at IS NULL
            AND s.last_seen_at > now() - make_interval(mins => $2)
          RETURNING s.id AS session_id, s.csrf_token, u.id AS user_id, u.role, u.prescriber_id, u.epn_id,
                    u.display_name, u.email, s.second_factor_at, s.opened_by",
    )
    .bind(hash_secret(cookie))
    .bind(IDLE_MINUTES)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.commit().await?;
        return Ok(None);
    };
    // Read apart from the UPDATE: in its RETURNING, a subquery of a table under row-level security
    // carries the policy's `current_setting`, which Citus refuses there.
    let (second_factor_enrolled, second_factor_for_all): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM totp_factors f
                         WHERE f.tenant_id = $2 AND f.user_id = $1 AND f.confirmed_at IS NOT NULL),
                coalesce((SELECT t.second_factor_for_all FROM tenants t WHERE t.id = $2), false)",
    )
    .bind(row.user_id)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let RoleColumn(role) = RoleColumn::try_from(row.role)
        .map_err(|e| Error::Internal(format!("corrupt user record: {e}")))?;
    Ok(Some(SessionUser {
        principal: Principal::Tenant {
            tenant_id,
            user_id: row.user_id,
            token_id: row.session_id,
            role,
            prescriber_id: row.prescriber_id,
            epn_id: row.epn_id,
        },
        session_id: row.session_id,
        csrf_token: row.csrf_token,
        display_name: row.display_name,
        email: row.email,
        second_factor_enrolled,
        second_factor_at: row.second_factor_at,
        second_factor_required: super::second_factor::required(role, second_factor_for_all),
        opened_by: match row.opened_by.as_str() {
            "identity_provider" => SessionOrigin::IdentityProvider,
            _ => SessionOrigin::Password,
        },
    }))
}

/// Ends the session behind a cookie; an unknown cookie ends nothing. A session opened through
/// the provider gives back its ID token, for the provider's own session to end too.
pub async fn sign_out(db: &Db, cookie: &str) -> Result<Option<String>, Error> {
    let Some(tenant_id) = tenant_of(cookie) else {
        return Ok(None);
    };
    let mut tx = db.begin_tenant(tenant_id).await?;
    let id_token: Option<Option<String>> = sqlx::query_scalar(
        "WITH ending AS (
             SELECT tenant_id, id, provider_id_token FROM web_sessions
              WHERE tenant_id = $2 AND secret_hash = $1 AND ended_at IS NULL FOR UPDATE)
         UPDATE web_sessions s SET ended_at = now(), provider_id_token = NULL
           FROM ending e WHERE s.tenant_id = $2 AND s.id = e.id
         RETURNING e.provider_id_token",
    )
    .bind(hash_secret(cookie))
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id_token.flatten())
}
