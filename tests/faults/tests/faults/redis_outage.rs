//! Redis stopped for 30 seconds while the API serves issuance, registration, attendance and the
//! public balance check.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use passerelle_faults::flows::{self, EPN, PRESCRIBER};
use passerelle_faults::process::eventually;
use passerelle_faults::{Client, Stack, StackOptions, Tally};
use serde_json::json;

/// One user's round: a voucher issued with an email address (its welcome email is a job for the
/// worker), registered at the EPN, ticked present, and its balance checked by the holder.
/// Returns the failures, as `request: status or error`.
async fn round(
    client: &Client,
    scheme_id: &str,
    session_id: &str,
    n: usize,
    limited: &mut usize,
    tally: &mut Tally,
) {
    let email = format!("holder{n}@mail.example");
    let t = Instant::now();
    let issued = client
        .post(
            "/v1/vouchers",
            PRESCRIBER,
            &flows::issuance(scheme_id, n, Some(&email)),
        )
        .await;
    let Some(issued) = tally.check("issue", issued, t, 201) else {
        return;
    };
    let reference = issued.body["voucher"]["reference"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let t = Instant::now();
    let registered = client
        .post("/v1/registrations", EPN, &flows::registration(&reference))
        .await;
    tally.check("register", registered, t, 201);
    let t = Instant::now();
    let enrolled = client
        .post(
            &format!("/v1/sessions/{session_id}/enrolments"),
            EPN,
            &json!({ "reference": reference }),
        )
        .await;
    tally.check("enrol", enrolled, t, 200);
    let t = Instant::now();
    let attended = flows::attend(client, session_id, &reference).await;
    if let Some(sheet) = tally.check("attend", attended, t, 200)
        && sheet.body["results"][0]["outcome"] != "recorded"
    {
        tally.failures.push(format!("attend: {}", sheet.raw));
    }
    // The public balance check is rate limited per address, in Redis and, while Redis is down, in
    // the API's memory: either way this loop soon exceeds the limit (429, as it should).
    let t = Instant::now();
    let balance = client
        .send(
            client
                .http
                .post(format!("{}/v1/public/balance", client.base))
                .json(&json!({ "reference": reference, "last_name": "Delmas" })),
        )
        .await;
    if balance.as_ref().is_ok_and(|r| r.status == 429) {
        *limited += 1;
        return;
    }
    tally.check("balance", balance, t, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_stopped_for_30_s_the_api_serves_and_every_due_email_is_sent_once_afterwards() {
    let mut stack = Stack::start(StackOptions {
        worker: true,
        ..StackOptions::default()
    })
    .await;
    let client = stack.client.clone();
    let scheme_id = flows::scheme_id(&client).await;
    flows::allow_issuance(&client, &scheme_id, 100_000).await;
    let session_id = flows::session(&client, &scheme_id, 500).await;

    let mut tally = Tally::default();
    let mut n = 0;
    let mut rounds_by_phase = BTreeMap::new();
    let mut limited_by_phase = BTreeMap::new();
    for (phase, length) in [("before", 3), ("outage", 30), ("after", 3)] {
        match phase {
            "outage" => stack.redis.stop().await,
            "after" => stack.redis.resume().await,
            _ => {}
        }
        let until = Instant::now() + Duration::from_secs(length);
        while Instant::now() < until {
            n += 1;
            round(
                &client,
                &scheme_id,
                &session_id,
                n,
                limited_by_phase.entry(phase).or_insert(0),
                &mut tally,
            )
            .await;
            *rounds_by_phase.entry(phase).or_insert(0) += 1;
            // At most ten rounds a second: the session's 500 places hold every round's voucher.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(
        tally.failures.is_empty(),
        "{} failed requests over {n} rounds: {:#?}",
        tally.failures.len(),
        tally.failures
    );
    assert!(rounds_by_phase["outage"] > 0, "{rounds_by_phase:?}");
    // The limit kept protecting while Redis was down (counted in the API's memory): 30 s of
    // rounds from one address make more than the 10 checks a minute it allows.
    assert!(
        limited_by_phase.get("outage").copied().unwrap_or(0) > 0,
        "no balance check limited during the outage: {rounds_by_phase:?} {limited_by_phase:?}"
    );

    // Every welcome email that fell due, before, during or after the outage, arrives once.
    let delivered = eventually(Duration::from_secs(120), || {
        let smtp = &stack.smtp;
        async move {
            smtp.received()
                .iter()
                .filter(|m| m.rcpt_to.iter().any(|r| r.starts_with("holder")))
                .count()
                >= n
        }
    })
    .await;
    stack.worker.as_mut().expect("worker").assert_running();
    let per_address = stack.deliveries();
    let missing: Vec<usize> = (1..=n)
        .filter(|i| !per_address.contains_key(&format!("holder{i}@mail.example")))
        .collect();
    let duplicated: Vec<_> = per_address.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        delivered && missing.is_empty() && duplicated.is_empty(),
        "{n} vouchers issued; missing emails: {missing:?}; duplicated: {duplicated:?}; outbox: {:?}; worker log:\n{}",
        stack.outbox().await,
        stack.worker.as_ref().expect("worker").log_tail()
    );
    // The server counts a message when it answers; the worker marks it sent just after.
    let all_marked = eventually(Duration::from_secs(10), || {
        let stack = &stack;
        async move { !stack.outbox().await.contains_key("pending") }
    })
    .await;
    assert!(all_marked, "left pending: {:?}", stack.outbox().await);
}
