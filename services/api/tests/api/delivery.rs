//! The EPN's day through the API: import the network, register a Ticket Net after the interview,
//! run a session, record attendance (resent after a dropped connection), void a line.

use passerelle_core::tenancy::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, transposed};

const SAMPLE: &[u8] = include_bytes!("../../../../infra/data/lieux-mediation-numerique-lot.csv");

pub(crate) async fn scheme_with_voucher(app: &TestApp) -> (String, String) {
    let admin = app.lot.token(Role::TenantAdmin);
    let scheme_id = app.active_ticket_net_in_lot(5).await;
    let offer = app
        .post(
            &format!("/v1/epns/{}/offers", app.lot.epn_id),
            admin,
            &json!({ "scheme_id": scheme_id, "modules": (1..=14).collect::<Vec<_>>() }),
        )
        .await;
    assert_eq!(offer.status, 200, "{}", offer.raw);
    let issued = app
        .post(
            "/v1/vouchers",
            app.lot.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "beneficiary": { "first_name": "Jeanne", "last_name": "Martin", "birth_year": 1957,
                                                            "commune_insee": "46102", "public_category": "senior" } }),
        )
        .await;
    (
        scheme_id,
        issued.body["voucher"]["reference"]
            .as_str()
            .expect("reference")
            .to_owned(),
    )
}

#[tokio::test]
async fn the_network_imports_from_the_open_data_file_and_ibans_are_masked_by_role() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);
    let form = || {
        reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(SAMPLE.to_vec()).file_name("lieux.csv"),
        )
    };
    let first = app
        .send(
            app.request("POST", "/v1/epns/import", Some(admin))
                .multipart(form()),
        )
        .await;
    assert_eq!(first.status, 202, "{}", first.raw);
    let location = first.header("location").expect("Location").to_owned();
    let first = app.finished_import(&location, admin).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(
        (
            &first["rows_read"],
            &first["created"],
            &first["refused"],
            &first["warnings"]
        ),
        (&json!(4), &json!(4), &json!(0), &json!(1))
    );
    let lines = app.get(&format!("{location}/lines"), admin).await;
    assert_eq!(
        lines.body["items"].as_array().expect("lines").len(),
        1,
        "{}",
        lines.raw
    );
    assert_eq!(lines.body["items"][0]["line"], 5);
    assert!(
        lines.body["items"][0]["warning"]
            .as_str()
            .expect("warning")
            .contains("lundi 9h-12h")
    );
    let again = app
        .send(
            app.request("POST", "/v1/epns/import", Some(admin))
                .multipart(form()),
        )
        .await;
    let again = app
        .finished_import(again.header("location").expect("Location"), admin)
        .await;
    assert_eq!(
        (&again["created"], &again["updated"]),
        (&json!(0), &json!(4)),
        "{again}"
    );
    let listed = app.get("/v1/epns?limit=100", admin).await;
    let figeac = listed.body["items"]
        .as_array()
        .expect("epns")
        .iter()
        .find(|e| e["nom"] == "EPN de Figeac")
        .expect("Figeac imported")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let bad = app
        .post(&format!("/v1/epns/{figeac}/bank-details"), admin, &json!({ "iban": "FR7630006000011234567890188", "account_holder": "Commune de Figeac" }))
        .await;
    bad.problem(422);
    assert_eq!(bad.error_fields(), ["iban"]);
    let set = app
        .post(
            &format!("/v1/epns/{figeac}/bank-details"),
            admin,
            &json!({ "iban": "FR76 3000 6000 0112 3456 7890 189", "bic": "AGRIFRPP", "account_holder": "Commune de Figeac" }),
        )
        .await;
    assert_eq!(set.body["status"], "pending", "{}", set.raw);
    // In effect once a second person, the finance officer, confirms it.
    let unconfirmed = app.get(&format!("/v1/epns/{figeac}"), admin).await;
    assert_eq!(unconfirmed.body["iban"], Value::Null, "{}", unconfirmed.raw);
    let change = set.body["id"].as_str().expect("id");
    let confirmed = app
        .post(
            &format!("/v1/bank-changes/{change}/confirm"),
            app.lot.token(Role::Finance),
            &json!({}),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.raw);
    for (role, expected) in [
        (Role::TenantAdmin, "FR7630006000011234567890189"),
        (Role::Finance, "FR7630006000011234567890189"),
        (Role::Epn, "FR76…0189"),
        (Role::Prescriber, "FR76…0189"),
        (Role::Funder, "FR76…0189"),
    ] {
        let seen = app
            .get(&format!("/v1/epns/{figeac}"), app.lot.token(role))
            .await;
        assert_eq!(seen.body["iban"], expected, "{role}: {}", seen.raw);
    }
}

fn result(reply: &crate::helpers::Reply) -> &Value {
    &reply.body["results"][0]
}

