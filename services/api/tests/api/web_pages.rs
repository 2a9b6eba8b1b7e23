//! The portal's work pages as a browser drives them: a prescriber issues a voucher and prints its
//! letter, an animator registers it and records a sheet, a finance officer approves and marks a
//! statement paid, a funder reads the statistics pages; each refused to the other roles and
//! tenants, as in the API.

use passerelle_core::reimbursements::{self, StatementFilter};
use passerelle_core::tenancy::Role;
use passerelle_core::vouchers::{self, Visibility};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};
use crate::web::{Browser, PASSWORD, SignedIn, with_password};

/// A browser signed in to the Lot's portal in one of its roles.
pub(crate) async fn signed_in(app: &TestApp, role: Role) -> SignedIn<'_> {
    let email = with_password(app, role).await;
    SignedIn::new(app, "lot", &email, PASSWORD).await
}

/// The Lot's Ticket Net, active, with the test EPN offering its modules 1 to 14 and a place on
/// the letter's list.
async fn ticket_net(app: &TestApp) -> String {
    let scheme_id = app.active_ticket_net_in_lot(5).await;
    let offer = app
        .post(
            &format!("/v1/epns/{}/offers", app.lot.epn_id),
            app.lot.token(Role::TenantAdmin),
            &json!({ "scheme_id": scheme_id, "modules": (1..=14).collect::<Vec<_>>() }),
        )
        .await;
    assert_eq!(offer.status, 200, "{}", offer.raw);
    scheme_id
}

/// A voucher issued through the API by the Lot's prescriber to a new senior of Figeac; its
/// reference.
async fn issue(app: &TestApp, scheme_id: &str, first_name: &str, last_name: &str) -> String {
    let issued = app
        .post(
            "/v1/vouchers",
            app.lot.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "beneficiary": { "first_name": first_name, "last_name": last_name,
                     "birth_year": 1950, "commune_insee": "46102", "public_category": "senior" } }),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    issued.body["voucher"]["reference"]
        .as_str()
        .expect("reference")
        .to_owned()
}

fn person<'a>(scheme_id: &'a str, token: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("csrf_token", token),
        ("scheme_id", scheme_id),
        ("first_name", "Hélène"),
        ("last_name", "Vidal"),
        ("birth_year", "1949"),
        ("commune_insee", "46042"),
        ("public_category", "senior"),
        ("participation", ""),
    ]
}

#[tokio::test]
async fn a_public_the_scheme_does_not_serve_is_refused_by_name_in_french() {
    let app = spawn_app().await;
    // A scheme for seniors only.
    let scheme_id = app
        .active_scheme_in_lot(
            &json!({ "code": "seniors", "name": "Chèque seniors", "preset": "ticket-net",
                     "rules": crate::access::sample_rules() }),
            5,
        )
        .await;

    // Through the API: a public outside the list is malformed; one the scheme does not serve
    // breaks a named rule.
    let issue = |category: &str| {
        json!({ "scheme_id": scheme_id, "beneficiary": { "first_name": "Inès", "last_name": "Roux",
                "birth_year": 1992, "commune_insee": "46102", "public_category": category } })
    };
    let prescriber = app.lot.token(Role::Prescriber);
    let unknown = app
        .post("/v1/vouchers", prescriber, &issue("martians"))
        .await;
    unknown.problem(400);
    let not_served = app
        .post("/v1/vouchers", prescriber, &issue("single_parent"))
        .await;
    not_served.problem(422);
    assert_eq!(not_served.error_fields(), ["public_category"]);
    assert_eq!(not_served.body["errors"][0]["rule"], "not_eligible");

    // Through the portal, in French, next to the field.
    let browser = signed_in(&app, Role::Prescriber).await;
    let token = browser.token.clone();
    let with_category = |category: &'static str| {
        person(&scheme_id, &token)
            .into_iter()
            .map(|(k, v)| (k, if k == "public_category" { category } else { v }))
            .collect::<Vec<_>>()
    };
    let refused = browser
        .send_form(
            "/portail/lot/cheques/nouveau",
            &with_category("single_parent"),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.html.contains(
            "Ce public (Femmes isolées avec enfants à charge) n’est pas éligible à ce dispositif."
        ),
        "{}",
        refused.html
    );
    assert!(refused.html.contains("id=\"public_category-erreur\""));
    let forged = browser
        .send_form("/portail/lot/cheques/nouveau", &with_category("martians"))
        .await;
    assert_eq!(forged.status, 422);
    assert!(forged.html.contains("Choisissez un public dans la liste."));
    let issued = browser
        .send_form("/portail/lot/cheques/nouveau", &with_category("senior"))
        .await;
    assert_eq!(issued.status, 303, "{}", issued.html);
}

