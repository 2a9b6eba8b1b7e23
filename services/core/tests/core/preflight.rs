//! The start-up checks accept the application role and refuse the owner.

use passerelle_core::storage::cluster::{self, ClusterError};
use passerelle_core::storage::preflight::{self, PreflightError};
use passerelle_test_support::TestDatabase;

#[tokio::test]
async fn the_application_role_passes_and_the_owner_is_refused() {
    let db = TestDatabase::create().await;
    preflight::check(db.app.pool())
        .await
        .expect("the application role passes");
    match preflight::check(&db.owner).await {
        Err(PreflightError::OwnsTables { tables, .. }) => {
            assert!(tables.contains("users"), "{tables}")
        }
        Err(PreflightError::Superuser(_)) => {}
        other => panic!("the owner role must be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tenant_table_without_forced_rls_is_reported() {
    let db = TestDatabase::create().await;
    sqlx::query("ALTER TABLE epns NO FORCE ROW LEVEL SECURITY")
        .execute(&db.owner)
        .await
        .expect("weaken epns");
    match preflight::check(db.app.pool()).await {
        Err(PreflightError::UnprotectedTables(tables)) => assert_eq!(tables, "epns"),
        other => panic!("expected epns to be reported, got {other:?}"),
    }
}

/// On a single node, placing the tables on a cluster refuses with what to do, and changes nothing.
#[tokio::test]
async fn distributing_without_citus_refuses_and_changes_nothing() {
    let db = TestDatabase::create().await;
    let keys_before: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
            .fetch_one(&db.owner)
            .await
            .expect("count foreign keys");
    let refused = cluster::distribute(&db.owner, "passerelle_app").await;
    match refused {
        Err(ref e @ ClusterError::NoCitus) => {
            assert!(e.to_string().contains("CREATE EXTENSION citus"), "{e}")
        }
        other => panic!("expected Citus to be missing, got {other:?}"),
    }
    let keys_after: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'f'")
            .fetch_one(&db.owner)
            .await
            .expect("count foreign keys");
    assert_eq!(keys_before, keys_after);
    assert!(keys_before > 50, "the schema's foreign keys are counted");
}

/// A migration's `place_on_cluster` leaves a table as it is on a single node.
#[tokio::test]
async fn placing_a_new_table_on_a_single_node_changes_nothing() {
    let db = TestDatabase::create().await;
    let mut tx = db.owner.begin().await.expect("begin");
    sqlx::raw_sql(
        "CREATE TABLE placed_notes (tenant_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
         SELECT enable_tenant_isolation('placed_notes');
         SELECT place_on_cluster('placed_notes');
         ALTER TABLE placed_notes ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id);",
    )
    .execute(&mut *tx)
    .await
    .expect("a table placed, then given its keys");
    let forced: bool = sqlx::query_scalar(
        "SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = 'placed_notes'",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("read the table");
    assert!(forced);
    tx.rollback().await.expect("rollback");
}
