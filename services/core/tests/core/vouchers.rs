//! Issuance, quotas, cancellation, rule versions and the public balance check, on a real database.

use chrono::Days;
use passerelle_core::audit::Actor;
use passerelle_core::beneficiaries::NewBeneficiary;
use passerelle_core::schemes::{self};
use passerelle_core::tenancy::tenants::{self};
use passerelle_core::vouchers::{self, Holder, Visibility, VoucherStatus};
use passerelle_core::{Db, Error, Refusal};
use passerelle_test_support::world::World;
use uuid::Uuid;

struct Setup {
    world: World,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    scheme_id: Uuid,
}

/// The Lot with an active Ticket Net and a CAF holding `quantity` vouchers of it.
async fn setup(quantity: i32) -> Setup {
    let world = World::new().await;
    let prescriber_id = world
        .prescriber(
            "CAF du Lot",
            passerelle_core::prescribers::PrescriberKind::Caf,
            Some("53478519700011"),
        )
        .await;
    let scheme_id = world.ticket_net("ticket-net-2027", 0).await;
    world.allocate(prescriber_id, scheme_id, quantity, 30).await;
    Setup {
        tenant_id: world.tenant.id,
        prescriber_id,
        scheme_id,
        world,
    }
}

fn person(last_name: &str) -> NewBeneficiary {
    World::person(last_name)
}

async fn issue(s: &Setup, holder: Holder) -> Result<vouchers::Issued, Error> {
    s.world.issue(s.prescriber_id, s.scheme_id, holder).await
}

async fn count(db: &Db, tenant_id: Uuid, sql: &'static str) -> i64 {
    let mut tx = db.begin_tenant(tenant_id).await.expect("tx");
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    n
}

#[tokio::test]
async fn concurrent_issuance_never_exceeds_the_allocation() {
    let s = setup(5).await;
    let attempts = (0..20).map(|i| issue(&s, Holder::New(person(&format!("Martin{i}")))));
    let results = futures::future::join_all(attempts).await;
    let issued = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(issued, 5);
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        match refused {
            Error::Refused(Refusal::AllocationUsedUp { issued, quantity }) => {
                assert_eq!((*issued, *quantity), (5, 5))
            }
            other => panic!("unexpected refusal: {other:?}"),
        }
    }
    assert_eq!(
        count(
            &s.world.test.app,
            s.tenant_id,
            "SELECT count(*) FROM vouchers"
        )
        .await,
        5
    );
    assert_eq!(
        count(
            &s.world.test.app,
            s.tenant_id,
            "SELECT issued::bigint FROM allocations"
        )
        .await,
        5
    );
    // The refused attempts left no beneficiary and no audit entry behind: one transaction each.
    assert_eq!(
        count(
            &s.world.test.app,
            s.tenant_id,
            "SELECT count(*) FROM beneficiaries"
        )
        .await,
        5
    );
    assert_eq!(
        count(
            &s.world.test.app,
            s.tenant_id,
            "SELECT count(*) FROM audit_log WHERE action = 'beneficiary.created'"
        )
        .await,
        5
    );
    assert_eq!(
        count(
            &s.world.test.app,
            s.tenant_id,
            "SELECT count(*) FROM audit_log WHERE action = 'voucher.issued'"
        )
        .await,
        5
    );
}

#[tokio::test]
async fn a_voucher_keeps_its_rules_and_its_holder() {
    let s = setup(10).await;
    let db = &s.world.test.app;
    let first = issue(&s, Holder::New(person("Martin")))
        .await
        .expect("issued");
    assert_eq!(first.voucher.rules_version, 1);
    assert_eq!(first.voucher.minutes_left, 1_200);
    assert_eq!(first.voucher.face_value_cents, 20_000);
    assert!(first.voucher.reference.starts_with("LOT-"));
    assert_eq!(
        first.voucher.valid_until,
        first
            .voucher
            .issued_on
            .checked_add_months(chrono::Months::new(12))
            .expect("date")
    );

    let tomorrow = tenants::get(db, s.tenant_id).await.expect("tenant").today() + Days::new(1);
    let mut rules = schemes::get(db, s.tenant_id, s.scheme_id)
        .await
        .expect("scheme")
        .current
        .expect("current")
        .rules
        .0;
    rules.voucher_minutes = 600;
    rules.modules_to_choose = 5;
    let changed =
        schemes::change_rules(db, s.tenant_id, Actor::SYSTEM, s.scheme_id, tomorrow, rules)
            .await
            .expect("new version");
    assert_eq!(changed.versions.len(), 2);
    assert_eq!(
        changed.current.expect("current").version,
        1,
        "version 2 starts tomorrow"
    );

    let again = vouchers::get(
        db,
        s.tenant_id,
        &first.voucher.reference,
        Visibility::Tenant,
    )
    .await
    .expect("voucher");
    assert_eq!((again.rules_version, again.minutes_total), (1, 1_200));

    let mut tx = db.begin_tenant(s.tenant_id).await.expect("tx");
    let err = sqlx::query("UPDATE vouchers SET beneficiary_id = $1 WHERE id = $2")
        .bind(Uuid::now_v7())
        .bind(first.voucher.id)
        .execute(&mut *tx)
        .await
        .expect_err("the holder of a voucher cannot change");
    assert!(err.to_string().contains("nominative"), "{err}");

    let past = schemes::change_rules(
        db,
        s.tenant_id,
        Actor::SYSTEM,
        s.scheme_id,
        tomorrow - Days::new(2),
        again_rules(db, &s).await,
    )
    .await;
    assert!(matches!(past, Err(Error::Invalid(_))), "{past:?}");
}

