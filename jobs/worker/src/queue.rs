//! Redis queues: one per job type, with explicit heartbeat and orphan settings.

use std::time::Duration;

use apalis_redis::{Config, RedisStorage};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub type Storage<T> = RedisStorage<T, ConnectionManager>;

/// Queue names, under the prefix of `WorkerOptions::queue_prefix`.
pub const PURGE_IDEMPOTENCY_KEYS: &str = "purge-idempotency-keys";
pub const SEND_EMAIL: &str = "send-email";
pub const DAILY_RUN: &str = "daily-run";
pub const MONTHLY_REIMBURSEMENTS: &str = "monthly-reimbursements";
pub const STATISTICS_EXPORT: &str = "statistics-export";
pub const RUN_IMPORT: &str = "run-import";
pub const BUILD_ARCHIVE: &str = "build-archive";

/// Opens a connection manager whose response timeout is in seconds: redis-rs's 500 ms default
/// is exceeded by a busy Redis and has been seen to stall worker pools.
pub async fn connect(url: &str) -> Result<ConnectionManager, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(10)))
        .set_number_of_retries(5);
    ConnectionManager::new_with_config(client, config).await
}

/// A queue with a heartbeat every 10 s: a worker silent for 6 beats (one minute) is considered
/// dead and its jobs go back to the queue for another worker.
pub fn storage<T>(conn: ConnectionManager, queue: &str) -> Storage<T> {
    let config = Config::default()
        .queue(queue)
        .heartbeat_interval(Duration::from_secs(10))
        .missed_heartbeats(6);
    RedisStorage::new(conn).with_config(config)
}
