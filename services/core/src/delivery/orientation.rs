//! Orientation toward certification: at the end of a journey (a voucher or a pass whose hours are
//! used, or that the animator closes), the EPN that ran it records where the person may go next —
//! PIX, PCIE, CléA numérique, a training body, another scheme, or nowhere for now — with a free
//! note. It shows in the holder's portfolio, in the funders' statistics and in the tenant's
//! per-voucher file.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::OrientationKind;
use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::vouchers::{self, Visibility};
use crate::{Db, Error};

/// The longest note: a few sentences for the next professional.
pub const MAX_NOTE_CHARS: usize = 1000;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Orientation {
    pub voucher_id: Uuid,
    pub kind: OrientationKind,
    pub note: Option<String>,
    pub epn_id: Uuid,
    pub recorded_at: DateTime<Utc>,
}

const COLUMNS: &str = "voucher_id, kind, note, epn_id, recorded_at";

/// The orientation of a voucher, if one was recorded.
pub async fn of(tx: &mut Tx, voucher_id: Uuid) -> Result<Option<Orientation>, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM voucher_orientations WHERE tenant_id = $2 AND voucher_id = $1"
    )))
    .bind(voucher_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?)
}

/// The EPN a voucher is (or was last) registered at: the one that runs its journey.
async fn last_epn(tx: &mut Tx, voucher_id: Uuid) -> Result<Option<Uuid>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT epn_id FROM registrations WHERE tenant_id = $2 AND voucher_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(voucher_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?)
}

/// Whether the EPN `epn_id` runs the journey of the voucher `reference` (the one that may orient
/// its holder).
pub async fn ran_by(
    db: &Db,
    tenant_id: Uuid,
    reference: &str,
    epn_id: Uuid,
) -> Result<bool, Error> {
    let voucher = vouchers::get(db, tenant_id, reference, Visibility::Tenant).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let epn = last_epn(&mut tx, voucher.id).await?;
    tx.commit().await?;
    Ok(epn == Some(epn_id))
}

/// Records (or replaces) the orientation of the voucher `reference` for the EPN `epn_id`, which
/// must be the EPN the voucher is (or was last) registered at — another EPN's voucher is not
/// found — once the journey has begun (some of its time used). Audited, note excluded (it is
/// about the person).
pub async fn record(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Uuid,
    actor: Actor,
    reference: &str,
    kind: OrientationKind,
    note: Option<&str>,
) -> Result<Orientation, Error> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    let mut v = Validator::default();
    v.check(
        note.is_none_or(|n| n.chars().count() <= MAX_NOTE_CHARS),
        "note",
        format!("at most {MAX_NOTE_CHARS} characters"),
    );
    v.finish()?;
    let voucher = vouchers::get(db, tenant_id, reference, Visibility::Tenant).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    if last_epn(&mut tx, voucher.id).await? != Some(epn_id) {
        return Err(Error::NotFound("voucher"));
    }
    if voucher.minutes_left >= voucher.minutes_total {
        return Err(Refusal::JourneyNotStarted.into());
    }
    let orientation: Orientation = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO voucher_orientations (tenant_id, voucher_id, kind, note, epn_id, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, voucher_id) DO UPDATE
            SET kind = excluded.kind, note = excluded.note, epn_id = excluded.epn_id,
                recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at
         RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(voucher.id)
    .bind(kind)
    .bind(note)
    .bind(epn_id)
    .bind(actor.user_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "voucher.oriented",
        "voucher",
        voucher.id,
        json!({ "kind": kind, "epn_id": epn_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(orientation)
}
