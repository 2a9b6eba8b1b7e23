//! `make bench`, monthly reimbursements: 20 tenants, 4,000 EPNs, 1,000,000 attendance rows in one
//! month. The monthly job (`reimbursements::run_month` for each tenant, as the worker runs it)
//! next to the bare SQL that totals the same month (`INSERT … SELECT … GROUP BY` per EPN and
//! scheme), both in this program on the same database. Target: the job takes at most three times
//! the bare SQL, and under 30 seconds.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use passerelle_core::audit::Actor;
use passerelle_core::prescribers::{self, NewAllocation, NewPrescriber};
use passerelle_core::reimbursements;
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_test_support::{TestDatabase, active_ticket_net, create_tenant};

const TENANTS: usize = 20;
const EPNS_PER_TENANT: i64 = 200;
const ATTENDANCES_PER_TENANT: i64 = 50_000;
const ATTENDANCES_PER_SESSION: i64 = 10;

#[tokio::main]
async fn main() {
    let db = TestDatabase::create().await;
    let month = NaiveDate::from_ymd_opt(2026, 10, 1).expect("month");
    let started = Instant::now();
    let mut tenants = Vec::new();
    for t in 0..TENANTS {
        let letter = char::from(b'a' + u8::try_from(t).expect("fewer than 26 tenants"));
        // The reference prefix comes from the slug's first three letters: BAA, BBB…
        let slug = format!("b{letter}{letter}");
        let tenant = create_tenant(
            &db.app,
            &slug,
            TenantKind::Departement,
            &format!("{:02}", t + 1),
        )
        .await;
        let scheme_id = active_ticket_net(
            &db.app,
            tenant.id,
            None,
            NaiveDate::from_ymd_opt(2026, 1, 1),
        )
        .await;
        let prescriber_id = prescribers::create(
            &db.app,
            tenant.id,
            Actor::SYSTEM,
            &NewPrescriber {
                name: "CCAS".into(),
                kind: "ccas".into(),
                ..NewPrescriber::default()
            },
        )
        .await
        .expect("prescriber")
        .id;
        let allocation_id = prescribers::allocate(
            &db.app,
            tenant.id,
            Actor::SYSTEM,
            prescriber_id,
            &NewAllocation {
                scheme_id,
                period_start: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
                period_end: NaiveDate::from_ymd_opt(2026, 12, 31).expect("date"),
                quantity: 100_000,
            },
        )
        .await
        .expect("allocation")
        .id;
        let mut tx = db.app.begin_tenant(tenant.id).await.expect("tx");
        for statement in [
            "INSERT INTO epns (tenant_id, id, name) SELECT $1, uuid_v7(), 'EPN ' || i FROM generate_series(1, $5) i",
            "INSERT INTO epn_schemes (tenant_id, epn_id, scheme_id) SELECT $1, id, $2 FROM epns",
            "INSERT INTO beneficiaries (tenant_id, id, first_name, last_name, public_category, prescriber_id)
             SELECT $1, uuid_v7(), 'P', 'N' || i, 'senior', $3 FROM generate_series(1, $6) i",
            "INSERT INTO vouchers (tenant_id, id, reference, scheme_id, rules_version, beneficiary_id, prescriber_id,
                                   allocation_id, issued_on, valid_until, minutes_total, minutes_left, face_value_cents)
             SELECT $1, uuid_v7(), 'V' || row_number() OVER (), $2, 1, id, $3, $4, '2026-09-01', '2027-08-31', 1200, 1080, 20000
             FROM beneficiaries",
            "INSERT INTO sessions (tenant_id, id, epn_id, scheme_id, starts_at, duration_minutes, capacity, status)
             SELECT $1, uuid_v7(), e.id, $2, timestamptz '2026-10-01 08:00+02' + (i % 28) * interval '1 day', 120, 20, 'held'
             FROM generate_series(1, $6 / $7) i
             JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM epns) e ON e.n = i % $5",
            "INSERT INTO attendances (tenant_id, id, session_id, voucher_id, epn_id, status, minutes_debited)
             SELECT $1, uuid_v7(), s.id, v.id, s.epn_id, 'present', 120
             FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM vouchers) v
             JOIN (SELECT id, epn_id, row_number() OVER (ORDER BY id) - 1 AS n FROM sessions) s ON s.n = v.n / $7",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .bind(tenant.id)
                .bind(scheme_id)
                .bind(prescriber_id)
                .bind(allocation_id)
                .bind(EPNS_PER_TENANT)
                .bind(ATTENDANCES_PER_TENANT)
                .bind(ATTENDANCES_PER_SESSION)
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        tx.commit().await.expect("commit");
        tenants.push(tenant.id);
    }
    sqlx::query("ANALYZE")
        .execute(&db.owner)
        .await
        .expect("analyze");
    println!(
        "generated {} tenants, {} EPNs, {} attendances in {:.1} s",
        TENANTS,
        TENANTS as i64 * EPNS_PER_TENANT,
        TENANTS as i64 * ATTENDANCES_PER_TENANT,
        started.elapsed().as_secs_f64()
    );

    // Baseline: the month's totals per EPN and scheme, in plain SQL, tenant by tenant.
    sqlx::query("CREATE TABLE bare_totals (tenant_id uuid, epn_id uuid, scheme_id uuid, lines bigint, cents bigint)")
        .execute(&db.owner)
        .await
        .expect("baseline table");
    sqlx::query("GRANT INSERT ON bare_totals TO passerelle_app")
        .execute(&db.owner)
        .await
        .expect("grant");
    let started = Instant::now();
    for tenant_id in &tenants {
        let mut tx = db.app.begin_tenant(*tenant_id).await.expect("tx");
        sqlx::query(
            "INSERT INTO bare_totals
             SELECT a.tenant_id, a.epn_id, s.scheme_id, count(*),
                    sum((a.minutes_debited::bigint * (sv.rules ->> 'hourly_rate_cents')::bigint + 30) / 60)
             FROM attendances a
             JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
             JOIN vouchers v ON v.tenant_id = a.tenant_id AND v.id = a.voucher_id
             JOIN scheme_versions sv ON sv.tenant_id = v.tenant_id AND sv.scheme_id = v.scheme_id AND sv.version = v.rules_version
             WHERE a.voided_at IS NULL AND s.starts_at >= $1::date AND s.starts_at < $1::date + interval '1 month'
             GROUP BY a.tenant_id, a.epn_id, s.scheme_id",
        )
        .bind(month)
        .execute(&mut *tx)
        .await
        .expect("bare SQL");
        tx.commit().await.expect("commit");
    }
    let bare = started.elapsed();

    let started = Instant::now();
    let (mut statements, mut lines, mut total) = (0, 0, 0);
    for tenant_id in &tenants {
        let run = reimbursements::run_month(&db.app, *tenant_id, month)
            .await
            .expect("monthly job");
        statements += run.statements;
        lines += run.lines;
        total += run.total_cents;
    }
    let job = started.elapsed();
    let expected: i64 = sqlx::query_scalar("SELECT sum(cents)::bigint FROM bare_totals")
        .fetch_one(&db.owner)
        .await
        .expect("baseline total");
    assert_eq!(total, expected, "the job and the bare SQL disagree");

    let ratio = job.as_secs_f64() / bare.as_secs_f64();
    println!();
    println!("| Figure | Value | Baseline (same run) | Ratio | Target | Met |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| Monthly job, {TENANTS} tenants, {} EPNs, {lines} lines in {statements} statements | {:.1} s | bare `INSERT … SELECT … GROUP BY`: {:.1} s | {ratio:.1}× | ≤ 3× and under 30 s | {} |",
        TENANTS as i64 * EPNS_PER_TENANT,
        job.as_secs_f64(),
        bare.as_secs_f64(),
        if ratio <= 3.0 && job < Duration::from_secs(30) {
            "yes"
        } else {
            "no"
        }
    );
}
