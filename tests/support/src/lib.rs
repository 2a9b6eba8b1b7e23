//! Test harness shared by the integration tests of every crate.
//!
//! Each test gets its own database, so tests never see each other's rows and can run in parallel.
//! The schema is migrated once per run into a template database; each test's database is a copy
//! of it (`CREATE DATABASE … TEMPLATE`), which takes a fraction of the time the migrations take. The databases are created by the owner role (which has
//! CREATEDB) and the code under test connects as the application role, exactly as in production.
//! `infra/local/postgres.sh` creates both roles; `make test` drops the test databases it finds
//! from earlier runs. The same tests run against a Citus cluster with `TEST_CLUSTER_SUPERUSER_URLS`
//! (`cluster`).

pub mod cluster;
pub mod smtp;

use std::env;

use passerelle_core::Db;
use passerelle_core::tenancy::tenants::{self, NewTenant, Tenant, TenantKind};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, PgPool};
use uuid::Uuid;

pub const TEST_DATABASE_PREFIX: &str = "passerelle_test_";

/// Today in the tenants' time zone (Europe/Paris), which is what the product calls today: between
/// 22:00 or 23:00 UTC and midnight the UTC date is still yesterday there.
pub fn paris_today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive()
}

/// A moment `minutes` ago, but not before midnight in Paris: a session started then is today's
/// for the product, whatever the hour the test runs (just after midnight, "half an hour ago" is
/// yesterday, before a voucher issued today).
pub fn started_minutes_ago(minutes: i64) -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    let midnight = paris_today()
        .and_hms_opt(0, 0, 0)
        .and_then(|m| m.and_local_timezone(chrono_tz::Europe::Paris).earliest())
        .map_or(now, |m| m.with_timezone(&chrono::Utc));
    (now - chrono::Duration::minutes(minutes)).max(midnight)
}

pub mod activity;
pub mod national;
pub mod statements;
pub mod world;

pub struct TestDatabase {
    pub name: String,
    /// Connected as the owner role: for fixtures that must bypass the application's rules, and
    /// for catalog inspection.
    pub owner: PgPool,
    /// Connected as the application role, the way the API and the worker connect.
    pub app: Db,
    pub app_url: String,
}

fn owner_options() -> PgConnectOptions {
    let url = env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        "postgres://passerelle_owner:passerelle@127.0.0.1:5432/postgres".into()
    });
    url.parse()
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is not a PostgreSQL URL ({e}): {url}"))
}

fn app_credentials() -> (String, String) {
    (
        env::var("TEST_APP_USER").unwrap_or_else(|_| "passerelle_app".into()),
        env::var("TEST_APP_PASSWORD").unwrap_or_else(|_| "passerelle".into()),
    )
}

impl TestDatabase {
    /// A migrated database of its own for one test: a copy of the run's template.
    /// On a Citus cluster (`cluster::nodes`), a database made, migrated and distributed for it.
    pub async fn create() -> Self {
        let name = format!("{TEST_DATABASE_PREFIX}{}", Uuid::new_v4().simple());
        if let Some(nodes) = cluster::nodes() {
            return Self::create_on_cluster(&nodes, name).await;
        }
        let mut maintenance = maintenance().await;
        let template = migrated_template(&mut maintenance).await;
        sqlx::query(AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE {template}"
        )))
        .execute(&mut maintenance)
        .await
        .unwrap_or_else(|e| panic!("copy the template database {template}: {e}"));
        drop(maintenance);
        Self::connect(name).await
    }

    async fn create_on_cluster(nodes: &[PgConnectOptions], name: String) -> Self {
        let template = template_name();
        cluster::create_database(
            nodes,
            &owner_options(),
            &app_credentials().0,
            &template,
            &name,
        )
        .await;
        Self::connect(name).await
    }

    /// A database of its own, copied from `template` (which nobody may be connected to) file by
    /// file, then migrated: for benchmarks that start from large generated data.
    pub async fn from_template(template: &str) -> Self {
        let name = format!("{TEST_DATABASE_PREFIX}{}", Uuid::new_v4().simple());
        let mut maintenance = owner_options().connect().await.unwrap_or_else(|e| {
            panic!("cannot reach PostgreSQL as the owner role ({e}); run `make test`, which prepares it")
        });
        sqlx::query(AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY"
        )))
        .execute(&mut maintenance)
        .await
        .unwrap_or_else(|e| panic!("copy the database {template}: {e}"));
        let db = Self::connect(name).await;
        // Data kept from an earlier run may predate the newest migrations.
        passerelle_core::storage::MIGRATOR
            .run(&db.owner)
            .await
            .expect("migrate the copied database");
        db
    }

    /// Closes both pools, so that the database can be renamed, copied or dropped.
    pub async fn close(self) {
        self.owner.close().await;
        self.app.pool().close().await;
    }

    async fn connect(name: String) -> Self {
        let admin = owner_options();
        let owner_opts = admin.clone().database(&name);
        let owner = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(owner_opts)
            .await
            .expect("connect to the test database as the owner role");
        statements::capture(&owner).await;

        let (user, password) = app_credentials();
        let app_opts = admin.database(&name).username(&user).password(&password);
        let app_url = app_opts.to_url_lossy().to_string();
        let app_pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(app_opts)
            .await
            .expect("connect to the test database as the application role");
        Self {
            name,
            owner,
            app: Db::from_pool(app_pool).on_cluster(cluster::nodes().is_some()),
            app_url,
        }
    }
}

