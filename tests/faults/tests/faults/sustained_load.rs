//! Sixty seconds of mixed traffic from sixteen clients: no 5xx, no client error, nothing refused
//! that should have passed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::join_all;
use passerelle_faults::flows::{self, ADMIN, EPN, PRESCRIBER};
use passerelle_faults::{Client, Stack, StackOptions, Tally};
use serde_json::json;

const CLIENTS: usize = 16;
const LENGTH: Duration = Duration::from_secs(60);

/// One client's minute: the prescriber issues, the EPN registers, plans, enrols and ticks, the
/// admin reads.
async fn client_minute(client: Client, scheme_id: String, task: usize) -> Tally {
    let until = Instant::now() + LENGTH;
    let mut tally = Tally::default();
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let t = Instant::now();
        let reply = client
            .post(
                "/v1/vouchers",
                PRESCRIBER,
                &flows::issuance(&scheme_id, task * 1_000_000 + n, None),
            )
            .await;
        let Some(issued) = tally.check("issue", reply, t, 201) else {
            continue;
        };
        let reference = issued.body["voucher"]["reference"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let t = Instant::now();
        let reply = client
            .post("/v1/registrations", EPN, &flows::registration(&reference))
            .await;
        tally.check("register", reply, t, 201);
        let t = Instant::now();
        let reply = client
            .post("/v1/sessions", EPN, &json!({ "scheme_id": scheme_id, "module_number": 1, "starts_at": chrono::Utc::now(), "capacity": 12 }))
            .await;
        let Some(session) = tally.check("session", reply, t, 201) else {
            continue;
        };
        let session_id = session.body["id"].as_str().unwrap_or_default().to_owned();
        let t = Instant::now();
        let reply = client
            .post(
                &format!("/v1/sessions/{session_id}/enrolments"),
                EPN,
                &json!({ "reference": reference }),
            )
            .await;
        tally.check("enrol", reply, t, 200);
        let t = Instant::now();
        let reply = flows::attend(&client, &session_id, &reference).await;
        if let Some(sheet) = tally.check("attend", reply, t, 200)
            && sheet.body["results"][0]["outcome"] != "recorded"
        {
            tally.failures.push(format!("attend: {}", sheet.raw));
        }
        let t = Instant::now();
        let reply = client
            .get(&format!("/v1/vouchers/{reference}"), ADMIN)
            .await;
        tally.check("voucher", reply, t, 200);
        let t = Instant::now();
        let reply = client.get("/v1/vouchers?limit=50", ADMIN).await;
        tally.check("list", reply, t, 200);
        let t = Instant::now();
        let reply = client.get("/v1/me", EPN).await;
        tally.check("me", reply, t, 200);
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_seconds_of_mixed_load_without_a_single_error() {
    let stack = Stack::start(StackOptions {
        worker: true,
        ..StackOptions::default()
    })
    .await;
    let client = stack.client.clone();
    let scheme_id = flows::scheme_id(&client).await;
    // A quantity is at most 1,000,000, and the demo prescriber has issued some already.
    flows::allow_issuance(&client, &scheme_id, 900_000).await;
    let results = join_all(
        (0..CLIENTS)
            .map(|task| tokio::spawn(client_minute(client.clone(), scheme_id.clone(), task))),
    )
    .await;
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    for result in results {
        let tally = result.expect("client task");
        latencies.extend(tally.latencies_ms);
        failures.extend(tally.failures);
    }
    let requests = latencies.len();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for failure in &failures {
        *kinds
            .entry(failure.split(':').next().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed ({kinds:?}); first ones: {:#?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    latencies.sort_unstable();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    assert!(requests > 1_000, "the load ran: {requests} requests");
    println!(
        "{requests} requests in {} s from {CLIENTS} clients, 0 errors; latency p50 {} ms, p99 {} ms, max {} ms",
        LENGTH.as_secs(),
        percentile(50),
        percentile(99),
        latencies.last().copied().unwrap_or_default()
    );
}
