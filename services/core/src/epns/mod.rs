//! Public internet spaces (EPN): where vouchers are registered and sessions held. Records follow
//! the national open-data format for *lieux de médiation numérique*, plus what this platform adds:
//! the schemes and modules each EPN offers, and bank details for its reimbursements.

pub mod bank;
pub mod import;
pub mod opening_hours;

use chrono::{DateTime, NaiveDate, Utc};
use iban::{Iban, IbanLike};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::beneficiaries::is_commune_code;
use crate::error::Validator;
use crate::pagination::{Page, PageRequest};
use crate::prescribers::is_siret;
use crate::storage::Tx;
use crate::tenancy::tenants::is_email;
use crate::{Db, Error};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Epn {
    pub id: Uuid,
    pub name: String,
    pub pivot: Option<String>,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub commune: Option<String>,
    pub commune_insee: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub emails: Vec<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub opening_hours: Option<String>,
    pub services: Vec<String>,
    pub typology: Vec<String>,
    pub source: Option<String>,
    pub source_id: Option<String>,
    pub source_updated_on: Option<NaiveDate>,
    /// The fields of the open-data schema this platform does not use yet.
    #[sqlx(json)]
    pub open_data: serde_json::Map<String, serde_json::Value>,
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub account_holder: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, pivot, address, postal_code, commune, commune_insee, latitude, longitude, emails, phone, \
                       website, opening_hours, services, typology, source, source_id, source_updated_on, open_data, iban, bic, \
                       account_holder, created_at, updated_at";

/// An IBAN for display to someone who may not see it: country, check digits and last four.
pub fn mask_iban(iban: &str) -> String {
    let compact: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() < 8 {
        return "****".into();
    }
    format!("{}…{}", &compact[..4], &compact[compact.len() - 4..])
}

/// An RNA (associations register) number: W followed by 9 digits or capitals.
pub fn is_rna(s: &str) -> bool {
    s.len() == 10
        && s.starts_with('W')
        && s[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

#[derive(Debug, Clone, Default)]
pub struct EpnDetails {
    pub name: String,
    pub pivot: Option<String>,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub commune: Option<String>,
    pub commune_insee: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub emails: Vec<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub opening_hours: Option<String>,
    pub services: Vec<String>,
    pub typology: Vec<String>,
    pub source: Option<String>,
    pub source_id: Option<String>,
    pub source_updated_on: Option<NaiveDate>,
    /// The fields of the open-data schema this platform does not use yet, by their names there.
    pub open_data: serde_json::Map<String, serde_json::Value>,
}

impl EpnDetails {
    /// The rules of a place typed in: opening hours must parse.
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_with(true)
    }

    /// The rules of a place from the open-data file, whose hours that do not parse are kept as
    /// text (with a warning on the import's report) rather than refusing the place.
    pub fn validate_imported(&self) -> Result<(), Error> {
        self.validate_with(false)
    }

    fn validate_with(&self, hours_must_parse: bool) -> Result<(), Error> {
        let mut v = Validator::default();
        v.check(
            !self.name.trim().is_empty() && self.name.chars().count() <= 200,
            "nom",
            "between 1 and 200 characters",
        )
        .check(
            self.pivot
                .as_deref()
                .is_none_or(|p| is_siret(p) || is_rna(p)),
            "pivot",
            "a SIRET (14 digits, valid checksum) or an RNA number (W and 9 characters)",
        )
        .check(
            self.postal_code
                .as_deref()
                .is_none_or(|p| p.len() == 5 && p.bytes().all(|b| b.is_ascii_digit())),
            "code_postal",
            "5 digits",
        )
        .check(
            self.commune_insee.as_deref().is_none_or(is_commune_code),
            "code_insee",
            "a 5-character INSEE commune code",
        )
        .check(
            self.latitude.is_none_or(|l| (-90.0..=90.0).contains(&l)),
            "latitude",
            "between -90 and 90",
        )
        .check(
            self.longitude.is_none_or(|l| (-180.0..=180.0).contains(&l)),
            "longitude",
            "between -180 and 180",
        )
        .check(
            self.emails.iter().all(|e| is_email(e)),
            "courriels",
            "email addresses separated by |",
        )
        .check(
            self.website.as_deref().is_none_or(|w| {
                (w.starts_with("https://") || w.starts_with("http://")) && w.len() <= 500
            }),
            "site_web",
            "an http(s):// address",
        );
        if let Some(code) = self.commune_insee.as_deref()
            && is_commune_code(code)
            && crate::communes::find(code).is_none()
        {
            v.check_rule(
                false,
                "code_insee",
                crate::beneficiaries::unknown_commune(code, self.commune.as_deref()),
            );
        }
        if let Some(hours) = &self.opening_hours
            && hours_must_parse
            && let Err(reason) = opening_hours::validate(hours)
        {
            v.check(false, "horaires", reason);
        }
        v.finish()
    }
}

#[derive(Debug, Clone, Default)]
pub struct BankDetails {
    pub iban: String,
    pub bic: Option<String>,
    pub account_holder: String,
}

impl BankDetails {
    /// Checks the IBAN's checksum and format; returns it in compact electronic form.
    pub(crate) fn validated(&self) -> Result<(String, Option<String>), Error> {
        let iban = self.iban.parse::<Iban>();
        let bic = self.bic.as_ref().map(|b| b.trim().to_uppercase());
        let mut v = Validator::default();
        v.check(
            iban.is_ok(),
            "iban",
            "not a valid IBAN (its checksum or its length for the country is wrong)",
        )
        .check(
            bic.as_deref().is_none_or(|b| {
                (b.len() == 8 || b.len() == 11)
                    && b[..6].bytes().all(|c| c.is_ascii_uppercase())
                    && b[6..]
                        .bytes()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            }),
            "bic",
            "8 or 11 characters (e.g. CCBPFRPPTLS)",
        )
        .check(
            !self.account_holder.trim().is_empty() && self.account_holder.chars().count() <= 140,
            "account_holder",
            "between 1 and 140 characters",
        );
        v.finish()?;
        Ok((
            iban.map(|i| i.electronic_str().to_owned())
                .unwrap_or_default(),
            bic,
        ))
    }
}

pub async fn create(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    details: &EpnDetails,
) -> Result<Epn, Error> {
    details.validate()?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let epn = upsert(&mut tx, tenant_id, Uuid::now_v7(), details).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "epn.saved",
        "epn",
        epn.id,
        json!({ "name": epn.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(epn)
}

/// Inserts, or updates the EPN with this id.
pub(crate) async fn upsert(
    tx: &mut Tx,
    tenant_id: Uuid,
    id: Uuid,
    d: &EpnDetails,
) -> Result<Epn, Error> {
    // `EXCLUDED.updated_at` is the column's default, now(): Citus refuses a function that is not
    // immutable in `DO UPDATE SET` on a distributed table.
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO epns (tenant_id, id, name, pivot, address, postal_code, commune, commune_insee, latitude, longitude,
                           emails, phone, website, opening_hours, services, typology, source, source_id, source_updated_on, open_data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
         ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name, pivot = EXCLUDED.pivot, address = EXCLUDED.address,
             postal_code = EXCLUDED.postal_code, commune = EXCLUDED.commune, commune_insee = EXCLUDED.commune_insee,
             latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, emails = EXCLUDED.emails, phone = EXCLUDED.phone,
             website = EXCLUDED.website, opening_hours = EXCLUDED.opening_hours, services = EXCLUDED.services,
             typology = EXCLUDED.typology, source = EXCLUDED.source, source_id = EXCLUDED.source_id,
             source_updated_on = EXCLUDED.source_updated_on, open_data = EXCLUDED.open_data, updated_at = EXCLUDED.updated_at
         RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(id)
    .bind(d.name.trim())
    .bind(&d.pivot)
    .bind(&d.address)
    .bind(&d.postal_code)
    .bind(&d.commune)
    .bind(d.commune_insee.as_deref().map(crate::communes::today_code))
    .bind(d.latitude)
    .bind(d.longitude)
    .bind(&d.emails)
    .bind(&d.phone)
    .bind(&d.website)
    .bind(&d.opening_hours)
    .bind(&d.services)
    .bind(&d.typology)
    .bind(&d.source)
    .bind(&d.source_id)
    .bind(d.source_updated_on)
    .bind(serde_json::Value::Object(d.open_data.clone()))
    .fetch_one(&mut **tx)
    .await?)
}

/// What changes in an EPN's details outside an import: `None` keeps a field, `Some(None)` clears
/// an optional one. A later import of the same place (same `source` and id) brings the
/// published details back.
#[derive(Debug, Clone, Default)]
pub struct EpnChanges {
    pub name: Option<String>,
    pub address: Option<Option<String>>,
    pub postal_code: Option<Option<String>>,
    pub commune: Option<Option<String>>,
    pub commune_insee: Option<Option<String>>,
    pub emails: Option<Vec<String>>,
    pub phone: Option<Option<String>>,
    pub website: Option<Option<String>>,
    pub opening_hours: Option<Option<String>>,
}

/// Changes an EPN's details with the validation of its creation, audited before and after.
pub async fn update(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
    changes: EpnChanges,
) -> Result<Epn, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let before: Epn = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM epns WHERE tenant_id = $2 AND id = $1 FOR UPDATE"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("epn"))?;
    let text = |change: Option<Option<String>>, current: &Option<String>| match change {
        Some(value) => value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()),
        None => current.clone(),
    };
    let details = EpnDetails {
        name: changes
            .name
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| before.name.clone()),
        pivot: before.pivot.clone(),
        address: text(changes.address, &before.address),
        postal_code: text(changes.postal_code, &before.postal_code),
        commune: text(changes.commune, &before.commune),
        commune_insee: text(changes.commune_insee, &before.commune_insee),
        latitude: before.latitude,
        longitude: before.longitude,
        emails: changes
            .emails
            .map(|list| {
                list.into_iter()
                    .map(|e| e.trim().to_owned())
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| before.emails.clone()),
        phone: text(changes.phone, &before.phone),
        website: text(changes.website, &before.website),
        opening_hours: text(changes.opening_hours, &before.opening_hours),
        services: before.services.clone(),
        typology: before.typology.clone(),
        source: before.source.clone(),
        source_id: before.source_id.clone(),
        source_updated_on: before.source_updated_on,
        open_data: before.open_data.clone(),
    };
    details.validate()?;
    let updated = upsert(&mut tx, tenant_id, id, &details).await?;
    let joined = |emails: &[String]| Some(emails.join(" | ")).filter(|e| !e.is_empty());
    let fields = [
        ("nom", Some(before.name.clone()), Some(updated.name.clone())),
        ("adresse", before.address.clone(), updated.address.clone()),
        (
            "code_postal",
            before.postal_code.clone(),
            updated.postal_code.clone(),
        ),
        ("commune", before.commune.clone(), updated.commune.clone()),
        (
            "code_insee",
            before.commune_insee.clone(),
            updated.commune_insee.clone(),
        ),
        ("courriels", joined(&before.emails), joined(&updated.emails)),
        ("telephone", before.phone.clone(), updated.phone.clone()),
        ("site_web", before.website.clone(), updated.website.clone()),
        (
            "horaires",
            before.opening_hours.clone(),
            updated.opening_hours.clone(),
        ),
    ];
    if let Some(details) = audit::changes(fields) {
        audit::record(&mut tx, tenant_id, actor, "epn.updated", "epn", id, details).await?;
    }
    tx.commit().await?;
    Ok(updated)
}

/// A minimal EPN (the demo seed and tests): a name and nothing else.
pub async fn create_named(db: &Db, tenant_id: Uuid, name: &str) -> Result<Uuid, Error> {
    let details = EpnDetails {
        name: name.into(),
        ..EpnDetails::default()
    };
    Ok(create(db, tenant_id, Actor::SYSTEM, &details).await?.id)
}

pub(crate) async fn insert_named(
    tx: &mut Tx,
    tenant_id: Uuid,
    id: Uuid,
    name: &str,
) -> Result<Uuid, Error> {
    let details = EpnDetails {
        name: name.into(),
        ..EpnDetails::default()
    };
    Ok(upsert(tx, tenant_id, id, &details).await?.id)
}

/// Sets an EPN's bank details at once, without a second person: only for the platform's own
/// seeding (the demo, test data). People go through [`bank::submit`] and [`bank::confirm`].
pub async fn set_bank_details(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    epn_id: Uuid,
    bank: &BankDetails,
) -> Result<Epn, Error> {
    let (iban, bic) = bank.validated()?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let epn: Epn = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE epns SET iban = $2, bic = $3, account_holder = $4, updated_at = now() WHERE tenant_id = $5 AND id = $1 RETURNING {COLUMNS}"
    )))
    .bind(epn_id)
    .bind(&iban)
    .bind(&bic)
    .bind(bank.account_holder.trim())
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("epn"))?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "epn.bank_details_changed",
        "epn",
        epn_id,
        json!({ "iban": mask_iban(&iban), "bic": bic }),
    )
    .await?;
    tx.commit().await?;
    Ok(epn)
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Epn, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let epn = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(epn)
}

