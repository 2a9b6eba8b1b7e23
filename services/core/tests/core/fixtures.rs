//! Puts at least one row in every tenant-owned table, for one tenant, through the application
//! role. When a migration adds a tenant table, add a row for it here: the isolation test fails
//! until you do, naming the table.

use passerelle_core::Db;
use passerelle_core::audit::Actor;
use passerelle_core::beneficiaries::{NewBeneficiary, PublicCategory};
use passerelle_core::delivery::accompaniment;
use passerelle_core::delivery::attendance::{self, Entry};
use passerelle_core::delivery::credentials;
use passerelle_core::delivery::portfolio;
use passerelle_core::delivery::projects::{self, NewProject};
use passerelle_core::delivery::registration::{self, Interview, RegisterRequest};
use passerelle_core::delivery::sessions::{self, NewSession};
use passerelle_core::emails;
use passerelle_core::epns;
use passerelle_core::idempotency::{self, Scope};
use passerelle_core::imports;
use passerelle_core::prescribers::{self, NewAllocation, NewPrescriber};
use passerelle_core::schemes::{self, NewScheme};
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_core::tenancy::tokens::{self, NewToken};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_core::tenancy::{Role, account_links, accounts, second_factor};
use passerelle_core::vouchers::{self, Holder, IssueRequest, Visibility};
use passerelle_test_support::create_tenant;
use uuid::Uuid;

pub struct Populated {
    pub tenant_id: Uuid,
    pub prescriber_id: Uuid,
    pub user_id: Uuid,
}

