//! Funders' money on a small Lot: a scheme co-financed by the European social fund (a share with a
//! cap) and the CAF (a share, for its own prescriber's vouchers only), statement lines shared
//! between them and the territory, caps passed on, approved shares frozen, a void after approval
//! given back, and the claim file of each funder adding up to the statements.

use chrono::{NaiveDate, TimeZone, Utc};
use passerelle_core::audit::Actor;
use passerelle_core::delivery::AttendanceStatus;
use passerelle_core::delivery::attendance::{self, Entry};
use passerelle_core::delivery::sessions::{self, NewSession};
use passerelle_core::funders::plan::{self, FundingLine, FundingShare};
use passerelle_core::funders::reconciliation;
use passerelle_core::funders::{self, FunderKind, NewFunder};
use passerelle_core::prescribers::PrescriberKind;
use passerelle_core::reimbursements::{self, funder_claims};
use passerelle_core::vouchers::{Holder, Voucher};
use passerelle_core::{Db, Error, Refusal};
use passerelle_test_support::world::World;
use uuid::Uuid;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

/// A voucher issued in January and registered at the EPN, so that the autumn's sessions fall
/// within its validity.
async fn issue_in_january(
    world: &World,
    prescriber: Uuid,
    scheme_id: Uuid,
    epn_id: Uuid,
    last_name: &str,
) -> Voucher {
    let voucher = world
        .issue(prescriber, scheme_id, Holder::New(World::person(last_name)))
        .await
        .expect("voucher")
        .voucher;
    let mut tx = world.db().begin_tenant(world.tenant.id).await.expect("tx");
    sqlx::query("UPDATE vouchers SET issued_on = '2026-01-05', valid_until = '2026-12-31' WHERE tenant_id = $2 AND id = $1")
        .bind(voucher.id)
        .bind(world.tenant.id)
        .execute(&mut *tx)
        .await
        .expect("backdate");
    tx.commit().await.expect("commit");
    world
        .register(epn_id, &voucher.reference, last_name)
        .await
        .expect("registered");
    voucher
}

struct Cofinanced {
    world: World,
    scheme_id: Uuid,
    epn_id: Uuid,
    fse: Uuid,
    caf: Uuid,
    /// Issued by the CCAS: the European fund only.
    ccas_voucher: Voucher,
    /// Issued by the CAF: the European fund and the CAF.
    caf_voucher: Voucher,
}

/// The European fund's cap: 30 € over the whole scheme.
const FSE_CAP: i64 = 3_000;

impl Cofinanced {
    async fn new() -> Self {
        let world = World::new().await;
        let db = world.db();
        let tenant_id = world.tenant.id;
        let scheme_id = world.ticket_net("ticket-net", 400).await;
        let ccas = world
            .prescriber("CCAS de Figeac", PrescriberKind::Ccas, None)
            .await;
        let caf_prescriber = world
            .prescriber("CAF du Lot", PrescriberKind::Caf, None)
            .await;
        world.allocate(ccas, scheme_id, 10, 0).await;
        world.allocate(caf_prescriber, scheme_id, 10, 0).await;
        let funder = |name: &str, kind| NewFunder {
            name: name.into(),
            kind,
            siret: None,
        };
        let fse = funders::create(
            db,
            tenant_id,
            Actor::SYSTEM,
            &funder("FSE+ Occitanie", FunderKind::EuropeanFund),
        )
        .await
        .expect("fse")
        .id;
        let caf = funders::create(
            db,
            tenant_id,
            Actor::SYSTEM,
            &funder("CAF du Lot", FunderKind::FamilyAllowanceFund),
        )
        .await
        .expect("caf")
        .id;
        plan::change(
            db,
            tenant_id,
            Actor::SYSTEM,
            scheme_id,
            world.tenant.today(),
            &[
                FundingLine {
                    funder_id: fse,
                    share: FundingShare::BasisPoints(5_000),
                    cap_cents: Some(FSE_CAP),
                    period_start: None,
                    period_end: None,
                    eligible_publics: None,
                    eligible_prescribers: None,
                },
                FundingLine {
                    funder_id: caf,
                    share: FundingShare::BasisPoints(3_000),
                    cap_cents: None,
                    period_start: None,
                    period_end: None,
                    eligible_publics: None,
                    eligible_prescribers: Some(vec![caf_prescriber]),
                },
            ],
        )
        .await
        .expect("plan");
        let epn_id = world
            .epn("EPN de Figeac", scheme_id, &(1..=10).collect::<Vec<_>>())
            .await;
        let ccas_voucher = issue_in_january(&world, ccas, scheme_id, epn_id, "Martin").await;
        let caf_voucher =
            issue_in_january(&world, caf_prescriber, scheme_id, epn_id, "Durand").await;
        Self {
            world,
            scheme_id,
            epn_id,
            fse,
            caf,
            ccas_voucher,
            caf_voucher,
        }
    }

