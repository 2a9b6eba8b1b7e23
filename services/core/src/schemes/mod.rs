//! Schemes ("dispositifs"): a code, a name, a status, a module catalogue, and rules kept as
//! immutable versions, each effective from a date.

pub mod catalogue;
pub mod presets;
pub mod rules;
pub mod status;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

pub use catalogue::Module;
use catalogue::validate_modules;
pub use rules::SchemeRules;
pub use status::SchemeStatus;

use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::pagination::{Page, PageRequest};
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::tenancy::tenants;
use crate::{Db, Error};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Scheme {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub status: SchemeStatus,
    pub preset: Option<String>,
    /// The competency referential sessions are assessed against (shared reference data).
    pub referential_code: String,
    pub created_at: DateTime<Utc>,
    /// The prescriber whose allocation funds requests from the public form, when the tenant admin
    /// chose one: EPNs then accept those requests themselves.
    pub public_requests_funded_by: Option<Uuid>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SchemeVersion {
    pub version: i32,
    pub effective_from: NaiveDate,
    pub rules: Json<SchemeRules>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct SchemeDetail {
    pub scheme: Scheme,
    /// The version in force today (none if every version starts in the future).
    pub current: Option<SchemeVersion>,
    pub versions: Vec<SchemeVersion>,
    pub modules: Vec<Module>,
}

#[derive(Debug, Clone, Default)]
pub struct NewScheme {
    pub code: String,
    pub name: String,
    /// Start from a preset (`ticket-net`, `pass-numerique`); explicit rules or modules replace
    /// the preset's.
    pub preset: Option<String>,
    pub rules: Option<SchemeRules>,
    pub modules: Option<Vec<Module>>,
    /// When version 1 takes effect; today by default.
    pub effective_from: Option<NaiveDate>,
    /// The competency referential; `crcn` by default.
    pub referential: Option<String>,
}

pub async fn create(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    new: NewScheme,
) -> Result<SchemeDetail, Error> {
    let preset = match &new.preset {
        Some(code) => Some(presets::get(code).ok_or_else(|| {
            Error::invalid("preset", format!("one of {}", presets::ALL.join(", ")))
        })?),
        None => None,
    };
    let rules = match (new.rules, &preset) {
        (Some(rules), _) => rules,
        (None, Some(p)) => p.rules.clone(),
        (None, None) => return Err(Error::invalid("rules", "required when no preset is given")),
    }
    .normalised();
    let modules = match (new.modules, &preset) {
        (Some(modules), _) => modules,
        (None, Some(p)) => p
            .modules
            .iter()
            .map(|m| Module {
                number: m.number as i32,
                title: m.title.to_owned(),
                family: m.family.to_owned(),
                resource_links: m.resource_links.iter().map(|l| (*l).to_owned()).collect(),
                description: m.description.map(str::to_owned),
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    let mut v = Validator::default();
    v.check(
        (2..=63).contains(&new.code.len())
            && new
                .code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "code",
        "lowercase letters, digits and dashes, 2 to 63 characters",
    )
    .check(
        is_scheme_name(&new.name),
        "name",
        "between 1 and 200 characters",
    );
    v.finish()?;
    validate_modules(&modules)?;
    rules.validate(Some(modules.len()))?;

    let tenant = tenants::get(db, tenant_id).await?;
    let effective_from = new.effective_from.unwrap_or_else(|| tenant.today());
    let mut tx = db.begin_tenant(tenant_id).await?;
    let scheme: Scheme = sqlx::query_as(
        "INSERT INTO schemes (tenant_id, id, code, name, preset, referential_code) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, code, name, status, preset, referential_code, created_at, public_requests_funded_by",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(&new.code)
    .bind(new.name.trim())
    .bind(&new.preset)
    .bind(new.referential.as_deref().unwrap_or("crcn"))
    .fetch_one(&mut *tx)
    .await?;
    insert_version(
        &mut tx,
        tenant_id,
        scheme.id,
        1,
        effective_from,
        &rules,
        actor,
    )
    .await?;
    for module in &modules {
        catalogue::insert(&mut tx, tenant_id, scheme.id, module).await?;
    }
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "scheme.created",
        "scheme",
        scheme.id,
        json!({ "code": scheme.code, "preset": scheme.preset, "rules": rules, "modules": modules.len() }),
    )
    .await?;
    let detail = load_detail(&mut tx, scheme, tenant.today()).await?;
    tx.commit().await?;
    Ok(detail)
}

async fn insert_version(
    tx: &mut Tx,
    tenant_id: Uuid,
    scheme_id: Uuid,
    version: i32,
    effective_from: NaiveDate,
    rules: &SchemeRules,
    actor: Actor,
) -> Result<SchemeVersion, Error> {
    Ok(sqlx::query_as(
        "INSERT INTO scheme_versions (tenant_id, scheme_id, version, effective_from, rules, created_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING version, effective_from, rules, created_at",
    )
    .bind(tenant_id)
    .bind(scheme_id)
    .bind(version)
    .bind(effective_from)
    .bind(Json(rules))
    .bind(actor.user_id)
    .fetch_one(&mut **tx)
    .await?)
}

async fn load_detail(tx: &mut Tx, scheme: Scheme, today: NaiveDate) -> Result<SchemeDetail, Error> {
    let versions: Vec<SchemeVersion> = sqlx::query_as(
        "SELECT version, effective_from, rules, created_at FROM scheme_versions WHERE tenant_id = $2 AND scheme_id = $1 ORDER BY version",
    )
    .bind(scheme.id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?;
    let modules = catalogue::of(tx, scheme.id).await?;
    let current = versions
        .iter()
        .filter(|v| v.effective_from <= today)
        .max_by_key(|v| v.effective_from)
        .cloned();
    Ok(SchemeDetail {
        scheme,
        current,
        versions,
        modules,
    })
}

/// The scheme, locked until the transaction ends: its rules or catalogue are about to change.
async fn fetch_for_update(tx: &mut Tx, id: Uuid) -> Result<Scheme, Error> {
    sqlx::query_as(
        "SELECT id, code, name, status, preset, referential_code, created_at, public_requests_funded_by FROM schemes WHERE tenant_id = $2 AND id = $1 FOR UPDATE",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("scheme"))
}

async fn fetch(tx: &mut Tx, id: Uuid) -> Result<Scheme, Error> {
    sqlx::query_as("SELECT id, code, name, status, preset, referential_code, created_at, public_requests_funded_by FROM schemes WHERE tenant_id = $2 AND id = $1")
        .bind(id)
        .bind(tx.tenant_id())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("scheme"))
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<SchemeDetail, Error> {
    let today = tenants::get(db, tenant_id).await?.today();
    let mut tx = db.begin_tenant(tenant_id).await?;
    let scheme = fetch(&mut tx, id).await?;
    let detail = load_detail(&mut tx, scheme, today).await?;
    tx.commit().await?;
    Ok(detail)
}

/// A scheme's name as people read it on letters, pages and emails.
fn is_scheme_name(name: &str) -> bool {
    !name.trim().is_empty() && name.chars().count() <= 200
}

/// Renames a scheme (the name letters, pages and emails show; its code, in public addresses,
/// stays). Audited before and after.
pub async fn rename(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    scheme_id: Uuid,
    name: &str,
) -> Result<SchemeDetail, Error> {
    let mut v = Validator::default();
    v.check(is_scheme_name(name), "name", "between 1 and 200 characters");
    v.finish()?;
    let today = tenants::get(db, tenant_id).await?.today();
    let mut tx = db.begin_tenant(tenant_id).await?;
    let before = fetch_for_update(&mut tx, scheme_id).await?;
    let scheme: Scheme = sqlx::query_as(
        "UPDATE schemes SET name = $2 WHERE tenant_id = $3 AND id = $1
         RETURNING id, code, name, status, preset, referential_code, created_at, public_requests_funded_by",
    )
    .bind(scheme_id)
    .bind(name.trim())
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    if let Some(details) = audit::changes([("name", Some(before.name), Some(scheme.name.clone()))])
    {
        audit::record(
            &mut tx,
            tenant_id,
            actor,
            "scheme.renamed",
            "scheme",
            scheme_id,
            details,
        )
        .await?;
    }
    let detail = load_detail(&mut tx, scheme, today).await?;
    tx.commit().await?;
    Ok(detail)
}

/// Chooses the prescriber whose allocation funds the scheme's requests from the public form (or
/// none: then only a tenant admin accepts them, choosing each time). Audited.
pub async fn set_public_request_funding(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    scheme_id: Uuid,
    prescriber_id: Option<Uuid>,
) -> Result<SchemeDetail, Error> {
    let today = tenants::get(db, tenant_id).await?.today();
    let mut tx = db.begin_tenant(tenant_id).await?;
    let before = fetch_for_update(&mut tx, scheme_id).await?;
    let scheme: Scheme = sqlx::query_as(
        "UPDATE schemes SET public_requests_funded_by = $2 WHERE tenant_id = $3 AND id = $1
         RETURNING id, code, name, status, preset, referential_code, created_at, public_requests_funded_by",
    )
    .bind(scheme_id)
    .bind(prescriber_id)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "scheme.public_request_funding_set",
        "scheme",
        scheme_id,
        json!({ "before": before.public_requests_funded_by, "after": prescriber_id }),
    )
    .await?;
    let detail = load_detail(&mut tx, scheme, today).await?;
    tx.commit().await?;
    Ok(detail)
}

/// An active scheme found by its code, for the public pages (no account): the awareness kit and
/// the request form name the scheme in their address. A draft or closed scheme is not public.
pub async fn find_active(
    db: &Db,
    tenant: &tenants::Tenant,
    code: &str,
) -> Result<Option<SchemeDetail>, Error> {
    let mut tx = db.begin_tenant(tenant.id).await?;
    let scheme: Option<Scheme> = sqlx::query_as(
        "SELECT id, code, name, status, preset, referential_code, created_at, public_requests_funded_by FROM schemes
          WHERE tenant_id = $2 AND code = $1 AND status = 'active'",
    )
    .bind(code)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    let detail = match scheme {
        Some(scheme) => Some(load_detail(&mut tx, scheme, tenant.today()).await?),
        None => None,
    };
    tx.commit().await?;
    Ok(detail)
}

pub async fn list(db: &Db, tenant_id: Uuid, page: PageRequest) -> Result<Page<Scheme>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<Scheme> = sqlx::query_as(
        "SELECT id, code, name, status, preset, referential_code, created_at, public_requests_funded_by FROM schemes
          WHERE tenant_id = $3 AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
    )
    .bind(page.after)
    .bind(page.fetch_limit())
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |s| s.id))
}

/// Changes the rules from a date on (today or later). Vouchers already issued keep theirs.
pub async fn change_rules(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    scheme_id: Uuid,
    effective_from: NaiveDate,
    rules: SchemeRules,
) -> Result<SchemeDetail, Error> {
    let rules = rules.normalised();
    let today = tenants::get(db, tenant_id).await?.today();
    if effective_from < today {
        return Err(Error::invalid(
            "effective_from",
            format!("must be today ({today}) or later: rules never change in the past"),
        ));
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    let scheme = fetch_for_update(&mut tx, scheme_id).await?;
    if scheme.status == SchemeStatus::Closed {
        return Err(Refusal::SchemeClosed.into());
    }
    let modules = catalogue::of(&mut tx, scheme_id).await?;
    rules.validate(Some(modules.len()))?;
    let (latest_version, latest_from): (i32, NaiveDate) = sqlx::query_as(
        "SELECT version, effective_from FROM scheme_versions WHERE tenant_id = $2 AND scheme_id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    if effective_from <= latest_from {
        return Err(Error::invalid(
            "effective_from",
            format!("must be after the latest version's start ({latest_from})"),
        ));
    }
    let version = insert_version(
        &mut tx,
        tenant_id,
        scheme_id,
        latest_version + 1,
        effective_from,
        &rules,
        actor,
    )
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "scheme.rules_changed",
        "scheme",
        scheme_id,
        json!({ "version": version.version, "effective_from": effective_from, "rules": rules }),
    )
    .await?;
    let detail = load_detail(&mut tx, scheme, today).await?;
    tx.commit().await?;
    Ok(detail)
}

/// draft → active → closed (or draft → closed). Vouchers are issued only from active schemes.
pub async fn set_status(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    scheme_id: Uuid,
    status: SchemeStatus,
) -> Result<SchemeDetail, Error> {
    let today = tenants::get(db, tenant_id).await?.today();
    let mut tx = db.begin_tenant(tenant_id).await?;
    let scheme = fetch(&mut tx, scheme_id).await?;
    if scheme.status == status {
        let detail = load_detail(&mut tx, scheme, today).await?;
        tx.commit().await?;
        return Ok(detail);
    }
    if !scheme.status.can_become(status) {
        return Err(Refusal::SchemeStatusChange {
            from: scheme.status,
            to: status,
        }
        .into());
    }
    let scheme: Scheme = sqlx::query_as(
        "UPDATE schemes SET status = $2 WHERE tenant_id = $3 AND id = $1 RETURNING id, code, name, status, preset, referential_code, created_at, public_requests_funded_by",
    )
    .bind(scheme_id)
    .bind(status)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "scheme.status_changed",
        "scheme",
        scheme_id,
        json!({ "status": status }),
    )
    .await?;
    let detail = load_detail(&mut tx, scheme, today).await?;
    tx.commit().await?;
    Ok(detail)
}

/// The rules in force on a date, with their version number.
pub async fn rules_in_force(
    tx: &mut Tx,
    scheme_id: Uuid,
    on: NaiveDate,
) -> Result<(i32, SchemeRules), Error> {
    let row: Option<(i32, Json<SchemeRules>)> = sqlx::query_as(
        "SELECT version, rules FROM scheme_versions WHERE tenant_id = $3 AND scheme_id = $1 AND effective_from <= $2
          ORDER BY effective_from DESC LIMIT 1",
    )
    .bind(scheme_id)
    .bind(on)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|(version, rules)| (version, rules.0))
        .ok_or_else(|| Refusal::NoRulesInForce { on }.into())
}