pub async fn populate(db: &Db, slug_hint: &str, insee_code: &str) -> Populated {
    let slug = format!("{slug_hint}-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let tenant = create_tenant(db, &slug, TenantKind::Departement, insee_code).await;
    let prescriber_id = prescribers::create(
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
    .expect("prescriber")
    .id;
    let epn_id = epns::create_named(db, tenant.id, "EPN").await.expect("epn");
    let user = users::create(
        db,
        tenant.id,
        &NewUser {
            email: format!("prescriber@{slug_hint}.example"),
            display_name: "Agent".into(),
            role: Role::Prescriber,
            prescriber_id: Some(prescriber_id),
            epn_id: None,
        },
    )
    .await
    .expect("user");
    users::create(
        db,
        tenant.id,
        &NewUser {
            email: format!("epn@{slug_hint}.example"),
            display_name: "Animateur".into(),
            role: Role::Epn,
            prescriber_id: None,
            epn_id: Some(epn_id),
        },
    )
    .await
    .expect("epn user");
    tokens::issue_for_user(
        db,
        tenant.id,
        Actor::SYSTEM,
        user.id,
        &NewToken {
            name: "t".into(),
            expires_at: None,
        },
    )
    .await
    .expect("token");
    let scheme = schemes::create(
        db,
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
        db,
        tenant.id,
        Actor::SYSTEM,
        scheme.scheme.id,
        schemes::SchemeStatus::Active,
    )
    .await
    .expect("activate");
    let today = passerelle_test_support::paris_today();
    prescribers::allocate(
        db,
        tenant.id,
        Actor::SYSTEM,
        prescriber_id,
        &NewAllocation {
            scheme_id: scheme.scheme.id,
            period_start: today - chrono::Days::new(2),
            period_end: today + chrono::Days::new(2),
            quantity: 10,
        },
    )
    .await
    .expect("allocation");
    // A co-financed scheme: the voucher keeps its funder, and the month's line its share.
    let funder = passerelle_core::funders::create(
        db,
        tenant.id,
        Actor::SYSTEM,
        &passerelle_core::funders::NewFunder {
            name: "FSE+".into(),
            kind: passerelle_core::funders::FunderKind::EuropeanFund,
            siret: None,
        },
    )
    .await
    .expect("funder");
    passerelle_core::funders::plan::change(
        db,
        tenant.id,
        Actor::SYSTEM,
        scheme.scheme.id,
        today,
        &[passerelle_core::funders::plan::FundingLine {
            funder_id: funder.id,
            share: passerelle_core::funders::plan::FundingShare::BasisPoints(4_000),
            cap_cents: Some(1_000_000),
            period_start: None,
            period_end: None,
            eligible_publics: Some(vec![PublicCategory::Senior]),
            eligible_prescribers: Some(vec![prescriber_id]),
        }],
    )
    .await
    .expect("funding plan");
    let issued = vouchers::issue(
        db,
        tenant.id,
        prescriber_id,
        Actor::SYSTEM,
        &IssueRequest {
            scheme_id: scheme.scheme.id,
            holder: Holder::New(NewBeneficiary {
                first_name: "Jeanne".into(),
                last_name: "Martin".into(),
                birth_year: 1957,
                commune_insee: "46102".into(),
                public_category: PublicCategory::Senior,
                email: Some("jeanne.martin@example.org".into()),
                email_consent: true,
                ..NewBeneficiary::default()
            }),
            participation_fee_cents: 0,
        },
    )
    .await
    .expect("voucher");
    deliver(
        db,
        tenant.id,
        prescriber_id,
        epn_id,
        scheme.scheme.id,
        &issued.voucher.reference,
    )
    .await;
    emails_due(db, tenant.id, prescriber_id, scheme.scheme.id).await;
    let month = passerelle_core::reimbursements::run_month(db, tenant.id, tenant.today())
        .await
        .expect("reimbursements");
    assert!(month.statements >= 1 && month.lines >= 1, "{month:?}");
    let export = passerelle_core::statistics::request(
        db,
        tenant.id,
        Actor::SYSTEM,
        scheme.scheme.id,
        "2026-10",
    )
    .await
    .expect("statistics export");
    passerelle_core::statistics::succeed(
        db,
        tenant.id,
        export.id,
        &[passerelle_core::statistics::ExportFile {
            name: "indicators-published.csv".into(),
            dataset: "indicators".into(),
            format: "csv".into(),
            published: true,
            row_count: 1,
            byte_size: 10,
            sha256: "00".repeat(32),
        }],
    )
    .await
    .expect("statistics file");
    // The tenant's secrets row (made on first use).
    passerelle_core::statistics::tenant_settings(db, tenant.id)
        .await
        .expect("tenant secrets");
    let claimed = idempotency::claim(
        db,
        Scope::Tenant(tenant.id),
        user.id,
        "key-1",
        b"fingerprint",
    )
    .await
    .expect("claim");
    assert_eq!(claimed, idempotency::Claim::Acquired);
    accounts::set_password(
        db,
        tenant.id,
        Actor::SYSTEM,
        user.id,
        "mot-de-passe-du-test",
    )
    .await
    .expect("password");
    let session = accounts::sign_in(
        db,
        tenant.id,
        &format!("prescriber@{slug_hint}.example"),
        "mot-de-passe-du-test",
    )
    .await
    .expect("sign in");
    let accounts::SignIn::Opened(opened) = session else {
        panic!("{session:?}");
    };
    // The second factor set up, with its recovery codes, as the enrolment page does.
    let signed = accounts::authenticate(db, &opened.cookie)
        .await
        .expect("authenticate")
        .expect("a session");
    let enrolment = second_factor::begin_enrolment(db, tenant.id, user.id, "fixture")
        .await
        .expect("enrolment");
    let secret = data_encoding::BASE32_NOPAD
        .decode(enrolment.secret_base32.as_bytes())
        .expect("base32");
    let code = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        secret,
        None,
        "fixture".into(),
    )
    .expect("totp")
    .generate(chrono::Utc::now().timestamp() as u64);
    second_factor::confirm_enrolment(
        db,
        tenant.id,
        Actor::SYSTEM,
        user.id,
        signed.session_id,
        &code,
        chrono::Utc::now(),
    )
    .await
    .expect("second factor confirmed");
    passerelle_core::tenancy::identity_provider::set(
        db,
        tenant.id,
        Actor::SYSTEM,
        passerelle_core::tenancy::identity_provider::ProviderSettings {
            label: "ProConnect".into(),
            issuer: "https://auth.agentconnect.gouv.fr/api/v2".into(),
            client_id: "passerelle".into(),
            client_secret: Some("secret-de-test".into()),
            domains: vec![passerelle_core::tenancy::identity_provider::AllowedDomain {
                domain: "caf.fr".into(),
                role: Role::Prescriber,
                prescriber_id: Some(prescriber_id),
            }],
        },
    )
    .await
    .expect("identity provider");
    let mut tx = db.begin_tenant(tenant.id).await.expect("tx");
    sqlx::query(
        "INSERT INTO user_identities (tenant_id, issuer, subject, user_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(tenant.id)
    .bind("https://auth.agentconnect.gouv.fr/api/v2")
    .bind("sub-de-test")
    .bind(user.id)
    .execute(&mut *tx)
    .await
    .expect("linked identity");
    tx.commit().await.expect("commit");
    // An invitation, written as the worker writes it: the outbox row and its link.
    account_links::invite(db, tenant.id, Actor::SYSTEM, user.id)
        .await
        .expect("invitation");
    let mut tx = db.begin_tenant(tenant.id).await.expect("tx");
    let invitation: Uuid =
        sqlx::query_scalar("SELECT id FROM email_outbox WHERE kind = 'invitation'")
            .fetch_one(&mut *tx)
            .await
            .expect("invitation row");
    let message = emails::outbox::fetch(&mut tx, invitation)
        .await
        .expect("fetch")
        .expect("row");
    let links = emails::Links::new(
        "https://passerelle.example.fr",
        passerelle_core::config::LOOPBACK_PORTFOLIO_LINK_KEY,
    );
    let prepared = emails::render::prepare(&mut tx, &tenant, &message, &links, tenant.today())
        .await
        .expect("prepare");
    assert!(matches!(prepared, emails::render::Preparation::Ready(_)));
    tx.commit().await.expect("commit");
    import_places(db, tenant.id).await;
    archive_requested(db, tenant.id).await;
    passerelle_core::tenancy::branding::set_logo(
        db,
        tenant.id,
        Actor::SYSTEM,
        br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="4" height="4" fill="#000091"/></svg>"##,
    )
    .await
    .expect("logo");
    Populated {
        tenant_id: tenant.id,
        prescriber_id,
        user_id: user.id,
    }
}

/// Every table of the public schema with a `tenant_id` column.
pub async fn tenant_tables(pool: &sqlx::PgPool) -> Vec<String> {
    passerelle_core::storage::preflight::tenant_tables(pool)
        .await
        .expect("list tenant tables")
}

/// Registration, a session, an enrolment and an attendance with a competence.
async fn deliver(
    db: &Db,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    epn_id: Uuid,
    scheme_id: Uuid,
    reference: &str,
) {
    epns::set_offer(
        db,
        tenant_id,
        Actor::SYSTEM,
        epn_id,
        scheme_id,
        &(1..=10).collect::<Vec<_>>(),
    )
    .await
    .expect("offer");
    registration::register(
        db,
        tenant_id,
        epn_id,
        Actor::SYSTEM,
        &RegisterRequest {
            reference: reference.into(),
            last_name: "Martin".into(),
            interview: Interview {
                on: Some(passerelle_test_support::paris_today()),
                minutes: Some(30),
                ..Interview::default()
            },
            modules: (1..=10).collect(),
        },
    )
    .await
    .expect("registered");
    let session = sessions::create(
        db,
        tenant_id,
        epn_id,
        Actor::SYSTEM,
        &NewSession {
            scheme_id,
            module_number: Some(1),
            starts_at: chrono::Utc::now(),
            duration_minutes: None,
            capacity: 10,
            animator: None,
            place: None,
        },
    )
    .await
    .expect("session");
    sessions::enrol(db, tenant_id, epn_id, session.id, reference, false)
        .await
        .expect("enrolled");
    let outcome = attendance::record(
        db,
        tenant_id,
        epn_id,
        Actor::SYSTEM,
        session.id,
        &[Entry {
            reference: reference.into(),
            status: passerelle_core::delivery::AttendanceStatus::Present,
            competences: vec![(
                "2.1".into(),
                passerelle_core::delivery::CompetenceLevel::Practised,
            )],
            off_path: false,
        }],
    )
    .await
    .expect("attendance");
    outcome[0].as_ref().expect("recorded");
    passerelle_core::delivery::orientation::record(
        db,
        tenant_id,
        epn_id,
        Actor::SYSTEM,
        reference,
        passerelle_core::delivery::OrientationKind::Pix,
        Some("Test PIX en juin"),
    )
    .await
    .expect("orientation");
    let service_key =
        portfolio::link::LinkKey::new(passerelle_core::config::LOOPBACK_PORTFOLIO_LINK_KEY);
    let link = portfolio::renew_link(
        db,
        &service_key,
        tenant_id,
        Actor::SYSTEM,
        reference,
        Visibility::Tenant,
    )
    .await
    .expect("portfolio link");
    let opened = portfolio::link::open(db, &link.tenant_slug, &link.code.to_string())
        .await
        .expect("opened")
        .expect("a working link");
    credentials::issue(
        db,
        &service_key,
        "http://127.0.0.1:8080",
        &opened,
        &credentials::achievements::AchievementKey::Competence {
            code: "2.1".into(),
            level: passerelle_core::delivery::CompetenceLevel::Practised,
        },
        &credentials::SubjectChoice::Pseudonym,
    )
    .await
    .expect("a credential, and the signing key");
    let pass = accompany(db, tenant_id, epn_id).await;
    submit_project(db, tenant_id, prescriber_id, epn_id, pass).await;
    epns::bank::submit(
        db,
        tenant_id,
        Actor::SYSTEM,
        epn_id,
        None,
        &epns::BankDetails {
            iban: "FR76 3000 6000 0112 3456 7890 189".into(),
            bic: None,
            account_holder: "Commune".into(),
        },
    )
    .await
    .expect("a bank change waiting for confirmation");
}

/// A Pass Numérique scheme and a request from its public form; returns the scheme.
async fn accompany(db: &Db, tenant_id: Uuid, epn_id: Uuid) -> Uuid {
    let scheme = schemes::create(
        db,
        tenant_id,
        Actor::SYSTEM,
        NewScheme {
            code: "pass-numerique".into(),
            name: "Pass Numérique".into(),
            preset: Some("pass-numerique".into()),
            ..NewScheme::default()
        },
    )
    .await
    .expect("pass numérique");
    schemes::set_status(
        db,
        tenant_id,
        Actor::SYSTEM,
        scheme.scheme.id,
        schemes::SchemeStatus::Active,
    )
    .await
    .expect("active");
    epns::set_offer(db, tenant_id, Actor::SYSTEM, epn_id, scheme.scheme.id, &[1])
        .await
        .expect("offer");
    let slug: String = sqlx::query_scalar("SELECT slug FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_one(db.pool())
        .await
        .expect("slug");
    accompaniment::request_public(
        db,
        &slug,
        "pass-numerique",
        &accompaniment::PublicRequest {
            epn_id,
            person: NewBeneficiary {
                first_name: "Paul".into(),
                last_name: "Durand".into(),
                birth_year: 1980,
                commune_insee: "07010".into(),
                public_category: PublicCategory::Other,
                phone: Some("04 75 00 00 00".into()),
                ..NewBeneficiary::default()
            },
            message: Some("Préparer mes démarches en ligne".into()),
            ..accompaniment::PublicRequest::default()
        },
    )
    .await
    .expect("accompaniment request");
    scheme.scheme.id
}

/// A collective project of five, submitted (not yet approved).
async fn submit_project(
    db: &Db,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    epn_id: Uuid,
    scheme_id: Uuid,
) {
    let members = (0..5)
        .map(|i| {
            Holder::New(NewBeneficiary {
                first_name: "Membre".into(),
                last_name: format!("Projet{i}"),
                birth_year: 1950,
                commune_insee: "07010".into(),
                public_category: PublicCategory::Senior,
                ..NewBeneficiary::default()
            })
        })
        .collect();
    projects::submit(
        db,
        tenant_id,
        prescriber_id,
        Actor::SYSTEM,
        &NewProject {
            scheme_id,
            epn_id,
            title: "Carnet de voyage".into(),
            aim: "Raconter le voyage de fin d'année".into(),
            planned_sessions: 3,
            planned_minutes: 360,
            members,
        },
    )
    .await
    .expect("project");
}

/// A holder without email, then the daily run late in the vouchers' validity: an outbox welcome
/// (from issuance), a reminder, a prescriber alert and its digest, the run's guard row, and a
/// suppressed address.
async fn emails_due(db: &Db, tenant_id: Uuid, prescriber_id: Uuid, scheme_id: Uuid) {
    vouchers::issue(
        db,
        tenant_id,
        prescriber_id,
        Actor::SYSTEM,
        &IssueRequest {
            scheme_id,
            holder: Holder::New(NewBeneficiary {
                first_name: "Louis".into(),
                last_name: "Sans-Courriel".into(),
                birth_year: 1948,
                commune_insee: "46102".into(),
                public_category: PublicCategory::Senior,
                ..NewBeneficiary::default()
            }),
            participation_fee_cents: 0,
        },
    )
    .await
    .expect("voucher without email");
    let late = passerelle_test_support::paris_today() + chrono::Days::new(340);
    let summary = emails::daily::run_day(db, tenant_id, late)
        .await
        .expect("daily run");
    assert!(
        summary.reminders >= 1 && summary.prescriber_digests == 1,
        "{summary:?}"
    );
    let mut tx = db.begin_tenant(tenant_id).await.expect("tx");
    let welcome: Uuid =
        sqlx::query_scalar("SELECT id FROM email_outbox WHERE kind = 'welcome' LIMIT 1")
            .fetch_one(&mut *tx)
            .await
            .expect("welcome row");
    emails::outbox::mark_failed(
        &mut tx,
        tenant_id,
        welcome,
        Some("jeanne.martin@example.org"),
        "550 no such user",
        true,
    )
    .await
    .expect("suppress");
    tx.commit().await.expect("commit");
}

/// An import run (its report has a line) and one waiting (its upload is stored in chunks).
async fn import_places(db: &Db, tenant_id: Uuid) {
    let file: &[u8] = b"id;nom;horaires\nlieu-1;Lieu;Mo-Fr 09:00-12:00\nlieu-2;;\n";
    for run in [true, false] {
        let import = imports::receive(
            db,
            tenant_id,
            Actor::SYSTEM,
            imports::Target::Epns,
            Some("lieux.csv".into()),
            file,
            imports::MAX_UPLOAD_BYTES,
        )
        .await
        .expect("upload");
        if run {
            imports::run(db, tenant_id, import.id)
                .await
                .expect("run")
                .expect("ran");
        }
    }
}

/// An archive asked for and written (the file itself is the worker's).
async fn archive_requested(db: &Db, tenant_id: Uuid) {
    use passerelle_core::archive::requests;
    let archive = requests::request(db, tenant_id, Actor::SYSTEM)
        .await
        .expect("archive requested");
    requests::start(db, tenant_id, archive.id)
        .await
        .expect("start")
        .expect("started");
    requests::succeed(
        db,
        tenant_id,
        archive.id,
        &requests::Written {
            schema_version: 1,
            table_count: 1,
            row_count: 1,
            byte_size: 1,
            sha256: "0".repeat(64),
        },
    )
    .await
    .expect("archive written");
}
