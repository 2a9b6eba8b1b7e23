//! The portal for people who use a browser, under `/portail/<tenant slug>/`: server-rendered
//! French pages that call the domain code directly, never the API over HTTP.
//!
//! Sessions: the cookie (`HttpOnly`, `SameSite=Lax`, `Secure` when the service is reached over
//! HTTPS, scoped to the tenant's path) carries only the session's secret. Forgery: every `POST`
//! must come from a page of this service (its `Origin`, or failing that its `Referer`, names the
//! host the request was sent to), and every form of a signed-in page also sends back the
//! session's CSRF token.

use chrono::Utc;
use passerelle_core::tenancy::Principal;
use passerelle_core::tenancy::accounts::{self, SessionUser, SignIn};
use passerelle_core::tenancy::tenants::{self, Tenant};
use poem::http::{StatusCode, header};
use poem::web::{Data, Form, Path};
use poem::{Request, Response, Route, get, handler};
use serde::Deserialize;
use serde_json::json;

use crate::limits::{self, sign_in::Verdict};
use crate::pages;
use crate::state::AppState;

/// The value of a `Result<T, Response>`, or the handler returns the page to answer instead (the
/// sign-in page, a 403, the "unavailable" page): `?` for handlers that answer a `Response`.
macro_rules! try_page {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(page) => return page,
        }
    };
}

mod admin;
mod epn;
mod forms;
mod french;
mod funder;
mod network;
mod passwords;
mod prescriber;
mod prescribers;
mod schemes;
mod statements;

const COOKIE: &str = "passerelle_session";

pub fn routes() -> Route {
    Route::new()
        .at("/:tenant", get(home))
        .at("/:tenant/", get(home))
        .at("/:tenant/connexion", get(sign_in_form).post(sign_in))
        .at("/:tenant/deconnexion", poem::post(sign_out))
        .at("/:tenant/releves", get(statements::list))
        .at("/:tenant/releves/:month/csv", get(statements::month_csv))
        .at("/:tenant/releves/:month/sepa", get(statements::month_sepa))
        .at("/:tenant/releve/:id", get(statements::show))
        .at("/:tenant/releve/:id/csv", get(statements::statement_csv))
        .at(
            "/:tenant/releve/:id/valider",
            poem::post(statements::approve),
        )
        .at(
            "/:tenant/releve/:id/payer",
            poem::post(statements::mark_paid),
        )
        .at(
            "/:tenant/cheques/nouveau",
            get(prescriber::new_voucher_form).post(prescriber::issue),
        )
        .at("/:tenant/cheques", get(prescriber::list))
        .at("/:tenant/cheques/:reference", get(prescriber::show))
        .at(
            "/:tenant/cheques/:reference/courrier",
            get(prescriber::letter),
        )
        .at(
            "/:tenant/cheques/import",
            get(prescriber::import_form).post(prescriber::import),
        )
        .at("/:tenant/epn", get(epn::home))
        .at(
            "/:tenant/epn/inscription",
            get(epn::find_form).post(epn::register),
        )
        .at("/:tenant/epn/seances", poem::post(epn::plan_session))
        .at(
            "/:tenant/epn/seances/:id",
            get(epn::sheet).post(epn::record_sheet),
        )
        .at(
            "/:tenant/mot-de-passe-oublie",
            get(passwords::forgotten_form).post(passwords::forgotten),
        )
        .at(
            "/:tenant/mot-de-passe/:secret",
            get(passwords::choose_form).post(passwords::choose),
        )
        .at(
            "/:tenant/utilisateurs",
            get(admin::user_list).post(admin::create_user),
        )
        .at(
            "/:tenant/utilisateurs/:id/invitation",
            poem::post(admin::invite),
        )
        .at(
            "/:tenant/utilisateurs/:id/desactivation",
            poem::post(admin::disable),
        )
        .at(
            "/:tenant/dispositifs",
            get(schemes::list).post(schemes::create),
        )
        .at("/:tenant/dispositifs/:id", get(schemes::show))
        .at(
            "/:tenant/dispositifs/:id/etat",
            poem::post(schemes::set_status),
        )
        .at(
            "/:tenant/dispositifs/:id/regles",
            poem::post(schemes::change_rules),
        )
        .at(
            "/:tenant/prescripteurs",
            get(prescribers::list).post(prescribers::create),
        )
        .at(
            "/:tenant/prescripteurs/dotations",
            poem::post(prescribers::allocate),
        )
        .at(
            "/:tenant/prescripteurs/:id/dotations/:allocation",
            poem::post(prescribers::set_quantity),
        )
        .at("/:tenant/epns", get(network::list))
        .at("/:tenant/epns/import", poem::post(network::import_file))
        .at("/:tenant/epns/:id", get(network::show))
        .at("/:tenant/epns/:id/offre", poem::post(network::set_offer))
        .at(
            "/:tenant/epns/:id/banque",
            poem::post(network::set_bank_details),
        )
        .at("/:tenant/courriels", get(admin::email_log))
        .at("/:tenant/journal", get(admin::audit_log))
        .at("/:tenant/statistiques", get(funder::exports))
        .at("/:tenant/statistiques/tableau", get(funder::charts))
        .at("/:tenant/statistiques/:id/:name", get(funder::download))
}

