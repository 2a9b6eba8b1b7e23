//! The demo `make run` seeds: fifteen months of activity that hold together the way the product's
//! own rules would have written them, seeded once however often `seed-demo` runs.

use chrono::Datelike;
use passerelle_core::demo;
use passerelle_core::tenancy::tenants;
use passerelle_test_support::TestDatabase;

/// Figures that must not move when the seed runs again.
const TOTALS: &str = "SELECT concat_ws(' ',
        (SELECT count(*) FROM vouchers), (SELECT count(*) FROM beneficiaries),
        (SELECT count(*) FROM attendances), (SELECT count(*) FROM sessions),
        (SELECT count(*) FROM statements), (SELECT coalesce(sum(total_cents), 0) FROM statements))";

#[tokio::test]
async fn the_demo_holds_a_year_of_activity_that_adds_up_and_is_seeded_once() {
    let db = TestDatabase::create().await;
    demo::seed(&db.app).await.expect("first seed");
    let lot = tenants::find_by_slug(&db.app, "lot")
        .await
        .expect("tenant")
        .expect("the Lot");
    let mut tx = db.app.begin_tenant(lot.id).await.expect("tx");
    let before: String = sqlx::query_scalar(TOTALS)
        .fetch_one(&mut *tx)
        .await
        .expect("totals");
    let vouchers: i64 = sqlx::query_scalar("SELECT count(*) FROM vouchers")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert!(vouchers >= 120, "{vouchers} vouchers");

    // Each voucher's balance is its hours less what its attendance debited, and its status
    // follows from it, as recording attendance would have left them.
    let wrong: Vec<String> = sqlx::query_scalar(
        "SELECT v.reference || ' ' || v.status || ' ' || v.minutes_left || ' ' || coalesce(sum(a.minutes_debited), 0)
           FROM vouchers v LEFT JOIN attendances a ON a.tenant_id = v.tenant_id AND a.voucher_id = v.id
          GROUP BY v.tenant_id, v.id
         HAVING v.minutes_left <> v.minutes_total - coalesce(sum(a.minutes_debited), 0)
             OR (v.status = 'completed') <> (v.minutes_left = 0)
             OR (v.status = 'in_progress' AND (v.minutes_left = v.minutes_total OR v.valid_until < current_date))
             OR (v.status = 'issued' AND count(a.id) > 0)
             OR (v.status = 'cancelled' AND count(a.id) > 0)",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("balances");
    assert!(wrong.is_empty(), "{wrong:?}");
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT status FROM vouchers ORDER BY status")
            .fetch_all(&mut *tx)
            .await
            .expect("statuses");
    assert_eq!(
        statuses,
        [
            "cancelled",
            "completed",
            "expired",
            "in_progress",
            "issued",
            "registered"
        ],
        "every status a territory sees"
    );
    // Attendance only at sessions held, after the registration, at the holder's EPN, once.
    let misplaced: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM attendances a
           JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
           JOIN registrations r ON r.tenant_id = a.tenant_id AND r.voucher_id = a.voucher_id
           JOIN vouchers v ON v.tenant_id = a.tenant_id AND v.id = a.voucher_id
          WHERE s.status <> 'held' OR s.starts_at <= r.registered_at OR s.epn_id <> r.epn_id
             OR a.epn_id <> r.epn_id OR s.starts_at::date > v.valid_until OR s.starts_at > now()",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("attendance");
    assert_eq!(misplaced, 0);
    // Within every allocation, and leaving the demo prescriber two thirds of theirs.
    let over: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM allocations a
          WHERE a.issued <> (SELECT count(*) FROM vouchers v WHERE v.tenant_id = a.tenant_id
                                AND v.allocation_id = a.id AND v.status <> 'cancelled')
             OR a.quantity < (SELECT count(*) FROM vouchers v WHERE v.tenant_id = a.tenant_id AND v.allocation_id = a.id)
             OR EXISTS (SELECT 1 FROM vouchers v WHERE v.tenant_id = a.tenant_id AND v.allocation_id = a.id
                          AND v.issued_on NOT BETWEEN a.period_start AND a.period_end)",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("allocations");
    assert_eq!(over, 0);
    let demo_prescriber_room: i64 = sqlx::query_scalar(
        "SELECT min(a.quantity - a.issued)::int8
           FROM allocations a JOIN users u ON u.tenant_id = a.tenant_id AND u.prescriber_id = a.prescriber_id",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("room");
    assert!(
        demo_prescriber_room >= 100,
        "the demo prescriber can still issue: {demo_prescriber_room}"
    );
    // The months that ended have their statements; nobody is emailed by the demo.
    let months: i64 = sqlx::query_scalar("SELECT count(DISTINCT month) FROM statements")
        .fetch_one(&mut *tx)
        .await
        .expect("months");
    assert!(months >= 12, "{months} months of statements");
    let emails: i64 = sqlx::query_scalar("SELECT count(*) FROM email_outbox")
        .fetch_one(&mut *tx)
        .await
        .expect("outbox");
    assert_eq!(emails, 0, "the demo sends no message of its own");
    let with_email: i64 =
        sqlx::query_scalar("SELECT count(*) FROM beneficiaries WHERE email IS NOT NULL")
            .fetch_one(&mut *tx)
            .await
            .expect("emails");
    assert_eq!(with_email, 0);
    let planned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE status = 'planned' AND starts_at > now()",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("planned");
    assert!(planned > 0, "the EPNs have sessions ahead");
    tx.commit().await.expect("commit");

    demo::seed(&db.app).await.expect("second seed");
    let mut tx = db.app.begin_tenant(lot.id).await.expect("tx");
    let after: String = sqlx::query_scalar(TOTALS)
        .fetch_one(&mut *tx)
        .await
        .expect("totals");
    tx.commit().await.expect("commit");
    assert_eq!(after, before, "a second seed adds nothing");

    let ara = tenants::find_by_slug(&db.app, "auvergne-rhone-alpes")
        .await
        .expect("tenant")
        .expect("the région");
    let mut tx = db.app.begin_tenant(ara.id).await.expect("tx");
    let (epns, vouchers): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(DISTINCT epn_id) FROM registrations), (SELECT count(*) FROM vouchers)",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("région");
    tx.commit().await.expect("commit");
    assert!(
        epns == 1 && vouchers >= 80,
        "{epns} EPNs, {vouchers} vouchers"
    );
    assert!(lot.today().year() >= 2026);
}
