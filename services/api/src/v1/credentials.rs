//! Open Badges 3.0 credentials (`passerelle_core::delivery::credentials`): the territory's staff
//! list a person's and revoke one issued by mistake, and rotate the territory's signing key; anyone
//! reads, without a token, what verifies them — the issuer's profile, its public keys (a JWK Set,
//! each key also at its own `kid` address), the achievements' descriptions and the signed
//! Bitstring Status Lists.

use chrono::{DateTime, Utc};
use passerelle_core::delivery::credentials::{
    self, CredentialRecord, SubjectKind, achievements::AchievementKey, document::Urls,
};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Tag;
use crate::access;
use crate::middleware::auth::BearerAuth;
use crate::problem::{ApiError, PublicError};
use crate::state::AppState;

/// How the holder chose to be named in the credential.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SubjectKindDto {
    /// A pseudonymous id (`urn:uuid:…`).
    Pseudonym,
    /// Their email, as a salted SHA-256.
    Email,
    /// Their name in clear, at their request.
    Name,
}

impl From<SubjectKind> for SubjectKindDto {
    fn from(kind: SubjectKind) -> Self {
        match kind {
            SubjectKind::Pseudonym => SubjectKindDto::Pseudonym,
            SubjectKind::Email => SubjectKindDto::Email,
            SubjectKind::Name => SubjectKindDto::Name,
        }
    }
}

/// A credential issued to a holder.
#[derive(Debug, Object)]
pub struct CredentialView {
    pub id: Uuid,
    /// What it attests, as in the achievement's address: `crcn-1.1-acquired`,
    /// `parcours-ticket-net`.
    pub achievement: String,
    /// Its name, in French.
    pub name: String,
    pub subject: SubjectKindDto,
    /// When it was signed (its `validFrom`).
    pub issued_at: DateTime<Utc>,
    /// When the territory revoked it; absent while it stands.
    #[oai(skip_serializing_if_is_none)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why, as the territory's admin wrote it (not published).
    #[oai(skip_serializing_if_is_none)]
    pub revoked_reason: Option<String>,
    /// Its public verification page (also its `id`).
    pub verification_url: String,
}

fn view(record: CredentialRecord, urls: &Urls) -> CredentialView {
    CredentialView {
        verification_url: urls.credential(record.id),
        id: record.id,
        achievement: record.achievement,
        name: record.name,
        subject: record.subject_kind.into(),
        issued_at: record.issued_at,
        revoked_at: record.revoked_at,
        revoked_reason: record.revoked_reason,
    }
}

/// Why a credential is revoked.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct Revocation {
    /// Kept with the credential and in the audit log; not published.
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

/// The territory's new signing key.
#[derive(Debug, Object)]
pub struct RotatedKey {
    /// The new key's id.
    pub key_id: Uuid,
    /// Its `kid`: the address that serves it as a JWK.
    pub kid: String,
}

