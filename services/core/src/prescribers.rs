//! Prescriber organisations (CAF, CCAS, missions locales…), the bodies that hand out vouchers, and
//! their allocations: how many vouchers of a scheme they may issue over a period.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::pagination::{Page, PageRequest};
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::tenancy::tenants::is_email;
use crate::{Db, Error};

vocabulary! {
    /// The kind of a prescriber organisation; stored as its snake_case name. French names in
    /// `crate::labels::prescriber_kind`.
    pub enum PrescriberKind {
        Caf,
        Cpam,
        FranceTravail,
        Ccas,
        MissionLocale,
        Association,
        Employer,
        /// A structure of none of the kinds above.
        Other,
    }
}

/// A prescriber built without a kind is of none of the listed ones.
impl Default for PrescriberKind {
    fn default() -> Self {
        PrescriberKind::Other
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Prescriber {
    pub id: Uuid,
    pub name: String,
    pub kind: PrescriberKind,
    pub siret: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, kind, siret, contact_email, contact_phone, created_at";

#[derive(Debug, Clone, Default)]
pub struct NewPrescriber {
    pub name: String,
    pub kind: PrescriberKind,
    pub siret: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
}

/// A SIRET is 14 digits with a Luhn checksum (La Poste's establishments excepted by INSEE: their
/// SIREN 356000000 uses a digit sum divisible by 5).
pub fn is_siret(s: &str) -> bool {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits: Vec<u32> = s.bytes().map(|b| u32::from(b - b'0')).collect();
    if s.starts_with("356000000") {
        return digits.iter().sum::<u32>().is_multiple_of(5);
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl NewPrescriber {
    fn validate(&self) -> Result<(), Error> {
        let mut v = Validator::default();
        v.check(
            !self.name.trim().is_empty() && self.name.chars().count() <= 200,
            "name",
            "between 1 and 200 characters",
        )
        .check(
            self.siret.as_deref().is_none_or(is_siret),
            "siret",
            "14 digits with a valid checksum",
        )
        .check(
            self.contact_email.as_deref().is_none_or(is_email),
            "contact_email",
            "an email address",
        )
        .check(
            self.contact_phone.as_deref().is_none_or(|p| p.len() <= 30),
            "contact_phone",
            "at most 30 characters",
        );
        v.finish()
    }
}

pub async fn create(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    new: &NewPrescriber,
) -> Result<Prescriber, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let prescriber = insert(&mut tx, tenant_id, Uuid::now_v7(), actor, new).await?;
    tx.commit().await?;
    Ok(prescriber)
}

/// Inserts (or, for a known id, updates) a prescriber organisation.
pub(crate) async fn insert(
    tx: &mut Tx,
    tenant_id: Uuid,
    id: Uuid,
    actor: Actor,
    new: &NewPrescriber,
) -> Result<Prescriber, Error> {
    new.validate()?;
    let prescriber: Prescriber = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO prescribers (tenant_id, id, name, kind, siret, contact_email, contact_phone)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, siret = EXCLUDED.siret,
             contact_email = EXCLUDED.contact_email, contact_phone = EXCLUDED.contact_phone
         RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(id)
    .bind(new.name.trim())
    .bind(new.kind)
    .bind(&new.siret)
    .bind(&new.contact_email)
    .bind(&new.contact_phone)
    .fetch_one(&mut **tx)
    .await?;
    audit::record(
        tx,
        tenant_id,
        actor,
        "prescriber.saved",
        "prescriber",
        id,
        json!({ "name": prescriber.name, "kind": prescriber.kind.as_str() }),
    )
    .await?;
    Ok(prescriber)
}

/// What a tenant admin changes in a prescriber: `None` keeps a field, `Some(None)` clears an
/// optional one.
#[derive(Debug, Clone, Default)]
pub struct PrescriberChanges {
    pub name: Option<String>,
    pub kind: Option<PrescriberKind>,
    pub siret: Option<Option<String>>,
    pub contact_email: Option<Option<String>>,
    pub contact_phone: Option<Option<String>>,
}

/// Blank text typed in a form or sent by a client is no value.
fn filled(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Changes a prescriber with the validation of its creation; the audit log keeps each changed
/// field's value before and after.
pub async fn update(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
    changes: PrescriberChanges,
) -> Result<Prescriber, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let before: Prescriber = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM prescribers WHERE tenant_id = $2 AND id = $1 FOR UPDATE"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("prescriber"))?;
    let after = NewPrescriber {
        name: changes
            .name
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| before.name.clone()),
        kind: changes.kind.unwrap_or(before.kind),
        siret: changes
            .siret
            .map(filled)
            .unwrap_or_else(|| before.siret.clone()),
        contact_email: changes
            .contact_email
            .map(filled)
            .unwrap_or_else(|| before.contact_email.clone()),
        contact_phone: changes
            .contact_phone
            .map(filled)
            .unwrap_or_else(|| before.contact_phone.clone()),
    };
    after.validate()?;
    let updated: Prescriber = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE prescribers SET name = $2, kind = $3, siret = $4, contact_email = $5, contact_phone = $6
          WHERE tenant_id = $7 AND id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(&after.name)
    .bind(after.kind)
    .bind(&after.siret)
    .bind(&after.contact_email)
    .bind(&after.contact_phone)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    let pairs = [
        (
            "name",
            Some(before.name.clone()),
            Some(updated.name.clone()),
        ),
        (
            "kind",
            Some(before.kind.as_str().to_owned()),
            Some(updated.kind.as_str().to_owned()),
        ),
        ("siret", before.siret.clone(), updated.siret.clone()),
        (
            "contact_email",
            before.contact_email.clone(),
            updated.contact_email.clone(),
        ),
        (
            "contact_phone",
            before.contact_phone.clone(),
            updated.contact_phone.clone(),
        ),
    ];
    if let Some(details) = audit::changes(pairs) {
        audit::record(
            &mut tx,
            tenant_id,
            actor,
            "prescriber.updated",
            "prescriber",
            id,
            details,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(updated)
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Prescriber, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let prescriber = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM prescribers WHERE tenant_id = $2 AND id = $1"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("prescriber"))?;
    tx.commit().await?;
    Ok(prescriber)
}

pub async fn list(db: &Db, tenant_id: Uuid, page: PageRequest) -> Result<Page<Prescriber>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<Prescriber> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM prescribers WHERE tenant_id = $3 AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
    )))
    .bind(page.after)
    .bind(page.fetch_limit())
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |p| p.id))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Allocation {
    pub id: Uuid,
    pub prescriber_id: Uuid,
    pub scheme_id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub quantity: i32,
    pub issued: i32,
    pub created_at: DateTime<Utc>,
}

