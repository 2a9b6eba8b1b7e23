//! `make bench`, attendance: the HTTP API with 64 concurrent clients recording attendance for
//! vouchers spread across four tenants, next to pgbench running the bare SQL transaction (tenant
//! setting, guarded debit, attendance insert) in this same program, on a copy of the national
//! data (its four tenants come on top of the twenty generated ones). Afterwards every voucher is
//! checked: its live attendance minutes must equal what it lost, and no balance may be negative.
//! Target: the API reaches at least half of the pgbench figure, with zero errors and zero
//! over-spent vouchers.

use std::time::{Duration, Instant};

#[path = "support/attendance_baseline.rs"]
mod attendance_baseline;
mod support;

use futures::StreamExt;
use passerelle_api::{AppState, spawn_on_loopback};
use passerelle_core::Db;
use passerelle_core::audit::Actor;
use passerelle_core::beneficiaries::{NewBeneficiary, PublicCategory};
use passerelle_core::delivery::registration::{self, Interview, RegisterRequest};
use passerelle_core::delivery::sessions::{self, NewSession};
use passerelle_core::epns;
use passerelle_core::prescribers::{self, NewAllocation, NewPrescriber};
use passerelle_core::schemes::{self, NewScheme};
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_core::tenancy::tokens::{self, NewToken};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_core::vouchers::{self, Holder, IssueRequest};
use passerelle_test_support::{create_tenant, national};
use serde_json::json;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

const CLIENTS: usize = 64;
const TENANTS: usize = 4;
/// Sessions per tenant; each voucher (20 hours) attends all ten of its side's sessions.
const SESSIONS: usize = 10;
/// Vouchers per tenant for the API run and as many for pgbench.
const VOUCHERS: usize = 100;

struct Tenant {
    id: Uuid,
    epn_token: String,
    api_pairs: Vec<(Uuid, String)>,
    sql_pairs: Vec<(Uuid, Uuid)>,
}

async fn seed_tenant(db: &Db, index: usize) -> Tenant {
    let (slug, insee) = [
        ("lot", "46"),
        ("gers", "32"),
        ("cher", "18"),
        ("aude", "11"),
    ][index];
    let tenant = create_tenant(db, slug, TenantKind::Departement, insee).await;
    let prescriber = prescribers::create(
        db,
        tenant.id,
        Actor::SYSTEM,
        &NewPrescriber {
            name: "CAF".into(),
            kind: passerelle_core::prescribers::PrescriberKind::Caf,
            ..NewPrescriber::default()
        },
    )
    .await
    .expect("prescriber");
    let today = tenant.today();
    let scheme = schemes::create(
        db,
        tenant.id,
        Actor::SYSTEM,
        NewScheme {
            code: "ticket-net".into(),
            name: "Ticket Net".into(),
            preset: Some("ticket-net".into()),
            effective_from: Some(today - chrono::Days::new(1)),
            ..NewScheme::default()
        },
    )
    .await
    .expect("scheme");
    let scheme_id = scheme.scheme.id;
    schemes::set_status(
        db,
        tenant.id,
        Actor::SYSTEM,
        scheme_id,
        schemes::SchemeStatus::Active,
    )
    .await
    .expect("active");
    prescribers::allocate(
        db,
        tenant.id,
        Actor::SYSTEM,
        prescriber.id,
        &NewAllocation {
            scheme_id,
            period_start: today,
            period_end: today,
            quantity: 10_000,
        },
    )
    .await
    .expect("allocation");
    let epn_id = epns::create_named(db, tenant.id, "EPN").await.expect("epn");
    epns::set_offer(
        db,
        tenant.id,
        Actor::SYSTEM,
        epn_id,
        scheme_id,
        &(1..=10).collect::<Vec<_>>(),
    )
    .await
    .expect("offer");
    let user = users::create(
        db,
        tenant.id,
        &NewUser {
            email: "epn@bench.example".into(),
            display_name: "Animateur".into(),
            role: Role::Epn,
            prescriber_id: None,
            epn_id: Some(epn_id),
        },
    )
    .await
    .expect("epn user");
    let epn_token = tokens::issue_for_user(
        db,
        tenant.id,
        Actor::SYSTEM,
        user.id,
        &NewToken {
            name: "bench".into(),
            expires_at: None,
        },
    )
    .await
    .expect("token")
    .secret;

    let mut session_ids = Vec::new();
    for i in 0..2 * SESSIONS {
        let session = sessions::create(
            db,
            tenant.id,
            epn_id,
            Actor::SYSTEM,
            &NewSession {
                scheme_id,
                module_number: Some(1),
                starts_at: chrono::Utc::now() - chrono::Duration::seconds(i as i64),
                duration_minutes: None,
                capacity: 500,
                animator: None,
                place: None,
            },
        )
        .await
        .expect("session");
        session_ids.push(session.id);
    }
    let mut api_pairs = Vec::new();
    let mut sql_pairs = Vec::new();
    for v in 0..2 * VOUCHERS {
        let issued = vouchers::issue(
            db,
            tenant.id,
            prescriber.id,
            Actor::SYSTEM,
            &IssueRequest {
                scheme_id,
                holder: Holder::New(NewBeneficiary {
                    first_name: "Jeanne".into(),
                    last_name: format!("Bench{v}"),
                    birth_year: 1957,
                    commune_insee: "46102".into(),
                    public_category: PublicCategory::Senior,
                    ..NewBeneficiary::default()
                }),
                participation_fee_cents: 0,
            },
        )
        .await
        .expect("voucher");
        registration::register(
            db,
            tenant.id,
            epn_id,
            Actor::SYSTEM,
            &RegisterRequest {
                reference: issued.voucher.reference.clone(),
                last_name: format!("Bench{v}"),
                interview: Interview {
                    on: Some(today),
                    minutes: Some(30),
                    ..Interview::default()
                },
                modules: (1..=10).collect(),
            },
        )
        .await
        .expect("registered");
        for s in 0..SESSIONS {
            if v < VOUCHERS {
                api_pairs.push((session_ids[s], issued.voucher.reference.clone()));
            } else {
                sql_pairs.push((session_ids[SESSIONS + s], issued.voucher.id));
            }
        }
    }
    Tenant {
        id: tenant.id,
        epn_token,
        api_pairs,
        sql_pairs,
    }
}