/// A signed-in page: its tenant and who is signed in.
struct Portal {
    tenant: Tenant,
    user: SessionUser,
}

impl Portal {
    /// The portal of `slug` with its signed-in user, or the page to answer instead: the sign-in
    /// page when nobody is signed in to this tenant.
    async fn signed_in(state: &AppState, req: &Request, slug: &str) -> Result<Self, Response> {
        let tenant = portal(state, slug).await?;
        match signed_in(state, req, &tenant).await? {
            Some(user) => Ok(Self { tenant, user }),
            None => Err(see_other(&format!("{}/connexion", cookie_path(&tenant)))),
        }
    }

    fn path(&self) -> String {
        cookie_path(&self.tenant)
    }

    /// Whether the signed-in user's role may call `operation` (the API's role table).
    fn may(&self, operation: &crate::access::Operation) -> bool {
        operation.roles.contains(&self.user.principal.role())
    }

    /// The signed-in portal of `slug` when its user may call `operation`, or the page to answer:
    /// sign-in when nobody is signed in, a French 403 for another role.
    async fn allowed(
        state: &AppState,
        req: &Request,
        slug: &str,
        operation: &crate::access::Operation,
    ) -> Result<Self, Response> {
        let portal = Self::signed_in(state, req, slug).await?;
        if portal.may(operation) {
            Ok(portal)
        } else {
            Err(message(
                StatusCode::FORBIDDEN,
                "Accès réservé",
                &format!(
                    "Cette page n’est pas ouverte à votre rôle ({}).",
                    role_fr(&portal.user.principal)
                ),
                Some((&format!("{}/", portal.path()), "Revenir à l’accueil")),
            ))
        }
    }

    /// `allowed`, for a posted form: it must also come from a page of this service and carry the
    /// session's CSRF token.
    async fn allowed_form(
        state: &AppState,
        req: &Request,
        slug: &str,
        operation: &crate::access::Operation,
        csrf_token: &str,
    ) -> Result<Self, Response> {
        let portal = Self::allowed(state, req, slug, operation).await?;
        match portal.form_refused(req, csrf_token) {
            Some(page) => Err(page),
            None => Ok(portal),
        }
    }

    /// The refusal page for a signed-in form that does not come from a page of this service or
    /// does not carry the session's token; `None` for a good form.
    fn form_refused(&self, req: &Request, csrf_token: &str) -> Option<Response> {
        (!same_origin(req) || !same_token(csrf_token, &self.user.csrf_token)).then(forbidden_form)
    }

    /// Renders a signed-in page: the template also receives `portal` (the tenant's name, the
    /// portal's path, the user's name and the CSRF token for its forms).
    fn page(&self, status: StatusCode, template: &str, mut context: serde_json::Value) -> Response {
        if let Some(map) = context.as_object_mut() {
            map.insert(
                "portal".into(),
                json!({
                    "tenant_name": self.tenant.name,
                    "path": self.path(),
                    "display_name": self.user.display_name,
                    "csrf_token": self.user.csrf_token,
                }),
            );
        }
        html(status, pages::render(template, context))
    }

    /// The prescriber organisation of a prescriber agent, the EPN of an animator.
    fn prescriber_id(&self) -> Option<uuid::Uuid> {
        match self.user.principal {
            Principal::Tenant { prescriber_id, .. } => prescriber_id,
            Principal::Platform { .. } => None,
        }
    }

    fn epn_id(&self) -> Option<uuid::Uuid> {
        match self.user.principal {
            Principal::Tenant { epn_id, .. } => epn_id,
            Principal::Platform { .. } => None,
        }
    }

