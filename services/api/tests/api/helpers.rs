//! `spawn_app()`: starts the API on 127.0.0.1 with a random port over a database of its own, seeds
//! two tenants with one user and token per role, and returns a typed client.

use std::collections::HashMap;

use passerelle_api::{AppState, spawn_on_loopback};
use passerelle_core::audit::Actor;
use passerelle_core::epns;
use passerelle_core::prescribers::{self, NewPrescriber};
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_core::tenancy::tokens::{self, NewToken};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_test_support::{TestDatabase, create_tenant};
use reqwest::header::HeaderMap;
use serde_json::Value;
use uuid::Uuid;

pub struct TenantFixture {
    pub id: Uuid,
    pub slug: String,
    pub prescriber_id: Uuid,
    pub epn_id: Uuid,
    pub tokens: HashMap<Role, String>,
    pub users: HashMap<Role, Uuid>,
}

impl TenantFixture {
    pub fn token(&self, role: Role) -> &str {
        &self.tokens[&role]
    }
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub db: TestDatabase,
    pub lot: TenantFixture,
    pub ara: TenantFixture,
    pub platform_token: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.raw);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.raw
        );
        for member in ["type", "title", "detail"] {
            assert!(
                self.body[member].is_string(),
                "problem without `{member}`: {}",
                self.raw
            );
        }
        assert_eq!(self.body["status"], status);
        &self.body
    }

    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// As `spawn_app`, with the service's state changed first (its public address, say).
pub async fn spawn_app_with(configure: impl FnOnce(&mut AppState)) -> TestApp {
    let db = TestDatabase::create().await;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let redis = AppState::connect_redis(&redis_url)
        .await
        .expect("Redis is reachable (make test starts it)");
    let mut state = AppState::new(db.app.clone(), redis);
    state.redis_namespace = format!("passerelle-test:{}", Uuid::new_v4().simple());
    configure(&mut state);
    let addr = spawn_on_loopback(state)
        .await
        .expect("serve on a free port");

    let lot = seed_tenant(&db, "lot", TenantKind::Departement, "46").await;
    let ara = seed_tenant(&db, "ara", TenantKind::Region, "84").await;
    let platform = tokens::issue_platform(
        &db.app,
        &format!("ops-{}@passerelle.example", Uuid::new_v4().simple()),
        "Ops",
        &NewToken {
            name: "tests".into(),
            expires_at: None,
        },
    )
    .await
    .expect("platform token");
    TestApp {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        db,
        lot,
        ara,
        platform_token: platform.secret,
    }
}

async fn seed_tenant(
    db: &TestDatabase,
    slug: &str,
    kind: TenantKind,
    insee_code: &str,
) -> TenantFixture {
    let tenant = create_tenant(&db.app, slug, kind, insee_code).await;
    let prescriber_id = prescribers::create(
        &db.app,
        tenant.id,
        Actor::SYSTEM,
        &NewPrescriber {
            name: "CAF".into(),
            kind: passerelle_core::prescribers::PrescriberKind::Caf,
            ..NewPrescriber::default()
        },
    )
    .await
    .expect("prescriber")
    .id;
    let epn_id = epns::create_named(&db.app, tenant.id, "EPN")
        .await
        .expect("epn");
    let mut tokens_by_role = HashMap::new();
    let mut users_by_role = HashMap::new();
    for role in Role::TENANT {
        let user = users::create(
            &db.app,
            tenant.id,
            &NewUser {
                email: format!("{}@{slug}.example", role.as_str()),
                display_name: format!("{role} of {slug}"),
                role,
                prescriber_id: (role == Role::Prescriber).then_some(prescriber_id),
                epn_id: (role == Role::Epn).then_some(epn_id),
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
                name: "tests".into(),
                expires_at: None,
            },
        )
        .await
        .expect("token");
        tokens_by_role.insert(role, token.secret);
        users_by_role.insert(role, user.id);
    }
    TenantFixture {
        id: tenant.id,
        slug: slug.into(),
        prescriber_id,
        epn_id,
        tokens: tokens_by_role,
        users: users_by_role,
    }
}

