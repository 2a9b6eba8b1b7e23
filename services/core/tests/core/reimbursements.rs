//! Monthly reimbursements on a small Lot: two holders at one EPN through September and October,
//! with rates, the interview fee, the cap, rounding, approval, a void and a late record after
//! approval, re-runs, database-level immutability, the CSV bytes and the SEPA file.

use chrono::{NaiveDate, TimeZone, Utc};
use passerelle_core::audit::Actor;
use passerelle_core::beneficiaries::NewBeneficiary;
use passerelle_core::delivery::AttendanceStatus;
use passerelle_core::delivery::attendance::{self, Entry};
use passerelle_core::delivery::registration::{self, Interview, RegisterRequest};
use passerelle_core::delivery::sessions::{self, NewSession};
use passerelle_core::epns::{self, BankDetails, EpnDetails};
use passerelle_core::prescribers::PrescriberKind;
use passerelle_core::reimbursements::{self, StatementStatus, export, sepa};
use passerelle_core::schemes::presets;
use passerelle_core::tenancy::tenants::Tenant;
use passerelle_core::vouchers::{Holder, Voucher};
use passerelle_core::{Db, Error, Refusal};
use passerelle_test_support::active_ticket_net;
use passerelle_test_support::world::World;
use uuid::Uuid;

const FINANCE: Actor = Actor {
    user_id: None,
    role: "finance",
};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

struct Lot {
    world: World,
    tenant: Tenant,
    scheme_id: Uuid,
    epn_id: Uuid,
    jeanne: Voucher,
    paul: Voucher,
}

impl Lot {
    async fn new() -> Self {
        let world = World::new().await;
        let tenant = world.tenant.clone();
        let db = world.db();
        let mut rules = presets::get("ticket-net").expect("preset").rules;
        rules.interview_fee_cents = 1_500;
        let scheme_id = active_ticket_net(db, tenant.id, Some(rules), Some(day(2026, 1, 1))).await;
        let prescriber_id = world
            .prescriber("CCAS de Figeac", PrescriberKind::Ccas, None)
            .await;
        world.allocate(prescriber_id, scheme_id, 10, 0).await;
        let epn_id = epns::create(
            db,
            tenant.id,
            Actor::SYSTEM,
            &EpnDetails {
                // A name a spreadsheet would take for a formula.
                name: "=Espace numérique de Figeac".into(),
                pivot: Some("21460102400018".into()),
                ..EpnDetails::default()
            },
        )
        .await
        .expect("epn")
        .id;
        epns::set_offer(
            db,
            tenant.id,
            Actor::SYSTEM,
            epn_id,
            scheme_id,
            &(1..=10).collect::<Vec<_>>(),
        )
        .await
        .expect("offer");
        epns::set_bank_details(
            db,
            tenant.id,
            Actor::SYSTEM,
            epn_id,
            &BankDetails {
                iban: "FR76 3000 6000 0112 3456 7890 189".into(),
                bic: Some("AGRIFRPP".into()),
                account_holder: "Commune de Figeac".into(),
            },
        )
        .await
        .expect("bank details");
        let mut holders = Vec::new();
        for last_name in ["Martin", "Durand"] {
            let holder = Holder::New(NewBeneficiary {
                first_name: "Titulaire".into(),
                birth_year: 1950,
                ..World::person(last_name)
            });
            let voucher = world
                .issue(prescriber_id, scheme_id, holder)
                .await
                .expect("voucher")
                .voucher;
            let mut tx = db.begin_tenant(tenant.id).await.expect("tx");
            sqlx::query("UPDATE vouchers SET issued_on = '2026-01-05', valid_until = '2026-12-31' WHERE id = $1")
                .bind(voucher.id)
                .execute(&mut *tx)
                .await
                .expect("backdate");
            tx.commit().await.expect("commit");
            registration::register(
                db,
                tenant.id,
                epn_id,
                Actor::SYSTEM,
                &RegisterRequest {
                    reference: voucher.reference.clone(),
                    last_name: last_name.into(),
                    interview: Interview {
                        on: Some(day(2026, 9, 2)),
                        minutes: Some(30),
                        ..Interview::default()
                    },
                    modules: (1..=10).collect(),
                },
            )
            .await
            .expect("registered");
            holders.push(voucher);
        }
        let paul = holders.pop().expect("paul");
        let jeanne = holders.pop().expect("jeanne");
        Self {
            world,
            tenant,
            scheme_id,
            epn_id,
            jeanne,
            paul,
        }
    }