    fn user_id(&self) -> Option<uuid::Uuid> {
        match self.user.principal {
            Principal::Tenant { user_id, .. } => Some(user_id),
            Principal::Platform { .. } => None,
        }
    }

    fn actor(&self) -> passerelle_core::audit::Actor {
        passerelle_core::audit::Actor::from(&self.user.principal)
    }
}

/// An id in a page's address; a malformed one is not found, like an unknown one.
#[expect(
    clippy::result_large_err,
    reason = "the error is the page to answer, returned at once by `try_page!`"
)]
fn path_id(text: &str, what: &'static str) -> Result<uuid::Uuid, Response> {
    uuid::Uuid::parse_str(text).map_err(|_| failed(&passerelle_core::Error::NotFound(what), None))
}

/// What to tell next to a form's fields, or the page to answer when the error is the service's.
#[expect(
    clippy::result_large_err,
    reason = "the error is the page to answer, returned at once by `try_page!`"
)]
fn refusal_of(err: &passerelle_core::Error) -> Result<french::FormRefusal, Response> {
    french::refusal(err).ok_or_else(|| failed(err, None))
}

/// The answer to a domain error on a page: the "unavailable" page for the database's errors, a
/// French message otherwise.
fn failed(err: &passerelle_core::Error, back: Option<(&str, &str)>) -> Response {
    match french::refusal(err) {
        Some(refusal) => {
            let (status, title) = match err {
                passerelle_core::Error::NotFound(_) => (StatusCode::NOT_FOUND, "Page introuvable"),
                passerelle_core::Error::Refused(refusal) => (
                    crate::problem::refusal_status(refusal.kind()),
                    "Opération impossible",
                ),
                _ => (StatusCode::UNPROCESSABLE_ENTITY, "Opération impossible"),
            };
            let text = refusal
                .form
                .or_else(|| refusal.fields.into_values().next())
                .unwrap_or_default();
            message(status, title, &text, back)
        }
        None if err.is_unavailable() || matches!(err, passerelle_core::Error::Busy(_)) => {
            tracing::warn!(error = %err, "portal page unavailable");
            unavailable()
        }
        None => {
            tracing::error!(error = %err, "portal page failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Erreur interne",
                "Une erreur inattendue est survenue ; elle est enregistrée. Réessayez plus tard, ou signalez-la à l’administrateur de l’espace.",
                None,
            )
        }
    }
}

fn html(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        // A password link's secret is in its page's address: it must not leave in a Referer.
        .header(header::REFERRER_POLICY, "same-origin")
        .body(body)
}

fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

fn message(status: StatusCode, title: &str, text: &str, link: Option<(&str, &str)>) -> Response {
    html(
        status,
        pages::render(
            "message.html",
            json!({
                "title": title,
                "message": text,
                "link": link.map(|(href, _)| href),
                "link_label": link.map(|(_, label)| label),
            }),
        ),
    )
}

fn unavailable() -> Response {
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service momentanément indisponible",
        "Le service ne répond pas pour l’instant. Réessayez dans quelques minutes.",
        None,
    )
}

fn unknown_portal() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Page introuvable",
        "Aucun espace ne porte cette adresse. Vérifiez le lien que vous avez reçu.",
        None,
    )
}

fn forbidden_form() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Formulaire refusé",
        "Ce formulaire n’a pas été envoyé depuis une page de ce service, ou il a expiré. Revenez à la page précédente, rechargez-la et recommencez.",
        None,
    )
}

async fn portal(state: &AppState, slug: &str) -> Result<Tenant, Response> {
    match tenants::find_by_slug(&state.db, slug).await {
        Ok(Some(tenant)) => Ok(tenant),
        Ok(None) => Err(unknown_portal()),
        Err(e) => {
            tracing::error!(error = %e, "portal lookup failed");
            Err(unavailable())
        }
    }
}

fn session_cookie(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn cookie_path(tenant: &Tenant) -> String {
    format!("/portail/{}", tenant.slug)
}

fn set_cookie(state: &AppState, tenant: &Tenant, value: &str, max_age: i64) -> String {
    let secure = if state.links.public_base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{COOKIE}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_path(tenant)
    )
}