/// Waits until `db`'s process hears the changes, and so keeps principals in memory.
pub async fn following(db: &passerelle_core::Db) {
    for _ in 0..250 {
        if db.memory().is_following() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the changes' listener did not connect");
}

/// A key as the header carries it: an RFC 8941 string (quoted, `\` and `"` escaped).
pub fn sf_string(key: &str) -> String {
    format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
}

impl TestApp {
    /// Another API process over the same database, with its own pool and memory: what a second
    /// replica behind the load balancer is. Returns its base address once it hears the changes.
    pub async fn another_instance(&self) -> String {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&self.db.app_url)
            .await
            .expect("a second pool");
        let redis_url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = AppState::connect_redis(&redis_url)
            .await
            .expect("Redis is reachable");
        let db = passerelle_core::Db::from_pool(pool)
            .on_cluster(passerelle_test_support::cluster::nodes().is_some());
        let mut state = AppState::new(db.clone(), redis);
        state.redis_namespace = format!("passerelle-test:{}", Uuid::new_v4().simple());
        let addr = spawn_on_loopback(state).await.expect("serve");
        following(&db).await;
        following(&self.db.app).await;
        format!("http://{addr}")
    }

    /// How many entries of `action` the audit log of the Lot holds.
    pub async fn audited_in_lot(&self, action: &str) -> i64 {
        let mut tx = self.db.app.begin_tenant(self.lot.id).await.expect("tx");
        let count = sqlx::query_scalar(
            "SELECT count(*) FROM audit_log WHERE tenant_id = $2 AND action = $1",
        )
        .bind(action)
        .bind(self.lot.id)
        .fetch_one(&mut *tx)
        .await
        .expect("audit");
        tx.commit().await.expect("commit");
        count
    }
}

impl TestApp {
    pub fn token_for(&self, role: Role) -> &str {
        match role {
            Role::PlatformAdmin => &self.platform_token,
            other => self.lot.token(other),
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let resp = request.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let raw = resp.text().await.expect("body read");
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            raw,
        }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(self.request("GET", path, Some(token))).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.send(self.request("POST", path, Some(token)).json(body))
            .await
    }

    pub async fn post_idempotent(&self, path: &str, token: &str, key: &str, body: &Value) -> Reply {
        self.send(
            self.request("POST", path, Some(token))
                .header("Idempotency-Key", sf_string(key))
                .json(body),
        )
        .await
    }