/// A module outside the holder's choice: booking and recording are refused with
/// `module-not-chosen`, then accepted « hors parcours », the booking's mark carried to the sheet.
#[tokio::test]
async fn a_module_outside_the_holders_choice_is_booked_only_off_the_path() {
    let app = spawn_app().await;
    let (scheme_id, reference) = scheme_with_voucher(&app).await;
    let epn = app.lot.token(Role::Epn);
    let registered = app
        .post(
            "/v1/registrations",
            epn,
            &json!({ "reference": reference, "last_name": "Martin",
                     "interview": { "on": passerelle_test_support::paris_today(), "minutes": 30 },
                     "modules": (1..=10).collect::<Vec<_>>() }),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.raw);
    let session = app
        .post("/v1/sessions", epn, &json!({ "scheme_id": scheme_id, "module_number": 12, "starts_at": chrono::Utc::now(), "capacity": 8 }))
        .await;
    let session_id = session.body["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/sessions/{session_id}/enrolments");
    let refused = app
        .post(&path, epn, &json!({ "reference": reference }))
        .await;
    let problem = refused.problem(409);
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/module-not-chosen")),
        "{problem}"
    );
    let booked = app
        .post(
            &path,
            epn,
            &json!({ "reference": reference, "off_path": true }),
        )
        .await;
    assert_eq!(booked.body["enrolled"], 1, "{}", booked.raw);
    let recorded = app
        .post(
            &format!("/v1/sessions/{session_id}/attendance"),
            epn,
            &json!({ "entries": [{ "reference": reference, "status": "present" }] }),
        )
        .await;
    assert_eq!(result(&recorded)["outcome"], "recorded", "{}", recorded.raw);
}

