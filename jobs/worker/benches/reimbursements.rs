//! `make bench`, monthly reimbursements over the national data (20 tenants, 4,000 EPNs): the first
//! monthly run of every tenant, for the month when its attendance since the schemes' start first
//! passes a million rows. A first run computes every month up to the one asked (each in its own
//! draft statements), so it prices every one of those rows. The monthly job
//! (`reimbursements::run_month` for each tenant, as the worker runs it) next to the bare SQL that
//! totals the same rows (`INSERT … SELECT … GROUP BY` per EPN, scheme and month), both in this
//! program on the same database. Target: the job takes at most three times the bare SQL, and
//! under 30 seconds.
//!
//! Every scheme is co-financed by two funders, so the job also shares each line between them and
//! the territory: the European fund pays half of every line up to a cap of half what that would
//! come to (so that its cap is reached mid-way and the rest passes on), the CAF a fifth of the
//! lines of every other voucher. The program checks that the fund's shares add up to its cap
//! exactly and that no line's shares exceed it.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use passerelle_core::reimbursements;
use passerelle_test_support::national;

/// The allocator of the `passerelle` binary, which runs the worker: the job is measured as it runs.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The month run: with the national data (vouchers issued over 2025 from 1 January), the
/// attendance from January to March 2025 first passes a million rows.
const MONTH: (i32, u32) = (2025, 3);

