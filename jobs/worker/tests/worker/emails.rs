//! Emails end to end: outbox rows written by issuance and the daily run, relayed through a real
//! Redis queue, sent by real workers over SMTP to a server the test starts, and checked as that
//! server received them.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{Days, NaiveDate, TimeZone, Utc};
use passerelle_core::audit::Actor;
use passerelle_core::emails::status::EmailStatus;
use passerelle_core::emails::{Kind, daily, outbox};
use passerelle_test_support::smtp::Behaviour;

use crate::harness::{Harness, Mail};

fn long_date_fr(d: NaiveDate) -> String {
    passerelle_core::emails::french::long_date(d)
}

#[tokio::test]
async fn the_welcome_email_arrives_in_french_with_one_click_unsubscribe() {
    let h = Harness::new().await;
    let voucher = h.issue("Jeanne", Some("jeanne@example.org"), true).await;
    h.issue("Sans", Some("sans.consentement@example.org"), false)
        .await;
    h.issue("Papier", None, false).await;

    let mut options = h.options();
    let health = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let health_addr = health.local_addr().expect("addr");
    drop(health);
    options.health_addr = Some(health_addr);
    let worker = h.start_worker_with(options);

    let received = h.smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(
        received.len(),
        1,
        "only the consenting holder gets an email"
    );
    let mail = Mail::parse(&received[0]);
    assert_eq!(mail.to, vec!["jeanne@example.org".to_owned()]);
    assert_eq!(received[0].mail_from, h.tenant.sender_email);
    assert!(mail.subject.contains("Ticket Net"), "{}", mail.subject);
    assert!(mail.subject.contains("20 heures"), "{}", mail.subject);
    let valid_until = long_date_fr(voucher.valid_until);
    // HTML escapes `/` as `&#x2f;`: compare what a browser displays.
    let html = mail.html.replace("&#x2f;", "/");
    for part in [&mail.text, &html] {
        for needle in [
            "Bonjour Jeanne",
            voucher.reference.as_str(),
            "20 heures",
            valid_until.as_str(),
            // The EPN of the holder's commune comes first, with its address and phone.
            "EPN de Figeac",
            "2 boulevard Pasteur",
            "05 65 50 05 40",
            "https://passerelle.example.fr/v1/public/balance-page",
        ] {
            assert!(part.contains(needle), "`{needle}` missing from:\n{part}");
        }
    }
    // The holder's own space: the link, and the code to type where the letter says.
    let space = format!("https://passerelle.example.fr/p/{}/", h.tenant.slug);
    let code = mail
        .text
        .split(&space)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no link to the holder's space in:\n{}", mail.text));
    assert!(html.contains(&format!("{space}{code}")), "{html}");
    assert!(
        mail.text.contains(&format!("saisissez le code {code}")),
        "{}",
        mail.text
    );
    let opened = passerelle_core::delivery::portfolio::link::open(&h.db.app, &h.tenant.slug, code)
        .await
        .expect("open")
        .expect("the email's code opens the holder's space");
    assert_eq!(opened.beneficiary_id, voucher.beneficiary_id);
    assert!(
        mail.text.find("EPN de Figeac") < mail.text.find("Médiathèque de Cahors"),
        "the nearest EPN is not listed first:\n{}",
        mail.text
    );
    assert!(mail.html.contains("<html lang=\"fr\">"));
    assert!(mail.html.contains("width=device-width"));
    let unsubscribe = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
    assert!(
        unsubscribe.starts_with("<https://passerelle.example.fr/v1/public/unsubscribe/"),
        "{unsubscribe}"
    );
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );

    let rows = h
        .wait_outbox("welcome sent, others none", |m| {
            m.status == EmailStatus::Sent
        })
        .await;
    assert_eq!(
        rows.len(),
        1,
        "no outbox row for holders without consent or address"
    );
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].recipient.as_deref(), Some("jeanne@example.org"));
    assert_eq!(
        rows[0]
            .smtp_message_id
            .as_deref()
            .map(|s| s.trim_matches(['<', '>'])),
        Some(mail.message_id.as_str())
    );
    assert!(
        rows[0]
            .smtp_response
            .as_deref()
            .unwrap_or("")
            .starts_with("250")
    );
    assert!(unsubscribe.contains(&rows[0].unsubscribe_key.simple().to_string()));

    // The liveness endpoint reports the relay's passes.
    let health = reqwest::get(format!("http://{health_addr}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.expect("json");
    assert_eq!(body["status"], "ok");

    worker.stop().await;
    assert!(
        reqwest::get(format!("http://{health_addr}/healthz"))
            .await
            .is_err(),
        "the liveness endpoint outlived the worker"
    );
    h.assert_no_job_left_behind().await;
    h.drop_queues().await;
}

#[tokio::test]
async fn each_message_is_sent_once_with_the_day_run_twice_and_two_workers() {
    let h = Harness::new().await;
    let today = h.tenant.today();
    let reminded = h.issue("Rappel", Some("rappel@example.org"), true).await;
    let expired = h.issue("Expire", Some("expire@example.org"), true).await;
    let completed = h.issue("Fini", Some("fini@example.org"), true).await;
    let used_up = h.issue("Epuise", Some("epuise@example.org"), true).await;
    let long_ago = today - Days::new(340);
    h.backdate(reminded.id, long_ago, today + Days::new(30))
        .await;
    h.backdate(expired.id, long_ago, today - Days::new(1)).await;
    h.backdate(completed.id, long_ago, today + Days::new(5))
        .await;
    h.backdate(used_up.id, long_ago, today + Days::new(5)).await;
    h.sql(&format!(
        "UPDATE vouchers SET status = 'completed', minutes_left = 0 WHERE id = '{}'",
        completed.id
    ))
    .await;
    h.sql(&format!(
        "UPDATE vouchers SET minutes_left = 0 WHERE id = '{}'",
        used_up.id
    ))
    .await;

    // The day, run by two replicas at once, then once more after a restart.
    let (first, second) = tokio::join!(
        daily::run_day(&h.db.app, h.tenant.id, today),
        daily::run_day(&h.db.app, h.tenant.id, today)
    );
    let (first, second) = (first.expect("run"), second.expect("run"));
    assert_eq!(
        [first.ran, second.ran].iter().filter(|r| **r).count(),
        1,
        "{first:?} {second:?}"
    );
    let ran = if first.ran { first } else { second };
    assert_eq!(
        (ran.expired, ran.expiry_notices, ran.reminders),
        (1, 1, 1),
        "{ran:?}"
    );
    let again = daily::run_day(&h.db.app, h.tenant.id, today)
        .await
        .expect("run");
    assert!(!again.ran);

    let workers = [h.start_worker(), h.start_worker()];
    let expected = 4 + 1 + 1; // four welcomes, one reminder, one expiry notice
    let received = h.smtp.wait_for(expected, Duration::from_secs(30)).await;
    // The next day's run finds the reminder already sent.
    let next_day = daily::run_day(&h.db.app, h.tenant.id, today + Days::new(1))
        .await
        .expect("next day");
    assert_eq!(
        (next_day.reminders, next_day.expiry_notices),
        (0, 0),
        "{next_day:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received_later = h.smtp.received();
    assert_eq!(
        received_later.len(),
        expected,
        "duplicates or missing: {}",
        received.len()
    );
    let ids: HashSet<String> = received_later
        .iter()
        .map(|r| Mail::parse(r).message_id)
        .collect();
    assert_eq!(ids.len(), expected, "a message was delivered twice");

    let subjects: Vec<(String, String)> = received_later
        .iter()
        .map(|r| (r.rcpt_to[0].clone(), Mail::parse(r).subject))
        .collect();
    let reminder = subjects
        .iter()
        .find(|(to, s)| to == "rappel@example.org" && s.contains("expire le"))
        .expect("the reminder");
    assert!(
        reminder.1.contains(&long_date_fr(today + Days::new(30))),
        "{reminder:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|(to, s)| to == "expire@example.org" && s.contains("a expiré"))
    );
    assert!(
        !subjects.iter().any(
            |(to, s)| (to == "fini@example.org" || to == "epuise@example.org")
                && s.contains("expire le")
        ),
        "a reminder went to a completed or used-up voucher: {subjects:?}"
    );
    let rows = h
        .wait_outbox("all sent", |m| m.status == EmailStatus::Sent)
        .await;
    assert!(
        rows.iter()
            .any(|m| m.kind == Kind::Reminder && m.reminder_days == Some(30))
    );

    let mut tx = h.db.app.begin_tenant(h.tenant.id).await.expect("tx");
    let status: String = sqlx::query_scalar("SELECT status FROM vouchers WHERE id = $1")
        .bind(expired.id)
        .fetch_one(&mut *tx)
        .await
        .expect("status");
    tx.commit().await.expect("commit");
    assert_eq!(status, "expired");

    for worker in workers {
        worker.stop().await;
    }
    h.assert_no_job_left_behind().await;
    h.drop_queues().await;
}

#[tokio::test]
async fn a_voucher_expires_at_midnight_in_paris() {
    let h = Harness::new().await;
    let voucher = h.issue("Minuit", None, false).await;
    let last_day = NaiveDate::from_ymd_opt(2026, 12, 31).expect("date");
    h.backdate(voucher.id, last_day - Days::new(364), last_day)
        .await;
    let status = || async {
        let mut tx = h.db.app.begin_tenant(h.tenant.id).await.expect("tx");
        let s: String = sqlx::query_scalar("SELECT status FROM vouchers WHERE id = $1")
            .bind(voucher.id)
            .fetch_one(&mut *tx)
            .await
            .expect("status");
        tx.commit().await.expect("commit");
        s
    };
    // 23:59:59 in Paris on its last day (22:59:59 UTC in winter): still valid.
    let before = Utc
        .with_ymd_and_hms(2026, 12, 31, 22, 59, 59)
        .single()
        .expect("time");
    let run = daily::run(&h.db.app, h.tenant.id, before)
        .await
        .expect("run");
    assert_eq!((run.day, run.expired), (Some(last_day), 0));
    assert_eq!(status().await, "issued");
    // Midnight in Paris is 23:00 UTC: the next day has begun there, and the voucher expires.
    let after = Utc
        .with_ymd_and_hms(2026, 12, 31, 23, 0, 0)
        .single()
        .expect("time");
    let run = daily::run(&h.db.app, h.tenant.id, after)
        .await
        .expect("run");
    assert_eq!((run.day, run.expired), (last_day.succ_opt(), 1));
    assert_eq!(status().await, "expired");
}

#[tokio::test]
async fn a_worker_killed_mid_send_and_restarted_delivers_one_message() {
    let h = Harness::new().await;
    h.smtp.set_behaviour(Behaviour::HoldAfterData);
    h.issue("Crash", Some("crash@example.org"), true).await;
    let worker = h.start_worker();
    for _ in 0..200 {
        if h.smtp.data_seen() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.smtp.data_seen(), 1, "the message never reached DATA");
    worker.kill();
    h.smtp.set_behaviour(Behaviour::Accept);

    let worker = h.start_worker();
    let received = h.smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 1);
    h.wait_outbox("sent", |m| m.status == EmailStatus::Sent)
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.smtp.received().len(), 1, "sent again after the restart");
    worker.stop().await;
    h.drop_queues().await;
}

