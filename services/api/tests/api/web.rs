//! The portal's sign-in, as a browser drives it: forms, the session cookie, CSRF, the lock, and the
//! tenant of each portal.

use passerelle_core::audit::Actor;
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::accounts::{self, MAX_FAILED_SIGN_INS};
use reqwest::redirect::Policy;

use crate::helpers::{TestApp, spawn_app};

pub(crate) const PASSWORD: &str = "cheval-agrafe-batterie";

/// A browser that shows redirects instead of following them, and sends its page's origin.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
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
    let user_id = app.lot.users[&role];
    accounts::set_password(&app.db.app, app.lot.id, Actor::SYSTEM, user_id, PASSWORD)
        .await
        .expect("password");
    format!("{}@lot.example", role.as_str())
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
async fn repeated_failures_lock_the_account_with_a_french_message() {
    let app = spawn_app().await;
    let email = with_password(&app, Role::Prescriber).await;
    let browser = Browser::new(&app);
    for _ in 1..MAX_FAILED_SIGN_INS {
        assert_eq!(
            browser
                .sign_in("lot", &email, "essai-raté-123")
                .await
                .status,
            401
        );
    }
    let locked = browser.sign_in("lot", &email, "essai-raté-123").await;
    assert_eq!(locked.status, 429);
    assert!(locked.html.contains("ce compte est bloqué jusqu’à"));
    let right = browser.sign_in("lot", &email, PASSWORD).await;
    assert_eq!(right.status, 429);
    assert!(right.set_cookie.is_none());
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
