//! `make bench`, the request path seen from outside: `passerelle serve` (the release build) in a
//! process of its own, loaded over HTTP by `wrk` with 8 connections, next to pgbench running the
//! bare SQL of the same durable work in this same run, on a fresh database.
//!
//! - Attendance: one line per request (`POST /v1/sessions/{id}/attendance`), each a new pair of
//!   session and voucher, until the pairs end, after a warm-up of its own pairs; the baseline is
//!   pgbench's transaction of the same durable work (tenant setting, guarded debit, attendance
//!   insert) over as many other pairs. Both take the pairs session after session, so that the
//!   lines in flight at once are different people's.
//!   Targets: the API at least 0.8× the baseline, p99 under 25 ms.
//! - Authentication alone: `GET /v1/me`, with the changes' listener on (principals and tenants in
//!   memory) and off (`CHANGES_LISTENER=false`: each request reads them from PostgreSQL, the way
//!   every request did before). Target: on at least 3× off.
//!
//! `wrk` and `pgbench` come from Debian's packages (`infra/bench/run.sh` installs `wrk`); the
//! server is `target/release/passerelle` (`PASSERELLE_BIN` to use another).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[path = "support/attendance_baseline.rs"]
mod attendance_baseline;
mod support;

use passerelle_core::audit::Actor;
use passerelle_core::delivery::sessions::{self, NewSession};
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::tokens::{self, NewToken};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_core::vouchers::Holder;
use passerelle_test_support::world::World;
use tokio::process::{Child, Command};
use uuid::Uuid;

const CONNECTIONS: usize = 8;
/// Sessions of a group; each voucher (20 hours) attends all the sessions of its group.
const SESSIONS: usize = 10;
/// Vouchers of a group (a session takes 500 people at most).
const VOUCHERS: usize = 500;
/// Groups of the API's side: more lines than the warm-up and wrk's run record, so that every
/// request sent records a new one.
const API_GROUPS: usize = 3;
/// Groups of pgbench's side, which runs as many transactions as the API recorded lines, at most.
const SQL_GROUPS: usize = 2;
/// Lines recorded before the measured run, on pairs of their own: the server's pool opens its
/// connections and prepares its statements then, as a server does in its first seconds.
const WARM_UP_LINES: usize = 1_000;
/// wrk's run: its rate is what it sent over this whole time.
const SECONDS: &str = "-d6s";

/// What wrk reported.
struct Load {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// The attendance script's own counts: lines recorded and refused (0 for other runs).
    recorded: usize,
    refused: usize,
}

fn server_binary() -> PathBuf {
    std::env::var_os("PASSERELLE_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/passerelle"),
        PathBuf::from,
    )
}

/// Starts the API in its own process on a free port; returns it and its address once it answers.
async fn serve(app_url: &str, changes_listener: bool) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let address = format!("127.0.0.1:{port}");
    let binary = server_binary();
    let child = Command::new(&binary)
        .arg("serve")
        .env("DATABASE_URL", app_url)
        .env("API_ADDR", &address)
        .env("LOG_LEVEL", "warn")
        .env("CHANGES_LISTENER", changes_listener.to_string())
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "start {} ({e}): `cargo build --release -p passerelle` first",
                binary.display()
            )
        });
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            // The listener connects right after start; give it a moment to be heard.
            tokio::time::sleep(Duration::from_millis(300)).await;
            return (child, address);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the API did not answer on {address}");
}

