//! The EPN's contact hears from the territory's finance: when its statement is approved, then
//! when it is paid, at the EPN's address read when the message leaves. An EPN with no address has
//! its statements in its portal, and the message is cancelled with the reason.

use std::time::Duration;

use passerelle_core::audit::Actor;
use passerelle_core::delivery::AttendanceStatus;
use passerelle_core::delivery::attendance::{self, Entry};
use passerelle_core::delivery::registration::{self, Interview, RegisterRequest};
use passerelle_core::delivery::sessions::{self, NewSession};
use passerelle_core::emails::outbox::{EmailStatus, Kind};
use passerelle_core::epns::{self, BankDetails, EpnDetails};
use passerelle_core::reimbursements::{self, StatementFilter};
use uuid::Uuid;

use crate::harness::{Harness, Mail};

/// An EPN of the harness's scheme, with `emails` as its contacts, where one voucher attended two
/// hours this month.
async fn epn_with_a_month(h: &Harness, name: &str, emails: &[&str]) -> Uuid {
    let db = &h.db.app;
    let epn = epns::create(
        db,
        h.tenant.id,
        Actor::SYSTEM,
        &EpnDetails {
            name: name.into(),
            emails: emails.iter().map(|e| (*e).to_owned()).collect(),
            ..EpnDetails::default()
        },
    )
    .await
    .expect("epn");
    let all_modules: Vec<i32> = (1..=10).collect();
    epns::set_offer(
        db,
        h.tenant.id,
        Actor::SYSTEM,
        epn.id,
        h.scheme_id,
        &all_modules,
    )
    .await
    .expect("offer");
    let voucher = h.issue("Jeanne", None, false).await;
    let last_name: String = {
        let mut tx = db.begin_tenant(h.tenant.id).await.expect("tx");
        let name = sqlx::query_scalar(
            "SELECT b.last_name FROM vouchers v JOIN beneficiaries b ON b.tenant_id = v.tenant_id AND b.id = v.beneficiary_id WHERE v.id = $1",
        )
        .bind(voucher.id)
        .fetch_one(&mut *tx)
        .await
        .expect("holder");
        tx.commit().await.expect("commit");
        name
    };
    registration::register(
        db,
        h.tenant.id,
        epn.id,
        Actor::SYSTEM,
        &RegisterRequest {
            reference: voucher.reference.clone(),
            last_name,
            interview: Interview {
                on: Some(h.tenant.today()),
                minutes: Some(30),
                ..Interview::default()
            },
            modules: all_modules,
        },
    )
    .await
    .expect("registered");
    let session = sessions::create(
        db,
        h.tenant.id,
        epn.id,
        Actor::SYSTEM,
        &NewSession {
            scheme_id: h.scheme_id,
            module_number: Some(1),
            starts_at: chrono::Utc::now(),
            duration_minutes: Some(120),
            capacity: 5,
            animator: None,
            place: None,
        },
    )
    .await
    .expect("session");
    sessions::enrol(
        db,
        h.tenant.id,
        epn.id,
        session.id,
        &voucher.reference,
        false,
    )
    .await
    .expect("enrol");
    attendance::record(
        db,
        h.tenant.id,
        epn.id,
        Actor::SYSTEM,
        session.id,
        &[Entry {
            reference: voucher.reference,
            status: AttendanceStatus::Present,
            competences: vec![],
            off_path: false,
        }],
    )
    .await
    .expect("attendance");
    epn.id
}

#[tokio::test]
async fn the_epn_is_told_when_its_statement_is_approved_then_paid() {
    let h = Harness::new().await;
    let db = &h.db.app;
    let gourdon = epn_with_a_month(&h, "EPN de Gourdon", &["compta@epn-gourdon.example"]).await;
    epns::set_bank_details(
        db,
        h.tenant.id,
        Actor::SYSTEM,
        gourdon,
        &BankDetails {
            iban: "FR76 3000 6000 0112 3456 7890 189".into(),
            bic: None,
            account_holder: "Commune de Gourdon".into(),
        },
    )
    .await
    .expect("bank");
    let silent = epn_with_a_month(&h, "Tiers-lieu sans adresse", &[]).await;
    reimbursements::run_month(db, h.tenant.id, h.tenant.today())
        .await
        .expect("month");
    let statements = reimbursements::list(db, h.tenant.id, &StatementFilter::default())
        .await
        .expect("statements");
    let of = |epn: Uuid| {
        statements
            .iter()
            .find(|s| s.epn_id == epn)
            .expect("a statement")
            .clone()
    };
    let (to_gourdon, to_silent) = (of(gourdon), of(silent));
    for statement in [&to_gourdon, &to_silent] {
        reimbursements::approve(db, h.tenant.id, Actor::SYSTEM, statement.id)
            .await
            .expect("approve");
    }
    // Approving again is refused and tells nobody twice.
    assert!(
        reimbursements::approve(db, h.tenant.id, Actor::SYSTEM, to_gourdon.id)
            .await
            .is_err()
    );

    let worker = h.start_worker();
    let received = h.smtp.wait_for(1, Duration::from_secs(20)).await;
    let approved = Mail::parse(&received[0]);
    assert_eq!(approved.to, ["compta@epn-gourdon.example".to_owned()]);
    assert!(
        approved.subject.contains(&to_gourdon.reference) && approved.subject.contains("validé"),
        "{}",
        approved.subject
    );
    for needle in ["EPN de Gourdon", "20,00 €", "FR76…0189"] {
        assert!(
            approved.text.contains(needle),
            "{needle} in:\n{}",
            approved.text
        );
        assert!(approved.html.contains(needle), "{needle} in the HTML part");
    }
    let link = format!(
        "https://passerelle.example.fr/portail/lot/releve/{}",
        to_gourdon.id
    );
    assert!(
        approved.text.contains(&link),
        "{link} in:\n{}",
        approved.text
    );
    assert!(approved.html.contains("Voir le relevé"));
    // The EPN with no address: nothing sent, and the log says why.
    let rows = h
        .wait_outbox("both approvals finished", |m| {
            m.status != EmailStatus::Pending
        })
        .await;
    let silent_row = rows
        .iter()
        .find(|m| m.statement_id == Some(to_silent.id))
        .expect("a message about the silent EPN's statement");
    assert_eq!(silent_row.status, EmailStatus::Cancelled);
    assert!(
        silent_row
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("no contact address"),
        "{silent_row:?}"
    );

    reimbursements::mark_paid(
        db,
        h.tenant.id,
        Actor::SYSTEM,
        to_gourdon.id,
        h.tenant.today(),
        "VIR-2026-204",
    )
    .await
    .expect("paid");
    let received = h.smtp.wait_for(2, Duration::from_secs(20)).await;
    let paid = Mail::parse(&received[1]);
    assert_eq!(paid.to, ["compta@epn-gourdon.example".to_owned()]);
    assert!(paid.subject.contains("payé"), "{}", paid.subject);
    for needle in ["VIR-2026-204", "20,00 €", "FR76…0189"] {
        assert!(paid.text.contains(needle), "{needle} in:\n{}", paid.text);
    }
    let rows = h.outbox().await;
    let kinds: Vec<Kind> = rows
        .iter()
        .filter(|m| m.statement_id == Some(to_gourdon.id))
        .map(|m| m.kind)
        .collect();
    assert_eq!(kinds, [Kind::StatementApproved, Kind::StatementPaid]);
    worker.stop().await;
    h.assert_no_job_left_behind().await;
}
