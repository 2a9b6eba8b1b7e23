//! « Je développe mes compétences numériques » as a person sends it from a phone: the form, its
//! defences against robots (the hidden field, the time to fill it in, one send per form, the limits
//! per address), the receipt and the confirmation email; then the request at the top of the EPN's
//! list however much spam came before, and its expiry when nobody answers.

use passerelle_core::beneficiaries::NewBeneficiary;
use passerelle_core::delivery::accompaniment::{self, PublicRequest};
use passerelle_core::tenancy::Role;
use serde_json::json;

use crate::helpers::{TestApp, away_from_a_minute_boundary, spawn_app};
use crate::web::{Browser, Page, csrf_token};

/// The form's hidden token, read from its page.
fn token(page: &Page) -> String {
    let html = page
        .html
        .replace("name=\"jeton\" value=", "name=\"csrf_token\" value=");
    csrf_token(&html)
}

async fn pass_numerique_with_epn(app: &TestApp) -> (String, String) {
    let scheme_id = app
        .active_scheme_in_lot(
            &json!({ "code": "pass-numerique", "name": "Pass Numérique", "preset": "pass-numerique" }),
            5,
        )
        .await;
    let epn_id = figeac_taking_part(app, &scheme_id).await;
    (scheme_id, epn_id)
}

