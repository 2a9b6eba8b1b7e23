//! Beneficiaries: the least personal data that lets a voucher be nominative — names, birth year
//! (not the date), commune, public category, and email or phone only if the person has one.

use chrono::{DateTime, Datelike, Utc};
use serde_json::json;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::tenancy::tenants::is_email;
use crate::{Db, Error, FieldRule};

vocabulary! {
    /// The public a person belongs to, as a scheme's eligibility names it (Ticket Net's list, plus
    /// `other`); kept when the person's data is erased, for the statistics. French names in
    /// `crate::labels::public_category`.
    pub enum PublicCategory {
        /// Allocataires de minima sociaux.
        MinimaSociaux,
        /// Femmes isolées avec enfants à charge.
        SingleParent,
        /// Retraités ou futurs retraités.
        Senior,
        /// Salariés peu qualifiés.
        LowQualifiedEmployee,
        /// Conjoints d’artisans, commerçants, agriculteurs.
        SpouseOfSelfEmployed,
        /// Parents d’élèves.
        ParentOfPupil,
        /// Assurés sociaux, allocataires, usagers des téléservices.
        SocialInsuranceUser,
        /// A public of none of the kinds above.
        Other,
    }
}

/// A person registered without a public is of none of the listed ones.
impl Default for PublicCategory {
    fn default() -> Self {
        PublicCategory::Other
    }
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Beneficiary {
    pub id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_year: Option<i16>,
    pub commune_insee: Option<String>,
    pub public_category: PublicCategory,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub email_consent: bool,
    pub email_consent_at: Option<DateTime<Utc>>,
    pub prescriber_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub erased_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, first_name, last_name, birth_year, commune_insee, public_category, email, phone, \
                       email_consent, email_consent_at, prescriber_id, created_at, erased_at";

#[derive(Debug, Clone, Default)]
pub struct NewBeneficiary {
    pub first_name: String,
    pub last_name: String,
    pub birth_year: i16,
    pub commune_insee: String,
    pub public_category: PublicCategory,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub email_consent: bool,
    /// Create even if a probable duplicate exists (the caller checked it is another person).
    pub allow_duplicate: bool,
}

/// A name or a label the way people type it, compared: lowercase, accents and punctuation
/// removed, so that "Hélène Martin-Dupont" and "helene martin dupont" are the same.
pub fn folded(s: &str) -> String {
    s.nfd()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The key probable duplicates share: folded names, birth year and commune.
/// People are matched by today's commune: a code of a commune merged since is the same place.
pub fn match_key(first_name: &str, last_name: &str, birth_year: i16, commune: &str) -> String {
    format!(
        "{}|{}|{birth_year}|{}",
        folded(last_name),
        folded(first_name),
        crate::communes::today_code(commune)
    )
}

/// Whether the beneficiary's last name is `last_name` as a person types it (folded). An erased
/// beneficiary has no name, and matches none: the holder's name is what proves a voucher is theirs
/// (registration at an EPN, the public balance check).
pub(crate) async fn is_named(
    tx: &mut Tx,
    beneficiary_id: Uuid,
    last_name: &str,
) -> Result<bool, Error> {
    let name: Option<String> =
        sqlx::query_scalar("SELECT last_name FROM beneficiaries WHERE tenant_id = $2 AND id = $1")
            .bind(beneficiary_id)
            .bind(tx.tenant_id())
            .fetch_optional(&mut **tx)
            .await?
            .flatten();
    Ok(name.is_some_and(|name| folded(&name) == folded(last_name)))
}

/// The refusal of a code that has the shape of a commune code but is none, with what it may mean.
pub(crate) fn unknown_commune(code: &str, name: Option<&str>) -> FieldRule {
    FieldRule::UnknownCommune {
        code: code.trim().to_owned(),
        suggestions: crate::communes::suggestions(code, name)
            .into_iter()
            .map(|c| format!("{} ({})", c.name, c.code))
            .collect(),
    }
}

pub fn is_commune_code(s: &str) -> bool {
    s.len() == 5
        && (s.bytes().all(|b| b.is_ascii_digit())
            || ((s.starts_with("2A") || s.starts_with("2B"))
                && s[2..].bytes().all(|b| b.is_ascii_digit())))
}

impl NewBeneficiary {
    /// The key probable duplicates share (`match_key`).
    pub fn match_key(&self) -> String {
        match_key(
            &self.first_name,
            &self.last_name,
            self.birth_year,
            &self.commune_insee,
        )
    }

    pub fn validate(&self) -> Result<(), Error> {
        let this_year = Utc::now().year() as i16;
        let name_ok = |s: &str| !s.trim().is_empty() && s.chars().count() <= 100;
        let mut v = Validator::default();
        v.check(
            name_ok(&self.first_name),
            "first_name",
            "between 1 and 100 characters",
        )
        .check(
            name_ok(&self.last_name),
            "last_name",
            "between 1 and 100 characters",
        )
        .check(
            (1900..=this_year).contains(&self.birth_year),
            "birth_year",
            format!("a year between 1900 and {this_year}"),
        )
        .check(
            is_commune_code(&self.commune_insee),
            "commune_insee",
            "a 5-character INSEE commune code such as 46102 or 2A004",
        )
        .check(
            self.email.as_deref().is_none_or(is_email),
            "email",
            "an email address",
        )
        .check(
            self.phone.as_deref().is_none_or(|p| {
                let digits = p.chars().filter(char::is_ascii_digit).count();
                (8..=15).contains(&digits)
                    && p.chars()
                        .all(|c| c.is_ascii_digit() || " +.-()".contains(c))
            }),
            "phone",
            "a phone number (8 to 15 digits)",
        )
        .check(
            !self.email_consent || self.email.is_some(),
            "email_consent",
            "consent to emails needs an email address",
        );
        if is_commune_code(&self.commune_insee)
            && crate::communes::find(&self.commune_insee).is_none()
        {
            v.check_rule(
                false,
                "commune_insee",
                unknown_commune(&self.commune_insee, None),
            );
        }
        v.finish()
    }
}

/// Creates a beneficiary for a prescriber, unless the prescriber already follows a probable
/// duplicate (same names, birth year and commune), reported as a conflict naming its own record.
///
/// Another organisation's records are never disclosed to a prescriber (it would learn who is
/// followed elsewhere, one name at a time): a match there does not stop the creation, and is
/// written in the audit log for the tenant admin to review.
pub(crate) async fn insert(
    tx: &mut Tx,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    actor: Actor,
    new: &NewBeneficiary,
) -> Result<Beneficiary, Error> {
    new.validate()?;
    let key = new.match_key();
    if !new.allow_duplicate
        && let Some(existing) = followed_duplicate(tx, prescriber_id, new).await?
    {
        return Err(Refusal::ProbableDuplicate {
            existing: existing.id,
        }
        .into());
    }
    let email = new
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let beneficiary: Beneficiary = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO beneficiaries (tenant_id, id, first_name, last_name, match_key, birth_year, commune_insee,
                                    public_category, email, phone, email_consent, email_consent_at, prescriber_id, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, CASE WHEN $11 THEN now() END, $12, $13)
         RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(new.first_name.trim())
    .bind(new.last_name.trim())
    .bind(&key)
    .bind(new.birth_year)
    .bind(crate::communes::today_code(&new.commune_insee))
    .bind(new.public_category)
    .bind(email)
    .bind(new.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()))
    .bind(new.email_consent)
    .bind(prescriber_id)
    .bind(actor.user_id)
    .fetch_one(&mut **tx)
    .await?;
    audit::record(
        tx,
        tenant_id,
        actor,
        "beneficiary.created",
        "beneficiary",
        beneficiary.id,
        json!({ "prescriber_id": prescriber_id }),
    )
    .await?;
    let elsewhere: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM beneficiaries
          WHERE tenant_id = $3 AND match_key = $1 AND prescriber_id <> $2 AND erased_at IS NULL ORDER BY id LIMIT 10",
    )
    .bind(&key)
    .bind(prescriber_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?;
    if !elsewhere.is_empty() {
        audit::record(
            tx,
            tenant_id,
            actor,
            "beneficiary.possible_duplicate",
            "beneficiary",
            beneficiary.id,
            json!({ "prescriber_id": prescriber_id, "same_person_as": elsewhere }),
        )
        .await?;
    }
    Ok(beneficiary)
}

pub async fn create(
    db: &Db,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    actor: Actor,
    new: &NewBeneficiary,
) -> Result<Beneficiary, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let beneficiary = insert(&mut tx, tenant_id, prescriber_id, actor, new).await?;
    tx.commit().await?;
    Ok(beneficiary)
}

pub(crate) async fn fetch(tx: &mut Tx, id: Uuid) -> Result<Beneficiary, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM beneficiaries WHERE tenant_id = $2 AND id = $1"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("beneficiary"))
}

