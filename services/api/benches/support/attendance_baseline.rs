//! The bare SQL of an attendance line's durable work (tenant setting, guarded debit, attendance
//! insert), run by pgbench as the application role under row-level security: the baseline of the
//! attendance benchmarks. Shared by `attendance` and `http_load`.

use sqlx::PgPool;
use uuid::Uuid;

use crate::support::{Pgbench, pgbench};

/// pgbench with `clients` running the transaction `per_client` times each over `pairs` (tenant,
/// session, voucher), taken in order from a helper table made by the owner role.
pub async fn run(
    owner: &PgPool,
    app_url: &str,
    clients: usize,
    pairs: &[(Uuid, Uuid, Uuid)],
    per_client: usize,
) -> Pgbench {
    sqlx::raw_sql("CREATE TABLE bench_pairs (n bigint PRIMARY KEY, t uuid, session_id uuid, voucher_id uuid); CREATE SEQUENCE bench_seq;")
        .execute(owner)
        .await
        .expect("helper table");
    for (n, (tenant, session, voucher)) in pairs.iter().enumerate() {
        sqlx::query("INSERT INTO bench_pairs VALUES ($1, $2, $3, $4)")
            .bind(n as i64 + 1)
            .bind(tenant)
            .bind(session)
            .bind(voucher)
            .execute(owner)
            .await
            .expect("pair");
    }
    sqlx::raw_sql("GRANT SELECT ON bench_pairs TO passerelle_app; GRANT USAGE ON SEQUENCE bench_seq TO passerelle_app;")
        .execute(owner)
        .await
        .expect("grants");
    // Each statement names its tenant, as the product's do.
    let transaction = r#"SELECT t, session_id, voucher_id FROM bench_pairs WHERE n = (SELECT nextval('bench_seq')) \gset
BEGIN;
SET LOCAL app.tenant_id = ':t';
UPDATE vouchers SET minutes_left = minutes_left - 120, status = CASE WHEN minutes_left - 120 = 0 THEN 'completed' ELSE 'in_progress' END WHERE tenant_id = ':t' AND id = ':voucher_id' AND minutes_left >= 120 RETURNING minutes_left \gset
INSERT INTO attendances (tenant_id, id, session_id, voucher_id, epn_id, status, minutes_debited) SELECT ':t', gen_random_uuid(), ':session_id', ':voucher_id', epn_id, 'present', 120 FROM sessions WHERE tenant_id = ':t' AND id = ':session_id';
COMMIT;
"#;
    pgbench(
        app_url,
        clients,
        ["-t", &per_client.to_string()],
        transaction,
    )
    .await
}
