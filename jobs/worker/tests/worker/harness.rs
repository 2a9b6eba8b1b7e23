//! A tenant with a Ticket Net scheme, a prescriber, an EPN near its holders, a test SMTP server,
//! queues of its own in Redis, and workers started and killed at will.

use std::time::Duration;

use chrono::NaiveDate;
use passerelle_core::audit::Actor;
use passerelle_core::beneficiaries::{NewBeneficiary, PublicCategory};
use passerelle_core::emails::{Links, OutboxMessage};
use passerelle_core::epns::{self, EpnDetails};
use passerelle_core::prescribers::NewPrescriber;
use passerelle_core::tenancy::tenants::Tenant;
use passerelle_core::vouchers::{self, Holder, IssueRequest, Voucher};
use passerelle_test_support::smtp::SmtpServer;
use passerelle_test_support::world::World;
use passerelle_test_support::{TestDatabase, active_ticket_net};
use passerelle_worker::mailer::Mailer;
use passerelle_worker::options::{RetrySchedule, WorkerOptions};
use passerelle_worker::queue;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub struct Harness {
    pub db: TestDatabase,
    pub smtp: SmtpServer,
    pub tenant: Tenant,
    pub scheme_id: Uuid,
    pub prescriber_id: Uuid,
    pub redis: ConnectionManager,
    pub queue_prefix: String,
    /// Statistics exports of this harness only.
    pub statistics_dir: std::path::PathBuf,
}

pub struct RunningWorker {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), passerelle_worker::WorkerError>>,
}

impl RunningWorker {
    /// Like SIGKILL for the worker's tasks: nothing runs to completion, nothing is committed.
    pub fn kill(self) {
        self.handle.abort();
    }

