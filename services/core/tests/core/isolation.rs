//! Row-level security as the application role: no tenant set means nothing visible and nothing
//! writable; one tenant never sees or writes another's rows; composite keys stop cross-tenant
//! references; the tenant setting never outlives its transaction on a pooled connection.

use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_core::{Db, Error};
use passerelle_test_support::TestDatabase;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;

use crate::fixtures::{populate, tenant_tables};

const RLS_VIOLATION: &str = "42501";

fn code(err: &sqlx::Error) -> String {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
        .unwrap_or_else(|| format!("not a database error: {err}"))
}

#[tokio::test]
async fn without_a_tenant_every_table_reads_empty_and_refuses_inserts() {
    let test = TestDatabase::create().await;
    let db = &test.app;
    let a = populate(db, "alpha", "46").await;

    for table in tenant_tables(&test.owner).await {
        let mut tx = db.begin_tenant(a.tenant_id).await.expect("tenant tx");
        let sample: Option<serde_json::Value> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT row_to_json(t) FROM {table} t LIMIT 1"
        )))
        .fetch_optional(&mut *tx)
        .await
        .expect("sample row");
        tx.rollback().await.expect("rollback");
        let sample = sample.unwrap_or_else(|| {
            panic!("the fixture has no row in {table}: add one in tests/core/fixtures.rs so isolation is tested for it")
        });

        let mut tx = db.begin_platform().await.expect("no-tenant tx");
        let visible: i64 =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut *tx)
                .await
                .expect("count");
        assert_eq!(visible, 0, "{table} shows rows with no tenant set");

        let insert = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} SELECT * FROM json_populate_record(NULL::{table}, $1::json)"
        )))
        .bind(&sample)
        .execute(&mut *tx)
        .await
        .expect_err(&format!("{table} accepted an insert with no tenant set"));
        assert_eq!(code(&insert), RLS_VIOLATION, "{table}: {insert}");
    }
}

#[tokio::test]
async fn a_tenant_neither_sees_nor_writes_another_tenants_rows() {
    let test = TestDatabase::create().await;
    let db = &test.app;
    let a = populate(db, "alpha", "46").await;
    let b = populate(db, "beta", "12").await;

    for table in tenant_tables(&test.owner).await {
        let mut tx = db.begin_tenant(b.tenant_id).await.expect("tenant b");
        let foreign: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE tenant_id <> $1"
        )))
        .bind(b.tenant_id)
        .fetch_one(&mut *tx)
        .await
        .expect("count");
        assert_eq!(foreign, 0, "tenant B sees other tenants' rows in {table}");

        // Either nothing matches, or (append-only tables) the role may not update at all.
        let updated = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = $1"
        )))
        .bind(a.tenant_id)
        .execute(&mut *tx)
        .await;
        match updated {
            Ok(done) => assert_eq!(
                done.rows_affected(),
                0,
                "tenant B updated tenant A's rows in {table}"
            ),
            Err(err) => assert_eq!(code(&err), RLS_VIOLATION, "{table}: {err}"),
        }
        tx.rollback().await.expect("rollback");
    }

    // Writing a row that claims tenant A while tenant B is set is refused by WITH CHECK.
    let mut tx = db.begin_tenant(b.tenant_id).await.expect("tenant b");
    let err = sqlx::query(
        "INSERT INTO epns (tenant_id, id, name) VALUES ($1, gen_random_uuid(), 'intrus')",
    )
    .bind(a.tenant_id)
    .execute(&mut *tx)
    .await
    .expect_err("cross-tenant insert accepted");
    assert_eq!(code(&err), RLS_VIOLATION);
}

#[tokio::test]
async fn a_composite_foreign_key_refuses_a_reference_into_another_tenant() {
    let test = TestDatabase::create().await;
    let db = &test.app;
    let a = populate(db, "alpha", "46").await;
    let b = populate(db, "beta", "12").await;

    let err = users::create(
        db,
        b.tenant_id,
        &NewUser {
            email: "agent@beta.example".into(),
            display_name: "Agent".into(),
            role: Role::Prescriber,
            prescriber_id: Some(a.prescriber_id),
            epn_id: None,
        },
    )
    .await
    .expect_err("a user of B bound to A's prescriber");
    match err {
        Error::Invalid(fields) => assert_eq!(fields[0].field, "prescriber_id"),
        other => panic!("expected a validation error naming prescriber_id, got {other:?}"),
    }

    // The same holds as the owner, whom RLS also binds (FORCE): only the key stops it there.
    let err = sqlx::query(
        "INSERT INTO api_tokens (tenant_id, id, user_id, name, token_hash) VALUES ($1, gen_random_uuid(), $2, 'x', '\\x00')",
    )
    .bind(b.tenant_id)
    .bind(a.user_id)
    .execute(db.pool())
    .await
    .expect_err("token of B pointing at A's user");
    assert!(
        ["23503", RLS_VIOLATION].contains(&code(&err).as_str()),
        "{err}"
    );
}

#[tokio::test]
async fn the_tenant_setting_does_not_leak_to_the_next_transaction_on_the_same_connection() {
    let test = TestDatabase::create().await;
    let a = populate(&test.app, "alpha", "46").await;
    let single = PgPoolOptions::new()
        .max_connections(1)
        .connect(&test.app_url)
        .await
        .expect("single-connection pool");
    let db = Db::from_pool(single);

    let mut tx = db.begin_tenant(a.tenant_id).await.expect("tenant tx");
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert!(seen > 0);
    tx.commit().await.expect("commit");

    let mut tx = db.begin_platform().await.expect("next tx");
    let setting: String =
        sqlx::query_scalar("SELECT coalesce(current_setting('app.tenant_id', true), '')")
            .fetch_one(&mut *tx)
            .await
            .expect("setting");
    assert_eq!(setting, "");
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(seen, 0, "the previous transaction's tenant leaked");
}

#[tokio::test]
async fn the_audit_log_and_rule_versions_are_append_only() {
    let test = TestDatabase::create().await;
    let db = &test.app;
    let a = populate(db, "alpha", "46").await;
    for (table, statement) in [
        ("audit_log", "UPDATE audit_log SET action = 'rewritten'"),
        ("audit_log", "DELETE FROM audit_log"),
        (
            "scheme_versions",
            "UPDATE scheme_versions SET effective_from = effective_from - 1",
        ),
        ("scheme_versions", "DELETE FROM scheme_versions"),
    ] {
        let mut tx = db.begin_tenant(a.tenant_id).await.expect("tenant tx");
        let err = sqlx::query(AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await
            .expect_err(&format!("{table}: `{statement}` was allowed"));
        assert_eq!(code(&err), RLS_VIOLATION, "{table}: {err}");
    }
    let mut tx = db.begin_tenant(a.tenant_id).await.expect("tenant tx");
    let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert!(
        entries > 0,
        "the fixture wrote audit entries that can still be read"
    );
}
