//! What the animator's phone keeps to work without the network: the EPN's sessions of today and
//! the coming week, each with its sheet, the vouchers on those sheets, and what finds a voucher
//! from the QR code of its holder's letter. Everything is read for one EPN: nothing of another
//! EPN reaches the phone.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::overview::{self, Competence, SheetRow};
use super::portfolio::link::HolderCode;
use super::sessions::Session;
use crate::schemes::{self, Module};
use crate::tenancy::tenants::Tenant;
use crate::{Db, Error};

/// Today and the days after it that the phone keeps.
pub const DAYS_AHEAD: u64 = 7;

/// What makes a letter's lookup value differ from the portfolio link's stored hash: the phone
/// never holds what the database looks a holder up by.
const LOOKUP_LABEL: &[u8] = b"passerelle epn letter lookup v1";

/// The value the phone matches a scanned letter against: SHA-256 of the label followed by
/// SHA-256 of the code's ten bytes, in lower-case hex. The phone computes the same from the code
/// it reads, so that it finds the voucher with no network and without knowing any code.
pub fn letter_lookup(link_hash: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(LOOKUP_LABEL);
    digest.update(link_hash);
    hex(&digest.finalize())
}

/// The lookup value of a code, as the phone computes it (for the tests and the server's look-up).
pub fn letter_lookup_of(code: &HolderCode) -> String {
    letter_lookup(&code.hash())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A session of the week with the people on its sheet.
#[derive(Debug, Clone)]
pub struct PhoneSession {
    pub session: Session,
    pub rows: Vec<SheetRow>,
}

/// A voucher on one of the week's sheets.
#[derive(Debug, Clone)]
pub struct PhoneVoucher {
    pub reference: String,
    pub scheme_id: Uuid,
    /// The modules the holder chose at registration (none: any module).
    pub modules: Vec<i32>,
    /// `letter_lookup` of the holder's working letter code, if they have one.
    pub letter_lookup: Option<String>,
}

/// A scheme of the week's sessions: its modules and the competences its sheets assess.
#[derive(Debug, Clone)]
pub struct PhoneScheme {
    pub id: Uuid,
    pub name: String,
    pub modules: Vec<Module>,
    pub competences: Vec<Competence>,
}

/// The EPN's week as the phone keeps it.
#[derive(Debug, Clone, Default)]
pub struct PhoneWeek {
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
    pub sessions: Vec<PhoneSession>,
    pub vouchers: Vec<PhoneVoucher>,
    pub schemes: Vec<PhoneScheme>,
}

/// The sessions of `epn_id` from the start of `today` to the end of the `DAYS_AHEAD`th day after
/// it (cancelled ones included, so that the phone shows them as cancelled), with their sheets.
pub async fn week(
    db: &Db,
    tenant: &Tenant,
    epn_id: Uuid,
    today: NaiveDate,
) -> Result<PhoneWeek, Error> {
    let tz = tenant.tz();
    let last_day = today + Days::new(DAYS_AHEAD);
    let from = overview::start_of_day(today, tz);
    let to = overview::start_of_day(last_day + Days::new(1), tz);
    let sessions = overview::sessions_between(db, tenant.id, epn_id, from, to).await?;
    let mut phone_sessions = Vec::with_capacity(sessions.len());
    let mut scheme_of: BTreeMap<String, Uuid> = BTreeMap::new();
    let mut scheme_ids: Vec<Uuid> = Vec::new();
    for session in sessions {
        let rows = overview::sheet(db, tenant.id, &session).await?;
        for row in &rows {
            scheme_of.insert(row.reference.clone(), session.scheme_id);
        }
        if !scheme_ids.contains(&session.scheme_id) {
            scheme_ids.push(session.scheme_id);
        }
        phone_sessions.push(PhoneSession { session, rows });
    }
    let mut schemes_of_week = Vec::with_capacity(scheme_ids.len());
    for id in scheme_ids {
        let detail = schemes::get(db, tenant.id, id).await?;
        schemes_of_week.push(PhoneScheme {
            id,
            name: detail.scheme.name,
            modules: detail.modules,
            competences: overview::competences(db, tenant.id, id).await?,
        });
    }
    let references: Vec<String> = scheme_of.keys().cloned().collect();
    let details = voucher_details(db, tenant.id, &references).await?;
    let vouchers = scheme_of
        .into_iter()
        .map(|(reference, scheme_id)| {
            let (modules, link_hash) = details.get(&reference).cloned().unwrap_or_default();
            PhoneVoucher {
                reference,
                scheme_id,
                modules,
                letter_lookup: link_hash.as_deref().map(letter_lookup),
            }
        })
        .collect();
    Ok(PhoneWeek {
        first_day: Some(today),
        last_day: Some(last_day),
        sessions: phone_sessions,
        vouchers,
        schemes: schemes_of_week,
    })
}

type Details = HashMap<String, (Vec<i32>, Option<Vec<u8>>)>;

/// Each voucher's chosen modules and its holder's working letter link hash, in one query.
async fn voucher_details(
    db: &Db,
    tenant_id: Uuid,
    references: &[String],
) -> Result<Details, Error> {
    if references.is_empty() {
        return Ok(HashMap::new());
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<(String, Vec<i32>, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT v.reference,
                coalesce((SELECT array_agg(m.module_number ORDER BY m.module_number)
                            FROM voucher_modules m WHERE m.tenant_id = $2 AND m.voucher_id = v.id), '{}'),
                (SELECT l.token_hash FROM portfolio_links l
                  WHERE l.tenant_id = $2 AND l.beneficiary_id = v.beneficiary_id AND l.letter_code AND l.revoked_at IS NULL
                  ORDER BY l.created_at DESC, l.id DESC LIMIT 1)
           FROM vouchers v WHERE v.tenant_id = $2 AND v.reference = ANY($1)",
    )
    .bind(references)
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|(reference, modules, hash)| (reference, (modules, hash)))
        .collect())
}

