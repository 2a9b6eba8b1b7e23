//! One file per job: its payload (ids only), its handler, and its registration (queue, retries,
//! timeout, schedule) beside them. `register_all` is the worker's list of jobs.

pub mod build_archive;
pub mod daily_run;
pub mod monthly_reimbursements;
pub mod purge_idempotency_keys;
pub mod run_import;
pub mod send_email;
pub mod statistics_export;

use std::str::FromStr;
use std::sync::Arc;

use apalis::prelude::Monitor;
use apalis_cron::CronScheduler;
use passerelle_core::Db;
use redis::aio::ConnectionManager;

use crate::WorkerError;
use crate::mailer::Mailer;
use crate::options::WorkerOptions;
use crate::queue;

/// What a job's registration draws on.
pub(crate) struct Context {
    pub db: Db,
    pub redis: ConnectionManager,
    pub mailer: Mailer,
    pub options: Arc<WorkerOptions>,
}

impl Context {
    /// The job's queue, under the deployment's prefix.
    pub fn queue<T>(&self, name: &str) -> queue::Storage<T> {
        queue::storage(self.redis.clone(), &self.options.queue(name))
    }
}

pub(crate) type Registered = Result<Monitor, WorkerError>;

/// A cron expression of the settings or of a job, refused at start when it does not parse.
pub(crate) fn schedule(expression: &str) -> Result<cron::Schedule, WorkerError> {
    cron::Schedule::from_str(expression).map_err(|_| WorkerError::Schedule(expression.to_owned()))
}

/// A schedule's ticks in the platform's time zone.
pub(crate) fn cron(schedule: &cron::Schedule) -> CronScheduler<cron::Schedule, chrono_tz::Tz> {
    CronScheduler::new(schedule.clone()).with_timezone(chrono_tz::Europe::Paris)
}

/// Every job of the worker, registered on the monitor.
pub(crate) fn register_all(monitor: Monitor, ctx: &Context) -> Registered {
    let monitor = purge_idempotency_keys::register(monitor, ctx)?;
    let monitor = send_email::register(monitor, ctx)?;
    let monitor = daily_run::register(monitor, ctx)?;
    let monitor = monthly_reimbursements::register(monitor, ctx)?;
    let monitor = run_import::register(monitor, ctx)?;
    let monitor = build_archive::register(monitor, ctx)?;
    statistics_export::register(monitor, ctx)
}
