//! The daily expiry run of one tenant: vouchers past their validity become `expired`, reminders and
//! expiry notices become due for holders who consented to emails, and vouchers of holders who get
//! no email are listed for their prescriber's digest. One transaction, guarded by a row per
//! (tenant, job, day): two replicas or a restart never run the same day twice, and a run that
//! fails leaves nothing behind, so the next tick runs it again.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::tenancy::tenants;
use crate::vouchers::VoucherStatus;
use crate::{Db, Error};

pub const JOB: &str = "daily-expiry";

/// Vouchers still unregistered this many days after issue appear in the prescriber's digest.
pub const NOT_REGISTERED_AFTER_DAYS: i32 = 30;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DailySummary {
    pub day: Option<NaiveDate>,
    /// False when this day had already been run.
    pub ran: bool,
    pub expired: i64,
    pub expiry_notices: i64,
    pub reminders: i64,
    pub prescriber_alerts: i64,
    pub prescriber_digests: i64,
}

/// Runs the day that `now` falls on in the tenant's time zone.
pub async fn run(db: &Db, tenant_id: Uuid, now: DateTime<Utc>) -> Result<DailySummary, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    let today = now.with_timezone(&tenant.tz()).date_naive();
    run_day(db, tenant_id, today).await
}

pub async fn run_day(db: &Db, tenant_id: Uuid, today: NaiveDate) -> Result<DailySummary, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    if !crate::storage::scheduled_runs::claim(&mut tx, tenant_id, JOB, today).await? {
        tx.rollback().await?;
        return Ok(DailySummary {
            day: Some(today),
            ..DailySummary::default()
        });
    }

    let open = VoucherStatus::OPEN_SQL;
    let (expired, expiry_notices): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH expired AS (
             UPDATE vouchers SET status = 'expired'
             WHERE tenant_id = $1 AND status IN {open} AND valid_until < $2
             RETURNING id, beneficiary_id),
         notices AS (
             INSERT INTO email_outbox (tenant_id, id, kind, voucher_id)
             SELECT $1, uuid_v7(), 'expired', e.id
             FROM expired e JOIN beneficiaries b ON b.tenant_id = $1 AND b.id = e.beneficiary_id
             WHERE b.email IS NOT NULL AND b.email_consent AND b.erased_at IS NULL
             ON CONFLICT DO NOTHING
             RETURNING 1)
         SELECT (SELECT count(*) FROM expired), (SELECT count(*) FROM notices)"
    )))
    .bind(tenant_id)
    .bind(today)
    .fetch_one(&mut *tx)
    .await?;

    // The furthest reminder of any scheme bounds the vouchers worth looking at.
    let horizon: i32 = sqlx::query_scalar(
        "SELECT coalesce(max(d::int), 0) FROM scheme_versions, jsonb_array_elements_text(rules -> 'reminder_days') d
          WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;

    // The reminder due is the nearest one whose window the voucher has entered (60 days, then 30,
    // then 7): a day missed is caught up the next day, and a voucher issued inside a window skips
    // that window's reminder. A voucher without hours left or no longer open gets none.
    let due_reminders = format!(
        "
        SELECT v.id AS voucher_id, v.prescriber_id, b.email IS NOT NULL AND b.email_consent AS emailable, r.days
        FROM vouchers v
        JOIN scheme_versions sv ON sv.tenant_id = v.tenant_id AND sv.scheme_id = v.scheme_id AND sv.version = v.rules_version
        JOIN beneficiaries b ON b.tenant_id = v.tenant_id AND b.id = v.beneficiary_id
        CROSS JOIN LATERAL (
            SELECT min(d::int) AS days FROM jsonb_array_elements_text(sv.rules -> 'reminder_days') d
            WHERE d::int >= v.valid_until - $2) r
        WHERE v.tenant_id = $1 AND v.status IN {open} AND v.minutes_left > 0
          AND v.valid_until >= $2 AND v.valid_until <= $2 + $3
          AND r.days IS NOT NULL AND v.issued_on < v.valid_until - r.days
          AND b.erased_at IS NULL"
    );

    let reminders = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO email_outbox (tenant_id, id, kind, reminder_days, voucher_id)
         SELECT $1, uuid_v7(), 'reminder', due.days, due.voucher_id FROM ({due_reminders}) due
         WHERE due.emailable
         ON CONFLICT DO NOTHING"
    )))
    .bind(tenant_id)
    .bind(today)
    .bind(horizon)
    .execute(&mut *tx)
    .await?
    .rows_affected();

    // Holders who get no email: their prescriber hears about the same reminders, and about
    // vouchers never taken to an EPN, in one digest per prescriber and day. An alert already
    // listed in an earlier digest is not listed again.
    let (prescriber_alerts, prescriber_digests): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH candidates AS (
             SELECT due.voucher_id, due.prescriber_id, 'expiring' AS reason, due.days AS days_left
             FROM ({due_reminders}) due WHERE NOT due.emailable
             UNION ALL
             SELECT v.id, v.prescriber_id, 'not_registered', 0
             FROM vouchers v JOIN beneficiaries b ON b.tenant_id = v.tenant_id AND b.id = v.beneficiary_id
             WHERE v.tenant_id = $1 AND v.status = 'issued' AND v.issued_on <= $2 - $4 AND v.valid_until >= $2
               AND NOT (b.email IS NOT NULL AND b.email_consent) AND b.erased_at IS NULL),
         fresh AS (
             SELECT c.* FROM candidates c
             WHERE NOT EXISTS (SELECT 1 FROM prescriber_alerts a
                               WHERE a.tenant_id = $1 AND a.voucher_id = c.voucher_id AND a.reason = c.reason AND a.days_left = c.days_left)),
         digests AS (
             INSERT INTO email_outbox (tenant_id, id, kind, prescriber_id, digest_on)
             SELECT $1, uuid_v7(), 'prescriber_digest', p.prescriber_id, $2
             FROM (SELECT DISTINCT prescriber_id FROM fresh) p
             ON CONFLICT DO NOTHING
             RETURNING id, prescriber_id),
         alerts AS (
             INSERT INTO prescriber_alerts (tenant_id, voucher_id, reason, days_left, prescriber_id, digest_id)
             SELECT $1, f.voucher_id, f.reason, f.days_left, f.prescriber_id, d.id
             FROM fresh f JOIN digests d ON d.prescriber_id = f.prescriber_id
             ON CONFLICT DO NOTHING
             RETURNING 1)
         SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM digests)"
    )))
    .bind(tenant_id)
    .bind(today)
    .bind(horizon)
    .bind(NOT_REGISTERED_AFTER_DAYS)
    .fetch_one(&mut *tx)
    .await?;

    let summary = DailySummary {
        day: Some(today),
        ran: true,
        expired,
        expiry_notices,
        reminders: i64::try_from(reminders).unwrap_or(i64::MAX),
        prescriber_alerts,
        prescriber_digests,
    };
    let details = json!(summary);
    crate::storage::scheduled_runs::finish(&mut tx, JOB, today, &details).await?;
    if expired > 0 {
        audit::record(
            &mut tx,
            tenant_id,
            Actor::SYSTEM,
            "vouchers.expired",
            "scheduled_run",
            format!("{JOB}/{today}"),
            details,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(summary)
}