/// Whether a form was posted from a page of this service: its `Origin` (or `Referer`) must name
/// the host the request was sent to.
fn same_origin(req: &Request) -> bool {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let source = req
        .headers()
        .get(header::ORIGIN)
        .or_else(|| req.headers().get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    source
        .and_then(|s| s.split_once("://"))
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
        .is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host))
}

/// Compares two tokens in a time that does not depend on where they differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

async fn signed_in(
    state: &AppState,
    req: &Request,
    tenant: &Tenant,
) -> Result<Option<SessionUser>, Response> {
    let Some(cookie) = session_cookie(req) else {
        return Ok(None);
    };
    match accounts::authenticate(&state.db, &cookie).await {
        Ok(Some(user)) if user.principal.tenant_id() == Some(tenant.id) => Ok(Some(user)),
        Ok(_) => Ok(None),
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            Err(unavailable())
        }
    }
}

fn role_fr(principal: &Principal) -> &'static str {
    principal.role().title_fr()
}

fn sign_in_page(
    status: StatusCode,
    tenant: &Tenant,
    email: &str,
    error: Option<String>,
    notice: Option<&str>,
) -> Response {
    html(
        status,
        pages::render(
            "sign_in.html",
            json!({ "tenant_name": tenant.name, "email": email, "error": error, "notice": notice,
                    "forgotten_path": format!("{}/mot-de-passe-oublie", cookie_path(tenant)) }),
        ),
    )
}