    fn db(&self) -> &Db {
        self.world.db()
    }

    fn tenant_id(&self) -> Uuid {
        self.world.tenant.id
    }

    /// A two-hour session at 10:00 in Paris: 20 € a holder at the preset's 10 € an hour.
    async fn session(&self, on: NaiveDate) -> Uuid {
        let starts_at = chrono_tz::Europe::Paris
            .from_local_datetime(&on.and_hms_opt(10, 0, 0).expect("time"))
            .single()
            .expect("local time")
            .with_timezone(&Utc);
        sessions::create(
            self.db(),
            self.tenant_id(),
            self.epn_id,
            Actor::SYSTEM,
            &NewSession {
                scheme_id: self.scheme_id,
                module_number: Some(1),
                starts_at,
                duration_minutes: Some(120),
                capacity: 10,
                animator: None,
                place: None,
            },
        )
        .await
        .expect("session")
        .id
    }

    async fn attend(&self, session_id: Uuid, voucher: &Voucher) -> Uuid {
        sessions::enrol(
            self.db(),
            self.tenant_id(),
            self.epn_id,
            session_id,
            &voucher.reference,
            false,
        )
        .await
        .ok();
        attendance::record(
            self.db(),
            self.tenant_id(),
            self.epn_id,
            Actor::SYSTEM,
            session_id,
            &[Entry {
                reference: voucher.reference.clone(),
                status: AttendanceStatus::Present,
                competences: vec![],
                off_path: false,
            }],
        )
        .await
        .expect("sheet")
        .into_iter()
        .next()
        .expect("line")
        .expect("recorded")
        .attendance
        .id
    }

    /// Every line's (statement month, voucher, amount, FSE share, CAF share), as stored.
    async fn shares(&self) -> Vec<(NaiveDate, String, i64, i64, i64)> {
        let mut tx = self.db().begin_tenant(self.tenant_id()).await.expect("tx");
        let rows = sqlx::query_as(
            "SELECT st.month, l.voucher_reference, l.amount_cents,
                    coalesce(sum(sh.amount_cents) FILTER (WHERE sh.funder_id = $2), 0)::bigint,
                    coalesce(sum(sh.amount_cents) FILTER (WHERE sh.funder_id = $3), 0)::bigint
               FROM statement_lines l
               JOIN statements st ON st.tenant_id = l.tenant_id AND st.id = l.statement_id
               LEFT JOIN statement_line_shares sh ON sh.tenant_id = l.tenant_id AND sh.statement_id = l.statement_id
                                                 AND sh.line_no = l.line_no
              WHERE l.tenant_id = $1
              GROUP BY st.month, st.reference, l.line_no, l.voucher_reference, l.amount_cents
              ORDER BY st.month, l.line_no",
        )
        .bind(self.tenant_id())
        .bind(self.fse)
        .bind(self.caf)
        .fetch_all(&mut *tx)
        .await
        .expect("shares");
        tx.commit().await.expect("commit");
        rows
    }

    async fn approve(&self, month: NaiveDate) {
        let statements = reimbursements::list(
            self.db(),
            self.tenant_id(),
            &reimbursements::StatementFilter {
                month: Some(month),
                ..Default::default()
            },
        )
        .await
        .expect("list");
        for statement in statements {
            reimbursements::approve(self.db(), self.tenant_id(), Actor::SYSTEM, statement.id)
                .await
                .expect("approve");
        }
    }
}

