//! The animator's phone app, as the phone talks to the service: the week it keeps (its EPN's and
//! nobody else's), sheets sent again and again or by two phones (each voucher debited once), the
//! server's clock against a queue replayed late, and forged or oversized sheets.

use passerelle_core::delivery::phone;
use passerelle_core::delivery::portfolio::link::HolderCode;
use passerelle_core::tenancy::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::web::{PASSWORD, SignedIn, with_password, with_password_in};

const WEEK: &str = "/portail/lot/epn/telephone/semaine";
const SHEETS: &str = "/portail/lot/epn/telephone/feuilles";

/// The Lot's Ticket Net offered by the test EPN, and a voucher of Jeanne Martin registered there
/// with modules 1 to 10 chosen; the scheme's id and the voucher's reference.
async fn registered_voucher(app: &TestApp, last_name: &str) -> (String, String) {
    let scheme_id = app.active_ticket_net_in_lot(5).await;
    let offer = app
        .post(
            &format!("/v1/epns/{}/offers", app.lot.epn_id),
            app.lot.token(Role::TenantAdmin),
            &json!({ "scheme_id": scheme_id, "modules": (1..=14).collect::<Vec<_>>() }),
        )
        .await;
    assert_eq!(offer.status, 200, "{}", offer.raw);
    let reference = issue(app, &scheme_id, last_name).await;
    register(app, app.lot.token(Role::Epn), &reference, last_name).await;
    (scheme_id, reference)
}

async fn issue(app: &TestApp, scheme_id: &str, last_name: &str) -> String {
    let issued = app
        .post(
            "/v1/vouchers",
            app.lot.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "beneficiary": { "first_name": "Jeanne", "last_name": last_name,
                     "birth_year": 1957, "commune_insee": "46102", "public_category": "senior" } }),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    issued.body["voucher"]["reference"]
        .as_str()
        .expect("reference")
        .to_owned()
}

async fn register(app: &TestApp, token: &str, reference: &str, last_name: &str) {
    let registered = app
        .post(
            "/v1/registrations",
            token,
            &json!({ "reference": reference, "last_name": last_name,
                     "interview": { "on": passerelle_test_support::paris_today(), "minutes": 30 },
                     "modules": (1..=10).collect::<Vec<_>>() }),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.raw);
}

/// A session of the scheme at `starts_at`, planned by the EPN of `token`; its id.
async fn session(
    app: &TestApp,
    token: &str,
    scheme_id: &str,
    starts_at: chrono::DateTime<chrono::Utc>,
    minutes: i32,
) -> String {
    let created = app
        .post(
            "/v1/sessions",
            token,
            &json!({ "scheme_id": scheme_id, "module_number": 1, "starts_at": starts_at,
                     "duration_minutes": minutes, "capacity": 8 }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    created.body["id"].as_str().expect("id").to_owned()
}

async fn minutes_left(app: &TestApp, reference: &str) -> i64 {
    let voucher = app
        .get(
            &format!("/v1/vouchers/{reference}"),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    voucher.body["minutes_left"].as_i64().expect("minutes")
}

/// What the phone receives: the status, the body read as JSON, and whether it was replayed.
struct Answer {
    status: u16,
    body: Value,
    replayed: bool,
}

/// The phone app of a signed-in user: its requests carry the session cookie, come from the
/// service's own pages (`Origin`) and, when posted, the session's CSRF token in `X-CSRF-Token`.
struct Phone<'a> {
    app: &'a TestApp,
    slug: &'a str,
    signed_in: SignedIn<'a>,
}

impl<'a> Phone<'a> {
    async fn of(app: &'a TestApp, slug: &'a str, email: &str) -> Self {
        Self {
            app,
            slug,
            signed_in: SignedIn::new(app, slug, email, PASSWORD).await,
        }
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let text = response.text().await.expect("body");
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            replayed,
        }
    }

    /// A GET of the app, with the session cookie.
    async fn get(&self, path: &str) -> Answer {
        let response = self
            .signed_in
            .browser
            .http
            .get(format!("{}{path}", self.app.base))
            .header("cookie", &self.signed_in.cookie)
            .send()
            .await
            .expect("request");
        Self::answer(response).await
    }

    async fn week(&self) -> Answer {
        self.get(&format!("/portail/{}/epn/telephone/semaine", self.slug))
            .await
    }

    /// The look-up of a scanned letter's code, percent-encoded as the app's script does.
    async fn letter(&self, code: &str) -> Answer {
        let encoded: String = code
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        self.get(&format!(
            "/portail/{}/epn/telephone/courrier?code={encoded}",
            self.slug
        ))
        .await
    }

    async fn send_as(&self, token: Option<&str>, origin: Option<&str>, body: &str) -> Answer {
        let mut request = self
            .signed_in
            .browser
            .http
            .post(format!("{}{SHEETS}", self.app.base))
            .header("cookie", &self.signed_in.cookie)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        Self::answer(request.send().await.expect("request")).await
    }

    async fn send(&self, body: &str) -> Answer {
        self.send_as(Some(&self.signed_in.token), Some(&self.app.base), body)
            .await
    }
}

fn sheet(key: &str, session_id: &str, lines: Value) -> String {
    json!({ "key": key, "session_id": session_id, "entries": lines }).to_string()
}

fn present(reference: &str) -> Value {
    json!([{ "reference": reference, "status": "present", "competences": { "2.1": "practised" } }])
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|item| item[field].as_str().expect("a string").to_owned())
        .collect()
}

