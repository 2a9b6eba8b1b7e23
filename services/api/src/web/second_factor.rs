//! The second factor in the portal (`double-authentification`): set it up (a QR code for the
//! authenticator app, its secret to type by hand, a code to confirm, then the recovery codes shown
//! once), and type a code after the password, or before an action that moves money.

use passerelle_core::Error;
use passerelle_core::tenancy::second_factor::{self, Enrolled, Proof};
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};
use serde::{Deserialize, Serialize};

use super::forms::query_param;
use super::{PageResult, Portal, see_other};
use crate::state::AppState;

#[derive(Serialize, Default)]
struct SecondFactorPage {
    /// `inscription` (set it up), `code` (type a code), `activee` (nothing to do), `secours` (the
    /// recovery codes, once), `secours-utilise` (a recovery code accepted, with how many are left).
    step: &'static str,
    qr: Option<String>,
    secret: Option<String>,
    recovery_codes: Vec<String>,
    error: Option<String>,
    /// Where to go once the code is typed.
    back_to: String,
    /// A recovery code was used: how many are left.
    recovery_left: Option<i64>,
    /// The user's role (or the territory) requires it.
    required: bool,
}

/// The signed-in user (a portal session always has one).
fn user_of(portal: &Portal) -> PageResult<uuid::Uuid> {
    Ok(portal.user_id().ok_or(Error::NotFound("user"))?)
}

/// Where to go after the code: a page of this portal, never elsewhere.
fn back_to(portal: &Portal, asked: Option<String>) -> String {
    let home = format!("{}/", portal.path());
    asked
        .filter(|path| path.starts_with(&home) && !path.contains("//") && !path.contains('\\'))
        .unwrap_or(home)
}

/// The secret in groups of four, as it is typed into an app by hand.
fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn enrolment_page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    error: Option<String>,
) -> PageResult<Response> {
    let enrolment = second_factor::begin_enrolment(
        &state.db,
        portal.tenant.id,
        user_of(portal)?,
        &format!("{} ({})", portal.user.email, portal.tenant.shown_name()),
    )
    .await?;
    Ok(portal.page(
        status,
        "second_factor.html",
        SecondFactorPage {
            step: "inscription",
            qr: Some(crate::qr::svg(
                &enrolment.otpauth_url,
                200,
                "Code QR à scanner avec votre application d’authentification",
            )),
            secret: Some(grouped(&enrolment.secret_base32)),
            error,
            required: portal.user.second_factor_required,
            back_to: back_to(portal, None),
            ..SecondFactorPage::default()
        },
    ))
}

#[handler]
pub(super) async fn show(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::signed_in_with_password(&state, req, &slug).await?;
    let retour = query_param(req, "retour");
    let coming_back = retour.is_some();
    let asked = back_to(&portal, retour);
    let fresh = portal.user.second_factor_fresh(chrono::Utc::now());
    match second_factor::enrolled(&state.db, portal.tenant.id, user_of(&portal)?).await? {
        Enrolled::Yes if fresh && coming_back => Ok(see_other(&asked)),
        Enrolled::Yes if fresh => Ok(portal.page(
            StatusCode::OK,
            "second_factor.html",
            SecondFactorPage {
                step: "activee",
                back_to: asked,
                ..SecondFactorPage::default()
            },
        )),
        Enrolled::Yes => Ok(portal.page(
            StatusCode::OK,
            "second_factor.html",
            SecondFactorPage {
                step: "code",
                back_to: asked,
                ..SecondFactorPage::default()
            },
        )),
        Enrolled::No | Enrolled::Pending => {
            enrolment_page(&state, &portal, StatusCode::OK, None).await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    retour: Option<String>,
}

/// The French sentence of a refused code, or the page to answer for another fault.
fn refused_code(e: &Error) -> PageResult<String> {
    let refused = super::refusal_of(e)?;
    Ok(refused
        .form
        .or_else(|| refused.fields.into_values().next())
        .unwrap_or_default())
}

#[handler]
pub(super) async fn verify(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<CodeForm>,
) -> PageResult {
    let portal = Portal::signed_in_with_password(&state, req, &slug).await?;
    if let Some(page) = portal.form_refused(req, &form.csrf_token) {
        return Ok(page);
    }
    let asked = back_to(&portal, form.retour.clone());
    match second_factor::verify(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        user_of(&portal)?,
        portal.user.session_id,
        &form.code,
        chrono::Utc::now(),
    )
    .await
    {
        Ok(Proof::Code) => Ok(see_other(&asked)),
        Ok(Proof::RecoveryCode { left }) => Ok(portal.page(
            StatusCode::OK,
            "second_factor.html",
            SecondFactorPage {
                step: "secours-utilise",
                back_to: asked,
                recovery_left: Some(left),
                ..SecondFactorPage::default()
            },
        )),
        Err(e) => Ok(portal.page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "second_factor.html",
            SecondFactorPage {
                step: "code",
                error: Some(refused_code(&e)?),
                back_to: asked,
                ..SecondFactorPage::default()
            },
        )),
    }
}

#[handler]
pub(super) async fn activate(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<CodeForm>,
) -> PageResult {
    let portal = Portal::signed_in_with_password(&state, req, &slug).await?;
    if let Some(page) = portal.form_refused(req, &form.csrf_token) {
        return Ok(page);
    }
    match second_factor::confirm_enrolment(
        &state.db,
        portal.tenant.id,
        portal.actor(),
        user_of(&portal)?,
        portal.user.session_id,
        &form.code,
        chrono::Utc::now(),
    )
    .await
    {
        Ok(codes) => Ok(portal.page(
            StatusCode::OK,
            "second_factor.html",
            SecondFactorPage {
                step: "secours",
                recovery_codes: codes,
                back_to: back_to(&portal, None),
                ..SecondFactorPage::default()
            },
        )),
        Err(e) => {
            let error = refused_code(&e)?;
            enrolment_page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(error),
            )
            .await
        }
    }
}
