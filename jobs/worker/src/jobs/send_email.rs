//! Sends one outbox message. The row is locked for the whole attempt, so two copies of the job
//! (a re-run after a crash, a relay that re-queued it) never send it twice: the second finds it
//! locked or already sent and does nothing. A crash before the commit rolls the lock back and the
//! relay queues the row again.

use std::sync::Arc;
use std::time::Duration;

use apalis::layers::WorkerBuilderExt;
use apalis::layers::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
use apalis::layers::retry::{HasherRng, RetryPolicy};
use apalis::prelude::*;
use chrono::Utc;
use passerelle_core::Db;
use passerelle_core::emails::{Preparation, outbox, render};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::mailer::{self, Mailer, SendError};
use crate::options::{RetrySchedule, WorkerOptions};
use crate::tenant_cache::TenantCache;

/// Ids only: the address and the wording are read from the database when the job runs.
use crate::jobs::{Context, Registered};
use crate::worker_name;

/// The sending worker: `send_concurrency` at once, a timeout above SMTP's own. Unexpected errors
/// (PostgreSQL unreachable) are retried a few times here; SMTP failures are not errors of the
/// job: the outbox row records them and the relay queues the row again when it is due.
pub(crate) fn register(monitor: Monitor, ctx: &Context) -> Registered {
    let queue = ctx.queue::<SendEmail>(crate::queue::SEND_EMAIL);
    let tenant_cache = TenantCache::default();
    let (db, mailer, options) = (ctx.db.clone(), ctx.mailer.clone(), ctx.options.clone());
    Ok(monitor.register(move |_restarts| {
        let backoff = ExponentialBackoffMaker::new(
            Duration::from_millis(500),
            Duration::from_secs(30),
            0.5,
            HasherRng::default(),
        )
        .expect("valid backoff bounds")
        .make_backoff();
        WorkerBuilder::new(worker_name("send-email"))
            .backend(queue.clone())
            .concurrency(options.send_concurrency)
            .retry(RetryPolicy::retries(5).with_backoff(backoff))
            .timeout(options.send_timeout + Duration::from_secs(30))
            .data(db.clone())
            .data(mailer.clone())
            .data(options.clone())
            .data(tenant_cache.clone())
            .build(run)
    }))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendEmail {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
}

/// What became of the message, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Not pending, not due yet, or being sent by another worker.
    NothingToDo,
    WillRetry,
    Failed,
    Cancelled,
}

pub async fn run(
    job: SendEmail,
    db: Data<Db>,
    mailer: Data<Mailer>,
    options: Data<Arc<WorkerOptions>>,
    tenants: Data<TenantCache>,
) -> Result<(), BoxDynError> {
    let outcome = send(&db, &mailer, &options, &tenants, &job).await?;
    tracing::info!(tenant_id = %job.tenant_id, message_id = %job.message_id, ?outcome, "email job done");
    Ok(())
}

pub async fn send(
    db: &Db,
    mailer: &Mailer,
    options: &WorkerOptions,
    tenants: &TenantCache,
    job: &SendEmail,
) -> Result<Outcome, passerelle_core::Error> {
    let tenant = tenants.get(db, job.tenant_id).await?;
    render::make_durable(db, &tenant, job.message_id, &options.links).await?;
    let mut tx = db.begin_tenant(job.tenant_id).await?;
    let Some(message) = outbox::lock_for_sending(&mut tx, job.message_id).await? else {
        tx.rollback().await?;
        return Ok(Outcome::NothingToDo);
    };
    let today = Utc::now().with_timezone(&tenant.tz()).date_naive();
    let preparation = match render::prepare(&mut tx, &tenant, &message, &options.links, today).await
    {
        // A template that does not render is a bug no retry will fix: fail the message, visibly.
        Err(passerelle_core::Error::Internal(reason)) => Preparation::Fail(reason),
        Err(passerelle_core::Error::Refused(refusal)) => Preparation::Fail(refusal.to_string()),
        other => other?,
    };
    let outcome = match preparation {
        Preparation::Cancel(reason) => {
            outbox::mark_cancelled(&mut tx, message.id, &reason).await?;
            Outcome::Cancelled
        }
        Preparation::Fail(reason) => {
            outbox::mark_failed(&mut tx, tenant.id, message.id, None, &reason, false).await?;
            Outcome::Failed
        }
        Preparation::Ready(prepared) => {
            let message_id = mailer::message_id(message.id, &prepared.sender_email);
            let result = match mailer::build(&prepared, &message_id) {
                Ok(email) => {
                    match tokio::time::timeout(options.send_timeout, mailer.send(email)).await {
                        Ok(result) => result,
                        Err(_) => Err(SendError::Transient(format!(
                            "no answer from the mail server within {} s",
                            options.send_timeout.as_secs()
                        ))),
                    }
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(response) => {
                    outbox::mark_sent(&mut tx, message.id, &prepared.to, &message_id, &response)
                        .await?;
                    Outcome::Sent
                }
                Err(SendError::Permanent(error)) => {
                    outbox::mark_failed(
                        &mut tx,
                        tenant.id,
                        message.id,
                        Some(&prepared.to),
                        &error,
                        true,
                    )
                    .await?;
                    Outcome::Failed
                }
                Err(SendError::Transient(error)) => {
                    let now = Utc::now();
                    let since = message.retrying_since.unwrap_or(now);
                    match options.retry.next_attempt(message.attempts, since, now) {
                        Some(at) => {
                            outbox::mark_for_retry(
                                &mut tx,
                                message.id,
                                Some(&prepared.to),
                                &error,
                                at,
                            )
                            .await?;
                            Outcome::WillRetry
                        }
                        None => {
                            let reason = format!(
                                "gave up after {} attempts over {}: {error}",
                                message.attempts + 1,
                                describe(now - since)
                            );
                            outbox::mark_failed(
                                &mut tx,
                                tenant.id,
                                message.id,
                                Some(&prepared.to),
                                &reason,
                                false,
                            )
                            .await?;
                            Outcome::Failed
                        }
                    }
                }
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

fn describe(elapsed: chrono::TimeDelta) -> String {
    let minutes = elapsed.num_minutes();
    if minutes >= 120 {
        format!("{} h", minutes / 60)
    } else {
        format!("{minutes} min")
    }
}

impl RetrySchedule {
    /// When to try again after `attempts` failed attempts, or `None` once the window is over.
    pub fn next_attempt(
        &self,
        attempts: i32,
        retrying_since: chrono::DateTime<Utc>,
        now: chrono::DateTime<Utc>,
    ) -> Option<chrono::DateTime<Utc>> {
        let window = chrono::TimeDelta::from_std(self.window).ok()?;
        if now - retrying_since >= window {
            return None;
        }
        let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
        let delay = self
            .first_delay
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max_delay);
        Some(now + chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::hours(1)))
    }
}

pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