#[tokio::test]
async fn lines_are_shared_between_funders_caps_pass_on_and_everything_adds_up() {
    let lot = Cofinanced::new().await;
    let (sept, oct) = (day(2026, 9, 1), day(2026, 10, 1));
    let s1 = lot.session(day(2026, 9, 10)).await;
    let ccas_sept = lot.attend(s1, &lot.ccas_voucher).await;
    lot.attend(s1, &lot.caf_voucher).await;
    reimbursements::run_month(lot.db(), lot.tenant_id(), sept)
        .await
        .expect("september");

    // Each 20 € line: half to the European fund (its cap not reached), 30 % to the CAF on the
    // CAF's voucher only, the rest to the territory.
    let ccas = &lot.ccas_voucher.reference;
    let caf = &lot.caf_voucher.reference;
    let mut september = lot.shares().await;
    september.sort_by(|a, b| a.1.cmp(&b.1));
    let mut expected = vec![
        (sept, ccas.clone(), 2_000, 1_000, 0),
        (sept, caf.clone(), 2_000, 1_000, 600),
    ];
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(september, expected);

    // A run again gives the same shares; approval freezes them, in the database too.
    reimbursements::run_month(lot.db(), lot.tenant_id(), sept)
        .await
        .expect("again");
    let mut again = lot.shares().await;
    again.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(again, expected);
    lot.approve(sept).await;
    let mut tx = lot.db().begin_tenant(lot.tenant_id()).await.expect("tx");
    let changed = sqlx::query(
        "UPDATE statement_funder_shares SET cents = array_append(cents, 1), line_nos = array_append(line_nos, 999)
          WHERE tenant_id = $1",
    )
    .bind(lot.tenant_id())
    .execute(&mut *tx)
    .await;
    let err = changed.expect_err("an approved statement's shares are frozen");
    assert!(err.to_string().contains("cannot change"), "{err}");
    drop(tx);
    // Nor can shares be made up for a statement the tenant does not have, or with line numbers
    // and cents that do not pair up, or through the view readers use.
    let funder = lot.fse;
    for (sql, refusal) in [
        (
            "INSERT INTO statement_funder_shares (tenant_id, statement_id, funder_id, line_nos, cents)
             VALUES ($1, gen_random_uuid(), $2, '{1}', '{100}')",
            "does not exist",
        ),
        (
            "INSERT INTO statement_funder_shares (tenant_id, statement_id, funder_id, line_nos, cents)
             SELECT $1, id, $2, '{1,2}', '{100}' FROM statements WHERE tenant_id = $1 LIMIT 1",
            "statement_funder_shares_aligned",
        ),
        (
            "INSERT INTO statement_line_shares (tenant_id, statement_id, line_no, funder_id, amount_cents)
             VALUES ($1, gen_random_uuid(), 1, $2, 100)",
            "cannot insert into view",
        ),
    ] {
        let mut tx = lot.db().begin_tenant(lot.tenant_id()).await.expect("tx");
        let err = sqlx::query(sql)
            .bind(lot.tenant_id())
            .bind(funder)
            .execute(&mut *tx)
            .await
            .expect_err(refusal);
        assert!(err.to_string().contains(refusal), "{refusal}: {err}");
    }

    // October: the European fund has 10 € of room left. The September session of the CCAS's
    // voucher is voided after approval (a -20 € adjustment in October, given back 10 € by the fund
    // and 10 € by the territory), which gives the fund 10 € of room more: 20 € for October's two
    // new lines, whose halves are 10 € each — the cap is then reached exactly.
    attendance::void(
        lot.db(),
        lot.tenant_id(),
        None,
        Actor::SYSTEM,
        ccas_sept,
        "Saisie en double",
    )
    .await
    .expect("void");
    let s2 = lot.session(day(2026, 10, 8)).await;
    lot.attend(s2, &lot.ccas_voucher).await;
    lot.attend(s2, &lot.caf_voucher).await;
    // A third October line, after the cap: the fund's half passes to the next funder (the CAF,
    // on its voucher) or to the territory.
    let s3 = lot.session(day(2026, 10, 22)).await;
    lot.attend(s3, &lot.caf_voucher).await;
    reimbursements::run_month(lot.db(), lot.tenant_id(), oct)
        .await
        .expect("october");

    let all = lot.shares().await;
    let october: Vec<_> = all.iter().filter(|r| r.0 == oct).cloned().collect();
    let adjustment = october
        .iter()
        .find(|r| r.2 < 0)
        .expect("the void's adjustment");
    assert_eq!(
        (adjustment.2, adjustment.3, adjustment.4),
        (-2_000, -1_000, 0)
    );
    let last = october.iter().rfind(|r| r.2 > 0).expect("the third line");
    assert_eq!(last.1, *caf, "the 22 October line comes last");
    // 20 €: the fund's 10 € fall to the CAF beside its own 6 €; the territory keeps 4 €.
    assert_eq!((last.2, last.3, last.4), (2_000, 0, 1_600));

    // The European fund never goes beyond its cap, and reaches it exactly.
    let fse_total: i64 = all.iter().map(|r| r.3).sum();
    assert_eq!(fse_total, FSE_CAP);
    // The CAF pays nothing on the CCAS's voucher.
    assert!(all.iter().filter(|r| r.1 == *ccas).all(|r| r.4 == 0));

    // Independently, in SQL: for every statement, its total is the lines' sum, and the shares of
    // its lines never exceed them (on the side of their sign).
    let mut tx = lot.db().begin_tenant(lot.tenant_id()).await.expect("tx");
    let (statements_total, lines_total, shares_total, bad_lines): (i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT (SELECT sum(total_cents) FROM statements WHERE tenant_id = $1)::bigint,
                (SELECT sum(amount_cents) FROM statement_lines WHERE tenant_id = $1)::bigint,
                (SELECT sum(amount_cents) FROM statement_line_shares WHERE tenant_id = $1)::bigint,
                (SELECT count(*) FROM statement_lines l
                  WHERE l.tenant_id = $1
                    AND abs((SELECT coalesce(sum(s.amount_cents), 0) FROM statement_line_shares s
                              WHERE s.tenant_id = l.tenant_id AND s.statement_id = l.statement_id
                                AND s.line_no = l.line_no)) > abs(l.amount_cents))",
        )
        .bind(lot.tenant_id())
        .fetch_one(&mut *tx)
        .await
        .expect("totals");
    tx.commit().await.expect("commit");
    assert_eq!(statements_total, lines_total);
    assert_eq!(bad_lines, 0);
    let caf_total: i64 = all.iter().map(|r| r.4).sum();
    assert_eq!(shares_total, fse_total + caf_total);

    // The claim files: October is still a draft, so only September is claimed until approval.
    let claimed = funder_claims::lines(lot.db(), lot.tenant_id(), lot.fse, sept, oct)
        .await
        .expect("claim");
    assert_eq!(claimed.iter().map(|l| l.share_cents).sum::<i64>(), 2_000);
    lot.approve(oct).await;
    for (funder, total) in [(lot.fse, fse_total), (lot.caf, caf_total)] {
        let (name, bytes) =
            funder_claims::claims_csv(lot.db(), lot.tenant_id(), Actor::SYSTEM, funder, sept, oct)
                .await
                .expect("claim file");
        assert!(name.ends_with("-2026-09-2026-10.csv"), "{name}");
        let text = String::from_utf8(bytes[3..].to_vec()).expect("utf-8");
        let last_row = text.lines().last().expect("total row");
        assert!(
            last_row.starts_with("Total de la période;")
                && last_row.contains(&format!(";{};Total;", export_euros(total))),
            "{last_row}"
        );
        assert!(
            !text.contains("Martin") && !text.contains("Durand"),
            "no names: {text}"
        );
    }
}

