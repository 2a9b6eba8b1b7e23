//! Fifty requests at once against one voucher's hours and against one prescriber's quota.

use futures::future::join_all;
use passerelle_faults::flows::{self, ADMIN, PRESCRIBER};
use passerelle_faults::{Stack, StackOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_attendance_sheets_on_one_voucher_debit_exactly_its_hours() {
    let stack = Stack::start(StackOptions::default()).await;
    let client = stack.client.clone();
    let scheme_id = flows::scheme_id(&client).await;
    let reference = flows::registered_voucher(&client, &scheme_id, 1).await;
    let mut sessions = Vec::new();
    for _ in 0..50 {
        let session_id = flows::session(&client, &scheme_id, 10).await;
        flows::enrol(&client, &session_id, &reference).await;
        sessions.push(session_id);
    }
    let replies = join_all(
        sessions
            .iter()
            .map(|session_id| flows::attend(&client, session_id, &reference)),
    )
    .await;
    let mut recorded = 0;
    for reply in &replies {
        let reply = reply.as_ref().expect("an answer");
        assert_eq!(reply.status, 200, "{}", reply.raw);
        match reply.body["results"][0]["outcome"].as_str() {
            Some("recorded") => recorded += 1,
            Some("refused") => assert!(
                reply.raw.contains("not enough")
                    || reply.raw.contains("no hours")
                    || reply.raw.contains("minutes"),
                "refused for another reason: {}",
                reply.raw
            ),
            other => panic!("unexpected outcome {other:?}: {}", reply.raw),
        }
    }
    // 20 hours of 2-hour sessions: ten, whatever the interleaving.
    assert_eq!(recorded, 10);
    let voucher = client
        .expect_get(&format!("/v1/vouchers/{reference}"), ADMIN)
        .await;
    assert_eq!(voucher["minutes_left"], 0, "{voucher}");
    let debited = stack
        .count(
            stack.lot().await,
            &format!(
                "SELECT coalesce(sum(minutes_debited), 0)::bigint FROM attendances a JOIN vouchers v ON v.tenant_id = a.tenant_id AND v.id = a.voucher_id
                 WHERE v.reference = '{reference}' AND a.voided_at IS NULL"
            ),
        )
        .await;
    assert_eq!(debited, 1200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_issuances_against_a_quota_of_ten_issue_exactly_ten() {
    let stack = Stack::start(StackOptions::default()).await;
    let client = stack.client.clone();
    let scheme_id = flows::scheme_id(&client).await;
    let allocation = flows::allow_issuance(&client, &scheme_id, 10).await;
    assert_eq!(allocation["remaining"], 10, "{allocation}");
    let bodies: Vec<_> = (1..=50)
        .map(|n| flows::issuance(&scheme_id, n, None))
        .collect();
    let replies = join_all(
        bodies
            .iter()
            .map(|body| client.post("/v1/vouchers", PRESCRIBER, body)),
    )
    .await;
    let mut by_status = std::collections::BTreeMap::new();
    for reply in &replies {
        let reply = reply.as_ref().expect("an answer");
        *by_status.entry(reply.status).or_insert(0) += 1;
        if reply.status != 201 {
            assert!(reply.is_problem(), "{}", reply.raw);
        }
    }
    assert_eq!(by_status.get(&201), Some(&10), "{by_status:?}");
    assert_eq!(by_status.values().sum::<i32>(), 50);
    assert!(
        by_status.keys().all(|s| [201, 409, 422].contains(s)),
        "{by_status:?}"
    );
    let allocations = client
        .expect_get(
            &format!(
                "/v1/prescribers/{}/allocations",
                allocation["prescriber_id"].as_str().expect("id")
            ),
            ADMIN,
        )
        .await;
    assert_eq!(allocations[0]["remaining"], 0, "{allocations}");
    let issued = stack
        .count(
            stack.lot().await,
            &format!(
                "SELECT count(*) FROM vouchers WHERE allocation_id = '{}' AND status <> 'cancelled'",
                allocation["id"].as_str().expect("id")
            ),
        )
        .await;
    assert_eq!(issued, allocation["issued"].as_i64().expect("issued") + 10);
}
