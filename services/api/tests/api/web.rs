//! The portal's sign-in, as a browser drives it: forms, the session cookie, CSRF, the delays after
//! failures, and the tenant of each portal.

use passerelle_core::audit::Actor;
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::accounts;
use reqwest::redirect::Policy;

use crate::helpers::{TestApp, spawn_app};

pub(crate) const PASSWORD: &str = "cheval-agrafe-batterie";

/// A browser that shows redirects instead of following them, and sends its page's origin.
pub(crate) struct Browser<'a> {
    pub app: &'a TestApp,
    pub http: reqwest::Client,
}

pub(crate) struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub html: String,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let response = request.send().await.expect("request");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Page {
            status: response.status().as_u16(),
            location: header("location"),
            set_cookie: header("set-cookie"),
            html: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Page {
        let mut request = self.http.get(format!("{}{path}", self.app.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        self.send(request).await
    }

    pub async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> Page {
        let mut request = self
            .http
            .post(format!("{}{path}", self.app.base))
            .form(form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        self.send(request).await
    }

    pub async fn sign_in(&self, slug: &str, email: &str, password: &str) -> Page {
        self.post(
            &format!("/portail/{slug}/connexion"),
            None,
            Some(&self.app.base),
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// A sign-in through a proxy that says the client is `client` (`X-Forwarded-For`).
    pub async fn sign_in_from(&self, client: &str, email: &str, password: &str) -> (Page, u64) {
        let response = self
            .http
            .post(format!("{}/portail/lot/connexion", self.app.base))
            .header("origin", &self.app.base)
            .header("x-forwarded-for", client)
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .expect("request");
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let page = Page {
            status: response.status().as_u16(),
            location: None,
            set_cookie: response
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            html: response.text().await.expect("body"),
        };
        (page, retry_after)
    }
}

/// A browser signed in to a portal: it sends its session cookie with every request, and its forms
/// come from a page of the portal (their `Origin`) carrying the session's CSRF token, as a real
/// browser's do.
pub(crate) struct SignedIn<'a> {
    pub browser: Browser<'a>,
    /// `passerelle_session=…`, for a request built by hand (a file upload).
    pub cookie: String,
    /// The session's CSRF token, for a form a test builds whole.
    pub token: String,
}

impl<'a> SignedIn<'a> {
    /// Signs `email` in to the portal of `slug` and reads the CSRF token from its home page.
    pub async fn new(app: &'a TestApp, slug: &str, email: &str, password: &str) -> Self {
        let browser = Browser::new(app);
        let page = browser.sign_in(slug, email, password).await;
        assert_eq!(page.status, 303, "{}", page.html);
        let cookie = cookie_pair(&page.set_cookie.expect("cookie"));
        let mut home = browser
            .get(&format!("/portail/{slug}/"), Some(&cookie))
            .await;
        if home.status == 303 {
            pass_second_factor(&browser, &cookie, slug, email).await;
            home = browser
                .get(&format!("/portail/{slug}/"), Some(&cookie))
                .await;
        }
        assert_eq!(home.status, 200, "{}", home.html);
        let token = csrf_token(&home.html);
        Self {
            browser,
            cookie,
            token,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        self.browser.get(path, Some(&self.cookie)).await
    }

    /// Follows an import's page until the import is finished (ten seconds at most).
    pub async fn finished_import_page(&self, path: &str) -> Page {
        let mut last = String::new();
        for _ in 0..200 {
            let page = self.get(path).await;
            assert_eq!(page.status, 200, "{}", page.html);
            if page.html.contains("data-termine=\"oui\"") {
                return page;
            }
            last = page.html;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the import at {path} did not finish: {last}");
    }

    /// Submits a form of the portal's pages: the session's CSRF token is added to `fields`.
    pub async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let form: Vec<(&str, &str)> = std::iter::once(("csrf_token", self.token.as_str()))
            .chain(fields.iter().copied())
            .collect();
        self.send_form(path, &form).await
    }

    /// Posts `form` as it is, from a page of the portal: a form that carries its own token, or a
    /// forged one.
    pub async fn send_form(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let origin = self.browser.app.base.clone();
        self.browser
            .post(path, Some(&self.cookie), Some(&origin), form)
            .await
    }
}

/// The code of RFC 6238 (HMAC-SHA-1, six digits, thirty-second steps) at time step `step`,
/// computed here on its own, not with the service's crate.
pub(crate) fn code_at_step(secret: &[u8], step: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("key");
    mac.update(&(step as u64).to_be_bytes());
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

pub(crate) fn current_step() -> i64 {
    chrono::Utc::now().timestamp() / 30
}

/// The secret the enrolment page shows, in groups of four, decoded.
pub(crate) fn shown_secret(html: &str) -> Vec<u8> {
    let grouped = html
        .split("<strong class=\"code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret on the page");
    let compact: String = grouped.chars().filter(|c| !c.is_whitespace()).collect();
    data_encoding::BASE32_NOPAD
        .decode(compact.as_bytes())
        .expect("base32")
}

pub(crate) fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<li class=\"code\">")
        .skip(1)
        .filter_map(|rest| rest.split('<').next())
        .map(str::to_owned)
        .collect()
}

/// What a test user's authenticator holds: its secret, the last step whose code was used, and
/// the recovery codes left.
struct Authenticator {
    secret: Vec<u8>,
    last_step: i64,
    recovery: Vec<String>,
}

/// The authenticators of the test users, by service address and email.
fn authenticators()
-> &'static std::sync::Mutex<std::collections::HashMap<(String, String), Authenticator>> {
    static KEPT: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<(String, String), Authenticator>>,
    > = std::sync::OnceLock::new();
    KEPT.get_or_init(Default::default)
}

/// Passes the second factor of a session opened with the password, as its user would: sets up
/// the authenticator the first time (keeping its secret and recovery codes), then types the code
/// of a step not used yet, or a recovery code when the steps within reach are spent.
pub(crate) async fn pass_second_factor(
    browser: &Browser<'_>,
    cookie: &str,
    slug: &str,
    email: &str,
) {
    let path = format!("/portail/{slug}/double-authentification");
    let page = browser.get(&path, Some(cookie)).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let token = csrf_token(&page.html);
    let key = (browser.app.base.clone(), email.to_owned());
    let origin = browser.app.base.clone();
    if page.html.contains("double-authentification/activation") {
        let secret = shown_secret(&page.html);
        let step = current_step();
        let done = browser
            .post(
                &format!("{path}/activation"),
                Some(cookie),
                Some(&origin),
                &[
                    ("csrf_token", &token),
                    ("code", &code_at_step(&secret, step)),
                ],
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.html);
        let recovery = recovery_codes(&done.html);
        authenticators().lock().expect("lock").insert(
            key,
            Authenticator {
                secret,
                last_step: step,
                recovery,
            },
        );
        return;
    }
    let code = {
        let mut kept = authenticators().lock().expect("lock");
        let authenticator = kept
            .get_mut(&key)
            .expect("a second factor this test set up");
        let step = (authenticator.last_step + 1).max(current_step() - 1);
        if step <= current_step() + 1 {
            authenticator.last_step = step;
            code_at_step(&authenticator.secret, step)
        } else {
            authenticator.recovery.pop().expect("a recovery code left")
        }
    };
    let done = browser
        .post(
            &path,
            Some(cookie),
            Some(&origin),
            &[("csrf_token", &token), ("code", &code)],
        )
        .await;
    assert!(
        [200, 303].contains(&done.status),
        "{} {}",
        done.status,
        done.html
    );
}

/// `name=value` of a `Set-Cookie` header.
pub(crate) fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

pub(crate) fn csrf_token(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token in the page")
        .to_owned()
}

pub(crate) async fn with_password(app: &TestApp, role: Role) -> String {
    with_password_in(app, &app.lot, role).await
}

/// `with_password` for a user of `tenant` (the Lot's or Auvergne-Rhône-Alpes's fixture).
pub(crate) async fn with_password_in(
    app: &TestApp,
    tenant: &crate::helpers::TenantFixture,
    role: Role,
) -> String {
    let user_id = tenant.users[&role];
    accounts::set_password(&app.db.app, tenant.id, Actor::SYSTEM, user_id, PASSWORD)
        .await
        .expect("password");
    format!("{}@{}.example", role.as_str(), tenant.slug)
}

#[tokio::test]
async fn a_finance_officer_signs_in_sees_the_home_page_and_signs_out() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::Finance).await;
    let browser = Browser::new(&app);

    let form = browser.get("/portail/lot/connexion", None).await;
    assert_eq!(form.status, 200);
    assert!(form.html.contains("Se connecter à l’espace Tenant lot"));
    assert!(form.html.contains("autocomplete=\"current-password\""));

    // Posted from elsewhere (no origin of this service): refused before anything is checked.
    let forged = browser
        .post(
            "/portail/lot/connexion",
            None,
            Some("https://ailleurs.example"),
            &[("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.set_cookie.is_none());

    let wrong = browser.sign_in("lot", &email, "pas-le-bon-mot").await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong
            .html
            .contains("Adresse électronique ou mot de passe incorrect.")
    );
    assert!(wrong.html.contains("role=\"alert\""));
    assert!(wrong.set_cookie.is_none());

    let signed_in = browser.sign_in("lot", &email, PASSWORD).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.html);
    assert_eq!(signed_in.location.as_deref(), Some("/portail/lot/"));
    let set_cookie = signed_in.set_cookie.expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/portail/lot"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = cookie_pair(&set_cookie);

    // A finance officer's password opens the second factor's page only.
    let gated = browser.get("/portail/lot/", Some(&cookie)).await;
    assert_eq!(
        gated.location.as_deref(),
        Some("/portail/lot/double-authentification")
    );
    pass_second_factor(&browser, &cookie, "lot", &email).await;
    let home = browser.get("/portail/lot/", Some(&cookie)).await;
    assert_eq!(home.status, 200);
    assert!(
        home.html.contains("gestionnaire financier"),
        "{}",
        home.html
    );
    let token = csrf_token(&home.html);

    // Signing out needs the page's CSRF token.
    let no_token = browser
        .post(
            "/portail/lot/deconnexion",
            Some(&cookie),
            Some(&app.base),
            &[("csrf_token", "autre")],
        )
        .await;
    assert_eq!(no_token.status, 403);
    assert_eq!(
        browser.get("/portail/lot/", Some(&cookie)).await.status,
        200
    );
    let out = browser
        .post(
            "/portail/lot/deconnexion",
            Some(&cookie),
            Some(&app.base),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(
        out.location.as_deref(),
        Some("/portail/lot/connexion?deconnecte=1")
    );
    assert!(out.set_cookie.expect("cleared").contains("Max-Age=0"));
    let after = browser.get("/portail/lot/", Some(&cookie)).await;
    assert_eq!(after.status, 303);
    assert_eq!(after.location.as_deref(), Some("/portail/lot/connexion"));
}

#[tokio::test]
async fn each_portal_knows_only_its_own_tenant() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::TenantAdmin).await;
    let browser = Browser::new(&app);

    let elsewhere = browser.sign_in("ara", &email, PASSWORD).await;
    assert_eq!(elsewhere.status, 401);

    let signed_in = browser.sign_in("lot", &email, PASSWORD).await;
    let cookie = cookie_pair(&signed_in.set_cookie.expect("cookie"));
    let ara_home = browser.get("/portail/ara/", Some(&cookie)).await;
    assert_eq!(ara_home.status, 303);
    assert_eq!(ara_home.location.as_deref(), Some("/portail/ara/connexion"));

    let unknown = browser.get("/portail/nulle-part/connexion", None).await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.html.contains("Aucun espace ne porte cette adresse"));
}

