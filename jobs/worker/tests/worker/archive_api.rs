//! A territory's archive the way its tenant admin gets one: asked through the API, written by the
//! worker from its queue, downloaded, checked against its digest and restored elsewhere. Each rule
//! is attacked: another role, another tenant, a download before the file exists, a second request
//! while one runs, the daily quota, and a download after the file was deleted.

use std::time::{Duration, Instant};

use passerelle_api::state::AppState;
use passerelle_core::archive::requests;
use passerelle_core::audit::Actor;
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::tenants::{Tenant, TenantKind};
use passerelle_core::tenancy::tokens::{self, NewToken};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_test_support::TestDatabase;
use passerelle_test_support::activity::{self, ActivitySpec};
use passerelle_worker::archive;
use serde_json::Value;
use sha2::Digest;
use uuid::Uuid;

use crate::harness::Harness;

async fn token(db: &TestDatabase, tenant: &Tenant, role: Role) -> (Uuid, String) {
    let user = users::create(
        &db.app,
        tenant.id,
        &NewUser {
            email: format!(
                "{}-{}@archive.example",
                role.as_str(),
                Uuid::new_v4().simple()
            ),
            display_name: role.as_str().into(),
            role,
            prescriber_id: None,
            epn_id: None,
        },
    )
    .await
    .expect("user");
    let token = tokens::issue_for_user(
        &db.app,
        tenant.id,
        Actor::SYSTEM,
        user.id,
        &NewToken {
            name: "archive".into(),
            expires_at: None,
        },
    )
    .await
    .expect("token")
    .secret;
    (user.id, token)
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

    async fn post(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }
}

