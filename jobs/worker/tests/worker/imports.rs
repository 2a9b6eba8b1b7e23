//! An import left behind by the API (stopped between storing the file and running it) is found by
//! the relay and run by the worker from its queue.

use std::time::Duration;

use passerelle_core::audit::Actor;
use passerelle_core::imports::{self, ImportStatus, Target};

use crate::harness::Harness;

#[tokio::test]
async fn an_import_the_api_left_behind_is_taken_over_by_the_worker() {
    let h = Harness::new().await;
    let file = b"id;nom;horaires;source\nlieu-1;EPN de Figeac;Mo-Fr 09:00-12:00;anct\nlieu-2;;;anct\nlieu-3;Tiers-lieu;le mardi;anct\n";
    let import = imports::receive(
        &h.db.app,
        h.tenant.id,
        Actor::SYSTEM,
        Target::Epns,
        Some("lieux.csv".into()),
        &file[..],
        imports::MAX_UPLOAD_BYTES,
    )
    .await
    .expect("upload");
    // Stored a while ago, never started: the API that received it stopped.
    let mut tx = h.db.app.begin_tenant(h.tenant.id).await.expect("tx");
    sqlx::query("UPDATE imports SET requested_at = now() - interval '5 minutes' WHERE id = $1")
        .bind(import.id)
        .execute(&mut *tx)
        .await
        .expect("age");
    tx.commit().await.expect("commit");

    let worker = h.start_worker();
    let mut done = None;
    for _ in 0..300 {
        let now = imports::get(&h.db.app, h.tenant.id, import.id, None)
            .await
            .expect("import");
        if now.status.is_finished() {
            done = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done = done.expect("the worker finished the import");
    assert_eq!(done.status, ImportStatus::Succeeded);
    assert_eq!(
        (done.rows_read, done.created, done.refused, done.warnings),
        (3, 2, 1, 1)
    );
    worker.stop().await;
    h.assert_no_job_left_behind().await;
    h.drop_queues().await;
}
