//! Signing in through the tenant's OpenID Connect provider: the button's address sends the person
//! to the provider, its return opens a session, and the provider's logout comes back here.
//!
//! What ties a return to its start: the `state` the provider sends back must equal the one in a
//! cookie of this browser (so a return made in another browser, or forged, is refused), and the
//! nonce and PKCE verifier kept for it in Redis are taken once (so a return replayed is refused)
//! within ten minutes.

use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Request, Response, handler};
use redis::AsyncCommands;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use passerelle_core::tenancy::accounts;
use passerelle_core::tenancy::provider_sign_in::{
    self, ProviderClient, ProviderRefusal, ProviderSignIn,
};
use passerelle_core::tenancy::tenants::Tenant;

use super::PageResult;
use super::*;
use crate::oidc::Pending;
use crate::state::AppState;

/// The cookie holding the `state` of the sign-in under way in this browser.
const STATE_COOKIE: &str = "passerelle_oidc_state";
/// How long a sign-in may stay at the provider.
const PENDING_SECONDS: u64 = 600;
/// A re-authentication asked before money moves must be at most this old when it comes back.
const REAUTHENTICATION_SECONDS: i64 = 300;
/// Sign-ins begun per client and minute: each keeps a few hundred bytes in Redis for ten
/// minutes, so a client looping on the button is stopped long before that matters.
const BEGUN_PER_CLIENT_PER_MINUTE: u64 = 20;

fn redirect_uri(state: &AppState, tenant: &Tenant) -> String {
    format!(
        "{}{}/oidc/retour",
        state.links.public_base_url.trim_end_matches('/'),
        cookie_path(tenant)
    )
}

/// Where the provider's logout comes back to.
pub(super) fn post_logout_uri(state: &AppState, tenant: &Tenant) -> String {
    format!(
        "{}{}/oidc/deconnexion",
        state.links.public_base_url.trim_end_matches('/'),
        cookie_path(tenant)
    )
}

fn pending_key(state: &AppState, tenant: &Tenant, oidc_state: &str) -> String {
    format!(
        "{}:oidc:{}:{}",
        state.redis_namespace,
        tenant.id,
        hex::encode(Sha256::digest(oidc_state.as_bytes()))
    )
}

fn state_cookie(state: &AppState, tenant: &Tenant, value: &str, max_age: u64) -> String {
    let secure = secure_attribute(state);
    // Lax: the provider's return is a top-level navigation from its site, which Lax lets through.
    format!(
        "{STATE_COOKIE}={value}; Path={}/oidc; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_path(tenant)
    )
}

/// A page of this tenant's portal to come back to; anything else is dropped (no open redirect).
fn local_back(portal_path: &str, back: Option<&str>) -> Option<String> {
    let back = back?;
    let prefix = format!("{portal_path}/");
    (back.starts_with(&prefix)
        && !back.contains("//")
        && !back.contains('\\')
        && !back.contains("/oidc/")
        && back.len() <= 500
        && back.chars().all(|c| c.is_ascii_graphic()))
    .then(|| back.to_owned())
}