#[tokio::test]
async fn the_reconciliation_adds_up_and_matches_an_independent_count() {
    let lot = Cofinanced::new().await;
    let (sept, oct) = (day(2026, 9, 1), day(2026, 10, 1));
    let s1 = lot.session(day(2026, 9, 10)).await;
    lot.attend(s1, &lot.ccas_voucher).await;
    lot.attend(s1, &lot.caf_voucher).await;
    reimbursements::run_month(lot.db(), lot.tenant_id(), sept)
        .await
        .expect("september");
    let s2 = lot.session(day(2026, 10, 8)).await;
    lot.attend(s2, &lot.ccas_voucher).await;
    lot.attend(s2, &lot.caf_voucher).await;
    reimbursements::run_month(lot.db(), lot.tenant_id(), oct)
        .await
        .expect("october");
    // The CCAS's voucher ends with October: what it did not use goes back to its funders.
    let mut tx = lot.db().begin_tenant(lot.tenant_id()).await.expect("tx");
    sqlx::query("UPDATE vouchers SET valid_until = '2026-10-31' WHERE tenant_id = $2 AND id = $1")
        .bind(lot.ccas_voucher.id)
        .bind(lot.tenant_id())
        .execute(&mut *tx)
        .await
        .expect("shorten");
    tx.commit().await.expect("commit");

    let report = reconciliation::at_month_end(lot.db(), lot.tenant_id(), lot.scheme_id, oct)
        .await
        .expect("reconciliation");
    assert_eq!((report.vouchers_issued, report.vouchers_ended), (2, 1));
    for figures in report
        .funders
        .iter()
        .map(|f| &f.figures)
        .chain([&report.territory, &report.total])
    {
        assert_eq!(
            figures.committed_cents,
            figures.consumed_cents + figures.released_cents + figures.outstanding_cents,
            "{figures:?}"
        );
    }

    // The same figures, counted independently in SQL from the vouchers, the plan and the lines.
    let mut tx = lot.db().begin_tenant(lot.tenant_id()).await.expect("tx");
    let independent: Vec<(Uuid, i64, i64, i64)> = sqlx::query_as(
        "WITH expected AS (
             SELECT vf.funder_id, v.id AS voucher_id, v.valid_until <= '2026-10-31' AS ended,
                    v.face_value_cents * fl.share_basis_points / 10000 AS cents
               FROM voucher_funders vf
               JOIN vouchers v ON v.tenant_id = vf.tenant_id AND v.id = vf.voucher_id
               JOIN scheme_funding_lines fl ON fl.tenant_id = vf.tenant_id AND fl.scheme_id = vf.scheme_id
                                           AND fl.version = vf.funding_version AND fl.position = vf.position
              WHERE vf.tenant_id = $1),
         paid AS (
             SELECT s.funder_id, l.voucher_id, sum(s.amount_cents) AS cents
               FROM statement_line_shares s
               JOIN statement_lines l ON l.tenant_id = s.tenant_id AND l.statement_id = s.statement_id
                                     AND l.line_no = s.line_no
              WHERE s.tenant_id = $1 GROUP BY 1, 2)
         SELECT e.funder_id, sum(e.cents)::bigint, coalesce(sum(p.cents), 0)::bigint,
                coalesce(sum(e.cents - coalesce(p.cents, 0)) FILTER (WHERE e.ended), 0)::bigint
           FROM expected e LEFT JOIN paid p ON p.funder_id = e.funder_id AND p.voucher_id = e.voucher_id
          GROUP BY e.funder_id",
    )
    .bind(lot.tenant_id())
    .fetch_all(&mut *tx)
    .await
    .expect("independent");
    let (face, lines): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT sum(face_value_cents) FROM vouchers WHERE tenant_id = $1)::bigint,
                (SELECT sum(amount_cents) FROM statement_lines WHERE tenant_id = $1)::bigint",
    )
    .bind(lot.tenant_id())
    .fetch_one(&mut *tx)
    .await
    .expect("totals");
    tx.commit().await.expect("commit");
    assert_eq!(independent.len(), 2);
    for (funder, committed, consumed, released) in independent {
        let row = report
            .funders
            .iter()
            .find(|f| f.funder_id == funder)
            .expect("the funder's row");
        assert_eq!(
            (
                row.figures.committed_cents,
                row.figures.consumed_cents,
                row.figures.released_cents
            ),
            (committed, consumed, released),
            "{}",
            row.name
        );
    }
    assert_eq!(report.total.committed_cents, face);
    assert_eq!(report.total.consumed_cents, lines);
    // The European fund: 100 € committed on each voucher; its 30 € cap reached in October, on
    // whichever voucher's line came first; what the CCAS's voucher did not use goes back, the
    // rest is outstanding on the CAF's. The cap is far below what the plan commits: the report
    // says so with a negative remainder.
    let fse = report
        .funders
        .iter()
        .find(|f| f.funder_id == lot.fse)
        .expect("fse");
    assert_eq!(fse.figures.committed_cents, 20_000);
    assert_eq!(fse.figures.consumed_cents, FSE_CAP);
    assert_eq!(
        fse.figures.released_cents + fse.figures.outstanding_cents,
        20_000 - FSE_CAP
    );
    assert!(fse.figures.released_cents >= 8_000, "{fse:?}");
    assert_eq!(fse.envelope_cents, Some(FSE_CAP));
    assert_eq!(
        fse.remaining_cents,
        Some(FSE_CAP - fse.figures.consumed_cents - fse.figures.outstanding_cents)
    );
    // The territory is the rest, and every party adds up to the whole.
    let parts: i64 = report
        .funders
        .iter()
        .map(|f| f.figures.released_cents)
        .sum::<i64>()
        + report.territory.released_cents;
    assert_eq!(parts, report.total.released_cents);
}

