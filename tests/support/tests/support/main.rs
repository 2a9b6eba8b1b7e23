//! The national-scale generator, at a small scale: the same seed gives the same rows, and the
//! rows keep the product's invariants (a voucher's balance is its hours less what it attended).

use chrono::NaiveDate;
use passerelle_test_support::TestDatabase;
use passerelle_test_support::national::{self, NationalData, NationalSpec};
use uuid::Uuid;

fn small(seed: u64) -> NationalSpec {
    NationalSpec {
        seed,
        tenants: 2,
        epns_per_tenant: 5,
        vouchers_per_tenant: 400,
        sessions_per_epn: 365,
        first_day: NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date"),
    }
}

/// One query of one value, over `tenant_id`'s rows.
async fn scalar(db: &TestDatabase, tenant_id: Uuid, sql: &str) -> String {
    let mut tx = db.owner.begin().await.expect("tx");
    passerelle_core::storage::set_tenant(&mut tx, tenant_id)
        .await
        .expect("tenant");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A digest of what the benchmarks read, independent of the tenants' own ids.
async fn digest(db: &TestDatabase, data: &NationalData) -> Vec<String> {
    let mut digests = Vec::new();
    for tenant in &data.tenants {
        digests.push(
            scalar(
                db,
                tenant.id,
                "SELECT md5(string_agg(concat_ws('|', v.id, v.reference, v.status, v.issued_on, v.minutes_left, b.public_category,
                                                 b.commune_insee, b.birth_year), ',' ORDER BY v.id))
                 FROM vouchers v JOIN beneficiaries b ON b.tenant_id = v.tenant_id AND b.id = v.beneficiary_id",
            )
            .await,
        );
        digests.push(
            scalar(
                db,
                tenant.id,
                "SELECT md5(string_agg(concat_ws('|', id, session_id, voucher_id, status, minutes_debited), ',' ORDER BY id))
                 FROM attendances",
            )
            .await,
        );
    }
    digests
}

#[tokio::test]
async fn the_same_seed_gives_the_same_rows_and_another_seed_others() {
    let first = TestDatabase::create().await;
    let second = TestDatabase::create().await;
    let third = TestDatabase::create().await;
    let a = national::generate(&first, small(7)).await;
    let b = national::generate(&second, small(7)).await;
    let c = national::generate(&third, small(8)).await;
    assert_eq!(a.rows, b.rows);
    assert_eq!(digest(&first, &a).await, digest(&second, &b).await);
    assert_ne!(digest(&first, &a).await, digest(&third, &c).await);
    assert_eq!(a.rows["vouchers"], 800);
    // About eight rows per voucher that comes, fewer for the last issued.
    let per_voucher = a.rows["attendances"] as f64 / 800.0;
    assert!((5.0..9.0).contains(&per_voucher), "{per_voucher}");
}

