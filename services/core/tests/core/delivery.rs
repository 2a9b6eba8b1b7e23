//! The EPN side: open-data import, registration after the positioning interview, sessions, and
//! attendance that debits a voucher exactly once.

use chrono::{Duration, Utc};
use passerelle_core::audit::Actor;
use passerelle_core::delivery::attendance::{self, Entry};
use passerelle_core::delivery::registration::{self, Interview, RegisterRequest};
use passerelle_core::delivery::sessions::{self, NewSession};
use passerelle_core::delivery::{AttendanceStatus, CompetenceLevel};
use passerelle_core::epns::import::{self, ImportStatus};
use passerelle_core::epns::{self};
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_core::vouchers::{self, Holder, Visibility, VoucherStatus};
use passerelle_core::{Db, Error, Refusal, RefusalKind};
use passerelle_test_support::world::World;
use passerelle_test_support::{TestDatabase, create_tenant};
use uuid::Uuid;

const SAMPLE: &[u8] = include_bytes!("../../../../infra/data/lieux-mediation-numerique-lot.csv");

pub struct Delivery {
    pub world: World,
    pub tenant_id: Uuid,
    pub prescriber_id: Uuid,
    pub scheme_id: Uuid,
    pub epn_id: Uuid,
    pub other_epn_id: Uuid,
}

impl Delivery {
    pub fn db(&self) -> &Db {
        self.world.db()
    }

    pub async fn voucher(&self, last_name: &str) -> String {
        self.world
            .issue(
                self.prescriber_id,
                self.scheme_id,
                Holder::New(World::person(last_name)),
            )
            .await
            .expect("issued")
            .voucher
            .reference
    }

    pub async fn register(
        &self,
        reference: &str,
        last_name: &str,
    ) -> Result<registration::Registered, Error> {
        self.world.register(self.epn_id, reference, last_name).await
    }

    /// Moves a voucher's issue (and so its validity) `days` back in time, so that sessions in the
    /// past can be recorded on it.
    pub async fn issued_days_ago(&self, reference: &str, days: i32) {
        let mut tx = self.db().begin_tenant(self.tenant_id).await.expect("tx");
        sqlx::query(
            "UPDATE vouchers SET issued_on = issued_on - $2, valid_until = valid_until - $2
              WHERE reference = $1",
        )
        .bind(reference)
        .bind(days)
        .execute(&mut *tx)
        .await
        .expect("backdate the voucher");
        tx.commit().await.expect("commit");
    }

    pub async fn session(&self, starts_at: chrono::DateTime<Utc>) -> Uuid {
        sessions::create(
            self.db(),
            self.tenant_id,
            self.epn_id,
            Actor::SYSTEM,
            &NewSession {
                scheme_id: self.scheme_id,
                module_number: Some(3),
                starts_at,
                duration_minutes: None,
                capacity: 12,
                animator: Some("Camille".into()),
                place: Some("Salle 1".into()),
            },
        )
        .await
        .expect("session")
        .id
    }

    pub async fn attend(
        &self,
        session_id: Uuid,
        reference: &str,
        status: AttendanceStatus,
    ) -> Result<attendance::Recorded, Error> {
        let entry = Entry {
            reference: reference.into(),
            status,
            competences: vec![("2.1".into(), CompetenceLevel::Practised)],
            off_path: false,
        };
        let entry = if status == AttendanceStatus::Present {
            entry
        } else {
            Entry {
                competences: vec![],
                ..entry
            }
        };
        attendance::record(
            self.db(),
            self.tenant_id,
            self.epn_id,
            Actor::SYSTEM,
            session_id,
            &[entry],
        )
        .await
        .expect("no database error")
        .remove(0)
    }
}