async fn problem_type(response: reqwest::Response) -> String {
    let problem: Value = response.json().await.expect("a problem document");
    problem["type"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_tenant_admin_asks_the_worker_writes_the_admin_downloads_and_restores_elsewhere() {
    let h = Harness::new().await;
    activity::generate(
        &h.db,
        h.tenant.id,
        h.scheme_id,
        ActivitySpec {
            vouchers: 40,
            epns: 2,
            sessions_per_epn: 10,
            max_attendance: 3,
            first_day: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date"),
            bulk: false,
        },
    )
    .await;
    let options = h.options();
    let redis = AppState::connect_redis("redis://127.0.0.1:6379")
        .await
        .expect("Redis");
    let mut state = AppState::new(h.db.app.clone(), redis);
    state.redis_namespace = h.queue_prefix.clone();
    state.statistics_dir = h.statistics_dir.clone();
    state.archive_dir = options.archive_dir.clone();
    let addr = passerelle_api::spawn_on_loopback(state).await.expect("API");
    let api = Api {
        base: format!("http://{addr}/v1"),
        client: reqwest::Client::new(),
    };
    let (admin_id, admin) = token(&h.db, &h.tenant, Role::TenantAdmin).await;
    let (_, finance) = token(&h.db, &h.tenant, Role::Finance).await;
    let cantal = passerelle_test_support::create_tenant(
        &h.db.app,
        &format!("cantal-{}", Uuid::new_v4().simple()),
        TenantKind::Departement,
        "15",
    )
    .await;
    let (_, other_admin) = token(&h.db, &cantal, Role::TenantAdmin).await;

    let refused = api.post(&finance, "/archives").await;
    assert_eq!(
        refused.status(),
        403,
        "finance does not take the territory away"
    );
    let accepted = api.post(&admin, "/archives").await;
    assert_eq!(accepted.status(), 202);
    let asked: Value = accepted.json().await.expect("json");
    assert_eq!(asked["status"], "queued", "{asked}");
    let id = asked["id"].as_str().expect("id").to_owned();

    let again = api.post(&admin, "/archives").await;
    assert_eq!(again.status(), 409, "one archive at a time");
    assert_eq!(problem_type(again).await, "/problems/archive-under-way");
    let early = api.get(&admin, &format!("/archives/{id}/file")).await;
    assert_eq!(early.status(), 409);
    assert_eq!(problem_type(early).await, "/problems/archive-not-ready");
    for path in [format!("/archives/{id}"), format!("/archives/{id}/file")] {
        let foreign = api.get(&other_admin, &path).await;
        assert_eq!(foreign.status(), 404, "another tenant's admin: {path}");
    }
    let foreign_list: Value = api
        .get(&other_admin, "/archives")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(foreign_list, serde_json::json!([]));
    assert_eq!(
        api.get(&finance, &format!("/archives/{id}")).await.status(),
        403
    );

    let worker = h.start_worker_with(options.clone());
    let started = Instant::now();
    let done = loop {
        let view: Value = api
            .get(&admin, &format!("/archives/{id}"))
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
            "the archive was never written: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    worker.stop().await;
    assert!(done["row_count"].as_i64().expect("rows") > 40, "{done}");
    assert!(done["expires_at"].is_string(), "{done}");

    let download = api.get(&admin, &format!("/archives/{id}/file")).await;
    assert_eq!(download.status(), 200);
    assert_eq!(
        download.headers()["content-type"].to_str().expect("type"),
        "application/zip"
    );
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .expect("disposition")
            .contains("attachment"),
    );
    let bytes = download.bytes().await.expect("the zip");
    assert_eq!(Some(bytes.len() as i64), done["byte_size"].as_i64());
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        done["sha256"].as_str().expect("sha256"),
        "the download is the file the worker recorded"
    );
    let downloaded = h.statistics_dir.join(format!("download-{id}.zip"));
    std::fs::write(&downloaded, &bytes).expect("keep the download");

    let elsewhere = TestDatabase::create().await;
    let restored = archive::restore(
        &elsewhere.app,
        &downloaded,
        &h.statistics_dir.join("elsewhere"),
        &Default::default(),
    )
    .await
    .expect("the downloaded archive restores");
    let mut tx = elsewhere.app.begin_tenant(restored.id).await.expect("tx");
    let vouchers: i64 = sqlx::query_scalar("SELECT count(*) FROM vouchers")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    let mut tx = h.db.app.begin_tenant(h.tenant.id).await.expect("tx");
    let here: i64 = sqlx::query_scalar("SELECT count(*) FROM vouchers")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    let audited: Vec<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT action, actor_id FROM audit_log WHERE action LIKE 'archive.%' ORDER BY occurred_at, action",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    assert_eq!(vouchers, here);
    assert_eq!(
        audited,
        [
            ("archive.requested".to_owned(), Some(admin_id)),
            ("archive.exported".to_owned(), Some(admin_id)),
            ("archive.downloaded".to_owned(), Some(admin_id)),
        ],
        "who asked, what was written for them, and who took it away"
    );

    // Two more a day, then the quota.
    for _ in 0..2 {
        let next = api.post(&admin, "/archives").await;
        assert_eq!(next.status(), 202);
        let next: Value = next.json().await.expect("json");
        let next = Uuid::parse_str(next["id"].as_str().expect("id")).expect("uuid");
        requests::fail(&h.db.app, h.tenant.id, next, "stopped by the test")
            .await
            .expect("fail");
    }
    let over = api.post(&admin, "/archives").await;
    assert_eq!(over.status(), 429);
    assert_eq!(
        problem_type(over).await,
        "/problems/archives-per-day-used-up"
    );

    // Seven days later the daily run deletes the file; the record stays.
    let file = requests::file_path(&options.archive_dir, h.tenant.id, id.parse().expect("id"));
    assert!(file.exists());
    let mut tx = h.db.app.begin_tenant(h.tenant.id).await.expect("tx");
    sqlx::query(
        "UPDATE tenant_archives SET expires_at = now() - interval '1 minute' WHERE id = $1",
    )
    .bind(Uuid::parse_str(&id).expect("uuid"))
    .execute(&mut *tx)
    .await
    .expect("age the archive");
    tx.commit().await.expect("commit");
    let gone = api.get(&admin, &format!("/archives/{id}/file")).await;
    assert_eq!(gone.status(), 409, "past its day, before the run");
    assert_eq!(problem_type(gone).await, "/problems/archive-expired");
    let expired = passerelle_worker::jobs::daily_run::expire_archives(
        &h.db.app,
        &options.archive_dir,
        h.tenant.id,
    )
    .await
    .expect("expiry");
    assert_eq!(expired, 1);
    assert!(!file.exists(), "the file is deleted");
    let view: Value = api
        .get(&admin, &format!("/archives/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(view["status"], "expired", "{view}");
    assert_eq!(view["sha256"], done["sha256"], "the record stays");
    let listed: Value = api
        .get(&admin, "/archives")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed.as_array().expect("list").len(), 3, "{listed}");
    h.assert_no_job_left_behind().await;
}

/// A browser signed in to the portal as a user of `tenant` with `role`: its session cookie, and
/// the CSRF token of its forms (read from its home page).
struct Portal {
    base: String,
    client: reqwest::Client,
    cookie: String,
    csrf_token: String,
}

impl Portal {
    async fn sign_in(db: &TestDatabase, base: &str, tenant: &Tenant, role: Role) -> Self {
        let (user_id, _) = token(db, tenant, role).await;
        let email: String = {
            let mut tx = db.app.begin_tenant(tenant.id).await.expect("tx");
            let email = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await
                .expect("email");
            tx.commit().await.expect("commit");
            email
        };
        let password = "archive-du-territoire";
        passerelle_core::tenancy::accounts::set_password(
            &db.app,
            tenant.id,
            Actor::SYSTEM,
            user_id,
            password,
        )
        .await
        .expect("password");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let signed = client
            .post(format!("{base}/portail/{}/connexion", tenant.slug))
            .header("origin", base)
            .form(&[("email", email.as_str()), ("password", password)])
            .send()
            .await
            .expect("sign in");
        assert_eq!(signed.status(), 303);
        let cookie = signed.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("pair")
            .to_owned();
        let mut portal = Self {
            base: base.to_owned(),
            client,
            cookie,
            csrf_token: String::new(),
        };
        portal.set_up_second_factor(&tenant.slug).await;
        let home = portal.get(&format!("/portail/{}/", tenant.slug)).await.1;
        portal.csrf_token = home
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a CSRF token")
            .to_owned();
        portal
    }

    /// Finance officers and tenant admins set up their authenticator before any page: its code
    /// computed from the key the page shows.
    async fn set_up_second_factor(&self, slug: &str) {
        let path = format!("/portail/{slug}/double-authentification");
        let (status, page) = self.get(&path).await;
        assert_eq!(status, 200);
        if !page.contains("double-authentification/activation") {
            return;
        }
        let field = |name: &str| {
            page.split(name)
                .nth(1)
                .and_then(|rest| rest.split('"').nth(1))
                .expect("a field of the page")
                .to_owned()
        };
        let token = field("name=\"csrf_token\" value=");
        let key: String = page
            .split("<strong class=\"code\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .expect("the key")
            .split_whitespace()
            .collect();
        let secret = totp_rs::Secret::Encoded(key).to_bytes().expect("base32");
        let code = totp_rs::TOTP::new(
            totp_rs::Algorithm::SHA1,
            6,
            1,
            30,
            secret,
            None,
            String::new(),
        )
        .expect("totp")
        .generate_current()
        .expect("clock");
        let response = self
            .client
            .post(format!("{}{path}/activation", self.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.base)
            .form(&[("csrf_token", token.as_str()), ("code", code.as_str())])
            .send()
            .await
            .expect("activation");
        assert_eq!(response.status(), 200);
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("page");
        (
            response.status().as_u16(),
            response.text().await.expect("html"),
        )
    }

    async fn post(&self, path: &str, csrf_token: &str) -> (u16, String) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.base)
            .form(&[("csrf_token", csrf_token)])
            .send()
            .await
            .expect("form");
        (
            response.status().as_u16(),
            response.text().await.expect("html"),
        )
    }
}

#[tokio::test]
async fn a_tenant_admin_takes_the_archive_from_the_portal() {
    let h = Harness::new().await;
    let options = h.options();
    let redis = AppState::connect_redis("redis://127.0.0.1:6379")
        .await
        .expect("Redis");
    let mut state = AppState::new(h.db.app.clone(), redis);
    state.redis_namespace = h.queue_prefix.clone();
    state.statistics_dir = h.statistics_dir.clone();
    state.archive_dir = options.archive_dir.clone();
    let base = format!(
        "http://{}",
        passerelle_api::spawn_on_loopback(state).await.expect("API")
    );
    let page_path = format!("/portail/{}/archive", h.tenant.slug);
    let admin = Portal::sign_in(&h.db, &base, &h.tenant, Role::TenantAdmin).await;
    let finance = Portal::sign_in(&h.db, &base, &h.tenant, Role::Finance).await;

    let (status, home) = admin.get(&format!("/portail/{}/", h.tenant.slug)).await;
    assert_eq!(status, 200);
    assert!(home.contains(&page_path), "the home page links to it");
    let (status, page) = admin.get(&page_path).await;
    assert_eq!(status, 200);
    assert!(page.contains("Aucune archive demandée"), "{page}");
    assert_eq!(finance.get(&page_path).await.0, 403);
    assert_eq!(finance.post(&page_path, &finance.csrf_token).await.0, 403);
    // A form from elsewhere (no session token) asks for nothing.
    assert_eq!(admin.post(&page_path, "forged").await.0, 403);

    let (status, _) = admin.post(&page_path, &admin.csrf_token).await;
    assert_eq!(status, 303);
    let (_, page) = admin.get(&format!("{page_path}?demandee=1")).await;
    assert!(page.contains("L’archive est demandée"), "{page}");
    assert!(page.contains("en attente"), "{page}");
    // Asked again while it is prepared: the refusal in French, nothing queued.
    let (status, page) = admin.post(&page_path, &admin.csrf_token).await;
    assert_eq!(status, 409);
    assert!(
        page.contains("Une archive de l’espace est déjà en préparation"),
        "{page}"
    );

    let worker = h.start_worker_with(options.clone());
    let started = Instant::now();
    let page = loop {
        let (_, page) = admin.get(&page_path).await;
        if page.contains("Télécharger") {
            break page;
        }
        assert!(!page.contains("en échec"), "{page}");
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the archive was never written: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    worker.stop().await;
    let link = page
        .split("href=\"")
        .map(|rest| rest.split('"').next().unwrap_or_default())
        .find(|href| href.ends_with("/fichier"))
        .expect("the download link")
        .to_owned();
    let shown_digest = page
        .split("class=\"fr-text--xs empreinte\">SHA-256 ")
        .nth(1)
        .map(|rest| rest.chars().take(64).collect::<String>())
        .expect("the digest shown");
    assert_eq!(finance.get(&link).await.0, 403, "finance downloads nothing");
    let download = admin
        .client
        .get(format!("{base}{link}"))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .expect("download");
    assert_eq!(download.status(), 200);
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .expect("disposition")
            .starts_with("attachment; filename=\"passerelle-archive-"),
    );
    let bytes = download.bytes().await.expect("the zip");
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), shown_digest);
    let mut tx = h.db.app.begin_tenant(h.tenant.id).await.expect("tx");
    let downloads: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'archive.downloaded'")
            .fetch_one(&mut *tx)
            .await
            .expect("audit");
    tx.commit().await.expect("commit");
    assert_eq!(downloads, 1, "the download is audited");
    h.assert_no_job_left_behind().await;
}