#[tokio::test]
async fn a_prescriber_issues_a_voucher_with_the_duplicate_warning_and_prints_its_letter() {
    let app = spawn_app().await;
    let scheme_id = ticket_net(&app).await;
    let browser = signed_in(&app, Role::Prescriber).await;
    let token = browser.token.clone();

    let form = browser.get("/portail/lot/cheques/nouveau").await;
    assert_eq!(form.status, 200);
    assert!(form.html.contains("Retraités ou futurs retraités"));

    // Wrong fields are refused next to each, in French.
    let mut wrong = person(&scheme_id, &token);
    wrong.retain(|(k, _)| *k != "commune_insee" && *k != "birth_year");
    wrong.extend([("commune_insee", "Cahors"), ("birth_year", "49")]);
    let refused = browser
        .send_form("/portail/lot/cheques/nouveau", &wrong)
        .await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(refused.html.contains("id=\"birth_year-erreur\""));
    assert!(
        refused
            .html
            .contains("aria-describedby=\"birth_year-erreur\"")
    );
    assert!(refused.html.contains("Le formulaire contient"));
    let refused = browser
        .send_form(
            "/portail/lot/cheques/nouveau",
            &person(&scheme_id, &token)
                .into_iter()
                .map(|(k, v)| (k, if k == "commune_insee" { "Cahors" } else { v }))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .html
            .contains("Saisissez le code INSEE de la commune")
    );
    // A code of the right shape that no commune has: the nearest communes are offered.
    let refused = browser
        .send_form(
            "/portail/lot/cheques/nouveau",
            &person(&scheme_id, &token)
                .into_iter()
                .map(|(k, v)| (k, if k == "commune_insee" { "46341" } else { v }))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .html
            .contains("Aucune commune n’a le code 46341. Vouliez-vous dire"),
        "{}",
        refused.html
    );
    assert!(refused.html.contains("(46340)"), "{}", refused.html);

    // Without the page's token, nothing is issued.
    let forged = browser
        .send_form("/portail/lot/cheques/nouveau", &person(&scheme_id, "autre"))
        .await;
    assert_eq!(forged.status, 403);

    let issued = browser
        .send_form("/portail/lot/cheques/nouveau", &person(&scheme_id, &token))
        .await;
    assert_eq!(issued.status, 303, "{}", issued.html);
    let location = issued.location.expect("the voucher's page");
    assert!(location.ends_with("?emis=1"), "{location}");
    let page = browser.get(&location).await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("Chèque émis"));
    assert!(page.html.contains("Hélène Vidal"));
    let reference = location
        .trim_start_matches("/portail/lot/cheques/")
        .trim_end_matches("?emis=1")
        .to_owned();

    let letter = browser
        .get(&format!("/portail/lot/cheques/{reference}/courrier"))
        .await;
    assert_eq!(letter.status, 200);
    for expected in [
        reference.as_str(),
        "Hélène Vidal",
        "200,00 €",
        "20 heures",
        "Valable jusqu’au",
        "EPN",
        "/v1/public/balance-page",
        "/static/passerelle/courrier.css",
    ] {
        assert!(
            letter.html.contains(expected),
            "{expected}: {}",
            letter.html
        );
    }
    let print_rules = browser
        .browser
        .get("/static/passerelle/courrier.css", None)
        .await;
    assert!(print_rules.html.contains("@page"), "{}", print_rules.html);

    // The same person again: the form asks, then issues to the person already registered.
    let again = browser
        .send_form("/portail/lot/cheques/nouveau", &person(&scheme_id, &token))
        .await;
    assert_eq!(again.status, 409, "{}", again.html);
    assert!(
        again
            .html
            .contains("Cette personne est peut-être déjà enregistrée")
    );
    let same = again
        .html
        .split("value=\"meme:")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the choice of the same person")
        .to_owned();
    let choice = format!("meme:{same}");
    let second = browser
        .send_form(
            "/portail/lot/cheques/nouveau",
            &[
                person(&scheme_id, &token),
                vec![("duplicate", choice.as_str())],
            ]
            .concat(),
        )
        .await;
    assert_eq!(second.status, 303, "{}", second.html);
    let first = vouchers::get(&app.db.app, app.lot.id, &reference, Visibility::Tenant)
        .await
        .expect("first voucher");
    let second_reference = second
        .location
        .expect("location")
        .trim_start_matches("/portail/lot/cheques/")
        .trim_end_matches("?emis=1")
        .to_owned();
    let second = vouchers::get(
        &app.db.app,
        app.lot.id,
        &second_reference,
        Visibility::Tenant,
    )
    .await
    .expect("second voucher");
    assert_eq!(second.beneficiary_id, first.beneficiary_id);

    let list = browser.get("/portail/lot/cheques").await;
    assert_eq!(list.status, 200);
    let (first_at, second_at) = (
        list.html.find(&reference).expect("the first voucher"),
        list.html
            .find(&second_reference)
            .expect("the second voucher"),
    );
    assert!(second_at < first_at, "the newest voucher comes first");
    let found = browser
        .get(&format!(
            "/portail/lot/cheques?reference={}",
            reference.to_lowercase()
        ))
        .await;
    assert_eq!(
        found.location.as_deref(),
        Some(format!("/portail/lot/cheques/{reference}").as_str())
    );
    assert!(list.html.contains("Stock de chèques"));
}

#[tokio::test]
async fn a_prescriber_issues_from_a_csv_file_and_reads_the_row_report() {
    let app = spawn_app().await;
    let scheme_id = ticket_net(&app).await;
    let browser = signed_in(&app, Role::Prescriber).await;
    let (cookie, token) = (browser.cookie.clone(), browser.token.clone());
    let file = "Prénom;Nom;Année de naissance;Code INSEE;Catégorie\n\
                Louis;Bessières;1950;46042;retraité\n\
                Anna;Roux;19;46042;senior\n";
    let upload = |bytes: &'static str| {
        reqwest::multipart::Form::new()
            .text("csrf_token", token.clone())
            .text("scheme_id", scheme_id.clone())
            .part(
                "fichier",
                reqwest::multipart::Part::bytes(bytes.as_bytes())
                    .file_name("liste.csv")
                    .mime_str("text/csv")
                    .expect("mime"),
            )
    };
    let response = browser
        .browser
        .http
        .post(format!("{}/portail/lot/cheques/import", app.base))
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .multipart(upload(file))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with("/portail/lot/cheques/imports/"),
        "{location}"
    );
    let html = browser.finished_import_page(&location).await.html;
    assert!(html.contains("1 chèque(s) émis"), "{html}");
    assert!(html.contains("1 ligne(s) refusée(s)"), "{html}");
    assert!(html.contains("Saisissez l’année de naissance sur 4 chiffres"));

    let admin = signed_in(&app, Role::TenantAdmin).await;
    assert_eq!(
        admin.get(&location).await.status,
        403,
        "a voucher import is the prescriber's"
    );

    let response = browser
        .browser
        .http
        .post(format!("{}/portail/lot/cheques/import", app.base))
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .multipart(upload("Nom;Prénom\nRoux;Anna\n"))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("refusal");
    assert!(html.contains("Il manque des colonnes au fichier"), "{html}");
}

