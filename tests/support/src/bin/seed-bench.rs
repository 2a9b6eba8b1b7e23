//! `seed-bench`: national-scale data in a fresh database, for benchmarks and for trying the
//! product at scale. Prints the database's name and URL (application role), the rows per table
//! and the time taken.
//!
//! `cargo run --release -p passerelle-test-support --bin seed-bench -- [--seed N] [--vouchers-per-tenant N]`

use passerelle_test_support::TestDatabase;
use passerelle_test_support::national::{self, NationalSpec};

fn argument(name: &str) -> Option<u64> {
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
    let mut spec = NationalSpec::national(argument("--seed").unwrap_or(2026));
    if let Some(vouchers) = argument("--vouchers-per-tenant") {
        spec.vouchers_per_tenant = usize::try_from(vouchers).expect("a count");
    }
    let db = TestDatabase::create().await;
    let data = national::generate(&db, spec).await;
    println!("database {} ({})", db.name, db.app_url);
    for (table, rows) in &data.rows {
        println!("{table:>24} {rows:>10}");
    }
    println!("generated in {:.1} s", data.took.as_secs_f64());
}
