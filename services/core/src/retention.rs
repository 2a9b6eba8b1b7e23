//! Personal data is not kept for ever: once a holder's last voucher ended (its last valid day) more
//! than the tenant's retention period ago (3 years by default), their personal data is erased the
//! way a GDPR erasure does it (`beneficiaries::erase_in`); a person registered without any voucher
//! counts from their registration. A request from the public form left undecided that long is
//! declined and its details wiped. The daily run does it once a day per tenant, at most
//! `MAX_PER_DAY` people a day so that a first run on an old tenant stays a short transaction, and
//! writes one audit entry per purge.

use chrono::{Months, NaiveDate};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::beneficiaries::{self, Beneficiary};
use crate::storage::scheduled_runs;
use crate::{Db, Error};

pub const DEFAULT_YEARS: i32 = 3;
pub const MAX_PER_DAY: i64 = 2_000;
const JOB: &str = "retention_purge";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeSummary {
    /// False when this day's purge had already run.
    pub ran: bool,
    pub years: i32,
    /// Data of holders whose last voucher ended before this day is erased.
    pub cutoff: Option<NaiveDate>,
    pub erased: i64,
    /// Public-form requests left undecided since before the cutoff, declined and wiped.
    pub requests_wiped: i64,
}

/// Runs the tenant's purge for `today` (its own time zone) unless it already ran that day.
pub async fn purge_day(db: &Db, tenant_id: Uuid, today: NaiveDate) -> Result<PurgeSummary, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    if !scheduled_runs::claim(&mut tx, tenant_id, JOB, today).await? {
        tx.rollback().await?;
        return Ok(PurgeSummary::default());
    }
    let years: i32 = sqlx::query_scalar("SELECT retention_years FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_one(&mut *tx)
        .await?;
    let cutoff = today
        .checked_sub_months(Months::new(u32::try_from(years).unwrap_or(3) * 12))
        .unwrap_or(today);
    let due: Vec<Beneficiary> = sqlx::query_as(
        "SELECT b.id, b.first_name, b.last_name, b.birth_year, b.commune_insee, b.public_category,
                b.email, b.phone, b.email_consent, b.email_consent_at, b.prescriber_id, b.created_at,
                b.erased_at
           FROM beneficiaries b
           LEFT JOIN LATERAL (SELECT max(v.valid_until) AS last_day FROM vouchers v
                               WHERE v.tenant_id = $3 AND v.beneficiary_id = b.id) v ON true
          WHERE b.tenant_id = $3 AND b.erased_at IS NULL
            AND coalesce(v.last_day, b.created_at::date) < $1
          ORDER BY b.id LIMIT $2",
    )
    .bind(cutoff)
    .bind(MAX_PER_DAY)
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    for person in &due {
        beneficiaries::erase_in(&mut tx, person).await?;
    }
    let requests_wiped = sqlx::query(
        "UPDATE accompaniment_requests
            SET status = 'declined', decided_at = now(),
                decision_reason = 'Demande restée sans réponse, effacée au terme de la durée de conservation',
                first_name = NULL, last_name = NULL, birth_year = NULL, commune_insee = NULL,
                public_category = NULL, email = NULL, phone = NULL, message = NULL,
                postal_code = NULL, commune_name = NULL
          WHERE tenant_id = $2 AND status = 'pending' AND beneficiary_id IS NULL AND created_at::date < $1",
    )
    .bind(cutoff)
    .bind(tx.tenant_id())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let summary = PurgeSummary {
        ran: true,
        years,
        cutoff: Some(cutoff),
        erased: i64::try_from(due.len()).unwrap_or(i64::MAX),
        requests_wiped: i64::try_from(requests_wiped).unwrap_or(i64::MAX),
    };
    scheduled_runs::finish(&mut tx, JOB, today, &json!(summary)).await?;
    if summary.erased > 0 || summary.requests_wiped > 0 {
        audit::record(
            &mut tx,
            tenant_id,
            Actor::SYSTEM,
            "beneficiaries.retention_purge",
            "scheduled_run",
            today,
            json!({ "erased": summary.erased, "requests_wiped": summary.requests_wiped,
                    "years": years, "ended_before": cutoff }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(summary)
}

/// Sets how many years personal data is kept after a holder's last voucher ended (1 to 10).
pub async fn set_years(db: &Db, tenant_id: Uuid, actor: Actor, years: i32) -> Result<(), Error> {
    if !(1..=10).contains(&years) {
        return Err(Error::invalid("years", "between 1 and 10"));
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    let before: i32 = sqlx::query_scalar(
        "UPDATE tenants t SET retention_years = $2 FROM tenants old
          WHERE t.id = $1 AND old.id = t.id RETURNING old.retention_years",
    )
    .bind(tenant_id)
    .bind(years)
    .fetch_one(&mut *tx)
    .await?;
    tx.changed(crate::storage::Change::Tenant(tenant_id))
        .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "tenant.retention_set",
        "tenant",
        tenant_id,
        json!({ "before": before, "after": years }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