#[tokio::test]
async fn a_funders_staff_see_their_funders_vouchers_only() {
    let lot = Cofinanced::new().await;
    let db = lot.db();
    passerelle_core::statistics::set_threshold(db, lot.tenant_id(), Actor::SYSTEM, 1)
        .await
        .expect("threshold");
    let issued = |board: &passerelle_core::statistics::dashboard::Dashboard| {
        board
            .categories
            .iter()
            .map(|c| c.issued.unwrap_or(0))
            .sum::<i64>()
    };
    let whole = passerelle_core::statistics::dashboard::dashboard(db, lot.tenant_id(), None, None)
        .await
        .expect("the territory's board");
    // Issued today (then backdated to January): both vouchers are the territory's, one the CAF's.
    let month_total = |board: &passerelle_core::statistics::dashboard::Dashboard| {
        board
            .months
            .iter()
            .map(|m| m.issued.unwrap_or(0))
            .sum::<i64>()
    };
    assert_eq!(issued(&whole), month_total(&whole));
    let caf =
        passerelle_core::statistics::dashboard::dashboard(db, lot.tenant_id(), None, Some(lot.caf))
            .await
            .expect("the CAF's board");
    let fse =
        passerelle_core::statistics::dashboard::dashboard(db, lot.tenant_id(), None, Some(lot.fse))
            .await
            .expect("the fund's board");
    assert_eq!(issued(&fse), issued(&whole));
    assert_eq!(
        issued(&caf),
        issued(&whole) - 1,
        "the CCAS's voucher is not the CAF's"
    );

    // A user's scope: the funder it is bound to, and only a funder user can be bound.
    let user = passerelle_core::tenancy::users::create(
        db,
        lot.tenant_id(),
        &passerelle_core::tenancy::users::NewUser {
            email: "analyste@caf46.example".into(),
            display_name: "Analyste CAF".into(),
            role: passerelle_core::tenancy::Role::Funder,
            prescriber_id: None,
            epn_id: None,
        },
    )
    .await
    .expect("funder user");
    assert_eq!(
        funders::scope_of(db, lot.tenant_id(), user.id)
            .await
            .expect("scope"),
        None
    );
    funders::assign_user(db, lot.tenant_id(), Actor::SYSTEM, user.id, Some(lot.caf))
        .await
        .expect("bound");
    assert_eq!(
        funders::scope_of(db, lot.tenant_id(), user.id)
            .await
            .expect("scope"),
        Some(lot.caf)
    );
    let agent = passerelle_core::tenancy::users::create(
        db,
        lot.tenant_id(),
        &passerelle_core::tenancy::users::NewUser {
            email: "finances@lot.example".into(),
            display_name: "Finances".into(),
            role: passerelle_core::tenancy::Role::Finance,
            prescriber_id: None,
            epn_id: None,
        },
    )
    .await
    .expect("finance user");
    let err = funders::assign_user(db, lot.tenant_id(), Actor::SYSTEM, agent.id, Some(lot.caf))
        .await
        .expect_err("only a funder user");
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    // Another tenant's funder cannot be bound.
    let other = World::new().await;
    let stranger = funders::create(
        other.db(),
        other.tenant.id,
        Actor::SYSTEM,
        &NewFunder {
            name: "Ailleurs".into(),
            kind: FunderKind::Other,
            siret: None,
        },
    )
    .await
    .expect("stranger")
    .id;
    let err = funders::assign_user(db, lot.tenant_id(), Actor::SYSTEM, user.id, Some(stranger))
        .await
        .expect_err("another tenant's funder");
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    // A change of role drops the binding.
    passerelle_core::tenancy::users::update(
        db,
        lot.tenant_id(),
        Actor::SYSTEM,
        user.id,
        passerelle_core::tenancy::users::UserChanges {
            role: Some(passerelle_core::tenancy::Role::Finance),
            ..Default::default()
        },
    )
    .await
    .expect("role changed");
    assert_eq!(
        funders::scope_of(db, lot.tenant_id(), user.id)
            .await
            .expect("scope"),
        None
    );
}

