//! The worker's tunables. Production uses the defaults (from the environment through `Settings`);
//! tests shorten the delays and give each test queues of its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use passerelle_core::config::Settings;
use passerelle_core::emails::Links;

/// Transient failures are retried with exponential backoff for at least `window`.
#[derive(Debug, Clone)]
pub struct RetrySchedule {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub window: Duration,
}

impl Default for RetrySchedule {
    /// 30 s, 1 min, 2 min… then hourly, for 25 hours: an SMTP outage of a day loses nothing.
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
            window: Duration::from_secs(25 * 3600),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Prefix of every Redis queue name.
    pub queue_prefix: String,
    /// How often the relay looks for due outbox rows.
    pub relay_interval: Duration,
    /// A row queued this long ago and still pending is queued again: its job was lost.
    pub requeue_after: Duration,
    pub retry: RetrySchedule,
    /// Longest wait for the mail server to take one message.
    pub send_timeout: Duration,
    /// Messages sent at once by one worker process (also the SMTP pool size).
    pub send_concurrency: usize,
    /// Six fields, seconds first, in Europe/Paris: when to look for tenants whose day has not run.
    pub daily_schedule: String,
    /// Six fields, in Europe/Paris: when to look for tenants whose previous month has not run.
    pub monthly_schedule: String,
    /// Six fields, in Europe/Paris: when to ask for the statistics of periods that just ended.
    pub statistics_schedule: String,
    /// Where statistics exports are written.
    pub statistics_dir: PathBuf,
    /// Where territories' archives are written.
    pub archive_dir: PathBuf,
    /// Where the liveness endpoint listens; `None` for none.
    pub health_addr: Option<SocketAddr>,
    pub links: Links,
}

impl WorkerOptions {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            queue_prefix: "passerelle".into(),
            relay_interval: Duration::from_secs(2),
            requeue_after: settings.worker.requeue_after,
            retry: RetrySchedule {
                first_delay: settings.worker.email_retry_first_delay,
                ..RetrySchedule::default()
            },
            send_timeout: Duration::from_secs(60),
            // Each send holds a connection for its transaction: leave two for the relay and the
            // scheduled runs.
            send_concurrency: usize::try_from(settings.database_max_connections)
                .unwrap_or(10)
                .saturating_sub(2)
                .clamp(1, 8),
            // Hourly: the first tick after midnight runs the day; later ones catch up after an
            // outage and find the day done otherwise.
            daily_schedule: settings
                .worker
                .daily_schedule
                .clone()
                .unwrap_or_else(|| "0 5 * * * *".into()),
            // Nightly at 02:30: the first night of a month computes the previous one.
            monthly_schedule: settings
                .worker
                .monthly_schedule
                .clone()
                .unwrap_or_else(|| "0 30 2 * * *".into()),
            // Nightly at 04:30, after the reimbursements: the first night of a month asks for the
            // month (and quarter, year) that ended; later nights find them asked for already.
            statistics_schedule: settings
                .worker
                .statistics_schedule
                .clone()
                .unwrap_or_else(|| "0 30 4 * * *".into()),
            statistics_dir: settings.statistics_dir.clone(),
            archive_dir: settings.archive_dir.clone(),
            health_addr: Some(settings.worker_health_addr),
            links: Links::new(&settings.public_base_url, &settings.portfolio_link_key),
        }
    }

    pub fn queue(&self, name: &str) -> String {
        format!("{}:{name}", self.queue_prefix)
    }
}
