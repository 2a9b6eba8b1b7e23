//! The second factor as a finance officer sets it up and signs in with it: the codes are computed
//! by the test from the secret the page shows (RFC 6238, written here on its own), and every way
//! around it is tried — no code, a wrong one, the same code twice, a recovery code twice, five
//! wrong codes, a forged form.

use hmac::{Hmac, Mac};
use passerelle_core::tenancy::Role;

use crate::helpers::{TestApp, spawn_app};
use crate::web::{Browser, PASSWORD, SignedIn, cookie_pair, csrf_token, with_password};

/// The code of RFC 6238 (HMAC-SHA-1, six digits, thirty-second steps) for `seconds` after the
/// epoch.
fn code_at(secret: &[u8], seconds: i64) -> String {
    let step = (seconds / 30) as u64;
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("key");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The secret the enrolment page shows, in groups of four, decoded.
fn shown_secret(html: &str) -> Vec<u8> {
    let grouped = html
        .split("<strong class=\"code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret on the page");
    let compact: String = grouped.chars().filter(|c| !c.is_whitespace()).collect();
    data_encoding::BASE32_NOPAD
        .decode(compact.trim_end_matches('=').as_bytes())
        .expect("base32")
}

fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<li class=\"code\">")
        .skip(1)
        .filter_map(|rest| rest.split('<').next())
        .map(str::to_owned)
        .collect()
}

/// A new browser signed in with the password only, and the CSRF token of the code's page.
async fn password_only<'a>(app: &'a TestApp, email: &str) -> (Browser<'a>, String, String) {
    let browser = Browser::new(app);
    let signed = browser.sign_in("lot", email, PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.html);
    let cookie = cookie_pair(&signed.set_cookie.expect("cookie"));
    let home = browser.get("/portail/lot/", Some(&cookie)).await;
    assert_eq!(home.status, 303, "the password alone opens nothing");
    assert_eq!(
        home.location.as_deref(),
        Some("/portail/lot/double-authentification")
    );
    let page = browser
        .get("/portail/lot/double-authentification", Some(&cookie))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.html.contains("Saisissez le code à six chiffres"),
        "{}",
        page.html
    );
    let token = csrf_token(&page.html);
    (browser, cookie, token)
}

async fn type_code(
    app: &TestApp,
    browser: &Browser<'_>,
    cookie: &str,
    token: &str,
    code: &str,
) -> crate::web::Page {
    browser
        .post(
            "/portail/lot/double-authentification",
            Some(cookie),
            Some(&app.base),
            &[("csrf_token", token), ("code", code)],
        )
        .await
}

