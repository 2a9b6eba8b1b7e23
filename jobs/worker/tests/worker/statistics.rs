//! A statistics export the way its users get one: a tenant admin asks the API, the worker computes
//! it from its queue, a funder downloads the published files and only those.

use std::time::{Duration, Instant};

use passerelle_api::state::AppState;
use passerelle_core::audit::Actor;
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::tokens::{self, NewToken};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_test_support::activity::{self, ActivitySpec};
use serde_json::{Value, json};
use sha2::Digest;

use crate::harness::Harness;

async fn token(h: &Harness, role: Role) -> String {
    let user = users::create(
        &h.db.app,
        h.tenant.id,
        &NewUser {
            email: format!("{}@lot.example", role.as_str()),
            display_name: role.as_str().into(),
            role,
            prescriber_id: None,
            epn_id: None,
        },
    )
    .await
    .expect("user");
    tokens::issue_for_user(
        &h.db.app,
        h.tenant.id,
        Actor::SYSTEM,
        user.id,
        &NewToken {
            name: "statistics".into(),
            expires_at: None,
        },
    )
    .await
    .expect("token")
    .secret
}

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }
}

#[tokio::test]
async fn an_admin_asks_the_worker_computes_a_funder_downloads_only_published_files() {
    let h = Harness::new().await;
    activity::generate(
        &h.db,
        h.tenant.id,
        h.scheme_id,
        ActivitySpec {
            vouchers: 120,
            epns: 3,
            sessions_per_epn: 40,
            max_attendance: 4,
            first_day: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date"),
            bulk: false,
        },
    )
    .await;
    let redis = AppState::connect_redis("redis://127.0.0.1:6379")
        .await
        .expect("Redis");
    let mut state = AppState::new(h.db.app.clone(), redis);
    state.redis_namespace = h.queue_prefix.clone();
    state.statistics_dir = h.statistics_dir.clone();
    let addr = passerelle_api::spawn_on_loopback(state).await.expect("API");
    let api = Api {
        base: format!("http://{addr}/v1"),
        client: reqwest::Client::new(),
    };
    let (admin, funder) = (
        token(&h, Role::TenantAdmin).await,
        token(&h, Role::Funder).await,
    );

    let refused = api
        .client
        .post(format!("{}/statistics/exports", api.base))
        .bearer_auth(&funder)
        .json(&json!({ "scheme_id": h.scheme_id, "period": "2026" }))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 403, "funders read, they do not ask");
    let bad = api
        .client
        .post(format!("{}/statistics/exports", api.base))
        .bearer_auth(&admin)
        .json(&json!({ "scheme_id": h.scheme_id, "period": "2026-T5" }))
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), 422);

    let accepted = api
        .client
        .post(format!("{}/statistics/exports", api.base))
        .bearer_auth(&admin)
        .json(&json!({ "scheme_id": h.scheme_id, "period": "2026" }))
        .send()
        .await
        .expect("request");
    assert_eq!(accepted.status(), 202);
    let export: Value = accepted.json().await.expect("json");
    assert_eq!(export["status"], "queued");
    let id = export["id"].as_str().expect("id").to_owned();

    // Not computed yet: the download says so.
    let early = api
        .get(
            &admin,
            &format!("/statistics/exports/{id}/files/indicators.csv"),
        )
        .await;
    assert_eq!(early.status(), 409);
    let problem: Value = early.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("queued")),
        "{problem}"
    );

    let worker = h.start_worker();
    let started = Instant::now();
    let done = loop {
        let view: Value = api
            .get(&admin, &format!("/statistics/exports/{id}"))
            .await
            .json()
            .await
            .expect("json");
        if view["status"] == "succeeded" {
            break view;
        }
        assert_ne!(view["status"], "failed", "{view}");
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the export never finished: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["files"].as_array().expect("files").len(), 14, "{done}");

    let funder_view: Value = api
        .get(&funder, &format!("/statistics/exports/{id}"))
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = funder_view["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names.iter().all(|n| n.contains("-published.")), "{names:?}");
    let listed: Value = api
        .get(&funder, "/statistics/exports")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(
        listed[0]["files"].as_array().expect("files").len(),
        6,
        "{listed}"
    );
    let listed: Value = api
        .get(&admin, "/statistics/exports?status=succeeded")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        listed[0]["files"].as_array().expect("files").len(),
        14,
        "{listed}"
    );

    let csv = api
        .get(
            &funder,
            &format!("/statistics/exports/{id}/files/indicators-published.csv"),
        )
        .await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let bytes = csv.bytes().await.expect("body");
    assert!(bytes.starts_with(b"\xEF\xBB\xBFperiode;dimension;valeur_dimension;indicateur;"));
    let hidden = api
        .get(
            &funder,
            &format!("/statistics/exports/{id}/files/indicators.parquet"),
        )
        .await;
    assert_eq!(
        hidden.status(),
        404,
        "the un-suppressed file is not the funder's"
    );
    let vouchers = api
        .get(
            &funder,
            &format!("/statistics/exports/{id}/files/vouchers.parquet"),
        )
        .await;
    assert_eq!(vouchers.status(), 404);

    let parquet = api
        .get(
            &admin,
            &format!("/statistics/exports/{id}/files/vouchers.parquet"),
        )
        .await;
    assert_eq!(parquet.status(), 200);
    assert_eq!(
        parquet.headers()["content-type"],
        "application/vnd.apache.parquet"
    );
    let bytes = parquet.bytes().await.expect("body");
    assert!(bytes.starts_with(b"PAR1"));
    let listed = done["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "vouchers.parquet")
        .expect("listed");
    assert_eq!(listed["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));

    let audit: Value = api
        .get(&admin, "/audit?action=statistics.file_downloaded")
        .await
        .json()
        .await
        .expect("audit");
    let entries = audit["items"]
        .as_array()
        .or_else(|| audit.as_array())
        .expect("entries");
    assert_eq!(entries.len(), 2, "{audit}");

    worker.stop().await;
    h.assert_no_job_left_behind().await;
}