    fn app(&self) -> &Db {
        self.world.db()
    }

    /// A session at 10:00 in Paris on `on`, lasting `minutes`.
    async fn session(&self, on: NaiveDate, minutes: i32) -> Uuid {
        let starts_at = chrono_tz::Europe::Paris
            .from_local_datetime(&on.and_hms_opt(10, 0, 0).expect("time"))
            .single()
            .expect("local time")
            .with_timezone(&Utc);
        sessions::create(
            self.app(),
            self.tenant.id,
            self.epn_id,
            Actor::SYSTEM,
            &NewSession {
                scheme_id: self.scheme_id,
                module_number: Some(1),
                starts_at,
                duration_minutes: Some(minutes),
                capacity: 10,
                animator: None,
                place: None,
            },
        )
        .await
        .expect("session")
        .id
    }

    async fn attend(&self, session_id: Uuid, voucher: &Voucher, status: AttendanceStatus) -> Uuid {
        sessions::enrol(
            self.app(),
            self.tenant.id,
            self.epn_id,
            session_id,
            &voucher.reference,
            false,
        )
        .await
        .ok();
        let outcome = attendance::record(
            self.app(),
            self.tenant.id,
            self.epn_id,
            Actor::SYSTEM,
            session_id,
            &[Entry {
                reference: voucher.reference.clone(),
                status,
                competences: vec![],
                off_path: false,
            }],
        )
        .await
        .expect("sheet");
        outcome
            .into_iter()
            .next()
            .expect("line")
            .expect("recorded")
            .attendance
            .id
    }

    async fn statement(&self, month: NaiveDate) -> reimbursements::Statement {
        let list = reimbursements::list(
            self.app(),
            self.tenant.id,
            &reimbursements::StatementFilter {
                month: Some(month),
                ..Default::default()
            },
        )
        .await
        .expect("list");
        assert_eq!(list.len(), 1, "{list:#?}");
        list.into_iter().next().expect("statement")
    }

    async fn lines(&self, month: NaiveDate) -> Vec<(String, String, i32, i64, Option<NaiveDate>)> {
        let statement = self.statement(month).await;
        let (_, lines) = reimbursements::get(self.app(), self.tenant.id, statement.id, None)
            .await
            .expect("get");
        lines
            .into_iter()
            .map(|l| {
                (
                    l.kind.to_string(),
                    l.voucher_reference,
                    l.minutes,
                    l.amount_cents,
                    l.adjusts_month,
                )
            })
            .collect()
    }

    async fn sql(&self, statement: &str) -> Result<u64, sqlx::Error> {
        let mut tx = self.app().begin_tenant(self.tenant.id).await.expect("tx");
        let result = sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected())
    }
}

