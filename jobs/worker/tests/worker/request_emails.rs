//! The person who filled the public request form hears back by email: the confirmation when they
//! send it, and the reason when the EPN declines, at the address they gave even though a declined
//! request's details are wiped.

use std::time::Duration;

use passerelle_core::audit::Actor;
use passerelle_core::beneficiaries::NewBeneficiary;
use passerelle_core::delivery::accompaniment::{self, PublicRequest, Scope};
use passerelle_core::epns;
use passerelle_core::pagination::PageRequest;
use passerelle_core::schemes::{self, NewScheme, SchemeStatus};

use crate::harness::{Harness, Mail};

#[tokio::test]
async fn the_person_gets_a_confirmation_then_the_reason_of_a_refusal() {
    let h = Harness::new().await;
    let db = &h.db.app;
    let tenant_id = h.tenant.id;
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
    .expect("scheme");
    schemes::set_status(
        db,
        tenant_id,
        Actor::SYSTEM,
        scheme.scheme.id,
        SchemeStatus::Active,
    )
    .await
    .expect("active");
    let figeac = epns::list(
        db,
        tenant_id,
        PageRequest::parse(Some(10), None).expect("page"),
    )
    .await
    .expect("epns")
    .items
    .into_iter()
    .find(|e| e.name == "EPN de Figeac")
    .expect("Figeac");
    epns::set_offer(
        db,
        tenant_id,
        Actor::SYSTEM,
        figeac.id,
        scheme.scheme.id,
        &[1],
    )
    .await
    .expect("offer");
    let receipt = accompaniment::request_public(
        db,
        &h.tenant.slug,
        "pass-numerique",
        &PublicRequest {
            epn_id: figeac.id,
            person: NewBeneficiary {
                first_name: "Odette".into(),
                last_name: "Lasserre".into(),
                birth_year: 1951,
                email: Some("odette@example.org".into()),
                ..NewBeneficiary::default()
            },
            postal_code: Some("46100".into()),
            commune_name: Some("Figeac".into()),
            ..PublicRequest::default()
        },
    )
    .await
    .expect("request");
    assert!(receipt.confirmation_sent);

    let worker = h.start_worker();
    let received = h.smtp.wait_for(1, Duration::from_secs(20)).await;
    let confirmation = Mail::parse(&received[0]);
    assert_eq!(confirmation.to, ["odette@example.org".to_owned()]);
    assert!(
        confirmation
            .subject
            .contains("demande d’accompagnement est bien reçue"),
        "{}",
        confirmation.subject
    );
    for needle in [
        "Bonjour Odette",
        "EPN de Figeac",
        "05 65 50 05 40",
        "Pass Numérique",
    ] {
        assert!(
            confirmation.text.contains(needle),
            "{needle} in:\n{}",
            confirmation.text
        );
        assert!(
            confirmation.html.contains(needle),
            "{needle} in the HTML part"
        );
    }

    accompaniment::decline(
        db,
        tenant_id,
        Scope::Epn(figeac.id),
        Actor::SYSTEM,
        receipt.request.id,
        "Nos ateliers sont complets jusqu’en mars.",
    )
    .await
    .expect("decline");
    let received = h.smtp.wait_for(2, Duration::from_secs(20)).await;
    let refusal = Mail::parse(&received[1]);
    assert_eq!(refusal.to, ["odette@example.org".to_owned()]);
    assert!(
        refusal.subject.contains("réponse à votre demande"),
        "{}",
        refusal.subject
    );
    assert!(
        refusal
            .text
            .contains("Nos ateliers sont complets jusqu’en mars."),
        "{}",
        refusal.text
    );
    assert!(
        refusal.text.contains("/territoires/"),
        "a way to ask elsewhere: {}",
        refusal.text
    );
    worker.stop().await;
}
