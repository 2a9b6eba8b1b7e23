//! `make bench`, statistics: a tenant at national volume (1,000,000 vouchers, 4,000 EPNs, about
//! 8,000,000 attendance rows over two years, from the national generator), then one five times
//! larger, each exported for its busiest year. The statistics job (`run_export` for the year:
//! read, compute, write every file) next to `COPY (SELECT …) TO STDOUT` of the very same
//! statements, in this program on the same database; the baseline runs before and after the job
//! and the faster run counts. Peak memory is the process's high-water mark (VmHWM), reset just
//! before the job. Targets: the job takes at most twice the bare COPY, and stays under 1 GiB for
//! the first tenant and 2 GiB for the second.

use std::time::{Duration, Instant};

use passerelle_core::audit::Actor;
use passerelle_core::statistics::{self, Period};
use passerelle_statistics::{extract, source};
use passerelle_test_support::TestDatabase;
use passerelle_test_support::national::{self, NationalSpec};

/// A tenant measured, and the peak memory its job must stay under.
struct Size {
    vouchers: usize,
    epns: usize,
    memory_target_mib: f64,
    /// Whether the generated data is kept for a later run (`national::shared`). The largest is
    /// generated in the benchmark's own database and dropped with it: a kept copy would double
    /// the disk it takes.
    kept: bool,
}

/// A large département (1,000,000 vouchers, 4,000 EPNs), then a région five times larger; each
/// from the national generator, vouchers issued over 2025 attending into 2026, the export being
/// the year 2025. `BENCH_STATISTICS_SIZES=1` runs the first only, `BENCH_STATISTICS_VOUCHERS=5000000`
/// the one of that many vouchers; `BENCH_STATISTICS_KEEP=1` keeps the largest's data too, for
/// the runs that follow (about 20 GB more on the disk).
const SIZES: [Size; 2] = [
    Size {
        vouchers: 1_000_000,
        epns: 4_000,
        memory_target_mib: 1024.0,
        kept: true,
    },
    Size {
        vouchers: 5_000_000,
        epns: 20_000,
        memory_target_mib: 2048.0,
        kept: false,
    },
];

fn spec(size: &Size) -> NationalSpec {
    NationalSpec {
        tenants: 1,
        epns_per_tenant: size.epns,
        vouchers_per_tenant: size.vouchers,
        ..NationalSpec::national(2026)
    }
}

/// The allocator of the `passerelle` binary, so that the peak measured is the worker's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const PERIOD: &str = "2025";

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
    for (_, select, _) in source::statements(scheme_id, period, None) {
        bytes += extract::copy_discard(&mut tx, &select).await.expect("COPY");
    }
    tx.commit().await.expect("commit");
    (started.elapsed(), bytes)
}

#[tokio::main]
async fn main() {
    let sizes: usize = std::env::var("BENCH_STATISTICS_SIZES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SIZES.len());
    let only: Option<usize> = std::env::var("BENCH_STATISTICS_VOUCHERS")
        .ok()
        .and_then(|v| v.parse().ok());
    let keep_all = std::env::var("BENCH_STATISTICS_KEEP").is_ok_and(|v| v == "1");
    let mut rows = Vec::new();
    for size in SIZES
        .iter()
        .take(sizes)
        .filter(|size| only.is_none_or(|vouchers| vouchers == size.vouchers))
    {
        rows.extend(measure(size, keep_all).await);
    }
    println!();
    println!("| Figure | Value | Baseline (same run) | Ratio | Target | Met |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

/// Generates the tenant of `size`, runs the job and the baseline, and returns the table's rows.
async fn measure(size: &Size, keep_all: bool) -> Vec<String> {
    let spec = spec(size);
    let (db, data) = if size.kept || keep_all {
        national::shared(spec).await
    } else {
        let db = TestDatabase::create().await;
        let data = national::generate(&db, spec).await;
        (db, data)
    };
    let (tenant_id, scheme_id) = (data.tenants[0].id, data.tenants[0].scheme_id);
    let period = Period::parse(PERIOD).expect("period");
    let attendance: i64 = {
        let mut tx = db.app.begin_tenant(tenant_id).await.expect("tx");
        let rows = sqlx::query_scalar(
            "SELECT count(*) FROM attendances a JOIN sessions s ON s.id = a.session_id
             WHERE s.starts_at >= $1::date AND s.starts_at < $2::date + 1",
        )
        .bind(period.start)
        .bind(period.last_day())
        .fetch_one(&mut *tx)
        .await
        .expect("count");
        tx.commit().await.expect("commit");
        rows
    };
    println!(
        "generated {} vouchers, {} EPNs, {} attendance rows ({attendance} in {PERIOD}) in {:.0} s",
        spec.vouchers_per_tenant,
        spec.epns_per_tenant,
        data.rows["attendances"],
        data.took.as_secs_f64()
    );

    // The tenant's pseudonymisation key is made on first use: before the baseline reads with it.
    statistics::tenant_settings(&db.app, tenant_id)
        .await
        .expect("tenant secrets");
    let (before, bytes) = bare_copy(&db, tenant_id, scheme_id, &period).await;
    let dir = std::env::temp_dir().join(format!(
        "passerelle-bench-statistics-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let export = statistics::request(&db.app, tenant_id, Actor::SYSTEM, scheme_id, PERIOD)
        .await
        .expect("request");
    // Resets the high-water mark, so that it measures the job and not the set-up.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let baseline_rss = peak_rss_mib();
    let started = Instant::now();
    let summary = passerelle_statistics::run_export(&db.app, &dir, tenant_id, export.id)
        .await
        .expect("statistics job")
        .expect("a new export");
    let job = started.elapsed();
    let peak = peak_rss_mib();
    let (after, _) = bare_copy(&db, tenant_id, scheme_id, &period).await;
    let bare = before.min(after);
    let written: i64 = summary.files.iter().map(|f| f.byte_size).sum();
    let _ = std::fs::remove_dir_all(&dir);

    let ratio = job.as_secs_f64() / bare.as_secs_f64();
    vec![
        format!(
            "| Statistics job, one tenant-year ({PERIOD}): {} vouchers, {attendance} attendance rows in the year; {} files, {:.0} MiB written | {:.1} s | bare `COPY (SELECT …) TO STDOUT` of the same statements ({:.0} MiB): {:.1} s (before the job {:.1} s, after {:.1} s) | {ratio:.2}× | ≤ 2× | {} |",
            spec.vouchers_per_tenant,
            summary.files.len(),
            written as f64 / 1048576.0,
            job.as_secs_f64(),
            bytes as f64 / 1048576.0,
            bare.as_secs_f64(),
            before.as_secs_f64(),
            after.as_secs_f64(),
            if ratio <= 2.0 { "yes" } else { "no" }
        ),
        format!(
            "| Peak memory (VmHWM) of the statistics job, {} vouchers | {peak:.0} MiB | process before the job: {baseline_rss:.0} MiB | | < {:.0} MiB | {} |",
            spec.vouchers_per_tenant,
            size.memory_target_mib,
            if peak < size.memory_target_mib {
                "yes"
            } else {
                "no"
            }
        ),
    ]
}