#[tokio::test]
async fn failures_slow_the_failing_address_down_but_never_lock_the_owner_out() {
    let app = crate::helpers::spawn_app_with(|state| {
        state.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    let email = with_password(&app, Role::Finance).await;
    let browser = Browser::new(&app);
    let attacker = "203.0.113.7";
    // The attack, on a real account and on an address that has none: the same answers.
    for target in [email.as_str(), "personne@lot.example"] {
        for _ in 0..3 {
            let (page, _) = browser
                .sign_in_from(attacker, target, "essai-raté-123")
                .await;
            assert_eq!(page.status, 401, "{target}");
        }
        let (slowed, retry_after) = browser
            .sign_in_from(attacker, target, "essai-raté-123")
            .await;
        assert_eq!(slowed.status, 429, "{target}");
        assert!(
            slowed.html.contains("réessayez dans une seconde"),
            "{}",
            slowed.html
        );
        assert_eq!(retry_after, 1);
        assert!(!slowed.html.contains("bloqué"));
    }
    // Once the second is over, one more failure doubles the wait; even the right password waits
    // from the attacker's address…
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (failed, _) = browser
        .sign_in_from(attacker, &email, "essai-raté-123")
        .await;
    assert_eq!(failed.status, 401);
    let (waiting, retry_after) = browser.sign_in_from(attacker, &email, PASSWORD).await;
    assert_eq!(waiting.status, 429);
    assert!(retry_after >= 1, "{retry_after}");
    assert!(waiting.set_cookie.is_none());
    // …while the owner, from their own address, signs in at once.
    let (owner, _) = browser.sign_in_from("198.51.100.9", &email, PASSWORD).await;
    assert_eq!(owner.status, 303, "{}", owner.html);
    assert!(owner.set_cookie.is_some());
    // An IPv6 client is one client for its whole /64.
    for suffix in 1..=3 {
        let (page, _) = browser
            .sign_in_from(&format!("2001:db8:7:7::{suffix}"), &email, "essai-raté-123")
            .await;
        assert_eq!(page.status, 401);
    }
    let (same_64, _) = browser
        .sign_in_from("2001:db8:7:7::ffff", &email, "essai-raté-123")
        .await;
    assert_eq!(same_64.status, 429);
}

#[tokio::test]
async fn a_forwarded_address_from_an_untrusted_peer_is_not_believed() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::Finance).await;
    let browser = Browser::new(&app);
    // The attacker names a new address in each request: without a trusted proxy it is ignored.
    for n in 0..3 {
        let (page, _) = browser
            .sign_in_from(&format!("192.0.2.{n}"), &email, "essai-raté-123")
            .await;
        assert_eq!(page.status, 401);
    }
    let (slowed, _) = browser
        .sign_in_from("192.0.2.99", &email, "essai-raté-123")
        .await;
    assert_eq!(slowed.status, 429);
}