impl Allocation {
    pub fn remaining(&self) -> i32 {
        self.quantity - self.issued
    }
}

const ALLOCATION_COLUMNS: &str =
    "id, prescriber_id, scheme_id, period_start, period_end, quantity, issued, created_at";

#[derive(Debug, Clone)]
pub struct NewAllocation {
    pub scheme_id: Uuid,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub quantity: i32,
}

pub async fn allocate(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    prescriber_id: Uuid,
    new: &NewAllocation,
) -> Result<Allocation, Error> {
    let mut v = Validator::default();
    v.check(
        (0..=1_000_000).contains(&new.quantity),
        "quantity",
        "between 0 and 1,000,000",
    )
    .check(
        new.period_start <= new.period_end,
        "period_end",
        "must not be before period_start",
    );
    v.finish()?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let allocation: Allocation = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO allocations (tenant_id, id, prescriber_id, scheme_id, period_start, period_end, quantity)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ALLOCATION_COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(prescriber_id)
    .bind(new.scheme_id)
    .bind(new.period_start)
    .bind(new.period_end)
    .bind(new.quantity)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "allocation.created",
        "allocation",
        allocation.id,
        json!({ "prescriber_id": prescriber_id, "scheme_id": new.scheme_id, "quantity": new.quantity,
                "period_start": new.period_start, "period_end": new.period_end }),
    )
    .await?;
    tx.commit().await?;
    Ok(allocation)
}

/// Changes an allocation's quantity; never below what was already issued from it.
pub async fn set_quantity(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    prescriber_id: Uuid,
    allocation_id: Uuid,
    quantity: i32,
) -> Result<Allocation, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let before: Allocation = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ALLOCATION_COLUMNS} FROM allocations WHERE tenant_id = $3 AND id = $1 AND prescriber_id = $2 FOR UPDATE"
    )))
    .bind(allocation_id)
    .bind(prescriber_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("allocation"))?;
    let allocation: Allocation = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE allocations SET quantity = $2 WHERE tenant_id = $3 AND id = $1 RETURNING {ALLOCATION_COLUMNS}"
    )))
    .bind(allocation_id)
    .bind(quantity)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "allocation.changed",
        "allocation",
        allocation_id,
        json!({ "quantity_before": before.quantity, "quantity": quantity }),
    )
    .await?;
    tx.commit().await?;
    Ok(allocation)
}