/// The Lot with an active Ticket Net (rules in force for 30 days), a CAF with 100 vouchers, and
/// two EPNs offering its modules (all 14, and 12).
pub async fn delivery() -> Delivery {
    let world = World::new().await;
    let scheme_id = world.ticket_net("ticket-net", 30).await;
    let prescriber_id = world
        .prescriber(
            "CAF",
            passerelle_core::prescribers::PrescriberKind::Caf,
            None,
        )
        .await;
    world.allocate(prescriber_id, scheme_id, 100, 1).await;
    let epn_id = world
        .epn(
            "Espace numérique de Figeac",
            scheme_id,
            &(1..=14).collect::<Vec<_>>(),
        )
        .await;
    let other_epn_id = world
        .epn(
            "Médiathèque de Cahors",
            scheme_id,
            &(1..=12).collect::<Vec<_>>(),
        )
        .await;
    Delivery {
        tenant_id: world.tenant.id,
        prescriber_id,
        scheme_id,
        epn_id,
        other_epn_id,
        world,
    }
}

fn refusal(result: Result<attendance::Recorded, Error>) -> RefusalKind {
    match result {
        Err(Error::Refused(refusal)) => refusal.kind(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_open_data_file_imports_reimports_and_reports_bad_rows() {
    let test = TestDatabase::create().await;
    let tenant = create_tenant(&test.app, "lot", TenantKind::Departement, "46").await;
    let first = import::import(&test.app, tenant.id, Actor::SYSTEM, SAMPLE)
        .await
        .expect("import");
    let statuses: Vec<ImportStatus> = first.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [ImportStatus::Created; 4]);
    assert_eq!(first[3].line, 5);
    assert!(
        first[3]
            .warning
            .as_deref()
            .expect("hours kept with a warning")
            .contains("lundi 9h-12h"),
        "{:?}",
        first[3]
    );

    let figeac = epns::get(&test.app, tenant.id, first[0].epn_id.expect("id"))
        .await
        .expect("epn");
    assert_eq!(
        figeac.emails,
        ["epn@figeac.example", "mediation@figeac.example"]
    );
    assert_eq!(figeac.typology, ["EPN", "MUNI"]);
    assert_eq!(
        figeac.opening_hours.as_deref(),
        Some("Mo-Fr 09:00-12:00,14:00-18:00; Sa 09:00-12:00")
    );
    assert_eq!(figeac.commune_insee.as_deref(), Some("46102"));

    let again = import::import(&test.app, tenant.id, Actor::SYSTEM, SAMPLE)
        .await
        .expect("re-import");
    assert_eq!(
        again
            .iter()
            .filter(|r| r.status == ImportStatus::Updated)
            .count(),
        4
    );
    assert_eq!(again[0].epn_id, first[0].epn_id);
    let page = epns::list(
        &test.app,
        tenant.id,
        passerelle_core::pagination::PageRequest::parse(Some(100), None).expect("page"),
    )
    .await
    .expect("list");
    assert_eq!(page.items.len(), 4, "re-importing created no duplicate");

    let wrong = import::import(&test.app, tenant.id, Actor::SYSTEM, b"nom;ville\nA;B\n").await;
    assert!(matches!(wrong, Err(Error::Invalid(_))), "{wrong:?}");
}

#[tokio::test]
async fn registration_checks_the_name_the_interview_and_the_modules() {
    let d = delivery().await;
    let reference = d.voucher("Martin").await;
    assert!(
        matches!(d.register(&reference, "Durand").await, Err(Error::Invalid(f)) if f[0].field == "last_name")
    );
    let mut typo: Vec<char> = reference.chars().collect();
    typo.swap(5, 6);
    let typo: String = typo.into_iter().collect();
    if typo != reference {
        assert!(
            matches!(d.register(&typo, "Martin").await, Err(Error::Invalid(f)) if f[0].field == "reference")
        );
    }

    let mut request = RegisterRequest {
        reference: reference.clone(),
        last_name: "MARTIN".into(),
        interview: Interview::default(),
        modules: (1..=10).collect(),
    };
    let no_interview =
        registration::register(d.db(), d.tenant_id, d.epn_id, Actor::SYSTEM, &request).await;
    assert!(matches!(no_interview, Err(Error::Invalid(f)) if f[0].field == "interview"));
    request.interview = Interview {
        on: Some(passerelle_test_support::paris_today()),
        minutes: Some(30),
        ..Interview::default()
    };
    request.modules = (1..=9).collect();
    assert!(matches!(
        registration::register(d.db(), d.tenant_id, d.epn_id, Actor::SYSTEM, &request).await,
        Err(Error::Invalid(_))
    ));
    request.modules = (6..=15).collect();
    match registration::register(d.db(), d.tenant_id, d.epn_id, Actor::SYSTEM, &request).await {
        Err(Error::Invalid(f)) => assert!(f[0].message.contains("15"), "{f:?}"),
        other => panic!("module 15 is not offered: {other:?}"),
    }
    request.modules = (5..=14).collect();
    let registered = registration::register(d.db(), d.tenant_id, d.epn_id, Actor::SYSTEM, &request)
        .await
        .expect("registered");
    assert_eq!(registered.voucher.status, VoucherStatus::Registered);
    assert_eq!(registered.modules, (5..=14).collect::<Vec<_>>());

    let elsewhere = registration::register(
        d.db(),
        d.tenant_id,
        d.other_epn_id,
        Actor::SYSTEM,
        &RegisterRequest {
            modules: (1..=10).collect(),
            ..request.clone()
        },
    )
    .await;
    assert!(matches!(
        elsewhere,
        Err(Error::Refused(Refusal::RegisteredElsewhere))
    ));
    // Moving checks the new EPN: one outside the scheme is refused, so is one that does not
    // offer every module the holder chose (Cahors offers 1 to 12; the choice is 5 to 14).
    let outside = epns::create_named(d.db(), d.tenant_id, "Tiers-lieu hors dispositif")
        .await
        .expect("an EPN");
    let refused = registration::move_to(
        d.db(),
        d.tenant_id,
        Actor::SYSTEM,
        &reference,
        outside,
        "déménagement",
    )
    .await;
    assert!(
        matches!(refused, Err(Error::Refused(Refusal::EpnNotInScheme))),
        "{refused:?}"
    );
    let refused = registration::move_to(
        d.db(),
        d.tenant_id,
        Actor::SYSTEM,
        &reference,
        d.other_epn_id,
        "déménagement",
    )
    .await;
    match refused {
        Err(Error::Invalid(fields)) => {
            assert_eq!(fields[0].field, "epn_id");
            assert!(
                fields[0].message.contains("13") && fields[0].message.contains("14"),
                "{fields:?}"
            );
        }
        other => panic!("expected the missing modules, got {other:?}"),
    }
    epns::set_offer(
        d.db(),
        d.tenant_id,
        Actor::SYSTEM,
        d.other_epn_id,
        d.scheme_id,
        &(1..=14).collect::<Vec<_>>(),
    )
    .await
    .expect("Cahors offers every module now");
    registration::move_to(
        d.db(),
        d.tenant_id,
        Actor::SYSTEM,
        &reference,
        d.other_epn_id,
        "déménagement",
    )
    .await
    .expect("moved");
    let voucher = vouchers::get(d.db(), d.tenant_id, &reference, Visibility::Tenant)
        .await
        .expect("voucher");
    let history = registration::history(d.db(), d.tenant_id, voucher.id)
        .await
        .expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].end_reason.as_deref(), Some("déménagement"));
    assert!(history[1].ended_at.is_none() && history[1].epn_id == d.other_epn_id);
}

