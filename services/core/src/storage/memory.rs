//! What a process keeps in memory of rows read by nearly every request and changed rarely: the
//! principal behind a bearer token, the tenants, and the users (whose card `GET /v1/me` and the
//! pages show). Each request would otherwise pay a transaction for its token and a read of its
//! tenant before its own work.
//!
//! A transaction that changes such a row says so (`Tx::changed`). At its commit, the change is
//! forgotten here before the caller hears of the commit, so this process's next request reads it
//! again; and `pg_notify`, sent inside the transaction (so only if it commits), tells every other
//! process, whose listener (`Db::follow_changes`) forgets it too. The committing process waits
//! until its own listener has heard its notification: PostgreSQL delivers one notification to
//! every listener at once, so by then the others have it as well.
//!
//! Memory is used only while the listener is connected: without it, a change made elsewhere
//! could go unheard, so every read goes to PostgreSQL, and what was kept is dropped when the
//! listener connects again. What is kept is also read again after `KEPT_FOR`, a bound on any
//! change no code path announced.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::tenancy::Principal;
use crate::tenancy::tenants::Tenant;
use crate::tenancy::users::User;

/// The PostgreSQL channel of changes.
pub const CHANNEL: &str = "passerelle_changes";

/// How long a kept row is used before it is read again, whatever was heard.
pub const KEPT_FOR: Duration = Duration::from_secs(60);

/// How many principals are kept at most: only valid tokens are kept, so this bounds the memory
/// of a process serving many users, not of an attack with made-up tokens.
const MAX_PRINCIPALS: usize = 50_000;

/// How many users are kept at most (read only for callers already authenticated).
const MAX_USERS: usize = 50_000;

/// What changed, as every process must hear of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A tenant's own row (its names, time zone, settings).
    Tenant(Uuid),
    /// A tenant's users or API tokens (a token revoked, a user disabled or given another role):
    /// every principal of the tenant is read again.
    TenantPrincipals(Uuid),
    /// The platform's admins or tokens.
    PlatformPrincipals,
}

impl Change {
    fn payload(self) -> String {
        match self {
            Change::Tenant(id) => format!("tenant:{id}"),
            Change::TenantPrincipals(id) => format!("principals:{id}"),
            Change::PlatformPrincipals => "principals:platform".to_owned(),
        }
    }

    fn parse(payload: &str) -> Option<Self> {
        match payload.split_once(':')? {
            ("tenant", id) => Uuid::try_parse(id).ok().map(Change::Tenant),
            ("principals", "platform") => Some(Change::PlatformPrincipals),
            ("principals", id) => Uuid::try_parse(id).ok().map(Change::TenantPrincipals),
            _ => None,
        }
    }
}

/// The notification's text: the change, then who sent it and its number, so that the sender
/// knows when its own listener has heard it.
pub(crate) fn notification(change: Change, sender: Uuid, sequence: u64) -> String {
    format!("{}|{sender}|{sequence}", change.payload())
}

struct Kept<T> {
    value: T,
    kept_at: Instant,
    /// When the row stops being valid by itself (a token's expiry).
    valid_until: Option<DateTime<Utc>>,
}

impl<T: Clone> Kept<T> {
    fn fresh(&self) -> Option<T> {
        let expired = self.valid_until.is_some_and(|until| until <= Utc::now());
        (self.kept_at.elapsed() < KEPT_FOR && !expired).then(|| self.value.clone())
    }
}

/// This process's memory (one per `Db`, shared by its clones).
pub struct Memory {
    /// This process, in the notifications it sends.
    sender: Uuid,
    following: AtomicBool,
    /// Counts the changes heard or made, so that a row read before a change is not kept after it.
    generation: AtomicU64,
    sent: AtomicU64,
    heard_own: tokio::sync::watch::Sender<u64>,
    principals: Mutex<HashMap<Vec<u8>, Kept<Principal>>>,
    tenants: Mutex<HashMap<Uuid, Kept<Tenant>>>,
    /// By tenant and user; forgotten with the tenant's principals, which every change of a user
    /// announces.
    users: Mutex<HashMap<(Uuid, Uuid), Kept<User>>>,
}

impl Default for Memory {
    fn default() -> Self {
        Self {
            sender: Uuid::new_v4(),
            following: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            heard_own: tokio::sync::watch::channel(0).0,
            principals: Mutex::default(),
            tenants: Mutex::default(),
            users: Mutex::default(),
        }
    }
}

/// A moment in the memory's history, taken before a read from PostgreSQL.
#[derive(Clone, Copy)]
pub struct Generation(u64);