#[tokio::test]
async fn the_phone_keeps_its_epns_week_and_nothing_of_another_epn_or_territory() {
    let app = spawn_app().await;
    let (scheme_id, reference) = registered_voucher(&app, "Martin").await;
    let epn = app.lot.token(Role::Epn);
    let now = chrono::Utc::now();
    let today = session(&app, epn, &scheme_id, now, 120).await;
    let in_three_days = session(&app, epn, &scheme_id, now + chrono::Duration::days(3), 120).await;
    let in_ten_days = session(&app, epn, &scheme_id, now + chrono::Duration::days(10), 120).await;
    // Another EPN of the Lot, with its own session and its own holder.
    let elsewhere = app
        .animator_of_another_epn(&app.lot, "Cahors", "46000")
        .await;
    let their_epn = app.me(&elsewhere.token).await.body["epn_id"].clone();
    let offer = app
        .post(
            &format!("/v1/epns/{}/offers", their_epn.as_str().expect("their EPN")),
            app.lot.token(Role::TenantAdmin),
            &json!({ "scheme_id": scheme_id, "modules": (1..=14).collect::<Vec<_>>() }),
        )
        .await;
    assert_eq!(offer.status, 200, "{}", offer.raw);
    let theirs = session(&app, &elsewhere.token, &scheme_id, now, 120).await;

    let email = with_password(&app, Role::Epn).await;
    let phone = Phone::of(&app, "lot", &email).await;
    let week = phone.week().await;
    assert_eq!(week.status, 200, "{}", week.body);
    let body = &week.body;
    let sessions = ids(&body["sessions"], "id");
    assert!(
        sessions.contains(&today) && sessions.contains(&in_three_days),
        "{sessions:?}"
    );
    assert!(
        !sessions.contains(&in_ten_days),
        "past the week: {sessions:?}"
    );
    assert!(
        !sessions.contains(&theirs),
        "another EPN's session: {sessions:?}"
    );
    assert_eq!(ids(&body["vouchers"], "reference"), vec![reference.clone()]);
    let voucher = &body["vouchers"][0];
    assert_eq!(voucher["name"], "Jeanne Martin");
    assert_eq!(voucher["minutes_left"], 1200);
    assert_eq!(voucher["modules"], json!((1..=10).collect::<Vec<_>>()));
    assert!(voucher.get("letter").is_none(), "no letter printed yet");
    assert_eq!(body["owner"]["csrf_token"], phone.signed_in.token);
    assert_eq!(
        body["owner"]["user_id"],
        app.lot.users[&Role::Epn].to_string()
    );
    assert!(
        body["schemes"][0]["competences"]
            .as_array()
            .is_some_and(|c| c.len() >= 16)
    );

    // Once the letter is printed, the week carries what finds the voucher from its code, and
    // nothing the database looks the holder up by.
    let prescriber_email = with_password(&app, Role::Prescriber).await;
    let prescriber = SignedIn::new(&app, "lot", &prescriber_email, PASSWORD).await;
    let letter = prescriber
        .get(&format!("/portail/lot/cheques/{reference}/courrier"))
        .await;
    let code = letter
        .html
        .split("<p class=\"code fr-mb-1v\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the code on the letter");
    let week = phone.week().await;
    assert_eq!(
        week.body["vouchers"][0]["letter"],
        phone::letter_lookup_of(&HolderCode::parse(code).expect("a code"))
    );
    assert!(!week.body.to_string().contains(code));

    // The other EPN's animator keeps their own session and not our holder.
    let their_phone = Phone::of(&app, "lot", &elsewhere.email).await;
    let their_week = their_phone.week().await;
    assert_eq!(ids(&their_week.body["sessions"], "id"), vec![theirs]);
    assert!(!their_week.body.to_string().contains(&reference));

    // Another role is refused; no session, or a session of another territory, asks to sign in.
    let prescriber_phone = Phone::of(&app, "lot", &prescriber_email).await;
    let refused = prescriber_phone.week().await;
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (403, Some("role"))
    );
    let anonymous = app.send(app.request("GET", WEEK, None)).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.raw);
    assert_eq!(anonymous.body["code"], "reconnexion");
    let ara_email = with_password_in(&app, &app.ara, Role::Epn).await;
    let ara = Phone::of(&app, "ara", &ara_email).await;
    let across = ara.week().await;
    assert_eq!(across.status, 200);
    assert!(!across.body.to_string().contains(&reference));
    // Its cookie asks to sign in again on the Lot's app.
    assert_eq!(ara.get(WEEK).await.status, 401);
}