fn with_cookie(mut response: Response, cookie: String) -> Response {
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn provider_of(state: &AppState, tenant: &Tenant) -> PageResult<ProviderClient> {
    match provider_sign_in::client(&state.db, tenant.id).await {
        Ok(Some(provider)) => Ok(provider),
        Ok(None) => Err(message(
            StatusCode::NOT_FOUND,
            "Connexion par un fournisseur d’identité non proposée",
            &format!(
                "L’espace {} ne propose pas de se connecter par un fournisseur d’identité. Connectez-vous avec votre adresse électronique et votre mot de passe.",
                tenant.shown_name()
            ),
            Some((
                &format!("{}/connexion", cookie_path(tenant)),
                "Aller à la page de connexion",
            )),
        )
        .into()),
        Err(e) => {
            tracing::error!(error = %e, "identity provider lookup failed");
            Err(unavailable().into())
        }
    }
}

fn provider_unreachable(tenant: &Tenant, provider: &ProviderClient) -> Response {
    message(
        StatusCode::BAD_GATEWAY,
        &format!("La connexion par {} n’a pas abouti", provider.label),
        &format!(
            "La réponse de {} n’a pas pu être obtenue ou vérifiée ; rien n’a été enregistré. Recommencez dans un instant ; si cela se reproduit, prévenez l’administrateur de l’espace.",
            provider.label
        ),
        Some((
            &format!("{}/connexion", cookie_path(tenant)),
            "Revenir à la page de connexion",
        )),
    )
}

#[derive(Deserialize)]
pub(super) struct BeginQuery {
    retour: Option<String>,
    reauthentifier: Option<String>,
}

/// The button: the person is sent to the provider with a fresh `state`, nonce and PKCE challenge.
#[handler]
pub(super) async fn begin(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    poem::web::Query(query): poem::web::Query<BeginQuery>,
) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    let client = crate::limits::client::of(req, &state);
    if let Err(crate::problem::ApiError::TooManyRequests {
        retry_after: seconds,
    }) = crate::limits::rate::hit(
        &state,
        "provider-sign-in",
        &client,
        BEGUN_PER_CLIENT_PER_MINUTE,
    )
    .await
    {
        return Ok(retry_after(
            message(
                StatusCode::TOO_MANY_REQUESTS,
                "Trop de connexions commencées",
                "Trop de connexions ont été commencées depuis cette connexion. Réessayez dans une minute.",
                Some((
                    &format!("{}/connexion", cookie_path(&tenant)),
                    "Revenir à la page de connexion",
                )),
            ),
            seconds,
        ));
    }
    let provider = provider_of(&state, &tenant).await?;
    let reauthenticate = query.reauthentifier.as_deref() == Some("1");
    let back = local_back(&cookie_path(&tenant), query.retour.as_deref());
    let (url, oidc_state, pending) = match state
        .identity_providers
        .begin(
            &provider,
            &redirect_uri(&state, &tenant),
            reauthenticate,
            back,
        )
        .await
    {
        Ok(begun) => begun,
        Err(e) => {
            tracing::warn!(error = %e, tenant = %tenant.id, "cannot send to the identity provider");
            return Ok(provider_unreachable(&tenant, &provider));
        }
    };
    let pending = serde_json::to_string(&pending)
        .map_err(|e| passerelle_core::Error::Internal(e.to_string()))?;
    let mut redis = state.redis.clone();
    let stored: redis::RedisResult<()> = redis
        .set_ex(
            pending_key(&state, &tenant, oidc_state.secret()),
            pending,
            PENDING_SECONDS,
        )
        .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "cannot keep the sign-in under way");
        return Err(unavailable().into());
    }
    Ok(with_cookie(
        see_other(&url),
        state_cookie(&state, &tenant, oidc_state.secret(), PENDING_SECONDS),
    ))
}

#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn not_verified(tenant: &Tenant, provider: &ProviderClient) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "La connexion n’a pas pu être vérifiée",
        &format!(
            "Ce retour de {} ne correspond pas à une connexion commencée dans ce navigateur, ou celle-ci a expiré (dix minutes) ou a déjà servi. Rien n’a été enregistré : recommencez depuis la page de connexion.",
            provider.label
        ),
        Some((
            &format!("{}/connexion", cookie_path(tenant)),
            "Revenir à la page de connexion",
        )),
    )
}