#[handler]
async fn sign_in_form(Path(slug): Path<String>, state: Data<&AppState>, req: &Request) -> Response {
    let tenant = try_page!(portal(&state, &slug).await);
    let query = req.uri().query().unwrap_or_default();
    let notice = if query.split('&').any(|p| p == "deconnecte=1") {
        Some("Vous êtes déconnecté.")
    } else if query.split('&').any(|p| p == "mot-de-passe=1") {
        Some("Votre mot de passe est enregistré : connectez-vous avec lui.")
    } else {
        None
    };
    sign_in_page(StatusCode::OK, &tenant, "", None, notice)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[handler]
async fn sign_in(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<SignInForm>,
) -> Response {
    let tenant = try_page!(portal(&state, &slug).await);
    if !same_origin(req) {
        return forbidden_form();
    }
    let email = form.email.trim().to_owned();
    if email.is_empty() || form.password.is_empty() {
        return sign_in_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &tenant,
            &email,
            Some("Saisissez votre adresse électronique et votre mot de passe.".into()),
            None,
        );
    }
    // Turned away before anything else is done (no Redis, no database): under a burst, answering
    // busy must cost next to nothing.
    if accounts::hashing_saturated() {
        return busy_sign_in(&tenant, &email).await;
    }
    let client = limits::client::of(req, &state);
    if let Verdict::Wait(seconds) = limits::sign_in::check(&state, tenant.id, &email, &client).await
    {
        return retry_after(
            sign_in_page(
                StatusCode::TOO_MANY_REQUESTS,
                &tenant,
                &email,
                Some(format!(
                    "Trop d’essais infructueux depuis cette connexion : par sécurité, réessayez dans {}.",
                    french_delay(seconds)
                )),
                None,
            ),
            seconds,
        );
    }
    match accounts::sign_in(&state.db, tenant.id, &email, &form.password).await {
        Ok(SignIn::Opened(session)) => {
            limits::sign_in::succeeded(&state, tenant.id, &email, &client).await;
            let max_age = (session.expires_at - Utc::now()).num_seconds().max(0);
            let mut response = see_other(&format!("{}/", cookie_path(&tenant)));
            if let Ok(value) = set_cookie(&state, &tenant, &session.cookie, max_age).parse() {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Ok(SignIn::Refused) => {
            limits::sign_in::failed(&state, tenant.id, &email, &client).await;
            sign_in_page(
                StatusCode::UNAUTHORIZED,
                &tenant,
                &email,
                Some("Adresse électronique ou mot de passe incorrect.".into()),
                None,
            )
        }
        Ok(SignIn::Busy) => busy_sign_in(&tenant, &email).await,
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            unavailable()
        }
    }
}

/// How long a sign-in refused for a full hashing gate is told to wait.
const BUSY_RETRY_SECONDS: u64 = 2;

/// A refused sign-in (busy, or slowed after failures) is answered after this pause, which costs
/// the service a sleeping task and nothing else: a client looping on the form cannot turn cheap
/// refusals into a flood that takes the cores from everyone else.
const REFUSAL_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

async fn busy_sign_in(tenant: &Tenant, email: &str) -> Response {
    tokio::time::sleep(REFUSAL_DELAY).await;
    retry_after(
        sign_in_page(
            StatusCode::SERVICE_UNAVAILABLE,
            tenant,
            email,
            Some("Beaucoup de connexions sont en cours : réessayez dans quelques secondes.".into()),
            None,
        ),
        BUSY_RETRY_SECONDS,
    )
}

fn retry_after(mut response: Response, seconds: u64) -> Response {
    if let Ok(value) = seconds.to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// "12 secondes", "3 minutes" (rounded up).
fn french_delay(seconds: u64) -> String {
    match seconds {
        0..=1 => "une seconde".into(),
        2..=59 => format!("{seconds} secondes"),
        60..=119 => "une minute".into(),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

#[handler]
async fn home(Path(slug): Path<String>, state: Data<&AppState>, req: &Request) -> Response {
    let portal = try_page!(Portal::signed_in(&state, req, &slug).await);
    use crate::access;
    let path = portal.path();
    let pages: [(&access::Operation, &str, &str); 14] = [
        (
            &access::ISSUE_VOUCHER,
            "/cheques/nouveau",
            "Émettre un chèque",
        ),
        (
            &access::ISSUE_VOUCHER,
            "/cheques",
            "Chèques émis, stock et parcours",
        ),
        (
            &access::BULK_ISSUE_VOUCHERS,
            "/cheques/import",
            "Émettre des chèques à partir d’un fichier",
        ),
        (
            &access::REGISTER_VOUCHER,
            "/epn/inscription",
            "Inscrire un chèque dans l’EPN",
        ),
        (
            &access::CREATE_SESSION,
            "/epn",
            "Séances et mois en cours de l’EPN",
        ),
        (
            &access::LIST_STATEMENTS,
            "/releves",
            "Relevés de remboursement des EPN",
        ),
        (
            &access::LIST_STATISTICS_EXPORTS,
            "/statistiques",
            "Statistiques publiées",
        ),
        (
            &access::LIST_STATISTICS_EXPORTS,
            "/statistiques/tableau",
            "Tableau de bord",
        ),
        (
            &access::CREATE_SCHEME,
            "/dispositifs",
            "Dispositifs, règles et modules",
        ),
        (
            &access::LIST_PRESCRIBERS,
            "/prescripteurs",
            "Structures prescriptrices et dotations",
        ),
        (
            &access::IMPORT_EPNS,
            "/epns",
            "EPN : import, offre et coordonnées bancaires",
        ),
        (
            &access::LIST_USERS,
            "/utilisateurs",
            "Utilisateurs du portail et invitations",
        ),
        (&access::LIST_EMAILS, "/courriels", "Journal des courriels"),
        (&access::LIST_AUDIT, "/journal", "Journal des actions"),
    ];
    let links: Vec<_> = pages
        .iter()
        .filter(|(operation, _, _)| portal.may(operation))
        .map(|(_, href, label)| json!({ "href": format!("{path}{href}"), "label": label }))
        .collect();
    portal.page(
        StatusCode::OK,
        "home.html",
        json!({
            "tenant_name": portal.tenant.name,
            "display_name": portal.user.display_name,
            "email": portal.user.email,
            "role": role_fr(&portal.user.principal),
            "links": links,
            "csrf_token": portal.user.csrf_token,
            "sign_out_path": format!("{}/deconnexion", portal.path()),
        }),
    )
}

#[derive(Deserialize)]
struct SignOutForm {
    #[serde(default)]
    csrf_token: String,
}

#[handler]
async fn sign_out(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<SignOutForm>,
) -> Response {
    let tenant = try_page!(portal(&state, &slug).await);
    let user = match signed_in(&state, req, &tenant).await {
        Ok(Some(user)) => user,
        Ok(None) => return see_other(&format!("{}/connexion", cookie_path(&tenant))),
        Err(page) => return page,
    };
    if !same_origin(req) || !same_token(&form.csrf_token, &user.csrf_token) {
        return forbidden_form();
    }
    if let Some(cookie) = session_cookie(req)
        && let Err(e) = accounts::sign_out(&state.db, &cookie).await
    {
        tracing::error!(error = %e, "sign-out failed");
        return unavailable();
    }
    let mut response = see_other(&format!("{}/connexion?deconnecte=1", cookie_path(&tenant)));
    if let Ok(value) = set_cookie(&state, &tenant, "", 0).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