#[tokio::test]
async fn every_attendance_refusal_names_its_reason() {
    let d = delivery().await;
    let now = Utc::now();
    let reference = d.voucher("Martin").await;

    let session = d.session(now).await;
    assert!(
        refusal(
            d.attend(session, &reference, AttendanceStatus::Present)
                .await
        ) == RefusalKind::NotRegisteredHere
    );
    d.register(&reference, "Martin").await.expect("registered");

    // The scheme's rules are in force from 30 days ago: the voucher is made 20 days old.
    d.issued_days_ago(&reference, 20).await;
    let before_issue = d.session(now - Duration::days(25)).await;
    assert!(
        refusal(
            d.attend(before_issue, &reference, AttendanceStatus::Present)
                .await
        ) == RefusalKind::SessionBeforeIssue
    );

    // A sheet for a session that has not started is refused whole, nothing debited.
    for starts_at in [now + Duration::days(20), now + Duration::minutes(1)] {
        let not_started = d.session(starts_at).await;
        let refused = attendance::record(
            d.db(),
            d.tenant_id,
            d.epn_id,
            Actor::SYSTEM,
            not_started,
            &[Entry {
                reference: reference.clone(),
                status: AttendanceStatus::Present,
                competences: vec![],
                off_path: false,
            }],
        )
        .await;
        assert!(
            matches!(
                &refused,
                Err(Error::Refused(Refusal::SessionNotStarted { .. }))
            ),
            "{refused:?}"
        );
    }

    let lapsed = d.voucher("Petit").await;
    d.register(&lapsed, "Petit").await.expect("registered");
    d.issued_days_ago(&lapsed, 400).await;
    assert!(
        refusal(d.attend(session, &lapsed, AttendanceStatus::Present).await)
            == RefusalKind::VoucherNotValidThatDay
    );

    let recorded = d
        .attend(session, &reference, AttendanceStatus::Present)
        .await
        .expect("recorded");
    assert_eq!(
        (recorded.minutes_left, recorded.voucher_status.as_str()),
        (1_080, "in_progress")
    );
    assert!(
        refusal(
            d.attend(session, &reference, AttendanceStatus::Present)
                .await
        ) == RefusalKind::AlreadyRecorded
    );

    // Nine more sessions use up the twenty hours; the voucher completes; the next is refused.
    for day in 1..=9 {
        let s = d.session(now - Duration::days(day)).await;
        d.attend(s, &reference, AttendanceStatus::Present)
            .await
            .expect("recorded");
    }
    let voucher = vouchers::get(d.db(), d.tenant_id, &reference, Visibility::Tenant)
        .await
        .expect("voucher");
    assert_eq!(
        (voucher.minutes_left, voucher.status.as_str()),
        (0, "completed")
    );
    let one_more = d.session(now - Duration::days(10)).await;
    assert!(
        refusal(
            d.attend(one_more, &reference, AttendanceStatus::Present)
                .await
        ) == RefusalKind::InsufficientBalance
    );
    let absent = d
        .attend(one_more, &reference, AttendanceStatus::Absent)
        .await
        .expect("absences debit nothing");
    assert_eq!(absent.attendance.minutes_debited, 0);

    let cancelled = d.voucher("Durand").await;
    d.register(&cancelled, "Durand").await.expect("registered");
    vouchers::cancel(
        d.db(),
        d.tenant_id,
        Actor::SYSTEM,
        &cancelled,
        "erreur",
        Visibility::Tenant,
    )
    .await
    .expect("cancel");
    assert!(
        refusal(
            d.attend(session, &cancelled, AttendanceStatus::Present)
                .await
        ) == RefusalKind::VoucherCancelled
    );
}