#[tokio::test]
async fn smtp_refusing_connections_then_back_delivers_every_message_once() {
    let mut h = Harness::new().await;
    h.smtp.stop();
    for name in ["Un", "Deux", "Trois"] {
        h.issue(
            name,
            Some(&format!("{}@example.org", name.to_lowercase())),
            true,
        )
        .await;
    }
    let worker = h.start_worker();
    let rows = h
        .wait_outbox("each tried and refused", |m| {
            m.status == EmailStatus::Pending && m.attempts >= 2 && m.last_error.is_some()
        })
        .await;
    assert!(rows.iter().all(|m| m.retrying_since.is_some()), "{rows:#?}");
    h.smtp.restart().await;
    let received = h.smtp.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 3);
    h.wait_outbox("all sent", |m| m.status == EmailStatus::Sent)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ids: HashSet<String> = h
        .smtp
        .received()
        .iter()
        .map(|r| Mail::parse(r).message_id)
        .collect();
    assert_eq!((h.smtp.received().len(), ids.len()), (3, 3));
    worker.stop().await;
    h.assert_no_job_left_behind().await;
    h.drop_queues().await;
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_message_and_suppresses_the_address() {
    let h = Harness::new().await;
    h.smtp.set_behaviour(Behaviour::RejectRecipients);
    let first = h.issue("Refus", Some("Refus@Example.org"), true).await;
    let worker = h.start_worker();
    let rows = h
        .wait_outbox("failed", |m| m.status == EmailStatus::Failed)
        .await;
    assert!(
        rows[0].last_error.as_deref().unwrap_or("").contains("550"),
        "{rows:#?}"
    );
    assert_eq!(rows[0].attempts, 1, "a permanent failure is not retried");

    // A second voucher for the same holder: its welcome is cancelled without trying.
    let second = passerelle_core::vouchers::issue(
        &h.db.app,
        h.tenant.id,
        h.prescriber_id,
        Actor::SYSTEM,
        &passerelle_core::vouchers::IssueRequest {
            scheme_id: h.scheme_id,
            holder: passerelle_core::vouchers::Holder::Existing(first.beneficiary_id),
            participation_fee_cents: 0,
        },
    )
    .await
    .expect("second voucher");
    let rows = h
        .wait_outbox("second cancelled", |m| m.status != EmailStatus::Pending)
        .await;
    let cancelled = rows
        .iter()
        .find(|m| m.voucher_id == Some(second.voucher.id))
        .expect("second welcome");
    assert_eq!(cancelled.status, EmailStatus::Cancelled);
    assert!(
        cancelled
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("suppression")
    );
    assert_eq!(cancelled.attempts, 0);

    // The address is corrected on the server side; a tenant admin retries: it goes.
    h.smtp.set_behaviour(Behaviour::Accept);
    let failed = rows
        .iter()
        .find(|m| m.status == EmailStatus::Failed)
        .expect("failed");
    outbox::retry(&h.db.app, h.tenant.id, Actor::SYSTEM, failed.id)
        .await
        .expect("retry");
    let received = h.smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 1);
    let retry_again = outbox::retry(&h.db.app, h.tenant.id, Actor::SYSTEM, failed.id).await;
    h.wait_outbox("retried one sent", |m| m.status != EmailStatus::Pending)
        .await;
    assert!(
        retry_again.is_err() || h.smtp.received().len() == 1,
        "a pending or sent email cannot be retried"
    );
    worker.stop().await;
    h.drop_queues().await;
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff_then_given_up_after_the_window() {
    let h = Harness::new().await;
    h.smtp.set_behaviour(Behaviour::DeferRecipients);
    h.issue("Patience", Some("patience@example.org"), true)
        .await;
    let mut options = h.options();
    options.retry.window = Duration::from_secs(2);
    let worker = h.start_worker_with(options);
    let rows = h
        .wait_outbox("given up", |m| m.status == EmailStatus::Failed)
        .await;
    let reason = rows[0].last_error.clone().unwrap_or_default();
    assert!(reason.starts_with("gave up after"), "{reason}");
    assert!(reason.contains("451"), "{reason}");
    assert!(rows[0].attempts >= 2, "{rows:#?}");
    let mut tx = h.db.app.begin_tenant(h.tenant.id).await.expect("tx");
    assert!(
        !outbox::is_suppressed(&mut tx, "patience@example.org")
            .await
            .expect("check"),
        "a temporary failure must not suppress the address"
    );
    tx.commit().await.expect("commit");
    worker.stop().await;
    h.drop_queues().await;
}