#[tokio::test]
async fn an_animator_registers_a_voucher_plans_a_session_and_records_its_sheet() {
    let app = spawn_app().await;
    let scheme_id = ticket_net(&app).await;
    let reference = issue(&app, &scheme_id, "Paul", "Lacombe").await;
    let browser = signed_in(&app, Role::Epn).await;
    let token = browser.token.clone();
    let path = "/portail/lot/epn/inscription";

    let unknown = browser
        .submit(
            path,
            &[
                ("step", "recherche"),
                ("reference", "LOT-AAAA-AAAA"),
                ("last_name", "Lacombe"),
            ],
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert!(
        unknown
            .html
            .contains("Aucun chèque ne porte cette référence")
    );

    let found = browser
        .submit(
            path,
            &[
                ("step", "recherche"),
                ("reference", reference.as_str()),
                ("last_name", "Lacombe"),
            ],
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.html);
    assert!(
        found
            .html
            .contains("Le dispositif demande d’en choisir 10.")
    );
    assert!(found.html.contains("name=\"modules\" value=\"14\""));

    let today = passerelle_test_support::paris_today().to_string();
    let mut form = vec![
        ("csrf_token", token.clone()),
        ("step", "inscription".into()),
        ("reference", reference.clone()),
        ("last_name", "lacombe".into()),
        ("interview_on", today.clone()),
        ("interview_minutes", "30".into()),
        ("autonomy_level", "beginner".into()),
    ];
    let three: Vec<(&str, String)> = (1..=3).map(|m| ("modules", m.to_string())).collect();
    let too_few = browser
        .send_form(path, &as_pairs(&[form.clone(), three].concat()))
        .await;
    assert_eq!(too_few.status, 422);
    assert!(
        too_few.html.contains(
            "Choisissez le nombre de modules demandé par le dispositif (10) : 3 choisis."
        )
    );
    form.extend((1..=10).map(|m| ("modules", m.to_string())));
    let registered = browser.send_form(path, &as_pairs(&form)).await;
    assert_eq!(registered.status, 303, "{}", registered.html);
    assert_eq!(
        registered.location.as_deref(),
        Some(format!("/portail/lot/epn?inscrit={reference}").as_str())
    );

    let planned = browser
        .submit(
            "/portail/lot/epn/seances",
            &[
                ("scheme_id", scheme_id.as_str()),
                ("module_number", "5"),
                ("day", today.as_str()),
                ("time", "00:05"),
                ("duration_minutes", ""),
                ("capacity", "8"),
            ],
        )
        .await;
    assert_eq!(planned.status, 303, "{}", planned.html);
    let sheet_path = planned.location.expect("the sheet");
    let sheet = browser.get(&sheet_path).await;
    assert_eq!(sheet.status, 200);
    assert!(sheet.html.contains("Paul Lacombe"));
    assert!(sheet.html.contains("2.1 Interagir"));

    // A sheet that was not the page's (an attendance or a level the page does not offer) is
    // refused whole, in French, and debits nothing.
    for (status, level) in [("sleeping", "practised"), ("present", "expert")] {
        let forged = browser
            .submit(
                &sheet_path,
                &[
                    ("ref_0", reference.as_str()),
                    ("statut_0", status),
                    ("comp_0_2.1", level),
                ],
            )
            .await;
        assert_eq!(forged.status, 400, "{}", forged.html);
        assert!(forged.html.contains("Feuille illisible"), "{}", forged.html);
    }
    let untouched = vouchers::get(&app.db.app, app.lot.id, &reference, Visibility::Tenant)
        .await
        .expect("voucher");
    assert_eq!(untouched.minutes_left, 20 * 60);

    let sent = browser
        .submit(
            &sheet_path,
            &[
                // Ticked once for the group, then adjusted for the person.
                ("groupe_2.1", "practised"),
                ("groupe_1.1", "discovered"),
                ("ref_0", reference.as_str()),
                ("statut_0", "present"),
                ("comp_0_2.1", ""),
                ("comp_0_1.1", "aucune"),
                ("comp_0_4.2", "acquired"),
            ],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.html);
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    let worked: Vec<(String, String)> = sqlx::query_as(
        "SELECT ac.competence_code, ac.level FROM attendance_competences ac
           JOIN attendances a ON a.tenant_id = ac.tenant_id AND a.id = ac.attendance_id
           JOIN vouchers v ON v.tenant_id = a.tenant_id AND v.id = a.voucher_id
          WHERE v.tenant_id = $2 AND v.reference = $1 ORDER BY 1",
    )
    .bind(&reference)
    .bind(app.lot.id)
    .fetch_all(&mut *tx)
    .await
    .expect("competences");
    tx.commit().await.expect("commit");
    assert_eq!(
        worked,
        [
            ("2.1".to_owned(), "practised".to_owned()),
            ("4.2".to_owned(), "acquired".to_owned())
        ],
        "the group's 2.1, not its 1.1, and the person's own 4.2"
    );
    assert!(
        sent.html.contains("noté présent ; il reste 18 heures."),
        "{}",
        sent.html
    );
    assert!(sent.html.contains("Déjà noté : présent"));
    let voucher = vouchers::get(&app.db.app, app.lot.id, &reference, Visibility::Tenant)
        .await
        .expect("voucher");
    assert_eq!(voucher.minutes_left, 18 * 60);

    let overview = browser.get("/portail/lot/epn").await;
    assert_eq!(overview.status, 200);
    assert!(
        overview.html.contains("<strong>1</strong> présence(s)"),
        "{}",
        overview.html
    );
}

fn as_pairs<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn a_finance_officer_opens_approves_and_marks_a_statement_paid() {
    let app = spawn_app().await;
    let scheme_id = ticket_net(&app).await;
    let epn = app.lot.token(Role::Epn);
    let reference = issue(&app, &scheme_id, "Rose", "Cayla").await;
    let reference = reference.as_str();
    let today = passerelle_test_support::paris_today();
    let registered = app
        .post("/v1/registrations", epn, &json!({ "reference": reference, "last_name": "Cayla",
              "interview": { "on": today, "minutes": 30 }, "modules": (1..=10).collect::<Vec<_>>() }))
        .await;
    assert_eq!(registered.status, 201, "{}", registered.raw);
    let session = app
        .post(
            "/v1/sessions",
            epn,
            &json!({ "scheme_id": scheme_id, "starts_at": chrono::Utc::now(), "capacity": 8 }),
        )
        .await;
    let session_id = session.body["id"].as_str().expect("session");
    let recorded = app
        .post(
            &format!("/v1/sessions/{session_id}/attendance"),
            epn,
            &json!({ "entries": [{ "reference": reference, "status": "present" }] }),
        )
        .await;
    assert_eq!(recorded.status, 200, "{}", recorded.raw);
    let month = passerelle_core::reimbursements::compute::month_of(today);
    reimbursements::compute::run_month(&app.db.app, app.lot.id, month)
        .await
        .expect("monthly run");
    let statement = reimbursements::list(
        &app.db.app,
        app.lot.id,
        &StatementFilter {
            month: Some(month),
            ..StatementFilter::default()
        },
    )
    .await
    .expect("statements")
    .remove(0);

    // A tenant admin reads statements but does not approve them (the API's role table).
    let admin = signed_in(&app, Role::TenantAdmin).await;
    let read = admin
        .get(&format!("/portail/lot/releve/{}", statement.id))
        .await;
    assert_eq!(read.status, 200);
    assert!(!read.html.contains("Valider le relevé"));

    let browser = signed_in(&app, Role::Finance).await;
    let path = format!("/portail/lot/releve/{}", statement.id);
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains(reference));
    assert!(page.html.contains("à valider"));
    let csv = browser.get(&format!("{path}/csv")).await;
    assert_eq!(csv.status, 200);
    assert!(csv.html.contains(reference), "{}", csv.html);

    let approved = browser.submit(&format!("{path}/valider"), &[]).await;
    assert_eq!(approved.status, 303, "{}", approved.html);
    let again = browser.submit(&format!("{path}/valider"), &[]).await;
    assert_eq!(again.status, 409);
    assert!(again.html.contains("Ce relevé est déjà validé."));

    let no_reference = browser
        .submit(
            &format!("{path}/payer"),
            &[("paid_on", "2026-11-20"), ("bank_reference", " ")],
        )
        .await;
    assert_eq!(no_reference.status, 422);
    assert!(no_reference.html.contains("id=\"bank_reference-erreur\""));
    let paid = browser
        .submit(
            &format!("{path}/payer"),
            &[
                ("paid_on", "2026-11-20"),
                ("bank_reference", "VIR-2026-118"),
            ],
        )
        .await;
    assert_eq!(paid.status, 303, "{}", paid.html);
    let page = browser.get(&path).await;
    assert!(
        page.html
            .contains("payé le 20 novembre 2026 (référence VIR-2026-118)"),
        "{}",
        page.html
    );

    // No treasury account yet: the SEPA file is refused with what to do, in French.
    let sepa = browser
        .get(&format!(
            "/portail/lot/releves/{}/sepa",
            month.format("%Y-%m")
        ))
        .await;
    assert_eq!(sepa.status, 409);
    assert!(
        sepa.html.contains("compte de trésorerie") || sepa.html.contains("Aucun relevé validé"),
        "{}",
        sepa.html
    );
}

