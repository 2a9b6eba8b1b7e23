//! `seed-bench`: national-scale data, for benchmarks and for trying the product at scale. Prints
//! the database's name, the rows per table and the time taken.
//!
//! `cargo run --release -p passerelle-test-support --bin seed-bench -- [--seed N] [--tenants N]
//! [--epns-per-tenant N] [--vouchers-per-tenant N] [--keep]`
//!
//! By default the data goes into a fresh database of its own (connect to it as the application
//! role). With `--keep` it goes into the database that the benchmarks copy their data from
//! (`national::kept`), or is found there from an earlier run: `make bench` generates its data
//! this way before the benchmarks start.

use passerelle_test_support::TestDatabase;
use passerelle_test_support::national::{self, NationalSpec};

fn argument(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    let value = args.get(at + 1)?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} takes a number, got `{value}`")),
    )
}

#[tokio::main]
async fn main() {
    let mut spec = NationalSpec::national(argument("--seed").map_or(2026, |s| s as u64));
    spec.tenants = argument("--tenants").unwrap_or(spec.tenants);
    spec.epns_per_tenant = argument("--epns-per-tenant").unwrap_or(spec.epns_per_tenant);
    spec.vouchers_per_tenant =
        argument("--vouchers-per-tenant").unwrap_or(spec.vouchers_per_tenant);
    let (name, data) = if std::env::args().any(|a| a == "--keep") {
        national::kept(spec).await
    } else {
        let db = TestDatabase::create().await;
        let data = national::generate(&db, spec).await;
        println!("application role's URL: {}", db.app_url);
        (db.name, data)
    };
    println!("database {name}");
    for (table, rows) in &data.rows {
        println!("{table:>24} {rows:>10}");
    }
    println!();
    println!("| Data | Rows | Generated in |");
    println!("|---|---|---|");
    println!(
        "| seed {}: {} tenant{} × {} EPNs × {} vouchers, {} sessions per EPN from {} | {} | {:.0} s |",
        spec.seed,
        spec.tenants,
        if spec.tenants == 1 { "" } else { "s" },
        spec.epns_per_tenant,
        spec.vouchers_per_tenant,
        spec.sessions_per_epn,
        spec.first_day,
        data.rows
            .iter()
            .map(|(table, rows)| format!("{table} {rows}"))
            .collect::<Vec<_>>()
            .join(", "),
        data.took.as_secs_f64()
    );
}
