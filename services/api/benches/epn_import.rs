//! `make bench`: the import of a national-size file of *lieux de médiation numérique* through the
//! API, the way a tenant admin sends it.
//!
//! A file of 20,000 places in the national schema (its 32 fields; a seventh of the places with
//! opening hours that do not parse, kept with a warning; a hundredth refused) is streamed from disk
//! to `POST /v1/epns/import`, and the import is followed at `/v1/imports/{id}` until it succeeds.
//! The baseline is the bare SQL of the same durable work in the same process: the same 20,000
//! rows inserted into `epns` (with their open-data JSON) in batches of 500 by `unnest`, one
//! transaction per batch. Figures: rows per second of each and their ratio; and the process's peak
//! memory (VmHWM) after importing a file a quarter of the size (5,000 places, first) and after the
//! full one: were the file held whole anywhere, the second peak would exceed the first by at least
//! the difference in size. Targets: the import at least 0.2× the bare SQL's rows per second; the
//! peak after the full file within half the size difference of the peak after the small one.

use std::io::Write;
use std::time::{Duration, Instant};

use passerelle_api::{AppState, spawn_on_loopback};
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_core::tenancy::tokens::{self, NewToken};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_test_support::{TestDatabase, create_tenant};
use serde_json::{Value, json};
use uuid::Uuid;

const PLACES: usize = 20_000;
const BATCH: usize = 500;

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

/// One place of the national file, as its 32 fields in the schema's order.
fn place(i: usize) -> Vec<String> {
    let hours = if i % 7 == 3 {
        "le mardi matin et sur rendez-vous".to_owned()
    } else {
        "Mo-Fr 09:00-12:00,14:00-18:00; Sa 09:00-12:00; PH off || \"sur rendez-vous\"".to_owned()
    };
    let latitude = if i % 100 == 99 {
        "au nord".to_owned()
    } else {
        format!("{:.5}", 43.0 + (i % 500) as f64 / 100.0)
    };
    let department = 1 + i % 95;
    vec![
        format!("lieu-{i}"),
        String::new(),
        format!("Espace numérique {i}"),
        format!("Commune {}", i % 3000),
        format!("{department:02}{:03}", i % 1000),
        "46102".into(),
        format!("{} rue de la République", i % 200 + 1),
        "Rez-de-chaussée, porte B".into(),
        latitude,
        format!("{:.5}", 1.0 + (i % 400) as f64 / 100.0),
        "EPN|MUNI".into(),
        "+33565000000".into(),
        format!("contact-{i}@lieux.example|mediation-{i}@lieux.example"),
        format!("https://lieu-{i}.example"),
        hours,
        "Accompagnement au numérique pour toutes et tous.".into(),
        "Ateliers collectifs, accompagnement individuel aux démarches en ligne, prise en main des \
         outils numériques, accès libre à des ordinateurs et à une imprimante."
            .into(),
        "anct".into(),
        "Réseau des médiathèques".into(),
        "2026-10-01".into(),
        "Prendre en main un ordinateur|Réaliser des démarches administratives avec un accompagnement".into(),
        "Seniors|Jeunes|Familles".into(),
        "Surdité|Handicaps mentaux".into(),
        "Gratuit|Payant".into(),
        "Itinérant".into(),
        "Se présenter|Téléphoner".into(),
        "Seul|Avec de l'aide|Dans un atelier".into(),
        "France Services|Aidants Connect|Conseillers numériques".into(),
        "Territoire d'action".into(),
        "Label local".into(),
        format!("https://acceslibre.example/erp/{i}"),
        format!("https://rdv.example/lieu-{i}"),
    ]
}

fn write_file(path: &std::path::Path, places: std::ops::Range<usize>) -> u64 {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b',')
        .from_path(path)
        .expect("create the file");
    writer
        .write_record(passerelle_core::epns::import::SCHEMA_FIELDS)
        .expect("header");
    for i in places {
        writer.write_record(place(i)).expect("row");
    }
    writer.flush().expect("flush");
    std::fs::metadata(path).expect("size").len()
}

/// The bare SQL of the same durable work: every place inserted with its open data, in batches.
async fn bare_sql(db: &TestDatabase, tenant_id: Uuid) -> Duration {
    let started = Instant::now();
    let rows: Vec<Vec<String>> = (0..PLACES).map(place).collect();
    for batch in rows.chunks(BATCH) {
        let mut tx = db.app.begin_tenant(tenant_id).await.expect("tx");
        let ids: Vec<Uuid> = batch.iter().map(|_| Uuid::now_v7()).collect();
        let names: Vec<&str> = batch.iter().map(|r| r[2].as_str()).collect();
        let source_ids: Vec<&str> = batch.iter().map(|r| r[0].as_str()).collect();
        let hours: Vec<&str> = batch.iter().map(|r| r[14].as_str()).collect();
        let open_data: Vec<Value> = batch
            .iter()
            .map(|r| json!({ "presentation_detail": r[16], "prise_rdv": r[31] }))
            .collect();
        sqlx::query(
            "INSERT INTO epns (tenant_id, id, name, source, source_id, opening_hours, open_data)
             SELECT $1, id, name, 'anct', source_id, hours, data
               FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
                    AS t(id, name, source_id, hours, data)",
        )
        .bind(tenant_id)
        .bind(&ids)
        .bind(&names)
        .bind(&source_ids)
        .bind(&hours)
        .bind(&open_data)
        .execute(&mut *tx)
        .await
        .expect("bare insert");
        tx.commit().await.expect("commit");
    }
    started.elapsed()
}

