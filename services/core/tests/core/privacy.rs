//! A person's data, gone when it must be: erasure leaves them in no column of any table, and the
//! retention purge erases holders whose last voucher ended long ago.

use chrono::Utc;
use chrono_tz::Europe::Paris;
use passerelle_core::audit::Actor;
use passerelle_core::beneficiaries::{self, NewBeneficiary, PublicCategory};
use passerelle_core::delivery::registration::{self, Interview, RegisterRequest};
use passerelle_core::idempotency::{self, Scope, StoredResponse};
use passerelle_core::retention;
use passerelle_core::vouchers::{self, Holder, IssueRequest};
use uuid::Uuid;

use crate::delivery::{Delivery, delivery};

const FIRST: &str = "Zéphirine";
const LAST: &str = "Quattrocchi";
const EMAIL: &str = "zephirine.quattrocchi@example.org";
const PHONE: &str = "0611223344";
const NEEDS: &str = "Écrire à sa fille Zéphirine-Anne à Lyon";

/// A holder with every kind of personal data, spread the way the product spreads it.
async fn spread_a_person(d: &Delivery) -> (Uuid, String) {
    let issued = vouchers::issue(
        d.db(),
        d.tenant_id,
        d.prescriber_id,
        Actor::SYSTEM,
        &IssueRequest {
            scheme_id: d.scheme_id,
            holder: Holder::New(NewBeneficiary {
                first_name: FIRST.into(),
                last_name: LAST.into(),
                birth_year: 1950,
                commune_insee: "46102".into(),
                public_category: PublicCategory::Senior,
                email: Some(EMAIL.into()),
                phone: Some(PHONE.into()),
                email_consent: true,
                ..NewBeneficiary::default()
            }),
            participation_fee_cents: 0,
        },
    )
    .await
    .expect("issued");
    let beneficiary_id = issued.beneficiary.id;
    let reference = issued.voucher.reference.clone();
    registration::register(
        d.db(),
        d.tenant_id,
        d.epn_id,
        Actor::SYSTEM,
        &RegisterRequest {
            reference: reference.clone(),
            last_name: LAST.into(),
            interview: Interview {
                on: Some(Utc::now().with_timezone(&Paris).date_naive()),
                minutes: Some(30),
                autonomy_level: Some(passerelle_core::delivery::AutonomyLevel::Beginner),
                needs: Some(NEEDS.into()),
                notes: Some(format!("Appeler au {PHONE}")),
            },
            modules: (1..=10).collect(),
        },
    )
    .await
    .expect("registered");
    // An accompaniment request about the person, as a prescriber files one (Ticket Net offers
    // none: written as the request code writes it).
    let mut tx = d.db().begin_tenant(d.tenant_id).await.expect("tx");
    sqlx::query(
        "INSERT INTO accompaniment_requests (tenant_id, id, scheme_id, epn_id, channel, prescriber_id,
                                             beneficiary_id, message)
         VALUES ($1, $2, $3, $4, 'prescriber', $5, $6, $7)",
    )
    .bind(d.tenant_id)
    .bind(Uuid::now_v7())
    .bind(d.scheme_id)
    .bind(d.epn_id)
    .bind(d.prescriber_id)
    .bind(beneficiary_id)
    .bind(format!("{FIRST} voudrait écrire à sa fille"))
    .execute(&mut *tx)
    .await
    .expect("accompaniment request");
    // The EPN's orientation note at the end of the journey (written as the orientation code
    // writes it: no session is attended here).
    sqlx::query(
        "INSERT INTO voucher_orientations (tenant_id, voucher_id, kind, note, epn_id)
         SELECT $1, id, 'pix', $2, $3 FROM vouchers WHERE reference = $4",
    )
    .bind(d.tenant_id)
    .bind(format!("Test PIX : {FIRST} rappellera au {PHONE}"))
    .bind(d.epn_id)
    .bind(&reference)
    .execute(&mut *tx)
    .await
    .expect("orientation");
    tx.commit().await.expect("commit");
    // As the worker leaves them: the welcome email sent to the address, which later bounced onto
    // the suppression list.
    let mut tx = d.db().begin_tenant(d.tenant_id).await.expect("tx");
    sqlx::query(
        "UPDATE email_outbox SET status = 'sent', recipient = $1, sent_at = now(), finished_at = now(),
                smtp_message_id = '<welcome@passerelle.example>',
                smtp_response = '250 2.0.0 Ok: queued for ' || $1",
    )
    .bind(EMAIL)
    .execute(&mut *tx)
    .await
    .expect("sent");
    sqlx::query(
        "INSERT INTO email_suppressions (tenant_id, address, reason) VALUES ($1, $2, '550 ' || $2 || ' unknown')",
    )
    .bind(d.tenant_id)
    .bind(EMAIL)
    .execute(&mut *tx)
    .await
    .expect("suppressed");
    tx.commit().await.expect("commit");
    // A stored API response that named the person (kept for retries).
    let caller = Uuid::now_v7();
    idempotency::claim(d.db(), Scope::Tenant(d.tenant_id), caller, "k", b"f")
        .await
        .expect("claim");
    idempotency::complete(
        d.db(),
        Scope::Tenant(d.tenant_id),
        caller,
        "k",
        &StoredResponse {
            status: 201,
            headers: vec![],
            body: format!(r#"{{"first_name":"{FIRST}","last_name":"{LAST}"}}"#).into_bytes(),
            withheld: false,
        },
    )
    .await
    .expect("complete");
    (beneficiary_id, reference)
}

