//! The holder's private link to their portfolio: a short address `/p/<territory>/<code>` printed
//! on the voucher letter (with its QR code) and carried by the welcome email. It belongs to the
//! person, not to one voucher, so that every voucher they are given opens the same portfolio.
//!
//! The code is 16 characters of Crockford base32 (80 bits: the rate limit makes guessing
//! hopeless), grouped by four to be typed from paper, tolerant of the letters people confuse
//! (O for 0, I or L for 1) and of lower case. It is derived from the link's id with the service's
//! key, so that a letter printed again and the email carry the same code; the database keeps only
//! its hash, like every other secret here. The holder revokes or renews it from the page itself;
//! a letter printed after a revocation makes a new one.

use std::fmt;
use std::sync::OnceLock;

use data_encoding::{Encoding, Specification};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::storage::Tx;
use crate::tenancy::tenants::{self, Tenant};
use crate::{Db, Error};

/// Bytes of a code: 80 bits, 16 base32 characters.
const CODE_BYTES: usize = 10;

/// What the key signs besides the ids, so that it can never be mistaken for another derivation.
const DERIVATION_LABEL: &[u8] = b"passerelle holder portfolio link v1";

/// Who acts when the holder revokes or renews their own link from their page.
pub const HOLDER: Actor = Actor {
    user_id: None,
    role: "holder",
};

/// The service's key for the holders' codes (`PORTFOLIO_LINK_KEY`).
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl LinkKey {
    pub fn new(secret: &str) -> Self {
        Self(secret.as_bytes().to_vec())
    }

    /// 32 bytes derived from the key for another purpose than the codes, told apart by `label`
    /// (the credentials' signing keys are sealed with it).
    pub(crate) fn derive(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(label);
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The code of link `link_id` of `tenant_id`.
    fn code(&self, tenant_id: Uuid, link_id: Uuid) -> HolderCode {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(DERIVATION_LABEL);
        mac.update(tenant_id.as_bytes());
        mac.update(link_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut bytes = [0u8; CODE_BYTES];
        bytes.copy_from_slice(&digest[..CODE_BYTES]);
        HolderCode(bytes)
    }
}

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey(…)")
    }
}

/// Crockford's base32: digits and capitals without I, L, O and U.
fn crockford() -> &'static Encoding {
    static ENCODING: OnceLock<Encoding> = OnceLock::new();
    ENCODING.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str("0123456789ABCDEFGHJKMNPQRSTVWXYZ");
        spec.translate.from.push_str("abcdefghjkmnpqrstvwxyzOoIiLl");
        spec.translate.to.push_str("ABCDEFGHJKMNPQRSTVWXYZ001111");
        spec.ignore.push_str("- ");
        spec.encoding().expect("a valid base32 alphabet")
    })
}

/// A holder's code, as printed: `K7M2-QX9D-4HTR-B3WE`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HolderCode([u8; CODE_BYTES]);

impl HolderCode {
    /// A code as a person types or a QR reader gives it: any case, with or without dashes and
    /// spaces, O read as 0 and I or L as 1. `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > 40 {
            return None;
        }
        let bytes = crockford().decode(text.trim().as_bytes()).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// The code in groups of four, as letters and addresses print it.
    pub fn grouped(&self) -> String {
        let plain = crockford().encode(&self.0);
        plain
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).expect("base32 is ASCII"))
            .collect::<Vec<_>>()
            .join("-")
    }

    pub(crate) fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0).to_vec()
    }
}

impl fmt::Display for HolderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.grouped())
    }
}

impl fmt::Debug for HolderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HolderCode(…)")
    }
}

/// A holder's way in: their territory and their code.
#[derive(Debug, Clone)]
pub struct HolderLink {
    pub tenant_slug: String,
    pub code: HolderCode,
}

impl HolderLink {
    /// The page's path, from the service's public address.
    pub fn path(&self) -> String {
        format!("/p/{}/{}", self.tenant_slug, self.code)
    }

