//! The tenant admin sets how the territory shows itself (`identite`): the name its pages, letters
//! and emails show, their sender, and its logo.

use passerelle_core::tenancy::branding::{self, BrandingChanges, LOGO_MAX_BYTES};
use passerelle_core::{Error, Refusal};
use poem::http::StatusCode;
use poem::web::{Data, Form, Multipart, Path};
use poem::{Request, Response, handler};
use serde::{Deserialize, Serialize};

use super::forms::{Upload, query_param};
use super::french::{FormErrors, FormRefusal};
use super::{PageResult, Portal, see_other};
use crate::access;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct BrandingForm {
    #[serde(default, skip_serializing)]
    csrf_token: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    sender_name: String,
    #[serde(default)]
    sender_email: String,
}

#[derive(Serialize)]
struct LogoView {
    format: &'static str,
    kib: i32,
    size: Option<String>,
}

#[derive(Serialize)]
struct BrandingPage<'a> {
    registered_name: String,
    form: &'a BrandingForm,
    logo: Option<LogoView>,
    errors: FormErrors,
    logo_errors: FormErrors,
    /// What was just saved: `nom`, `logo` or `retrait`.
    saved: Option<String>,
}

/// The page, its forms filled with `form` (the stored values, or what was sent and refused).
async fn page(
    state: &AppState,
    portal: &Portal,
    status: StatusCode,
    form: Option<BrandingForm>,
    errors: FormRefusal,
    logo_errors: FormRefusal,
    saved: Option<String>,
) -> PageResult<Response> {
    let stored = branding::get(&state.db, portal.tenant.id).await?;
    let form = form.unwrap_or(BrandingForm {
        csrf_token: String::new(),
        display_name: stored.display_name.clone().unwrap_or_default(),
        sender_name: stored.sender_name.clone(),
        sender_email: stored.sender_email.clone(),
    });
    let logo = stored.logo.map(|logo| LogoView {
        format: match logo.format {
            branding::LogoFormat::Png => "PNG",
            branding::LogoFormat::Svg => "SVG",
        },
        kib: (logo.byte_size + 1023) / 1024,
        size: logo
            .width
            .zip(logo.height)
            .map(|(w, h)| format!("{w} × {h} pixels")),
    });
    Ok(portal.page(
        status,
        "branding.html",
        BrandingPage {
            registered_name: stored.name,
            form: &form,
            logo,
            errors: errors.to_view(),
            logo_errors: logo_errors.to_view(),
            saved,
        },
    ))
}

#[handler]
pub(super) async fn show(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::allowed(&state, req, &slug, &access::UPDATE_BRANDING).await?;
    let saved = query_param(req, "enregistre");
    page(
        &state,
        &portal,
        StatusCode::OK,
        None,
        FormRefusal::default(),
        FormRefusal::default(),
        saved,
    )
    .await
}

#[handler]
pub(super) async fn save(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<BrandingForm>,
) -> PageResult {
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::UPDATE_BRANDING,
        &form.csrf_token,
    )
    .await?;
    // Every field of the form is sent: an emptied display name shows the registered name again.
    let changes = BrandingChanges {
        display_name: Some(Some(form.display_name.clone())),
        sender_name: Some(form.sender_name.clone()),
        sender_email: Some(form.sender_email.clone()),
    };
    match branding::update(&state.db, portal.tenant.id, portal.actor(), changes).await {
        Ok(_) => Ok(see_other(&format!(
            "{}/identite?enregistre=nom",
            portal.path()
        ))),
        Err(e) => {
            let mut errors = super::refusal_of(&e)?;
            if errors.fields.contains_key("display_name") {
                errors.fields.insert(
                    "display_name".into(),
                    "Le nom affiché compte 120 caractères au plus.".into(),
                );
            }
            page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(form),
                errors,
                FormRefusal::default(),
                None,
            )
            .await
        }
    }
}

#[handler]
pub(super) async fn save_logo(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    multipart: Multipart,
) -> PageResult {
    let upload = Upload::read(multipart, LOGO_MAX_BYTES).await;
    let portal = Portal::allowed_form(
        &state,
        req,
        &slug,
        &access::SET_LOGO,
        upload.field("csrf_token"),
    )
    .await?;
    let saved = match (&upload.file, upload.too_big) {
        (_, true) => Err(Error::Refused(Refusal::LogoTooLarge {
            size_kib: LOGO_MAX_BYTES / 1024 + 1,
            max_kib: LOGO_MAX_BYTES / 1024,
        })),
        (Some(file), false) if !file.is_empty() => {
            branding::set_logo(&state.db, portal.tenant.id, portal.actor(), file).await
        }
        _ => Err(Error::invalid("fichier", "a file")),
    };
    match saved {
        Ok(_) => Ok(see_other(&format!(
            "{}/identite?enregistre=logo",
            portal.path()
        ))),
        Err(e) => {
            let refused = super::refusal_of(&e)?;
            let message = refused
                .form
                .or_else(|| refused.fields.into_values().next())
                .map(|m| {
                    if matches!(e, Error::Invalid(_)) {
                        "Choisissez le fichier du logo, en PNG ou en SVG.".to_owned()
                    } else {
                        m
                    }
                })
                .unwrap_or_default();
            page(
                &state,
                &portal,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                FormRefusal::default(),
                FormRefusal::default().field("fichier", message),
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    csrf_token: String,
}

#[handler]
pub(super) async fn remove_logo(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
    Form(form): Form<RemoveForm>,
) -> PageResult {
    let portal =
        Portal::allowed_form(&state, req, &slug, &access::REMOVE_LOGO, &form.csrf_token).await?;
    branding::remove_logo(&state.db, portal.tenant.id, portal.actor()).await?;
    Ok(see_other(&format!(
        "{}/identite?enregistre=retrait",
        portal.path()
    )))
}