/// Every (table, column) of the tenant's data that holds one of `needles`, found by walking the
/// catalog: every text, JSON and binary column of every table with a `tenant_id`.
async fn where_found(d: &Delivery, needles: &[&str]) -> Vec<String> {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text
           FROM information_schema.columns c
          WHERE c.table_schema = 'public'
            AND c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea', 'ARRAY')
            AND EXISTS (SELECT 1 FROM information_schema.columns t
                         WHERE t.table_schema = 'public' AND t.table_name = c.table_name
                           AND t.column_name = 'tenant_id')
          ORDER BY 1, 2",
    )
    .fetch_all(&d.world.test.owner)
    .await
    .expect("catalog");
    assert!(columns.len() > 50, "only {} columns walked", columns.len());
    let mut found = Vec::new();
    let mut tx = d.db().begin_tenant(d.tenant_id).await.expect("tx");
    for (table, column, data_type) in columns {
        let as_text = if data_type == "bytea" {
            format!("encode(\"{column}\", 'escape')")
        } else {
            format!("\"{column}\"::text")
        };
        for needle in needles {
            let hits: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM \"{table}\" WHERE position(lower($1) IN lower({as_text})) > 0"
            )))
            .bind(needle)
            .fetch_one(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{table}.{column}: {e}"));
            if hits > 0 {
                found.push(format!("{table}.{column} holds {needle}"));
            }
        }
    }
    tx.commit().await.expect("commit");
    found
}

async fn totals(d: &Delivery) -> (i64, i64, i64) {
    let mut tx = d.db().begin_tenant(d.tenant_id).await.expect("tx");
    let totals = sqlx::query_as(
        "SELECT (SELECT count(*) FROM vouchers), (SELECT coalesce(sum(minutes_left), 0)::bigint FROM vouchers),
                (SELECT count(*) FROM registrations)",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("totals");
    tx.commit().await.expect("commit");
    totals
}

const NEEDLES: [&str; 5] = [FIRST, LAST, EMAIL, PHONE, "Zéphirine-Anne"];

#[tokio::test]
async fn an_erased_person_is_in_no_column_of_any_table() {
    let d = delivery().await;
    let (beneficiary_id, _) = spread_a_person(&d).await;
    let before = where_found(&d, &NEEDLES).await;
    assert!(
        before.len() >= 6,
        "the person is spread around before erasure: {before:#?}"
    );
    let totals_before = totals(&d).await;

    beneficiaries::erase(d.db(), d.tenant_id, Actor::SYSTEM, beneficiary_id)
        .await
        .expect("erase");
    let after = where_found(&d, &NEEDLES).await;
    assert!(after.is_empty(), "left after erasure: {after:#?}");
    assert_eq!(totals(&d).await, totals_before, "totals unchanged");
}

#[tokio::test]
async fn holders_whose_last_voucher_ended_long_ago_are_erased_once_a_day() {
    let d = delivery().await;
    let (old, old_reference) = spread_a_person(&d).await;
    let recent_reference = d.voucher("Récent").await;
    // The old holder's voucher ended three years and a day ago.
    d.issued_days_ago(&old_reference, 366 + 3 * 365 + 1).await;
    // A request from the public form nobody answered, as old.
    let mut tx = d.db().begin_tenant(d.tenant_id).await.expect("tx");
    sqlx::query(
        "INSERT INTO accompaniment_requests (tenant_id, id, scheme_id, epn_id, channel, first_name,
                                             last_name, birth_year, commune_insee, email, message, created_at)
         VALUES ($1, $2, $3, $4, 'public_form', 'Anselme', 'Oubliédelatour', 1948, '46102',
                 'anselme@example.org', 'Je voudrais apprendre', now() - interval '4 years')",
    )
    .bind(d.tenant_id)
    .bind(Uuid::now_v7())
    .bind(d.scheme_id)
    .bind(d.epn_id)
    .execute(&mut *tx)
    .await
    .expect("old public request");
    tx.commit().await.expect("commit");
    let today = Utc::now().with_timezone(&Paris).date_naive();
    let purge = retention::purge_day(d.db(), d.tenant_id, today)
        .await
        .expect("purge");
    assert!(purge.ran);
    assert_eq!(
        (purge.erased, purge.requests_wiped, purge.years),
        (1, 1, retention::DEFAULT_YEARS)
    );
    assert!(where_found(&d, &NEEDLES).await.is_empty());
    assert!(
        where_found(&d, &["Oubliédelatour", "anselme@example.org"])
            .await
            .is_empty()
    );
    let erased = beneficiaries::get(d.db(), d.tenant_id, old, None)
        .await
        .expect("kept, erased");
    assert!(erased.erased_at.is_some() && erased.last_name.is_none());
    let recent = vouchers::get(
        d.db(),
        d.tenant_id,
        &recent_reference,
        vouchers::Visibility::Tenant,
    )
    .await
    .expect("recent voucher");
    let recent_holder = beneficiaries::get(d.db(), d.tenant_id, recent.beneficiary_id, None)
        .await
        .expect("recent holder");
    assert_eq!(recent_holder.last_name.as_deref(), Some("Récent"));
    // Once a day, recorded in the audit log.
    let again = retention::purge_day(d.db(), d.tenant_id, today)
        .await
        .expect("purge");
    assert!(!again.ran);
    let mut tx = d.db().begin_tenant(d.tenant_id).await.expect("tx");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'beneficiaries.retention_purge'
            AND (details ->> 'erased')::int = 1",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    assert_eq!(audited, 1);
    // A shorter retention is the tenant admin's to set, within bounds.
    assert!(
        retention::set_years(d.db(), d.tenant_id, Actor::SYSTEM, 0)
            .await
            .is_err()
    );
    retention::set_years(d.db(), d.tenant_id, Actor::SYSTEM, 1)
        .await
        .expect("set");
}