    /// A link that opens nothing (no link has the nil id), for the messages' previews.
    pub fn example(tenant_slug: &str, key: &LinkKey) -> Self {
        Self {
            tenant_slug: tenant_slug.to_owned(),
            code: key.code(Uuid::nil(), Uuid::nil()),
        }
    }

    /// Where the holder types their code: what the letter prints beside it.
    pub fn entry_path(&self) -> String {
        format!("/p/{}", self.tenant_slug)
    }
}

/// Whose portfolio a link opens.
#[derive(Debug, Clone)]
pub struct Opened {
    pub tenant: Tenant,
    pub beneficiary_id: Uuid,
    /// `None` for the links made before codes, which the holder cannot revoke from the page.
    pub code: Option<HolderCode>,
}

/// The person's working link, if they have one: the newest that is not revoked.
pub async fn current(
    tx: &mut Tx,
    key: &LinkKey,
    tenant: &Tenant,
    beneficiary_id: Uuid,
) -> Result<Option<HolderLink>, Error> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM portfolio_links
          WHERE tenant_id = $2 AND beneficiary_id = $1 AND letter_code AND revoked_at IS NULL
          ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(beneficiary_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(id.map(|id| HolderLink {
        tenant_slug: tenant.slug.clone(),
        code: key.code(tenant.id, id),
    }))
}

async fn create(
    tx: &mut Tx,
    key: &LinkKey,
    tenant: &Tenant,
    actor: Actor,
    beneficiary_id: Uuid,
) -> Result<HolderLink, Error> {
    let id = Uuid::now_v7();
    let code = key.code(tenant.id, id);
    sqlx::query(
        "INSERT INTO portfolio_links (tenant_id, id, beneficiary_id, token_hash, letter_code)
         VALUES ($1, $2, $3, $4, true)",
    )
    .bind(tenant.id)
    .bind(id)
    .bind(beneficiary_id)
    .bind(code.hash())
    .execute(&mut **tx)
    .await?;
    audit::record(
        tx,
        tenant.id,
        actor,
        "portfolio.link_created",
        "beneficiary",
        beneficiary_id,
        json!({ "link_id": id }),
    )
    .await?;
    Ok(HolderLink {
        tenant_slug: tenant.slug.clone(),
        code,
    })
}

/// Locks the person, so that two letters printed at once make one link; `true` when their data
/// was erased.
async fn lock_person(tx: &mut Tx, beneficiary_id: Uuid) -> Result<bool, Error> {
    sqlx::query_scalar("SELECT erased_at IS NOT NULL FROM beneficiaries WHERE tenant_id = $2 AND id = $1 FOR UPDATE")
        .bind(beneficiary_id)
        .bind(tx.tenant_id())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("beneficiary"))
}

/// The person's working link, made now when they have none (their first letter or email, or the
/// first letter after they revoked theirs). `None` for a person whose data was erased.
pub async fn ensure(
    tx: &mut Tx,
    key: &LinkKey,
    tenant: &Tenant,
    actor: Actor,
    beneficiary_id: Uuid,
) -> Result<Option<HolderLink>, Error> {
    if lock_person(tx, beneficiary_id).await? {
        return Ok(None);
    }
    if let Some(link) = current(tx, key, tenant, beneficiary_id).await? {
        return Ok(Some(link));
    }
    create(tx, key, tenant, actor, beneficiary_id)
        .await
        .map(Some)
}

/// Stops every link of the person; the number stopped.
pub(crate) async fn revoke_all(
    tx: &mut Tx,
    tenant_id: Uuid,
    actor: Actor,
    beneficiary_id: Uuid,
) -> Result<u64, Error> {
    let revoked = sqlx::query(
        "UPDATE portfolio_links SET revoked_at = now() WHERE tenant_id = $2 AND beneficiary_id = $1 AND revoked_at IS NULL",
    )
    .bind(beneficiary_id)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if revoked > 0 {
        audit::record(
            tx,
            tenant_id,
            actor,
            "portfolio.link_revoked",
            "beneficiary",
            beneficiary_id,
            json!({ "links": revoked }),
        )
        .await?;
    }
    Ok(revoked)
}