impl Memory {
    /// Whether this process hears the changes made elsewhere, and so may use what it kept.
    pub fn is_following(&self) -> bool {
        self.following.load(Ordering::Acquire)
    }

    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// The principal of a token (by its hash), if kept and still fresh.
    pub fn principal(&self, token_hash: &[u8]) -> Option<Principal> {
        if !self.is_following() {
            return None;
        }
        lock(&self.principals).get(token_hash)?.fresh()
    }

    /// Keeps a principal read at `read_at`, unless something changed since.
    pub fn keep_principal(
        &self,
        read_at: Generation,
        token_hash: Vec<u8>,
        principal: Principal,
        valid_until: Option<DateTime<Utc>>,
    ) {
        let mut principals = lock(&self.principals);
        if !self.is_following() || self.generation().0 != read_at.0 {
            return;
        }
        if principals.len() >= MAX_PRINCIPALS {
            principals.clear();
        }
        principals.insert(
            token_hash,
            Kept {
                value: principal,
                kept_at: Instant::now(),
                valid_until,
            },
        );
    }

    pub fn tenant(&self, id: Uuid) -> Option<Tenant> {
        if !self.is_following() {
            return None;
        }
        lock(&self.tenants).get(&id)?.fresh()
    }

    /// A kept tenant matching `wanted` (by its slug or its references' prefix, both unique):
    /// tenants are few, so a walk over them is cheaper than a round trip.
    pub fn tenant_where(&self, wanted: impl Fn(&Tenant) -> bool) -> Option<Tenant> {
        if !self.is_following() {
            return None;
        }
        lock(&self.tenants)
            .values()
            .find(|kept| wanted(&kept.value))?
            .fresh()
    }

    pub fn keep_tenant(&self, read_at: Generation, tenant: Tenant) {
        let mut tenants = lock(&self.tenants);
        if !self.is_following() || self.generation().0 != read_at.0 {
            return;
        }
        tenants.insert(
            tenant.id,
            Kept {
                value: tenant,
                kept_at: Instant::now(),
                valid_until: None,
            },
        );
    }

    pub fn user(&self, tenant_id: Uuid, id: Uuid) -> Option<User> {
        if !self.is_following() {
            return None;
        }
        lock(&self.users).get(&(tenant_id, id))?.fresh()
    }

    pub fn keep_user(&self, read_at: Generation, user: User) {
        let mut users = lock(&self.users);
        if !self.is_following() || self.generation().0 != read_at.0 {
            return;
        }
        if users.len() >= MAX_USERS {
            users.clear();
        }
        users.insert(
            (user.tenant_id, user.id),
            Kept {
                value: user,
                kept_at: Instant::now(),
                valid_until: None,
            },
        );
    }

    /// Forgets what `change` touched. Taken under the lock of the map it clears, so that a row
    /// read before cannot be kept after.
    pub fn forget(&self, change: Change) {
        match change {
            Change::Tenant(id) => {
                let mut tenants = lock(&self.tenants);
                self.generation.fetch_add(1, Ordering::AcqRel);
                tenants.remove(&id);
            }
            Change::TenantPrincipals(id) => {
                let mut principals = lock(&self.principals);
                let mut users = lock(&self.users);
                self.generation.fetch_add(1, Ordering::AcqRel);
                principals.retain(|_, kept| kept.value.tenant_id() != Some(id));
                users.retain(|(tenant_id, _), _| *tenant_id != id);
            }
            Change::PlatformPrincipals => {
                let mut principals = lock(&self.principals);
                self.generation.fetch_add(1, Ordering::AcqRel);
                principals.retain(|_, kept| kept.value.tenant_id().is_some());
            }
        }
    }

    fn forget_everything(&self) {
        let mut principals = lock(&self.principals);
        let mut tenants = lock(&self.tenants);
        let mut users = lock(&self.users);
        self.generation.fetch_add(1, Ordering::AcqRel);
        principals.clear();
        tenants.clear();
        users.clear();
    }