pub(crate) async fn fetch(tx: &mut Tx, id: Uuid) -> Result<Epn, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM epns WHERE tenant_id = $2 AND id = $1"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("epn"))
}

pub async fn list(db: &Db, tenant_id: Uuid, page: PageRequest) -> Result<Page<Epn>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<Epn> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM epns WHERE tenant_id = $3 AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
    )))
    .bind(page.after)
    .bind(page.fetch_limit())
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |e| e.id))
}

/// The places a voucher's letter lists: the EPNs taking part in a scheme nearest the holder's
/// commune, at most `limit`, and how many take part in all (the letter says where to find the
/// others).
#[derive(Debug, Clone)]
pub struct NearestPlaces {
    pub places: Vec<Epn>,
    pub taking_part: usize,
}

/// What ranks a place by its nearness.
#[derive(sqlx::FromRow)]
struct PlaceToRank {
    id: Uuid,
    commune_insee: Option<String>,
    postal_code: Option<String>,
    commune: Option<String>,
    name: String,
}

/// The EPNs taking part in a scheme nearest a commune (by `communes::closeness`: same commune,
/// intercommunality, arrondissement, département), then by commune and name. An EPN without a
/// commune code is compared by its postal code's département. Without a commune: by commune and
/// name.
pub async fn nearest_to_commune(
    db: &Db,
    tenant_id: Uuid,
    scheme_id: Uuid,
    commune_insee: Option<&str>,
    limit: usize,
) -> Result<NearestPlaces, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    // Only what the ranking needs, for every place taking part (a région counts a few thousand);
    // then the whole rows of the few kept.
    let candidates: Vec<PlaceToRank> = sqlx::query_as(
        "SELECT e.id, e.commune_insee, e.postal_code, e.commune, e.name
           FROM epns e JOIN epn_schemes s ON s.tenant_id = e.tenant_id AND s.epn_id = e.id
          WHERE e.tenant_id = $2 AND s.scheme_id = $1",
    )
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    let taking_part = candidates.len();
    let rank = |place: &PlaceToRank| {
        use crate::communes::{Closeness, closeness, closeness_by_postal_code};
        let near = match (commune_insee, &place.commune_insee, &place.postal_code) {
            (None, _, _) | (Some(_), None, None) => Closeness::Further,
            (Some(home), Some(code), _) => closeness(home, code),
            (Some(home), None, Some(postal_code)) => closeness_by_postal_code(home, postal_code),
        };
        (
            near,
            place.commune.is_none(),
            place.commune.clone(),
            place.name.clone(),
        )
    };
    let mut ranked: Vec<_> = candidates.iter().map(|c| (rank(c), c.id)).collect();
    ranked.sort();
    let kept: Vec<Uuid> = ranked.into_iter().take(limit).map(|(_, id)| id).collect();
    let mut places: Vec<Epn> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM epns WHERE tenant_id = $2 AND id = ANY($1)"
    )))
    .bind(&kept)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    places.sort_by_key(|e| kept.iter().position(|id| *id == e.id));
    Ok(NearestPlaces {
        places,
        taking_part,
    })
}