/// The EPN of Figeac, offering the scheme `scheme_id`'s first module.
async fn figeac_taking_part(app: &TestApp, scheme_id: &str) -> String {
    let admin = app.lot.token(Role::TenantAdmin);
    let created = app
        .post(
            "/v1/epns",
            admin,
            &json!({ "nom": "EPN de Figeac", "code_postal": "46100", "commune": "Figeac", "telephone": "05 65 34 00 00" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let epn_id = created.body["id"].as_str().expect("id").to_owned();
    let offer = app
        .post(
            &format!("/v1/epns/{epn_id}/offers"),
            admin,
            &json!({ "scheme_id": scheme_id, "modules": [1] }),
        )
        .await;
    assert_eq!(offer.status, 200, "{}", offer.raw);
    epn_id
}

const FIGEAC_ANIMATOR: &str = "animatrice@figeac.example";

/// An animator of the EPN `epn_id` of the Lot, as the user's id.
async fn figeac_animator(app: &TestApp, epn_id: &str) -> uuid::Uuid {
    use passerelle_core::tenancy::users::{self, NewUser};
    users::create(
        &app.db.app,
        app.lot.id,
        &NewUser {
            email: FIGEAC_ANIMATOR.into(),
            display_name: "Animatrice de Figeac".into(),
            role: Role::Epn,
            prescriber_id: None,
            epn_id: Some(epn_id.parse().expect("uuid")),
        },
    )
    .await
    .expect("user")
    .id
}

/// A token of an animator of the EPN `epn_id`.
async fn animator_of(app: &TestApp, epn_id: &str) -> String {
    use passerelle_core::audit::Actor;
    use passerelle_core::tenancy::tokens::{self, NewToken};
    let user_id = figeac_animator(app, epn_id).await;
    tokens::issue_for_user(
        &app.db.app,
        app.lot.id,
        Actor::SYSTEM,
        user_id,
        &NewToken {
            name: "tests".into(),
            expires_at: None,
        },
    )
    .await
    .expect("token")
    .secret
}

const FORM: &str = "/territoires/lot/pass-numerique/demande";

fn fields<'a>(
    jeton: &'a str,
    epn_id: &'a str,
    last_name: &'a str,
    email: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("jeton", jeton),
        ("site_web", ""),
        ("first_name", "Odette"),
        ("last_name", last_name),
        ("birth_year", "1951"),
        ("postal_code", "46100"),
        ("commune_name", "Figeac"),
        ("phone", ""),
        ("email", email),
        ("public_category", "senior"),
        ("epn_id", epn_id),
        ("message", "Envoyer des photos à mes petits-enfants"),
    ]
}

async fn public_requests(app: &TestApp) -> Vec<(String, Option<String>, String)> {
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    let rows = sqlx::query_as(
        "SELECT status, last_name, coalesce(message, '') FROM accompaniment_requests WHERE channel = 'public_form' ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("requests");
    tx.commit().await.expect("commit");
    rows
}

#[tokio::test]
async fn a_person_sends_the_form_once_robots_do_not_and_the_epn_finds_it_above_the_spam() {
    let app = spawn_app().await;
    let (_, epn_id) = pass_numerique_with_epn(&app).await;
    let browser = Browser::new(&app);
    away_from_a_minute_boundary().await;

    let opened = browser.get(&format!("{FORM}?epn={epn_id}"), None).await;
    assert_eq!(opened.status, 200, "{}", opened.html);
    assert!(
        opened
            .html
            .contains("Je développe mes compétences numériques")
    );
    assert!(opened.html.contains("EPN de Figeac — 46100 Figeac"));
    assert!(
        opened
            .html
            .contains(&format!("value=\"{epn_id}\" selected")),
        "the place chosen in the kit is preselected"
    );

    // Sent at once, as a robot does: not recorded, the person is asked to send it again.
    let first = token(&opened);
    let hasty = browser
        .post(
            FORM,
            None,
            Some(&app.base),
            &fields(&first, &epn_id, "Lasserre", "odette@example.org"),
        )
        .await;
    assert_eq!(hasty.status, 422, "{}", hasty.html);
    assert!(hasty.html.contains("pas encore partie"), "{}", hasty.html);
    assert!(
        hasty.html.contains("value=\"Lasserre\""),
        "what was typed stays"
    );

    // Forms opened now are sent after a person's reading time.
    let mut tokens = Vec::new();
    for _ in 0..7 {
        tokens.push(token(&browser.get(FORM, None).await));
    }
    tokens.push(token(&hasty));
    tokio::time::sleep(std::time::Duration::from_millis(3_100)).await;

    // A robot fills in the field people do not see: told it went through, nothing is kept.
    let mut trapped = fields(&tokens[0], &epn_id, "Robot", "robot@example.org");
    trapped[1] = ("site_web", "https://spam.example");
    let robot = browser.post(FORM, None, Some(&app.base), &trapped).await;
    assert_eq!(robot.status, 303);
    assert!(
        public_requests(&app).await.is_empty(),
        "a trapped request is not kept"
    );

    // A person who gives no way to be reached is told so next to the field.
    let unreachable = browser
        .post(
            FORM,
            None,
            Some(&app.base),
            &fields(&tokens[1], &epn_id, "Lasserre", ""),
        )
        .await;
    assert_eq!(unreachable.status, 422, "{}", unreachable.html);
    assert!(
        unreachable
            .html
            .contains("Donnez un numéro de téléphone ou une adresse électronique"),
        "{}",
        unreachable.html
    );
    assert!(
        unreachable
            .html
            .contains("aria-describedby=\"phone-erreur\"")
    );

    // 500 requests of spam got through from many addresses before the person sends theirs.
    let tenant_slug = app.lot.slug.clone();
    for i in 0..500 {
        accompaniment::request_public(
            &app.db.app,
            &tenant_slug,
            "pass-numerique",
            &PublicRequest {
                epn_id: epn_id.parse().expect("uuid"),
                person: NewBeneficiary {
                    first_name: "Spam".into(),
                    last_name: format!("Robot{i}"),
                    birth_year: 1990,
                    commune_insee: "46102".into(),
                    phone: Some("0600000000".into()),
                    ..NewBeneficiary::default()
                },
                message: Some("Achetez maintenant".into()),
                ..PublicRequest::default()
            },
        )
        .await
        .expect("spam recorded");
    }

    let sent = browser
        .post(
            FORM,
            None,
            Some(&app.base),
            &fields(&tokens[7], &epn_id, "Lasserre", "odette@example.org"),
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.html);
    let receipt_path = sent.location.expect("receipt");
    assert_eq!(
        receipt_path,
        format!("{FORM}/recue?epn={epn_id}&courriel=1")
    );
    let receipt = browser.get(&receipt_path, None).await;
    assert_eq!(receipt.status, 200);
    assert!(receipt.html.contains("Votre demande est envoyée"));
    assert!(receipt.html.contains("EPN de Figeac") && receipt.html.contains("05 65 34 00 00"));
    assert!(receipt.html.contains("courriel de confirmation"));

    // The same form sent twice is one request.
    let again = browser
        .post(
            FORM,
            None,
            Some(&app.base),
            &fields(&tokens[7], &epn_id, "Lasserre", "odette@example.org"),
        )
        .await;
    assert_eq!(again.status, 422, "{}", again.html);
    assert!(again.html.contains("déjà été envoyé"));

    // The EPN's first page holds the person's request, newest first.
    let animator = animator_of(&app, &epn_id).await;
    let inbox = app
        .get(
            "/v1/accompaniment-requests?status=pending&limit=10",
            &animator,
        )
        .await;
    assert_eq!(inbox.status, 200, "{}", inbox.raw);
    assert_eq!(
        inbox.body["items"][0]["message"], "Envoyer des photos à mes petits-enfants",
        "{}",
        inbox.raw
    );
    assert!(
        inbox.body["next_cursor"].is_string(),
        "the spam is on later pages"
    );
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    let (postal_code, commune, told): (Option<String>, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT r.postal_code, r.commune_name, o.recipient FROM accompaniment_requests r
           LEFT JOIN email_outbox o ON o.tenant_id = r.tenant_id
                 AND o.accompaniment_request_id = r.id AND o.kind = 'request_received'
          WHERE r.tenant_id = $1 AND r.last_name = 'Lasserre'",
        )
        .bind(app.lot.id)
        .fetch_one(&mut *tx)
        .await
        .expect("the request");
    tx.commit().await.expect("commit");
    assert_eq!(postal_code.as_deref(), Some("46100"));
    assert_eq!(commune.as_deref(), Some("Figeac"));
    assert_eq!(
        told.as_deref(),
        Some("odette@example.org"),
        "a confirmation is on its way"
    );

    // Five sends a minute from one address: the missing-contact one and the person's count.
    for (i, jeton) in tokens[2..5].iter().enumerate() {
        let name = format!("Voisin{i}");
        let more = browser
            .post(
                FORM,
                None,
                Some(&app.base),
                &fields(jeton, &epn_id, &name, "voisin@example.org"),
            )
            .await;
        assert_eq!(more.status, 303, "{}", more.html);
    }
    let sixth = browser
        .post(
            FORM,
            None,
            Some(&app.base),
            &fields(&tokens[5], &epn_id, "Sixieme", "voisin@example.org"),
        )
        .await;
    assert_eq!(sixth.status, 429, "{}", sixth.html);
    assert!(sixth.html.contains("Trop de demandes"));
}

#[tokio::test]
async fn an_unanswered_request_expires_and_one_with_a_postal_code_needs_its_commune_code_to_be_accepted()
 {
    let app = spawn_app().await;
    let (_, epn_id) = pass_numerique_with_epn(&app).await;
    let request = |last_name: &str| PublicRequest {
        epn_id: epn_id.parse().expect("uuid"),
        person: NewBeneficiary {
            first_name: "Odette".into(),
            last_name: last_name.into(),
            birth_year: 1951,
            email: Some("odette@example.org".into()),
            ..NewBeneficiary::default()
        },
        postal_code: Some("46100".into()),
        commune_name: Some("Figeac".into()),
        ..PublicRequest::default()
    };
    let kept = accompaniment::request_public(
        &app.db.app,
        &app.lot.slug,
        "pass-numerique",
        &request("Lasserre"),
    )
    .await
    .expect("request");
    let forgotten = accompaniment::request_public(
        &app.db.app,
        &app.lot.slug,
        "pass-numerique",
        &request("Oubli"),
    )
    .await
    .expect("request");
    assert_eq!(
        accompaniment::expire_due(&app.db.app, app.lot.id)
            .await
            .expect("expiry"),
        0
    );
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    sqlx::query(
        "UPDATE accompaniment_requests SET expires_at = now() - interval '1 second' WHERE id = $1",
    )
    .bind(forgotten.request.id)
    .execute(&mut *tx)
    .await
    .expect("age");
    tx.commit().await.expect("commit");
    assert_eq!(
        accompaniment::expire_due(&app.db.app, app.lot.id)
            .await
            .expect("expiry"),
        1
    );
    let statuses = public_requests(&app).await;
    assert_eq!(
        statuses[1],
        ("expired".to_owned(), None, String::new()),
        "expired and wiped"
    );

    let admin = app.lot.token(Role::TenantAdmin);
    let path = format!("/v1/accompaniment-requests/{}/accept", kept.request.id);
    let missing = app
        .post(
            &path,
            admin,
            &json!({ "prescriber_id": app.lot.prescriber_id }),
        )
        .await;
    assert_eq!(missing.status, 422, "{}", missing.raw);
    assert_eq!(missing.error_fields(), ["commune_insee"]);
    assert!(missing.raw.contains("46100 Figeac"), "{}", missing.raw);
    let accepted = app
        .post(
            &path,
            admin,
            &json!({ "prescriber_id": app.lot.prescriber_id, "commune_insee": "46102" }),
        )
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.raw);
    let holder = app
        .get(
            &format!(
                "/v1/beneficiaries/{}",
                accepted.body["beneficiary_id"].as_str().expect("id")
            ),
            admin,
        )
        .await;
    assert_eq!(holder.body["commune_insee"], "46102", "{}", holder.raw);
    let expired = app
        .post(
            &format!("/v1/accompaniment-requests/{}/accept", forgotten.request.id),
            admin,
            &json!({ "prescriber_id": app.lot.prescriber_id, "commune_insee": "46102" }),
        )
        .await;
    assert_eq!(
        expired.status, 409,
        "an expired request is decided: {}",
        expired.raw
    );
}

#[tokio::test]
async fn the_epn_accepts_and_declines_public_requests_from_its_inbox_once_the_region_names_the_funder()
 {
    use crate::web::{PASSWORD, SignedIn, with_password};
    let app = spawn_app().await;
    let admin_token = app.lot.token(Role::TenantAdmin);
    let scheme_id = app
        .active_scheme_in_lot(
            &json!({ "code": "pass-numerique", "name": "Pass Numérique", "preset": "pass-numerique" }),
            5,
        )
        .await;
    let epn_id = app.lot.epn_id;
    let offer = app
        .post(
            &format!("/v1/epns/{epn_id}/offers"),
            admin_token,
            &json!({ "scheme_id": scheme_id, "modules": [1] }),
        )
        .await;
    assert_eq!(offer.status, 200, "{}", offer.raw);
    let ask = |last_name: &str| PublicRequest {
        epn_id,
        person: NewBeneficiary {
            first_name: "Odette".into(),
            last_name: last_name.into(),
            birth_year: 1951,
            phone: Some("06 12 34 56 78".into()),
            email: Some(format!("{}@example.org", last_name.to_lowercase())),
            ..NewBeneficiary::default()
        },
        postal_code: Some("46100".into()),
        commune_name: Some("Figeac".into()),
        message: Some("Faire ma déclaration en ligne".into()),
    };
    let first = accompaniment::request_public(
        &app.db.app,
        &app.lot.slug,
        "pass-numerique",
        &ask("Lasserre"),
    )
    .await
    .expect("request")
    .request
    .id;
    let second =
        accompaniment::request_public(&app.db.app, &app.lot.slug, "pass-numerique", &ask("Vidal"))
            .await
            .expect("request")
            .request
            .id;

    let email = with_password(&app, Role::Epn).await;
    let animator = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let home = animator.get("/portail/lot/").await;
    assert!(
        home.html.contains("/portail/lot/demandes"),
        "the inbox is on the home page"
    );
    let inbox = animator.get("/portail/lot/demandes").await;
    assert_eq!(inbox.status, 200, "{}", inbox.html);
    assert!(
        inbox.html.find("Odette Vidal") < inbox.html.find("Odette Lasserre"),
        "newest first"
    );
    assert!(inbox.html.contains("06 12 34 56 78") && inbox.html.contains("46100 Figeac"));
    assert!(inbox.html.contains("« Faire ma déclaration en ligne »"));

    // Until the Région names who funds the public's requests, the EPN cannot accept them.
    let accept = format!("/portail/lot/demandes/{first}/accepter");
    let unfunded = animator
        .submit(&accept, &[("commune_insee", "46102")])
        .await;
    assert_eq!(unfunded.status, 422, "{}", unfunded.html);
    assert!(
        unfunded.html.contains("Seul l’administrateur"),
        "{}",
        unfunded.html
    );

    let admin_email = with_password(&app, Role::TenantAdmin).await;
    let admin = SignedIn::new(&app, "lot", &admin_email, PASSWORD).await;
    let scheme_page = admin
        .get(&format!("/portail/lot/dispositifs/{scheme_id}"))
        .await;
    assert!(scheme_page.html.contains("Demandes du formulaire public"));
    let prescriber = app.lot.prescriber_id.to_string();
    let named = admin
        .submit(
            &format!("/portail/lot/dispositifs/{scheme_id}/financement"),
            &[("prescriber_id", prescriber.as_str())],
        )
        .await;
    assert_eq!(named.status, 303, "{}", named.html);

    // An animator of another EPN of the territory neither sees nor answers these requests.
    let figeac = figeac_taking_part(&app, &scheme_id).await;
    let elsewhere_id = figeac_animator(&app, &figeac).await;
    passerelle_core::tenancy::accounts::set_password(
        &app.db.app,
        app.lot.id,
        passerelle_core::audit::Actor::SYSTEM,
        elsewhere_id,
        PASSWORD,
    )
    .await
    .expect("password");
    let elsewhere = SignedIn::new(&app, "lot", FIGEAC_ANIMATOR, PASSWORD).await;
    let their_inbox = elsewhere.get("/portail/lot/demandes").await;
    assert_eq!(their_inbox.status, 200, "{}", their_inbox.html);
    assert!(
        !their_inbox.html.contains("Lasserre"),
        "{}",
        their_inbox.html
    );
    let taken = elsewhere
        .submit(&accept, &[("commune_insee", "46102")])
        .await;
    assert_eq!(taken.status, 404, "{}", taken.html);
    let turned_down = elsewhere
        .submit(
            &format!("/portail/lot/demandes/{first}/decliner"),
            &[("reason", "Pas chez nous")],
        )
        .await;
    assert_eq!(turned_down.status, 404, "{}", turned_down.html);

    // The person gave a postal code: the commune's INSEE code is asked next to its field.
    let no_code = animator.submit(&accept, &[("commune_insee", "")]).await;
    assert_eq!(no_code.status, 422, "{}", no_code.html);
    assert!(no_code.html.contains("code INSEE"), "{}", no_code.html);
    let accepted = animator
        .submit(&accept, &[("commune_insee", "46102")])
        .await;
    assert_eq!(accepted.status, 303, "{}", accepted.html);
    let location = accepted.location.expect("where");
    let reference = location
        .split("acceptee=")
        .nth(1)
        .expect("reference")
        .to_owned();
    let voucher = app
        .get(&format!("/v1/vouchers/{reference}"), admin_token)
        .await;
    assert_eq!(voucher.status, 200, "{}", voucher.raw);
    assert_eq!(voucher.body["status"], "registered", "{}", voucher.raw);
    assert_eq!(voucher.body["minutes_total"], 120, "{}", voucher.raw);

    let declined = animator
        .submit(
            &format!("/portail/lot/demandes/{second}/decliner"),
            &[(
                "reason",
                "Complet jusqu’en mars : appelez la médiathèque de Capdenac.",
            )],
        )
        .await;
    assert_eq!(declined.status, 303, "{}", declined.html);
    let inbox = animator.get("/portail/lot/demandes").await;
    assert!(inbox.html.contains("Complet jusqu’en mars"));
    assert!(
        !inbox.html.contains("Odette Vidal"),
        "a declined request keeps no name"
    );
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    let told: Option<String> = sqlx::query_scalar(
        "SELECT recipient FROM email_outbox WHERE accompaniment_request_id = $1 AND kind = 'request_declined'",
    )
    .bind(second)
    .fetch_optional(&mut *tx)
    .await
    .expect("outbox");
    tx.commit().await.expect("commit");
    assert_eq!(told.as_deref(), Some("vidal@example.org"));

    // Another territory cannot name the funder of this one's scheme, and an EPN that names a
    // funder itself is refused even once one is designated.
    let foreign = app
        .send(
            app.request(
                "PUT",
                &format!("/v1/schemes/{scheme_id}/public-request-funding"),
                Some(app.ara.token(Role::TenantAdmin)),
            )
            .json(&json!({ "prescriber_id": app.ara.prescriber_id })),
        )
        .await;
    assert_eq!(foreign.status, 404, "{}", foreign.raw);
    let third =
        accompaniment::request_public(&app.db.app, &app.lot.slug, "pass-numerique", &ask("Roux"))
            .await
            .expect("request")
            .request
            .id;
    let chosen = app
        .post(
            &format!("/v1/accompaniment-requests/{third}/accept"),
            app.lot.token(Role::Epn),
            &json!({ "prescriber_id": app.lot.prescriber_id, "commune_insee": "46102" }),
        )
        .await;
    assert_eq!(chosen.status, 403, "{}", chosen.raw);
    let designated = app
        .post(
            &format!("/v1/accompaniment-requests/{third}/accept"),
            app.lot.token(Role::Epn),
            &json!({ "commune_insee": "46102" }),
        )
        .await;
    assert_eq!(designated.status, 200, "{}", designated.raw);

    // A prescriber's agent does not answer requests, and a forged form changes nothing.
    let prescriber_email = with_password(&app, Role::Prescriber).await;
    let agent = SignedIn::new(&app, "lot", &prescriber_email, PASSWORD).await;
    assert_eq!(agent.get("/portail/lot/demandes").await.status, 403);
    let forged = animator
        .send_form(
            &format!("/portail/lot/demandes/{first}/decliner"),
            &[("reason", "x")],
        )
        .await;
    assert_eq!(forged.status, 403);
}
