//! An EPN's bank details change under four eyes. A changed IBAN is the classic public-payment
//! fraud (a forged letter or a stolen account asks for the next transfer to go elsewhere), so a
//! new IBAN — even the first — is only *submitted* (by the EPN's staff or a tenant admin) and takes
//! effect when a tenant admin or finance officer other than the submitter confirms it, having
//! checked it against the bank's document. Until then the EPN keeps its confirmed account, which is
//! the only one the SEPA file reads. Every step is audited with the IBAN masked.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{BankDetails, mask_iban};
use crate::audit::{self, Actor};
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::{Db, Error};

vocabulary! {
    /// Where a submitted change of bank details stands.
    pub enum BankChangeStatus {
        /// Waiting for a second person to confirm it.
        Pending,
        /// Confirmed: it is the EPN's account now.
        Confirmed,
        /// Refused by the confirmer, with the reason.
        Rejected,
        /// Replaced by a later submission before anyone decided.
        Superseded,
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BankChange {
    pub id: Uuid,
    pub epn_id: Uuid,
    pub epn_name: String,
    pub iban: String,
    pub bic: Option<String>,
    pub account_holder: String,
    pub status: BankChangeStatus,
    pub submitted_by: Option<Uuid>,
    pub submitted_by_name: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// The account the EPN is paid to today, to compare with.
    pub current_iban: Option<String>,
}

const SELECT: &str = "SELECT c.id, c.epn_id, e.name AS epn_name, c.iban, c.bic, c.account_holder, c.status,
        c.submitted_by, u.display_name AS submitted_by_name, c.submitted_at, c.decided_by, c.decided_at,
        c.reason, e.iban AS current_iban
    FROM epn_bank_changes c
    JOIN epns e ON e.tenant_id = c.tenant_id AND e.id = c.epn_id
    LEFT JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.submitted_by";

/// Who may see or submit: the EPN's own staff are scoped to their EPN; another EPN's change is
/// not found.
fn in_scope(change: &BankChange, epn: Option<Uuid>) -> bool {
    epn.is_none_or(|own| own == change.epn_id)
}

async fn fetch(tx: &mut Tx, id: Uuid) -> Result<BankChange, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE c.tenant_id = $2 AND c.id = $1"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("bank change"))
}

/// Submits new bank details for an EPN: they wait for another person's confirmation. A change
/// already waiting for the same EPN is superseded (the latest submission is the one to check).
/// `reader_epn` is the submitter's own EPN when they are an EPN's staff: another EPN is not found.
pub async fn submit(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    epn_id: Uuid,
    reader_epn: Option<Uuid>,
    bank: &BankDetails,
) -> Result<BankChange, Error> {
    if reader_epn.is_some_and(|own| own != epn_id) {
        return Err(Error::NotFound("epn"));
    }
    let (iban, bic) = bank.validated()?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    // Two submissions for the same EPN take turns: each supersedes what waits before it.
    sqlx::query_scalar::<_, Uuid>(
        "SELECT id FROM epns WHERE tenant_id = $2 AND id = $1 FOR UPDATE",
    )
    .bind(epn_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("epn"))?;
    let superseded: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE epn_bank_changes SET status = 'superseded', decided_at = now(), decided_by = $2
          WHERE tenant_id = $3 AND epn_id = $1 AND status = 'pending' RETURNING id",
    )
    .bind(epn_id)
    .bind(actor.user_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO epn_bank_changes (tenant_id, id, epn_id, iban, bic, account_holder, submitted_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(epn_id)
    .bind(&iban)
    .bind(&bic)
    .bind(bank.account_holder.trim())
    .bind(actor.user_id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "epn.bank_change_submitted",
        "epn",
        epn_id,
        json!({ "change_id": id, "iban": mask_iban(&iban), "bic": bic, "superseded": superseded }),
    )
    .await?;
    let change = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(change)
}

/// The changes waiting for confirmation, oldest first; for an EPN's staff, their EPN's only.
pub async fn pending(
    db: &Db,
    tenant_id: Uuid,
    epn: Option<Uuid>,
) -> Result<Vec<BankChange>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let changes = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE c.tenant_id = $2 AND c.status = 'pending' AND ($1::uuid IS NULL OR c.epn_id = $1) ORDER BY c.submitted_at"
    )))
    .bind(epn)
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(changes)
}