async fn wrk(args: &[&str], env: &[(&str, String)]) -> Load {
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{CONNECTIONS}"), "--latency"])
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .expect("wrk runs (Debian package wrk)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "wrk failed:\n{stdout}");
    let millis = |label: &str| -> f64 {
        let value = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(str::trim)
            .unwrap_or_else(|| panic!("wrk printed no `{label}`:\n{stdout}"));
        let (number, unit) = value.split_at(
            value
                .find(|c: char| c.is_alphabetic())
                .unwrap_or(value.len()),
        );
        let number: f64 = number.parse().expect("a latency");
        match unit {
            "us" => number / 1e3,
            "s" => number * 1e3,
            _ => number,
        }
    };
    // The wrk script's last line: `lines recorded: N, refused: M`.
    let count = |label: &str| -> usize {
        stdout
            .lines()
            .find(|l| l.starts_with("lines recorded"))
            .and_then(|l| l.split(label).nth(1))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    Load {
        requests_per_second: stdout
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("wrk printed no rate:\n{stdout}")),
        p50_ms: millis("50%"),
        p99_ms: millis("99%"),
        recorded: count("lines recorded: "),
        refused: count("refused: "),
    }
}

/// `GET /v1/me` for ten seconds.
async fn me(address: &str, token: &str) -> Load {
    wrk(
        &[
            "-d10s",
            "-H",
            &format!("Authorization: Bearer {token}"),
            &format!("http://{address}/v1/me"),
        ],
        &[],
    )
    .await
}

#[tokio::main]
async fn main() {
    let world = World::new().await;
    let db = world.db();
    let tenant_id = world.tenant.id;
    let scheme_id = world.ticket_net("ticket-net", 1).await;
    let prescriber_id = world
        .prescriber(
            "CAF",
            passerelle_core::prescribers::PrescriberKind::Caf,
            None,
        )
        .await;
    world
        .allocate(prescriber_id, scheme_id, 10 * VOUCHERS as i32, 1)
        .await;
    let epn_id = world
        .epn("EPN", scheme_id, &(1..=10).collect::<Vec<_>>())
        .await;
    let user = users::create(
        db,
        tenant_id,
        &NewUser {
            email: "epn@bench.example".into(),
            display_name: "Animateur".into(),
            role: Role::Epn,
            prescriber_id: None,
            epn_id: Some(epn_id),
        },
    )
    .await
    .expect("EPN user");
    let token = tokens::issue_for_user(
        db,
        tenant_id,
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

    let started = Instant::now();
    let mut session_ids = Vec::new();
    for i in 0..(API_GROUPS + SQL_GROUPS) * SESSIONS {
        let session = sessions::create(
            db,
            tenant_id,
            epn_id,
            Actor::SYSTEM,
            &NewSession {
                scheme_id,
                module_number: Some(1),
                starts_at: chrono::Utc::now() - chrono::Duration::seconds(i as i64 + 1),
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
    // Each group's vouchers, in the order issued.
    let mut groups: Vec<Vec<(Uuid, String)>> = vec![Vec::new(); API_GROUPS + SQL_GROUPS];
    for v in 0..(API_GROUPS + SQL_GROUPS) * VOUCHERS {
        let last_name = format!("Charge{v}");
        let issued = world
            .issue(
                prescriber_id,
                scheme_id,
                Holder::New(World::person(&last_name)),
            )
            .await
            .expect("voucher");
        world
            .register(epn_id, &issued.voucher.reference, &last_name)
            .await
            .expect("registered");
        groups[v / VOUCHERS].push((issued.voucher.id, issued.voucher.reference));
    }
    // Session after session, each with its group's people in turn: requests in flight at once
    // record different people, as an EPN's sheets do. (In the other order, the 8 connections
    // would queue on one voucher's lock.)
    let mut api_pairs = Vec::new();
    let mut sql_pairs = Vec::new();
    for (group, vouchers) in groups.iter().enumerate() {
        for s in 0..SESSIONS {
            let session = session_ids[group * SESSIONS + s];
            for (voucher_id, reference) in vouchers {
                if group < API_GROUPS {
                    api_pairs.push(format!("{session} {reference}\n"));
                } else {
                    sql_pairs.push((tenant_id, session, *voucher_id));
                }
            }
        }
    }
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    let pairs_file = |name: &str, pairs: &[String]| {
        let path = std::env::temp_dir().join(format!(
            "passerelle-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, pairs.concat()).expect("pairs file");
        path
    };
    let warm_up_file = pairs_file("warm-up", &api_pairs[..WARM_UP_LINES]);
    let measured_file = pairs_file("pairs", &api_pairs[WARM_UP_LINES..]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/http_load.lua");
    let attendance_run = |address: String, duration: &'static str, pairs: PathBuf| {
        let script = script.clone();
        let token = token.clone();
        async move {
            wrk(
                &[
                    duration,
                    "-s",
                    script.to_str().expect("path"),
                    &format!("http://{address}"),
                ],
                &[
                    ("PAIRS", pairs.display().to_string()),
                    ("TOKEN", token),
                    ("THREADS", "2".into()),
                ],
            )
            .await
        }
    };

    // Attendance over HTTP, from wrk's process, against the release build's.
    let (server, address) = serve(&world.test.app_url, true).await;
    let warm_up = attendance_run(address.clone(), "-d2s", warm_up_file.clone()).await;
    let attendance = attendance_run(address.clone(), SECONDS, measured_file.clone()).await;
    let me_on = me(&address, &token).await;
    drop(server);
    let (server, address) = serve(&world.test.app_url, false).await;
    let me_off = me(&address, &token).await;
    drop(server);
    let _ = std::fs::remove_file(&warm_up_file);
    let _ = std::fs::remove_file(&measured_file);

    // The bare SQL of the same durable work, over the other half of the pairs: as many
    // transactions as the API recorded lines, at most.
    let per_client = attendance.recorded.min(sql_pairs.len()) / CONNECTIONS;
    let baseline = attendance_baseline::run(
        &world.test.owner,
        &world.test.app_url,
        CONNECTIONS,
        &sql_pairs,
        per_client,
    )
    .await;

    let ratio = attendance.requests_per_second / baseline.tps;
    let me_ratio = me_on.requests_per_second / me_off.requests_per_second;
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!(
        "The API in its own process (release build), wrk with {CONNECTIONS} connections, loopback, one machine\n"
    );
    println!("| what | requests/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    println!(
        "| `POST /v1/sessions/{{id}}/attendance`, one line each, after {} lines of warm-up ({} recorded, {} refused) | {:.0} | {:.1} | {:.1} |",
        warm_up.recorded,
        attendance.recorded,
        attendance.refused,
        attendance.requests_per_second,
        attendance.p50_ms,
        attendance.p99_ms
    );
    println!(
        "| pgbench, the bare transaction ({} transactions) | {:.0} | | {:.1} (mean) |",
        per_client * CONNECTIONS,
        baseline.tps,
        baseline.latency_ms
    );
    println!(
        "| `GET /v1/me`, principals in memory | {:.0} | {:.2} | {:.2} |",
        me_on.requests_per_second, me_on.p50_ms, me_on.p99_ms
    );
    println!(
        "| `GET /v1/me`, `CHANGES_LISTENER=false` | {:.0} | {:.2} | {:.2} |",
        me_off.requests_per_second, me_off.p50_ms, me_off.p99_ms
    );
    println!(
        "\nattendance API / baseline = {ratio:.2} (target ≥ 0.80: {}); p99 {:.1} ms (target < 25: {}); /v1/me in memory / from PostgreSQL = {me_ratio:.2} (target ≥ 3: {})",
        verdict(ratio >= 0.8),
        attendance.p99_ms,
        verdict(attendance.p99_ms < 25.0),
        verdict(me_ratio >= 3.0)
    );
    if let Some(failed) = &baseline.failed {
        println!("pgbench: {failed}");
    }
}