#[tokio::test]
async fn a_funder_reads_the_statistics_pages_and_the_dashboard() {
    let app = spawn_app().await;
    let browser = signed_in(&app, Role::Funder).await;
    let home = browser.get("/portail/lot/").await;
    assert!(home.html.contains("Statistiques publiées"));
    assert!(home.html.contains("Tableau de bord"));
    assert!(!home.html.contains("Émettre un chèque"));
    let list = browser.get("/portail/lot/statistiques").await;
    assert_eq!(list.status, 200);
    assert!(
        list.html
            .contains("Aucune statistique calculée pour l’instant")
    );
    let board = browser.get("/portail/lot/statistiques/tableau").await;
    assert_eq!(board.status, 200);
    assert!(board.html.contains("<svg viewBox"));
    assert!(board.html.contains("Chèques émis et terminés par mois"));
}

#[tokio::test]
async fn each_page_is_refused_to_the_roles_the_api_refuses() {
    let app = spawn_app().await;
    let pages: [(&str, &[Role]); 22] = [
        ("/portail/lot/dispositifs", &[Role::TenantAdmin]),
        ("/portail/lot/prescripteurs", &[Role::TenantAdmin]),
        ("/portail/lot/epns", &[Role::TenantAdmin]),
        ("/portail/lot/utilisateurs", &[Role::TenantAdmin]),
        ("/portail/lot/courriels", &[Role::TenantAdmin]),
        ("/portail/lot/journal", &[Role::TenantAdmin]),
        ("/portail/lot/cheques/nouveau", &[Role::Prescriber]),
        ("/portail/lot/cheques", &[Role::Prescriber]),
        ("/portail/lot/cheques/import", &[Role::Prescriber]),
        ("/portail/lot/epn", &[Role::Epn]),
        ("/portail/lot/epn/inscription", &[Role::Epn]),
        // An EPN's own bank details; a tenant admin is sent to the network's pages.
        ("/portail/lot/epn/banque", &[Role::Epn, Role::TenantAdmin]),
        (
            "/portail/lot/releves",
            &[Role::Finance, Role::TenantAdmin, Role::Epn],
        ),
        (
            "/portail/lot/remboursements",
            &[Role::Finance, Role::TenantAdmin, Role::Epn],
        ),
        (
            "/portail/lot/statistiques",
            &[Role::Funder, Role::Finance, Role::TenantAdmin],
        ),
        (
            "/portail/lot/statistiques/tableau",
            &[Role::Funder, Role::Finance, Role::TenantAdmin],
        ),
        ("/portail/lot/releves/2026-10/sepa", &[Role::Finance]),
        (
            "/portail/lot/financeurs",
            &[Role::Finance, Role::TenantAdmin],
        ),
        // The funders' files: refused by role before any funder or scheme is looked up.
        (
            "/portail/lot/financeurs/0190f000-0000-7000-8000-000000000000/demande/2026-01/2026-10",
            &[Role::Finance, Role::TenantAdmin],
        ),
        (
            "/portail/lot/financeurs/rapprochement/0190f000-0000-7000-8000-000000000000/2026-10",
            &[Role::Finance, Role::TenantAdmin],
        ),
        (
            "/portail/lot/projets",
            &[Role::TenantAdmin, Role::Epn, Role::Prescriber],
        ),
        ("/portail/lot/projets/nouveau", &[Role::Prescriber]),
    ];
    for role in Role::TENANT {
        let browser = signed_in(&app, role).await;
        for (path, allowed) in pages {
            let page = browser.get(path).await;
            if allowed.contains(&role) {
                // Let in, and answered: a page that fails for a role it serves is no better.
                assert!(
                    page.status != 403 && page.status < 500,
                    "{role:?} on {path}: {} {}",
                    page.status,
                    page.html
                );
            } else {
                assert_eq!(page.status, 403, "{role:?} on {path}: {}", page.html);
                assert!(page.html.contains("Accès réservé"));
            }
        }
    }
}