/// A new link for the person; every previous one stops working.
pub async fn renew(
    tx: &mut Tx,
    key: &LinkKey,
    tenant: &Tenant,
    actor: Actor,
    beneficiary_id: Uuid,
) -> Result<HolderLink, Error> {
    lock_person(tx, beneficiary_id).await?;
    revoke_all(tx, tenant.id, actor, beneficiary_id).await?;
    create(tx, key, tenant, actor, beneficiary_id).await
}

/// Whose portfolio `code` opens in the territory `slug`; `None` for an unknown territory, a
/// malformed, unknown or revoked code — the same answer for each.
pub async fn open(db: &Db, slug: &str, code: &str) -> Result<Option<Opened>, Error> {
    let Some(code) = HolderCode::parse(code) else {
        return Ok(None);
    };
    let Some(tenant) = tenants::find_by_slug(db, slug).await? else {
        return Ok(None);
    };
    let mut tx = db.begin_tenant(tenant.id).await?;
    let beneficiary_id: Option<Uuid> = sqlx::query_scalar(
        "SELECT beneficiary_id FROM portfolio_links
          WHERE tenant_id = $2 AND token_hash = $1 AND letter_code AND revoked_at IS NULL",
    )
    .bind(code.hash())
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(beneficiary_id.map(|beneficiary_id| Opened {
        tenant,
        beneficiary_id,
        code: Some(code),
    }))
}

/// What the holder does from their page: `true` when the link was working and now is not.
pub async fn revoke_by_holder(db: &Db, opened: &Opened) -> Result<bool, Error> {
    let mut tx = db.begin_tenant(opened.tenant.id).await?;
    let revoked = revoke_all(&mut tx, opened.tenant.id, HOLDER, opened.beneficiary_id).await?;
    tx.commit().await?;
    Ok(revoked > 0)
}

/// A new code for the holder, from their page; the one they came with stops working.
pub async fn renew_by_holder(db: &Db, key: &LinkKey, opened: &Opened) -> Result<HolderLink, Error> {
    let mut tx = db.begin_tenant(opened.tenant.id).await?;
    let link = renew(&mut tx, key, &opened.tenant, HOLDER, opened.beneficiary_id).await?;
    tx.commit().await?;
    Ok(link)
}

/// The hash older links kept of their long token (`pf_…`).
pub(super) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_reads_back_however_a_person_types_it() {
        let key = LinkKey::new("a-test-key-of-at-least-thirty-two-chars");
        let code = key.code(Uuid::nil(), Uuid::max());
        let printed = code.grouped();
        assert_eq!(printed.len(), 19, "{printed}");
        assert_eq!(printed.matches('-').count(), 3);
        for typed in [
            printed.clone(),
            printed.to_lowercase(),
            printed.replace('-', ""),
            printed.replace('-', " "),
            printed.replace('0', "O").replace('1', "l"),
        ] {
            assert_eq!(HolderCode::parse(&typed), Some(code), "{typed}");
        }
        for bad in [
            "",
            "ABCD",
            "ABCD-EFGH-JKMN-PQRU",
            &format!("{printed}-0000"),
        ] {
            assert_eq!(HolderCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn codes_differ_by_link_tenant_and_key() {
        let key = LinkKey::new("a-test-key-of-at-least-thirty-two-chars");
        let other_key = LinkKey::new("another-key-of-at-least-thirty-two-ch");
        let (t, l) = (Uuid::now_v7(), Uuid::now_v7());
        let code = key.code(t, l);
        assert_eq!(code, key.code(t, l));
        assert_ne!(code, key.code(t, Uuid::now_v7()));
        assert_ne!(code, key.code(Uuid::now_v7(), l));
        assert_ne!(code, other_key.code(t, l));
    }
}