#[tokio::test]
async fn a_month_is_priced_approved_and_later_changes_become_adjustments() {
    let lot = Lot::new().await;
    let (sept, oct) = (day(2026, 9, 1), day(2026, 10, 1));
    let s1 = lot.session(day(2026, 9, 10), 120).await;
    let s2 = lot.session(day(2026, 9, 20), 120).await;
    let short = lot.session(day(2026, 9, 25), 7).await;
    lot.attend(s1, &lot.jeanne, AttendanceStatus::Present).await;
    lot.attend(s1, &lot.paul, AttendanceStatus::Absent).await;
    let voided = lot.attend(s2, &lot.jeanne, AttendanceStatus::Present).await;
    lot.attend(short, &lot.paul, AttendanceStatus::Present)
        .await;

    let run = reimbursements::run_month(lot.app(), lot.tenant.id, sept)
        .await
        .expect("run");
    // Interviews 15 € each; 2 h at 10 €/h = 20 €; 7 minutes = 1.1666… € → 1.17 € (half up, per
    // line); the absence is listed at zero.
    assert_eq!(
        (run.statements, run.lines, run.total_cents),
        (1, 6, 1_500 * 2 + 2_000 * 2 + 117),
        "{run:?}"
    );
    let first = lot.lines(sept).await;
    assert!(
        first.contains(&("attendance".into(), lot.paul.reference.clone(), 0, 0, None)),
        "{first:#?}"
    );
    assert!(first.contains(&(
        "attendance".into(),
        lot.paul.reference.clone(),
        7,
        117,
        None
    )));
    assert!(first.contains(&(
        "interview".into(),
        lot.jeanne.reference.clone(),
        30,
        1_500,
        None
    )));

    // Running the month again, or a run rolled back half-way, changes nothing.
    reimbursements::run_month(lot.app(), lot.tenant.id, sept)
        .await
        .expect("rerun");
    assert_eq!(lot.lines(sept).await, first);
    {
        let mut tx = lot.app().begin_tenant(lot.tenant.id).await.expect("tx");
        reimbursements::compute::run_month_in(&mut tx, &lot.tenant, sept)
            .await
            .expect("run in tx");
        tx.rollback().await.expect("interrupted");
    }
    assert_eq!(lot.lines(sept).await, first);

    let statement = lot.statement(sept).await;
    let approved = reimbursements::approve(lot.app(), lot.tenant.id, FINANCE, statement.id)
        .await
        .expect("approve");
    assert_eq!(approved.status, StatementStatus::Approved);

    // After approval: September's second session is voided, Paul's attendance to it is recorded
    // late, and October has its own session.
    attendance::void(
        lot.app(),
        lot.tenant.id,
        None,
        Actor::SYSTEM,
        voided,
        "saisie en double",
    )
    .await
    .expect("void");
    lot.attend(s2, &lot.paul, AttendanceStatus::Present).await;
    let s3 = lot.session(day(2026, 10, 5), 120).await;
    lot.attend(s3, &lot.jeanne, AttendanceStatus::Present).await;
    let october = reimbursements::run_month(lot.app(), lot.tenant.id, oct)
        .await
        .expect("october");
    assert_eq!(
        (october.adjustments, october.total_cents),
        (2, 2_000),
        "{october:?}"
    );
    let lines = lot.lines(oct).await;
    assert!(
        lines.contains(&(
            "attendance".into(),
            lot.jeanne.reference.clone(),
            120,
            2_000,
            None
        )),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&(
            "adjustment".into(),
            lot.jeanne.reference.clone(),
            -120,
            -2_000,
            Some(sept)
        )),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&(
            "adjustment".into(),
            lot.paul.reference.clone(),
            120,
            2_000,
            Some(sept)
        )),
        "{lines:#?}"
    );
    assert_eq!(lot.lines(sept).await, first, "an approved month changed");
    assert_eq!(
        lot.statement(sept).await.total_cents,
        1_500 * 2 + 2_000 * 2 + 117
    );

    // A record after October was computed blocks its approval until the month runs again.
    lot.attend(s3, &lot.paul, AttendanceStatus::Present).await;
    let draft = lot.statement(oct).await;
    let blocked = reimbursements::approve(lot.app(), lot.tenant.id, FINANCE, draft.id).await;
    let refusal = blocked.expect_err("drift must block approval");
    assert!(
        matches!(
            refusal,
            Error::Refused(Refusal::AttendanceChanged { drift: 1, .. })
        ),
        "{refusal:?}"
    );
    reimbursements::run_month(lot.app(), lot.tenant.id, oct)
        .await
        .expect("rerun october");
    reimbursements::approve(lot.app(), lot.tenant.id, FINANCE, draft.id)
        .await
        .expect("approve october");
    assert_eq!(lot.statement(oct).await.total_cents, 4_000);
}

