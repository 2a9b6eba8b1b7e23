use chrono::{DateTime, Utc};
use passerelle_core::tenancy::tokens::{self, NewToken, TokenInfo};
use passerelle_core::tenancy::users::{self, NewUser, RoleColumn, User, UserChanges};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::Tag;
use super::schemas::RoleDto;
use super::schemas::{PageCursor, PageLimit, page_request, patched};
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::ApiError;
use crate::state::AppState;

/// A new user of the tenant, with one role.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateUser {
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
    #[oai(validator(min_length = 1, max_length = 200))]
    pub display_name: String,
    pub role: RoleDto,
    /// Required for the `prescriber` role: the organisation the user acts for.
    pub prescriber_id: Option<Uuid>,
    /// Required for the `epn` role: the EPN the user works at.
    pub epn_id: Option<Uuid>,
}

/// What changes in a user: a field left out stays as it is. A new role takes the organisation or
/// EPN it needs (`prescriber_id`, `epn_id`) and drops the others.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateUser {
    /// Their new address, the one they sign in with.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: Option<String>,
    /// Their new name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub display_name: Option<String>,
    pub role: Option<RoleDto>,
    /// The organisation a prescriber acts for.
    pub prescriber_id: MaybeUndefined<Uuid>,
    /// The EPN an animator works at.
    pub epn_id: MaybeUndefined<Uuid>,
}

/// A user of the tenant.
#[derive(Debug, Object)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: RoleDto,
    #[oai(skip_serializing_if_is_none)]
    pub prescriber_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub epn_id: Option<Uuid>,
    /// When the user was disabled; a disabled user can neither sign in nor use a token.
    #[oai(skip_serializing_if_is_none)]
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        let RoleColumn(role) = u.role;
        Self {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: role.into(),
            prescriber_id: u.prescriber_id,
            epn_id: u.epn_id,
            disabled_at: u.disabled_at,
            created_at: u.created_at,
        }
    }
}

pub type UserPage = super::schemas::Page<UserView>;

/// A new API token for a user.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for (e.g. `laptop`, `import script`).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// When the token stops working; never, if absent.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API token (its secret is never shown again).
#[derive(Debug, Object)]
pub struct TokenView {
    pub id: Uuid,
    pub user_id: Uuid,
    /// What it is for, as its owner named it.
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    #[oai(skip_serializing_if_is_none)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working, if it expires.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenInfo> for TokenView {
    fn from(t: TokenInfo) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id,
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

pub type TokenPage = super::schemas::Page<TokenView>;

/// A new token. `secret` is shown this once and never again: only its hash is kept.
#[derive(Debug, Object)]
pub struct IssuedTokenView {
    pub token: TokenView,
    /// The token to send as `Authorization: Bearer …`. Shown once: keep it now.
    pub secret: String,
}

#[derive(ApiResponse)]
pub enum CreatedUser {
    /// The user was created.
    #[oai(status = 201)]
    Created(Json<UserView>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
pub enum CreatedToken {
    /// The token was created; store its secret now.
    #[oai(status = 201)]
    Created(Json<IssuedTokenView>),
}

pub struct UsersApi;

#[OpenApi(prefix_path = "/v1", tag = "Tag::Users")]
impl UsersApi {
    /// Creates a user of the caller's tenant.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create_user(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<CreateUser>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedUser, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CREATE_USER)?;
        let body = body.0;
        let user = users::create(
            &state.db,
            tenant_id,
            &NewUser {
                email: body.email,
                display_name: body.display_name,
                role: body.role.into(),
                prescriber_id: body.prescriber_id,
                epn_id: body.epn_id,
            },
        )
        .await?;
        let location = format!("/v1/users/{}", user.id);
        Ok(CreatedUser::Created(Json(user.into()), location))
    }

    /// Lists the users of the caller's tenant, oldest first.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list_users(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<UserPage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_USERS)?;
        let page = page_request(limit.0, cursor.0)?;
        let page = users::list(&state.db, tenant_id, page)
            .await?
            .map(UserView::from);
        Ok(Json(UserPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }

    /// One user of the caller's tenant.
    #[oai(path = "/users/:user_id", method = "get", operation_id = "getUser")]
    async fn get_user(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        user_id: Path<Uuid>,
    ) -> Result<Json<UserView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::GET_USER)?;
        Ok(Json(
            users::get(&state.db, tenant_id, user_id.0).await?.into(),
        ))
    }