    /// Like SIGTERM: graceful shutdown.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.handle).await;
    }
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_prescriber_email(Some("suivi@ccas-figeac.example")).await
    }

    pub async fn with_prescriber_email(contact_email: Option<&str>) -> Self {
        let world = World::new().await;
        let scheme_id = active_ticket_net(world.db(), world.tenant.id, None, None).await;
        let prescriber_id = world
            .prescriber_with(NewPrescriber {
                name: "CCAS de Figeac".into(),
                kind: passerelle_core::prescribers::PrescriberKind::Ccas,
                contact_email: contact_email.map(str::to_owned),
                contact_phone: Some("05 65 34 00 00".into()),
                ..NewPrescriber::default()
            })
            .await;
        world.allocate(prescriber_id, scheme_id, 1000, 400).await;
        let World { test: db, tenant } = world;
        for (name, insee, address, phone) in [
            (
                "Médiathèque de Cahors",
                "46042",
                "185 avenue Jean Jaurès",
                "05 65 24 13 44",
            ),
            (
                "EPN de Figeac",
                "46102",
                "2 boulevard Pasteur",
                "05 65 50 05 40",
            ),
        ] {
            let epn = epns::create(
                &db.app,
                tenant.id,
                Actor::SYSTEM,
                &EpnDetails {
                    name: name.into(),
                    address: Some(address.into()),
                    postal_code: Some(if insee == "46102" { "46100" } else { "46000" }.into()),
                    commune: Some(if insee == "46102" { "Figeac" } else { "Cahors" }.into()),
                    commune_insee: Some(insee.into()),
                    phone: Some(phone.into()),
                    ..EpnDetails::default()
                },
            )
            .await
            .expect("epn");
            epns::set_offer(
                &db.app,
                tenant.id,
                Actor::SYSTEM,
                epn.id,
                scheme_id,
                &[1, 2],
            )
            .await
            .expect("offer");
        }
        let redis = queue::connect(&redis_url()).await.expect("Redis");
        Self {
            db,
            smtp: SmtpServer::start().await,
            tenant,
            scheme_id,
            prescriber_id,
            redis,
            queue_prefix: format!("passerelle-test:{}", Uuid::new_v4().simple()),
            statistics_dir: std::env::temp_dir()
                .join(format!("passerelle-statistics-{}", Uuid::new_v4().simple())),
        }
    }

    /// Issues a voucher to a new holder of Figeac.
    pub async fn issue(&self, first_name: &str, email: Option<&str>, consent: bool) -> Voucher {
        vouchers::issue(
            &self.db.app,
            self.tenant.id,
            self.prescriber_id,
            Actor::SYSTEM,
            &IssueRequest {
                scheme_id: self.scheme_id,
                holder: Holder::New(NewBeneficiary {
                    first_name: first_name.into(),
                    last_name: format!("Test{}", Uuid::new_v4().simple()),
                    birth_year: 1955,
                    commune_insee: "46102".into(),
                    public_category: PublicCategory::Senior,
                    email: email.map(str::to_owned),
                    email_consent: consent,
                    ..NewBeneficiary::default()
                }),
                participation_fee_cents: 0,
            },
        )
        .await
        .expect("issue")
        .voucher
    }

    /// Moves a voucher in time, as if it had been issued on `issued_on`.
    pub async fn backdate(&self, voucher_id: Uuid, issued_on: NaiveDate, valid_until: NaiveDate) {
        self.sql(&format!(
            "UPDATE vouchers SET issued_on = '{issued_on}', valid_until = '{valid_until}' WHERE id = '{voucher_id}'"
        ))
        .await;
    }

    /// A statement in the tenant's own transaction, through the application role.
    pub async fn sql(&self, statement: &str) {
        let mut tx = self.db.app.begin_tenant(self.tenant.id).await.expect("tx");
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        tx.commit().await.expect("commit");
    }

    pub async fn outbox(&self) -> Vec<OutboxMessage> {
        let mut tx = self.db.app.begin_tenant(self.tenant.id).await.expect("tx");
        let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM email_outbox ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .expect("outbox");
        let mut messages = Vec::new();
        for id in ids {
            messages.push(
                passerelle_core::emails::outbox::fetch(&mut tx, id)
                    .await
                    .expect("fetch")
                    .expect("row"),
            );
        }
        tx.commit().await.expect("commit");
        messages
    }

    /// Waits until every outbox row satisfies `done`; returns the rows.
    pub async fn wait_outbox(
        &self,
        what: &str,
        done: impl Fn(&OutboxMessage) -> bool,
    ) -> Vec<OutboxMessage> {
        for _ in 0..300 {
            let rows = self.outbox().await;
            if !rows.is_empty() && rows.iter().all(&done) {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("outbox never reached `{what}`: {:#?}", self.outbox().await);
    }

    pub fn options(&self) -> WorkerOptions {
        WorkerOptions {
            queue_prefix: self.queue_prefix.clone(),
            relay_interval: Duration::from_millis(100),
            requeue_after: Duration::from_secs(2),
            retry: RetrySchedule {
                first_delay: Duration::from_millis(200),
                max_delay: Duration::from_millis(500),
                window: Duration::from_secs(600),
            },
            send_timeout: Duration::from_secs(5),
            send_concurrency: 4,
            // Never during a test: the tests run the day themselves.
            daily_schedule: "0 0 0 1 1 * 2099".into(),
            monthly_schedule: "0 0 0 1 1 * 2099".into(),
            statistics_schedule: "0 0 0 1 1 * 2099".into(),
            statistics_dir: self.statistics_dir.clone(),
            archive_dir: self.statistics_dir.join("archives"),
            health_addr: None,
            links: Links::new(
                "https://passerelle.example.fr",
                passerelle_core::config::LOOPBACK_PORTFOLIO_LINK_KEY,
            ),
        }
    }

    pub fn start_worker(&self) -> RunningWorker {
        self.start_worker_with(self.options())
    }

    pub fn start_worker_with(&self, options: WorkerOptions) -> RunningWorker {
        let mailer = Mailer::new(Some(&self.smtp.url()), std::env::temp_dir(), 4).expect("mailer");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(passerelle_worker::run_with(
            self.db.app.clone(),
            self.redis.clone(),
            mailer,
            options,
            async move {
                let _ = stopped.await;
            },
        ));
        RunningWorker {
            stop: Some(stop),
            handle,
        }
    }

    /// No job left behind in this test's queues (none waiting, none dead), then removes them.
    pub async fn assert_no_job_left_behind(&self) {
        let mut redis = self.redis.clone();
        for name in [
            queue::SEND_EMAIL,
            queue::DAILY_RUN,
            queue::STATISTICS_EXPORT,
            queue::RUN_IMPORT,
            queue::BUILD_ARCHIVE,
        ] {
            let storage =
                queue::storage::<()>(redis.clone(), &format!("{}:{name}", self.queue_prefix));
            let config = storage.get_config().clone();
            let active: usize = redis.llen(config.active_jobs_list()).await.expect("active");
            let dead: usize = redis.scard(config.dead_jobs_set()).await.expect("dead");
            assert_eq!((active, dead), (0, 0), "jobs left in {name}");
        }
    }

    pub async fn drop_queues(&self) {
        let mut redis = self.redis.clone();
        let keys: Vec<String> = redis
            .keys(format!("{}:*", self.queue_prefix))
            .await
            .expect("keys");
        if !keys.is_empty() {
            let _: () = redis.del(keys).await.expect("clean the test queues");
        }
    }
}

/// A received message, decoded.
pub struct Mail {
    pub raw: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub to: Vec<String>,
}

impl Mail {
    pub fn parse(received: &passerelle_test_support::smtp::Received) -> Self {
        let parsed = mail_parser::MessageParser::default()
            .parse(received.data.as_bytes())
            .expect("a MIME message");
        Self {
            raw: received.data.clone(),
            subject: parsed.subject().unwrap_or_default().to_owned(),
            text: parsed
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            html: parsed
                .body_html(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            message_id: parsed.message_id().unwrap_or_default().to_owned(),
            to: received.rcpt_to.clone(),
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let parsed = mail_parser::MessageParser::default()
            .parse(self.raw.as_bytes())
            .expect("a MIME message");
        parsed
            .header_raw(name)
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}