/// A voucher of the person whose letter was scanned, as the animator may act on it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LetterVoucher {
    pub reference: String,
    /// Registered at the animator's EPN (and not ended there).
    pub registered_here: bool,
}

/// The open vouchers of the person a letter's code designates in `tenant`, newest first: what
/// the phone asks the server when the scanned letter is not on the week's sheets (a voucher to
/// register). Nothing for a code unknown, revoked or of another territory — the same answer for
/// each. The animator holds the letter, which prints the reference already.
pub async fn vouchers_of_letter(
    db: &Db,
    tenant: &Tenant,
    epn_id: Uuid,
    code: &str,
) -> Result<Vec<LetterVoucher>, Error> {
    let Some(opened) = super::portfolio::link::open(db, &tenant.slug, code).await? else {
        return Ok(Vec::new());
    };
    let mut tx = db.begin_tenant(tenant.id).await?;
    let vouchers = sqlx::query_as(
        "SELECT v.reference,
                EXISTS (SELECT 1 FROM registrations r
                         WHERE r.tenant_id = $4 AND r.voucher_id = v.id AND r.epn_id = $2 AND r.ended_at IS NULL) AS registered_here
           FROM vouchers v
          WHERE v.tenant_id = $4 AND v.beneficiary_id = $1 AND v.status::text = ANY($3)
          ORDER BY v.created_at DESC, v.reference
          LIMIT 20",
    )
    .bind(opened.beneficiary_id)
    .bind(epn_id)
    .bind(
        crate::vouchers::VoucherStatus::OPEN
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(tenant.id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(vouchers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_letters_lookup_is_not_its_stored_hash_and_is_stable() {
        let code = HolderCode::parse("K7M2-QX9D-4HTR-B3WE").expect("a code");
        let lookup = letter_lookup_of(&code);
        assert_eq!(lookup.len(), 64);
        assert_ne!(lookup, hex(&code.hash()));
        assert_eq!(
            lookup,
            letter_lookup_of(&HolderCode::parse("k7m2qx9d4htrb3we").expect("a code"))
        );
    }
}
