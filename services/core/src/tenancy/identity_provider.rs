//! A territory's OpenID Connect provider (ProConnect for public agents): its issuer, the client
//! this service is registered as, and which email domains may sign in through it for which role.
//! The tenant admin sets it; the client secret is written and never shown again.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::tenancy::Role;
use crate::{Db, Error};

/// Email domains allowed through the provider for a role (and, for prescriber agents, possibly
/// one organisation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedDomain {
    pub domain: String,
    pub role: Role,
    pub prescriber_id: Option<Uuid>,
}

/// The provider as the tenant admin reads it back: everything but the client secret.
#[derive(Debug, Clone)]
pub struct IdentityProvider {
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub domains: Vec<AllowedDomain>,
    pub updated_at: DateTime<Utc>,
}

/// What the tenant admin sends. Without a secret, the one stored is kept (there must be one).
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub domains: Vec<AllowedDomain>,
}

/// An issuer is an `https` address without query or fragment; plain `http` only on this machine
/// (a provider started by the tests, or for development).
pub fn is_issuer(url: &str) -> bool {
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return false;
        }
        rest
    } else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or_default();
    !host.is_empty()
        && !url.contains(['?', '#', ' '])
        && !host.contains('@')
        && url.chars().count() <= 500
}

/// A domain as people write it after the `@`: letters, digits and hyphens between dots.
pub fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn validate(settings: &ProviderSettings, secret_stored: bool) -> Result<(), Error> {
    let mut v = Validator::default();
    v.check(
        (1..=60).contains(&settings.label.trim().chars().count()),
        "label",
        "between 1 and 60 characters, e.g. ProConnect",
    )
    .check(
        is_issuer(&settings.issuer),
        "issuer",
        "an https address without query or fragment (http only on 127.0.0.1 or localhost)",
    )
    .check(
        (1..=200).contains(&settings.client_id.chars().count()),
        "client_id",
        "between 1 and 200 characters",
    )
    .check(
        match &settings.client_secret {
            Some(secret) => (1..=500).contains(&secret.chars().count()),
            None => secret_stored,
        },
        "client_secret",
        "between 1 and 500 characters; required the first time",
    );
    for (index, allowed) in settings.domains.iter().enumerate() {
        v.check(
            is_domain(&allowed.domain),
            &format!("email_domains.{index}.domain"),
            "a domain in lower case, e.g. caf.fr",
        )
        .check(
            allowed.role != Role::PlatformAdmin,
            &format!("email_domains.{index}.role"),
            "a role of the territory",
        )
        .check(
            allowed.prescriber_id.is_none() || allowed.role == Role::Prescriber,
            &format!("email_domains.{index}.prescriber_id"),
            "only for the prescriber role",
        );
    }
    v.finish()
}