fn export_euros(cents: i64) -> String {
    reimbursements::export::euros(cents)
}

#[tokio::test]
async fn a_plan_is_versioned_and_refuses_what_cannot_be_paid() {
    let lot = Cofinanced::new().await;
    let today = lot.world.tenant.today();
    // Same date twice: refused with its own refusal.
    let err = plan::change(
        lot.db(),
        lot.tenant_id(),
        Actor::SYSTEM,
        lot.scheme_id,
        today,
        &[],
    )
    .await
    .expect_err("same date");
    assert!(
        matches!(err, Error::Refused(Refusal::FundingDateTaken)),
        "{err:?}"
    );
    // In the past: refused.
    let err = plan::change(
        lot.db(),
        lot.tenant_id(),
        Actor::SYSTEM,
        lot.scheme_id,
        today - chrono::Days::new(1),
        &[],
    )
    .await
    .expect_err("past");
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    // Another tenant's funder: refused as unknown.
    let other = World::new().await;
    let stranger = funders::create(
        other.db(),
        other.tenant.id,
        Actor::SYSTEM,
        &NewFunder {
            name: "Commune voisine".into(),
            kind: FunderKind::Commune,
            siret: None,
        },
    )
    .await
    .expect("stranger")
    .id;
    let err = plan::change(
        lot.db(),
        lot.tenant_id(),
        Actor::SYSTEM,
        lot.scheme_id,
        today + chrono::Days::new(30),
        &[FundingLine {
            funder_id: stranger,
            share: FundingShare::BasisPoints(1_000),
            cap_cents: None,
            period_start: None,
            period_end: None,
            eligible_publics: None,
            eligible_prescribers: None,
        }],
    )
    .await
    .expect_err("another tenant's funder");
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    // A new version from next month: the vouchers already issued keep the first one's funders.
    let versions = plan::change(
        lot.db(),
        lot.tenant_id(),
        Actor::SYSTEM,
        lot.scheme_id,
        today + chrono::Days::new(30),
        &[],
    )
    .await
    .expect("second version");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].lines.len(), 2);
    assert!(versions[1].lines.is_empty());
    let mut tx = lot.db().begin_tenant(lot.tenant_id()).await.expect("tx");
    let kept: Vec<(String, i32, Uuid)> = sqlx::query_as(
        "SELECT v.reference, vf.funding_version, vf.funder_id FROM voucher_funders vf
           JOIN vouchers v ON v.tenant_id = vf.tenant_id AND v.id = vf.voucher_id
          WHERE vf.tenant_id = $1 ORDER BY v.reference, vf.position",
    )
    .bind(lot.tenant_id())
    .fetch_all(&mut *tx)
    .await
    .expect("voucher funders");
    tx.commit().await.expect("commit");
    let mut expected = vec![
        (lot.ccas_voucher.reference.clone(), 1, lot.fse),
        (lot.caf_voucher.reference.clone(), 1, lot.fse),
        (lot.caf_voucher.reference.clone(), 1, lot.caf),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(kept, expected);
    // Another tenant sees none of these funders.
    assert!(
        funders::list(other.db(), other.tenant.id)
            .await
            .expect("list")
            .len()
            == 1
    );
    assert!(matches!(
        funders::get(other.db(), other.tenant.id, lot.fse).await,
        Err(Error::NotFound(_))
    ));
}

