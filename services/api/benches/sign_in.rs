//! `make bench`: the authenticated API while unauthenticated sign-ins pour in.
//!
//! Without a bound, 64 concurrent sign-ins with unknown addresses took another client's `/v1/me`
//! from 8 ms to a median of 1.8 s and the process from 52 MB to 1.7 GB (argon2 holds 19 MiB per
//! hash, and the blocking pool runs hundreds at once). This runs `/v1/me` with 16 clients alone
//! (the baseline), then again while 64 attackers loop on the sign-in form, each request from its
//! own address behind a trusted proxy so that no per-address delay spares the password check;
//! and reads the process's peak memory (VmHWM) over the attack. Targets: p99 under attack within
//! 2× of the baseline's p99, peak memory under the baseline's plus 256 MiB.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use passerelle_api::{AppState, spawn_on_loopback};
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_core::tenancy::tokens::{self, NewToken};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_test_support::{TestDatabase, create_tenant};

const CLIENTS: usize = 16;
const REQUESTS: usize = 10_000;
const ATTACKERS: usize = 64;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

async fn me_latencies(http: &reqwest::Client, base: &str, token: &str) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = futures::stream::iter(0..REQUESTS)
        .map(|_| async {
            let t = Instant::now();
            let status = http
                .get(format!("{base}/v1/me"))
                .bearer_auth(token)
                .send()
                .await
                .expect("request")
                .status();
            assert!(status.is_success(), "GET /v1/me: {status}");
            t.elapsed()
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    latencies.sort();
    latencies
}

fn percentile(sorted: &[Duration], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let db = TestDatabase::create().await;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = AppState::connect_redis(&redis_url).await.expect("Redis");
    let mut state = AppState::new(db.app.clone(), redis);
    state.redis_namespace = format!("passerelle-bench:{}", uuid::Uuid::new_v4().simple());
    state.trusted_proxies = vec!["127.0.0.1/32".parse().expect("network")];
    let addr = spawn_on_loopback(state).await.expect("serve");
    let base = format!("http://{addr}");

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

    me_latencies(&http, &base, &token).await; // warm-up
    let alone = me_latencies(&http, &base, &token).await;

    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let before_mib = peak_rss_mib();
    let stop = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|a| {
            let (http, base, stop, counts) =
                (http.clone(), base.clone(), stop.clone(), counts.clone());
            tokio::spawn(async move {
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let status = http
                        .post(format!("{base}/portail/lot/connexion"))
                        .header("origin", &base)
                        .header(
                            "x-forwarded-for",
                            format!("10.{}.{}.{}", a, n / 250 % 250, n % 250 + 1),
                        )
                        .form(&[
                            ("email", format!("inconnu-{a}-{n}@lot.example")),
                            ("password", "un-essai-au-hasard".to_owned()),
                        ])
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    let slot = match status {
                        401 => 0,
                        503 => 1,
                        429 => 2,
                        _ => 3,
                    };
                    counts[slot].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let attacked = me_latencies(&http, &base, &token).await;
    let attack_seconds = started.elapsed().as_secs_f64() + 0.5;
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.await.expect("attacker");
    }
    let peak_mib = peak_rss_mib();

    let (alone_p99, attacked_p99) = (percentile(&alone, 99), percentile(&attacked, 99));
    let ratio = attacked_p99 / alone_p99;
    let [refused, busy, slowed, other] = [0, 1, 2, 3].map(|i| counts[i].load(Ordering::Relaxed));
    println!(
        "{REQUESTS} GET /v1/me by {CLIENTS} clients, alone and while {ATTACKERS} clients loop on the sign-in form with unknown addresses; one process, loopback\n"
    );
    println!(
        "| run | p50 ms | p99 ms | sign-ins answered (401 checked / 503 busy / 429 slowed / other) | peak memory |"
    );
    println!("|---|---:|---:|---|---:|");
    println!(
        "| GET /v1/me alone (baseline) | {:.2} | {alone_p99:.2} | | {before_mib:.0} MiB |",
        percentile(&alone, 50)
    );
    println!(
        "| GET /v1/me under sign-in load | {:.2} | {attacked_p99:.2} | {refused} / {busy} / {slowed} / {other} in {attack_seconds:.1} s | {peak_mib:.0} MiB |",
        percentile(&attacked, 50)
    );
    println!();
    println!(
        "API / baseline p99 ratio {ratio:.2} (target ≤ 2, {}); peak memory {peak_mib:.0} MiB against {before_mib:.0} MiB before the attack (target < +256 MiB, {})",
        if ratio <= 2.0 { "met" } else { "NOT met" },
        if peak_mib < before_mib + 256.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    assert_eq!(other, 0, "sign-ins answered otherwise than 401, 503 or 429");
}