#[tokio::test]
async fn a_sheet_sent_again_or_by_two_phones_debits_each_voucher_once() {
    let app = spawn_app().await;
    let (scheme_id, reference) = registered_voucher(&app, "Martin").await;
    let epn = app.lot.token(Role::Epn);
    let started = session(&app, epn, &scheme_id, chrono::Utc::now(), 120).await;
    let email = with_password(&app, Role::Epn).await;
    let phone = Phone::of(&app, "lot", &email).await;
    let body = sheet(
        "8e03978e-40d5-43e8-bc93-6894a57f9324",
        &started,
        present(&reference),
    );

    let first = phone.send(&body).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["recorded"], 1);
    assert_eq!(first.body["lines"][0]["outcome"], "recorded");
    assert!(
        first.body["lines"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("noté présent") && t.contains("18 h")),
        "{}",
        first.body
    );
    assert!(!first.replayed);

    // The phone lost the answer and sends the same sheet ten times, some at once.
    let again: Vec<Answer> = futures::future::join_all((0..10).map(|_| phone.send(&body))).await;
    for answer in &again {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.replayed);
        assert_eq!(answer.body, first.body);
    }
    assert_eq!(minutes_left(&app, &reference).await, 1200 - 120);

    // A second phone saved the same sheet under its own key: told it is already recorded.
    let other_phone = Phone::of(&app, "lot", &email).await;
    let second = other_phone
        .send(&sheet("a-second-phone", &started, present(&reference)))
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["recorded"], 0);
    assert_eq!(second.body["lines"][0]["outcome"], "already_recorded");
    assert_eq!(second.body["lines"][0]["problem"], "already-recorded");
    assert!(
        second.body["lines"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("déjà notée")),
        "{}",
        second.body
    );
    assert_eq!(minutes_left(&app, &reference).await, 1200 - 120);

    // A key sent again with another sheet is refused, not mixed up with the first.
    let reused = phone
        .send(&sheet(
            "8e03978e-40d5-43e8-bc93-6894a57f9324",
            &started,
            json!([{ "reference": reference, "status": "absent" }]),
        ))
        .await;
    assert_eq!(
        (reused.status, reused.body["code"].as_str()),
        (422, Some("cle-reutilisee"))
    );
}

