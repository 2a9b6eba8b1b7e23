use std::time::Duration;

use apalis::prelude::*;
use passerelle_worker::jobs::monthly_reimbursements::{self, MonthlyReimbursements};
use passerelle_worker::queue;

use crate::harness::Harness;

async fn guard_rows(h: &Harness) -> i64 {
    let mut tx = h.db.app.begin_tenant(h.tenant.id).await.expect("tx");
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM scheduled_runs WHERE job = 'monthly-reimbursements' AND finished_at IS NOT NULL",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("guard");
    tx.commit().await.expect("commit");
    n
}

#[tokio::test]
async fn the_monthly_job_runs_from_its_queue_once_per_month() {
    let h = Harness::new().await;
    let name = format!("{}:{}", h.queue_prefix, queue::MONTHLY_REIMBURSEMENTS);
    let mut storage = queue::storage::<MonthlyReimbursements>(h.redis.clone(), &name);
    for _ in 0..2 {
        storage
            .push(MonthlyReimbursements {
                tenant_id: h.tenant.id,
            })
            .await
            .expect("push");
    }
    let worker = WorkerBuilder::new(format!("test-{}", uuid::Uuid::new_v4().simple()))
        .backend(storage.clone())
        .data(h.db.app.clone())
        .build(monthly_reimbursements::run);
    let running = tokio::spawn(async move { worker.run().await });
    let mut rows = 0;
    for _ in 0..200 {
        rows = guard_rows(&h).await;
        if rows > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    running.abort();
    assert_eq!(
        rows, 1,
        "the previous month was not computed from the queue"
    );
    assert_eq!(
        guard_rows(&h).await,
        1,
        "two jobs for the same month both ran it"
    );
    h.drop_queues().await;
}
