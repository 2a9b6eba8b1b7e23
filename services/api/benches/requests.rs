//! `make bench`: what authentication, row-level security and idempotency cost per request.
//!
//! Starts the API in this process over a copy of the national data, then drives each scenario
//! with 16 concurrent clients on loopback. The machine is shared and noisy, so the figures that matter
//! are the ratios to the baseline (`GET /healthz`, the HTTP stack alone) measured in the same run.

use std::time::{Duration, Instant};

use futures::StreamExt;
use passerelle_api::{AppState, spawn_on_loopback};
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_core::tenancy::tokens::{self, NewToken};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_test_support::{create_tenant, national};
use serde_json::json;

const CONCURRENCY: usize = 16;
const REQUESTS: usize = 4_000;

struct Outcome {
    name: &'static str,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

async fn drive<F, Fut>(name: &'static str, request: F) -> Outcome
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..REQUESTS)
        .map(|i| {
            let fut = request(i);
            async move {
                let t = Instant::now();
                let status = fut.await;
                assert!((200..300).contains(&status), "{name}: HTTP {status}");
                t.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = started.elapsed();
    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    Outcome {
        name,
        per_second: REQUESTS as f64 / elapsed.as_secs_f64(),
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
        mean,
    }
}

#[tokio::main]
async fn main() {
    // Among national-scale data (`make bench` generates it once), so that every table and index
    // has its production size.
    let (db, _) = national::for_benchmarks().await;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = AppState::connect_redis(&redis_url).await.expect("Redis");
    let addr = spawn_on_loopback(AppState::new(db.app.clone(), redis))
        .await
        .expect("serve on a free port");

    let tenant = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let admin = users::create(
        &db.app,
        tenant.id,
        &NewUser {
            email: "admin@lot.example".into(),
            display_name: "Admin".into(),
            role: Role::TenantAdmin,
            prescriber_id: None,
            epn_id: None,
        },
    )
    .await
    .expect("admin");
    let token = tokens::issue_for_user(
        &db.app,
        tenant.id,
        passerelle_core::audit::Actor::SYSTEM,
        admin.id,
        &NewToken {
            name: "bench".into(),
            expires_at: None,
        },
    )
    .await
    .expect("token")
    .secret;

    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let send = |req: reqwest::RequestBuilder| async move {
        req.send().await.expect("request").status().as_u16()
    };

    // The same key and body for request i in both POST scenarios: the second one replays.
    let create_user = |i: usize| {
        http.post(format!("{base}/v1/users"))
            .bearer_auth(&token)
            .header("Idempotency-Key", format!("\"bench-{i}\""))
            .json(&json!({ "email": format!("user{i}@lot.example"), "display_name": "Usager", "role": "funder" }))
    };

    // Warm-up: connections, pools, caches.
    drive("warm-up", |_| {
        send(http.get(format!("{base}/v1/me")).bearer_auth(&token))
    })
    .await;

    let results = vec![
        drive("GET /healthz (baseline)", |_| {
            send(http.get(format!("{base}/healthz")))
        })
        .await,
        drive("GET /v1/me", |_| {
            send(http.get(format!("{base}/v1/me")).bearer_auth(&token))
        })
        .await,
        drive("POST /v1/users + Idempotency-Key", |i| send(create_user(i))).await,
        drive("POST /v1/users, replayed key", |i| send(create_user(i))).await,
        drive("GET /v1/users?limit=50 (of 4,001)", |_| {
            send(
                http.get(format!("{base}/v1/users?limit=50"))
                    .bearer_auth(&token),
            )
        })
        .await,
    ];

    let baseline = results[0].mean.as_secs_f64();
    println!(
        "{REQUESTS} requests per scenario, {CONCURRENCY} concurrent clients, loopback, client and server in one process\n"
    );
    println!("| scenario | req/s | p50 ms | p99 ms | mean latency vs baseline |");
    println!("|---|---:|---:|---:|---:|");
    for r in &results {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.1}× |",
            r.name,
            r.per_second,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.mean.as_secs_f64() / baseline
        );
    }
}