#[tokio::test]
async fn what_is_paid_for_a_voucher_never_exceeds_its_face_value() {
    let lot = Lot::new().await;
    let sept = day(2026, 9, 1);
    // 1,200 minutes at 10 €/h is the 200 € face value; with the 15 € interview first, the last
    // session is cut to what is left.
    let a = lot.session(day(2026, 9, 10), 600).await;
    let b = lot.session(day(2026, 9, 11), 600).await;
    lot.attend(a, &lot.jeanne, AttendanceStatus::Present).await;
    lot.attend(b, &lot.jeanne, AttendanceStatus::Present).await;
    reimbursements::run_month(lot.app(), lot.tenant.id, sept)
        .await
        .expect("run");
    let jeanne: Vec<i64> = lot
        .lines(sept)
        .await
        .into_iter()
        .filter(|l| l.1 == lot.jeanne.reference)
        .map(|l| l.3)
        .collect();
    assert_eq!(jeanne, vec![1_500, 10_000, 8_500]);
    assert_eq!(jeanne.iter().sum::<i64>(), 20_000);
}

#[tokio::test]
async fn approved_and_paid_statements_cannot_change_in_the_database() {
    let lot = Lot::new().await;
    let sept = day(2026, 9, 1);
    let s1 = lot.session(day(2026, 9, 10), 120).await;
    lot.attend(s1, &lot.jeanne, AttendanceStatus::Present).await;
    reimbursements::run_month(lot.app(), lot.tenant.id, sept)
        .await
        .expect("run");
    let statement = lot.statement(sept).await;
    // A draft may change (it is recomputed).
    assert!(
        lot.sql(&format!(
            "UPDATE statement_lines SET amount_cents = amount_cents WHERE statement_id = '{}'",
            statement.id
        ))
        .await
        .is_ok()
    );
    reimbursements::approve(lot.app(), lot.tenant.id, FINANCE, statement.id)
        .await
        .expect("approve");
    for attempt in [
        format!("UPDATE statements SET total_cents = 1 WHERE id = '{}'", statement.id),
        format!("UPDATE statements SET status = 'draft', approved_at = NULL WHERE id = '{}'", statement.id),
        format!("DELETE FROM statements WHERE id = '{}'", statement.id),
        format!("UPDATE statement_lines SET amount_cents = 0 WHERE statement_id = '{}'", statement.id),
        format!("DELETE FROM statement_lines WHERE statement_id = '{}'", statement.id),
        format!(
            "INSERT INTO statement_lines (tenant_id, statement_id, line_no, kind, source_kind, source_id, occurred_on,
                                          voucher_id, voucher_reference, minutes, rate_cents, amount_cents)
             VALUES ('{}', '{}', 99, 'attendance', 'attendance', gen_random_uuid(), '2026-09-10', '{}', 'X', 1, 1, 1)",
            lot.tenant.id, statement.id, lot.jeanne.id
        ),
    ] {
        let err = lot.sql(&attempt).await.expect_err(&attempt);
        assert!(err.to_string().contains("cannot"), "{attempt}: {err}");
    }
    let paid = reimbursements::mark_paid(
        lot.app(),
        lot.tenant.id,
        FINANCE,
        statement.id,
        day(2026, 10, 15),
        "VIR-2026-10-0042",
    )
    .await
    .expect("paid");
    assert_eq!(paid.status, StatementStatus::Paid);
    let err = lot
        .sql(&format!(
            "UPDATE statements SET bank_reference = 'autre' WHERE id = '{}'",
            statement.id
        ))
        .await
        .expect_err("a paid statement changed");
    assert!(err.to_string().contains("cannot change"), "{err}");
}

