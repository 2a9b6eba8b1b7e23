//! Signing in and out of a tenant's portal: the form, the password check on its own threads,
//! the delays after refusals, and the session cookie.

use chrono::Utc;
use passerelle_core::tenancy::Principal;
use passerelle_core::tenancy::accounts::{self, SignIn};
use passerelle_core::tenancy::provider_sign_in;
use passerelle_core::tenancy::tenants::Tenant;
use poem::http::{StatusCode, header};
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::PageResult;
use super::*;
use crate::limits::{self, sign_in::Verdict};
use crate::pages;
use crate::state::AppState;

pub(super) fn role_fr(principal: &Principal) -> &'static str {
    principal.role().title_fr()
}

/// The sign-in page, with what was typed and why it was refused.
#[derive(serde::Serialize)]
struct SignInView<'a> {
    tenant_name: &'a str,
    brand: super::Brand,
    email: &'a str,
    error: Option<String>,
    notice: Option<&'a str>,
    forgotten_path: String,
    /// The button of the tenant's OpenID Connect provider, when it has one.
    provider_label: Option<String>,
    provider_path: String,
}

/// The button's label of the tenant's provider, if it has one (none if it cannot be read: the
/// password form still works).
pub(super) async fn provider_label(state: &AppState, tenant: &Tenant) -> Option<String> {
    match provider_sign_in::client(&state.db, tenant.id).await {
        Ok(provider) => provider.map(|p| p.label),
        Err(e) => {
            tracing::warn!(error = %e, "the sign-in page shows no provider");
            None
        }
    }
}

pub(super) fn sign_in_page(
    status: StatusCode,
    tenant: &Tenant,
    provider_label: Option<String>,
    email: &str,
    error: Option<String>,
    notice: Option<&str>,
) -> Response {
    html(
        status,
        pages::render(
            "sign_in.html",
            SignInView {
                tenant_name: tenant.shown_name(),
                brand: super::Brand::of(tenant),
                email,
                error,
                notice,
                forgotten_path: format!("{}/mot-de-passe-oublie", cookie_path(tenant)),
                provider_label,
                provider_path: format!("{}/oidc/connexion", cookie_path(tenant)),
            },
        ),
    )
}

#[handler]
pub(super) async fn sign_in_form(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    let query = req.uri().query().unwrap_or_default();
    let notice = if query.split('&').any(|p| p == "deconnecte=1") {
        Some("Vous êtes déconnecté.")
    } else if query.split('&').any(|p| p == "mot-de-passe=1") {
        Some("Votre mot de passe est enregistré : connectez-vous avec lui.")
    } else {
        None
    };
    let provider = provider_label(&state, &tenant).await;
    Ok(sign_in_page(
        StatusCode::OK,
        &tenant,
        provider,
        "",
        None,
        notice,
    ))
}

#[derive(Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[handler]
pub(super) async fn sign_in(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<SignInForm>,
) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    if !same_origin(req) {
        return Ok(forbidden_form());
    }
    let email = form.email.trim().to_owned();
    if email.is_empty() || form.password.is_empty() {
        return Ok(sign_in_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &tenant,
            provider_label(&state, &tenant).await,
            &email,
            Some("Saisissez votre adresse électronique et votre mot de passe.".into()),
            None,
        ));
    }
    // Turned away before anything else is done (no Redis, no database): under a burst, answering
    // busy must cost next to nothing.
    if accounts::hashing_saturated() {
        return Ok(busy_sign_in(&tenant, &email).await);
    }
    let client = limits::client::of(req, &state);
    if let Verdict::Wait(seconds) = limits::sign_in::check(&state, tenant.id, &email, &client).await
    {
        return Ok(retry_after(
            sign_in_page(
                StatusCode::TOO_MANY_REQUESTS,
                &tenant,
                None,
                &email,
                Some(format!(
                    "Trop d’essais infructueux depuis cette connexion : par sécurité, réessayez dans {}.",
                    french_delay(seconds)
                )),
                None,
            ),
            seconds,
        ));
    }
    match accounts::sign_in(&state.db, tenant.id, &email, &form.password).await {
        Ok(SignIn::Opened(session)) => {
            limits::sign_in::succeeded(&state, tenant.id, &email, &client).await;
            let max_age = (session.expires_at - Utc::now()).num_seconds().max(0);
            let mut response = see_other(&format!("{}/", cookie_path(&tenant)));
            if let Ok(value) = set_cookie(&state, &tenant, &session.cookie, max_age).parse() {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            Ok(response)
        }
        Ok(SignIn::Refused) => {
            limits::sign_in::failed(&state, tenant.id, &email, &client).await;
            Ok(sign_in_page(
                StatusCode::UNAUTHORIZED,
                &tenant,
                provider_label(&state, &tenant).await,
                &email,
                Some("Adresse électronique ou mot de passe incorrect.".into()),
                None,
            ))
        }
        Ok(SignIn::Busy) => Ok(busy_sign_in(&tenant, &email).await),
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            Err(unavailable().into())
        }
    }
}

/// How long a sign-in refused for a full hashing gate is told to wait.
pub(super) const BUSY_RETRY_SECONDS: u64 = 2;

/// A refused sign-in (busy, or slowed after failures) is answered after this pause, which costs
/// the service a sleeping task and nothing else: a client looping on the form cannot turn cheap
/// refusals into a flood that takes the cores from everyone else.
pub(super) const REFUSAL_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

pub(super) async fn busy_sign_in(tenant: &Tenant, email: &str) -> Response {
    tokio::time::sleep(REFUSAL_DELAY).await;
    retry_after(
        sign_in_page(
            StatusCode::SERVICE_UNAVAILABLE,
            tenant,
            None,
            email,
            Some("Beaucoup de connexions sont en cours : réessayez dans quelques secondes.".into()),
            None,
        ),
        BUSY_RETRY_SECONDS,
    )
}

#[derive(Deserialize)]
pub(super) struct SignOutForm {
    #[serde(default)]
    csrf_token: String,
}

#[handler]
pub(super) async fn sign_out(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<SignOutForm>,
) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    let Some(user) = signed_in(&state, req, &tenant).await? else {
        return Ok(see_other(&format!("{}/connexion", cookie_path(&tenant))));
    };
    if !same_origin(req) || !same_token(&form.csrf_token, &user.csrf_token) {
        return Ok(forbidden_form());
    }
    let provider_id_token = match session_cookie(req) {
        Some(cookie) => match accounts::sign_out(&state.db, &cookie).await {
            Ok(id_token) => id_token,
            Err(e) => {
                tracing::error!(error = %e, "sign-out failed");
                return Err(unavailable().into());
            }
        },
        None => None,
    };
    // A session the provider opened ends there too, which then comes back to the sign-in page.
    let provider_sign_out = match provider_id_token {
        Some(id_token) => {
            super::provider_sign_in::provider_sign_out_page(&state, &tenant, &id_token).await
        }
        None => None,
    };
    let mut response = provider_sign_out
        .unwrap_or_else(|| see_other(&format!("{}/connexion?deconnecte=1", cookie_path(&tenant))));
    if let Ok(value) = set_cookie(&state, &tenant, "", 0).parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    // What the phone app keeps (the week's names, the sheets) leaves the phone with the user.
    response.headers_mut().insert(
        "clear-site-data",
        header::HeaderValue::from_static("\"cache\", \"storage\""),
    );
    Ok(response)
}
