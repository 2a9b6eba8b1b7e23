//! Growing delays after failed sign-ins, in place of an account lock: after a few failures from an
//! address on one account, that address waits 1 s, then 2, 4… up to 15 minutes before its next try
//! on that account; an address that fails on many accounts waits too. Another address is not
//! slowed by them, so failing on purpose cannot keep the account's owner out, and an unknown
//! account is slowed exactly like a real one, so the answer tells nothing.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::store::{self, Counter};
use crate::state::AppState;

/// Failures from one address on one account before delays start.
const FREE_PER_ACCOUNT: u64 = 3;
/// Failures from one address on any accounts of any tenant before delays start.
const FREE_PER_ADDRESS: u64 = 10;
/// The longest delay, in seconds.
const MAX_DELAY: u64 = 15 * 60;
/// Failures are forgotten this long after the last one.
const MEMORY: u64 = 60 * 60;

/// Whether a sign-in may be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Go,
    /// Not before this many seconds (rounded up).
    Wait(u64),
}

struct Keys {
    account: String,
    address: String,
}

fn keys(tenant_id: Uuid, email: &str, client: &str) -> Keys {
    // The address typed is hashed: no email in Redis.
    let typed = hex::encode(Sha256::digest(email.trim().to_lowercase().as_bytes()));
    Keys {
        account: format!("signin:account:{tenant_id}:{typed}:{client}"),
        address: format!("signin:address:{client}"),
    }
}

fn delay(failures: u64, free: u64) -> u64 {
    if failures < free {
        return 0;
    }
    let doublings = u32::try_from(failures - free).unwrap_or(u32::MAX).min(20);
    (1u64 << doublings).min(MAX_DELAY)
}

/// Milliseconds left to wait.
fn wait_ms(counter: Option<Counter>, free: u64, now_ms: u64) -> u64 {
    counter.map_or(0, |c| {
        (c.last_ms + delay(c.count, free) * 1_000).saturating_sub(now_ms)
    })
}

/// Checks, before any password is hashed, whether this client may try this account now.
pub async fn check(state: &AppState, tenant_id: Uuid, email: &str, client: &str) -> Verdict {
    let keys = keys(tenant_id, email, client);
    let account = store::read(state, &keys.account).await;
    let address = store::read(state, &keys.address).await;
    let now_ms = store::now_ms();
    match wait_ms(account, FREE_PER_ACCOUNT, now_ms).max(wait_ms(address, FREE_PER_ADDRESS, now_ms))
    {
        0 => Verdict::Go,
        ms => Verdict::Wait(ms.div_ceil(1_000)),
    }
}

pub async fn failed(state: &AppState, tenant_id: Uuid, email: &str, client: &str) {
    let keys = keys(tenant_id, email, client);
    store::hit(state, &keys.account, MEMORY).await;
    store::hit(state, &keys.address, MEMORY).await;
}

/// A success forgets this client's failures on the account (not its failures elsewhere).
pub async fn succeeded(state: &AppState, tenant_id: Uuid, email: &str, client: &str) {
    store::clear(state, &keys(tenant_id, email, client).account).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_after_the_free_failures_and_stop_growing() {
        assert_eq!(
            (0..8).map(|n| delay(n, 3)).collect::<Vec<_>>(),
            [0, 0, 0, 1, 2, 4, 8, 16]
        );
        assert_eq!(delay(40, 3), MAX_DELAY);
        assert_eq!(delay(u64::MAX, 3), MAX_DELAY);
    }
}