#[tokio::test]
async fn fifty_concurrent_requests_debit_a_voucher_with_room_for_three_exactly_three_times() {
    let d = delivery().await;
    let reference = d.voucher("Martin").await;
    d.register(&reference, "Martin").await.expect("registered");
    let voucher = vouchers::get(d.db(), d.tenant_id, &reference, Visibility::Tenant)
        .await
        .expect("voucher");
    let mut tx = d.db().begin_tenant(d.tenant_id).await.expect("tx");
    sqlx::query("UPDATE vouchers SET minutes_left = 360 WHERE id = $1")
        .bind(voucher.id)
        .execute(&mut *tx)
        .await
        .expect("room for 3");
    tx.commit().await.expect("commit");

    d.issued_days_ago(&reference, 1).await;
    let start = Utc::now();
    let mut session_ids = Vec::new();
    for i in 0..50 {
        session_ids.push(d.session(start - Duration::minutes(i)).await);
    }
    let results = futures::future::join_all(
        session_ids
            .iter()
            .map(|s| d.attend(*s, &reference, AttendanceStatus::Present)),
    )
    .await;
    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(succeeded, 3);
    for refusal in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(refusal, Error::Refused(Refusal::InsufficientBalance { .. })),
            "{refusal:?}"
        );
    }
    let voucher = vouchers::get(d.db(), d.tenant_id, &reference, Visibility::Tenant)
        .await
        .expect("voucher");
    assert_eq!(
        (voucher.minutes_left, voucher.status.as_str()),
        (0, "completed")
    );
    let mut tx = d.db().begin_tenant(d.tenant_id).await.expect("tx");
    let debited: i64 = sqlx::query_scalar("SELECT coalesce(sum(minutes_debited), 0)::bigint FROM attendances WHERE voucher_id = $1 AND voided_at IS NULL")
        .bind(voucher.id)
        .fetch_one(&mut *tx)
        .await
        .expect("sum");
    assert_eq!(debited, 360);
}

