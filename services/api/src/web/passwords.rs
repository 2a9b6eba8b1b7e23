//! Choosing a password from an emailed link (an invitation or a reset), and asking for a reset
//! link. Neither page tells whether an address has an account.

use passerelle_core::tenancy::account_links;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::french::{FormErrors, FormRefusal};
use super::{
    PageResult, forbidden_form, html, message, portal, same_origin, see_other, unavailable,
};
use crate::limits;
use crate::pages;
use crate::problem::ApiError;
use crate::state::AppState;

#[handler]
pub(super) async fn forgotten_form(Path(slug): Path<String>, state: Data<&AppState>) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    Ok(html(
        StatusCode::OK,
        pages::render(
            "password_forgotten.html",
            ForgottenView {
                tenant_name: tenant.shown_name(),
                sign_in_path: format!("/portail/{}/connexion", tenant.slug),
                errors: None,
            },
        ),
    ))
}

/// The "forgotten password" page.
#[derive(Serialize)]
struct ForgottenView<'a> {
    tenant_name: &'a str,
    sign_in_path: String,
    /// Absent on the empty form.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<FormErrors>,
}

/// The page where an invited user or one who forgot chooses a password.
#[derive(Serialize)]
struct ChooseView<'a> {
    tenant_name: &'a str,
    display_name: &'a str,
    email: &'a str,
    /// A first password (an invitation) rather than a new one.
    invitation: bool,
    errors: FormErrors,
}

#[derive(Deserialize)]
pub(super) struct ForgottenForm {
    #[serde(default)]
    email: String,
}

/// Reset requests allowed per client address and minute.
const RESETS_PER_CLIENT_PER_MINUTE: u64 = 5;
/// Reset requests allowed per address typed (and tenant) and hour: at most this many emails.
const RESETS_PER_ADDRESS_PER_HOUR: u64 = 3;

#[handler]
pub(super) async fn forgotten(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ForgottenForm>,
) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    if !same_origin(req) {
        return Ok(forbidden_form());
    }
    if form.email.trim().is_empty() {
        return Ok(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::render(
                "password_forgotten.html",
                ForgottenView {
                    tenant_name: tenant.shown_name(),
                    sign_in_path: format!("/portail/{}/connexion", tenant.slug),
                    errors: Some(
                        FormRefusal::default()
                            .field("email", "Saisissez l’adresse électronique de votre compte.")
                            .to_view(),
                    ),
                },
            ),
        ));
    }
    // Each request may send an email: bounded per client and per address typed (known or not,
    // the same), so that the form cannot flood someone's mailbox.
    let client = limits::client::of(req, &state);
    let typed = format!(
        "{}:{}",
        tenant.id,
        hex::encode(sha2::Sha256::digest(
            form.email.trim().to_lowercase().as_bytes()
        ))
    );
    let limited = match limits::rate::hit(
        &state,
        "reset-client",
        &client,
        RESETS_PER_CLIENT_PER_MINUTE,
    )
    .await
    {
        Ok(()) => {
            limits::rate::hit_per(
                &state,
                "reset-address",
                &typed,
                RESETS_PER_ADDRESS_PER_HOUR,
                3_600,
            )
            .await
        }
        refused => refused,
    };
    if let Err(ApiError::TooManyRequests { retry_after }) = limited {
        let mut response = message(
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de demandes",
            &format!(
                "Trop de demandes de nouveau mot de passe ont été faites pour cette adresse ou depuis cette connexion. Réessayez dans {} minutes, et vérifiez votre messagerie : un courriel est peut-être déjà arrivé.",
                retry_after.div_ceil(60)
            ),
            Some((
                &format!("/portail/{}/connexion", tenant.slug),
                "Revenir à la connexion",
            )),
        );
        if let Ok(value) = retry_after.to_string().parse() {
            response
                .headers_mut()
                .insert(poem::http::header::RETRY_AFTER, value);
        }
        return Ok(response);
    }
    if let Err(e) = account_links::request_reset(&state.db, tenant.id, &form.email).await {
        tracing::error!(error = %e, "password reset request failed");
        return Err(unavailable().into());
    }
    Ok(message(
        StatusCode::OK,
        "Vérifiez votre messagerie",
        &format!(
            "Si un compte actif de l’espace {} correspond à cette adresse, un courriel vient de lui être envoyé avec un lien pour choisir un nouveau mot de passe. Le lien est valable {} minutes.",
            tenant.shown_name(),
            account_links::RESET_MINUTES
        ),
        Some((
            &format!("/portail/{}/connexion", tenant.slug),
            "Revenir à la connexion",
        )),
    ))
}

