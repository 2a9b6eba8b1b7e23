//! One test's whole deployment: PostgreSQL (a database on the shared server, or a cluster of its
//! own), Redis and SMTP servers of its own, the demo tenants seeded by `passerelle seed-demo`, the
//! API (`passerelle serve`) and, when asked, the worker (`passerelle work`).

use std::path::PathBuf;
use std::time::Duration;

use passerelle_test_support::TestDatabase;
use passerelle_test_support::smtp::SmtpServer;
use sqlx::PgPool;
use uuid::Uuid;

use crate::client::Client;
use crate::ports::free_port;
use crate::postgres::PostgresCluster;
use crate::process::{Env, Process, eventually, run_once};
use crate::redis::RedisServer;

#[derive(Default)]
pub struct StackOptions {
    /// A PostgreSQL cluster of the test's own, which it may stop and restart.
    pub own_postgres: bool,
    /// Start the worker with the API.
    pub worker: bool,
    /// Variables added to (or replacing) the defaults of every process.
    pub env: Vec<(&'static str, String)>,
}

pub struct Stack {
    pub client: Client,
    pub redis: RedisServer,
    pub smtp: SmtpServer,
    /// Connected as the owner role: to read what the processes wrote, bypassing row security.
    pub owner: PgPool,
    pub cluster: Option<PostgresCluster>,
    pub api: Process,
    pub worker: Option<Process>,
    pub env: Env,
    logs: PathBuf,
    worker_health: String,
    /// The database on the shared server (none with `own_postgres`).
    pub database: Option<TestDatabase>,
}

/// Polls `url` until it answers 200, for at most a minute.
async fn answers_200_within_a_minute(http: &reqwest::Client, url: &str) -> bool {
    eventually(Duration::from_secs(60), || async {
        http.get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await
}

impl Stack {
    pub async fn start(options: StackOptions) -> Self {
        let logs = std::env::temp_dir().join(format!(
            "passerelle-faults-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&logs).expect("log folder");
        let redis = RedisServer::start().await;
        let smtp = SmtpServer::start().await;
        let api_addr = format!("127.0.0.1:{}", free_port());
        let worker_health = format!("127.0.0.1:{}", free_port());
        let mut env = Env::new();
        env.insert("REDIS_URL", redis.url());
        env.insert("SMTP_URL", smtp.url());
        env.insert("API_ADDR", api_addr.clone());
        env.insert("PUBLIC_BASE_URL", format!("http://{api_addr}"));
        env.insert("WORKER_HEALTH_ADDR", worker_health.clone());
        env.insert(
            "STATISTICS_DIR",
            logs.join("statistics").display().to_string(),
        );
        env.insert("MAIL_DIR", logs.join("mail").display().to_string());
        env.insert(
            "WEB_ASSETS_DIR",
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(passerelle_core::config::DEFAULT_WEB_ASSETS_DIR)
                .display()
                .to_string(),
        );
        env.insert("LOG_LEVEL", "info".into());
        env.insert("DATABASE_MAX_CONNECTIONS", "10".into());
        // Lost jobs are handed over again after 5 s instead of 10 min; refused emails retried
        // after 1 s: the recoveries happen within a test's time.
        env.insert("WORKER_REQUEUE_AFTER_SECONDS", "5".into());
        env.insert("EMAIL_RETRY_FIRST_DELAY_SECONDS", "1".into());

        let (owner, cluster, database) = if options.own_postgres {
            let cluster = tokio::task::spawn_blocking(PostgresCluster::start)
                .await
                .expect("start a PostgreSQL cluster");
            env.insert("DATABASE_URL", cluster.app_url());
            env.insert("MIGRATION_DATABASE_URL", cluster.owner_url());
            run_once(&env, &["migrate"]).await;
            let owner = PgPool::connect(&cluster.owner_url())
                .await
                .expect("owner connection");
            (owner, Some(cluster), None)
        } else {
            let database = TestDatabase::create().await;
            env.insert("DATABASE_URL", database.app_url.clone());
            (database.owner.clone(), None, Some(database))
        };
        for (name, value) in options.env {
            env.insert(name, value);
        }

        let tokens_file = logs.join("tokens");
        run_once(
            &env,
            &[
                "seed-demo",
                "--tokens-file",
                &tokens_file.display().to_string(),
            ],
        )
        .await;
        let tokens = std::fs::read_to_string(&tokens_file).expect("demo tokens");
        let client = Client::new(format!("http://{api_addr}"), &tokens);
        let api = Process::spawn(&env, "serve", &logs);
        let mut stack = Self {
            client,
            redis,
            smtp,
            owner,
            cluster,
            api,
            worker: None,
            env,
            logs,
            worker_health,
            database,
        };
        stack.wait_until_ready("/healthz").await;
        if options.worker {
            stack.start_worker().await;
        }
        stack
    }

    async fn wait_until_ready(&mut self, path: &str) {
        let url = format!("{}{path}", self.client.base);
        let up = answers_200_within_a_minute(&self.client.http, &url).await;
        if !up {
            panic!("the API did not start; its log:\n{}", self.api.log_tail());
        }
    }

    /// Starts `passerelle work` and waits until its liveness endpoint answers 200 (its relay
    /// reached PostgreSQL and Redis).
    pub async fn start_worker(&mut self) {
        assert!(self.worker.is_none(), "a worker is running already");
        let mut worker = Process::spawn(&self.env, "work", &self.logs);
        let url = format!("http://{}/healthz", self.worker_health);
        let up = answers_200_within_a_minute(&self.client.http, &url).await;
        if !up {
            worker.assert_running();
            panic!("the worker is not live; its log:\n{}", worker.log_tail());
        }
        self.worker = Some(worker);
    }

    /// SIGKILL to the worker.
    pub async fn kill_worker(&mut self) {
        let mut worker = self.worker.take().expect("a worker is running");
        worker.kill().await;
    }

    /// Restarts the API process (to change its environment).
    pub async fn restart_api(&mut self) {
        self.api.kill().await;
        self.api = Process::spawn(&self.env, "serve", &self.logs);
        self.wait_until_ready("/healthz").await;
    }

    /// Messages the SMTP server accepted, counted per recipient.
    pub fn deliveries(&self) -> std::collections::BTreeMap<String, usize> {
        let mut per_address = std::collections::BTreeMap::new();
        for message in self.smtp.received() {
            for rcpt in message.rcpt_to {
                *per_address.entry(rcpt).or_default() += 1;
            }
        }
        per_address
    }

    /// A transaction of the owner role that sees `tenant_id`'s rows (row security applies to the
    /// owner too), to check what the processes wrote.
    pub async fn tenant_tx(&self, tenant_id: Uuid) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let mut tx = self.owner.begin().await.expect("owner transaction");
        passerelle_core::storage::set_tenant(&mut tx, tenant_id)
            .await
            .expect("set the tenant");
        tx
    }

    /// `sql`, a `SELECT count(*)` or any query of one bigint, over `tenant_id`'s rows.
    pub async fn count(&self, tenant_id: Uuid, sql: &str) -> i64 {
        let mut tx = self.tenant_tx(tenant_id).await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The demo tenant of the Lot, whose tokens the flows use.
    pub async fn lot(&self) -> Uuid {
        let me = self.client.expect_get("/v1/me", crate::flows::ADMIN).await;
        me["tenant_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("the Lot's tenant id")
    }

    /// The Lot's outbox rows by status.
    pub async fn outbox(&self) -> std::collections::BTreeMap<String, i64> {
        let mut tx = self.tenant_tx(self.lot().await).await;
        sqlx::query_as::<_, (String, i64)>(
            "SELECT status, count(*) FROM email_outbox GROUP BY status",
        )
        .fetch_all(&mut *tx)
        .await
        .expect("outbox by status")
        .into_iter()
        .collect()
    }
}