#[derive(ApiResponse)]
pub enum StatusListResponse {
    /// The `BitstringStatusListCredential`, signed like the credentials (a compact JWS).
    #[oai(status = 200, content_type = "application/jwt")]
    Ok(Binary<Vec<u8>>, #[oai(header = "Cache-Control")] String),
}

#[derive(ApiResponse)]
pub enum PublicDocument {
    /// The JSON document.
    #[oai(status = 200)]
    Ok(Json<Value>, #[oai(header = "Cache-Control")] String),
}

/// What verifiers may keep: a revocation shows within five minutes.
const PUBLIC_CACHE: &str = "public, max-age=300";

fn not_found(what: &'static str) -> PublicError {
    passerelle_core::Error::NotFound(what).into()
}

async fn tenant_slug(state: &AppState, tenant_id: Uuid) -> Result<String, ApiError> {
    Ok(passerelle_core::tenancy::tenants::get(&state.db, tenant_id)
        .await?
        .slug)
}

pub struct CredentialsApi;

#[OpenApi(prefix_path = "/v1")]
impl CredentialsApi {
    /// The credentials issued to the person holding this voucher, newest first (tenant admin).
    #[oai(
        path = "/vouchers/:reference/credentials",
        method = "get",
        operation_id = "listCredentials",
        tag = "Tag::Delivery"
    )]
    async fn list(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The voucher's reference, e.g. LOT-7K3F-9QX2-M.
        reference: Path<String>,
    ) -> Result<Json<Vec<CredentialView>>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::LIST_CREDENTIALS)?;
        let records =
            credentials::of_voucher(&state.db, tenant_id, &reference.0, auth.visibility()).await?;
        let urls = Urls::new(
            &state.links.public_base_url,
            &tenant_slug(&state, tenant_id).await?,
        );
        Ok(Json(records.into_iter().map(|r| view(r, &urls)).collect()))
    }

    /// Revokes a credential (recorded by mistake, say): its bit is set in the territory's status
    /// list and its verification page says it is revoked. Tenant admin.
    #[oai(
        path = "/credentials/:credential_id/revocation",
        method = "post",
        operation_id = "revokeCredential",
        tag = "Tag::Delivery"
    )]
    async fn revoke(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        /// The credential's id (the end of its verification link).
        credential_id: Path<Uuid>,
        body: Json<Revocation>,
    ) -> Result<Json<CredentialView>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::REVOKE_CREDENTIAL)?;
        let record = credentials::revoke(
            &state.db,
            tenant_id,
            auth.actor(),
            credential_id.0,
            &body.0.reason,
        )
        .await?;
        let urls = Urls::new(
            &state.links.public_base_url,
            &tenant_slug(&state, tenant_id).await?,
        );
        Ok(Json(view(record, &urls)))
    }

    /// Retires the territory's signing key and makes a new one. Credentials signed before keep
    /// verifying: the retired key stays published. Tenant admin.
    #[oai(
        path = "/credential-keys/rotation",
        method = "post",
        operation_id = "rotateCredentialKey",
        tag = "Tag::Delivery"
    )]
    async fn rotate(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
    ) -> Result<Json<RotatedKey>, ApiError> {
        let tenant_id = auth.authorize_tenant(&access::ROTATE_CREDENTIAL_KEY)?;
        let key_id = credentials::rotate_key(
            &state.db,
            &state.links.portfolio_key,
            tenant_id,
            auth.actor(),
        )
        .await?;
        let urls = Urls::new(
            &state.links.public_base_url,
            &tenant_slug(&state, tenant_id).await?,
        );
        Ok(Json(RotatedKey {
            key_id,
            kid: urls.key(key_id),
        }))
    }

    /// The territory as an issuer of credentials: its Open Badges `Profile`. No token.
    #[oai(
        path = "/public/issuers/:slug",
        method = "get",
        operation_id = "getIssuer",
        tag = "Tag::Public"
    )]
    async fn issuer(
        &self,
        state: Data<&AppState>,
        /// The territory's short name.
        slug: Path<String>,
    ) -> Result<PublicDocument, PublicError> {
        let tenant = passerelle_core::tenancy::tenants::find_by_slug(&state.db, &slug.0)
            .await?
            .ok_or_else(|| not_found("issuer"))?;
        let urls = Urls::new(&state.links.public_base_url, &tenant.slug);
        Ok(PublicDocument::Ok(
            Json(credentials::document::issuer_document(&tenant, &urls)),
            PUBLIC_CACHE.into(),
        ))
    }

    /// The territory's public keys as a JWK Set (RFC 7517, Ed25519 as RFC 8037 writes it): the
    /// signing one first, then the retired ones, which still verify what they signed. No token.
    #[oai(
        path = "/public/issuers/:slug/keys",
        method = "get",
        operation_id = "getIssuerKeys",
        tag = "Tag::Public"
    )]
    async fn keys(
        &self,
        state: Data<&AppState>,
        /// The territory's short name.
        slug: Path<String>,
    ) -> Result<PublicDocument, PublicError> {
        let (tenant, keys) = credentials::published_keys(&state.db, &slug.0)
            .await?
            .ok_or_else(|| not_found("issuer"))?;
        let urls = Urls::new(&state.links.public_base_url, &tenant.slug);
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk(&urls.key(k.id))).collect();
        Ok(PublicDocument::Ok(
            Json(json!({ "keys": keys })),
            PUBLIC_CACHE.into(),
        ))
    }

    /// One public key as a JWK: what a credential's `kid` points to. No token.
    #[oai(
        path = "/public/issuers/:slug/keys/:key_id",
        method = "get",
        operation_id = "getIssuerKey",
        tag = "Tag::Public"
    )]
    async fn key(
        &self,
        state: Data<&AppState>,
        /// The territory's short name.
        slug: Path<String>,
        /// The key's id (the end of its `kid`).
        key_id: Path<Uuid>,
    ) -> Result<PublicDocument, PublicError> {
        let (tenant, keys) = credentials::published_keys(&state.db, &slug.0)
            .await?
            .ok_or_else(|| not_found("issuer"))?;
        let urls = Urls::new(&state.links.public_base_url, &tenant.slug);
        let key = keys
            .iter()
            .find(|k| k.id == key_id.0)
            .ok_or_else(|| not_found("key"))?;
        Ok(PublicDocument::Ok(
            Json(key.jwk(&urls.key(key.id))),
            PUBLIC_CACHE.into(),
        ))
    }

    /// What an achievement attests, in French, with its alignment to the CRCN: what a
    /// credential's `achievement.id` points to. No token.
    #[oai(
        path = "/public/issuers/:slug/achievements/:achievement",
        method = "get",
        operation_id = "getAchievement",
        tag = "Tag::Public"
    )]
    async fn achievement(
        &self,
        state: Data<&AppState>,
        /// The territory's short name.
        slug: Path<String>,
        /// e.g. `crcn-1.1-acquired`, `parcours-ticket-net`.
        achievement: Path<String>,
    ) -> Result<PublicDocument, PublicError> {
        let key: AchievementKey = achievement
            .0
            .parse()
            .map_err(|()| not_found("achievement"))?;
        let document = credentials::achievement_document(
            &state.db,
            &state.links.public_base_url,
            &slug.0,
            &key,
        )
        .await?
        .ok_or_else(|| not_found("achievement"))?;
        Ok(PublicDocument::Ok(Json(document), PUBLIC_CACHE.into()))
    }

    /// The territory's revocation list number `list` (W3C Bitstring Status List): a credential is
    /// revoked when its `statusListIndex` bit is set. Signed like the credentials. No token.
    #[oai(
        path = "/public/issuers/:slug/status-lists/:list",
        method = "get",
        operation_id = "getStatusList",
        tag = "Tag::Public"
    )]
    async fn status_list(
        &self,
        state: Data<&AppState>,
        /// The territory's short name.
        slug: Path<String>,
        /// The list's number, from 0.
        list: Path<u32>,
    ) -> Result<StatusListResponse, PublicError> {
        let compact = credentials::status_list(
            &state.db,
            &state.links.portfolio_key,
            &state.links.public_base_url,
            &slug.0,
            list.0,
        )
        .await?
        .ok_or_else(|| not_found("status list"))?;
        Ok(StatusListResponse::Ok(
            Binary(compact.into_bytes()),
            PUBLIC_CACHE.into(),
        ))
    }
}