fn refused(tenant: &Tenant, provider: &ProviderClient, refusal: ProviderRefusal) -> Response {
    let (title, text) = match refusal {
        ProviderRefusal::NotInvited => (
            "Aucun accès ouvert à cette adresse",
            format!(
                "{} a confirmé votre identité, mais personne ne vous a invité dans l’espace {} avec l’adresse électronique qu’il transmet. Demandez à l’administrateur du territoire (ou au référent de votre structure) de vous inviter avec cette adresse, puis reconnectez-vous. Aucun compte n’a été créé.",
                provider.label,
                tenant.shown_name()
            ),
        ),
        ProviderRefusal::DomainNotAllowed => (
            "Connexion par ce fournisseur non ouverte à votre adresse",
            format!(
                "Votre compte existe, mais l’administrateur du territoire n’a pas ouvert la connexion par {} aux adresses de votre domaine pour votre rôle. Connectez-vous avec votre mot de passe, ou demandez-lui d’ajouter votre domaine.",
                provider.label
            ),
        ),
        ProviderRefusal::Disabled => (
            "Compte désactivé",
            "Votre compte est désactivé. Adressez-vous à l’administrateur du territoire.".into(),
        ),
        ProviderRefusal::LinkedToAnother => (
            "Compte déjà lié à une autre identité",
            format!(
                "Votre compte est déjà lié à une autre identité {}. Connectez-vous avec celle-ci, ou demandez à l’administrateur du territoire de vérifier votre compte.",
                provider.label
            ),
        ),
    };
    message(
        StatusCode::FORBIDDEN,
        title,
        &text,
        Some((
            &format!("{}/connexion", cookie_path(tenant)),
            "Revenir à la page de connexion",
        )),
    )
}

/// The provider's return: `state` checked against this browser's cookie, the pending sign-in
/// taken once, the code exchanged and the ID token verified, then the session opened (or a
/// French page saying why not, with nothing created).
#[handler]
pub(super) async fn callback(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    poem::web::Query(query): poem::web::Query<CallbackQuery>,
) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    let provider = provider_of(&state, &tenant).await?;
    let clear_state = state_cookie(&state, &tenant, "", 0);
    let (Some(returned), Some(expected)) = (query.state, cookie_named(req, STATE_COOKIE)) else {
        return Ok(with_cookie(not_verified(&tenant, &provider), clear_state));
    };
    if returned.is_empty() || !same_token(&returned, &expected) {
        return Ok(with_cookie(not_verified(&tenant, &provider), clear_state));
    }
    let mut redis = state.redis.clone();
    let taken: redis::RedisResult<Option<String>> =
        redis.get_del(pending_key(&state, &tenant, &returned)).await;
    let pending = match taken {
        Ok(Some(text)) => serde_json::from_str::<Pending>(&text).ok(),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the sign-in under way");
            return Err(unavailable().into());
        }
    };
    let Some(pending) = pending else {
        return Ok(with_cookie(not_verified(&tenant, &provider), clear_state));
    };
    if let Some(error) = query.error {
        tracing::info!(error = %error, tenant = %tenant.id, "the provider sent back an error");
        return Ok(with_cookie(
            message(
                StatusCode::FORBIDDEN,
                "Connexion annulée",
                &format!(
                    "{} n’a pas confirmé votre identité (connexion annulée ou refusée). Rien n’a été enregistré.",
                    provider.label
                ),
                Some((
                    &format!("{}/connexion", cookie_path(&tenant)),
                    "Revenir à la page de connexion",
                )),
            ),
            clear_state,
        ));
    }
    let Some(code) = query.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return Ok(with_cookie(not_verified(&tenant, &provider), clear_state));
    };
    let back = pending.back.clone();
    let reauthenticate = pending.reauthenticate;
    let identity = match state
        .identity_providers
        .finish(&provider, &redirect_uri(&state, &tenant), pending, code)
        .await
    {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(error = %e, tenant = %tenant.id, "sign-in through the provider refused");
            return Ok(with_cookie(
                provider_unreachable(&tenant, &provider),
                clear_state,
            ));
        }
    };
    if reauthenticate
        && identity
            .authenticated_at
            .is_none_or(|at| (chrono::Utc::now() - at).num_seconds() > REAUTHENTICATION_SECONDS)
    {
        return Ok(with_cookie(
            message(
                StatusCode::FORBIDDEN,
                "Identification à renouveler",
                &format!(
                    "Cette opération demande de vous identifier à nouveau auprès de {}, qui ne l’a pas redemandé. Déconnectez-vous, puis reconnectez-vous avant de recommencer.",
                    provider.label
                ),
                Some((&format!("{}/", cookie_path(&tenant)), "Revenir à l’accueil")),
            ),
            clear_state,
        ));
    }
    match provider_sign_in::sign_in(&state.db, tenant.id, &identity).await {
        Ok(ProviderSignIn::Opened { session, .. }) => {
            // The session this browser had, if any, gives way to the new one.
            if let Some(previous) = session_cookie(req)
                && let Err(e) = accounts::sign_out(&state.db, &previous).await
            {
                tracing::warn!(error = %e, "the previous session stays until it expires");
            }
            let max_age = (session.expires_at - chrono::Utc::now())
                .num_seconds()
                .max(0);
            let target = back.unwrap_or_else(|| format!("{}/", cookie_path(&tenant)));
            let response = with_cookie(
                see_other(&target),
                set_cookie(&state, &tenant, &session.cookie, max_age),
            );
            Ok(with_cookie(response, clear_state))
        }
        Ok(ProviderSignIn::Refused(refusal)) => Ok(with_cookie(
            refused(&tenant, &provider, refusal),
            clear_state,
        )),
        Err(e) => {
            tracing::error!(error = %e, "provider sign-in failed");
            Err(unavailable().into())
        }
    }
}