#[tokio::test]
async fn a_voided_attendance_gives_its_minutes_back_and_can_be_recorded_again() {
    let d = delivery().await;
    let reference = d.voucher("Martin").await;
    d.register(&reference, "Martin").await.expect("registered");
    let session = d.session(Utc::now()).await;
    let first = d
        .attend(session, &reference, AttendanceStatus::Present)
        .await
        .expect("recorded");
    assert_eq!(first.minutes_left, 1_080);

    let no_reason = attendance::void(
        d.db(),
        d.tenant_id,
        None,
        Actor::SYSTEM,
        first.attendance.id,
        "",
    )
    .await;
    assert!(matches!(no_reason, Err(Error::Invalid(_))));
    let elsewhere = attendance::void(
        d.db(),
        d.tenant_id,
        Some(d.other_epn_id),
        Actor::SYSTEM,
        first.attendance.id,
        "erreur",
    )
    .await;
    assert!(matches!(elsewhere, Err(Error::NotFound(_))));
    attendance::void(
        d.db(),
        d.tenant_id,
        Some(d.epn_id),
        Actor::SYSTEM,
        first.attendance.id,
        "mauvaise personne cochée",
    )
    .await
    .expect("voided");
    let voucher = vouchers::get(d.db(), d.tenant_id, &reference, Visibility::Tenant)
        .await
        .expect("voucher");
    assert_eq!(
        (voucher.minutes_left, voucher.status.as_str()),
        (1_200, "registered")
    );
    assert!(matches!(
        attendance::void(
            d.db(),
            d.tenant_id,
            None,
            Actor::SYSTEM,
            first.attendance.id,
            "encore"
        )
        .await,
        Err(Error::Refused(Refusal::AttendanceAlreadyVoided))
    ));

    let again = d
        .attend(session, &reference, AttendanceStatus::Present)
        .await
        .expect("recorded again");
    assert_eq!(again.minutes_left, 1_080);
    assert_ne!(again.attendance.id, first.attendance.id);
}

impl Delivery {
    /// The voucher's last valid day moved to `days` days ago, marked expired as the nightly run
    /// does.
    async fn expired_days_ago(&self, reference: &str, days: i32) {
        let mut tx = self.db().begin_tenant(self.tenant_id).await.expect("tx");
        sqlx::query(
            "UPDATE vouchers SET valid_until = $2::date - $3, status = 'expired' WHERE reference = $1",
        )
        .bind(reference)
        .bind(passerelle_test_support::paris_today())
        .bind(days)
        .execute(&mut *tx)
        .await
        .expect("expire the voucher");
        tx.commit().await.expect("commit");
    }
}