#[tokio::test]
async fn vouchers_and_sessions_are_unknown_to_other_tenants_and_epns() {
    let app = spawn_app().await;
    let scheme_id = ticket_net(&app).await;
    let reference = issue(&app, &scheme_id, "Jean", "Salvat").await;
    let reference = reference.as_str();

    // The Auvergne-Rhône-Alpes prescriber, signed in to its own portal.
    let email = crate::web::with_password_in(&app, &app.ara, Role::Prescriber).await;
    let browser = SignedIn::new(&app, "ara", &email, PASSWORD).await;
    for path in [
        format!("/portail/ara/cheques/{reference}"),
        format!("/portail/ara/cheques/{reference}/courrier"),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(page.html.contains("Aucun chèque ne porte cette référence"));
    }
    // Its cookie opens nothing in the Lot's portal.
    let lot = browser
        .get(&format!("/portail/lot/cheques/{reference}"))
        .await;
    assert_eq!(lot.status, 303);

    // An animator of the Lot finds no session of another EPN of the Lot, though it exists.
    let epn_browser = signed_in(&app, Role::Epn).await;
    let other_epn = passerelle_core::epns::create_named(&app.db.app, app.lot.id, "EPN de Cahors")
        .await
        .expect("another EPN");
    let new_session = passerelle_core::delivery::sessions::NewSession {
        scheme_id: scheme_id.parse().expect("scheme id"),
        module_number: None,
        starts_at: chrono::Utc::now() + chrono::Duration::days(1),
        duration_minutes: None,
        capacity: 10,
        animator: None,
        place: None,
    };
    let session = |epn_id| {
        passerelle_core::delivery::sessions::create(
            &app.db.app,
            app.lot.id,
            epn_id,
            passerelle_core::audit::Actor::SYSTEM,
            &new_session,
        )
    };
    let theirs = session(other_epn).await.expect("their session");
    let ours = session(app.lot.epn_id).await.expect("our session");
    let other = epn_browser
        .get(&format!("/portail/lot/epn/seances/{}", theirs.id))
        .await;
    assert_eq!(other.status, 404, "{}", other.html);
    let own = epn_browser
        .get(&format!("/portail/lot/epn/seances/{}", ours.id))
        .await;
    assert_eq!(own.status, 200, "{}", own.html);
}

async fn outbox_rows(
    app: &TestApp,
    kind: passerelle_core::emails::Kind,
) -> Vec<passerelle_core::emails::OutboxMessage> {
    passerelle_core::emails::outbox::list(
        &app.db.app,
        app.lot.id,
        &passerelle_core::emails::outbox::EmailFilter {
            kind: Some(kind),
            ..Default::default()
        },
        passerelle_core::pagination::PageRequest::parse(Some(100), None).expect("page"),
    )
    .await
    .expect("outbox")
    .items
}