    /// Corrects a user: their address, name or role (with its organisation or EPN). It takes
    /// effect at their next request; audited with each changed field before and after. The
    /// tenant's last active tenant admin keeps that role (`last-tenant-admin`).
    #[oai(
        path = "/users/:user_id",
        method = "patch",
        operation_id = "updateUser"
    )]
    async fn update_user(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        user_id: Path<Uuid>,
        body: Json<UpdateUser>,
    ) -> Result<Json<UserView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::UPDATE_USER)?;
        let body = body.0;
        let changes = UserChanges {
            email: body.email,
            display_name: body.display_name,
            role: body.role.map(Into::into),
            prescriber_id: patched(body.prescriber_id),
            epn_id: patched(body.epn_id),
        };
        Ok(Json(
            users::update(&state.db, tenant_id, auth.actor(), user_id.0, changes)
                .await?
                .into(),
        ))
    }

    /// Disables a user: their tokens stop working at once. The record is kept.
    #[oai(
        path = "/users/:user_id/disable",
        method = "post",
        operation_id = "disableUser"
    )]
    async fn disable_user(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        user_id: Path<Uuid>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<Json<UserView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::DISABLE_USER)?;
        Ok(Json(
            users::disable(&state.db, tenant_id, user_id.0)
                .await?
                .into(),
        ))
    }

    /// Creates an API token for a user. The secret is in this response only.
    #[oai(
        path = "/users/:user_id/tokens",
        method = "post",
        operation_id = "createToken"
    )]
    async fn create_token(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        user_id: Path<Uuid>,
        body: Json<CreateToken>,
        /// Makes retries safe: a quoted string (RFC 8941), e.g. `"3f2c-…"`, your own; the first
        /// response is replayed to you for 24 hours.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
    ) -> Result<CreatedToken, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::CREATE_TOKEN)?;
        let issued = tokens::issue_for_user(
            &state.db,
            tenant_id,
            auth.actor(),
            user_id.0,
            &NewToken {
                name: body.0.name,
                expires_at: body.0.expires_at,
            },
        )
        .await?;
        Ok(CreatedToken::Created(Json(IssuedTokenView {
            token: issued.info.into(),
            secret: issued.secret,
        })))
    }

    /// Lists a user's tokens, oldest first (never their secrets).
    #[oai(
        path = "/users/:user_id/tokens",
        method = "get",
        operation_id = "listTokens"
    )]
    async fn list_tokens(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        user_id: Path<Uuid>,
        limit: Query<Option<PageLimit>>,
        cursor: Query<Option<PageCursor>>,
    ) -> Result<Json<TokenPage>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_TOKENS)?;
        let page = page_request(limit.0, cursor.0)?;
        let page = tokens::list_for_user(&state.db, tenant_id, user_id.0, page)
            .await?
            .map(TokenView::from);
        Ok(Json(TokenPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
    }

    /// Revokes a token: it stops working at once.
    #[oai(
        path = "/users/:user_id/tokens/:token_id",
        method = "delete",
        operation_id = "revokeToken"
    )]
    async fn revoke_token(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        user_id: Path<Uuid>,
        token_id: Path<Uuid>,
    ) -> Result<Json<TokenView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REVOKE_TOKEN)?;
        let token = tokens::revoke(
            &state.db,
            tenant_id,
            auth.actor(),
            Some(user_id.0),
            token_id.0,
        )
        .await?;
        Ok(Json(token.into()))
    }

    /// Unlinks the identity of the territory's provider (ProConnect) linked to a user, when it
    /// was linked by mistake or the person's account there changed: the sessions it opened end,
    /// and the next sign-in through the provider links again by the address. 404 when none is
    /// linked. Audited.
    #[oai(
        path = "/users/:user_id/identity",
        method = "delete",
        operation_id = "unlinkIdentity"
    )]
    async fn unlink_identity(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The user's id.
        user_id: Path<Uuid>,
    ) -> Result<PolicySet, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::UNLINK_IDENTITY)?;
        passerelle_core::tenancy::provider_sign_in::unlink(
            &state.db,
            tenant_id,
            auth.actor(),
            user_id.0,
        )
        .await?;
        Ok(PolicySet::NoContent)
    }

    /// Takes a user's second factor away, when their phone is lost and no recovery code is
    /// left: their sessions end, and their next sign-in sets up a new one. 409 when they have
    /// none. Audited.
    #[oai(
        path = "/users/:user_id/second-factor",
        method = "delete",
        operation_id = "resetSecondFactor"
    )]
    async fn reset_second_factor(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The user's id.
        user_id: Path<Uuid>,
    ) -> Result<PolicySet, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::RESET_SECOND_FACTOR)?;
        passerelle_core::tenancy::second_factor::reset(
            &state.db,
            tenant_id,
            auth.actor(),
            user_id.0,
        )
        .await?;
        Ok(PolicySet::NoContent)
    }

    /// Who must type a second factor after the password on the portal: finance officers and
    /// tenant admins always; with `every_role`, every user of the territory. Audited; a session
    /// opened before the change asks for the code at its next page.
    #[oai(
        path = "/tenant/second-factor",
        method = "put",
        operation_id = "setSecondFactorPolicy"
    )]
    async fn set_second_factor_policy(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        body: Json<SecondFactorPolicy>,
    ) -> Result<PolicySet, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::SET_SECOND_FACTOR_POLICY)?;
        passerelle_core::tenancy::second_factor::set_every_role(
            &state.db,
            tenant_id,
            auth.actor(),
            body.0.every_role,
        )
        .await?;
        Ok(PolicySet::NoContent)
    }
}

/// Who must use a second factor on the portal.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct SecondFactorPolicy {
    /// Every role of the territory, not only finance officers and tenant admins.
    pub every_role: bool,
}

#[derive(ApiResponse)]
pub enum PolicySet {
    #[oai(status = 204)]
    NoContent,
}
