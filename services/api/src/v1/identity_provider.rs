//! A territory's OpenID Connect provider (ProConnect for public agents), set by its tenant admin:
//! the issuer, the client this service is registered as (its secret written, never read back),
//! and the email domains allowed through it for each role.

use chrono::{DateTime, Utc};
use passerelle_core::tenancy::identity_provider::{
    self, AllowedDomain, IdentityProvider, ProviderSettings,
};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::schemas::RoleDto;
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

/// Addresses of this domain may sign in through the provider with this role (the invited users of
/// that role).
#[derive(Debug, Object)]
#[oai(rename = "AllowedEmailDomain")]
pub struct AllowedDomainDto {
    /// What follows the `@`, e.g. `caf.fr`.
    #[oai(validator(max_length = 253))]
    pub domain: String,
    pub role: RoleDto,
    /// For the prescriber role: only the agents of this organisation.
    #[oai(skip_serializing_if_is_none)]
    pub prescriber_id: Option<Uuid>,
}

/// The provider to set. Without `client_secret`, the stored one is kept (required the first time).
#[derive(Debug, Object)]
#[oai(rename = "IdentityProviderInput", deny_unknown_fields)]
pub struct ProviderInput {
    /// The sign-in button's name, e.g. `ProConnect`.
    #[oai(validator(max_length = 200))]
    pub label: String,
    /// The provider's issuer (its discovery document is `<issuer>/.well-known/openid-configuration`).
    #[oai(validator(max_length = 600))]
    pub issuer: String,
    /// The client id the provider gave this service.
    #[oai(validator(max_length = 400))]
    pub client_id: String,
    /// The client secret the provider gave this service; never shown again.
    #[oai(validator(max_length = 600))]
    pub client_secret: Option<String>,
    /// Which addresses may sign in through it, per role.
    #[oai(validator(max_items = 200))]
    pub email_domains: Vec<AllowedDomainDto>,
}

/// The provider as set, without its secret.
#[derive(Debug, Object)]
#[oai(rename = "IdentityProvider")]
pub struct ProviderView {
    /// The sign-in button's name.
    pub label: String,
    /// The provider's issuer.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// Always true: a secret is stored (it is never shown).
    pub client_secret_set: bool,
    /// Which addresses may sign in through it, per role.
    pub email_domains: Vec<AllowedDomainDto>,
    /// The address to register with the provider as this service's redirect URI.
    pub redirect_uri: String,
    /// The address to register as this service's post-logout redirect URI.
    pub post_logout_redirect_uri: String,
    /// The scopes the service asks for.
    pub scopes: Vec<String>,
    /// When it was last set.
    pub updated_at: DateTime<Utc>,
}

impl ProviderView {
    fn new(provider: IdentityProvider, state: &AppState, slug: &str) -> Self {
        Self {
            label: provider.label,
            issuer: provider.issuer,
            client_id: provider.client_id,
            client_secret_set: true,
            email_domains: provider
                .domains
                .into_iter()
                .map(|d| AllowedDomainDto {
                    domain: d.domain,
                    role: d.role.into(),
                    prescriber_id: d.prescriber_id,
                })
                .collect(),
            redirect_uri: format!(
                "{}/portail/{slug}/oidc/retour",
                state.links.public_base_url.trim_end_matches('/')
            ),
            post_logout_redirect_uri: format!(
                "{}/portail/{slug}/oidc/deconnexion",
                state.links.public_base_url.trim_end_matches('/')
            ),
            scopes: crate::oidc::SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            updated_at: provider.updated_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum ProviderRemoved {
    /// Removed: its button leaves the sign-in page.
    #[oai(status = 204)]
    Removed,
}

pub struct IdentityProviderApi;

async fn slug_of(state: &AppState, tenant_id: Uuid) -> Result<String, ApiError> {
    Ok(passerelle_core::tenancy::tenants::get(&state.db, tenant_id)
        .await?
        .slug)
}

#[OpenApi(prefix_path = "/v1", tag = "Tag::Users")]
impl IdentityProviderApi {
    /// The territory's OpenID Connect provider, without its secret. 404 when none is set.
    #[oai(
        path = "/tenant/identity-provider",
        method = "get",
        operation_id = "getIdentityProvider"
    )]
    async fn get(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<Json<ProviderView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_IDENTITY_PROVIDER)?;
        let provider = identity_provider::get(&state.db, tenant_id).await?;
        let slug = slug_of(&state, tenant_id).await?;
        Ok(Json(ProviderView::new(provider, &state, &slug)))
    }

    /// Sets the territory's OpenID Connect provider (ProConnect, or any compliant provider) and
    /// the email domains allowed through it per role, replacing the previous ones. The answer
    /// gives the redirect URI to register with the provider. Audited, never with the secret.
    #[oai(
        path = "/tenant/identity-provider",
        method = "put",
        operation_id = "setIdentityProvider"
    )]
    async fn set(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<ProviderInput>,
    ) -> Result<Json<ProviderView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_IDENTITY_PROVIDER)?;
        let body = body.0;
        let settings = ProviderSettings {
            label: body.label,
            issuer: body.issuer,
            client_id: body.client_id,
            client_secret: body.client_secret,
            domains: body
                .email_domains
                .into_iter()
                .map(|d| AllowedDomain {
                    domain: d.domain,
                    role: d.role.into(),
                    prescriber_id: d.prescriber_id,
                })
                .collect(),
        };
        let provider = identity_provider::set(&state.db, tenant_id, auth.actor(), settings).await?;
        let slug = slug_of(&state, tenant_id).await?;
        Ok(Json(ProviderView::new(provider, &state, &slug)))
    }

    /// Removes the provider. Audited.
    #[oai(
        path = "/tenant/identity-provider",
        method = "delete",
        operation_id = "removeIdentityProvider"
    )]
    async fn remove(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<ProviderRemoved, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REMOVE_IDENTITY_PROVIDER)?;
        identity_provider::remove(&state.db, tenant_id, auth.actor()).await?;
        Ok(ProviderRemoved::Removed)
    }
}
