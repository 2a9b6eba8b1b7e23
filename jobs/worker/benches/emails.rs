//! `make bench`, emails: the daily run of every tenant of the national data (1,000,000 vouchers,
//! 20 tenants) on a day when the vouchers issued in the schemes' first weeks enter their 60-day
//! reminder window, then the delivery of every message it made due, through the real worker
//! (relay, Redis queue, rendering, SMTP) to a local SMTP sink.
//!
//! Baselines in the same program: a scan of the same vouchers (what PostgreSQL needs at least to
//! look at them all), and a bare lettre client sending the same number of ready-made messages to
//! the same sink with the same concurrency. Targets: the daily run under a minute; delivery at
//! least half of the bare client's messages per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures::StreamExt;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use passerelle_core::Db;
use passerelle_core::emails::{Links, daily};
use passerelle_test_support::national;
use passerelle_test_support::smtp::SmtpServer;
use passerelle_worker::mailer::Mailer;
use passerelle_worker::options::{RetrySchedule, WorkerOptions};
use uuid::Uuid;

const CONCURRENCY: usize = 16;

/// The day run. The national data's vouchers are issued over 2025 and valid a year, so on this
/// day those issued in its first three weeks are within 60 days of their end: about one voucher
/// in forty is due a reminder, by email for the holders who gave one.
const DAY: (i32, u32, u32) = (2025, 11, 20);