#[tokio::main]
async fn main() {
    // Among national-scale data (`make bench` generates it once), so that every table and index
    // has its production size.
    let (db, _) = national::for_benchmarks().await;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = AppState::connect_redis(&redis_url).await.expect("Redis");
    let mut state = AppState::new(db.app.clone(), redis);
    state.redis_namespace = format!("passerelle-bench:{}", Uuid::new_v4().simple());
    let addr = spawn_on_loopback(state)
        .await
        .expect("serve on a free port");

    let started = Instant::now();
    let tenants: Vec<Tenant> =
        futures::future::join_all((0..TENANTS).map(|i| seed_tenant(&db.app, i))).await;
    eprintln!(
        "seeded {TENANTS} tenants in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // HTTP API: one attendance line per request, interleaving tenants.
    let http = reqwest::Client::new();
    let mut requests = Vec::new();
    for i in 0..tenants[0].api_pairs.len() {
        for tenant in &tenants {
            let (session, reference) = &tenant.api_pairs[i];
            requests.push((tenant.epn_token.clone(), *session, reference.clone()));
        }
    }
    let total = requests.len();
    let started = Instant::now();
    let mut outcomes: Vec<(Duration, bool)> = futures::stream::iter(requests)
        .map(|(token, session, reference)| {
            let request = http
                .post(format!("http://{addr}/v1/sessions/{session}/attendance"))
                .bearer_auth(token)
                .json(&json!({ "entries": [{ "reference": reference, "status": "present" }] }));
            async move {
                let t = Instant::now();
                let reply: serde_json::Value = request
                    .send()
                    .await
                    .expect("request")
                    .json()
                    .await
                    .expect("json");
                (t.elapsed(), reply["recorded"] == 1)
            }
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    let api_seconds = started.elapsed().as_secs_f64();
    let api_errors = outcomes.iter().filter(|(_, ok)| !ok).count();
    outcomes.sort_by_key(|(d, _)| *d);
    let api_rps = total as f64 / api_seconds;
    let p50 = outcomes[total / 2].0.as_secs_f64() * 1e3;
    let p99 = outcomes[total * 99 / 100].0.as_secs_f64() * 1e3;

    // pgbench: the bare transaction over its own pairs, interleaving tenants.
    let mut pairs = Vec::new();
    for i in 0..tenants[0].sql_pairs.len() {
        for tenant in &tenants {
            let (session, voucher) = tenant.sql_pairs[i];
            pairs.push((tenant.id, session, voucher));
        }
    }
    let n = pairs.len();
    let baseline =
        attendance_baseline::run(&db.owner, &db.app_url, CLIENTS, &pairs, n / CLIENTS).await;
    let (pg_tps, pg_latency) = (baseline.tps, baseline.latency_ms);

    // Every voucher: live attendance minutes equal what it lost; no balance below zero.
    let mut overspent = 0i64;
    let mut inconsistent = 0i64;
    for tenant in &tenants {
        let mut tx = db.app.begin_tenant(tenant.id).await.expect("tx");
        overspent +=
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM vouchers WHERE minutes_left < 0")
                .fetch_one(&mut *tx)
                .await
                .expect("overspent");
        inconsistent += sqlx::query_scalar::<_, i64>(AssertSqlSafe(
            "SELECT count(*) FROM vouchers v WHERE v.minutes_total - v.minutes_left <>
               (SELECT coalesce(sum(minutes_debited), 0) FROM attendances a WHERE a.voucher_id = v.id AND a.voided_at IS NULL)",
        ))
        .fetch_one(&mut *tx)
        .await
        .expect("consistency");
        tx.commit().await.expect("commit");
    }

    let ratio = api_rps / pg_tps;
    println!(
        "Attendance recording, {CLIENTS} concurrent clients, {TENANTS} tenants, loopback, one machine\n"
    );
    println!("| what | transactions/s | p50 ms | p99 ms | mean ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| HTTP API `POST /v1/sessions/{{id}}/attendance` ({total} requests) | {api_rps:.0} | {p50:.1} | {p99:.1} | {:.1} | {api_errors} |",
        outcomes.iter().map(|(d, _)| d.as_secs_f64()).sum::<f64>() * 1e3 / total as f64
    );
    println!(
        "| pgbench, bare transaction ({n} transactions) | {pg_tps:.0} | | | {pg_latency:.1} | |"
    );
    println!(
        "\nAPI / baseline = {ratio:.2} (target ≥ 0.50: {})",
        if ratio >= 0.5 { "met" } else { "NOT met" }
    );
    println!(
        "over-spent vouchers: {overspent}; vouchers whose attendance does not match their balance: {inconsistent}"
    );
    if let Some(failed) = &baseline.failed {
        println!("pgbench: {failed}");
    }
}