#[tokio::test]
async fn a_burst_of_sign_ins_is_answered_at_once_and_other_clients_stay_served() {
    let app = crate::helpers::spawn_app_with(|state| {
        state.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    let browser = Browser::new(&app);
    // 64 sign-ins at once, each from its own address, for addresses that have no account.
    let burst = futures::future::join_all((0..64).map(|n| {
        let browser = &browser;
        async move {
            browser
                .sign_in_from(
                    &format!("198.18.{}.{}", n / 200, n % 200 + 1),
                    &format!("inconnu-{n}@lot.example"),
                    "essai-raté-123",
                )
                .await
        }
    }));
    let me = async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        app.me(app.token_for(Role::TenantAdmin)).await
    };
    let (answers, me) = futures::future::join(burst, me).await;
    assert_eq!(me.status, 200, "{}", me.raw);
    let busy: Vec<u64> = answers
        .iter()
        .filter(|(page, _)| page.status == 503)
        .map(|(_, retry_after)| *retry_after)
        .collect();
    for (page, _) in &answers {
        assert!(matches!(page.status, 401 | 503), "{}", page.status);
    }
    assert!(!busy.is_empty(), "the hashing gate turned nobody away");
    assert!(busy.iter().all(|s| *s > 0), "503 without Retry-After");
    let (busy_page, _) = answers
        .iter()
        .find(|(page, _)| page.status == 503)
        .expect("a busy answer");
    assert!(busy_page.html.contains("réessayez dans quelques secondes"));
}

#[tokio::test]
async fn the_statements_page_and_its_csv_are_for_finance_and_admins_only() {
    let app = spawn_app().await;
    let finance = with_password(&app, Role::Finance).await;
    let prescriber = with_password(&app, Role::Prescriber).await;
    let browser = Browser::new(&app);

    let not_signed_in = browser.get("/portail/lot/releves", None).await;
    assert_eq!(not_signed_in.status, 303);
    assert_eq!(
        not_signed_in.location.as_deref(),
        Some("/portail/lot/connexion")
    );

    let cookie = cookie_pair(
        &browser
            .sign_in("lot", &prescriber, PASSWORD)
            .await
            .set_cookie
            .expect("cookie"),
    );
    let home = browser.get("/portail/lot/", Some(&cookie)).await;
    assert!(!home.html.contains("Relevés de remboursement"));
    let refused = browser.get("/portail/lot/releves", Some(&cookie)).await;
    assert_eq!(refused.status, 403);
    assert!(refused.html.contains("Accès réservé"));
    let refused = browser
        .get("/portail/lot/releves/2026-10/csv", Some(&cookie))
        .await;
    assert_eq!(refused.status, 403);

    let cookie = cookie_pair(
        &browser
            .sign_in("lot", &finance, PASSWORD)
            .await
            .set_cookie
            .expect("cookie"),
    );
    pass_second_factor(&browser, &cookie, "lot", &finance).await;
    let home = browser.get("/portail/lot/", Some(&cookie)).await;
    assert!(home.html.contains("Relevés de remboursement des EPN"));
    let page = browser
        .get("/portail/lot/releves?mois=2026-10", Some(&cookie))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.html
            .contains("Relevés de remboursement — octobre 2026"),
        "{}",
        page.html
    );
    assert!(page.html.contains("Aucun relevé pour ce mois"));
    let wrong = browser
        .get("/portail/lot/releves?mois=octobre", Some(&cookie))
        .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.html.contains("AAAA-MM"));

    let response = browser
        .http
        .get(format!("{}/portail/lot/releves/2026-10/csv", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("csv");
    assert_eq!(response.status(), 200);
    let disposition = response
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"lot-remboursements-2026-10"),
        "{disposition}"
    );
}

