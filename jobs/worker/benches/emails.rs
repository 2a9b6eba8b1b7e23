//! `make bench`, emails: the daily run over 1,000,000 vouchers of which about 1 % enter a reminder
//! window today (and 0.1 % expire), then the delivery of every message it made due, through the
//! real worker (relay, Redis queue, rendering, SMTP) to a local SMTP sink.
//!
//! Baselines in the same program: a sequential scan of the same vouchers (what PostgreSQL needs
//! at least to look at them all), and a bare lettre client sending the same number of
//! ready-made messages to the same sink with the same concurrency. Targets: the daily run under a
//! minute; delivery at least half of the bare client's messages per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use passerelle_core::Db;
use passerelle_core::audit::Actor;
use passerelle_core::emails::{Links, daily};
use passerelle_core::prescribers::{self, NewAllocation, NewPrescriber};
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_test_support::smtp::SmtpServer;
use passerelle_test_support::{TestDatabase, active_ticket_net, create_tenant};
use passerelle_worker::mailer::Mailer;
use passerelle_worker::options::{RetrySchedule, WorkerOptions};
use uuid::Uuid;

const VOUCHERS: i64 = 1_000_000;
const CONCURRENCY: usize = 16;

#[tokio::main]
async fn main() {
    let db = TestDatabase::create().await;
    let tenant = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let scheme_id = active_ticket_net(&db.app, tenant.id, None, None).await;
    let prescriber_id = prescribers::create(
        &db.app,
        tenant.id,
        Actor::SYSTEM,
        &NewPrescriber {
            name: "CCAS".into(),
            kind: "ccas".into(),
            contact_email: Some("ccas@example.org".into()),
            ..NewPrescriber::default()
        },
    )
    .await
    .expect("prescriber")
    .id;
    let today = tenant.today();
    let allocation = prescribers::allocate(
        &db.app,
        tenant.id,
        Actor::SYSTEM,
        prescriber_id,
        &NewAllocation {
            scheme_id,
            period_start: today - chrono::Days::new(400),
            period_end: today + chrono::Days::new(400),
            quantity: 1_000_000,
        },
    )
    .await
    .expect("allocation");

    let started = Instant::now();
    let mut tx = db.app.begin_tenant(tenant.id).await.expect("tx");
    sqlx::query(
        "INSERT INTO beneficiaries (tenant_id, id, first_name, last_name, birth_year, commune_insee, public_category,
                                    email, email_consent, prescriber_id)
         SELECT $1, uuid_v7(), 'Prénom' || i, 'Nom' || i, 1950 + i % 50, '46102', 'senior',
                'titulaire' || i || '@example.org', true, $2
         FROM generate_series(1, $3) i",
    )
    .bind(tenant.id)
    .bind(prescriber_id)
    .bind(VOUCHERS)
    .execute(&mut *tx)
    .await
    .expect("beneficiaries");
    // 1 % end in 30 days (reminder due today), 0.1 % ended yesterday, the rest end 61 to 364 days
    // from now (no reminder window yet).
    sqlx::query(
        "INSERT INTO vouchers (tenant_id, id, reference, scheme_id, rules_version, beneficiary_id, prescriber_id,
                               allocation_id, issued_on, valid_until, minutes_total, minutes_left, face_value_cents)
         SELECT $1, uuid_v7(), 'LOT-B' || lpad(n::text, 9, '0'), $2, 1, b.id, $3, $4,
                e.valid_until - 364, e.valid_until, 1200, 1200, 20000
         FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM beneficiaries) b
         CROSS JOIN LATERAL (SELECT CASE WHEN n % 100 = 0 THEN $5::date + 30
                                         WHEN n % 1000 = 1 THEN $5::date - 1
                                         ELSE $5::date + 61 + (n % 300)::int END AS valid_until) e",
    )
    .bind(tenant.id)
    .bind(scheme_id)
    .bind(prescriber_id)
    .bind(allocation.id)
    .bind(today)
    .execute(&mut *tx)
    .await
    .expect("vouchers");
    tx.commit().await.expect("commit");
    sqlx::query("ANALYZE")
        .execute(&db.owner)
        .await
        .expect("analyze");
    println!(
        "generated {VOUCHERS} vouchers in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Baseline: one pass over the same vouchers.
    let started = Instant::now();
    let mut tx = db.app.begin_tenant(tenant.id).await.expect("tx");
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM vouchers WHERE status IN ('issued', 'registered', 'in_progress') AND minutes_left > 0",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("scan");
    tx.commit().await.expect("commit");
    let scan = started.elapsed();

    let started = Instant::now();
    let summary = daily::run_day(&db.app, tenant.id, today)
        .await
        .expect("daily run");
    let run = started.elapsed();
    println!(
        "daily run: {:.2} s (scan of {open} open vouchers: {:.2} s) — {summary:?}",
        run.as_secs_f64(),
        scan.as_secs_f64()
    );
    let messages = usize::try_from(summary.reminders + summary.expiry_notices).expect("count");

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
        health_addr: None,
        links: Links {
            public_base_url: "https://passerelle.example.fr".into(),
        },
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
        "| Daily run over {VOUCHERS} vouchers ({} reminders, {} expired) | {:.1} s | scan of the vouchers: {:.2} s | {:.1}× | under 60 s | {} |",
        summary.reminders,
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
