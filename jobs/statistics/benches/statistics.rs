//! `make bench`, statistics: one tenant-year with 1,000,000 vouchers and about 8,000,000
//! attendance rows. The statistics job (`run_export` for the year: read, compute, write every
//! file) next to `COPY (SELECT …) TO STDOUT` of the very same statements, in this program on the
//! same database; the baseline runs before and after the job and the faster run counts. Peak
//! memory is the process's high-water mark (VmHWM), reset just before the job.
//! Target: the job takes at most twice the bare COPY and stays under 2 GiB.

use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use passerelle_core::audit::Actor;
use passerelle_core::statistics::{self, Period};
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_statistics::{extract, source};
use passerelle_test_support::activity::{self, ActivitySpec};
use passerelle_test_support::{TestDatabase, active_ticket_net, create_tenant};

const SPEC: ActivitySpec = ActivitySpec {
    vouchers: 1_000_000,
    epns: 200,
    sessions_per_epn: 2_000,
    max_attendance: 22,
    first_day: NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date"),
    bulk: true,
};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib / 1024.0
}

async fn bare_copy(
    db: &TestDatabase,
    tenant_id: uuid::Uuid,
    scheme_id: uuid::Uuid,
    period: &Period,
) -> (Duration, u64) {
    let started = Instant::now();
    let mut tx = source::snapshot(&db.app, tenant_id)
        .await
        .expect("snapshot");
    let mut bytes = 0;
    for (_, select, _) in source::statements(scheme_id, period.end, period.last_day().year()) {
        bytes += extract::copy_discard(&mut tx, &select).await.expect("COPY");
    }
    tx.commit().await.expect("commit");
    (started.elapsed(), bytes)
}

#[tokio::main]
async fn main() {
    let db = TestDatabase::create().await;
    let tenant = create_tenant(&db.app, "bench", TenantKind::Departement, "46").await;
    let scheme_id = active_ticket_net(
        &db.app,
        tenant.id,
        None,
        NaiveDate::from_ymd_opt(2026, 1, 1),
    )
    .await;
    let started = Instant::now();
    let attendance = activity::generate(&db, tenant.id, scheme_id, SPEC).await;
    println!(
        "generated {} vouchers, {} EPNs, {attendance} attendance rows in {:.0} s",
        SPEC.vouchers,
        SPEC.epns,
        started.elapsed().as_secs_f64()
    );
    let period = Period::parse("2026").expect("period");

    let (before, bytes) = bare_copy(&db, tenant.id, scheme_id, &period).await;
    let dir = std::env::temp_dir().join(format!(
        "passerelle-bench-statistics-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let export = statistics::request(&db.app, tenant.id, Actor::SYSTEM, scheme_id, "2026")
        .await
        .expect("request");
    // Resets the high-water mark, so that it measures the job and not the set-up.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let baseline_rss = peak_rss_mib();
    let started = Instant::now();
    let summary = passerelle_statistics::run_export(&db.app, &dir, tenant.id, export.id)
        .await
        .expect("statistics job")
        .expect("a new export");
    let job = started.elapsed();
    let peak = peak_rss_mib();
    let (after, _) = bare_copy(&db, tenant.id, scheme_id, &period).await;
    let bare = before.min(after);
    let written: i64 = summary.files.iter().map(|f| f.byte_size).sum();
    let _ = std::fs::remove_dir_all(&dir);

    let ratio = job.as_secs_f64() / bare.as_secs_f64();
    println!();
    println!("| Figure | Value | Baseline (same run) | Ratio | Target | Met |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| Statistics job, one tenant-year: {} vouchers, {attendance} attendance rows; {} files, {:.0} MiB written | {:.1} s | bare `COPY (SELECT …) TO STDOUT` of the same statements ({:.0} MiB): {:.1} s (before the job {:.1} s, after {:.1} s) | {ratio:.2}× | ≤ 2× | {} |",
        SPEC.vouchers,
        summary.files.len(),
        written as f64 / 1048576.0,
        job.as_secs_f64(),
        bytes as f64 / 1048576.0,
        bare.as_secs_f64(),
        before.as_secs_f64(),
        after.as_secs_f64(),
        if ratio <= 2.0 { "yes" } else { "no" }
    );
    println!(
        "| Peak memory (VmHWM) of the statistics job | {peak:.0} MiB | process before the job: {baseline_rss:.0} MiB | | < 2048 MiB | {} |",
        if peak < 2048.0 { "yes" } else { "no" }
    );
}
