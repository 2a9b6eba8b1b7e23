//! The rules that exist both in Rust and in SQL give the same answers.

use passerelle_core::money::minutes_at_rate;
use passerelle_test_support::TestDatabase;

#[tokio::test]
async fn minutes_at_a_rate_round_the_same_in_rust_and_in_sql() {
    let db = TestDatabase::create().await;
    let cases: Vec<(i32, i64)> = [0, 1, 3, 7, 29, 30, 45, 59, 60, 90, 119, 120, 1200]
        .into_iter()
        .flat_map(|m| [0, 1, 29, 30, 31, 999, 1_000, 1_001, 1_234, 4_999].map(|r| (m, r)))
        .collect();
    let minutes: Vec<i32> = cases.iter().map(|(m, _)| *m).collect();
    let rates: Vec<i64> = cases.iter().map(|(_, r)| *r).collect();
    let in_sql: Vec<i64> = sqlx::query_scalar(
        "SELECT minutes_at_rate(m, r) FROM unnest($1::int4[], $2::int8[]) WITH ORDINALITY AS t(m, r, i) ORDER BY i",
    )
    .bind(&minutes)
    .bind(&rates)
    .fetch_all(&db.owner)
    .await
    .expect("SQL");
    let in_rust: Vec<i64> = cases.iter().map(|&(m, r)| minutes_at_rate(m, r)).collect();
    assert_eq!(in_sql, in_rust);
}
