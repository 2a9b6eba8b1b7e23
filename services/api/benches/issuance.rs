//! `make bench`, voucher issuance: the HTTP API with 32 concurrent clients, next to a
//! PostgreSQL-only baseline — pgbench running the same statements as one issuance transaction
//! (tenant setting, scheme and rules reads, duplicate check, beneficiary, allocation increment,
//! voucher, two audit entries), as the application role under row-level security. Both run in
//! this one program against the same database, a copy of the national data. Target: the API reaches at least a third of
//! the baseline's transactions per second.

use std::time::{Duration, Instant};

mod support;

use futures::StreamExt;
use passerelle_api::{AppState, spawn_on_loopback};
use passerelle_core::audit::Actor;
use passerelle_core::prescribers::{self, NewAllocation, NewPrescriber};
use passerelle_core::schemes::{self, NewScheme};
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_core::tenancy::tokens::{self, NewToken};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_test_support::{create_tenant, national};
use serde_json::json;

const CLIENTS: usize = 32;
const API_REQUESTS: usize = 3_000;
const PGBENCH_SECONDS: u32 = 15;

/// One issuance, statement for statement, as pgbench runs it.
const PGBENCH_SCRIPT: &str = r#"\set n random(1, 2000000000)
BEGIN;
SET LOCAL app.tenant_id = ':tenant';
SELECT time_zone FROM tenants WHERE id = ':tenant';
SELECT status FROM schemes WHERE id = ':scheme' FOR SHARE;
SELECT version, rules FROM scheme_versions WHERE scheme_id = ':scheme' AND effective_from <= CURRENT_DATE ORDER BY effective_from DESC LIMIT 1;
SELECT id FROM beneficiaries WHERE match_key = 'bench|' || :n || '|1957|46102' AND erased_at IS NULL LIMIT 1;
INSERT INTO beneficiaries (tenant_id, id, first_name, last_name, match_key, birth_year, commune_insee, public_category, email_consent, prescriber_id) VALUES (':tenant', gen_random_uuid(), 'Jeanne', 'Bench' || :n, 'bench|' || :n || '|1957|46102', 1957, '46102', 'senior', false, ':prescriber') RETURNING id AS bid \gset
INSERT INTO audit_log (tenant_id, id, actor_role, action, object_type, object_id, details) VALUES (':tenant', gen_random_uuid(), 'prescriber', 'beneficiary.created', 'beneficiary', ':bid', '{}');
UPDATE allocations SET issued = issued + 1 WHERE prescriber_id = ':prescriber' AND scheme_id = ':scheme' AND period_start <= CURRENT_DATE AND period_end >= CURRENT_DATE AND issued < quantity RETURNING id AS aid \gset
INSERT INTO vouchers (tenant_id, id, reference, scheme_id, rules_version, beneficiary_id, prescriber_id, allocation_id, issued_on, valid_until, minutes_total, minutes_left, face_value_cents) VALUES (':tenant', gen_random_uuid(), 'PGB-' || upper(substr(md5(random()::text), 1, 10)), ':scheme', 1, ':bid', ':prescriber', ':aid', CURRENT_DATE, CURRENT_DATE + 365, 1200, 1200, 20000) ON CONFLICT (tenant_id, reference) DO NOTHING RETURNING id AS vid \gset
INSERT INTO audit_log (tenant_id, id, actor_role, action, object_type, object_id, details) VALUES (':tenant', gen_random_uuid(), 'prescriber', 'voucher.issued', 'voucher', ':vid', '{}');
COMMIT;
"#;