#[tokio::test]
async fn the_rows_keep_the_products_invariants() {
    let db = TestDatabase::create().await;
    let data = national::generate(&db, small(2026)).await;
    for tenant in &data.tenants {
        let checks = [
            // The balance is the hours less what was attended.
            "SELECT count(*)::text FROM vouchers v
             WHERE v.minutes_left <> v.minutes_total - (SELECT coalesce(sum(minutes_debited), 0) FROM attendances a WHERE a.voucher_id = v.id)",
            // Never more than the voucher's ten sessions.
            "SELECT count(*)::text FROM (SELECT voucher_id FROM attendances WHERE status = 'present' GROUP BY voucher_id HAVING count(*) > 10) o",
            // Within the voucher's validity, at the EPN it is registered at.
            "SELECT count(*)::text FROM attendances a JOIN vouchers v ON v.id = a.voucher_id JOIN sessions s ON s.id = a.session_id
             JOIN registrations r ON r.voucher_id = v.id
             WHERE (s.starts_at AT TIME ZONE 'Europe/Paris')::date NOT BETWEEN v.issued_on AND v.valid_until
                OR s.epn_id <> r.epn_id OR a.epn_id <> r.epn_id",
            // A cancelled voucher attended nothing.
            "SELECT count(*)::text FROM attendances a JOIN vouchers v ON v.id = a.voucher_id WHERE v.status = 'cancelled'",
            // The foreign keys put back NOT VALID hold.
            "SELECT count(*)::text FROM attendances a WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = a.session_id)
                                                    OR NOT EXISTS (SELECT 1 FROM vouchers v WHERE v.id = a.voucher_id)",
        ];
        for check in checks {
            assert_eq!(scalar(&db, tenant.id, check).await, "0", "{check}");
        }
        let categories = scalar(
            &db,
            tenant.id,
            "SELECT count(DISTINCT public_category)::text FROM beneficiaries",
        )
        .await;
        assert!(
            categories.parse::<i32>().expect("count") >= 7,
            "{categories}"
        );
    }
    // Row security is back on every table the load touched.
    let unforced: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class WHERE relname IN ('vouchers', 'attendances', 'sessions', 'epns', 'beneficiaries') AND NOT relforcerowsecurity",
    )
    .fetch_one(&db.owner)
    .await
    .expect("catalog");
    assert_eq!(unforced, 0);
}

#[tokio::test]
async fn the_load_leaves_every_index_and_key_of_the_schema() {
    let fresh = TestDatabase::create().await;
    let loaded = TestDatabase::create().await;
    national::generate(&loaded, small(1)).await;
    let schema = |db: &TestDatabase| {
        let pool = db.owner.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT indexname || ' ' || regexp_replace(indexdef, 'ON public\\.', 'ON ') FROM pg_indexes WHERE schemaname = 'public'
                 UNION ALL SELECT conname || ' ' || contype::text FROM pg_constraint WHERE connamespace = 'public'::regnamespace
                 ORDER BY 1",
            )
            .fetch_all(&pool)
            .await
            .expect("catalog")
        }
    };
    assert_eq!(schema(&loaded).await, schema(&fresh).await);
}

#[tokio::test]
async fn kept_data_is_generated_once_then_copied_for_each_benchmark() {
    // A seed of its own, so that the kept database is this test's alone.
    let spec = small(u64::from(Uuid::new_v4().as_fields().0));
    let (first_db, first) = national::shared(spec).await;
    let (second_db, second) = national::shared(spec).await;
    assert_ne!(first_db.name, second_db.name, "each gets a copy of its own");
    let ids = |data: &NationalData| {
        data.tenants
            .iter()
            .map(|t| (t.id, t.slug.clone(), t.scheme_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ids(&second), "generated once, found again");
    assert_eq!(first.rows, second.rows);
    assert_eq!(first.took.as_secs(), second.took.as_secs());
    assert_eq!(
        digest(&first_db, &first).await,
        digest(&second_db, &second).await
    );

    // A copy is the benchmark's own: what it writes stays out of the kept data.
    let tenant = first.tenants[0].id;
    let before = scalar(&second_db, tenant, "SELECT count(*)::text FROM vouchers").await;
    let mut tx = first_db.owner.begin().await.expect("tx");
    passerelle_core::storage::set_tenant(&mut tx, tenant)
        .await
        .expect("tenant");
    sqlx::query("DELETE FROM voucher_modules")
        .execute(&mut *tx)
        .await
        .expect("delete in the copy");
    tx.commit().await.expect("commit");
    let (third_db, _) = national::shared(spec).await;
    assert_eq!(
        scalar(&third_db, tenant, "SELECT count(*)::text FROM vouchers").await,
        before
    );
    assert_ne!(
        scalar(
            &third_db,
            tenant,
            "SELECT count(*)::text FROM voucher_modules"
        )
        .await,
        "0"
    );

    let (kept, _) = national::kept(spec).await;
    let maintenance = first_db.owner.clone();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {kept} WITH (FORCE)"
    )))
    .execute(&maintenance)
    .await
    .expect("drop the kept data");
}
