//! The second factor as people use it: a prescriber agent sets it up by choice, a finance officer
//! must, and types it again before money moves; the codes are computed by the test from the
//! secret the page shows (RFC 6238, written in `web.rs` on its own), and every way around it is
//! tried — no code, a wrong one, the same code twice, a recovery code twice, five wrong codes, a
//! forged form, a stale session approving a statement.

use passerelle_core::tenancy::Role;

use crate::helpers::{TestApp, spawn_app};
use crate::web::{
    Browser, PASSWORD, SignedIn, code_at_step, cookie_pair, csrf_token, pass_second_factor,
    recovery_codes, shown_secret, with_password, with_password_in,
};

fn code_at(secret: &[u8], seconds: i64) -> String {
    code_at_step(secret, seconds / 30)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A user whose role does not require it sets up the second factor from its page; the key.
async fn set_up_by_choice(user: &SignedIn<'_>) -> Vec<u8> {
    let page = user.get("/portail/lot/double-authentification").await;
    let secret = shown_secret(&page.html);
    let activated = user
        .submit(
            "/portail/lot/double-authentification/activation",
            &[("code", &code_at(&secret, now()))],
        )
        .await;
    assert_eq!(activated.status, 200, "{}", activated.html);
    secret
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
async fn a_prescriber_agent_sets_up_the_second_factor_and_signs_in_with_it() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::Prescriber).await;
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
        "SELECT action, actor_role FROM audit_log WHERE object_type = 'user'
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
                "prescriber".to_owned()
            ),
            (
                "user.recovery_code_used".to_owned(),
                "prescriber".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn five_wrong_codes_end_the_session() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::Epn).await;
    let animator = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let secret = set_up_by_choice(&animator).await;

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

#[tokio::test]
async fn a_finance_officer_must_set_it_up_and_type_it_again_before_money_moves() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::Finance).await;
    let browser = Browser::new(&app);
    let signed = browser.sign_in("lot", &email, PASSWORD).await;
    let cookie = cookie_pair(&signed.set_cookie.expect("cookie"));
    // Nothing opens before the second factor is set up.
    for path in [
        "/portail/lot/",
        "/portail/lot/releves",
        "/portail/lot/releves/2026-11/sepa",
    ] {
        let page = browser.get(path, Some(&cookie)).await;
        assert_eq!(
            page.location.as_deref(),
            Some("/portail/lot/double-authentification"),
            "{path}"
        );
    }
    let page = browser
        .get("/portail/lot/double-authentification", Some(&cookie))
        .await;
    assert!(
        page.html.contains("obligatoire pour votre rôle"),
        "{}",
        page.html
    );
    pass_second_factor(&browser, &cookie, "lot", &email).await;
    assert_eq!(
        browser.get("/portail/lot/", Some(&cookie)).await.status,
        200
    );
    let sepa = browser
        .get("/portail/lot/releves/2026-11/sepa", Some(&cookie))
        .await;
    assert!(
        !sepa
            .location
            .as_deref()
            .unwrap_or_default()
            .contains("double-authentification"),
        "a fresh code is enough"
    );

    // Twenty minutes later, the transfer file and an approval ask for a code again, then come
    // back to their page.
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    sqlx::query(
        "UPDATE web_sessions SET second_factor_at = now() - interval '20 minutes' WHERE user_id = $1",
    )
    .bind(app.lot.users[&Role::Finance])
    .execute(&mut *tx)
    .await
    .expect("age the session");
    tx.commit().await.expect("commit");
    let sepa = browser
        .get("/portail/lot/releves/2026-11/sepa", Some(&cookie))
        .await;
    assert_eq!(sepa.status, 303);
    assert_eq!(
        sepa.location.as_deref(),
        Some("/portail/lot/double-authentification?retour=/portail/lot/releves%3Fmois%3D2026-11")
    );
    let home = browser.get("/portail/lot/", Some(&cookie)).await;
    assert_eq!(home.status, 200, "the other pages stay open");
    let token = csrf_token(&home.html);
    let statement = uuid::Uuid::now_v7();
    let approval = browser
        .post(
            &format!("/portail/lot/releve/{statement}/valider"),
            Some(&cookie),
            Some(&app.base),
            &[("csrf_token", token.as_str())],
        )
        .await;
    assert_eq!(
        approval.location,
        Some(format!(
            "/portail/lot/double-authentification?retour=/portail/lot/releve/{statement}"
        ))
    );
    let asked = browser
        .get(sepa.location.as_deref().expect("location"), Some(&cookie))
        .await;
    assert!(
        asked.html.contains("Saisissez le code à six chiffres"),
        "{}",
        asked.html
    );
    assert!(
        asked
            .html
            .contains("name=\"retour\" value=\"/portail/lot/releves?mois=2026-11\""),
        "{}",
        asked.html
    );
    // Elsewhere than this portal, the way back is home.
    let outside = browser
        .get(
            "/portail/lot/double-authentification?retour=https://ailleurs.example/",
            Some(&cookie),
        )
        .await;
    assert!(
        outside
            .html
            .contains("name=\"retour\" value=\"/portail/lot/\""),
        "{}",
        outside.html
    );
    pass_second_factor(&browser, &cookie, "lot", &email).await;
    let sepa = browser
        .get("/portail/lot/releves/2026-11/sepa", Some(&cookie))
        .await;
    assert!(
        !sepa
            .location
            .as_deref()
            .unwrap_or_default()
            .contains("double-authentification"),
        "the code typed again opens it"
    );
}