#[tokio::main]
async fn main() {
    let (db, data) = national::for_benchmarks().await;
    let day = NaiveDate::from_ymd_opt(DAY.0, DAY.1, DAY.2).expect("day");
    // The worker checks at send time, against the real date, that a reminder is still due: the
    // copy's vouchers are moved in time so that, for them, today is that day of the data.
    let today = passerelle_test_support::paris_today();
    let shift = i32::try_from((today - day).num_days()).expect("a shift in days");
    let started = Instant::now();
    for tenant in &data.tenants {
        let mut tx = db.owner.begin().await.expect("tx");
        passerelle_core::storage::set_tenant(&mut tx, tenant.id)
            .await
            .expect("tenant");
        sqlx::query(
            "UPDATE vouchers SET issued_on = issued_on + $1, valid_until = valid_until + $1",
        )
        .bind(shift)
        .execute(&mut *tx)
        .await
        .expect("move the vouchers in time");
        tx.commit().await.expect("commit");
    }
    sqlx::query("VACUUM (ANALYZE) vouchers")
        .execute(&db.owner)
        .await
        .expect("vacuum");
    println!(
        "vouchers moved by {shift} days, so that {day} of the data is today ({today}), in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Baseline: one pass over the same vouchers, tenant by tenant.
    let started = Instant::now();
    let (mut vouchers, mut open) = (0_i64, 0_i64);
    for tenant in &data.tenants {
        let mut tx = db.app.begin_tenant(tenant.id).await.expect("tx");
        let (all, open_here): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), count(*) FILTER (WHERE status IN {} AND minutes_left > 0)
             FROM vouchers",
            passerelle_core::vouchers::VoucherStatus::OPEN_SQL
        )))
        .fetch_one(&mut *tx)
        .await
        .expect("scan");
        tx.commit().await.expect("commit");
        (vouchers, open) = (vouchers + all, open + open_here);
    }
    let scan = started.elapsed();

    let started = Instant::now();
    let mut summary = daily::DailySummary::default();
    for tenant in &data.tenants {
        let day = daily::run_day(&db.app, tenant.id, today)
            .await
            .expect("daily run");
        summary.expired += day.expired;
        summary.expiry_notices += day.expiry_notices;
        summary.reminders += day.reminders;
        summary.prescriber_alerts += day.prescriber_alerts;
        summary.prescriber_digests += day.prescriber_digests;
    }
    let run = started.elapsed();
    println!(
        "daily run of {} tenants: {:.2} s (scan of {vouchers} vouchers, {open} open: {:.2} s) — {summary:?}",
        data.tenants.len(),
        run.as_secs_f64(),
        scan.as_secs_f64()
    );
    let messages =
        usize::try_from(summary.reminders + summary.expiry_notices + summary.prescriber_digests)
            .expect("count");

    // Delivery through the worker.
    let smtp = SmtpServer::start().await;
    let worker_db = Db::connect(&db.app_url, 40, Duration::from_secs(10))
        .await
        .expect("pool");
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = passerelle_worker::queue::connect(&redis_url)
        .await
        .expect("Redis");
    let prefix = format!("passerelle-bench:{}", Uuid::new_v4().simple());
    let options = WorkerOptions {
        queue_prefix: prefix.clone(),
        relay_interval: Duration::from_millis(200),
        requeue_after: Duration::from_secs(600),
        retry: RetrySchedule::default(),
        send_timeout: Duration::from_secs(30),
        send_concurrency: CONCURRENCY,
        daily_schedule: "0 0 0 1 1 * 2099".into(),
        monthly_schedule: "0 0 0 1 1 * 2099".into(),
        statistics_schedule: "0 0 0 1 1 * 2099".into(),
        statistics_dir: std::env::temp_dir().join(&prefix),
        archive_dir: std::env::temp_dir().join(&prefix),
        health_addr: None,
        links: Links::new(
            "https://passerelle.example.fr",
            passerelle_core::config::LOOPBACK_PORTFOLIO_LINK_KEY,
        ),
    };
    let mailer =
        Mailer::new(Some(&smtp.url()), std::env::temp_dir(), CONCURRENCY as u32).expect("mailer");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let worker = tokio::spawn(passerelle_worker::run_with(
        worker_db,
        redis.clone(),
        mailer,
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    let mut last_report = Instant::now();
    loop {
        let received = smtp.received().len();
        if received >= messages {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            println!("  … {received}/{messages} delivered");
            last_report = Instant::now();
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "delivery stalled at {received}/{messages}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivery = started.elapsed();
    let _ = stop.send(());
    let _ = worker.await;
    let worker_rate = messages as f64 / delivery.as_secs_f64();

    // Baseline: a bare lettre client, same sink, same concurrency, same number of messages.
    let baseline_sink = SmtpServer::start().await;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
        baseline_sink.addr().ip().to_string(),
    )
    .port(baseline_sink.addr().port())
    .pool_config(PoolConfig::new().max_size(CONCURRENCY as u32))
    .build();
    let transport = Arc::new(transport);
    let started = Instant::now();
    futures::stream::iter(0..messages)
        .map(|i| {
            let transport = transport.clone();
            async move {
                let message = Message::builder()
                    .from(
                        "Département du Lot <contact@lot.example>"
                            .parse::<Mailbox>()
                            .expect("from"),
                    )
                    .to(format!("titulaire{i}@example.org")
                        .parse::<Mailbox>()
                        .expect("to"))
                    .subject("Votre chèque Ticket Net expire bientôt")
                    .multipart(MultiPart::alternative_plain_html(
                        "Bonjour, il vous reste 20 heures.".to_owned(),
                        "<p>Bonjour, il vous reste 20 heures.</p>".to_owned(),
                    ))
                    .expect("message");
                transport.send(message).await.expect("send");
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let baseline = started.elapsed();
    let baseline_rate = messages as f64 / baseline.as_secs_f64();

    let mut conn = redis.clone();
    let keys: Vec<String> = redis::AsyncCommands::keys(&mut conn, format!("{prefix}:*"))
        .await
        .expect("keys");
    if !keys.is_empty() {
        let _: () = redis::AsyncCommands::del(&mut conn, keys)
            .await
            .expect("clean");
    }

    let ratio = worker_rate / baseline_rate;
    println!();
    println!("| Figure | Value | Baseline (same run) | Ratio | Target | Met |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| Daily run of {} tenants over {vouchers} vouchers ({} reminders by email, {} holders without email listed for their prescriber, {} expired) | {:.1} s | scan of the vouchers: {:.2} s | {:.1}× | under 60 s | {} |",
        data.tenants.len(),
        summary.reminders,
        summary.prescriber_alerts,
        summary.expired,
        run.as_secs_f64(),
        scan.as_secs_f64(),
        run.as_secs_f64() / scan.as_secs_f64(),
        if run < Duration::from_secs(60) {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "| Delivery of {messages} messages by the worker to a local SMTP sink | {worker_rate:.0} msg/s | bare lettre client: {baseline_rate:.0} msg/s | {ratio:.2} | at least 0.5 | {} |",
        if ratio >= 0.5 { "yes" } else { "no" }
    );
}