pub async fn get(db: &Db, tenant_id: Uuid) -> Result<IdentityProvider, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let row: Option<(String, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT label, issuer, client_id, updated_at FROM identity_providers WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((label, issuer, client_id, updated_at)) = row else {
        return Err(Error::NotFound("identity provider"));
    };
    let domains: Vec<(String, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT domain, role, prescriber_id FROM identity_provider_domains WHERE tenant_id = $1
          ORDER BY domain, role, id",
    )
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let domains = domains
        .into_iter()
        .map(|(domain, role, prescriber_id)| {
            Ok(AllowedDomain {
                domain,
                role: role
                    .parse()
                    .map_err(|_| Error::Internal(format!("unknown role {role} stored")))?,
                prescriber_id,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(IdentityProvider {
        label,
        issuer,
        client_id,
        domains,
        updated_at,
    })
}

/// Sets the provider and replaces its domains, checked first. Audited with what changed, never
/// the secret (only that it was replaced).
pub async fn set(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    settings: ProviderSettings,
) -> Result<IdentityProvider, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT issuer FROM identity_providers WHERE tenant_id = $1 FOR UPDATE")
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await?;
    let settings = ProviderSettings {
        label: settings.label.trim().to_owned(),
        issuer: settings.issuer.trim().trim_end_matches('/').to_owned(),
        client_id: settings.client_id.trim().to_owned(),
        domains: settings
            .domains
            .into_iter()
            .map(|d| AllowedDomain {
                domain: d.domain.trim().trim_start_matches('@').to_lowercase(),
                ..d
            })
            .collect(),
        ..settings
    };
    validate(&settings, stored.is_some())?;
    // The same rule sent twice is one rule.
    let mut domains: Vec<AllowedDomain> = Vec::with_capacity(settings.domains.len());
    for allowed in &settings.domains {
        if !domains.contains(allowed) {
            domains.push(allowed.clone());
        }
    }
    let settings = ProviderSettings {
        domains,
        ..settings
    };
    if stored.is_some() {
        sqlx::query(
            "UPDATE identity_providers
                SET label = $2, issuer = $3, client_id = $4,
                    client_secret = coalesce($5, client_secret), updated_at = now()
              WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .bind(&settings.label)
        .bind(&settings.issuer)
        .bind(&settings.client_id)
        .bind(&settings.client_secret)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO identity_providers (tenant_id, label, issuer, client_id, client_secret)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant_id)
        .bind(&settings.label)
        .bind(&settings.issuer)
        .bind(&settings.client_id)
        .bind(&settings.client_secret)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM identity_provider_domains WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    for allowed in &settings.domains {
        sqlx::query(
            "INSERT INTO identity_provider_domains (tenant_id, id, domain, role, prescriber_id)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant_id)
        .bind(Uuid::now_v7())
        .bind(&allowed.domain)
        .bind(allowed.role.as_str())
        .bind(allowed.prescriber_id)
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "tenant.identity_provider_set",
        "tenant",
        tenant_id,
        json!({
            "label": settings.label,
            "issuer": settings.issuer,
            "client_id": settings.client_id,
            "client_secret_replaced": settings.client_secret.is_some(),
            "email_domains": settings.domains.iter().map(|d| json!({
                "domain": d.domain, "role": d.role.as_str(), "prescriber_id": d.prescriber_id,
            })).collect::<Vec<_>>(),
        }),
    )
    .await?;
    tx.commit().await?;
    get(db, tenant_id).await
}

/// Removes the provider: its button leaves the sign-in page. Audited.
pub async fn remove(db: &Db, tenant_id: Uuid, actor: Actor) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let removed = sqlx::query("DELETE FROM identity_providers WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(Error::NotFound("identity provider"));
    }
    sqlx::query("DELETE FROM identity_provider_domains WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "tenant.identity_provider_removed",
        "tenant",
        tenant_id,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_except_on_this_machine() {
        for ok in [
            "https://auth.agentconnect.gouv.fr/api/v2",
            "https://fca.integ01.dev-agentconnect.fr/api/v2",
            "http://127.0.0.1:4567",
            "http://localhost:8080/oidc",
        ] {
            assert!(is_issuer(ok), "{ok}");
        }
        for bad in [
            "http://auth.example.fr",
            "ftp://auth.example.fr",
            "https://",
            "https://auth.example.fr/?x=1",
            "https://auth.example.fr/#a",
            "https://user@auth.example.fr",
            "http://127.0.0.1.evil.example",
            "auth.example.fr",
        ] {
            assert!(!is_issuer(bad), "{bad}");
        }
    }

    #[test]
    fn domains_are_what_follows_the_at_sign() {
        for ok in ["caf.fr", "lot.gouv.fr", "cc-grand-figeac.fr"] {
            assert!(is_domain(ok), "{ok}");
        }
        for bad in [
            "caf", "CAF.fr", "-caf.fr", "caf..fr", "caf.fr.", "ca f.fr", "*.caf.fr",
        ] {
            assert!(!is_domain(bad), "{bad}");
        }
    }
}