    /// The number of the next notification this process sends.
    pub(crate) fn next_sequence(&self) -> (Uuid, u64) {
        (self.sender, self.sent.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// Waits, at most `patience`, until this process's listener has heard its notification
    /// `sequence`; at once when it is not listening.
    pub(crate) async fn heard(&self, sequence: u64, patience: Duration) {
        if !self.is_following() {
            return;
        }
        let mut heard = self.heard_own.subscribe();
        let _ = tokio::time::timeout(patience, heard.wait_for(|&n| n >= sequence)).await;
    }

    /// A notification heard on the channel.
    fn hear(&self, payload: &str) {
        let mut parts = payload.split('|');
        let change = parts.next().and_then(Change::parse);
        match change {
            Some(change) => self.forget(change),
            // Unreadable: whatever it meant, nothing kept may be trusted.
            None => self.forget_everything(),
        }
        if let (Some(sender), Some(sequence)) = (parts.next(), parts.next())
            && sender == self.sender.to_string()
            && let Ok(sequence) = sequence.parse::<u64>()
        {
            self.heard_own.send_if_modified(|heard| {
                let newer = sequence > *heard;
                if newer {
                    *heard = sequence;
                }
                newer
            });
        }
    }

    fn start_following(&self) {
        self.forget_everything();
        self.following.store(true, Ordering::Release);
    }

    fn stop_following(&self) {
        self.following.store(false, Ordering::Release);
        self.forget_everything();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Listens to the changes of every process on `pool`'s database until the process ends,
/// connecting again after a loss (and forgetting everything then: what was said meanwhile is lost).
pub(crate) async fn follow(pool: sqlx::PgPool, memory: std::sync::Arc<Memory>) {
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %e, "cannot listen to the changes; memory unused");
                } else {
                    memory.start_following();
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(notification)) => memory.hear(notification.payload()),
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "lost the changes' listener");
                                break;
                            }
                        }
                    }
                }
                memory.stop_following();
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot connect the changes' listener; memory unused")
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_back_from_its_notification() {
        for change in [
            Change::Tenant(Uuid::new_v4()),
            Change::TenantPrincipals(Uuid::new_v4()),
            Change::PlatformPrincipals,
        ] {
            let text = notification(change, Uuid::new_v4(), 7);
            assert_eq!(text.split('|').next().and_then(Change::parse), Some(change));
        }
        assert_eq!(Change::parse("principals:nonsense"), None);
    }

    #[test]
    fn a_principal_read_before_a_change_is_not_kept_after_it() {
        let memory = Memory::default();
        memory.start_following();
        let tenant_id = Uuid::new_v4();
        let principal = Principal::Tenant {
            tenant_id,
            user_id: Uuid::new_v4(),
            token_id: Uuid::new_v4(),
            role: crate::tenancy::Role::Epn,
            prescriber_id: None,
            epn_id: Some(Uuid::new_v4()),
        };
        let read_at = memory.generation();
        memory.forget(Change::TenantPrincipals(tenant_id));
        memory.keep_principal(read_at, b"hash".to_vec(), principal.clone(), None);
        assert_eq!(memory.principal(b"hash"), None);

        memory.keep_principal(
            memory.generation(),
            b"hash".to_vec(),
            principal.clone(),
            None,
        );
        assert_eq!(memory.principal(b"hash"), Some(principal.clone()));
        memory.forget(Change::TenantPrincipals(Uuid::new_v4()));
        assert_eq!(memory.principal(b"hash"), Some(principal.clone()));
        memory.hear(&notification(
            Change::TenantPrincipals(tenant_id),
            Uuid::new_v4(),
            1,
        ));
        assert_eq!(memory.principal(b"hash"), None);

        let expired = Utc::now() - chrono::Duration::seconds(1);
        memory.keep_principal(
            memory.generation(),
            b"hash".to_vec(),
            principal.clone(),
            Some(expired),
        );
        assert_eq!(
            memory.principal(b"hash"),
            None,
            "an expired token is not served"
        );

        memory.keep_principal(memory.generation(), b"hash".to_vec(), principal, None);
        memory.stop_following();
        assert_eq!(memory.principal(b"hash"), None, "nothing is used unheard");
    }

    #[test]
    fn a_user_is_forgotten_with_the_principals_of_its_tenant_only() {
        let memory = Memory::default();
        memory.start_following();
        let user = |tenant_id| User {
            tenant_id,
            id: Uuid::new_v4(),
            email: "animatrice@example.org".into(),
            display_name: "Animatrice".into(),
            role: crate::tenancy::users::RoleColumn(crate::tenancy::Role::Epn),
            prescriber_id: None,
            epn_id: None,
            disabled_at: None,
            created_at: Utc::now(),
        };
        let (mine, other) = (user(Uuid::new_v4()), user(Uuid::new_v4()));
        let read_at = memory.generation();
        memory.forget(Change::Tenant(mine.tenant_id));
        memory.keep_user(read_at, mine.clone());
        assert!(
            memory.user(mine.tenant_id, mine.id).is_none(),
            "read before a change"
        );

        for kept in [&mine, &other] {
            memory.keep_user(memory.generation(), kept.clone());
        }
        assert!(memory.user(mine.tenant_id, mine.id).is_some());
        assert!(
            memory.user(mine.tenant_id, other.id).is_none(),
            "another tenant's id"
        );
        memory.hear(&notification(
            Change::TenantPrincipals(mine.tenant_id),
            Uuid::new_v4(),
            1,
        ));
        assert!(memory.user(mine.tenant_id, mine.id).is_none());
        assert!(memory.user(other.tenant_id, other.id).is_some());
        memory.stop_following();
        assert!(memory.user(other.tenant_id, other.id).is_none());
    }
}