    /// Follows an import at `location` until it is finished (ten seconds at most); returns it.
    pub async fn finished_import(&self, location: &str, token: &str) -> Value {
        for _ in 0..200 {
            let import = self.get(location, token).await;
            assert_eq!(import.status, 200, "{}", import.raw);
            if matches!(import.body["status"].as_str(), Some("succeeded" | "failed")) {
                return import.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the import at {location} did not finish");
    }

    pub async fn me(&self, token: &str) -> Reply {
        self.get("/v1/me", token).await
    }

    pub async fn create_user(&self, token: &str, email: &str, role: &str) -> Reply {
        self.post(
            "/v1/users",
            token,
            &serde_json::json!({ "email": email, "display_name": "Nouvel utilisateur", "role": role }),
        )
        .await
    }
}

impl TestApp {
    /// An active Ticket Net (from the preset) in the Lot, with an allocation of `quantity`
    /// vouchers for the Lot's prescriber around today; returns the scheme id.
    pub async fn active_ticket_net_in_lot(&self, quantity: i32) -> String {
        self.active_scheme_in_lot(
            &serde_json::json!({ "code": "ticket-net", "name": "Ticket Net", "preset": "ticket-net" }),
            quantity,
        )
        .await
    }

    /// The scheme `body` creates in the Lot, active, with an allocation of `quantity` vouchers for
    /// the Lot's prescriber around today; returns the scheme id.
    pub async fn active_scheme_in_lot(&self, body: &serde_json::Value, quantity: i32) -> String {
        let admin = self.lot.token(Role::TenantAdmin);
        // In force since last week unless the test says: a session of the last hour may fall on
        // yesterday in Paris (just after midnight), when rules taking effect today do not apply.
        let mut body = body.clone();
        if let Some(fields) = body.as_object_mut() {
            fields.entry("effective_from").or_insert_with(|| {
                serde_json::json!(passerelle_test_support::paris_today() - chrono::Days::new(7))
            });
        }
        let scheme = self.post("/v1/schemes", admin, &body).await;
        assert_eq!(scheme.status, 201, "{}", scheme.raw);
        let scheme_id = scheme.body["id"].as_str().expect("scheme").to_owned();
        let active = self
            .post(
                &format!("/v1/schemes/{scheme_id}/status"),
                admin,
                &serde_json::json!({ "status": "active" }),
            )
            .await;
        assert_eq!(active.status, 200, "{}", active.raw);
        let today = passerelle_test_support::paris_today();
        let allocation = self
            .post(
                &format!("/v1/prescribers/{}/allocations", self.lot.prescriber_id),
                admin,
                &serde_json::json!({ "scheme_id": scheme_id, "period_start": today - chrono::Days::new(1),
                                     "period_end": today + chrono::Days::new(1), "quantity": quantity }),
            )
            .await;
        assert_eq!(allocation.status, 201, "{}", allocation.raw);
        scheme_id
    }
}

/// The rate limits count calls per calendar minute (a fixed window): a test that counts its calls
/// against one starts with at least 20 seconds of the minute ahead, so that its calls all fall in
/// one window.
pub async fn away_from_a_minute_boundary() {
    let second = chrono::Utc::now().timestamp().rem_euclid(60);
    if second > 40 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - second) as u64)).await;
    }
}

/// The reference with two adjacent, different characters of its code swapped: the most common
/// typing mistake, which the check character must catch. (Swapping two equal characters would
/// change nothing, and a test would have nothing to check.)
pub fn transposed(reference: &str) -> String {
    let mut chars: Vec<char> = reference.chars().collect();
    let code_starts = reference.find('-').map_or(0, |dash| dash + 1);
    let at = (code_starts..chars.len() - 1)
        .find(|&i| {
            chars[i] != chars[i + 1]
                && chars[i].is_ascii_alphanumeric()
                && chars[i + 1].is_ascii_alphanumeric()
        })
        .expect("a reference has two different adjacent characters");
    chars.swap(at, at + 1);
    chars.into_iter().collect()
}

/// A second EPN of `tenant`, created through the API, with an animator who has a token and the
/// portal password `web::PASSWORD`: an EPN of the same territory that must not see the first's.
pub struct AnimatorElsewhere {
    pub token: String,
    pub email: String,
}

impl TestApp {
    pub async fn animator_of_another_epn(
        &self,
        tenant: &TenantFixture,
        town: &str,
        postal_code: &str,
    ) -> AnimatorElsewhere {
        let created = self
            .post(
                "/v1/epns",
                tenant.token(Role::TenantAdmin),
                &serde_json::json!({ "nom": format!("Médiathèque de {town}"), "code_postal": postal_code, "commune": town }),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.raw);
        let email = format!("animation@{}.example", town.to_lowercase());
        let user = users::create(
            &self.db.app,
            tenant.id,
            &NewUser {
                email: email.clone(),
                display_name: format!("Animation de {town}"),
                role: Role::Epn,
                prescriber_id: None,
                epn_id: Some(
                    created.body["id"]
                        .as_str()
                        .expect("id")
                        .parse()
                        .expect("uuid"),
                ),
            },
        )
        .await
        .expect("user");
        passerelle_core::tenancy::accounts::set_password(
            &self.db.app,
            tenant.id,
            Actor::SYSTEM,
            user.id,
            crate::web::PASSWORD,
        )
        .await
        .expect("password");
        let token = tokens::issue_for_user(
            &self.db.app,
            tenant.id,
            Actor::SYSTEM,
            user.id,
            &NewToken {
                name: "tests".into(),
                expires_at: None,
            },
        )
        .await
        .expect("token")
        .secret;
        AnimatorElsewhere { token, email }
    }
}