#[tokio::main]
async fn main() {
    let (db, data) = national::for_benchmarks().await;
    let month = NaiveDate::from_ymd_opt(MONTH.0, MONTH.1, 1).expect("month");
    let tenants: Vec<_> = data.tenants.iter().map(|t| t.id).collect();
    let epns = data.rows["epns"];

    // Baseline: the totals per EPN, scheme and month, in plain SQL, tenant by tenant.
    sqlx::query("CREATE TABLE bare_totals (tenant_id uuid, epn_id uuid, scheme_id uuid, month date, lines bigint, cents bigint)")
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
             SELECT a.tenant_id, a.epn_id, s.scheme_id,
                    date_trunc('month', s.starts_at AT TIME ZONE 'Europe/Paris')::date, count(*),
                    sum(minutes_at_rate(a.minutes_debited, (sv.rules ->> 'hourly_rate_cents')::bigint))
             FROM attendances a
             JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
             JOIN vouchers v ON v.tenant_id = a.tenant_id AND v.id = a.voucher_id
             JOIN scheme_versions sv ON sv.tenant_id = v.tenant_id AND sv.scheme_id = v.scheme_id AND sv.version = v.rules_version
             WHERE a.voided_at IS NULL
               AND s.starts_at < ($1::date + interval '1 month')::timestamp AT TIME ZONE 'Europe/Paris'
             GROUP BY 1, 2, 3, 4",
        )
        .bind(month)
        .execute(&mut *tx)
        .await
        .expect("bare SQL");
        tx.commit().await.expect("commit");
    }
    let bare = started.elapsed();

    // The two funders and their plan, with every voucher's funders as issuance records them.
    let mut caps = Vec::new();
    for t in &data.tenants {
        let tenant_total: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(cents), 0)::bigint FROM bare_totals WHERE tenant_id = $1",
        )
        .bind(t.id)
        .fetch_one(&db.owner)
        .await
        .expect("tenant total");
        let cap = tenant_total / 4;
        let (fse, caf) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let mut tx = db.app.begin_tenant(t.id).await.expect("tx");
        for sql in [
            "INSERT INTO funders (tenant_id, id, name, kind) VALUES ($1, $3, 'FSE+', 'european_fund'),
                                                                    ($1, $4, 'CAF', 'family_allowance_fund')",
            "INSERT INTO scheme_fundings (tenant_id, scheme_id, version, effective_from) VALUES ($1, $2, 1, '2024-01-01')",
            "INSERT INTO scheme_funding_lines (tenant_id, scheme_id, version, position, funder_id, share_basis_points, cap_cents)
             VALUES ($1, $2, 1, 1, $3, 5000, $5), ($1, $2, 1, 2, $4, 2000, NULL)",
            "INSERT INTO voucher_funders (tenant_id, voucher_id, scheme_id, funding_version, position, funder_id)
             SELECT tenant_id, id, scheme_id, 1, 1, $3 FROM vouchers WHERE tenant_id = $1 AND scheme_id = $2
             UNION ALL
             SELECT tenant_id, id, scheme_id, 1, 2, $4 FROM vouchers
              WHERE tenant_id = $1 AND scheme_id = $2 AND get_byte(uuid_send(id), 15) % 2 = 0",
        ] {
            sqlx::query(sql)
                .bind(t.id)
                .bind(t.scheme_id)
                .bind(fse)
                .bind(caf)
                .bind(cap)
                .execute(&mut *tx)
                .await
                .expect("funding plan");
        }
        tx.commit().await.expect("commit");
        caps.push((t.id, fse, cap));
    }
    sqlx::query("VACUUM ANALYZE voucher_funders")
        .execute(&db.owner)
        .await
        .expect("analyze");

    let started = Instant::now();
    for tenant_id in &tenants {
        reimbursements::run_month(&db.app, *tenant_id, month)
            .await
            .expect("monthly job");
    }
    let job = started.elapsed();
    // The run's own summary counts the month asked; a first run also wrote the months before it.
    let (mut statements, mut lines, mut total) = (0, 0, 0);
    for tenant_id in &tenants {
        let mut tx = db.app.begin_tenant(*tenant_id).await.expect("tx");
        let (s, l, t): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), sum(line_count)::bigint, sum(total_cents)::bigint FROM statements",
        )
        .fetch_one(&mut *tx)
        .await
        .expect("statements");
        tx.commit().await.expect("commit");
        (statements, lines, total) = (statements + s, lines + l, total + t);
    }
    let (expected_lines, expected): (i64, i64) =
        sqlx::query_as("SELECT sum(lines)::bigint, sum(cents)::bigint FROM bare_totals")
            .fetch_one(&db.owner)
            .await
            .expect("baseline total");
    assert_eq!(total, expected, "the job and the bare SQL disagree");
    assert_eq!(lines, expected_lines, "the job and the bare SQL disagree");
    let mut shares = 0;
    for (tenant_id, fse, cap) in &caps {
        let mut tx = db.app.begin_tenant(*tenant_id).await.expect("tx");
        let (fse_total, rows, over): (i64, i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(amount_cents) FILTER (WHERE funder_id = $2), 0)::bigint, count(*),
                    (SELECT count(*) FROM (
                        SELECT l.amount_cents, sum(s.amount_cents) AS shared
                          FROM statement_line_shares s
                          JOIN statement_lines l ON l.tenant_id = s.tenant_id AND l.statement_id = s.statement_id
                                                AND l.line_no = s.line_no
                         WHERE s.tenant_id = $1
                         GROUP BY l.tenant_id, l.statement_id, l.line_no, l.amount_cents) x
                      WHERE x.shared > x.amount_cents)
               FROM statement_line_shares WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .bind(fse)
        .fetch_one(&mut *tx)
        .await
        .expect("shares");
        tx.commit().await.expect("commit");
        assert_eq!(fse_total, *cap, "the fund's shares reach its cap exactly");
        assert_eq!(over, 0, "a line's shares exceed it");
        shares += rows;
    }

    let ratio = job.as_secs_f64() / bare.as_secs_f64();
    println!();
    println!("| Figure | Value | Baseline (same run) | Ratio | Target | Met |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| First monthly run up to {month}, {} tenants, {epns} EPNs: {lines} lines in {statements} statements, shared between two funders and the territory ({shares} shares) | {:.1} s | bare `INSERT … SELECT … GROUP BY`: {:.1} s | {ratio:.1}× | ≤ 3× and under 30 s | {} |",
        tenants.len(),
        job.as_secs_f64(),
        bare.as_secs_f64(),
        if ratio <= 3.0 && job < Duration::from_secs(30) {
            "yes"
        } else {
            "no"
        }
    );
}
