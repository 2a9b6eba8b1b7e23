//! A territory's Ed25519 keys for its credentials. One signs at a time; rotation retires it (it
//! signs no more, stays published, and what it signed still verifies) and makes a new one. The
//! secret half is stored sealed: XORed with 32 bytes derived from the service's key
//! (`PORTFOLIO_LINK_KEY`) for this tenant and this key id, so that a copy of the database alone
//! cannot sign; opening it checks that the public half matches, so that a wrong service key is
//! an error, not a credential signed by a key nobody published.

use chrono::{DateTime, Utc};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::json;
use uuid::Uuid;

use crate::Error;
use crate::audit::{self, Actor};
use crate::delivery::portfolio::link::LinkKey;
use crate::storage::Tx;

/// What the service's key signs besides the ids, for this use only.
const SEALING_LABEL: &[u8] = b"passerelle credential signing key v1";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PublishedKey {
    pub id: Uuid,
    pub public_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// When it stopped signing; it still verifies what it signed before.
    pub retired_at: Option<DateTime<Utc>>,
}

impl PublishedKey {
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.public_key.as_slice().try_into().ok()?).ok()
    }

    /// The key as a JWK (RFC 8037): what the `kid` address serves. Never the secret half.
    pub fn jwk(&self, kid: &str) -> serde_json::Value {
        use base64::Engine;
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.public_key),
            "kid": kid,
            "alg": super::jws::ALGORITHM,
            "use": "sig",
        })
    }
}

/// The key that signs now, opened.
pub struct Signing {
    pub id: Uuid,
    pub key: SigningKey,
}

fn pad(sealing: &LinkKey, tenant_id: Uuid, key_id: Uuid) -> [u8; 32] {
    sealing.derive(SEALING_LABEL, &[tenant_id.as_bytes(), key_id.as_bytes()])
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// Makes a new signing key for the tenant of `tx`; the caller has retired the previous one.
/// `None` when another transaction made one meanwhile: that one stays.
async fn create(tx: &mut Tx, sealing: &LinkKey) -> Result<Option<Signing>, Error> {
    let id = Uuid::now_v7();
    let secret: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&secret);
    let sealed = xor(&secret, &pad(sealing, tx.tenant_id(), id));
    let made: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO credential_keys (tenant_id, id, public_key, sealed_secret) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) WHERE retired_at IS NULL DO NOTHING RETURNING id",
    )
    .bind(tx.tenant_id())
    .bind(id)
    .bind(key.verifying_key().to_bytes().as_slice())
    .bind(sealed.as_slice())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(made.map(|id| Signing { id, key }))
}

/// The key that signs for the tenant of `tx`, made at the first credential; locked until the
/// transaction ends, so that a rotation waits for the credentials being signed, and two first
/// credentials of a territory make one key.
pub(crate) async fn signing(tx: &mut Tx, sealing: &LinkKey) -> Result<Signing, Error> {
    if let Some(row) = signing_row(tx, true).await? {
        return open(tx, sealing, row);
    }
    if let Some(made) = create(tx, sealing).await? {
        return Ok(made);
    }
    match signing_row(tx, true).await? {
        Some(row) => open(tx, sealing, row),
        None => Err(Error::Internal(
            "no signing key, and none could be made".into(),
        )),
    }
}

/// The key that signs now, read without a lock (a status list signed for a verifier); `None`
/// before the territory's first credential.
pub(crate) async fn current(tx: &mut Tx, sealing: &LinkKey) -> Result<Option<Signing>, Error> {
    match signing_row(tx, false).await? {
        Some(row) => open(tx, sealing, row).map(Some),
        None => Ok(None),
    }
}

type SigningRow = (Uuid, Vec<u8>, Vec<u8>);

async fn signing_row(tx: &mut Tx, lock: bool) -> Result<Option<SigningRow>, Error> {
    let sql = if lock {
        "SELECT id, public_key, sealed_secret FROM credential_keys
          WHERE tenant_id = $1 AND retired_at IS NULL FOR UPDATE"
    } else {
        "SELECT id, public_key, sealed_secret FROM credential_keys
          WHERE tenant_id = $1 AND retired_at IS NULL"
    };
    Ok(sqlx::query_as(sql)
        .bind(tx.tenant_id())
        .fetch_optional(&mut **tx)
        .await?)
}

/// Opens a sealed key, checking that its public half matches.
fn open(
    tx: &Tx,
    sealing: &LinkKey,
    (id, public_key, sealed): SigningRow,
) -> Result<Signing, Error> {
    let sealed: [u8; 32] = sealed
        .try_into()
        .map_err(|_| Error::Internal("a sealed signing key is not 32 bytes".into()))?;
    let key = SigningKey::from_bytes(&xor(&sealed, &pad(sealing, tx.tenant_id(), id)));
    if key.verifying_key().to_bytes().as_slice() != public_key.as_slice() {
        return Err(Error::Internal(
            "the credentials' signing key does not open with this PORTFOLIO_LINK_KEY".into(),
        ));
    }
    Ok(Signing { id, key })
}

/// Retires the signing key and makes a new one: credentials signed before keep verifying.
pub(crate) async fn rotate(tx: &mut Tx, sealing: &LinkKey, actor: Actor) -> Result<Uuid, Error> {
    // Waits for the credentials being signed with the current key.
    let retired: Option<Uuid> = sqlx::query_scalar(
        "UPDATE credential_keys SET retired_at = clock_timestamp()
          WHERE tenant_id = $1 AND retired_at IS NULL RETURNING id",
    )
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?;
    let new = create(tx, sealing)
        .await?
        .ok_or_else(|| Error::Internal("another rotation made a key meanwhile".into()))?;
    let tenant_id = tx.tenant_id();
    audit::record(
        tx,
        tenant_id,
        actor,
        "credentials.key_rotated",
        "credential_key",
        new.id,
        json!({ "retired": retired }),
    )
    .await?;
    Ok(new.id)
}

/// Every key of the tenant of `tx`, the signing one first, then newest first.
pub(crate) async fn published(tx: &mut Tx) -> Result<Vec<PublishedKey>, Error> {
    Ok(sqlx::query_as(
        "SELECT id, public_key, created_at, retired_at FROM credential_keys
          WHERE tenant_id = $1 ORDER BY retired_at IS NOT NULL, created_at DESC, id DESC",
    )
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_the_same_service_key_tenant_and_id_only() {
        let secret = [7u8; 32];
        let (tenant, id) = (Uuid::new_v4(), Uuid::new_v4());
        let service = LinkKey::new("service key");
        let sealed = xor(&secret, &pad(&service, tenant, id));
        assert_ne!(sealed, secret);
        assert_eq!(xor(&sealed, &pad(&service, tenant, id)), secret);
        assert_ne!(
            xor(&sealed, &pad(&LinkKey::new("another"), tenant, id)),
            secret
        );
        assert_ne!(xor(&sealed, &pad(&service, Uuid::new_v4(), id)), secret);
        assert_ne!(xor(&sealed, &pad(&service, tenant, Uuid::new_v4())), secret);
    }
}