/// The person of `prescriber_id`'s own records a new registration would duplicate (same names,
/// birth year and commune), so that a form can ask whether it is the same person before
/// registering another.
pub async fn probable_duplicate(
    db: &Db,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    new: &NewBeneficiary,
) -> Result<Option<Beneficiary>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let found = followed_duplicate(&mut tx, prescriber_id, new).await?;
    tx.commit().await?;
    Ok(found)
}

/// The rule of probable duplicates: a person `prescriber_id` follows (not erased) with the same
/// names, birth year and commune as `new`.
pub(crate) async fn followed_duplicate(
    tx: &mut Tx,
    prescriber_id: Uuid,
    new: &NewBeneficiary,
) -> Result<Option<Beneficiary>, Error> {
    let key = new.match_key();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM beneficiaries
          WHERE tenant_id = $3 AND match_key = $1 AND prescriber_id = $2 AND erased_at IS NULL ORDER BY id LIMIT 1"
    )))
    .bind(&key)
    .bind(prescriber_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?)
}

/// Erases the person from every table that can hold their data, in the caller's transaction:
/// their record (names, birth year, commune, contacts), the address their emails went to and its
/// place on the suppression list, what was written about them at registration, in an accompaniment
/// request and in their orientation's note, and stored API responses that named them; their
/// private portfolio links stop working. Vouchers, attendance and
/// money records carry ids only and stay, so every total is unchanged.
pub(crate) async fn erase_in(tx: &mut Tx, before: &Beneficiary) -> Result<Beneficiary, Error> {
    let id = before.id;
    if let Some(email) = before.email.as_deref() {
        sqlx::query("DELETE FROM email_suppressions WHERE tenant_id = $2 AND address = lower($1)")
            .bind(email)
            .bind(tx.tenant_id())
            .execute(&mut **tx)
            .await?;
    }
    // Two statements, not a `CASE` around `now()`, which Citus refuses in an UPDATE.
    sqlx::query(
        "UPDATE email_outbox SET status = 'cancelled', finished_at = now()
          WHERE tenant_id = $2 AND status = 'pending'
            AND voucher_id IN (SELECT id FROM vouchers WHERE tenant_id = $2 AND beneficiary_id = $1)",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE email_outbox SET recipient = NULL, last_error = NULL, smtp_response = NULL
          WHERE tenant_id = $2
            AND voucher_id IN (SELECT id FROM vouchers WHERE tenant_id = $2 AND beneficiary_id = $1)",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE registrations SET needs = NULL, notes = NULL, end_reason = NULL
          WHERE tenant_id = $2
            AND voucher_id IN (SELECT id FROM vouchers WHERE tenant_id = $2 AND beneficiary_id = $1)",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE voucher_orientations SET note = NULL
          WHERE tenant_id = $2
            AND voucher_id IN (SELECT id FROM vouchers WHERE tenant_id = $2 AND beneficiary_id = $1)",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE accompaniment_requests SET first_name = NULL, last_name = NULL, birth_year = NULL,
                commune_insee = NULL, public_category = NULL, email = NULL, phone = NULL,
                message = NULL, decision_reason = NULL
          WHERE tenant_id = $2 AND beneficiary_id = $1",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    // Their private link would open a portfolio the service no longer knows whose it is.
    sqlx::query(
        "UPDATE portfolio_links SET revoked_at = now() WHERE tenant_id = $2 AND beneficiary_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    // Their credentials may name them (their name, their email's salted hash): what was signed is
    // forgotten here; the copies they hold still verify with the published keys and status list.
    sqlx::query(
        "UPDATE credentials SET compact_jws = NULL, subject_digest = NULL WHERE tenant_id = $2 AND beneficiary_id = $1",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    // A stored response (kept 24 hours for retries) that named the person, by id or by name.
    let needles: Vec<String> = [
        Some(id.to_string()),
        before.last_name.clone(),
        before.email.clone(),
        before.phone.clone(),
    ]
    .into_iter()
    .flatten()
    .filter(|n| n.chars().count() >= 2)
    .collect();
    sqlx::query(
        "DELETE FROM idempotency_keys k
          WHERE k.tenant_id = $2
            AND EXISTS (SELECT 1 FROM unnest($1::text[]) AS n(needle)
                         WHERE position(convert_to(n.needle, 'UTF8') IN k.response_body) > 0)",
    )
    .bind(&needles)
    .bind(tx.tenant_id())
    .execute(&mut **tx)
    .await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE beneficiaries SET first_name = NULL, last_name = NULL, match_key = NULL, birth_year = NULL,
                commune_insee = NULL, email = NULL, phone = NULL, email_consent = false, email_consent_at = NULL,
                erased_at = now()
          WHERE tenant_id = $2 AND id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_one(&mut **tx)
    .await?)
}

/// A beneficiary; with `prescriber`, only one registered by that prescriber.
pub async fn get(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    prescriber: Option<Uuid>,
) -> Result<Beneficiary, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let beneficiary = fetch(&mut tx, id).await?;
    tx.commit().await?;
    if prescriber.is_some_and(|p| p != beneficiary.prescriber_id) {
        return Err(Error::NotFound("beneficiary"));
    }
    Ok(beneficiary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_keys_ignore_case_accents_and_punctuation() {
        assert_eq!(
            match_key("Hélène", "Martin-Dupont", 1957, "46102"),
            match_key("HELENE", "martin dupont", 1957, "46102")
        );
        assert_ne!(
            match_key("Hélène", "Martin", 1957, "46102"),
            match_key("Hélène", "Martin", 1958, "46102")
        );
        assert!(is_commune_code("46102") && is_commune_code("2A004"));
        assert!(!is_commune_code("4610") && !is_commune_code("2C004") && !is_commune_code("4610A"));
    }
}

/// Everything held about one person (GDPR right of access).
#[derive(Debug, Clone)]
pub struct BeneficiaryExport {
    pub beneficiary: Beneficiary,
    pub vouchers: Vec<crate::vouchers::Voucher>,
    /// Recorded changes concerning the person or their vouchers.
    pub audit: Vec<crate::audit::AuditEntry>,
}

pub async fn export(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
) -> Result<BeneficiaryExport, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let beneficiary = fetch(&mut tx, id).await?;
    let vouchers = crate::vouchers::of_beneficiary(&mut tx, id).await?;
    let audit: Vec<crate::audit::AuditEntry> = sqlx::query_as(
        "SELECT id, occurred_at, actor_id, actor_role, action, object_type, object_id, details FROM audit_log
          WHERE tenant_id = $3
            AND ((object_type = 'beneficiary' AND object_id = $1::text)
                 OR (object_type = 'voucher' AND object_id = ANY($2)))
          ORDER BY id",
    )
    .bind(id.to_string())
    .bind(vouchers.iter().map(|v| v.id.to_string()).collect::<Vec<_>>())
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "beneficiary.exported",
        "beneficiary",
        id,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(BeneficiaryExport {
        beneficiary,
        vouchers,
        audit,
    })
}

/// Erases a person (GDPR right to erasure): names, birth year, commune, email and phone become
/// nothing, for good. Vouchers, attendance and money records stay: they carry ids, never names,
/// so every total computed from them is unchanged.
pub async fn erase(db: &Db, tenant_id: Uuid, actor: Actor, id: Uuid) -> Result<Beneficiary, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let before = fetch(&mut tx, id).await?;
    if before.erased_at.is_some() {
        return Err(Refusal::BeneficiaryErased.into());
    }
    let erased = erase_in(&mut tx, &before).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "beneficiary.erased",
        "beneficiary",
        id,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(erased)
}