#[tokio::test]
async fn a_tenant_admin_invites_a_user_by_email_and_disables_another() {
    let app = spawn_app().await;
    let browser = signed_in(&app, Role::TenantAdmin).await;
    let list = browser.get("/portail/lot/utilisateurs").await;
    assert_eq!(list.status, 200);
    assert!(list.html.contains("finance@lot.example"));
    assert!(list.html.contains("gestionnaire financier"));

    let no_epn = browser
        .submit(
            "/portail/lot/utilisateurs",
            &[
                ("display_name", "Lucie Bach"),
                ("email", "lucie.bach@lot.example"),
                ("role", "epn"),
            ],
        )
        .await;
    assert_eq!(no_epn.status, 422);
    assert!(
        no_epn.html.contains("id=\"epn_id-erreur\""),
        "{}",
        no_epn.html
    );

    let created = browser
        .submit(
            "/portail/lot/utilisateurs",
            &[
                ("display_name", "Lucie Bach"),
                ("email", "lucie.bach@lot.example"),
                ("role", "epn"),
                ("epn_id", &app.lot.epn_id.to_string()),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.html);
    let list = browser
        .get(&created.location.expect("back to the list"))
        .await;
    assert!(list.html.contains("Invitation envoyée"));
    assert!(list.html.contains("invité, mot de passe à choisir"));
    let invitations = outbox_rows(&app, passerelle_core::emails::Kind::Invitation).await;
    assert_eq!(invitations.len(), 1);
    let new_user = invitations[0].user_id.expect("the user");

    let same_address = browser
        .submit(
            "/portail/lot/utilisateurs",
            &[
                ("display_name", "Lucie Bach"),
                ("email", "Lucie.Bach@lot.example"),
                ("role", "funder"),
            ],
        )
        .await;
    assert_eq!(same_address.status, 422);
    assert!(
        same_address
            .html
            .contains("Un compte existe déjà avec cette adresse")
    );

    // Sent again before the first left: still one email waiting.
    let again = browser
        .submit(
            &format!("/portail/lot/utilisateurs/{new_user}/invitation"),
            &[],
        )
        .await;
    assert_eq!(again.status, 303);
    assert_eq!(
        outbox_rows(&app, passerelle_core::emails::Kind::Invitation)
            .await
            .len(),
        1
    );

    let funder = app.lot.users[&Role::Funder];
    let disabled = browser
        .submit(
            &format!("/portail/lot/utilisateurs/{funder}/desactivation"),
            &[],
        )
        .await;
    assert_eq!(disabled.status, 303);
    let user = passerelle_core::tenancy::users::get(&app.db.app, app.lot.id, funder)
        .await
        .expect("user");
    assert!(user.disabled_at.is_some());

    // The logs read newest first: the invitation comes before the password set when signing in.
    let journal = browser.get("/portail/lot/journal").await;
    let invited = journal.html.find("user.invited").expect("the invitation");
    let password = journal
        .html
        .find("user.password_set")
        .expect("the password");
    assert!(invited < password, "{}", journal.html);
    let only = browser
        .get("/portail/lot/journal?action=user.invited")
        .await;
    assert!(only.html.contains("user.invited"));
    assert!(!only.html.contains("user.password_set"));
    let emails = browser
        .get("/portail/lot/courriels?nature=invitation")
        .await;
    assert!(emails.html.contains("invitation au portail"));
    let none = browser.get("/portail/lot/courriels?nature=welcome").await;
    assert!(none.html.contains("Aucun courriel."));
}

#[tokio::test]
async fn the_password_pages_tell_nobody_which_addresses_have_an_account() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let base = Some(app.base.as_str());
    let sign_in = browser.get("/portail/lot/connexion", None).await;
    assert!(
        sign_in
            .html
            .contains("href=\"/portail/lot/mot-de-passe-oublie\"")
    );

    let known = browser
        .post(
            "/portail/lot/mot-de-passe-oublie",
            None,
            base,
            &[("email", "finance@lot.example")],
        )
        .await;
    let unknown = browser
        .post(
            "/portail/lot/mot-de-passe-oublie",
            None,
            base,
            &[("email", "personne@lot.example")],
        )
        .await;
    assert_eq!(known.status, 200);
    assert_eq!((unknown.status, unknown.html), (known.status, known.html));
    let resets = outbox_rows(&app, passerelle_core::emails::Kind::PasswordReset).await;
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].user_id, Some(app.lot.users[&Role::Finance]));

    let forged = browser
        .post(
            "/portail/lot/mot-de-passe-oublie",
            None,
            Some("https://ailleurs.example"),
            &[("email", "finance@lot.example")],
        )
        .await;
    assert_eq!(forged.status, 403);

    let unknown_link = browser
        .get("/portail/lot/mot-de-passe/pas-un-vrai-lien", None)
        .await;
    assert_eq!(unknown_link.status, 410);
    assert!(unknown_link.html.contains("Ce lien n’est plus valable"));
    let posted = browser
        .post(
            "/portail/lot/mot-de-passe/pas-un-vrai-lien",
            None,
            base,
            &[
                ("password", "un-mot-de-passe-assez-long"),
                ("confirmation", "un-mot-de-passe-assez-long"),
            ],
        )
        .await;
    assert_eq!(posted.status, 410);
}