#[tokio::test]
async fn prescribers_get_one_daily_digest_for_holders_without_email() {
    let h = Harness::new().await;
    let today = h.tenant.today();
    let unregistered = h.issue("Oublie", None, false).await;
    let expiring = h
        .issue("Bientot", Some("pas.de.consentement@example.org"), false)
        .await;
    let emailed = h
        .issue("Courriel", Some("courriel@example.org"), true)
        .await;
    h.backdate(
        unregistered.id,
        today - Days::new(31),
        today + Days::new(334),
    )
    .await;
    h.backdate(expiring.id, today - Days::new(300), today + Days::new(7))
        .await;
    h.backdate(emailed.id, today - Days::new(300), today + Days::new(7))
        .await;

    let run = daily::run_day(&h.db.app, h.tenant.id, today)
        .await
        .expect("run");
    // The unconsenting holder's voucher is both expiring and never registered: two alerts.
    assert_eq!(
        (run.prescriber_alerts, run.prescriber_digests, run.reminders),
        (3, 1, 1),
        "{run:?}"
    );
    let worker = h.start_worker();
    // The emailed holder's welcome and reminder, and the digest.
    let received = h.smtp.wait_for(3, Duration::from_secs(30)).await;
    let digest = received
        .iter()
        .map(Mail::parse)
        .find(|m| m.to == vec!["suivi@ccas-figeac.example".to_owned()])
        .expect("the digest");
    for needle in [
        unregistered.reference.as_str(),
        expiring.reference.as_str(),
        "Oublie",
        "Bientot",
        "Pas encore inscrits",
    ] {
        assert!(
            digest.text.contains(needle) || digest.text.contains(&needle.to_uppercase()),
            "`{needle}` missing from:\n{}",
            digest.text
        );
    }
    assert!(
        !digest.text.contains(&emailed.reference),
        "the emailed holder is in the digest"
    );
    assert!(digest.header("List-Unsubscribe").is_none());

    // The next day lists nothing new: no second digest.
    let next = daily::run_day(&h.db.app, h.tenant.id, today + Days::new(1))
        .await
        .expect("run");
    assert_eq!(
        (next.prescriber_alerts, next.prescriber_digests),
        (0, 0),
        "{next:?}"
    );
    h.wait_outbox("all sent", |m| m.status == EmailStatus::Sent)
        .await;
    assert_eq!(h.smtp.received().len(), 3);
    worker.stop().await;
    h.drop_queues().await;
}