#[tokio::test]
async fn an_epn_registers_runs_a_session_and_records_attendance_exactly_once() {
    let app = spawn_app().await;
    let (scheme_id, reference) = scheme_with_voucher(&app).await;
    let epn = app.lot.token(Role::Epn);

    let typo = transposed(&reference);
    let register = |reference: &str| {
        json!({ "reference": reference, "last_name": "martin",
                "interview": { "on": passerelle_test_support::paris_today(), "minutes": 30, "autonomy_level": "beginner", "needs": "Démarches CAF" },
                "modules": (1..=10).collect::<Vec<_>>() })
    };
    let wrong = app.post("/v1/registrations", epn, &register(&typo)).await;
    wrong.problem(422);
    assert!(wrong.raw.contains("mistyped"), "{}", wrong.raw);
    let mut someone_else = register(&reference);
    someone_else["last_name"] = json!("dupont");
    let not_the_holder = app.post("/v1/registrations", epn, &someone_else).await;
    not_the_holder.problem(422);
    assert_eq!(not_the_holder.error_fields(), ["last_name"]);
    assert_eq!(
        not_the_holder.body["errors"][0]["rule"], "not_the_holder",
        "{}",
        not_the_holder.raw
    );
    let registered = app
        .post("/v1/registrations", epn, &register(&reference))
        .await;
    assert_eq!(registered.status, 201, "{}", registered.raw);
    assert_eq!(registered.body["status"], "registered");

    let session = app
        .post("/v1/sessions", epn, &json!({ "scheme_id": scheme_id, "module_number": 5, "starts_at": chrono::Utc::now(), "capacity": 8 }))
        .await;
    assert_eq!(session.status, 201, "{}", session.raw);
    assert_eq!(
        session.body["duration_minutes"], 120,
        "the scheme's session length by default"
    );
    let session_id = session.body["id"].as_str().expect("id").to_owned();
    let enrolled = app
        .post(
            &format!("/v1/sessions/{session_id}/enrolments"),
            epn,
            &json!({ "reference": reference }),
        )
        .await;
    assert_eq!(enrolled.body["enrolled"], 1, "{}", enrolled.raw);

    let sheet = json!({ "entries": [{ "reference": reference, "status": "present", "competences": [{ "code": "2.1", "level": "practised" }] }] });
    let path = format!("/v1/sessions/{session_id}/attendance");
    let first = app.post_idempotent(&path, epn, "sheet-1", &sheet).await;
    assert_eq!(first.status, 200, "{}", first.raw);
    assert_eq!(result(&first)["outcome"], "recorded");
    assert_eq!(result(&first)["minutes_left"], 1080);
    // The Wi-Fi dropped: the animator sends the sheet again, with the same key and without one.
    let resent = app.post_idempotent(&path, epn, "sheet-1", &sheet).await;
    assert_eq!(resent.header("idempotent-replayed"), Some("true"));
    assert_eq!(resent.body, first.body);
    let again = app.post(&path, epn, &sheet).await;
    assert_eq!(result(&again)["outcome"], "refused");
    assert!(
        result(&again)["problem"]["detail"]
            .as_str()
            .expect("detail")
            .contains("already recorded"),
        "{}",
        again.raw
    );
    let voucher = app
        .get(
            &format!("/v1/vouchers/{reference}"),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(voucher.body["minutes_left"], 1080, "debited once");

    let unknown_competence = app
        .post(&path, epn, &json!({ "entries": [{ "reference": reference, "status": "present", "competences": [{ "code": "9.9", "level": "acquired" }] }] }))
        .await;
    assert_eq!(result(&unknown_competence)["outcome"], "refused");

    let attendance_id = result(&first)["attendance_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let voided = app
        .post(
            &format!("/v1/attendances/{attendance_id}/void"),
            epn,
            &json!({ "reason": "mauvaise ligne cochée" }),
        )
        .await;
    assert_eq!(voided.status, 200, "{}", voided.raw);
    assert_eq!(voided.body["minutes_returned"], 120);
    let voucher = app
        .get(
            &format!("/v1/vouchers/{reference}"),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(
        (
            voucher.body["minutes_left"].as_i64(),
            voucher.body["status"].as_str()
        ),
        (Some(1200), Some("registered"))
    );
    let audit = app
        .get(
            "/v1/audit?action=attendance.voided",
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(
        audit.body["items"][0]["details"]["reason"],
        "mauvaise ligne cochée"
    );

    let recorded_again = app.post(&path, epn, &sheet).await;
    assert_eq!(
        result(&recorded_again)["outcome"],
        "recorded",
        "{}",
        recorded_again.raw
    );

    // Another tenant's EPN staff cannot see the session.
    app.get(
        &format!("/v1/sessions/{session_id}"),
        app.ara.token(Role::Epn),
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn the_holder_reads_a_french_portfolio_through_a_private_revocable_link() {
    let app = spawn_app().await;
    let (scheme_id, reference) = scheme_with_voucher(&app).await;
    let epn = app.lot.token(Role::Epn);
    app.post(
        "/v1/registrations",
        epn,
        &json!({ "reference": reference, "last_name": "Martin", "interview": { "on": passerelle_test_support::paris_today(), "minutes": 30 },
                 "modules": (1..=10).collect::<Vec<_>>() }),
    )
    .await;
    let session = app
        .post("/v1/sessions", epn, &json!({ "scheme_id": scheme_id, "module_number": 3, "starts_at": chrono::Utc::now(), "capacity": 8 }))
        .await;
    let session_id = session.body["id"].as_str().expect("id").to_owned();
    app.post(
        &format!("/v1/sessions/{session_id}/attendance"),
        epn,
        &json!({ "entries": [{ "reference": reference, "status": "present", "competences": [{ "code": "2.1", "level": "practised" }] }] }),
    )
    .await;

    let staff = app
        .get(
            &format!("/v1/vouchers/{reference}/portfolio"),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(staff.status, 200, "{}", staff.raw);
    assert_eq!(staff.body["minutes_attended"], 120);
    assert_eq!(
        staff.body["sessions"][0]["module_title"],
        "Communiquer avec sa famille et ses amis"
    );
    assert_eq!(
        staff.body["sessions"][0]["competences"][0]["title"],
        "Interagir"
    );
    assert_eq!(
        staff.body["sessions"][0]["competences"][0]["level"],
        "practised"
    );

    let link = app
        .post(
            &format!("/v1/vouchers/{reference}/portfolio-link"),
            epn,
            &json!({}),
        )
        .await;
    assert_eq!(link.status, 201, "{}", link.raw);
    let url = link.body["url"].as_str().expect("url").to_owned();
    let code = link.body["token"].as_str().expect("code").to_owned();
    assert_eq!(
        url,
        format!("/p/{}/{code}", app.lot.slug),
        "the short address"
    );
    let page = app.send(app.request("GET", &url, None)).await;
    assert_eq!(page.status, 200, "{}", page.raw);
    assert!(
        page.header("content-type")
            .expect("type")
            .starts_with("text/html")
    );
    for expected in [
        "lang=\"fr\"",
        "Mon espace personnel",
        "Jeanne, voici",
        "2.1 Interagir",
        "pratiquée",
        "href=\"/static/dsfr/dsfr.min.css\"",
        "noindex",
        "Communiquer avec sa famille",
        "viewport",
    ] {
        assert!(
            page.raw.contains(expected),
            "the page lacks {expected}: {}",
            page.raw
        );
    }
    let data = app
        .send(app.request("GET", &format!("{url}/donnees"), None))
        .await;
    assert_eq!(data.status, 200, "{}", data.raw);
    assert!(
        data.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment; filename=\"portfolio-")),
        "a file to keep"
    );
    assert_eq!(data.body["vouchers"][0]["sessions"], staff.body["sessions"]);
    assert_eq!(data.body["competences"][0]["code"], "2.1");

    // Still there once the voucher has expired.
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    sqlx::query(
        "UPDATE vouchers SET valid_until = issued_on - 1, status = 'expired' WHERE reference = $1",
    )
    .bind(&reference)
    .execute(&mut *tx)
    .await
    .expect("expire");
    tx.commit().await.expect("commit");
    let expired = app
        .send(app.request("GET", &format!("{url}/donnees"), None))
        .await;
    assert_eq!(
        (
            expired.status,
            expired.body["vouchers"][0]["status"].as_str()
        ),
        (200, Some("expired"))
    );

    let renewed = app
        .post(
            &format!("/v1/vouchers/{reference}/portfolio-link"),
            app.lot.token(Role::TenantAdmin),
            &json!({}),
        )
        .await;
    let gone = app.send(app.request("GET", &url, None)).await;
    assert_eq!(gone.status, 404, "{}", gone.raw);
    assert!(
        gone.raw.contains("Ce lien ne fonctionne pas"),
        "{}",
        gone.raw
    );
    let new_url = renewed.body["url"].as_str().expect("url").to_owned();
    assert_ne!(new_url, url);
    assert_eq!(
        app.send(app.request("GET", &new_url, None)).await.status,
        200
    );
    let revoked = app
        .send(app.request(
            "DELETE",
            &format!("/v1/vouchers/{reference}/portfolio-link"),
            Some(epn),
        ))
        .await;
    assert_eq!(revoked.status, 204);
    assert_eq!(
        app.send(app.request("GET", &new_url, None)).await.status,
        404
    );
    app.send(app.request("GET", "/v1/public/portfolio/pf_not_a_token", None))
        .await
        .problem(404);
}

pub(crate) async fn pass_numerique(app: &TestApp) -> String {
    let admin = app.ara.token(Role::TenantAdmin);
    let scheme = app
        .post("/v1/schemes", admin, &json!({ "code": "pass-numerique", "name": "Pass Numérique", "preset": "pass-numerique" }))
        .await;
    let scheme_id = scheme.body["id"].as_str().expect("scheme").to_owned();
    app.post(
        &format!("/v1/schemes/{scheme_id}/status"),
        admin,
        &json!({ "status": "active" }),
    )
    .await;
    let today = passerelle_test_support::paris_today();
    app.post(
        &format!("/v1/prescribers/{}/allocations", app.ara.prescriber_id),
        admin,
        &json!({ "scheme_id": scheme_id, "period_start": today, "period_end": today + chrono::Days::new(1), "quantity": 10 }),
    )
    .await;
    app.post(
        &format!("/v1/epns/{}/offers", app.ara.epn_id),
        admin,
        &json!({ "scheme_id": scheme_id, "modules": [1, 2, 3, 4] }),
    )
    .await;
    scheme_id
}

#[tokio::test]
async fn an_accompaniment_request_becomes_a_two_hour_voucher_at_the_epn() {
    let app = spawn_app().await;
    crate::helpers::away_from_a_minute_boundary().await;
    let scheme_id = pass_numerique(&app).await;
    let person = json!({ "first_name": "Inès", "last_name": "Roux", "birth_year": 1992, "commune_insee": "07010", "public_category": "single_parent" });

    let requested = app
        .post(
            "/v1/accompaniment-requests",
            app.ara.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "epn_id": app.ara.epn_id, "beneficiary": person, "message": "CV et candidatures en ligne" }),
        )
        .await;
    assert_eq!(requested.status, 201, "{}", requested.raw);
    let pending = app
        .get(
            "/v1/accompaniment-requests?status=pending",
            app.ara.token(Role::Epn),
        )
        .await;
    assert_eq!(
        pending.body["items"].as_array().expect("list").len(),
        1,
        "{}",
        pending.raw
    );
    let id = requested.body["id"].as_str().expect("id").to_owned();
    let voucher = app
        .post(
            &format!("/v1/accompaniment-requests/{id}/accept"),
            app.ara.token(Role::Epn),
            &json!({}),
        )
        .await;
    assert_eq!(voucher.status, 200, "{}", voucher.raw);
    assert_eq!(voucher.body["status"], "registered");
    assert_eq!(voucher.body["minutes_total"], 120);
    assert_eq!(voucher.body["face_value_cents"], 2000);
    assert!(
        voucher.body["reference"]
            .as_str()
            .expect("reference")
            .starts_with("ARA-")
    );
    app.post(
        &format!("/v1/accompaniment-requests/{id}/decline"),
        app.ara.token(Role::Epn),
        &json!({ "reason": "trop tard" }),
    )
    .await
    .problem(409);

    // The public form: no token, a territory and a scheme by name.
    let form = |last_name: &str| {
        json!({ "territory": app.ara.slug, "scheme": "pass-numerique", "epn_id": app.ara.epn_id, "first_name": "Marc",
                "last_name": last_name, "birth_year": 1960, "commune_insee": "07010", "email": "marc@example.org",
                "message": "Je voudrais apprendre à utiliser ma messagerie" })
    };
    let receipt = app
        .send(
            app.request("POST", "/v1/public/accompaniment-requests", None)
                .json(&form("Blanc")),
        )
        .await;
    assert_eq!(receipt.status, 202, "{}", receipt.raw);
    assert!(
        receipt.body["message"]
            .as_str()
            .expect("message")
            .contains("Votre demande est enregistrée")
    );
    let public_id = receipt.body["id"].as_str().expect("id").to_owned();
    let admin = app.ara.token(Role::TenantAdmin);
    let unfunded = app
        .post(
            &format!("/v1/accompaniment-requests/{public_id}/accept"),
            admin,
            &json!({}),
        )
        .await;
    unfunded.problem(422);
    assert_eq!(unfunded.error_fields(), ["prescriber_id"]);
    let funded = app
        .post(
            &format!("/v1/accompaniment-requests/{public_id}/accept"),
            admin,
            &json!({ "prescriber_id": app.ara.prescriber_id }),
        )
        .await;
    assert_eq!(funded.status, 200, "{}", funded.raw);
    let holder = app
        .get(
            &format!(
                "/v1/beneficiaries/{}",
                funded.body["beneficiary_id"].as_str().expect("id")
            ),
            admin,
        )
        .await;
    assert_eq!(holder.body["last_name"], "Blanc");

    let second = app
        .send(
            app.request("POST", "/v1/public/accompaniment-requests", None)
                .json(&form("Noir")),
        )
        .await;
    let declined = app
        .post(
            &format!(
                "/v1/accompaniment-requests/{}/decline",
                second.body["id"].as_str().expect("id")
            ),
            admin,
            &json!({ "reason": "Cet EPN est complet ce mois-ci" }),
        )
        .await;
    assert_eq!(declined.body["status"], "declined", "{}", declined.raw);
    let mut tx = app.db.app.begin_tenant(app.ara.id).await.expect("tx");
    let kept: Option<String> = sqlx::query_scalar(
        "SELECT last_name FROM accompaniment_requests WHERE status = 'declined'",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("row");
    assert_eq!(kept, None, "a declined request keeps no personal details");
    // Each person who gave an address was told their request was received; the declined one why.
    let told: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, recipient FROM email_outbox WHERE accompaniment_request_id IS NOT NULL ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("outbox");
    assert_eq!(
        told,
        [
            ("request_received".to_owned(), "marc@example.org".to_owned()),
            ("request_received".to_owned(), "marc@example.org".to_owned()),
            ("request_declined".to_owned(), "marc@example.org".to_owned()),
        ]
    );
    tx.commit().await.expect("commit");

    // Unknown territory, and the rate limit: 5 a minute per address, counting every call.
    app.send(app.request("POST", "/v1/public/accompaniment-requests", None).json(&json!({ "territory": "atlantide", "scheme": "pass-numerique",
        "epn_id": app.ara.epn_id, "first_name": "A", "last_name": "B", "birth_year": 1960, "commune_insee": "07010" }))).await.problem(422);
    for name in ["Vert", "Brun"] {
        let allowed = app
            .send(
                app.request("POST", "/v1/public/accompaniment-requests", None)
                    .json(&form(name)),
            )
            .await;
        assert_eq!(allowed.status, 202, "{}", allowed.raw);
    }
    let sixth = app
        .send(
            app.request("POST", "/v1/public/accompaniment-requests", None)
                .json(&form("Gris")),
        )
        .await;
    sixth.problem(429);
}

#[tokio::test]
async fn projects_are_listed_newest_first_within_the_callers_scope() {
    let app = spawn_app().await;
    let scheme_id = pass_numerique(&app).await;
    let structure = app.ara.token(Role::Prescriber);
    let admin = app.ara.token(Role::TenantAdmin);
    let submit = |title: &str, town: &str| {
        let members: Vec<Value> = (0..5)
            .map(|i| json!({ "person": { "first_name": "Résident", "last_name": format!("{town}{i}"),
                                          "birth_year": 1945, "commune_insee": "07010", "public_category": "senior" } }))
            .collect();
        json!({ "scheme_id": scheme_id, "epn_id": app.ara.epn_id, "title": title, "aim": "Découvrir la tablette",
                "planned_sessions": 3, "planned_minutes": 360, "members": members })
    };
    let first = app
        .post("/v1/projects", structure, &submit("Tablettes", "Privas"))
        .await;
    assert_eq!(first.status, 201, "{}", first.raw);
    let second = app
        .post("/v1/projects", structure, &submit("Messagerie", "Aubenas"))
        .await;
    assert_eq!(second.status, 201, "{}", second.raw);
    let approved = app
        .post(
            &format!(
                "/v1/projects/{}/approve",
                first.body["id"].as_str().expect("id")
            ),
            admin,
            &json!({}),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.raw);

    let titles = |reply: &crate::helpers::Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("a page: {}", reply.raw))
            .iter()
            .map(|p| p["title"].as_str().expect("title").to_owned())
            .collect()
    };
    let all = app.get("/v1/projects", admin).await;
    assert_eq!(titles(&all), ["Messagerie", "Tablettes"], "newest first");
    assert_eq!(all.body["items"][0]["member_count"], 5);
    assert_eq!(all.body["items"][0]["status"], "submitted");
    let approved_only = app.get("/v1/projects?status=approved", admin).await;
    assert_eq!(titles(&approved_only), ["Tablettes"]);
    let by_scheme = app
        .get(
            &format!("/v1/projects?scheme_id={}", uuid::Uuid::now_v7()),
            admin,
        )
        .await;
    assert_eq!(titles(&by_scheme), Vec::<String>::new());

    let page_one = app.get("/v1/projects?limit=1", admin).await;
    assert_eq!(titles(&page_one), ["Messagerie"]);
    let cursor = page_one.body["next_cursor"].as_str().expect("a next page");
    let page_two = app
        .get(&format!("/v1/projects?limit=1&cursor={cursor}"), admin)
        .await;
    assert_eq!(titles(&page_two), ["Tablettes"]);
    assert!(
        page_two.body.get("next_cursor").is_none(),
        "{}",
        page_two.raw
    );

    // The structure and the EPN see theirs; asking for another's gets nothing, not theirs.
    assert_eq!(titles(&app.get("/v1/projects", structure).await).len(), 2);
    let epn = app.ara.token(Role::Epn);
    assert_eq!(titles(&app.get("/v1/projects", epn).await).len(), 2);
    let stranger = uuid::Uuid::now_v7();
    for (token, filter) in [(structure, "prescriber_id"), (epn, "epn_id")] {
        let other = app
            .get(&format!("/v1/projects?{filter}={stranger}"), token)
            .await;
        assert_eq!(titles(&other), Vec::<String>::new(), "{filter}");
    }
    // Another territory's staff see none of them.
    for role in [Role::TenantAdmin, Role::Prescriber, Role::Epn] {
        let elsewhere = app.get("/v1/projects", app.lot.token(role)).await;
        assert_eq!(titles(&elsewhere), Vec::<String>::new(), "{role}");
    }
    // Roles that do not deal with projects are refused.
    for role in [Role::Finance, Role::Funder] {
        app.get("/v1/projects", app.ara.token(role))
            .await
            .problem(403);
    }
}

#[tokio::test]
async fn accompaniment_requests_are_listed_newest_first_a_page_at_a_time() {
    let app = spawn_app().await;
    let scheme_id = pass_numerique(&app).await;
    let prescriber = app.ara.token(Role::Prescriber);
    for last_name in ["Roux", "Blanc", "Vidal"] {
        let filed = app
            .post(
                "/v1/accompaniment-requests",
                prescriber,
                &json!({ "scheme_id": scheme_id, "epn_id": app.ara.epn_id, "message": last_name,
                         "beneficiary": { "first_name": "Inès", "last_name": last_name, "birth_year": 1992,
                                          "commune_insee": "07010", "public_category": "single_parent" } }),
            )
            .await;
        assert_eq!(filed.status, 201, "{}", filed.raw);
    }
    let epn = app.ara.token(Role::Epn);
    let first = app.get("/v1/accompaniment-requests?limit=2", epn).await;
    let names = |reply: &crate::helpers::Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("a page: {}", reply.raw))
            .iter()
            .map(|r| r["message"].as_str().expect("message").to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["Vidal", "Blanc"], "{}", first.raw);
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let rest = app
        .get(
            &format!("/v1/accompaniment-requests?limit=2&cursor={cursor}"),
            epn,
        )
        .await;
    assert_eq!(names(&rest), ["Roux"]);
    assert!(rest.body.get("next_cursor").is_none());
    app.get("/v1/accompaniment-requests?limit=0", epn)
        .await
        .problem(400);
    let elsewhere = app
        .get("/v1/accompaniment-requests", app.lot.token(Role::Epn))
        .await;
    assert_eq!(names(&elsewhere), Vec::<String>::new());
}

#[tokio::test]
async fn a_group_project_runs_from_submission_to_its_members_passes() {
    let app = spawn_app().await;
    let scheme_id = pass_numerique(&app).await;
    let structure = app.ara.token(Role::Prescriber);
    let member = |i: usize| {
        json!({ "person": { "first_name": "Résident", "last_name": format!("Annonay{i}"), "birth_year": 1945,
                            "commune_insee": "07010", "public_category": "senior" } })
    };
    let project = |n: usize| {
        json!({ "scheme_id": scheme_id, "epn_id": app.ara.epn_id, "title": "Carnet de voyage",
                "aim": "Réaliser le carnet de voyage du séjour de fin d'année", "planned_sessions": 3, "planned_minutes": 360,
                "members": (0..n).map(member).collect::<Vec<_>>() })
    };
    let too_small = app.post("/v1/projects", structure, &project(4)).await;
    too_small.problem(422);
    assert!(too_small.raw.contains("5 to 10"), "{}", too_small.raw);
    assert_eq!(too_small.body["errors"][0]["rule"], "group_size");

    // Every member's problem at once, each at its position: a person's details, the same person
    // twice in the list.
    let mut faulty = project(6);
    faulty["members"][1]["person"]["email"] = json!("pas-une-adresse");
    faulty["members"][4] = faulty["members"][2].clone();
    let refused = app.post("/v1/projects", structure, &faulty).await;
    refused.problem(422);
    assert_eq!(
        refused.error_fields(),
        ["members.1.email", "members.4"],
        "{}",
        refused.raw
    );
    assert_eq!(refused.body["errors"][1]["rule"], "listed_twice");
    assert!(refused.raw.contains("member 3"), "{}", refused.raw);

    let submitted = app.post("/v1/projects", structure, &project(8)).await;
    assert_eq!(submitted.status, 201, "{}", submitted.raw);
    assert_eq!(submitted.body["status"], "submitted");
    let project_id = submitted.body["id"].as_str().expect("id").to_owned();
    let admin = app.ara.token(Role::TenantAdmin);
    let approved = app
        .post(
            &format!("/v1/projects/{project_id}/approve"),
            admin,
            &json!({}),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.raw);
    let members = approved.body["members"].as_array().expect("members");
    assert_eq!(members.len(), 8);
    let references: Vec<String> = members
        .iter()
        .map(|m| m["reference"].as_str().expect("pass").to_owned())
        .collect();
    let pass = app
        .get(&format!("/v1/vouchers/{}", references[0]), admin)
        .await;
    assert_eq!(
        (
            pass.body["minutes_total"].as_i64(),
            pass.body["status"].as_str()
        ),
        (Some(360), Some("registered"))
    );
    app.post(
        &format!("/v1/projects/{project_id}/reject"),
        admin,
        &json!({ "reason": "trop tard" }),
    )
    .await
    .problem(409);

    let epn = app.ara.token(Role::Epn);
    let session = app
        .post(
            "/v1/sessions",
            epn,
            &json!({ "scheme_id": scheme_id, "starts_at": chrono::Utc::now(), "capacity": 10 }),
        )
        .await;
    let session_id = session.body["id"].as_str().expect("id").to_owned();
    let sheet = app
        .post(
            &format!("/v1/projects/{project_id}/attendance"),
            epn,
            &json!({ "session_id": session_id, "absent": [references[7]], "competences": [{ "code": "3.2", "level": "acquired" }] }),
        )
        .await;
    assert_eq!(sheet.status, 200, "{}", sheet.raw);
    assert_eq!(
        (
            sheet.body["recorded"].as_u64(),
            sheet.body["refused"].as_u64()
        ),
        (Some(8), Some(0))
    );
    let portfolio = app
        .get(&format!("/v1/vouchers/{}/portfolio", references[0]), admin)
        .await;
    assert_eq!(
        portfolio.body["sessions"][0]["competences"][0]["title"],
        "Développer des documents multimédia",
        "{}",
        portfolio.raw
    );
    assert_eq!(portfolio.body["minutes_left"], 240);
    let absent = app
        .get(&format!("/v1/vouchers/{}/portfolio", references[7]), admin)
        .await;
    assert_eq!(
        absent.body["minutes_left"], 360,
        "the absent member lost nothing"
    );

    // At the end of the journey the EPN orients the member; the portfolio shows it.
    let orient = |reference: &str| format!("/v1/vouchers/{reference}/orientation");
    let oriented = app
        .send(
            app.request("PUT", &orient(&references[0]), Some(epn))
                .json(&json!({ "kind": "pix", "note": "Test PIX à la médiathèque le 12 mars" })),
        )
        .await;
    assert_eq!(oriented.status, 200, "{}", oriented.raw);
    assert_eq!(oriented.body["kind"], "pix");
    let portfolio = app
        .get(&format!("/v1/vouchers/{}/portfolio", references[0]), admin)
        .await;
    assert_eq!(
        portfolio.body["orientation"]["kind"], "pix",
        "{}",
        portfolio.raw
    );
    assert_eq!(
        portfolio.body["orientation"]["note"],
        "Test PIX à la médiathèque le 12 mars"
    );
    // Changed later: replaced, not added.
    let changed = app
        .send(
            app.request("PUT", &orient(&references[0]), Some(epn))
                .json(&json!({ "kind": "clea_numerique" })),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.raw);
    assert!(changed.body.get("note").is_none(), "{}", changed.raw);
    // Nothing attended yet: no journey to orient from.
    let unstarted = app
        .send(
            app.request("PUT", &orient(&references[7]), Some(epn))
                .json(&json!({ "kind": "pix" })),
        )
        .await;
    assert_eq!(
        unstarted.problem(409)["type"],
        "/problems/journey-not-started",
        "{}",
        unstarted.raw
    );
    // Another EPN (of another territory here) does not find the voucher.
    let foreign = app
        .send(
            app.request(
                "PUT",
                &orient(&references[0]),
                Some(app.lot.token(Role::Epn)),
            )
            .json(&json!({ "kind": "none_of_these" })),
        )
        .await;
    assert_eq!(
        foreign.status, 400,
        "an unknown kind is refused first: {}",
        foreign.raw
    );
    let foreign = app
        .send(
            app.request(
                "PUT",
                &orient(&references[0]),
                Some(app.lot.token(Role::Epn)),
            )
            .json(&json!({ "kind": "pix" })),
        )
        .await;
    foreign.problem(404);
    // Nor does another EPN of the same territory, which never ran this journey.
    let neighbour = app
        .animator_of_another_epn(&app.ara, "Privas", "07000")
        .await
        .token;
    let neighbour_try = app
        .send(
            app.request("PUT", &orient(&references[0]), Some(&neighbour))
                .json(&json!({ "kind": "pix" })),
        )
        .await;
    neighbour_try.problem(404);

    let mut other = project(5);
    for (i, m) in other["members"]
        .as_array_mut()
        .expect("members")
        .iter_mut()
        .enumerate()
    {
        m["person"]["last_name"] = json!(format!("Tournon{i}"));
    }
    // A member the structure already follows (from the first project) is named, not typed again.
    let mut known = other.clone();
    known["members"][3] = member(0);
    let known = app.post("/v1/projects", structure, &known).await;
    known.problem(422);
    assert_eq!(known.error_fields(), ["members.3"], "{}", known.raw);
    assert_eq!(known.body["errors"][0]["rule"], "known_person");
    let other = app.post("/v1/projects", structure, &other).await;
    assert_eq!(other.status, 201, "{}", other.raw);
    let other_id = other.body["id"].as_str().expect("id").to_owned();
    let rejected = app
        .post(
            &format!("/v1/projects/{other_id}/reject"),
            admin,
            &json!({ "reason": "Budget de l'année épuisé" }),
        )
        .await;
    assert_eq!(rejected.body["status"], "rejected", "{}", rejected.raw);
    assert_eq!(rejected.body["decision_reason"], "Budget de l'année épuisé");
    assert!(
        rejected.body["members"]
            .as_array()
            .expect("members")
            .iter()
            .all(|m| m.get("reference").is_none())
    );
}

#[tokio::test]
async fn attendance_for_a_session_that_has_not_started_is_refused() {
    let app = spawn_app().await;
    let (scheme_id, reference) = scheme_with_voucher(&app).await;
    let epn = app.lot.token(Role::Epn);
    let registered = app
        .post(
            "/v1/registrations",
            epn,
            &json!({ "reference": reference, "last_name": "martin",
                     "interview": { "on": passerelle_test_support::paris_today(), "minutes": 30, "autonomy_level": "beginner" },
                     "modules": (1..=10).collect::<Vec<_>>() }),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.raw);
    // The attack: a session planned twenty days ahead, its sheet filled in today.
    let ahead = chrono::Utc::now() + chrono::Duration::days(20);
    let session = app
        .post(
            "/v1/sessions",
            epn,
            &json!({ "scheme_id": scheme_id, "module_number": 5, "starts_at": ahead, "capacity": 8 }),
        )
        .await;
    assert_eq!(session.status, 201, "{}", session.raw);
    let session_id = session.body["id"].as_str().expect("id");
    let sheet = app
        .post(
            &format!("/v1/sessions/{session_id}/attendance"),
            epn,
            &json!({ "entries": [{ "reference": reference, "status": "present" }] }),
        )
        .await;
    let problem = sheet.problem(409);
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("has not started"),
        "{}",
        sheet.raw
    );
    let voucher = app
        .get(
            &format!("/v1/vouchers/{reference}"),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(voucher.body["minutes_left"], 1200, "nothing debited");
}

#[tokio::test]
async fn an_epn_cannot_spend_a_prescribers_allocation_on_a_public_request() {
    let app = spawn_app().await;
    let scheme_id = pass_numerique(&app).await;
    let epn = app.ara.token(Role::Epn);
    let admin = app.ara.token(Role::TenantAdmin);
    let stock_path = format!("/v1/prescribers/{}/stock", app.ara.prescriber_id);
    let stock_before = app.get(&stock_path, admin).await;
    assert_eq!(stock_before.status, 200, "{}", stock_before.raw);

    // The attack: the EPN files a public request for its own EPN, then accepts it on the
    // prescriber's stock.
    let receipt = app
        .send(
            app.request("POST", "/v1/public/accompaniment-requests", None)
                .json(&json!({ "territory": app.ara.slug, "scheme": "pass-numerique", "epn_id": app.ara.epn_id,
                               "first_name": "Faux", "last_name": "Nom", "birth_year": 1970, "commune_insee": "07010",
                               "phone": "04 75 00 00 00" })),
        )
        .await;
    assert_eq!(receipt.status, 202, "{}", receipt.raw);
    let id = receipt.body["id"].as_str().expect("id");
    let path = format!("/v1/accompaniment-requests/{id}/accept");
    let refused = app
        .post(
            &path,
            epn,
            &json!({ "prescriber_id": app.ara.prescriber_id }),
        )
        .await;
    refused.problem(403);
    assert!(
        !refused.raw.contains("allocation is used up") && !refused.raw.contains("quantity"),
        "the refusal says nothing of the prescriber's stock: {}",
        refused.raw
    );
    // Without naming a funder either.
    app.post(&path, epn, &json!({})).await.problem(403);
    let stock_after = app.get(&stock_path, admin).await;
    assert_eq!(stock_after.body, stock_before.body, "nothing issued");

    // A prescriber's own request cannot be moved onto another organisation's allocation.
    let other = app
        .post(
            "/v1/prescribers",
            admin,
            &json!({ "name": "CCAS d'Annonay", "kind": "ccas" }),
        )
        .await;
    assert_eq!(other.status, 201, "{}", other.raw);
    let filed = app
        .post(
            "/v1/accompaniment-requests",
            app.ara.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "epn_id": app.ara.epn_id,
                     "beneficiary": { "first_name": "Inès", "last_name": "Roux", "birth_year": 1992, "commune_insee": "07010", "public_category": "single_parent" } }),
        )
        .await;
    assert_eq!(filed.status, 201, "{}", filed.raw);
    let moved = app
        .post(
            &format!(
                "/v1/accompaniment-requests/{}/accept",
                filed.body["id"].as_str().expect("id")
            ),
            epn,
            &json!({ "prescriber_id": other.body["id"] }),
        )
        .await;
    moved.problem(422);

    // The tenant admin may fund the public request.
    let funded = app
        .post(
            &path,
            admin,
            &json!({ "prescriber_id": app.ara.prescriber_id }),
        )
        .await;
    assert_eq!(funded.status, 200, "{}", funded.raw);
}