/// A prescriber's allocations, optionally for one scheme, most recent period first; a prescriber
/// that does not exist is not found (not an empty list).
pub async fn allocations(
    db: &Db,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    scheme_id: Option<Uuid>,
) -> Result<Vec<Allocation>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    sqlx::query_scalar::<_, Uuid>("SELECT id FROM prescribers WHERE tenant_id = $2 AND id = $1")
        .bind(prescriber_id)
        .bind(tx.tenant_id())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("prescriber"))?;
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ALLOCATION_COLUMNS} FROM allocations WHERE tenant_id = $3 AND prescriber_id = $1 AND ($2::uuid IS NULL OR scheme_id = $2)
          ORDER BY period_start DESC LIMIT 500"
    )))
    .bind(prescriber_id)
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Every allocation of the tenant, most recent period first (a page listing all organisations
/// reads them at once).
pub async fn tenant_allocations(db: &Db, tenant_id: Uuid) -> Result<Vec<Allocation>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ALLOCATION_COLUMNS} FROM allocations WHERE tenant_id = $1
          ORDER BY period_start DESC, id LIMIT 5000"
    )))
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Takes one voucher from the allocation covering `on` — a guarded increment, so concurrent
/// issuances never exceed the quantity. Returns the allocation, or a conflict with the stock left.
pub(crate) async fn take_one(
    tx: &mut Tx,
    prescriber_id: Uuid,
    scheme_id: Uuid,
    on: NaiveDate,
) -> Result<Uuid, Error> {
    let taken: Option<Uuid> = sqlx::query_scalar(
        "UPDATE allocations SET issued = issued + 1
          WHERE tenant_id = $4 AND prescriber_id = $1 AND scheme_id = $2 AND period_start <= $3 AND period_end >= $3 AND issued < quantity
          RETURNING id",
    )
    .bind(prescriber_id)
    .bind(scheme_id)
    .bind(on)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?;
    match taken {
        Some(id) => Ok(id),
        None => {
            let current: Option<(i32, i32)> = sqlx::query_as(
                "SELECT quantity, issued FROM allocations
                  WHERE tenant_id = $4 AND prescriber_id = $1 AND scheme_id = $2 AND period_start <= $3 AND period_end >= $3",
            )
            .bind(prescriber_id)
            .bind(scheme_id)
            .bind(on)
            .bind(tx.tenant_id())
            .fetch_optional(&mut **tx)
            .await?;
            Err(match current {
                Some((quantity, issued)) => Refusal::AllocationUsedUp { issued, quantity },
                None => Refusal::NoAllocation { on },
            }
            .into())
        }
    }
}

/// How a prescriber's vouchers have fared, from issuance to completion.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Funnel {
    pub issued: i64,
    /// Registered at an EPN (and possibly further along).
    pub registered: i64,
    /// At least one minute used.
    pub started: i64,
    pub completed: i64,
    /// Past validity with no minute used.
    pub expired_unused: i64,
    pub cancelled: i64,
}

pub async fn funnel(
    db: &Db,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    scheme_id: Option<Uuid>,
    today: NaiveDate,
) -> Result<Funnel, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    sqlx::query_scalar::<_, Uuid>("SELECT id FROM prescribers WHERE tenant_id = $2 AND id = $1")
        .bind(prescriber_id)
        .bind(tx.tenant_id())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("prescriber"))?;
    let funnel = sqlx::query_as(
        "SELECT count(*) AS issued,
                count(*) FILTER (WHERE status IN ('registered', 'in_progress', 'completed')) AS registered,
                count(*) FILTER (WHERE minutes_left < minutes_total) AS started,
                count(*) FILTER (WHERE status = 'completed') AS completed,
                count(*) FILTER (WHERE voucher_expired_unused(status, minutes_left, minutes_total,
                                                               valid_until, $3)) AS expired_unused,
                count(*) FILTER (WHERE status = 'cancelled') AS cancelled
           FROM vouchers WHERE tenant_id = $4 AND prescriber_id = $1 AND ($2::uuid IS NULL OR scheme_id = $2)",
    )
    .bind(prescriber_id)
    .bind(scheme_id)
    .bind(today)
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(funnel)
}

#[cfg(test)]
mod tests {
    use super::is_siret;

    #[test]
    fn sirets_are_checked_with_luhn() {
        assert!(is_siret("73282932000074"));
        assert!(is_siret("53478519700011"));
        assert!(!is_siret("53478519700018"), "one digit off");
        assert!(!is_siret("5347851970001"), "13 digits");
        assert!(!is_siret("5347851970001A"));
    }
}