/// The sheet of the last valid day is often filled the next morning, after the nightly run has
/// marked the voucher expired: it is recorded (and paid) within the scheme's grace period after
/// the session, 7 days by default, and refused after it with the last day it could be.
#[tokio::test]
async fn a_session_held_within_validity_is_recorded_for_a_grace_period_after_expiry() {
    let d = delivery().await;
    let now = Utc::now();
    let late = d.voucher("Lasserre").await;
    d.register(&late, "Lasserre").await.expect("registered");
    d.issued_days_ago(&late, 20).await;
    d.expired_days_ago(&late, 1).await;
    // Held yesterday, the voucher's last valid day; recorded this morning.
    let yesterday = d.session(now - Duration::days(1)).await;
    let recorded = d
        .attend(yesterday, &late, AttendanceStatus::Present)
        .await
        .expect("recorded within the grace period");
    assert_eq!(
        (recorded.minutes_left, recorded.voucher_status),
        (1_080, VoucherStatus::Expired),
        "debited, and still expired"
    );
    // And it is paid: the month's run puts it on the EPN's statement.
    let session_day = passerelle_test_support::paris_today() - chrono::Days::new(1);
    passerelle_core::reimbursements::run_month(d.db(), d.tenant_id, session_day)
        .await
        .expect("the month's run");
    let statements = passerelle_core::reimbursements::list(
        d.db(),
        d.tenant_id,
        &passerelle_core::reimbursements::StatementFilter {
            epn_id: Some(d.epn_id),
            ..Default::default()
        },
    )
    .await
    .expect("statements");
    let mut paid_for = Vec::new();
    for statement in statements {
        let (_, lines) =
            passerelle_core::reimbursements::get(d.db(), d.tenant_id, statement.id, None)
                .await
                .expect("lines");
        paid_for.extend(lines.into_iter().map(|l| l.voucher_reference));
    }
    assert!(paid_for.contains(&late), "{paid_for:?}");

    // Nine days late: past the 7 days of grace, refused with the last day it could be recorded.
    let too_late = d.voucher("Fournier").await;
    d.register(&too_late, "Fournier").await.expect("registered");
    d.issued_days_ago(&too_late, 20).await;
    d.expired_days_ago(&too_late, 9).await;
    let nine_days_ago = d.session(now - Duration::days(9)).await;
    let refused = d
        .attend(nine_days_ago, &too_late, AttendanceStatus::Present)
        .await;
    match refused {
        Err(Error::Refused(Refusal::RecordingPeriodOver {
            session_day,
            last_day,
        })) => assert_eq!(last_day, session_day + chrono::Days::new(7)),
        other => panic!("expected the recording period to be over, got {other:?}"),
    }
}

/// A holder attends the modules they chose; a session of another module is refused unless the
/// animator records it « hors parcours », which the statement line shows to finance.
#[tokio::test]
async fn a_module_the_holder_did_not_choose_needs_the_off_path_mark() {
    let d = delivery().await;
    let reference = d.voucher("Bouscarel").await;
    d.register(&reference, "Bouscarel")
        .await
        .expect("registered with modules 1 to 10");
    d.issued_days_ago(&reference, 1).await;
    let module_12 = sessions::create(
        d.db(),
        d.tenant_id,
        d.epn_id,
        Actor::SYSTEM,
        &NewSession {
            scheme_id: d.scheme_id,
            module_number: Some(12),
            starts_at: Utc::now() - Duration::minutes(30),
            duration_minutes: None,
            capacity: 12,
            animator: None,
            place: None,
        },
    )
    .await
    .expect("session")
    .id;
    let record = |off_path: bool| {
        let reference = reference.clone();
        let db = d.db().clone();
        let (tenant_id, epn_id) = (d.tenant_id, d.epn_id);
        async move {
            attendance::record(
                &db,
                tenant_id,
                epn_id,
                Actor::SYSTEM,
                module_12,
                &[Entry {
                    reference,
                    status: AttendanceStatus::Present,
                    competences: vec![],
                    off_path,
                }],
            )
            .await
            .expect("no database error")
            .remove(0)
        }
    };
    match record(false).await {
        Err(Error::Refused(Refusal::ModuleNotChosen { module })) => assert_eq!(module, 12),
        other => panic!("expected the module to be refused, got {other:?}"),
    }
    record(true).await.expect("recorded off the path");

    passerelle_core::reimbursements::run_month(
        d.db(),
        d.tenant_id,
        passerelle_test_support::paris_today(),
    )
    .await
    .expect("the month's run");
    let statements = passerelle_core::reimbursements::list(
        d.db(),
        d.tenant_id,
        &passerelle_core::reimbursements::StatementFilter {
            epn_id: Some(d.epn_id),
            ..Default::default()
        },
    )
    .await
    .expect("statements");
    let (_, lines) =
        passerelle_core::reimbursements::get(d.db(), d.tenant_id, statements[0].id, None)
            .await
            .expect("lines");
    let line = lines
        .iter()
        .find(|l| l.voucher_reference == reference && l.module_number == Some(12))
        .expect("the session is paid");
    assert!(line.off_path, "{line:?}");
    let (_, csv) = passerelle_core::reimbursements::export::statement_csv(
        d.db(),
        d.tenant_id,
        Actor::SYSTEM,
        statements[0].id,
        None,
    )
    .await
    .expect("csv");
    let csv = String::from_utf8(csv).expect("utf-8");
    let row = csv
        .lines()
        .find(|l| l.contains(&reference) && l.contains(";12 - "))
        .expect("the line in the CSV");
    assert!(
        row.ends_with(";oui"),
        "finance reads the mark in the CSV: {row}"
    );
}