fn expired_link(slug: &str) -> Response {
    message(
        StatusCode::GONE,
        "Ce lien n’est plus valable",
        "Le lien a déjà servi ou a expiré. Demandez-en un nouveau : « Mot de passe oublié » sur la page de connexion, ou une nouvelle invitation à l’administrateur de votre espace.",
        Some((
            &format!("/portail/{slug}/mot-de-passe-oublie"),
            "Demander un nouveau lien",
        )),
    )
}

#[handler]
pub(super) async fn choose_form(
    Path((slug, secret)): Path<(String, String)>,
    state: Data<&AppState>,
) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    match account_links::check(&state.db, tenant.id, &secret).await {
        Ok(Some(holder)) => Ok(choose_page(
            StatusCode::OK,
            tenant.shown_name(),
            &holder,
            &FormRefusal::default(),
        )),
        Ok(None) => Ok(expired_link(&tenant.slug)),
        Err(e) => {
            tracing::error!(error = %e, "account link lookup failed");
            Err(unavailable().into())
        }
    }
}

fn choose_page(
    status: StatusCode,
    tenant_name: &str,
    holder: &account_links::LinkHolder,
    errors: &FormRefusal,
) -> Response {
    html(
        status,
        pages::render(
            "password_choose.html",
            ChooseView {
                tenant_name,
                display_name: &holder.display_name,
                email: &holder.email,
                invitation: holder.purpose == "invitation",
                errors: errors.to_view(),
            },
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct ChooseForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirmation: String,
}

#[handler]
pub(super) async fn choose(
    Path((slug, secret)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<ChooseForm>,
) -> PageResult {
    let tenant = portal(&state, &slug).await?;
    if !same_origin(req) {
        return Ok(forbidden_form());
    }
    let holder = match account_links::check(&state.db, tenant.id, &secret).await {
        Ok(Some(holder)) => holder,
        Ok(None) => return Ok(expired_link(&tenant.slug)),
        Err(e) => {
            tracing::error!(error = %e, "account link lookup failed");
            return Err(unavailable().into());
        }
    };
    let chars = form.password.chars().count();
    let mut errors = FormRefusal::default();
    if chars < passerelle_core::tenancy::accounts::MIN_PASSWORD_CHARS {
        errors = errors.field(
            "password",
            "Choisissez un mot de passe d’au moins 12 caractères : une phrase de quelques mots est plus facile à retenir.",
        );
    } else if chars > passerelle_core::tenancy::accounts::MAX_PASSWORD_CHARS {
        errors = errors.field(
            "password",
            "Choisissez un mot de passe de 200 caractères au plus.",
        );
    } else if form.password != form.confirmation {
        errors = errors.field(
            "confirmation",
            "Les deux saisies sont différentes : saisissez le même mot de passe deux fois.",
        );
    }
    if !errors.is_empty() {
        return Ok(choose_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            tenant.shown_name(),
            &holder,
            &errors,
        ));
    }
    match account_links::use_link(&state.db, tenant.id, &secret, &form.password).await {
        Ok(Some(_)) => Ok(see_other(&format!(
            "/portail/{}/connexion?mot-de-passe=1",
            tenant.slug
        ))),
        Ok(None) => Ok(expired_link(&tenant.slug)),
        Err(e) => {
            let errors = super::refusal_of(&e)?;
            Ok(choose_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                tenant.shown_name(),
                &holder,
                &errors,
            ))
        }
    }
}