/// The EPNs taking part in a scheme, by commune then name: the choices of a project's form.
pub async fn taking_part(db: &Db, tenant_id: Uuid, scheme_id: Uuid) -> Result<Vec<Epn>, Error> {
    nearest(db, tenant_id, scheme_id, None, 500).await
}

/// The EPNs taking part in a scheme nearest a postal code, for a person without an account: those
/// of that postal code first, then of the same département, then the others, by commune and name.
/// (Without a postal code: by commune and name.)
pub async fn nearest(
    db: &Db,
    tenant_id: Uuid,
    scheme_id: Uuid,
    postal_code: Option<&str>,
    limit: i64,
) -> Result<Vec<Epn>, Error> {
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    // Overseas départements are the postal code's first three digits, the others its first two.
    let departement = postal_code.map(|code| {
        let digits = if code.starts_with("97") { 3 } else { 2 };
        code.chars().take(digits).collect::<String>()
    });
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {columns} FROM epns e JOIN epn_schemes s ON s.tenant_id = e.tenant_id AND s.epn_id = e.id
          WHERE e.tenant_id = $5 AND s.scheme_id = $1
          ORDER BY coalesce(e.postal_code = $2, false) DESC,
                   coalesce(starts_with(e.postal_code, $3), false) DESC,
                   e.commune NULLS LAST, e.name
          LIMIT $4"
    )))
    .bind(scheme_id)
    .bind(postal_code)
    .bind(departement)
    .bind(limit)
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// The modules an EPN offers in a scheme, with their titles (for a registration form).
pub async fn offered_module_titles(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Uuid,
    scheme_id: Uuid,
) -> Result<Vec<crate::schemes::Module>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows = sqlx::query_as(
        "SELECT m.number, m.title, m.family, m.resource_links, m.description
           FROM epn_modules o
           JOIN scheme_modules m ON m.tenant_id = o.tenant_id AND m.scheme_id = o.scheme_id AND m.number = o.module_number
          WHERE o.tenant_id = $3 AND o.epn_id = $1 AND o.scheme_id = $2 ORDER BY m.number",
    )
    .bind(epn_id)
    .bind(scheme_id)
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// What an EPN offers in a scheme: taking part, and which of the scheme's modules.
/// Whether the EPN takes part in the scheme (it offers some of its modules): only then may it
/// register the scheme's vouchers, receive its accompaniment requests or run its projects.
pub(crate) async fn takes_part(tx: &mut Tx, epn_id: Uuid, scheme_id: Uuid) -> Result<bool, Error> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM epn_schemes WHERE tenant_id = $3 AND epn_id = $1 AND scheme_id = $2)",
    )
    .bind(epn_id)
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn set_offer(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    epn_id: Uuid,
    scheme_id: Uuid,
    modules: &[i32],
) -> Result<Vec<i32>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    fetch(&mut tx, epn_id).await?;
    sqlx::query("INSERT INTO epn_schemes (tenant_id, epn_id, scheme_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(tenant_id)
        .bind(epn_id)
        .bind(scheme_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM epn_modules WHERE tenant_id = $3 AND epn_id = $1 AND scheme_id = $2")
        .bind(epn_id)
        .bind(scheme_id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    let mut offered = modules.to_vec();
    offered.sort_unstable();
    offered.dedup();
    for number in &offered {
        sqlx::query("INSERT INTO epn_modules (tenant_id, epn_id, scheme_id, module_number) VALUES ($1, $2, $3, $4)")
            .bind(tenant_id)
            .bind(epn_id)
            .bind(scheme_id)
            .bind(number)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "epn.offer_changed",
        "epn",
        epn_id,
        json!({ "scheme_id": scheme_id, "modules": offered }),
    )
    .await?;
    tx.commit().await?;
    Ok(offered)
}

/// The modules an EPN offers in a scheme (empty when it does not take part).
pub async fn offered_modules(
    tx: &mut Tx,
    epn_id: Uuid,
    scheme_id: Uuid,
) -> Result<Vec<i32>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT module_number FROM epn_modules WHERE tenant_id = $3 AND epn_id = $1 AND scheme_id = $2 ORDER BY 1",
    )
    .bind(epn_id)
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_in_no_commune_is_refused_with_the_communes_of_that_name() {
        let place = EpnDetails {
            name: "Espace numérique".into(),
            commune: Some("Figeac".into()),
            commune_insee: Some("46341".into()),
            ..EpnDetails::default()
        };
        let Err(Error::Invalid(fields)) = place.validate() else {
            panic!("an unknown commune code is refused");
        };
        assert_eq!(fields[0].field, "code_insee");
        assert_eq!(
            fields[0].rule,
            Some(crate::FieldRule::UnknownCommune {
                code: "46341".into(),
                suggestions: vec!["Figeac (46102)".into()],
            })
        );
        let merged = EpnDetails {
            commune_insee: Some("01340".into()),
            ..place
        };
        assert!(
            merged.validate().is_ok(),
            "a commune merged since is accepted"
        );
    }

    #[test]
    fn ibans_are_checked_and_masked() {
        let good = BankDetails {
            iban: "FR76 3000 6000 0112 3456 7890 189".into(),
            bic: Some("agrifrpp".into()),
            account_holder: "Commune de Figeac".into(),
        };
        let (iban, bic) = good.validated().expect("valid");
        assert_eq!(iban, "FR7630006000011234567890189");
        assert_eq!(bic.as_deref(), Some("AGRIFRPP"));
        assert_eq!(mask_iban(&iban), "FR76…0189");
        let bad = BankDetails {
            iban: "FR76 3000 6000 0112 3456 7890 188".into(),
            ..good.clone()
        };
        assert!(bad.validated().is_err());
        assert!(is_rna("W463000123") && !is_rna("W46300012"));
    }
}
