use std::time::Duration;

use apalis::prelude::*;
use passerelle_core::idempotency::{self, Claim, Scope};
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_test_support::{TestDatabase, create_tenant};
use passerelle_worker::jobs::purge_idempotency_keys::{self, PurgeIdempotencyKeys};
use passerelle_worker::queue;
use redis::AsyncCommands;
use uuid::Uuid;

async fn key_exists(db: &TestDatabase, tenant_id: Uuid, key: &str) -> bool {
    let mut tx = db.app.begin_tenant(tenant_id).await.expect("tx");
    let found: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE key = $1)")
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .expect("lookup");
    tx.commit().await.expect("commit");
    found
}

#[tokio::test]
async fn the_job_runs_from_its_queue_and_removes_only_expired_keys() {
    let db = TestDatabase::create().await;
    let tenant = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    for key in ["old", "fresh"] {
        let claim =
            idempotency::claim(&db.app, Scope::Tenant(tenant.id), Uuid::new_v4(), key, b"f")
                .await
                .expect("claim");
        assert_eq!(claim, Claim::Acquired);
    }
    let mut tx = db.app.begin_tenant(tenant.id).await.expect("tx");
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'",
    )
    .execute(&mut *tx)
    .await
    .expect("age the key");
    tx.commit().await.expect("commit");

    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let conn = queue::connect(&redis_url).await.expect("Redis");
    let queue_name = format!("passerelle-test:{}", Uuid::new_v4().simple());
    let mut storage = queue::storage::<PurgeIdempotencyKeys>(conn.clone(), &queue_name);
    storage.push(PurgeIdempotencyKeys {}).await.expect("push");

    let worker_name = format!("test-{}", Uuid::new_v4().simple());
    let worker = WorkerBuilder::new(worker_name.clone())
        .backend(storage.clone())
        .data(db.app.clone())
        .build(purge_idempotency_keys::run);
    let running = tokio::spawn(async move { worker.run().await });

    let config = storage.get_config().clone();
    let inflight = format!("{}:{worker_name}", config.inflight_jobs_set());
    let mut redis = conn;
    // apalis-redis records results in batches, about every ten seconds.
    let mut acknowledged = false;
    for _ in 0..300 {
        let in_flight: usize = redis.scard(&inflight).await.expect("in-flight set");
        let done: usize = redis.scard(config.done_jobs_set()).await.expect("done set");
        if in_flight == 0 && done == 1 {
            acknowledged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.abort();
    assert!(
        acknowledged,
        "the job was not acknowledged as done within 30 s"
    );
    assert!(
        !key_exists(&db, tenant.id, "old").await,
        "the expired key is still there"
    );
    assert!(
        key_exists(&db, tenant.id, "fresh").await,
        "a key within its retention was removed"
    );

    // No job left behind: nothing waiting, nothing in flight, nothing dead.
    let active: usize = redis
        .llen(config.active_jobs_list())
        .await
        .expect("active list");
    let dead: usize = redis.scard(config.dead_jobs_set()).await.expect("dead set");
    assert_eq!((active, dead), (0, 0), "jobs left in {queue_name}");

    let keys: Vec<String> = redis
        .keys(format!("{queue_name}:*"))
        .await
        .expect("queue keys");
    if !keys.is_empty() {
        let _: () = redis.del(keys).await.expect("clean the test queue");
    }
}