/// Sends a file to the API as a tenant admin does, streamed from disk, and follows the import until
/// it is finished; returns it, the upload's time and the whole import's time.
async fn import(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &std::path::Path,
    bytes: u64,
) -> (Value, Duration, Duration) {
    let started = Instant::now();
    let file = tokio::fs::File::open(path).await.expect("open");
    let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::from(file), bytes)
        .file_name("lieux-de-mediation-numerique.csv")
        .mime_str("text/csv")
        .expect("mime");
    let accepted = http
        .post(format!("{base}/v1/epns/import"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("upload");
    assert_eq!(accepted.status().as_u16(), 202, "the import is accepted");
    let uploaded = started.elapsed();
    let location = accepted.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let done: Value = loop {
        let import: Value = http
            .get(format!("{base}{location}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        if matches!(import["status"].as_str(), Some("succeeded" | "failed")) {
            break import;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let imported = started.elapsed();
    (done, uploaded, imported)
}

#[tokio::main]
async fn main() {
    let db = TestDatabase::create().await;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = AppState::connect_redis(&redis_url).await.expect("Redis");
    let mut state = AppState::new(db.app.clone(), redis);
    state.redis_namespace = format!("passerelle-bench:{}", Uuid::new_v4().simple());
    let addr = spawn_on_loopback(state).await.expect("serve");
    let base = format!("http://{addr}");

    let tenant = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let baseline_tenant = create_tenant(&db.app, "cantal", TenantKind::Departement, "15").await;
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

    let dir = std::env::temp_dir().join(format!("passerelle-bench-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("lieux-de-mediation-numerique.csv");
    let bytes = write_file(&path, 0..PLACES);
    std::io::stdout().flush().ok();

    let bare = bare_sql(&db, baseline_tenant.id).await;

    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let before_mib = peak_rss_mib();
    let http = reqwest::Client::new();
    let small = dir.join("lieux-5000.csv");
    // Places of their own, so that the full file's are all new, like the baseline's.
    let small_bytes = write_file(&small, 1_000_000..1_000_000 + PLACES / 4);
    let (small_done, _, _) = import(&http, &base, &token, &small, small_bytes).await;
    assert_eq!(small_done["status"], "succeeded", "{small_done}");
    let small_peak_mib = peak_rss_mib();
    let (done, uploaded, imported) = import(&http, &base, &token, &path, bytes).await;
    let peak_mib = peak_rss_mib();
    std::fs::remove_dir_all(&dir).ok();

    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["rows_read"], PLACES, "{done}");
    let refused = PLACES / 100;
    assert_eq!(done["refused"], refused, "{done}");
    assert_eq!(done["created"], PLACES - refused, "{done}");

    let import_rate = PLACES as f64 / imported.as_secs_f64();
    let bare_rate = PLACES as f64 / bare.as_secs_f64();
    let ratio = import_rate / bare_rate;
    let file_mib = bytes as f64 / (1024.0 * 1024.0);
    let small_mib = small_bytes as f64 / (1024.0 * 1024.0);
    let over_small = peak_mib - small_peak_mib;
    println!(
        "{PLACES} places in the national schema (32 fields, {file_mib:.1} MiB; {} with hours kept as text, {refused} refused), streamed from disk to POST /v1/epns/import and followed until done; one process, loopback\n",
        done["warnings"]
    );
    println!("| run | time | rows/s | peak memory |");
    println!("|---|---:|---:|---:|");
    println!(
        "| bare SQL: the same rows inserted by `unnest`, {BATCH} per transaction (baseline) | {:.2} s | {bare_rate:.0} | |",
        bare.as_secs_f64()
    );
    println!(
        "| import through the API (upload {:.2} s, then the background run) | {:.2} s | {import_rate:.0} | {peak_mib:.0} MiB ({before_mib:.0} MiB before any import, {small_peak_mib:.0} MiB after a {small_mib:.1} MiB file) |",
        uploaded.as_secs_f64(),
        imported.as_secs_f64()
    );
    println!();
    println!(
        "API / baseline rows/s ratio {ratio:.2} (target ≥ 0.2, {}); peak memory {over_small:+.0} MiB with the {file_mib:.1} MiB file over the {small_mib:.1} MiB one (target < half the {:.1} MiB difference, {})",
        if ratio >= 0.2 { "met" } else { "NOT met" },
        file_mib - small_mib,
        if over_small < (file_mib - small_mib) / 2.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
