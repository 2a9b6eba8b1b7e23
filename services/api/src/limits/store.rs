//! Counters with a lifetime: a count and the time of the last hit, per key. In Redis, one hash per
//! key updated by one atomic MULTI/EXEC (HINCRBY, HSET, EXPIRE), so that two replicas never lose a
//! hit and no key is left without its expiry. When Redis does not answer, the same counters are
//! kept in this process's memory (logged once a minute at most), and Redis is left alone for a few
//! seconds after each failure: every request would otherwise wait for the connection's retries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::state::AppState;

/// Local counters kept past this many keys are swept of the expired ones.
const SWEEP_ABOVE: usize = 10_000;
/// After Redis failed, the limits count locally this long before they try it again.
const REDIS_PAUSE_MS: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub count: u64,
    /// Unix milliseconds of the last hit (a delay of one second must last one second, not until
    /// the next second starts).
    pub last_ms: u64,
}

#[derive(Default)]
pub struct LocalCounters {
    entries: Mutex<HashMap<String, (Counter, u64)>>,
    last_warning: AtomicU64,
    /// Unix milliseconds until which Redis is not tried (it just failed).
    redis_paused_until_ms: AtomicU64,
}

impl LocalCounters {
    fn hit(&self, key: &str, now: u64, now_ms: u64, ttl: u64) -> Counter {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > SWEEP_ABOVE {
            entries.retain(|_, (_, expires)| *expires > now);
        }
        let (counter, expires) = entries.entry(key.to_owned()).or_insert((
            Counter {
                count: 0,
                last_ms: 0,
            },
            0,
        ));
        if *expires <= now {
            counter.count = 0;
        }
        counter.count += 1;
        counter.last_ms = now_ms;
        *expires = now + ttl;
        *counter
    }

    fn read(&self, key: &str, now: u64) -> Option<Counter> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(c, _)| *c)
    }

    fn remove(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
    }

    fn redis_paused(&self, now_ms: u64) -> bool {
        now_ms < self.redis_paused_until_ms.load(Ordering::Relaxed)
    }

    fn warn(&self, now: u64, err: &redis::RedisError) {
        self.redis_paused_until_ms
            .store(now * 1_000 + REDIS_PAUSE_MS, Ordering::Relaxed);
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + 60
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::error!(error = %err, "Redis unavailable: limits counted in this process");
        }
    }
}

pub fn now() -> u64 {
    now_ms() / 1_000
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

fn redis_key(state: &AppState, key: &str) -> String {
    format!("{}:limits:{key}", state.redis_namespace)
}

/// Counts one hit on `key`, kept `ttl` seconds after the last one; returns the new counter.
pub async fn hit(state: &AppState, key: &str, ttl: u64) -> Counter {
    let now_ms = now_ms();
    let now = now_ms / 1_000;
    if state.local_limits.redis_paused(now_ms) {
        return state.local_limits.hit(key, now, now_ms, ttl);
    }
    let mut redis = state.redis.clone();
    let result: redis::RedisResult<(u64,)> = redis::pipe()
        .atomic()
        .hincr(redis_key(state, key), "count", 1)
        .hset(redis_key(state, key), "last", now_ms)
        .ignore()
        .expire(redis_key(state, key), ttl as i64)
        .ignore()
        .query_async(&mut redis)
        .await;
    match result {
        Ok((count,)) => Counter {
            count,
            last_ms: now_ms,
        },
        Err(err) => {
            state.local_limits.warn(now, &err);
            state.local_limits.hit(key, now, now_ms, ttl)
        }
    }
}

/// The counter of `key`, if it has one.
pub async fn read(state: &AppState, key: &str) -> Option<Counter> {
    if state.local_limits.redis_paused(now_ms()) {
        return state.local_limits.read(key, now());
    }
    let mut redis = state.redis.clone();
    let result: redis::RedisResult<(Option<u64>, Option<u64>)> = redis::cmd("HMGET")
        .arg(redis_key(state, key))
        .arg("count")
        .arg("last")
        .query_async(&mut redis)
        .await;
    match result {
        Ok((Some(count), Some(last_ms))) => Some(Counter { count, last_ms }),
        Ok(_) => state.local_limits.read(key, now()),
        Err(err) => {
            state.local_limits.warn(now(), &err);
            state.local_limits.read(key, now())
        }
    }
}

/// Forgets `key` (a sign-in that succeeded).
pub async fn clear(state: &AppState, key: &str) {
    state.local_limits.remove(key);
    if state.local_limits.redis_paused(now_ms()) {
        return;
    }
    let mut redis = state.redis.clone();
    let result: redis::RedisResult<()> = redis::cmd("DEL")
        .arg(redis_key(state, key))
        .query_async(&mut redis)
        .await;
    if let Err(err) = result {
        state.local_limits.warn(now(), &err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_counters_count_until_they_expire() {
        let local = LocalCounters::default();
        assert_eq!(local.hit("k", 100, 100_000, 60).count, 1);
        assert_eq!(local.hit("k", 110, 110_500, 60).count, 2);
        assert_eq!(
            local.read("k", 169),
            Some(Counter {
                count: 2,
                last_ms: 110_500
            })
        );
        assert_eq!(local.read("k", 170), None);
        assert_eq!(local.hit("k", 171, 171_000, 60).count, 1);
        local.remove("k");
        assert_eq!(local.read("k", 171), None);
    }
}