async fn again_rules(db: &Db, s: &Setup) -> schemes::SchemeRules {
    schemes::get(db, s.tenant_id, s.scheme_id)
        .await
        .expect("scheme")
        .versions[0]
        .rules
        .0
        .clone()
}

#[tokio::test]
async fn cancellation_returns_the_place_and_needs_a_reason() {
    let s = setup(1).await;
    let db = &s.world.test.app;
    let issued = issue(&s, Holder::New(person("Martin")))
        .await
        .expect("issued");
    assert!(matches!(
        issue(&s, Holder::New(person("Durand"))).await,
        Err(Error::Refused(Refusal::AllocationUsedUp { .. }))
    ));

    let reference = issued.voucher.reference.to_lowercase();
    let no_reason = vouchers::cancel(
        db,
        s.tenant_id,
        Actor::SYSTEM,
        &reference,
        " ",
        Visibility::Tenant,
    )
    .await;
    assert!(matches!(no_reason, Err(Error::Invalid(_))));
    let other_prescriber = vouchers::cancel(
        db,
        s.tenant_id,
        Actor::SYSTEM,
        &reference,
        "erreur",
        Visibility::Prescriber(Uuid::now_v7()),
    )
    .await;
    assert!(matches!(other_prescriber, Err(Error::NotFound(_))));
    let cancelled = vouchers::cancel(
        db,
        s.tenant_id,
        Actor::SYSTEM,
        &reference,
        "erreur de saisie",
        Visibility::Tenant,
    )
    .await
    .expect("cancelled");
    assert_eq!(cancelled.status, VoucherStatus::Cancelled);
    assert!(matches!(
        vouchers::cancel(
            db,
            s.tenant_id,
            Actor::SYSTEM,
            &reference,
            "encore",
            Visibility::Tenant
        )
        .await,
        Err(Error::Refused(Refusal::VoucherAlreadyCancelled))
    ));
    issue(&s, Holder::New(person("Durand")))
        .await
        .expect("the place came back");

    // Used time forbids cancellation.
    let used = issue(&s, Holder::Existing(issued.beneficiary.id)).await;
    assert!(
        matches!(used, Err(Error::Refused(Refusal::AllocationUsedUp { .. }))),
        "allocation of 1 is used again"
    );
}

#[tokio::test]
async fn time_used_forbids_cancellation() {
    let s = setup(2).await;
    let db = &s.world.test.app;
    let issued = issue(&s, Holder::New(person("Martin")))
        .await
        .expect("issued");
    let mut tx = db.begin_tenant(s.tenant_id).await.expect("tx");
    sqlx::query("UPDATE vouchers SET minutes_left = minutes_left - 120, status = 'in_progress' WHERE id = $1")
        .bind(issued.voucher.id)
        .execute(&mut *tx)
        .await
        .expect("use two hours");
    tx.commit().await.expect("commit");
    let refused = vouchers::cancel(
        db,
        s.tenant_id,
        Actor::SYSTEM,
        &issued.voucher.reference,
        "trop tard",
        Visibility::Tenant,
    )
    .await;
    match refused {
        Err(Error::Refused(Refusal::VoucherInUse {
            minutes_left,
            minutes_total,
            ..
        })) => assert_eq!((minutes_left, minutes_total), (1080, 1200)),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn probable_duplicates_are_reported() {
    let s = setup(5).await;
    issue(&s, Holder::New(person("Martin")))
        .await
        .expect("first");
    let mut same = person("MARTIN");
    same.first_name = "jeanne".into();
    match issue(&s, Holder::New(same.clone())).await {
        Err(Error::Refused(Refusal::ProbableDuplicate { .. })) => {}
        other => panic!("expected a duplicate report, got {other:?}"),
    }
    same.allow_duplicate = true;
    issue(&s, Holder::New(same))
        .await
        .expect("confirmed as another person");
}

#[tokio::test]
async fn the_public_balance_reveals_nothing_without_the_right_name() {
    let s = setup(5).await;
    let db = &s.world.test.app;
    let issued = issue(&s, Holder::New(person("Hélène-Martin")))
        .await
        .expect("issued");
    let reference = issued.voucher.reference.clone();

    let balance = vouchers::public_balance(db, &reference, "helene martin")
        .await
        .expect("check")
        .expect("found");
    assert_eq!(balance.minutes_left, 1_200);
    assert_eq!(balance.status, VoucherStatus::Issued);
    assert_eq!(balance.valid_until, issued.voucher.valid_until);

    let unknown = passerelle_core::vouchers::reference::generate("LOT");
    for (reference, name) in [
        (reference.as_str(), "Durand"),
        (unknown.as_str(), "Hélène-Martin"),
        ("LOT-0000-0000-0", "Hélène-Martin"),
        ("XYZ-2345-6789-A", "Hélène-Martin"),
    ] {
        assert_eq!(
            vouchers::public_balance(db, reference, name)
                .await
                .expect("check"),
            None,
            "{reference} {name}"
        );
    }
}
