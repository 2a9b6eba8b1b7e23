use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::error::Validator;
use crate::pagination::{Page, PageRequest};
use crate::storage::Tx;
use crate::tenancy::branding::LogoFormat;
use crate::{Db, Error};

/// A territory's kind; stored as its snake_case name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    sqlx::Type,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TenantKind {
    Departement,
    Region,
}

impl TenantKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub kind: TenantKind,
    pub insee_code: String,
    pub time_zone: String,
    pub sender_name: String,
    pub sender_email: String,
    pub reference_prefix: String,
    pub created_at: DateTime<Utc>,
    /// The name the territory chose to be shown by (`branding`), when it differs from `name`.
    pub display_name: Option<String>,
    /// The current logo's format and digest; its bytes are in `tenant_logos`.
    pub logo_format: Option<LogoFormat>,
    pub logo_sha256: Option<String>,
}

impl Tenant {
    /// The name its pages, letters and emails show: the one it chose, else its registered name.
    pub fn shown_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }

    /// The logo's public address, relative to the service, changing with the logo (so that it
    /// can be cached for long); `None` without a logo.
    pub fn logo_path(&self) -> Option<String> {
        let sha256 = self.logo_sha256.as_deref()?;
        Some(crate::tenancy::branding::logo_path(&self.slug, sha256))
    }

    /// The tenant's time zone (validated on creation; Paris if the stored name ever fails to parse).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::Europe::Paris)
    }

    /// Today's date where the tenant is: business dates are local dates.
    pub fn today(&self) -> chrono::NaiveDate {
        Utc::now().with_timezone(&self.tz()).date_naive()
    }
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub kind: TenantKind,
    pub insee_code: String,
    pub time_zone: String,
    pub sender_name: String,
    pub sender_email: String,
    /// Starts every voucher reference (e.g. `LOT`); derived from the slug when absent.
    pub reference_prefix: Option<String>,
}

impl NewTenant {
    pub fn reference_prefix(&self) -> String {
        self.reference_prefix.clone().unwrap_or_else(|| {
            self.slug
                .chars()
                .filter(char::is_ascii_alphabetic)
                .take(3)
                .collect::<String>()
                .to_ascii_uppercase()
        })
    }

    pub fn validate(&self) -> Result<(), Error> {
        let mut v = Validator::default();
        v.check(is_slug(&self.slug), "slug", "lowercase letters, digits and dashes, 2 to 63 characters, starting with a letter or digit")
            .check(!self.name.trim().is_empty() && self.name.chars().count() <= 200, "name", "between 1 and 200 characters")
            .check(is_insee_area_code(&self.insee_code), "insee_code", "an INSEE département or région code such as 46, 2A, 971 or 84")
            .check(self.time_zone.parse::<chrono_tz::Tz>().is_ok(), "time_zone", "an IANA time zone such as Europe/Paris")
            .check(!self.sender_name.trim().is_empty() && self.sender_name.chars().count() <= 200, "sender_name", "between 1 and 200 characters")
            .check(is_email(&self.sender_email), "sender_email", "an email address")
            .check(
                (2..=5).contains(&self.reference_prefix().len())
                    && self.reference_prefix().bytes().all(|b| b.is_ascii_uppercase()),
                "reference_prefix",
                "2 to 5 capital letters (e.g. LOT), unique across tenants",
            );
        v.finish()
    }
}

