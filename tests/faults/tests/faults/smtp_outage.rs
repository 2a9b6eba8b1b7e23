//! The mail server down while emails fall due, then back: each message is delivered once.

use std::time::Duration;

use passerelle_faults::flows::{self, PRESCRIBER};
use passerelle_faults::{Stack, StackOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_smtp_down_then_back_no_message_is_lost_or_sent_twice() {
    const MESSAGES: usize = 25;
    let mut stack = Stack::start(StackOptions {
        worker: true,
        ..StackOptions::default()
    })
    .await;
    stack.smtp.stop();
    let client = stack.client.clone();
    let scheme_id = flows::scheme_id(&client).await;
    for n in 1..=MESSAGES {
        let email = format!("holder{n}@mail.example");
        client
            .expect(
                "/v1/vouchers",
                PRESCRIBER,
                &flows::issuance(&scheme_id, n, Some(&email)),
                201,
            )
            .await;
    }
    // Several attempts fail (connection refused) and are rescheduled with backoff.
    let lot = stack.lot().await;
    let retried = passerelle_faults::process::eventually(Duration::from_secs(60), || {
        let stack = &stack;
        async move {
            stack
                .count(
                    lot,
                    "SELECT count(*) FROM email_outbox WHERE status = 'pending' AND attempts >= 2",
                )
                .await
                == MESSAGES as i64
        }
    })
    .await;
    assert!(retried, "outbox: {:?}", stack.outbox().await);
    assert!(stack.smtp.received().is_empty());

    stack.smtp.restart().await;
    stack
        .smtp
        .wait_for(MESSAGES, Duration::from_secs(120))
        .await;
    let per_address = stack.deliveries();
    assert_eq!(
        per_address.len(),
        MESSAGES,
        "outbox: {:?}",
        stack.outbox().await
    );
    assert!(
        per_address.values().all(|c| *c == 1),
        "sent twice: {per_address:?}"
    );
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        stack.smtp.received().len(),
        MESSAGES,
        "nothing more after the requeue delay"
    );
    assert_eq!(
        stack.outbox().await.get("sent"),
        Some(&(MESSAGES as i64)),
        "every message marked sent"
    );
}