#[tokio::test]
async fn a_tenant_admin_sets_up_a_scheme_its_prescribers_and_its_epns() {
    let app = spawn_app().await;
    let browser = signed_in(&app, Role::TenantAdmin).await;
    let token = browser.token.clone();
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let browser = &browser;
        async move {
            browser
                .send_form(
                    path,
                    &form
                        .iter()
                        .map(|(k, v)| (*k, v.as_str()))
                        .collect::<Vec<_>>(),
                )
                .await
        }
    };
    let csrf = || ("csrf_token", token.clone());

    // A scheme from the Pass Numérique preset, opened, then its rules changed from tomorrow.
    let no_preset = post(
        "/portail/lot/dispositifs",
        vec![csrf(), ("name", "Pass".into()), ("code", "pass".into())],
    )
    .await;
    assert_eq!(no_preset.status, 422);
    assert!(no_preset.html.contains("id=\"preset-erreur\""));
    let created = post(
        "/portail/lot/dispositifs",
        vec![
            csrf(),
            ("preset", "pass-numerique".into()),
            ("name", "Pass Numérique du Lot".into()),
            ("code", "pass-lot".into()),
        ],
    )
    .await;
    assert_eq!(created.status, 303, "{}", created.html);
    let list = browser.get("/portail/lot/dispositifs").await;
    assert!(list.html.contains("Pass Numérique du Lot"));
    assert!(list.html.contains("brouillon"));
    let scheme_id = list
        .html
        .split("/portail/lot/dispositifs/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the scheme's link")
        .to_owned();
    let opened = browser
        .submit(
            &format!("/portail/lot/dispositifs/{scheme_id}/etat"),
            &[("status", "active")],
        )
        .await;
    assert_eq!(opened.status, 303);
    let page = browser
        .get(&format!("/portail/lot/dispositifs/{scheme_id}"))
        .await;
    assert!(
        page.html.contains("État : <strong>ouvert</strong>"),
        "{}",
        page.html
    );
    let today = passerelle_test_support::paris_today();
    let rules = |from: String, hours: &str| {
        vec![
            ("csrf_token", token.clone()),
            ("effective_from", from),
            ("face_value_cents", "40,00".to_owned()),
            ("voucher_hours", hours.to_owned()),
            ("session_minutes", "120".to_owned()),
            ("modules_to_choose", "0".to_owned()),
            ("hourly_rate_cents", "20".to_owned()),
            ("validity_months", "12".to_owned()),
        ]
    };
    let path = format!("/portail/lot/dispositifs/{scheme_id}/regles");
    let yesterday = rules((today - chrono::Days::new(1)).to_string(), "4");
    let refused = browser.send_form(&path, &as_pairs(&yesterday)).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused
            .html
            .contains("Les règles ne changent jamais dans le passé")
    );
    let odd = rules((today + chrono::Days::new(1)).to_string(), "3");
    let refused = browser.send_form(&path, &as_pairs(&odd)).await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.html.contains("id=\"voucher_hours-erreur\""),
        "{}",
        refused.html
    );
    let good = rules((today + chrono::Days::new(1)).to_string(), "4");
    let changed = browser.send_form(&path, &as_pairs(&good)).await;
    assert_eq!(changed.status, 303, "{}", changed.html);
    let page = browser
        .get(changed.location.as_deref().expect("back"))
        .await;
    assert!(page.html.contains("Version 2, en vigueur à partir du"));

    // A prescriber organisation with its allocation, then more vouchers. A kind that is not in
    // the list (a forged form) is told next to its field, like a bad SIRET.
    let bad_kind = post(
        "/portail/lot/prescripteurs",
        vec![
            csrf(),
            ("name", "CCAS de Gourdon".into()),
            ("kind", "ministere".into()),
        ],
    )
    .await;
    assert_eq!(bad_kind.status, 422, "{}", bad_kind.html);
    assert!(
        bad_kind
            .html
            .contains("Choisissez une nature de structure dans la liste.")
    );
    let bad_siret = post(
        "/portail/lot/prescripteurs",
        vec![
            csrf(),
            ("name", "CCAS de Gourdon".into()),
            ("kind", "ccas".into()),
            ("siret", "123".into()),
        ],
    )
    .await;
    assert_eq!(bad_siret.status, 422);
    assert!(bad_siret.html.contains("Saisissez un SIRET de 14 chiffres"));
    let added = post(
        "/portail/lot/prescripteurs",
        vec![
            csrf(),
            ("name", "CCAS de Gourdon".into()),
            ("kind", "ccas".into()),
            ("contact_email", "accueil@ccas-gourdon.example".into()),
        ],
    )
    .await;
    assert_eq!(added.status, 303, "{}", added.html);
    let organisations = passerelle_core::prescribers::list(
        &app.db.app,
        app.lot.id,
        passerelle_core::pagination::PageRequest::parse(Some(100), None).expect("page"),
    )
    .await
    .expect("list");
    let gourdon = organisations
        .items
        .iter()
        .find(|p| p.name == "CCAS de Gourdon")
        .expect("added")
        .id;
    let allocation = |quantity: &str| {
        vec![
            ("csrf_token", token.clone()),
            ("prescriber_id", gourdon.to_string()),
            ("scheme_id", scheme_id.clone()),
            ("period_start", "2027-01-01".to_owned()),
            ("period_end", "2027-12-31".to_owned()),
            ("quantity", quantity.to_owned()),
        ]
    };
    let allocated = browser
        .send_form(
            "/portail/lot/prescripteurs/dotations",
            &as_pairs(&allocation("30")),
        )
        .await;
    assert_eq!(allocated.status, 303, "{}", allocated.html);
    let overlap = browser
        .send_form(
            "/portail/lot/prescripteurs/dotations",
            &as_pairs(&allocation("10")),
        )
        .await;
    assert_eq!(overlap.status, 422);
    assert!(
        overlap
            .html
            .contains("a déjà une dotation pour ce dispositif"),
        "{}",
        overlap.html
    );
    // Through the API, the same overlap is a conflict that names the problem (not a 500).
    let api_overlap = app
        .post(
            &format!("/v1/prescribers/{gourdon}/allocations"),
            app.lot.token(Role::TenantAdmin),
            &json!({ "scheme_id": scheme_id, "period_start": "2027-06-01", "period_end": "2027-06-30", "quantity": 5 }),
        )
        .await;
    api_overlap.problem(409);
    assert!(
        api_overlap.raw.contains("already has an allocation"),
        "{}",
        api_overlap.raw
    );
    let current = passerelle_core::prescribers::allocations(&app.db.app, app.lot.id, gourdon, None)
        .await
        .expect("allocations");
    let more = browser
        .submit(
            &format!(
                "/portail/lot/prescripteurs/{gourdon}/dotations/{}",
                current[0].id
            ),
            &[("quantity", "45")],
        )
        .await;
    assert_eq!(more.status, 303);
    let current = passerelle_core::prescribers::allocations(&app.db.app, app.lot.id, gourdon, None)
        .await
        .expect("allocations");
    assert_eq!(current[0].quantity, 45);

    // The open-data file of places, then one EPN's offer and bank details.
    let import = |file: &[u8]| {
        browser
            .browser
            .http
            .post(format!("{}/portail/lot/epns/import", app.base))
            .header("cookie", &browser.cookie)
            .header("origin", &app.base)
            .multipart(
                reqwest::multipart::Form::new()
                    .text("csrf_token", token.clone())
                    .part(
                        "fichier",
                        reqwest::multipart::Part::bytes(file.to_vec()).file_name("lieux.csv"),
                    ),
            )
            .send()
    };
    let wrong_file = import(b"Pr\xc3\xa9nom;Nom\nLucie;Bouysset\n")
        .await
        .expect("import");
    assert_eq!(wrong_file.status(), 422);
    let html = wrong_file.text().await.expect("refusal");
    assert!(
        html.contains("format des lieux de médiation numérique (schéma national) : il y manque les colonnes id."),
        "{html}"
    );
    let response = import(include_bytes!(
        "../../../../infra/data/lieux-mediation-numerique-lot.csv"
    ))
    .await
    .expect("import");
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let html = browser.finished_import_page(&location).await.html;
    assert!(
        html.contains("4 ligne(s) lue(s) : 4 lieu(x) créé(s), 0 mis à jour, 0 ligne(s) refusée(s), 1 avec un avertissement"),
        "{html}"
    );
    assert!(html.contains("lundi 9h-12h"), "{html}");
    let network = browser.get("/portail/lot/epns").await;
    assert!(
        network.html.contains(&location),
        "the network's page lists the import"
    );
    let epn = app.lot.epn_id;
    let offered = browser
        .submit(
            &format!("/portail/lot/epns/{epn}/offre"),
            &[
                ("scheme_id", scheme_id.as_str()),
                ("modules", "1"),
                ("modules", "2"),
            ],
        )
        .await;
    assert_eq!(offered.status, 303, "{}", offered.html);
    let bad_iban = browser
        .submit(
            &format!("/portail/lot/epns/{epn}/banque"),
            &[("iban", "FR76 0000"), ("account_holder", "Commune")],
        )
        .await;
    assert_eq!(bad_iban.status, 422);
    assert!(bad_iban.html.contains("Saisissez un IBAN valide"));
    let banked = browser
        .submit(
            &format!("/portail/lot/epns/{epn}/banque"),
            &[
                ("iban", "FR76 3000 6000 0112 3456 7890 189"),
                ("account_holder", "Commune de Figeac"),
            ],
        )
        .await;
    assert_eq!(banked.status, 303);
    // Submitted, not in effect: the admin who typed it cannot confirm it, in the portal either.
    let page = browser.get(&format!("/portail/lot/epns/{epn}")).await;
    assert!(
        page.html.contains("en attente de confirmation"),
        "{}",
        page.html
    );
    let waiting = app
        .get("/v1/bank-changes", app.lot.token(Role::Finance))
        .await;
    let change = waiting.body["items"][0]["id"]
        .as_str()
        .expect("a waiting change")
        .to_owned();
    let own = browser
        .submit(
            &format!("/portail/lot/banque/{change}/confirmer"),
            &[("mois", "2026-11")],
        )
        .await;
    assert_eq!(own.status, 403, "{}", own.html);
    assert!(own.html.contains("une autre personne"), "{}", own.html);
    let finance = signed_in(&app, Role::Finance).await;
    let months = finance.get("/portail/lot/releves?mois=2026-11").await;
    assert!(
        months.html.contains("FR76 3000 6000 0112 3456 7890 189"),
        "{}",
        months.html
    );
    let confirmed = finance
        .submit(
            &format!("/portail/lot/banque/{change}/confirmer"),
            &[("mois", "2026-11")],
        )
        .await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.html);
    let page = browser.get(&format!("/portail/lot/epns/{epn}")).await;
    assert!(page.html.contains("FR76…0189"));
    assert!(!page.html.contains("en attente de confirmation"));
    assert!(page.html.contains("value=\"2\" checked"));
    assert!(!page.html.contains("value=\"3\" checked"));
}
