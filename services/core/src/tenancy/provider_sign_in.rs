//! Who a person the tenant's OpenID Connect provider vouched for is in this tenant, and the
//! session opened for them. The protocol itself (discovery, code exchange, ID token checks) is
//! the API's; this is the rule of who may come in:
//!
//! - an identity already linked (the provider's issuer and `sub`) signs its user in;
//! - otherwise, the address the provider gives must be a user's of this tenant (invited by an
//!   admin) and its domain allowed for that user's role (and, for a prescriber agent, their
//!   organisation): then the identity is linked, once, and audited;
//! - anyone else is refused and nothing is created.
//!
//! Every read runs in the tenant's transaction: an identity linked in another territory is not
//! seen, so it means nothing here.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::accounts::{self, Opening, WebSession};
use super::users::RoleColumn;
use crate::audit::{self, Actor};
use crate::{Db, Error};

/// What the API needs to talk to the provider, secret included: never shown, only sent to the
/// provider's token endpoint.
#[derive(Clone)]
pub struct ProviderClient {
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient")
            .field("label", &self.label)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The tenant's provider, or `None` when it has none (no button on its sign-in page).
pub async fn client(db: &Db, tenant_id: Uuid) -> Result<Option<ProviderClient>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let row: Option<(String, String, String, String)> = sqlx::query_as(
        "SELECT label, issuer, client_id, client_secret FROM identity_providers
          WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(
        row.map(|(label, issuer, client_id, client_secret)| ProviderClient {
            label,
            issuer,
            client_id,
            client_secret,
        }),
    )
}

/// A person as the provider vouched for them, after the ID token was verified.
#[derive(Debug, Clone)]
pub struct VouchedIdentity {
    pub issuer: String,
    pub subject: String,
    /// The address the provider gives, if any; `None` also when the provider says it is not
    /// verified.
    pub email: Option<String>,
    /// When the provider authenticated the person (`auth_time`), if it says: a provider's single
    /// sign-on may give a token long after it last asked for anything, so the token's own time
    /// proves nothing.
    pub authenticated_at: Option<DateTime<Utc>>,
    /// The raw ID token, kept with the session for the provider's logout.
    pub id_token: String,
}

/// Why a vouched person does not get in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderRefusal {
    /// No user of this tenant has the address (or the provider gave none): nobody invited them.
    NotInvited,
    /// A user has the address, but its domain is not one the tenant admin allowed through the
    /// provider for that user's role or organisation.
    DomainNotAllowed,
    /// The user is disabled.
    Disabled,
    /// The user is already linked to another identity of this provider.
    LinkedToAnother,
}

#[derive(Debug, Clone)]
pub enum ProviderSignIn {
    Opened {
        session: WebSession,
        user_id: Uuid,
        /// Whether this sign-in linked the identity (the first one).
        linked: bool,
    },
    Refused(ProviderRefusal),
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    role: String,
    prescriber_id: Option<Uuid>,
    disabled: bool,
}

/// The part of an address after its last `@`, in lower case.
fn domain_of(email: &str) -> Option<String> {
    let (local, domain) = email.trim().rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then(|| domain.to_lowercase())
}

/// Whether the tenant admin allowed `email`'s domain through the provider for this user.
async fn domain_allowed(tx: &mut crate::storage::Tx, user: &UserRow) -> Result<bool, Error> {
    let Some(domain) = domain_of(&user.email) else {
        return Ok(false);
    };
    let allowed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM identity_provider_domains
                         WHERE tenant_id = $4 AND domain = $1 AND role = $2
                           AND (prescriber_id IS NULL OR prescriber_id IS NOT DISTINCT FROM $3))",
    )
    .bind(domain)
    .bind(&user.role)
    .bind(user.prescriber_id)
    .bind(tx.tenant_id())
    .fetch_one(&mut **tx)
    .await?;
    Ok(allowed)
}