async fn maintenance() -> sqlx::PgConnection {
    owner_options().connect().await.unwrap_or_else(|e| {
        panic!(
            "cannot reach PostgreSQL as the owner role ({e}); run `make test`, which prepares it"
        )
    })
}

/// The name of the template of this run's migrations: a digest of them.
fn template_name() -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for migration in passerelle_core::storage::MIGRATOR.iter() {
        digest.update(migration.version.to_le_bytes());
        digest.update(&*migration.checksum);
    }
    format!(
        "{TEST_DATABASE_PREFIX}template_{}",
        &hex::encode(digest.finalize())[..16]
    )
}

/// The template database of this run's migrations, migrated by the first test that needs it. Its
/// name carries a digest of the migrations, so a new or changed migration gets a template of its
/// own; `make test` drops the templates of earlier runs with the test databases. Test processes
/// run in parallel (nextest runs each test in its own): an advisory lock lets one of them build it
/// while the others wait.
async fn migrated_template(maintenance: &mut sqlx::PgConnection) -> String {
    let name = template_name();
    sqlx::query("SELECT pg_advisory_lock(hashtext('passerelle-test-template'))")
        .execute(&mut *maintenance)
        .await
        .expect("take the template lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut *maintenance)
            .await
            .expect("look for the template database");
    if !exists {
        let building = format!("{name}_building");
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {building} WITH (FORCE)"
        )))
        .execute(&mut *maintenance)
        .await
        .expect("drop a template left half-built");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {building}")))
            .execute(&mut *maintenance)
            .await
            .expect("create the template database");
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(owner_options().database(&building))
            .await
            .expect("connect to the template database");
        passerelle_core::storage::MIGRATOR
            .run(&pool)
            .await
            .expect("migrate the template database");
        pool.close().await;
        // Renamed once migrated: a template under its final name is always complete.
        sqlx::query(AssertSqlSafe(format!(
            "ALTER DATABASE {building} RENAME TO {name}"
        )))
        .execute(&mut *maintenance)
        .await
        .expect("name the template database");
    }
    sqlx::query("SELECT pg_advisory_unlock(hashtext('passerelle-test-template'))")
        .execute(&mut *maintenance)
        .await
        .expect("release the template lock");
    name
}

/// Creates a tenant for a test: `slug` as given, everything else derived from it.
pub async fn create_tenant(db: &Db, slug: &str, kind: TenantKind, insee_code: &str) -> Tenant {
    tenants::create(
        db,
        &NewTenant {
            slug: slug.into(),
            name: format!("Tenant {slug}"),
            kind,
            insee_code: insee_code.into(),
            time_zone: "Europe/Paris".into(),
            sender_name: format!("Passerelle {slug}"),
            sender_email: format!("contact@{slug}.example"),
            reference_prefix: None,
        },
    )
    .await
    .expect("create a test tenant")
}

/// An active Ticket Net scheme from the preset, with the preset's rules or `rules`, effective from
/// `effective_from` (today when `None`); returns its id.
pub async fn active_ticket_net(
    db: &Db,
    tenant_id: Uuid,
    rules: Option<passerelle_core::schemes::SchemeRules>,
    effective_from: Option<chrono::NaiveDate>,
) -> Uuid {
    use passerelle_core::audit::Actor;
    use passerelle_core::schemes::{self, NewScheme};
    let scheme_id = schemes::create(
        db,
        tenant_id,
        Actor::SYSTEM,
        NewScheme {
            code: "ticket-net".into(),
            name: "Ticket Net".into(),
            preset: Some("ticket-net".into()),
            rules,
            effective_from,
            ..NewScheme::default()
        },
    )
    .await
    .expect("a Ticket Net scheme")
    .scheme
    .id;
    schemes::set_status(
        db,
        tenant_id,
        Actor::SYSTEM,
        scheme_id,
        schemes::SchemeStatus::Active,
    )
    .await
    .expect("activate the scheme");
    scheme_id
}