#[tokio::test]
async fn the_territory_extends_the_second_factor_to_every_role() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::Epn).await;
    let animator = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    assert_eq!(
        animator.get("/portail/lot/").await.status,
        200,
        "not asked by default"
    );
    let set = app
        .send(
            app.request(
                "PUT",
                "/v1/tenant/second-factor",
                Some(app.lot.token(Role::TenantAdmin)),
            )
            .json(&serde_json::json!({ "every_role": true })),
        )
        .await;
    assert_eq!(set.status, 204, "{}", set.raw);
    // The session already open asks for it at its next page, and the phone app too.
    assert_eq!(
        animator.get("/portail/lot/").await.location.as_deref(),
        Some("/portail/lot/double-authentification")
    );
    let phone = animator.get("/portail/lot/epn/telephone/semaine").await;
    assert_eq!(phone.status, 401, "{}", phone.html);
    // Another territory's users are not concerned.
    let other = with_password_in(&app, &app.ara, Role::Epn).await;
    let elsewhere = SignedIn::new(&app, "ara", &other, PASSWORD).await;
    assert_eq!(elsewhere.get("/portail/ara/").await.status, 200);
    assert_eq!(
        app.audited_in_lot("tenant.second_factor_policy_set").await,
        1
    );
}

#[tokio::test]
async fn the_admin_resets_the_second_factor_of_a_user_who_lost_their_phone() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::Prescriber).await;
    let agent = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let secret = set_up_by_choice(&agent).await;
    let user_id = app.lot.users[&Role::Prescriber];
    let path = format!("/v1/users/{user_id}/second-factor");

    // Not by another territory's admin, nor by the agent's own token.
    let foreign = app
        .send(app.request("DELETE", &path, Some(app.ara.token(Role::TenantAdmin))))
        .await;
    assert_eq!(foreign.status, 404, "{}", foreign.raw);
    let own = app
        .send(app.request("DELETE", &path, Some(app.lot.token(Role::Prescriber))))
        .await;
    assert_eq!(own.status, 403);

    // From the portal: the admin's user page offers it; the agent's session ends.
    let admin_email = with_password(&app, Role::TenantAdmin).await;
    let admin = SignedIn::new(&app, "lot", &admin_email, PASSWORD).await;
    let user_page = admin
        .get(&format!("/portail/lot/utilisateurs/{user_id}"))
        .await;
    assert!(
        user_page
            .html
            .contains("Réinitialiser la double authentification"),
        "{}",
        user_page.html
    );
    let reset = admin
        .submit(
            &format!("/portail/lot/utilisateurs/{user_id}/double-authentification"),
            &[],
        )
        .await;
    assert_eq!(reset.status, 303, "{}", reset.html);
    assert_eq!(
        agent.get("/portail/lot/").await.location.as_deref(),
        Some("/portail/lot/connexion"),
        "the agent's session ended"
    );
    // Once more through the API: there is nothing left to reset.
    let again = app
        .send(app.request("DELETE", &path, Some(app.lot.token(Role::TenantAdmin))))
        .await;
    again.problem(409);
    assert_eq!(again.body["type"], "/problems/second-factor-not-enrolled");
    // The agent signs in with the password alone again, and may set up a new one.
    let back = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let page = back.get("/portail/lot/double-authentification").await;
    assert_ne!(shown_secret(&page.html), secret, "a new key");
}