#[tokio::test]
async fn a_finance_officer_sets_up_the_second_factor_and_signs_in_with_it() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::Finance).await;
    let officer = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let home = officer.get("/portail/lot/").await;
    assert!(
        home.html.contains("activer la double authentification"),
        "{}",
        home.html
    );

    // Set up: a QR code and the secret; a wrong code and a forged form are refused.
    let page = officer.get("/portail/lot/double-authentification").await;
    assert!(page.html.contains("<svg"), "a QR code: {}", page.html);
    let secret = shown_secret(&page.html);
    assert_eq!(secret.len(), 20);
    let again = officer.get("/portail/lot/double-authentification").await;
    assert_eq!(
        shown_secret(&again.html),
        secret,
        "a reload shows the same secret"
    );
    let forged = officer
        .send_form(
            "/portail/lot/double-authentification/activation",
            &[("csrf_token", "forged"), ("code", &code_at(&secret, now()))],
        )
        .await;
    assert_eq!(forged.status, 403);
    let wrong = officer
        .submit(
            "/portail/lot/double-authentification/activation",
            &[("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.html.contains("Ce code est incorrect"),
        "{}",
        wrong.html
    );
    let activated = officer
        .submit(
            "/portail/lot/double-authentification/activation",
            &[("code", &code_at(&secret, now()))],
        )
        .await;
    assert_eq!(activated.status, 200, "{}", activated.html);
    let codes = recovery_codes(&activated.html);
    assert_eq!(codes.len(), 10, "{}", activated.html);
    // The session that set it up goes on.
    assert_eq!(officer.get("/portail/lot/").await.status, 200);

    // Signed in again: nothing opens until the code is typed.
    let (browser, cookie, token) = password_only(&app, &email).await;
    assert_eq!(
        browser
            .get("/portail/lot/releves", Some(&cookie))
            .await
            .status,
        303,
        "no page of the portal before the code"
    );
    // The code of the step in use is spent (enrolment used it): the next step's code, which a
    // phone a little ahead shows, is accepted; typed again in another session, it is refused.
    let code = code_at(&secret, now() + 30);
    let accepted = type_code(&app, &browser, &cookie, &token, &code).await;
    assert_eq!(accepted.status, 303, "{}", accepted.html);
    assert_eq!(accepted.location.as_deref(), Some("/portail/lot/"));
    assert_eq!(
        browser.get("/portail/lot/", Some(&cookie)).await.status,
        200
    );
    let (browser, cookie, token) = password_only(&app, &email).await;
    let replayed = type_code(&app, &browser, &cookie, &token, &code).await;
    assert_eq!(replayed.status, 422, "a code is good once");
    assert!(replayed.html.contains("déjà utilisé"), "{}", replayed.html);

    // A recovery code, typed in lower case without its dash: accepted once.
    let recovery = codes[3].to_lowercase().replace('-', "");
    let used = type_code(&app, &browser, &cookie, &token, &recovery).await;
    assert_eq!(used.status, 200, "{}", used.html);
    assert!(used.html.contains("Il vous en reste 9"), "{}", used.html);
    assert_eq!(
        browser.get("/portail/lot/", Some(&cookie)).await.status,
        200
    );
    let (browser, cookie, token) = password_only(&app, &email).await;
    let reused = type_code(&app, &browser, &cookie, &token, &codes[3]).await;
    assert_eq!(reused.status, 422, "a recovery code is good once");

    // Audited: the set-up and the recovery code, in the officer's name.
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    let actions: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, actor_role FROM audit_log WHERE object_type = 'user' AND action LIKE 'user.%_%'
           AND action IN ('user.second_factor_enrolled', 'user.recovery_code_used') ORDER BY occurred_at, id",
    )
    .fetch_all(&mut *tx)
    .await
    .expect("audit");
    tx.commit().await.expect("commit");
    assert_eq!(
        actions,
        [
            (
                "user.second_factor_enrolled".to_owned(),
                "finance".to_owned()
            ),
            ("user.recovery_code_used".to_owned(), "finance".to_owned()),
        ]
    );
}

#[tokio::test]
async fn five_wrong_codes_end_the_session() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::TenantAdmin).await;
    let admin = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let page = admin.get("/portail/lot/double-authentification").await;
    let secret = shown_secret(&page.html);
    let activated = admin
        .submit(
            "/portail/lot/double-authentification/activation",
            &[("code", &code_at(&secret, now()))],
        )
        .await;
    assert_eq!(activated.status, 200);

    let (browser, cookie, token) = password_only(&app, &email).await;
    for attempt in 1..=5 {
        let wrong = type_code(&app, &browser, &cookie, &token, "123456").await;
        assert_eq!(wrong.status, 422, "attempt {attempt}");
        if attempt == 4 {
            assert!(
                wrong
                    .html
                    .contains("Encore une erreur et la connexion sera fermée"),
                "{}",
                wrong.html
            );
        }
    }
    // The session is over: even the right code now leads to the password.
    let late = type_code(
        &app,
        &browser,
        &cookie,
        &token,
        &code_at(&secret, now() + 30),
    )
    .await;
    assert_eq!(late.status, 303);
    assert_eq!(late.location.as_deref(), Some("/portail/lot/connexion"));
    assert_eq!(
        browser
            .get("/portail/lot/", Some(&cookie))
            .await
            .location
            .as_deref(),
        Some("/portail/lot/connexion")
    );

    // Another territory's portal knows nothing of this session.
    let elsewhere = browser
        .get("/portail/ara/double-authentification", Some(&cookie))
        .await;
    assert_eq!(
        elsewhere.location.as_deref(),
        Some("/portail/ara/connexion")
    );
}
