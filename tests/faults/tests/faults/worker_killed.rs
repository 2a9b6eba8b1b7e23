//! The worker killed with SIGKILL in the middle of its work, then started again.

use std::time::Duration;

use chrono::{Datelike, Months, NaiveDate};
use passerelle_core::reimbursements::compute;
use passerelle_core::tenancy::tenants::{self, TenantKind};
use passerelle_faults::flows::{self, PRESCRIBER};
use passerelle_faults::process::eventually;
use passerelle_faults::{Stack, StackOptions};
use passerelle_test_support::activity::{self, ActivitySpec};
use passerelle_test_support::smtp::Behaviour;
use passerelle_test_support::{active_ticket_net, create_tenant};
use sqlx::Connection;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_batch_of_emails_and_restarted_sends_each_exactly_once() {
    const MESSAGES: usize = 60;
    let mut stack = Stack::start(StackOptions::default()).await;
    let client = stack.client.clone();
    let scheme_id = flows::scheme_id(&client).await;
    flows::allow_issuance(&client, &scheme_id, 1_000).await;
    for n in 1..=MESSAGES {
        let email = format!("holder{n}@mail.example");
        client
            .expect(
                "/v1/vouchers",
                PRESCRIBER,
                &flows::issuance(&scheme_id, n, Some(&email)),
                201,
            )
            .await;
    }
    stack.start_worker().await;
    stack.smtp.wait_for(10, Duration::from_secs(60)).await;
    // From now on the mail server reads each message and never answers: the sends in flight hang
    // mid-conversation, as they would if the worker died between DATA and the server's reply.
    stack.smtp.set_behaviour(Behaviour::HoldAfterData);
    // A conversation already past its answer when the server started holding ends within moments.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        stack.smtp.received().len() < MESSAGES,
        "the batch ended before the kill"
    );
    let lot = stack.lot().await;
    // What the server accepted is read again at each check, so that the kill comes once every
    // answered message is recorded as sent (a kill between an answer and its record is the
    // documented limit, which the test must not provoke).
    let settled = eventually(Duration::from_secs(30), || {
        let stack = &stack;
        async move {
            let accepted = stack.smtp.received().len();
            sent(stack, lot).await == accepted as i64 && stack.smtp.data_seen() > accepted
        }
    })
    .await;
    assert!(settled, "no send in flight to kill");
    stack.kill_worker().await;
    stack.smtp.set_behaviour(Behaviour::Accept);
    stack.start_worker().await;

    stack
        .smtp
        .wait_for(MESSAGES, Duration::from_secs(120))
        .await;
    let per_address = stack.deliveries();
    assert_eq!(
        per_address.len(),
        MESSAGES,
        "every holder got the welcome email: {per_address:?}"
    );
    assert!(
        per_address.values().all(|c| *c == 1),
        "sent twice: {per_address:?}"
    );
    // The server counts a message when it answers; the worker marks it sent just after: the
    // marks are checked once the requeue delay has passed.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        stack.smtp.received().len(),
        MESSAGES,
        "nothing more after the requeue delay"
    );
    assert_eq!(sent(&stack, lot).await, MESSAGES as i64);
}

async fn sent(stack: &Stack, lot: Uuid) -> i64 {
    stack
        .count(
            lot,
            "SELECT count(*) FROM email_outbox WHERE status = 'sent'",
        )
        .await
}

/// Statements and lines of a tenant for a month, without what a run draws at random (ids,
/// timestamps): what finance reads and pays.
async fn statements(stack: &Stack, tenant_id: Uuid, month: NaiveDate) -> Vec<String> {
    let mut tx = stack.tenant_tx(tenant_id).await;
    sqlx::query_scalar(STATEMENTS)
        .bind(month)
        .fetch_all(&mut *tx)
        .await
        .expect("statements")
}

/// Every line of every statement of a month, with what finance reads and pays.
const STATEMENTS: &str = "SELECT concat_ws('|', st.reference, st.status, st.total_cents, st.line_count, l.line_no, l.kind,
                                 l.source_kind, l.source_id, l.occurred_on, l.voucher_reference, l.minutes,
                                 l.rate_cents, l.amount_cents, l.adjusts_month)
     FROM statements st JOIN statement_lines l ON l.tenant_id = st.tenant_id AND l.statement_id = st.id
     WHERE st.month = $1 ORDER BY st.reference, l.line_no";