/// Booking follows the same path: a module the holder did not choose is booked only « hors
/// parcours », and the attendance recorded on that booking carries the mark without repeating it.
#[tokio::test]
async fn a_booking_off_the_chosen_modules_needs_the_mark_and_passes_it_to_the_attendance() {
    let d = delivery().await;
    let reference = d.voucher("Cabrit").await;
    d.register(&reference, "Cabrit")
        .await
        .expect("registered with modules 1 to 10");
    d.issued_days_ago(&reference, 1).await;
    let session = |module: i32| NewSession {
        scheme_id: d.scheme_id,
        module_number: Some(module),
        starts_at: Utc::now() - Duration::minutes(30),
        duration_minutes: None,
        capacity: 12,
        animator: None,
        place: None,
    };
    let module_12 = sessions::create(d.db(), d.tenant_id, d.epn_id, Actor::SYSTEM, &session(12))
        .await
        .expect("session")
        .id;
    let module_3 = sessions::create(d.db(), d.tenant_id, d.epn_id, Actor::SYSTEM, &session(3))
        .await
        .expect("session")
        .id;
    let enrol = |session_id: Uuid, off_path: bool| {
        sessions::enrol(
            d.db(),
            d.tenant_id,
            d.epn_id,
            session_id,
            &reference,
            off_path,
        )
    };
    match enrol(module_12, false).await {
        Err(Error::Refused(Refusal::ModuleNotChosen { module })) => assert_eq!(module, 12),
        other => panic!("expected the booking to be refused, got {other:?}"),
    }
    assert_eq!(enrol(module_3, false).await.expect("a chosen module"), 1);
    assert_eq!(
        enrol(module_12, true).await.expect("booked off the path"),
        1
    );

    let recorded = attendance::record(
        d.db(),
        d.tenant_id,
        d.epn_id,
        Actor::SYSTEM,
        module_12,
        &[Entry {
            reference: reference.clone(),
            status: AttendanceStatus::Present,
            competences: vec![],
            off_path: false,
        }],
    )
    .await
    .expect("no database error")
    .remove(0);
    recorded.expect("the booking's mark stands for the attendance");
    let mut tx = d.db().begin_tenant(d.tenant_id).await.expect("tx");
    let marked: bool = sqlx::query_scalar("SELECT off_path FROM attendances WHERE session_id = $1")
        .bind(module_12)
        .fetch_one(&mut *tx)
        .await
        .expect("attendance");
    tx.commit().await.expect("commit");
    assert!(
        marked,
        "the attendance is marked « hors parcours » for finance"
    );
}