#[tokio::test]
async fn a_digest_for_a_prescriber_without_address_fails_with_its_reason() {
    let h = Harness::with_prescriber_email(None).await;
    let today = h.tenant.today();
    let unregistered = h.issue("Oublie", None, false).await;
    h.backdate(
        unregistered.id,
        today - Days::new(45),
        today + Days::new(320),
    )
    .await;
    daily::run_day(&h.db.app, h.tenant.id, today)
        .await
        .expect("run");
    let worker = h.start_worker();
    let rows = h
        .wait_outbox("digest failed", |m| m.status == EmailStatus::Failed)
        .await;
    assert_eq!(rows[0].kind, Kind::PrescriberDigest);
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("contact email")
    );
    worker.stop().await;
    h.drop_queues().await;
}

#[tokio::test]
async fn the_relay_keeps_the_backlog_in_postgresql_not_in_redis() {
    let h = Harness::new().await;
    let allocation: uuid::Uuid = {
        let mut tx = h.db.app.begin_tenant(h.tenant.id).await.expect("tx");
        let id = sqlx::query_scalar("SELECT id FROM allocations LIMIT 1")
            .fetch_one(&mut *tx)
            .await
            .expect("allocation");
        tx.commit().await.expect("commit");
        id
    };
    let extra = passerelle_worker::relay::MAX_QUEUED + 500;
    h.sql(&format!(
        "INSERT INTO beneficiaries (tenant_id, id, first_name, last_name, commune_insee, public_category,
                                    email, email_consent, prescriber_id)
         SELECT '{t}', uuid_v7(), 'P' || i, 'N' || i, '46102', 'senior', 'h' || i || '@example.org', true, '{p}'
         FROM generate_series(1, {extra}) i",
        t = h.tenant.id,
        p = h.prescriber_id
    ))
    .await;
    h.sql(&format!(
        "WITH v AS (
             INSERT INTO vouchers (tenant_id, id, reference, scheme_id, rules_version, beneficiary_id, prescriber_id,
                                   allocation_id, issued_on, valid_until, minutes_total, minutes_left, face_value_cents)
             SELECT '{t}', uuid_v7(), 'LOT-R' || lpad(row_number() OVER ()::text, 9, '0'), '{s}', 1, b.id, '{p}', '{a}',
                    CURRENT_DATE, CURRENT_DATE + 364, 1200, 1200, 20000
             FROM beneficiaries b RETURNING id)
         INSERT INTO email_outbox (tenant_id, id, kind, voucher_id) SELECT '{t}', uuid_v7(), 'welcome', id FROM v",
        t = h.tenant.id,
        s = h.scheme_id,
        p = h.prescriber_id,
        a = allocation
    ))
    .await;
    let queue = passerelle_worker::queue::storage::<passerelle_worker::jobs::send_email::SendEmail>(
        h.redis.clone(),
        &format!(
            "{}:{}",
            h.queue_prefix,
            passerelle_worker::queue::SEND_EMAIL
        ),
    );
    let mut redis = h.redis.clone();
    let options = h.options();
    let first = passerelle_worker::relay::relay_once(&h.db.app, &queue, &mut redis, &options)
        .await
        .expect("relay");
    assert_eq!(first as i64, passerelle_worker::relay::MAX_QUEUED);
    let second = passerelle_worker::relay::relay_once(&h.db.app, &queue, &mut redis, &options)
        .await
        .expect("relay");
    assert_eq!(second, 0, "the relay went past its bound");
    let waiting: i64 =
        redis::AsyncCommands::zcard(&mut redis, queue.get_config().scheduled_jobs_set())
            .await
            .expect("zcard");
    assert_eq!(waiting, passerelle_worker::relay::MAX_QUEUED);
    let rows = h.outbox().await;
    assert_eq!(rows.iter().filter(|m| m.enqueued_at.is_none()).count(), 500);
    h.drop_queues().await;
}