#[tokio::main]
async fn main() {
    // Among national-scale data (`make bench` generates it once), so that every table and index
    // has its production size.
    let (db, _) = national::for_benchmarks().await;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = AppState::connect_redis(&redis_url).await.expect("Redis");
    let mut state = AppState::new(db.app.clone(), redis);
    state.redis_namespace = format!("passerelle-bench:{}", uuid::Uuid::new_v4().simple());
    let addr = spawn_on_loopback(state)
        .await
        .expect("serve on a free port");

    let tenant = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let prescriber = prescribers::create(
        &db.app,
        tenant.id,
        Actor::SYSTEM,
        &NewPrescriber {
            name: "CAF du Lot".into(),
            kind: passerelle_core::prescribers::PrescriberKind::Caf,
            ..NewPrescriber::default()
        },
    )
    .await
    .expect("prescriber");
    let scheme = schemes::create(
        &db.app,
        tenant.id,
        Actor::SYSTEM,
        NewScheme {
            code: "ticket-net".into(),
            name: "Ticket Net".into(),
            preset: Some("ticket-net".into()),
            ..NewScheme::default()
        },
    )
    .await
    .expect("scheme");
    schemes::set_status(
        &db.app,
        tenant.id,
        Actor::SYSTEM,
        scheme.scheme.id,
        schemes::SchemeStatus::Active,
    )
    .await
    .expect("active");
    let today = tenant.today();
    prescribers::allocate(
        &db.app,
        tenant.id,
        Actor::SYSTEM,
        prescriber.id,
        &NewAllocation {
            scheme_id: scheme.scheme.id,
            period_start: today - chrono::Days::new(1),
            period_end: today + chrono::Days::new(1),
            quantity: 1_000_000,
        },
    )
    .await
    .expect("allocation");
    let agent = users::create(
        &db.app,
        tenant.id,
        &NewUser {
            email: "agent@caf.example".into(),
            display_name: "Agent".into(),
            role: Role::Prescriber,
            prescriber_id: Some(prescriber.id),
            epn_id: None,
        },
    )
    .await
    .expect("agent");
    let token = tokens::issue_for_user(
        &db.app,
        tenant.id,
        Actor::SYSTEM,
        agent.id,
        &NewToken {
            name: "bench".into(),
            expires_at: None,
        },
    )
    .await
    .expect("token")
    .secret;

    // HTTP API.
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/v1/vouchers");
    let issue = |i: usize| {
        let request = http.post(&url).bearer_auth(&token).json(&json!({
            "scheme_id": scheme.scheme.id,
            "beneficiary": { "first_name": "Jeanne", "last_name": format!("Api{i}"), "birth_year": 1957,
                             "commune_insee": "46102", "public_category": "senior" }
        }));
        async move {
            let started = Instant::now();
            let status = request.send().await.expect("request").status().as_u16();
            assert_eq!(status, 201, "issuance failed");
            started.elapsed()
        }
    };
    futures::stream::iter(0..200)
        .map(issue)
        .buffer_unordered(CLIENTS)
        .collect::<Vec<_>>()
        .await;
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(200..200 + API_REQUESTS)
        .map(issue)
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    let api_seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let api_rps = API_REQUESTS as f64 / api_seconds;
    let api_p50 = latencies[latencies.len() / 2].as_secs_f64() * 1e3;
    let api_p99 = latencies[latencies.len() * 99 / 100].as_secs_f64() * 1e3;

    // pgbench baseline: the same statements, no HTTP, no application code.
    let script = PGBENCH_SCRIPT
        .replace(":tenant", &tenant.id.to_string())
        .replace(":scheme", &scheme.scheme.id.to_string())
        .replace(":prescriber", &prescriber.id.to_string());
    let baseline = support::pgbench(
        &db.app_url,
        CLIENTS,
        ["-T", &PGBENCH_SECONDS.to_string()],
        &script,
    )
    .await;
    let (pg_tps, pg_latency) = (baseline.tps, baseline.latency_ms);
    let failed_line = baseline.failed.unwrap_or_default();

    let ratio = api_rps / pg_tps;
    println!(
        "Voucher issuance, {CLIENTS} concurrent clients, loopback, API and PostgreSQL on the same machine\n"
    );
    println!("| what | transactions/s | p50 ms | p99 ms | mean ms |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| HTTP API `POST /v1/vouchers` ({API_REQUESTS} requests) | {api_rps:.0} | {api_p50:.1} | {api_p99:.1} | {:.1} |",
        latencies.iter().sum::<Duration>().as_secs_f64() * 1e3 / latencies.len() as f64
    );
    println!(
        "| pgbench, same statements ({PGBENCH_SECONDS} s) | {pg_tps:.0} | | | {pg_latency:.1} |"
    );
    println!(
        "\nAPI / baseline = {ratio:.2} (target ≥ 0.33: {})",
        if ratio >= 1.0 / 3.0 { "met" } else { "NOT met" }
    );
    if !failed_line.is_empty() {
        println!("pgbench: {failed_line}");
    }
}