const FINISHED_RUNS: &str = "SELECT count(*) FROM scheduled_runs WHERE job = 'monthly-reimbursements' AND finished_at IS NOT NULL";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_monthly_run_and_restarted_leaves_the_statements_of_a_clean_run() {
    let mut stack = Stack::start(StackOptions {
        // The nightly tick every two seconds: each tick asks for the previous month's run of
        // every tenant, which runs once per tenant and month.
        env: vec![("MONTHLY_SCHEDULE", "*/2 * * * * *".into())],
        ..StackOptions::default()
    })
    .await;
    let database = stack.database.as_ref().expect("shared database");
    let month = passerelle_test_support::paris_today()
        .with_day(1)
        .expect("first day")
        - Months::new(1);
    let mut tenants_and_clean_runs = Vec::new();
    for (slug, insee_code) in [("xfaults", "19"), ("yfaults", "12")] {
        let tenant = create_tenant(&database.app, slug, TenantKind::Departement, insee_code).await;
        let scheme_id = active_ticket_net(
            &database.app,
            tenant.id,
            None,
            Some(month - Months::new(11)),
        )
        .await;
        let rows = activity::generate(
            database,
            tenant.id,
            scheme_id,
            ActivitySpec {
                vouchers: 400,
                epns: 4,
                sessions_per_epn: 80,
                max_attendance: 6,
                first_day: month - Months::new(11),
                bulk: false,
            },
        )
        .await;
        assert!(rows > 0);
        // The clean run: the same computation on the same rows, rolled back.
        let tenant = tenants::get(&database.app, tenant.id)
            .await
            .expect("tenant");
        let mut tx = database.app.begin_tenant(tenant.id).await.expect("tx");
        compute::run_month_in(&mut tx, &tenant, month)
            .await
            .expect("clean run");
        let clean: Vec<String> = sqlx::query_scalar(STATEMENTS)
            .bind(month)
            .fetch_all(&mut *tx)
            .await
            .expect("clean statements");
        tx.rollback().await.expect("rollback");
        assert!(
            clean.len() > 50,
            "a month with activity: {} lines",
            clean.len()
        );
        tenants_and_clean_runs.push((tenant.id, clean));
    }
    let (x, y) = (tenants_and_clean_runs[0].0, tenants_and_clean_runs[1].0);

    // y's run will wait on its tenant lock, in the middle of its transaction (its claim of the
    // month written, nothing committed); x's runs through.
    let mut holder = sqlx::PgConnection::connect(&database.app_url)
        .await
        .expect("connect");
    sqlx::query("SELECT pg_advisory_lock(hashtextextended('reimbursements:' || $1::text, 0))")
        .bind(y)
        .execute(&mut holder)
        .await
        .expect("hold y's lock");
    stack.start_worker().await;
    let midway = eventually(Duration::from_secs(60), || {
        let stack = &stack;
        async move {
            stack.count(x, FINISHED_RUNS).await == 1
                && stack
                    .count(
                        y,
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                    )
                    .await
                    == 1
        }
    })
    .await;
    assert!(midway, "x's run did not finish or y's did not start");
    stack.kill_worker().await;
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(&mut holder)
        .await
        .expect("release y's lock");
    let y_claims = stack
        .count(
            y,
            "SELECT count(*) FROM scheduled_runs WHERE job = 'monthly-reimbursements'",
        )
        .await;
    assert_eq!(
        y_claims, 0,
        "the killed run's claim went with its transaction"
    );

    stack.start_worker().await;
    let finished = eventually(Duration::from_secs(60), || {
        let stack = &stack;
        async move { stack.count(y, FINISHED_RUNS).await == 1 }
    })
    .await;
    assert!(finished, "y's run did not complete after the restart");
    for (tenant_id, clean) in &tenants_and_clean_runs {
        let after = statements(&stack, *tenant_id, month).await;
        assert_eq!(
            &after, clean,
            "tenant {tenant_id}: statements differ from a clean run"
        );
        let runs = stack
            .count(
                *tenant_id,
                &format!("SELECT count(*) FROM scheduled_runs WHERE job = 'monthly-reimbursements' AND period = '{month}'"),
            )
            .await;
        assert_eq!(runs, 1, "one run of the month");
    }
}