#[tokio::test]
async fn without_smtp_url_emails_are_written_as_eml_files() {
    let dir =
        std::env::temp_dir().join(format!("passerelle-mail-{}", uuid::Uuid::new_v4().simple()));
    let mailer = passerelle_worker::mailer::Mailer::new(None, dir.clone(), 1).expect("file mailer");
    let prepared = passerelle_core::emails::Prepared {
        to: "jeanne@example.org".into(),
        sender_name: "Département du Lot".into(),
        sender_email: "ticket-net@lot.example".into(),
        rendered: passerelle_core::emails::Rendered {
            subject: "Votre chèque Ticket Net".into(),
            text: "Bonjour Jeanne".into(),
            html: "<p>Bonjour Jeanne</p>".into(),
        },
        unsubscribe_url: Some("https://passerelle.example.fr/v1/public/unsubscribe/x/y".into()),
    };
    let id = uuid::Uuid::now_v7();
    let message = passerelle_worker::mailer::build(
        &prepared,
        &passerelle_worker::mailer::message_id(id, &prepared.sender_email),
    )
    .expect("message");
    let answer = mailer.send(message).await.expect("written");
    assert!(answer.starts_with("written as"), "{answer}");
    let files: Vec<_> = std::fs::read_dir(&dir).expect("dir").flatten().collect();
    assert_eq!(files.len(), 1);
    let raw = std::fs::read_to_string(files[0].path()).expect("eml");
    assert!(
        raw.contains(&format!("Message-ID: <{}@lot.example>", id.simple())),
        "{raw}"
    );
    assert!(
        raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{raw}"
    );
    std::fs::remove_dir_all(&dir).expect("clean");
}