/// Signs in the person the provider vouched for, linking their identity at the first sign-in.
pub async fn sign_in(
    db: &Db,
    tenant_id: Uuid,
    identity: &VouchedIdentity,
) -> Result<ProviderSignIn, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    // The provider must still be the one configured: a sign-in begun before the admin changed
    // or removed it does not complete.
    let configured: Option<String> =
        sqlx::query_scalar("SELECT issuer FROM identity_providers WHERE tenant_id = $1 FOR SHARE")
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await?;
    if configured.as_deref() != Some(identity.issuer.as_str()) {
        return Ok(ProviderSignIn::Refused(ProviderRefusal::NotInvited));
    }
    let linked: Option<UserRow> = sqlx::query_as(
        "SELECT u.id, u.email, u.role, u.prescriber_id, u.disabled_at IS NOT NULL AS disabled
           FROM user_identities i
           JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.user_id
          WHERE i.tenant_id = $1 AND i.issuer = $2 AND i.subject = $3
          FOR UPDATE OF u",
    )
    .bind(tenant_id)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .fetch_optional(&mut *tx)
    .await?;
    let (user, first_time) = match linked {
        Some(user) => (user, false),
        None => {
            let Some(email) = identity.email.as_deref() else {
                return Ok(ProviderSignIn::Refused(ProviderRefusal::NotInvited));
            };
            let invited: Option<UserRow> = sqlx::query_as(
                "SELECT id, email, role, prescriber_id, disabled_at IS NOT NULL AS disabled
                   FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)
                  FOR UPDATE",
            )
            .bind(tenant_id)
            .bind(email.trim())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(user) = invited else {
                return Ok(ProviderSignIn::Refused(ProviderRefusal::NotInvited));
            };
            (user, true)
        }
    };
    if user.disabled {
        return Ok(ProviderSignIn::Refused(ProviderRefusal::Disabled));
    }
    let RoleColumn(role) = RoleColumn::try_from(user.role.clone())
        .map_err(|e| Error::Internal(format!("corrupt user record: {e}")))?;
    // Checked at every sign-in, not only the first: a domain the admin took off closes the door
    // to identities already linked through it.
    if !domain_allowed(&mut tx, &user).await? {
        return Ok(ProviderSignIn::Refused(ProviderRefusal::DomainNotAllowed));
    }
    if first_time {
        let inserted = sqlx::query(
            "INSERT INTO user_identities (tenant_id, issuer, subject, user_id)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .bind(user.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(ProviderSignIn::Refused(ProviderRefusal::LinkedToAnother));
        }
        audit::record(
            &mut tx,
            tenant_id,
            Actor {
                user_id: Some(user.id),
                role: role.as_str(),
            },
            "user.identity_linked",
            "user",
            user.id,
            json!({ "issuer": identity.issuer, "subject": identity.subject }),
        )
        .await?;
    }
    let session = accounts::open_session(
        &mut tx,
        tenant_id,
        user.id,
        Opening::IdentityProvider {
            id_token: &identity.id_token,
            authenticated_at: identity.authenticated_at.map(|at| at.min(Utc::now())),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ProviderSignIn::Opened {
        session,
        user_id: user.id,
        linked: first_time,
    })
}

/// The identity of the provider linked to a user, as the admin sees it.
#[derive(Debug, Clone)]
pub struct LinkedIdentity {
    pub issuer: String,
    pub linked_at: DateTime<Utc>,
}

pub async fn linked_identity(
    db: &Db,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Option<LinkedIdentity>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let row: Option<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT issuer, linked_at FROM user_identities
          WHERE tenant_id = $1 AND user_id = $2
          ORDER BY linked_at DESC LIMIT 1",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.map(|(issuer, linked_at)| LinkedIdentity { issuer, linked_at }))
}

/// The admin unlinks a user's identity (linked by mistake, or the person's account at the
/// provider changed): the sessions it opened end, and the next sign-in through the provider links
/// again by the address, with the same rules. Audited.
pub async fn unlink(db: &Db, tenant_id: Uuid, actor: Actor, user_id: Uuid) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let issuers: Vec<String> = sqlx::query_scalar(
        "DELETE FROM user_identities WHERE tenant_id = $1 AND user_id = $2 RETURNING issuer",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_all(&mut *tx)
    .await?;
    if issuers.is_empty() {
        return Err(Error::NotFound("linked identity"));
    }
    sqlx::query(
        "UPDATE web_sessions SET ended_at = now(), provider_id_token = NULL
          WHERE tenant_id = $1 AND user_id = $2 AND opened_by = 'identity_provider'
            AND ended_at IS NULL",
    )
    .bind(tenant_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "user.identity_unlinked",
        "user",
        user_id,
        json!({ "issuers": issuers }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::domain_of;

    #[test]
    fn a_domain_is_what_follows_the_last_at_sign() {
        assert_eq!(domain_of("Agent@CAF.fr").as_deref(), Some("caf.fr"));
        assert_eq!(domain_of("\"a@b\"@lot.fr").as_deref(), Some("lot.fr"));
        assert_eq!(domain_of("@caf.fr"), None);
        assert_eq!(domain_of("agent@"), None);
        assert_eq!(domain_of("agent"), None);
    }
}