fn is_slug(s: &str) -> bool {
    (2..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

fn is_insee_area_code(s: &str) -> bool {
    matches!(s, "2A" | "2B")
        || ((2..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
}

/// A deliberately loose check: one `@`, something on each side, a dot in the domain, no spaces.
/// Deliverability is proven by sending, not by a regular expression.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && !domain.contains('@')
}

pub async fn create(db: &Db, new: &NewTenant) -> Result<Tenant, Error> {
    new.validate()?;
    let mut tx = db.begin_platform().await?;
    let tenant = insert(&mut tx, new).await?;
    tx.commit().await?;
    Ok(tenant)
}

async fn insert(tx: &mut Tx, new: &NewTenant) -> Result<Tenant, Error> {
    Ok(sqlx::query_as(
        "INSERT INTO tenants (id, slug, name, kind, insee_code, time_zone, sender_name, sender_email, reference_prefix)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
    )
    .bind(Uuid::now_v7())
    .bind(&new.slug)
    .bind(new.name.trim())
    .bind(new.kind)
    .bind(&new.insee_code)
    .bind(&new.time_zone)
    .bind(new.sender_name.trim())
    .bind(&new.sender_email)
    .bind(new.reference_prefix())
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn list(db: &Db, page: PageRequest) -> Result<Page<Tenant>, Error> {
    let rows: Vec<Tenant> = sqlx::query_as(
        "SELECT * FROM tenants WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
    )
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(db.pool())
    .await?;
    Ok(Page::from_rows(rows, page, |t| t.id))
}

/// A tenant, from the process's memory when it is kept there (a change to its row is announced
/// with `Change::Tenant`, which every process hears).
pub async fn get(db: &Db, id: Uuid) -> Result<Tenant, Error> {
    if let Some(tenant) = db.memory().tenant(id) {
        return Ok(tenant);
    }
    let read_at = db.memory().generation();
    let tenant: Tenant = sqlx::query_as("SELECT * FROM tenants WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    db.memory().keep_tenant(read_at, tenant.clone());
    Ok(tenant)
}

/// Every tenant's id, for jobs that visit each tenant in turn.
pub async fn all_ids(db: &Db) -> Result<Vec<Uuid>, Error> {
    Ok(sqlx::query_scalar("SELECT id FROM tenants ORDER BY id")
        .fetch_all(db.pool())
        .await?)
}

/// The tenants for which `exists` — a query of one boolean, the tenant's id as `$1` — holds, each
/// asked under its own setting, as row-level security requires: what the worker's relays visit.
pub async fn where_any(db: &Db, exists: &'static str) -> Result<Vec<Uuid>, Error> {
    let mut found = Vec::new();
    for tenant_id in all_ids(db).await? {
        let mut tx = db.begin_tenant(tenant_id).await?;
        let any: bool = sqlx::query_scalar(exists)
            .bind(tenant_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        if any {
            found.push(tenant_id);
        }
    }
    Ok(found)
}

/// The tenant whose references start with `prefix`, from memory when kept: the public balance
/// check reads it first.
pub async fn find_by_reference_prefix(db: &Db, prefix: &str) -> Result<Option<Tenant>, Error> {
    if let Some(tenant) = db.memory().tenant_where(|t| t.reference_prefix == prefix) {
        return Ok(Some(tenant));
    }
    let read_at = db.memory().generation();
    let tenant: Option<Tenant> =
        sqlx::query_as("SELECT * FROM tenants WHERE reference_prefix = $1")
            .bind(prefix)
            .fetch_optional(db.pool())
            .await?;
    if let Some(tenant) = &tenant {
        db.memory().keep_tenant(read_at, tenant.clone());
    }
    Ok(tenant)
}

/// The tenant of a portal address, from memory when kept: every portal page reads it first.
pub async fn find_by_slug(db: &Db, slug: &str) -> Result<Option<Tenant>, Error> {
    if let Some(tenant) = db.memory().tenant_where(|t| t.slug == slug) {
        return Ok(Some(tenant));
    }
    let read_at = db.memory().generation();
    let tenant: Option<Tenant> = sqlx::query_as("SELECT * FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(db.pool())
        .await?;
    if let Some(tenant) = &tenant {
        db.memory().keep_tenant(read_at, tenant.clone());
    }
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_codes_and_emails() {
        for ok in ["46", "2A", "971", "84"] {
            assert!(is_insee_area_code(ok), "{ok}");
        }
        for bad in ["4", "2C", "4600", "A4", ""] {
            assert!(!is_insee_area_code(bad), "{bad}");
        }
        assert!(is_email("tickets@lot.fr"));
        for bad in ["lot.fr", "a@b", "a @b.fr", "@b.fr", "a@b.fr."] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
