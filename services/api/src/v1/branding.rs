//! A territory's branding: the name its pages, letters and emails show, their sender, and its
//! logo (PNG or SVG, checked before it is kept).

use chrono::{DateTime, Utc};
use passerelle_core::tenancy::branding::{self, Branding, BrandingChanges, LogoFormat};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiResponse, Multipart, Object, OpenApi};

use super::Tag;
use super::schemas::patched;
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

mirror_enum! {
    /// `png` or `svg`.
    #[oai(rename = "LogoFormat", rename_all = "snake_case")]
    pub enum LogoFormatDto mirrors LogoFormat {
        Png,
        Svg,
    }
}

/// The territory's logo as stored.
#[derive(Debug, Object)]
#[oai(rename = "Logo")]
pub struct LogoView {
    pub format: LogoFormatDto,
    /// Its size in bytes.
    pub byte_size: i32,
    /// SHA-256 of the file, hexadecimal.
    pub sha256: String,
    /// A PNG's width in pixels (an SVG scales).
    #[oai(skip_serializing_if_is_none)]
    pub width: Option<i32>,
    /// A PNG's height in pixels.
    #[oai(skip_serializing_if_is_none)]
    pub height: Option<i32>,
    /// When it was sent.
    pub updated_at: DateTime<Utc>,
    /// Its public address, relative to the service; it changes with the logo.
    pub url: String,
}

/// How the territory shows itself.
#[derive(Debug, Object)]
#[oai(rename = "Branding")]
pub struct BrandingView {
    /// The territory's registered name (set by the platform).
    pub name: String,
    /// The name its pages, letters and emails show, when it chose one; else they show `name`.
    #[oai(skip_serializing_if_is_none)]
    pub display_name: Option<String>,
    /// The name its emails come from.
    pub sender_name: String,
    /// The address its emails come from.
    pub sender_email: String,
    /// Absent until a logo is sent.
    #[oai(skip_serializing_if_is_none)]
    pub logo: Option<LogoView>,
}

impl BrandingView {
    fn new(branding: Branding, slug: &str) -> Self {
        Self {
            logo: branding.logo.map(|logo| LogoView {
                url: branding::logo_path(slug, &logo.sha256),
                format: logo.format.into(),
                byte_size: logo.byte_size,
                sha256: logo.sha256,
                width: logo.width,
                height: logo.height,
                updated_at: logo.updated_at,
            }),
            name: branding.name,
            display_name: branding.display_name,
            sender_name: branding.sender_name,
            sender_email: branding.sender_email,
        }
    }
}

/// The fields to change; those left out keep their value.
#[derive(Debug, Object)]
#[oai(rename = "UpdateBranding")]
pub struct UpdateBranding {
    /// The name to show (at most 120 characters); `null` or empty shows the registered name again.
    #[oai(validator(max_length = 400))]
    pub display_name: MaybeUndefined<String>,
    /// The name emails come from (1 to 200 characters).
    #[oai(validator(max_length = 400))]
    pub sender_name: Option<String>,
    /// The address emails come from.
    #[oai(validator(max_length = 254))]
    pub sender_email: Option<String>,
}

/// A logo: PNG (16 to 4,000 pixels a side) or SVG without scripts or outside references, at most
/// 512 KiB. The format is read from the file, not from its name.
#[derive(Debug, Multipart)]
pub struct LogoUpload {
    pub file: Upload,
}

#[derive(ApiResponse)]
pub enum LogoRemoved {
    /// The logo is removed (or there was none): pages show the name alone.
    #[oai(status = 204)]
    Removed,
}

pub struct BrandingApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Branding")]
impl BrandingApi {
    /// How the territory shows itself on its pages, letters and emails.
    #[oai(path = "/branding", method = "get", operation_id = "getBranding")]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<Json<BrandingView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_BRANDING)?;
        let branding = branding::get(&state.db, tenant_id).await?;
        let slug = tenant_slug(&state, tenant_id).await?;
        Ok(Json(BrandingView::new(branding, &slug)))
    }

    /// Changes the name shown and the emails' sender. Audited with the values before and after;
    /// emails already queued go out under the new sender within a minute.
    #[oai(path = "/branding", method = "patch", operation_id = "updateBranding")]
    async fn update(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<UpdateBranding>,
    ) -> Result<Json<BrandingView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::UPDATE_BRANDING)?;
        let body = body.0;
        let changes = BrandingChanges {
            display_name: patched(body.display_name),
            sender_name: body.sender_name,
            sender_email: body.sender_email,
        };
        let branding = branding::update(&state.db, tenant_id, auth.actor(), changes).await?;
        let slug = tenant_slug(&state, tenant_id).await?;
        Ok(Json(BrandingView::new(branding, &slug)))
    }

    /// Sends the territory's logo (multipart, field `file`), replacing the previous one. Refused:
    /// over 512 KiB (413), not a readable PNG or SVG, a PNG under 16 or over 4,000 pixels a side,
    /// an SVG with a script, an event handler or a reference outside itself (422). Audited.
    #[oai(path = "/branding/logo", method = "put", operation_id = "setLogo")]
    async fn set_logo(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        form: LogoUpload,
    ) -> Result<Json<BrandingView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_LOGO)?;
        let content = form.file.into_vec().await.map_err(|e| {
            ApiError::from(passerelle_core::Error::Internal(format!(
                "the logo could not be read from the request: {e}"
            )))
        })?;
        let branding = branding::set_logo(&state.db, tenant_id, auth.actor(), &content).await?;
        let slug = tenant_slug(&state, tenant_id).await?;
        Ok(Json(BrandingView::new(branding, &slug)))
    }

    /// Removes the logo. Audited.
    #[oai(
        path = "/branding/logo",
        method = "delete",
        operation_id = "removeLogo"
    )]
    async fn remove_logo(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<LogoRemoved, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REMOVE_LOGO)?;
        branding::remove_logo(&state.db, tenant_id, auth.actor()).await?;
        Ok(LogoRemoved::Removed)
    }
}

async fn tenant_slug(state: &AppState, tenant_id: uuid::Uuid) -> Result<String, ApiError> {
    Ok(passerelle_core::tenancy::tenants::get(&state.db, tenant_id)
        .await?
        .slug)
}