#[tokio::test]
async fn the_password_reset_form_cannot_flood_a_mailbox() {
    let app = crate::helpers::spawn_app_with(|state| {
        state.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    let email = with_password(&app, Role::Finance).await;
    let browser = Browser::new(&app);
    let ask = |target: &str, client: String| {
        browser
            .http
            .post(format!("{}/portail/lot/mot-de-passe-oublie", app.base))
            .header("origin", &app.base)
            .header("x-forwarded-for", client)
            .form(&[("email", target)])
            .send()
    };
    // Each request from a new address: the limit per address typed holds all the same, for a
    // real account and for an address that has none.
    for (n, target) in [email.as_str(), "personne@lot.example"]
        .into_iter()
        .enumerate()
    {
        for attempt in 0..3 {
            let page = ask(target, format!("192.0.2.{}", n * 10 + attempt))
                .await
                .expect("sent");
            assert_eq!(page.status(), 200);
        }
        let limited = ask(target, format!("192.0.2.{}", n * 10 + 9))
            .await
            .expect("sent");
        assert_eq!(limited.status(), 429, "{target}");
        assert!(limited.headers().contains_key("retry-after"));
        let html = limited.text().await.expect("body");
        assert!(html.contains("Trop de demandes"), "{html}");
    }
    // And one client cannot spray many addresses.
    let mut statuses = Vec::new();
    for n in 0..6 {
        let page = ask(&format!("autre-{n}@lot.example"), "198.51.100.1".into())
            .await
            .expect("sent");
        statuses.push(page.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
}