/// The EPN's latest change, whatever its outcome: what its staff see on their page.
pub async fn latest(db: &Db, tenant_id: Uuid, epn_id: Uuid) -> Result<Option<BankChange>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let change = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE c.tenant_id = $2 AND c.epn_id = $1 ORDER BY c.submitted_at DESC, c.id DESC LIMIT 1"
    )))
    .bind(epn_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(change)
}

/// The pending change, locked, checked to be decidable by this actor.
async fn decidable(tx: &mut Tx, actor: &Actor, id: Uuid) -> Result<BankChange, Error> {
    sqlx::query("SELECT 1 FROM epn_bank_changes WHERE tenant_id = $2 AND id = $1 FOR UPDATE")
        .bind(id)
        .bind(tx.tenant_id())
        .execute(&mut **tx)
        .await?;
    let change = fetch(tx, id).await?;
    if change.status != BankChangeStatus::Pending {
        return Err(Refusal::BankChangeAlreadyDecided {
            status: change.status,
        }
        .into());
    }
    // Four eyes: the one who submitted cannot decide. A change submitted by no signed-in person
    // (the platform itself) cannot be decided by no one either.
    if actor.user_id.is_none() || actor.user_id == change.submitted_by {
        return Err(Refusal::BankChangeNeedsAnotherPerson.into());
    }
    Ok(change)
}

/// Confirms a pending change: the EPN is paid to this account from now on.
pub async fn confirm(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
) -> Result<BankChange, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let change = decidable(&mut tx, &actor, id).await?;
    sqlx::query(
        "UPDATE epns SET iban = $2, bic = $3, account_holder = $4, updated_at = now() WHERE tenant_id = $5 AND id = $1",
    )
    .bind(change.epn_id)
    .bind(&change.iban)
    .bind(&change.bic)
    .bind(&change.account_holder)
    .bind(tx.tenant_id())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE epn_bank_changes SET status = 'confirmed', decided_by = $2, decided_at = now() WHERE tenant_id = $3 AND id = $1",
    )
    .bind(id)
    .bind(actor.user_id)
    .bind(tx.tenant_id())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "epn.bank_details_changed",
        "epn",
        change.epn_id,
        json!({
            "change_id": id,
            "iban": mask_iban(&change.iban),
            "previous_iban": change.current_iban.as_deref().map(mask_iban),
            "bic": change.bic,
            "submitted_by": change.submitted_by,
        }),
    )
    .await?;
    let confirmed = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(confirmed)
}

/// Rejects a pending change, with the reason the EPN reads; its account stays as it was.
pub async fn reject(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
    reason: &str,
) -> Result<BankChange, Error> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::invalid("reason", "between 1 and 500 characters"));
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    let change = decidable(&mut tx, &actor, id).await?;
    sqlx::query(
        "UPDATE epn_bank_changes SET status = 'rejected', decided_by = $2, decided_at = now(), reason = $3
          WHERE tenant_id = $4 AND id = $1",
    )
    .bind(id)
    .bind(actor.user_id)
    .bind(reason)
    .bind(tx.tenant_id())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "epn.bank_change_rejected",
        "epn",
        change.epn_id,
        json!({ "change_id": id, "iban": mask_iban(&change.iban), "reason": reason }),
    )
    .await?;
    let rejected = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(rejected)
}

/// A change as its reader may see it: `epn` is the reader's EPN when they are an EPN's staff.
pub async fn get(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    epn: Option<Uuid>,
) -> Result<BankChange, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let change = fetch(&mut tx, id).await?;
    tx.commit().await?;
    if !in_scope(&change, epn) {
        return Err(Error::NotFound("bank change"));
    }
    Ok(change)
}