/// Lines have no per-row key (a month writes millions at once): the trigger that checks them once
/// per statement is what refuses a line naming no statement of the tenant.
#[tokio::test]
async fn a_line_naming_no_statement_of_its_tenant_is_refused() {
    let lot = Lot::new().await;
    let line = |statement_id: Uuid, line_no: i32| {
        format!(
            "INSERT INTO statement_lines (tenant_id, statement_id, line_no, kind, source_kind, source_id, occurred_on,
                                          voucher_id, voucher_reference, minutes, rate_cents, amount_cents)
             VALUES ('{}', '{statement_id}', {line_no}, 'attendance', 'attendance', gen_random_uuid(), '2026-09-10', '{}', 'X', 1, 1, 1)",
            lot.tenant.id, lot.jeanne.id
        )
    };
    let err = lot
        .sql(&line(Uuid::new_v4(), 1))
        .await
        .expect_err("a line without statement");
    assert!(err.to_string().contains("does not exist"), "{err}");

    let sept = day(2026, 9, 1);
    let s1 = lot.session(day(2026, 9, 10), 120).await;
    lot.attend(s1, &lot.jeanne, AttendanceStatus::Present).await;
    reimbursements::run_month(lot.app(), lot.tenant.id, sept)
        .await
        .expect("run");
    let statement = lot.statement(sept).await;
    lot.sql(&line(statement.id, 1_000))
        .await
        .expect("a draft statement of the tenant takes a line");
}

#[tokio::test]
async fn the_csv_opens_in_french_excel_and_adds_up() {
    let lot = Lot::new().await;
    let sept = day(2026, 9, 1);
    let s1 = lot.session(day(2026, 9, 10), 90).await;
    lot.attend(s1, &lot.jeanne, AttendanceStatus::Present).await;
    reimbursements::run_month(lot.app(), lot.tenant.id, sept)
        .await
        .expect("run");
    let statement = lot.statement(sept).await;
    let (name, bytes) =
        export::statement_csv(lot.app(), lot.tenant.id, FINANCE, statement.id, None)
            .await
            .expect("csv");
    assert!(name.ends_with(".csv"));
    assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF], "no BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).expect("UTF-8");
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows[0],
        "Mois;EPN;SIRET;Date;Séance;Module;Référence;Minutes;Taux horaire (€);Montant (€);Type de ligne;Hors parcours"
    );
    let session = rows
        .iter()
        .find(|r| r.ends_with(";Séance;"))
        .expect("a session line, not marked « hors parcours »");
    assert!(
        session.starts_with(
            "09/2026;'=Espace numérique de Figeac;21460102400018;10/09/2026;10/09/2026 10:00;1 - "
        ),
        "{session}"
    );
    assert!(
        session.ends_with(&format!(";{};90;10,00;15,00;Séance;", lot.jeanne.reference)),
        "{session}"
    );
    let total = rows.last().expect("total");
    // Jeanne's interview (15 €) and 1 h 30 (15 €) plus Paul's interview (15 €).
    assert!(total.ends_with(";45,00;Total;"), "{total}");
    assert_eq!(statement.total_cents, 4_500);
    let sum: i64 = rows[1..rows.len() - 1]
        .iter()
        .map(|r| {
            let amount = r.split(';').nth(9).expect("amount").replace(',', "");
            amount.parse::<i64>().expect("cents")
        })
        .sum();
    assert_eq!(sum, statement.total_cents);
}

