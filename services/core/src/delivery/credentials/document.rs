//! The JSON of the credentials as Open Badges 3.0 (on the Verifiable Credentials Data Model 2.0)
//! and the Bitstring Status List lay them out, and the addresses they point to.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::achievements::{Achievement, AchievementKey};
use super::status_list;
use crate::tenancy::tenants::Tenant;

pub const VC_CONTEXT: &str = "https://www.w3.org/ns/credentials/v2";
pub const OB_CONTEXT: &str = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json";
pub const OB_SCHEMA: &str =
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json";

/// The public addresses of a territory's credentials, under the service's (`PUBLIC_BASE_URL`).
#[derive(Debug, Clone)]
pub struct Urls {
    base: String,
    slug: String,
}

impl Urls {
    pub fn new(public_base_url: &str, tenant_slug: &str) -> Self {
        Self {
            base: public_base_url.trim_end_matches('/').to_owned(),
            slug: tenant_slug.to_owned(),
        }
    }

    /// The territory as an issuer (its Open Badges `Profile`).
    pub fn issuer(&self) -> String {
        format!("{}/v1/public/issuers/{}", self.base, self.slug)
    }

    /// Its public keys, as a JWK Set.
    pub fn keys(&self) -> String {
        format!("{}/keys", self.issuer())
    }

    /// One key, as a JWK: the `kid` of what it signs.
    pub fn key(&self, key_id: Uuid) -> String {
        format!("{}/keys/{}", self.issuer(), key_id)
    }

    pub fn achievement(&self, key: &AchievementKey) -> String {
        format!("{}/achievements/{key}", self.issuer())
    }

    pub fn status_list(&self, list: u32) -> String {
        format!("{}/status-lists/{list}", self.issuer())
    }

    /// A credential's `id`: its public verification page.
    pub fn credential(&self, id: Uuid) -> String {
        format!("{}/attestations/{}/{id}", self.base, self.slug)
    }

    /// The id in a credential's `id`, if it is one of this territory's.
    pub fn credential_id(&self, url: &str) -> Option<Uuid> {
        let prefix = format!("{}/attestations/{}/", self.base, self.slug);
        Uuid::try_parse(url.strip_prefix(&prefix)?).ok()
    }

    /// The territory's portal: the issuer's `url`.
    pub fn portal(&self) -> String {
        format!("{}/portail/{}", self.base, self.slug)
    }
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The territory as the Open Badges `Profile` that issues.
pub fn issuer(tenant: &Tenant, urls: &Urls) -> Value {
    json!({
        "id": urls.issuer(),
        "type": ["Profile"],
        "name": tenant.shown_name(),
        "url": urls.portal(),
    })
}

/// The issuer's profile as its address serves it, with the keys it signs with.
pub fn issuer_document(tenant: &Tenant, urls: &Urls) -> Value {
    let mut profile = issuer(tenant, urls);
    profile["@context"] = json!([VC_CONTEXT, OB_CONTEXT]);
    profile["description"] = json!(format!(
        "{} délivre des attestations de compétences numériques et de parcours d’accompagnement (Open Badges 3.0), signées avec les clés publiées à l’adresse {}.",
        tenant.shown_name(),
        urls.keys()
    ));
    profile
}

/// Who a credential is about, as the holder chose to be named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An identifier that means nothing outside the service (`urn:uuid:…`).
    Pseudonym(Uuid),
    /// Their email, as a salted SHA-256: a verifier who is told the address can check it.
    Email { address: String, salt: String },
    /// Their name in clear, at their request.
    Name(String),
}

impl Subject {
    fn document(&self, achievement: Value) -> Value {
        let mut subject = json!({ "type": ["AchievementSubject"], "achievement": achievement });
        match self {
            Subject::Pseudonym(id) => subject["id"] = json!(format!("urn:uuid:{id}")),
            Subject::Email { address, salt } => {
                subject["identifier"] = json!([{
                    "type": "IdentityObject",
                    "identityType": "emailAddress",
                    "hashed": true,
                    "identityHash": identity_hash(address, salt),
                    "salt": salt,
                }]);
            }
            Subject::Name(name) => {
                subject["identifier"] = json!([{
                    "type": "IdentityObject",
                    "identityType": "name",
                    "hashed": false,
                    "identityHash": name,
                }]);
            }
        }
        subject
    }
}