#[tokio::test]
async fn two_phones_racing_on_one_voucher_record_it_once() {
    let app = spawn_app().await;
    let (scheme_id, reference) = registered_voucher(&app, "Martin").await;
    let started = session(
        &app,
        app.lot.token(Role::Epn),
        &scheme_id,
        chrono::Utc::now(),
        120,
    )
    .await;
    let email = with_password(&app, Role::Epn).await;
    let phones = [
        Phone::of(&app, "lot", &email).await,
        Phone::of(&app, "lot", &email).await,
    ];
    let bodies: Vec<String> = (0..2)
        .map(|i| sheet(&format!("phone-{i}"), &started, present(&reference)))
        .collect();
    let answers = futures::future::join_all(
        phones
            .iter()
            .zip(&bodies)
            .map(|(phone, body)| phone.send(body)),
    )
    .await;
    let outcomes: Vec<&str> = answers
        .iter()
        .map(|a| a.body["lines"][0]["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "recorded").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == "already_recorded")
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(minutes_left(&app, &reference).await, 1200 - 120);
}

#[tokio::test]
async fn the_servers_clock_decides_and_hours_used_meanwhile_refuse_the_line() {
    let app = spawn_app().await;
    let (scheme_id, reference) = registered_voucher(&app, "Martin").await;
    let epn = app.lot.token(Role::Epn);
    let email = with_password(&app, Role::Epn).await;
    let phone = Phone::of(&app, "lot", &email).await;

    // A sheet saved on a phone whose clock ran ahead, for a session that starts in two hours.
    let later = session(
        &app,
        epn,
        &scheme_id,
        chrono::Utc::now() + chrono::Duration::hours(2),
        120,
    )
    .await;
    let early = phone
        .send(&sheet("early", &later, present(&reference)))
        .await;
    assert_eq!(early.status, 422, "{}", early.body);
    assert!(
        early.body["whole"]
            .as_str()
            .is_some_and(|t| t.contains("pas encore commencé")),
        "{}",
        early.body
    );
    assert_eq!(early.body["lines"][0]["outcome"], "refused");
    assert_eq!(early.body["lines"][0]["problem"], "session-not-started");
    assert_eq!(minutes_left(&app, &reference).await, 1200);

    // While the phone was offline, another session used the voucher's hours: the phone's line is
    // refused with the reason.
    let long = session(
        &app,
        epn,
        &scheme_id,
        passerelle_test_support::started_minutes_ago(30),
        480,
    )
    .await;
    let longer = session(
        &app,
        epn,
        &scheme_id,
        passerelle_test_support::started_minutes_ago(20),
        480,
    )
    .await;
    let last = session(
        &app,
        epn,
        &scheme_id,
        passerelle_test_support::started_minutes_ago(10),
        480,
    )
    .await;
    for id in [&long, &longer] {
        let recorded = app
            .post(
                &format!("/v1/sessions/{id}/attendance"),
                epn,
                &json!({ "entries": [{ "reference": reference, "status": "present" }] }),
            )
            .await;
        assert_eq!(recorded.body["recorded"], 1, "{}", recorded.raw);
    }
    let refused = phone
        .send(&sheet("offline", &last, present(&reference)))
        .await;
    assert_eq!(refused.status, 200, "{}", refused.body);
    assert_eq!(refused.body["lines"][0]["outcome"], "refused");
    assert_eq!(refused.body["lines"][0]["problem"], "insufficient-balance");
    assert!(
        refused.body["lines"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains(&reference)),
        "{}",
        refused.body
    );
    assert_eq!(minutes_left(&app, &reference).await, 1200 - 960);
}

#[tokio::test]
async fn a_forged_replayed_elsewhere_or_oversized_sheet_records_nothing() {
    let app = spawn_app().await;
    let (scheme_id, reference) = registered_voucher(&app, "Martin").await;
    let started = session(
        &app,
        app.lot.token(Role::Epn),
        &scheme_id,
        chrono::Utc::now(),
        120,
    )
    .await;
    let email = with_password(&app, Role::Epn).await;
    let phone = Phone::of(&app, "lot", &email).await;
    let body = sheet("forged", &started, present(&reference));

    // No token, another token, another site.
    for (token, origin) in [
        (None, Some(app.base.as_str())),
        (Some("autre"), Some(app.base.as_str())),
        (
            Some(phone.signed_in.token.as_str()),
            Some("https://ailleurs.example"),
        ),
        (Some(phone.signed_in.token.as_str()), None),
    ] {
        let refused = phone.send_as(token, origin, &body).await;
        assert_eq!(
            (refused.status, refused.body["code"].as_str()),
            (403, Some("formulaire"))
        );
    }
    // Unreadable: a status or a level the sheet does not offer, a field it does not have, a key
    // that is not the phone's, too many lines.
    let too_many: Vec<Value> = (0..501)
        .map(|i| json!({ "reference": format!("LOT-{i}"), "status": "absent" }))
        .collect();
    for unreadable in [
        sheet(
            "a",
            &started,
            json!([{ "reference": reference, "status": "sleeping" }]),
        ),
        sheet(
            "b",
            &started,
            json!([{ "reference": reference, "status": "present", "competences": { "2.1": "expert" } }]),
        ),
        sheet(
            "c",
            &started,
            json!([{ "reference": reference, "status": "present", "minutes": 1 }]),
        ),
        sheet("d e", &started, present(&reference)),
        sheet(&"k".repeat(65), &started, present(&reference)),
        sheet("f", &started, Value::Array(too_many)),
        "{not json".to_owned(),
    ] {
        let refused = phone.send(&unreadable).await;
        assert_eq!(
            (refused.status, refused.body["code"].as_str()),
            (400, Some("illisible")),
            "{unreadable:.80}"
        );
    }
    // Another EPN's animator cannot record on our session, nor learn it exists.
    let elsewhere = app
        .animator_of_another_epn(&app.lot, "Souillac", "46200")
        .await;
    let their_phone = Phone::of(&app, "lot", &elsewhere.email).await;
    let theirs = their_phone
        .send(&sheet("elsewhere", &started, present(&reference)))
        .await;
    assert_eq!(theirs.status, 422, "{}", theirs.body);
    assert_eq!(theirs.body["lines"][0]["outcome"], "refused");
    assert_eq!(minutes_left(&app, &reference).await, 1200);
}

#[tokio::test]
async fn the_app_installs_from_its_shell_and_sign_out_wipes_what_the_phone_keeps() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::Epn).await;
    let phone = Phone::of(&app, "lot", &email).await;
    let shell = phone.signed_in.get("/portail/lot/epn/telephone/").await;
    assert_eq!(shell.status, 200);
    for part in [
        "rel=\"manifest\" href=\"/portail/lot/epn/telephone/manifest.webmanifest\"",
        "data-app=\"/portail/lot/epn/telephone\"",
        "src=\"/static/passerelle/telephone.js\"",
        "src=\"/static/jsqr/jsQR.js\"",
    ] {
        assert!(shell.html.contains(part), "{part}");
    }
    let manifest = app
        .send(app.request(
            "GET",
            "/portail/lot/epn/telephone/manifest.webmanifest",
            None,
        ))
        .await;
    assert_eq!(manifest.status, 200);
    assert_eq!(manifest.body["scope"], "/portail/lot/epn/telephone/");
    assert_eq!(manifest.body["display"], "standalone");
    let worker = app
        .send(app.request("GET", "/portail/lot/epn/telephone/sw.js", None))
        .await;
    assert_eq!(worker.status, 200);
    assert!(
        worker
            .raw
            .contains("const APP = \"/portail/lot/epn/telephone\";")
    );
    assert!(!worker.raw.contains("__VERSION__"));
    for file in [
        "/static/passerelle/telephone.js",
        "/static/jsqr/jsQR.js",
        "/static/passerelle/icone-512.png",
    ] {
        let served = app.send(app.request("GET", file, None)).await;
        assert_eq!(served.status, 200, "{file}");
    }
    // Another role gets the French refusal page, not the app.
    let prescriber_email = with_password(&app, Role::Prescriber).await;
    let prescriber = SignedIn::new(&app, "lot", &prescriber_email, PASSWORD).await;
    assert_eq!(
        prescriber.get("/portail/lot/epn/telephone/").await.status,
        403
    );

    let response = phone
        .signed_in
        .browser
        .http
        .post(format!("{}/portail/lot/deconnexion", app.base))
        .header("cookie", &phone.signed_in.cookie)
        .header("origin", &app.base)
        .form(&[("csrf_token", phone.signed_in.token.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 303);
    assert_eq!(
        response
            .headers()
            .get("clear-site-data")
            .and_then(|v| v.to_str().ok()),
        Some("\"cache\", \"storage\"")
    );
    assert_eq!(phone.week().await.status, 401);
}

#[tokio::test]
async fn a_scanned_letter_not_on_the_week_leads_to_its_registration_and_nothing_else() {
    let app = spawn_app().await;
    let (scheme_id, registered) = registered_voucher(&app, "Martin").await;
    let unregistered = issue(&app, &scheme_id, "Fabre").await;
    let prescriber_email = with_password(&app, Role::Prescriber).await;
    let prescriber = SignedIn::new(&app, "lot", &prescriber_email, PASSWORD).await;
    let code_of = |html: String| {
        html.split("<p class=\"code fr-mb-1v\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .expect("the code on the letter")
            .to_owned()
    };
    let mut codes = Vec::new();
    for reference in [&registered, &unregistered] {
        let letter = prescriber
            .get(&format!("/portail/lot/cheques/{reference}/courrier"))
            .await;
        codes.push(code_of(letter.html));
    }
    let email = with_password(&app, Role::Epn).await;
    let phone = Phone::of(&app, "lot", &email).await;
    let found = phone.letter(&codes[0]).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(
        found.body["vouchers"],
        json!([{ "reference": registered, "registered_here": true }])
    );
    let to_register = phone
        .letter(&codes[1].to_lowercase().replace('-', ""))
        .await;
    assert_eq!(
        to_register.body["vouchers"],
        json!([{ "reference": unregistered, "registered_here": false }])
    );
    // A code one character off, or nothing readable: nothing.
    let mut off = codes[1].clone();
    let last = if off.ends_with('0') { "1" } else { "0" };
    off.replace_range(off.len() - 1.., last);
    for unknown in [off, "n'importe quoi".to_owned(), "x".repeat(500)] {
        let answer = phone.letter(&unknown).await;
        assert_eq!(answer.body["vouchers"], json!([]));
    }
    // Another EPN learns the letter's vouchers are not theirs; another territory, nothing.
    let elsewhere = app
        .animator_of_another_epn(&app.lot, "Gramat", "46500")
        .await;
    let their_phone = Phone::of(&app, "lot", &elsewhere.email).await;
    let theirs = their_phone.letter(&codes[0]).await;
    assert_eq!(
        theirs.body["vouchers"],
        json!([{ "reference": registered, "registered_here": false }])
    );
    let ara_email = with_password_in(&app, &app.ara, Role::Epn).await;
    let ara = Phone::of(&app, "ara", &ara_email).await;
    assert_eq!(ara.letter(&codes[0]).await.body["vouchers"], json!([]));

    // The registration page opens with the reference filled in; the holder's name is still asked.
    let page = phone
        .signed_in
        .get(&format!(
            "/portail/lot/epn/inscription?reference={}",
            unregistered.to_lowercase()
        ))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.html.contains(&format!("Chèque {unregistered}")),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains("name=\"last_name\" type=\"text\" value=\"\""),
        "{}",
        page.html
    );
}