#[tokio::test]
async fn the_sepa_file_validates_against_the_schema_and_refuses_a_bad_iban() {
    let lot = Lot::new().await;
    let sept = day(2026, 9, 1);
    let s1 = lot.session(day(2026, 9, 10), 120).await;
    lot.attend(s1, &lot.jeanne, AttendanceStatus::Present).await;
    reimbursements::run_month(lot.app(), lot.tenant.id, sept)
        .await
        .expect("run");
    let statement = lot.statement(sept).await;
    reimbursements::approve(lot.app(), lot.tenant.id, FINANCE, statement.id)
        .await
        .expect("approve");

    let missing = sepa::month_file(lot.app(), lot.tenant.id, FINANCE, sept).await;
    assert!(matches!(
        missing,
        Err(Error::Refused(Refusal::TreasuryAccountMissing))
    ));
    reimbursements::set_treasury(
        lot.app(),
        lot.tenant.id,
        Actor::SYSTEM,
        &BankDetails {
            iban: "FR14 2004 1010 0505 0001 3M02 606".into(),
            bic: Some("PSSTFRPPTOU".into()),
            account_holder: "Département du Lot".into(),
        },
    )
    .await
    .expect("treasury");

    let file = sepa::month_file(lot.app(), lot.tenant.id, FINANCE, sept)
        .await
        .expect("sepa");
    assert_eq!(file.transfers.len(), 1);
    assert_eq!(file.control_sum_cents, statement.total_cents);
    assert!(
        file.xml
            .contains(&format!("<EndToEndId>{}</EndToEndId>", statement.reference))
    );
    // Two interviews (15 € each) and two hours at 10 €/h.
    assert!(
        file.xml.contains("<CtrlSum>50.00</CtrlSum>"),
        "{}",
        file.xml
    );
    assert!(file.xml.contains("<NbOfTxs>1</NbOfTxs>"));
    assert!(
        file.xml
            .contains("<IBAN>FR7630006000011234567890189</IBAN>")
    );
    assert!(
        file.xml.contains("Ticket Net - septembre 2026"),
        "{}",
        file.xml
    );
    let path = std::env::temp_dir().join(format!("sepa-{}.xml", Uuid::new_v4().simple()));
    std::fs::write(&path, &file.xml).expect("write");
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/sepa/pain.001.001.03.xsd"
    );
    let check = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", schema])
        .arg(&path)
        .output()
        .expect("xmllint runs (Debian package libxml2-utils; `make test` installs it)");
    std::fs::remove_file(&path).ok();
    assert!(
        check.status.success(),
        "the file does not validate:\n{}\n{}",
        String::from_utf8_lossy(&check.stderr),
        file.xml
    );

    // An EPN whose IBAN no longer checks out: refused, naming it, before any file exists.
    lot.sql(&format!(
        "UPDATE epns SET iban = 'FR7630006000011234567890188' WHERE id = '{}'",
        lot.epn_id
    ))
    .await
    .expect("corrupt the IBAN");
    let refused = sepa::month_file(lot.app(), lot.tenant.id, FINANCE, sept).await;
    match refused {
        Err(Error::Refused(Refusal::IbanMissing { epns })) => {
            assert!(
                epns.len() == 1 && epns[0].contains("Espace numérique de Figeac"),
                "{epns:?}"
            )
        }
        other => panic!("a bad IBAN must be refused, naming its EPN: {other:?}"),
    }
}

#[tokio::test]
async fn the_scheduled_run_computes_the_previous_month_in_paris_once() {
    let lot = Lot::new().await;
    let s1 = lot.session(day(2026, 9, 30), 120).await;
    lot.attend(s1, &lot.jeanne, AttendanceStatus::Present).await;
    // 00:30 on 1 October in Paris is still 30 September in UTC: the month to compute is September.
    let now = Utc
        .with_ymd_and_hms(2026, 9, 30, 22, 30, 0)
        .single()
        .expect("time");
    let first = reimbursements::compute::run_previous_month_once(lot.app(), lot.tenant.id, now)
        .await
        .expect("run")
        .expect("September computed");
    assert_eq!(first.month, Some(day(2026, 9, 1)));
    assert_eq!(first.total_cents, 1_500 * 2 + 2_000);
    let second = reimbursements::compute::run_previous_month_once(lot.app(), lot.tenant.id, now)
        .await
        .expect("second tick");
    assert!(second.is_none(), "the month ran twice");
    assert_eq!(lot.statement(day(2026, 9, 1)).await.total_cents, 5_000);
}