/// Open Badges' `IdentityHash`: `sha256$` and the hex of SHA-256 over the identity then the salt.
pub fn identity_hash(identity: &str, salt: &str) -> String {
    let digest = Sha256::new()
        .chain_update(identity.as_bytes())
        .chain_update(salt.as_bytes())
        .finalize();
    format!("sha256${}", hex::encode(digest))
}

/// A session that counts toward an achievement: its date, its EPN and its length; nobody else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceSession {
    pub starts_at: DateTime<Utc>,
    pub epn_name: String,
    pub minutes: i32,
}

/// What a credential says, before it is signed.
pub struct Claims<'a> {
    pub id: Uuid,
    pub tenant: &'a Tenant,
    pub achievement: &'a Achievement,
    pub subject: &'a Subject,
    pub awarded_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub evidence: &'a [EvidenceSession],
    pub status_index: u32,
}

/// The `OpenBadgeCredential` with the JWT claims Open Badges' JSON Web Token proof format asks
/// for (`iss`, `jti`, `nbf`, and `sub` when the subject has an id): the payload to sign.
pub fn credential(claims: &Claims<'_>, urls: &Urls) -> Value {
    let issuer = issuer(claims.tenant, urls);
    let id = urls.credential(claims.id);
    let achievement = claims
        .achievement
        .document(&urls.achievement(&claims.achievement.key), &issuer);
    let position = status_list::Position::of(claims.status_index);
    let list = urls.status_list(position.list);
    let evidence: Vec<Value> = claims
        .evidence
        .iter()
        .map(|s| {
            let day = s.starts_at.with_timezone(&claims.tenant.tz()).date_naive();
            json!({
                "type": ["Evidence"],
                "name": format!("Séance du {}", crate::emails::french::long_date(day)),
                "description": format!(
                    "{} à l’espace public numérique « {} »",
                    crate::emails::french::duration(s.minutes),
                    s.epn_name
                ),
                "genre": "Séance",
            })
        })
        .collect();
    let mut credential = json!({
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": claims.achievement.name(),
        "issuer": issuer,
        "validFrom": timestamp(claims.issued_at),
        "awardedDate": timestamp(claims.awarded_at),
        "credentialSubject": claims.subject.document(achievement),
        "evidence": evidence,
        "credentialSchema": [{ "id": OB_SCHEMA, "type": "1EdTechJsonSchemaValidator2019" }],
        "credentialStatus": {
            "id": format!("{list}#{}", position.bit),
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": position.bit.to_string(),
            "statusListCredential": list,
        },
        "iss": urls.issuer(),
        "jti": id,
        "nbf": claims.issued_at.timestamp(),
    });
    if let Subject::Pseudonym(subject) = claims.subject {
        credential["sub"] = json!(format!("urn:uuid:{subject}"));
    }
    credential
}

/// The `BitstringStatusListCredential` of list `list`, whose `revoked` bits are set.
pub fn status_list_credential(
    tenant: &Tenant,
    urls: &Urls,
    list: u32,
    revoked: impl IntoIterator<Item = u32>,
    now: DateTime<Utc>,
) -> Value {
    let id = urls.status_list(list);
    json!({
        "@context": [VC_CONTEXT],
        "id": id,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer(tenant, urls),
        "validFrom": timestamp(now),
        "credentialSubject": {
            "id": format!("{id}#list"),
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": status_list::encode(revoked),
        },
        "iss": urls.issuer(),
        "jti": id,
        "nbf": now.timestamp(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_hash_is_sha256_of_identity_then_salt() {
        // printf 'alice@example.orgsel' | sha256sum
        assert_eq!(
            identity_hash("alice@example.org", "sel"),
            format!(
                "sha256${}",
                hex::encode(Sha256::digest(b"alice@example.orgsel"))
            )
        );
        assert_ne!(
            identity_hash("alice@example.org", "sel"),
            identity_hash("alice@example.org", "poivre")
        );
    }
}
