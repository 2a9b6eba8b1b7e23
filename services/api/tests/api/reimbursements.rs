//! A finance officer's month through the API: run, review, approve, download, pay.

use passerelle_core::audit::Actor;
use passerelle_core::delivery::attendance::{self, Entry};
use passerelle_core::delivery::registration::{self, Interview, RegisterRequest};
use passerelle_core::delivery::sessions::{self, NewSession};
use passerelle_core::epns::{self, BankDetails};
use passerelle_core::tenancy::Role;
use serde_json::json;

use crate::helpers::{AnimatorElsewhere, TestApp, spawn_app};

/// A voucher registered at the Lot's EPN with one two-hour session attended today.
async fn a_month_of_delivery(app: &TestApp) {
    let scheme_id = app.active_ticket_net_in_lot(5).await;
    delivery_in(app, &scheme_id, "Martin").await;
}

/// A voucher of `scheme_id` issued by the Lot's prescriber to a holder named `last_name`,
/// registered at the Lot's EPN, with one two-hour session attended today (20 €).
pub(crate) async fn delivery_in(app: &TestApp, scheme_id: &str, last_name: &str) {
    let admin = app.lot.token(Role::TenantAdmin);
    app.post(
        &format!("/v1/epns/{}/offers", app.lot.epn_id),
        admin,
        &json!({ "scheme_id": scheme_id, "modules": (1..=14).collect::<Vec<_>>() }),
    )
    .await;
    let issued = app
        .post(
            "/v1/vouchers",
            app.lot.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "beneficiary": { "first_name": "Jeanne", "last_name": last_name,
                     "birth_year": 1957, "commune_insee": "46102", "public_category": "senior" } }),
        )
        .await;
    let reference = issued.body["voucher"]["reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    let db = &app.db.app;
    let (tenant, epn) = (app.lot.id, app.lot.epn_id);
    registration::register(
        db,
        tenant,
        epn,
        Actor::SYSTEM,
        &RegisterRequest {
            reference: reference.clone(),
            last_name: last_name.into(),
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
        tenant,
        epn,
        Actor::SYSTEM,
        &NewSession {
            scheme_id: scheme_id.parse().expect("uuid"),
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
    sessions::enrol(db, tenant, epn, session.id, &reference, false)
        .await
        .expect("enrol");
    attendance::record(
        db,
        tenant,
        epn,
        Actor::SYSTEM,
        session.id,
        &[Entry {
            reference,
            status: passerelle_core::delivery::AttendanceStatus::Present,
            competences: vec![],
            off_path: false,
        }],
    )
    .await
    .expect("attendance");
    epns::set_bank_details(
        db,
        tenant,
        Actor::SYSTEM,
        epn,
        &BankDetails {
            iban: "FR76 3000 6000 0112 3456 7890 189".into(),
            bic: None,
            account_holder: "Commune de Figeac".into(),
        },
    )
    .await
    .expect("bank");
}

#[tokio::test]
async fn a_finance_officer_runs_approves_downloads_and_pays_a_month() {
    let app = spawn_app().await;
    a_month_of_delivery(&app).await;
    let finance = app.lot.token(Role::Finance);
    let month = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y-%m")
        .to_string();

    let run = app
        .post(
            &format!("/v1/reimbursements/{month}/run"),
            finance,
            &json!({}),
        )
        .await;
    assert_eq!(run.status, 200, "{}", run.raw);
    assert_eq!(run.body["total_cents"], 2_000, "{}", run.raw);
    let again = app
        .post(
            &format!("/v1/reimbursements/{month}/run"),
            finance,
            &json!({}),
        )
        .await;
    assert_eq!(
        again.body["lines"], run.body["lines"],
        "a re-run changed the lines"
    );
    app.post("/v1/reimbursements/2026-13/run", finance, &json!({}))
        .await
        .problem(422);

    let list = app
        .get(&format!("/v1/statements?month={month}"), finance)
        .await;
    let id = list.body["items"][0]["id"]
        .as_str()
        .expect("statement")
        .to_owned();
    let detail = app
        .get(
            &format!("/v1/statements/{id}"),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(
        detail.status, 200,
        "tenant admins read statements: {}",
        detail.raw
    );
    assert_eq!(detail.body["lines"][0]["amount_cents"], 2_000);
    assert!(!detail.raw.contains("Martin"), "a statement names a holder");

    app.post(
        &format!("/v1/statements/{id}/approve"),
        app.lot.token(Role::TenantAdmin),
        &json!({}),
    )
    .await
    .problem(403);
    app.get(
        &format!("/v1/statements/{id}"),
        app.ara.token(Role::Finance),
    )
    .await
    .problem(404);
    let approved = app
        .post(&format!("/v1/statements/{id}/approve"), finance, &json!({}))
        .await;
    assert_eq!(approved.body["status"], "approved", "{}", approved.raw);
    let listed = |status: &'static str| {
        let app = &app;
        let month = month.clone();
        async move {
            app.get(
                &format!("/v1/statements?month={month}&status={status}"),
                finance,
            )
            .await
        }
    };
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(ids(&listed("approved").await.body).contains(&id));
    assert!(!ids(&listed("draft").await.body).contains(&id));
    assert_eq!(
        listed("archived").await.problem(400)["errors"][0]["field"],
        "status"
    );

    let csv = app
        .send(app.request("GET", &format!("/v1/statements/{id}/csv"), Some(finance)))
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        csv.header("content-disposition")
            .unwrap_or("")
            .contains(".csv")
    );
    assert!(csv.raw.starts_with('\u{feff}'), "no BOM");
    assert!(csv.raw.contains(";20,00;Total"), "{}", csv.raw);

    let no_treasury = app
        .send(app.request(
            "GET",
            &format!("/v1/reimbursements/{month}/sepa"),
            Some(finance),
        ))
        .await;
    no_treasury.problem(409);
    let treasury = app
        .send(
            app.request("PUT", "/v1/tenant/treasury", Some(app.lot.token(Role::TenantAdmin)))
                .json(&json!({ "iban": "FR14 2004 1010 0505 0001 3M02 606", "bic": "PSSTFRPPTOU", "account_holder": "Département du Lot" })),
        )
        .await;
    assert_eq!(treasury.status, 204, "{}", treasury.raw);
    let bad = app
        .send(
            app.request("PUT", "/v1/tenant/treasury", Some(app.lot.token(Role::TenantAdmin)))
                .json(&json!({ "iban": "FR14 2004 1010 0505 0001 3M02 607", "account_holder": "Département du Lot" })),
        )
        .await;
    assert_eq!(bad.problem(422)["errors"][0]["field"], "iban");
    let sepa = app
        .send(app.request(
            "GET",
            &format!("/v1/reimbursements/{month}/sepa"),
            Some(finance),
        ))
        .await;
    assert_eq!(sepa.status, 200, "{}", sepa.raw);
    assert_eq!(sepa.header("content-type"), Some("application/xml"));
    assert!(
        sepa.raw.contains("<CtrlSum>20.00</CtrlSum>"),
        "{}",
        sepa.raw
    );

    let paid = app
        .post(
            &format!("/v1/statements/{id}/paid"),
            finance,
            &json!({ "paid_on": "2026-12-05", "bank_reference": "VIR-0042" }),
        )
        .await;
    assert_eq!(paid.body["status"], "paid", "{}", paid.raw);
    let audit = app
        .get(
            "/v1/audit?object_type=statement",
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["statement.approved", "statement.exported", "statement.paid"] {
        assert!(
            actions.contains(&action),
            "{action} not audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn an_epn_reads_its_own_statements_and_no_other_epns() {
    use crate::web::{PASSWORD, SignedIn, with_password};
    let app = spawn_app().await;
    a_month_of_delivery(&app).await;
    let finance = app.lot.token(Role::Finance);
    let month = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y-%m")
        .to_string();
    let run = app
        .post(
            &format!("/v1/reimbursements/{month}/run"),
            finance,
            &json!({}),
        )
        .await;
    assert_eq!(run.status, 200, "{}", run.raw);

    // The EPN's staff read their statement, its lines and its CSV.
    let epn = app.lot.token(Role::Epn);
    let own = app.get("/v1/statements", epn).await;
    assert_eq!(own.status, 200, "{}", own.raw);
    let items = own.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", own.raw);
    let id = items[0]["id"].as_str().expect("id").to_owned();
    let detail = app.get(&format!("/v1/statements/{id}"), epn).await;
    assert_eq!(
        detail.body["lines"][0]["amount_cents"], 2_000,
        "{}",
        detail.raw
    );
    let csv = app
        .send(app.request("GET", &format!("/v1/statements/{id}/csv"), Some(epn)))
        .await;
    assert_eq!(csv.status, 200, "{}", csv.raw);
    // They neither approve nor pay it.
    app.post(&format!("/v1/statements/{id}/approve"), epn, &json!({}))
        .await
        .problem(403);

    // Another EPN of the same territory: its list is empty, whatever it asks, and the statement
    // is not found.
    let AnimatorElsewhere {
        token: elsewhere,
        email: elsewhere_email,
    } = app
        .animator_of_another_epn(&app.lot, "Gourdon", "46300")
        .await;
    for path in [
        "/v1/statements".to_owned(),
        format!("/v1/statements?epn_id={}", app.lot.epn_id),
        format!("/v1/statements?month={month}"),
    ] {
        let listed = app.get(&path, &elsewhere).await;
        assert_eq!(listed.status, 200, "{path}: {}", listed.raw);
        assert_eq!(listed.body["items"], json!([]), "{path}: {}", listed.raw);
    }
    app.get(&format!("/v1/statements/{id}"), &elsewhere)
        .await
        .problem(404);
    let foreign_csv = app
        .send(app.request("GET", &format!("/v1/statements/{id}/csv"), Some(&elsewhere)))
        .await;
    foreign_csv.problem(404);
    // Another territory's EPN either.
    app.get(&format!("/v1/statements/{id}"), app.ara.token(Role::Epn))
        .await
        .problem(404);

    // In the portal: « Mes remboursements », the year's statements and totals.
    let email = with_password(&app, Role::Epn).await;
    let animator = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let home = animator.get("/portail/lot/").await;
    assert!(
        home.html.contains("/portail/lot/remboursements"),
        "{}",
        home.html
    );
    assert!(!home.html.contains("/portail/lot/releves"), "{}", home.html);
    let months = animator.get("/portail/lot/releves").await;
    assert_eq!(
        months.status, 303,
        "the month of every EPN is the territory's page"
    );
    let year = animator.get("/portail/lot/remboursements").await;
    assert_eq!(year.status, 200, "{}", year.html);
    assert!(year.html.contains("20,00 €"), "{}", year.html);
    assert!(year.html.contains("en cours de contrôle"), "{}", year.html);
    let approved = app
        .post(&format!("/v1/statements/{id}/approve"), finance, &json!({}))
        .await;
    assert_eq!(approved.status, 200, "{}", approved.raw);
    let paid = app
        .post(
            &format!("/v1/statements/{id}/paid"),
            finance,
            &json!({ "paid_on": passerelle_test_support::paris_today(), "bank_reference": "VIR-2026-118" }),
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.raw);
    let year = animator.get("/portail/lot/remboursements").await;
    assert!(
        year.html.contains("référence VIR-2026-118"),
        "{}",
        year.html
    );
    let statement = animator.get(&format!("/portail/lot/releve/{id}")).await;
    assert_eq!(statement.status, 200, "{}", statement.html);
    assert!(
        statement.html.contains("Mes remboursements"),
        "{}",
        statement.html
    );
    assert!(!statement.html.contains("Valider le relevé"));
    // The printed copy it files: its EPN, the payment, the account masked, the lines.
    let printed = animator
        .get(&format!("/portail/lot/releve/{id}/imprimer"))
        .await;
    assert_eq!(printed.status, 200, "{}", printed.html);
    for expected in [
        "Relevé de remboursement",
        "20,00 €",
        "référence du virement VIR-2026-118",
        "Compte du virement",
    ] {
        assert!(
            printed.html.contains(expected),
            "{expected}: {}",
            printed.html
        );
    }
    let other = SignedIn::new(&app, "lot", &elsewhere_email, PASSWORD).await;
    assert_eq!(
        other
            .get(&format!("/portail/lot/releve/{id}/imprimer"))
            .await
            .status,
        404
    );
    assert_eq!(
        other.get(&format!("/portail/lot/releve/{id}")).await.status,
        404
    );
    assert_eq!(
        other
            .get(&format!("/portail/lot/releve/{id}/csv"))
            .await
            .status,
        404
    );
    let theirs = other.get("/portail/lot/remboursements").await;
    assert!(!theirs.html.contains("20,00 €"), "{}", theirs.html);
}

/// A changed IBAN is the classic payment fraud: it is only submitted, by the EPN or an admin, and
/// the SEPA file keeps paying the confirmed account until a second person confirms the new one.
#[tokio::test]
async fn a_new_iban_takes_effect_only_when_another_person_confirms_it() {
    let app = spawn_app().await;
    a_month_of_delivery(&app).await;
    let finance = app.lot.token(Role::Finance);
    let admin = app.lot.token(Role::TenantAdmin);
    let epn = app.lot.token(Role::Epn);
    let month = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y-%m")
        .to_string();
    app.post(
        &format!("/v1/reimbursements/{month}/run"),
        finance,
        &json!({}),
    )
    .await;
    let statements = app
        .get(&format!("/v1/statements?month={month}"), finance)
        .await;
    let id = statements.body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.post(&format!("/v1/statements/{id}/approve"), finance, &json!({}))
        .await;
    app.send(
        app.request("PUT", "/v1/tenant/treasury", Some(admin)).json(
            &json!({ "iban": "FR14 2004 1010 0505 0001 3M02 606", "account_holder": "Département du Lot" }),
        ),
    )
    .await;
    let sepa_path = format!("/v1/reimbursements/{month}/sepa");
    let sepa = || app.send(app.request("GET", &sepa_path, Some(finance)));
    let confirmed_iban = "<IBAN>FR7630006000011234567890189</IBAN>";
    let new_iban = "<IBAN>FR4910278060610001020480101</IBAN>";

    // The EPN's animator submits a new account for their EPN.
    let bank_details = format!("/v1/epns/{}/bank-details", app.lot.epn_id);
    let body = json!({ "iban": "FR49 1027 8060 6100 0102 0480 101", "account_holder": "Commune de Figeac" });
    let submitted = app.post(&bank_details, epn, &body).await;
    assert_eq!(submitted.status, 200, "{}", submitted.raw);
    assert_eq!(submitted.body["status"], "pending");
    assert_eq!(
        submitted.body["iban"], "FR49…0101",
        "the EPN reads it masked"
    );
    let change = submitted.body["id"].as_str().expect("id").to_owned();

    // Not yet in effect: the file pays the confirmed account.
    let file = sepa().await;
    assert_eq!(file.status, 200, "{}", file.raw);
    assert!(
        file.raw.contains(confirmed_iban) && !file.raw.contains(new_iban),
        "{}",
        file.raw
    );

    // Who may not submit: another role, another EPN's staff, another territory.
    app.post(&bank_details, app.lot.token(Role::Prescriber), &body)
        .await
        .problem(403);
    let elsewhere = app
        .animator_of_another_epn(&app.lot, "Gourdon", "46300")
        .await
        .token;
    app.post(&bank_details, &elsewhere, &body)
        .await
        .problem(404);
    app.post(&bank_details, app.ara.token(Role::TenantAdmin), &body)
        .await
        .problem(404);
    // Who may not decide: the EPN itself, another EPN, another territory's finance.
    let confirm = format!("/v1/bank-changes/{change}/confirm");
    app.post(&confirm, epn, &json!({})).await.problem(403);
    app.post(&confirm, app.ara.token(Role::Finance), &json!({}))
        .await
        .problem(404);
    // The list: in full for finance, none of it for another EPN's staff.
    let waiting = app.get("/v1/bank-changes", finance).await;
    assert_eq!(
        waiting.body["items"][0]["iban"], "FR4910278060610001020480101",
        "{}",
        waiting.raw
    );
    assert_eq!(waiting.body["items"][0]["current_iban"], "FR76…0189");
    let theirs = app.get("/v1/bank-changes", &elsewhere).await;
    assert_eq!(theirs.body["items"], json!([]), "{}", theirs.raw);

    // A tenant admin submits a change in turn: it supersedes the EPN's, and the same admin cannot
    // confirm it (four eyes), nor reject it.
    let by_admin = app.post(&bank_details, admin, &body).await;
    assert_eq!(
        by_admin.body["iban"], "FR4910278060610001020480101",
        "{}",
        by_admin.raw
    );
    let admins = by_admin.body["id"].as_str().expect("id").to_owned();
    let refused = app
        .post(
            &format!("/v1/bank-changes/{admins}/confirm"),
            admin,
            &json!({}),
        )
        .await;
    let refused = refused.problem(403);
    assert_eq!(
        refused["type"]
            .as_str()
            .map(|t| t.ends_with("/bank-change-needs-another-person")),
        Some(true),
        "{refused}"
    );
    app.post(
        &format!("/v1/bank-changes/{admins}/reject"),
        admin,
        &json!({ "reason": "Je me suis trompé" }),
    )
    .await
    .problem(403);
    // The superseded change can no longer be confirmed.
    app.post(&confirm, finance, &json!({})).await.problem(409);

    // The finance officer, another person, confirms: the next file pays the new account.
    let confirmed = app
        .post(
            &format!("/v1/bank-changes/{admins}/confirm"),
            finance,
            &json!({}),
        )
        .await;
    assert_eq!(confirmed.body["status"], "confirmed", "{}", confirmed.raw);
    let file = sepa().await;
    assert!(
        file.raw.contains(new_iban) && !file.raw.contains(confirmed_iban),
        "{}",
        file.raw
    );
    // Twice is refused; so is rejecting a decided change.
    app.post(
        &format!("/v1/bank-changes/{admins}/confirm"),
        finance,
        &json!({}),
    )
    .await
    .problem(409);

    // Every step is in the journal, the IBAN masked.
    let audit = app.get("/v1/audit?object_type=epn", admin).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in ["epn.bank_change_submitted", "epn.bank_details_changed"] {
        assert!(actions.contains(&action), "{action}: {}", audit.raw);
    }
    assert!(
        !audit.raw.contains("FR4910278060610001020480101"),
        "{}",
        audit.raw
    );
}
