//! PostgreSQL stopped and started again while eight clients keep the API busy: answers during
//! the outage are quick 503 problems, and the same API process serves again once it is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use passerelle_faults::flows::{self, ADMIN, PRESCRIBER};
use passerelle_faults::{Client, Stack, StackOptions};
use tokio::sync::Mutex;

#[derive(Debug)]
struct Sample {
    started: Instant,
    took: Duration,
    /// Status, whether the body is problem+json, Retry-After; or the transport error.
    outcome: Result<(u16, bool, Option<String>), String>,
}

async fn load(
    client: Client,
    scheme_id: String,
    task: usize,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let started = Instant::now();
        let reply = if n % 2 == 0 {
            client.get("/v1/vouchers?limit=20", ADMIN).await
        } else {
            client
                .post(
                    "/v1/vouchers",
                    PRESCRIBER,
                    &flows::issuance(&scheme_id, task * 100_000 + n, None),
                )
                .await
        };
        let outcome = reply
            .map(|r| {
                (
                    r.status,
                    r.is_problem(),
                    r.header("retry-after").map(str::to_owned),
                )
            })
            .map_err(|e| e.to_string());
        samples.lock().await.push(Sample {
            started,
            took: started.elapsed(),
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_under_load_gives_quick_503s_then_the_same_api_serves_again() {
    let stack = Stack::start(StackOptions {
        own_postgres: true,
        ..StackOptions::default()
    })
    .await;
    let client = stack.client.clone();
    let scheme_id = flows::scheme_id(&client).await;
    flows::allow_issuance(&client, &scheme_id, 100_000).await;
    let cluster = stack.cluster.as_ref().expect("own cluster");

    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            tokio::spawn(load(
                client.clone(),
                scheme_id.clone(),
                task,
                stop.clone(),
                samples.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let down = Instant::now();
    cluster.stop();
    tokio::time::sleep(Duration::from_secs(8)).await;
    cluster.resume();
    let up = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }
    let samples = samples.lock().await;

    let transport_errors: Vec<_> = samples.iter().filter(|s| s.outcome.is_err()).collect();
    assert!(
        transport_errors.is_empty(),
        "the API stopped answering: {transport_errors:#?}"
    );
    let unexpected: Vec<_> = samples
        .iter()
        .filter(|s| {
            !matches!(s.outcome, Ok((200 | 201, _, _)))
                && !matches!(&s.outcome, Ok((503, true, Some(after))) if after == "5")
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "answers other than success or a 503 problem with Retry-After: {unexpected:#?}"
    );
    let unavailable: Vec<_> = samples
        .iter()
        .filter(|s| matches!(s.outcome, Ok((503, _, _))))
        .collect();
    assert!(!unavailable.is_empty(), "no request met the outage");
    for sample in &unavailable {
        assert!(
            sample.started + sample.took >= down && sample.started <= up + Duration::from_secs(5),
            "a 503 outside the outage: {sample:?}"
        );
        // Fast: the pool gives up after DATABASE_ACQUIRE_TIMEOUT_SECONDS (3 s), instead of
        // holding the client until its own timeout (30 s).
        assert!(
            sample.took < Duration::from_secs(10),
            "a slow 503: {sample:?}"
        );
    }
    let after: Vec<_> = samples
        .iter()
        .filter(|s| s.started > up + Duration::from_secs(5))
        .collect();
    assert!(
        after.len() > 20,
        "too few requests after the restart: {}",
        after.len()
    );
    assert!(
        after
            .iter()
            .all(|s| matches!(s.outcome, Ok((200 | 201, _, _)))),
        "requests still fail after PostgreSQL is back: {after:#?}"
    );
    println!(
        "{} requests, {} answered 503 during the outage (slowest {:?}), {} succeeded after",
        samples.len(),
        unavailable.len(),
        unavailable.iter().map(|s| s.took).max(),
        after.len()
    );
}
