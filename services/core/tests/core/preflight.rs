//! The start-up checks accept the application role and refuse the owner.

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