/// A commune that pays a fixed amount per voucher takes, from each line, the share of the line
/// that amount is of the voucher's face value; its earlier, approved shares count against it.
#[tokio::test]
async fn a_fixed_amount_per_voucher_is_taken_in_proportion_to_the_face_value() {
    let lot = Cofinanced::new().await;
    let (db, tenant_id) = (lot.db(), lot.tenant_id());
    let commune = funders::create(
        db,
        tenant_id,
        Actor::SYSTEM,
        &NewFunder {
            name: "Commune de Capdenac".into(),
            kind: FunderKind::Commune,
            siret: None,
        },
    )
    .await
    .expect("commune")
    .id;
    // The first plan took effect a month ago; from today, the commune pays 5 € of each 200 €
    // voucher: 2.5 % of every line.
    let mut tx = lot.world.test.owner.begin().await.expect("tx");
    passerelle_core::storage::set_tenant(&mut tx, tenant_id)
        .await
        .expect("tenant");
    sqlx::query(
        "UPDATE scheme_fundings SET effective_from = effective_from - 30 WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .execute(&mut *tx)
    .await
    .expect("first plan a month ago");
    tx.commit().await.expect("commit");
    plan::change(
        db,
        tenant_id,
        Actor::SYSTEM,
        lot.scheme_id,
        lot.world.tenant.today(),
        &[FundingLine {
            funder_id: commune,
            share: FundingShare::FixedPerVoucher(500),
            cap_cents: None,
            period_start: None,
            period_end: None,
            eligible_publics: None,
            eligible_prescribers: None,
        }],
    )
    .await
    .expect("second plan");
    let ccas = lot
        .world
        .prescriber("CCAS de Capdenac", PrescriberKind::Ccas, None)
        .await;
    lot.world.allocate(ccas, lot.scheme_id, 10, 0).await;
    let voucher = issue_in_january(&lot.world, ccas, lot.scheme_id, lot.epn_id, "Lefebvre").await;
    let (sept, oct) = (day(2026, 9, 1), day(2026, 10, 1));
    let september = lot.session(day(2026, 9, 10)).await;
    lot.attend(september, &voucher).await;
    lot.attend(september, &lot.ccas_voucher).await;
    reimbursements::run_month(db, tenant_id, sept)
        .await
        .expect("september");
    lot.approve(sept).await;
    let october = lot.session(day(2026, 10, 8)).await;
    lot.attend(october, &voucher).await;
    reimbursements::run_month(db, tenant_id, oct)
        .await
        .expect("october");

    let mut tx = db.begin_tenant(tenant_id).await.expect("tx");
    let by_line: Vec<(NaiveDate, String, i64, i64)> = sqlx::query_as(
        "SELECT st.month, l.voucher_reference, l.amount_cents,
                coalesce(sum(sh.amount_cents) FILTER (WHERE sh.funder_id = $2), 0)::bigint
           FROM statement_lines l
           JOIN statements st ON st.tenant_id = l.tenant_id AND st.id = l.statement_id
           LEFT JOIN statement_line_shares sh ON sh.tenant_id = l.tenant_id AND sh.statement_id = l.statement_id
                                             AND sh.line_no = l.line_no
          WHERE l.tenant_id = $1
          GROUP BY st.month, l.line_no, l.voucher_reference, l.amount_cents
          ORDER BY st.month, l.voucher_reference",
    )
    .bind(tenant_id)
    .bind(commune)
    .fetch_all(&mut *tx)
    .await
    .expect("shares");
    tx.commit().await.expect("commit");
    let mut expected = vec![
        (sept, voucher.reference.clone(), 2_000, 50),
        (sept, lot.ccas_voucher.reference.clone(), 2_000, 0),
        (oct, voucher.reference.clone(), 2_000, 50),
    ];
    expected.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    assert_eq!(by_line, expected);
    let claimed = funder_claims::lines(db, tenant_id, commune, sept, oct)
        .await
        .expect("claim");
    assert_eq!(claimed.iter().map(|l| l.share_cents).sum::<i64>(), 50);
}