/// Where the provider's logout comes back to: the sign-in page, saying so.
#[handler]
pub(super) async fn signed_out(Path(slug): Path<String>, state: Data<&AppState>) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    let provider = provider_label(&state, &tenant).await;
    let notice = provider
        .as_ref()
        .map(|label| format!("Vous êtes déconnecté, ici et de {label}."));
    Ok(sign_in_page(
        StatusCode::OK,
        &tenant,
        provider.clone(),
        "",
        None,
        notice.as_deref().or(Some("Vous êtes déconnecté.")),
    ))
}

/// What sign-out answers for a session the provider opened: a page that moves on to the
/// provider's logout (whose return is the sign-in page), or `None` when it has no logout. Not a
/// redirect: the sign-out form's redirects may only stay on this service (`form-action 'self'`),
/// so the browser leaves from a page of its own.
pub(super) async fn provider_sign_out_page(
    state: &AppState,
    tenant: &Tenant,
    id_token: &str,
) -> Option<Response> {
    let provider = provider_sign_in::client(&state.db, tenant.id)
        .await
        .ok()
        .flatten()?;
    let logout_url = state
        .identity_providers
        .logout_url(&provider.issuer, id_token, &post_logout_uri(state, tenant))
        .await?;
    Some(html(
        StatusCode::OK,
        crate::pages::render(
            "provider_sign_out.html",
            ProviderSignOutView {
                tenant_name: tenant.shown_name(),
                brand: super::Brand::of(tenant),
                provider_label: &provider.label,
                logout_url: &logout_url,
            },
        ),
    ))
}

#[derive(serde::Serialize)]
struct ProviderSignOutView<'a> {
    tenant_name: &'a str,
    brand: super::Brand,
    provider_label: &'a str,
    logout_url: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pages_of_the_portal_are_gone_back_to() {
        for ok in ["/portail/lot/", "/portail/lot/releves/1?x=2"] {
            assert_eq!(
                local_back("/portail/lot", Some(ok)).as_deref(),
                Some(ok),
                "{ok}"
            );
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/portail/lot/",
            "/portail/lot//evil.example",
            "/portail/gers/",
            "/portail/lotx/",
            "/portail/lot/oidc/connexion",
            "/portail/lot/\\evil",
            "/portail/lot/ a",
        ] {
            assert_eq!(local_back("/portail/lot", Some(bad)), None, "{bad}");
        }
    }
}
