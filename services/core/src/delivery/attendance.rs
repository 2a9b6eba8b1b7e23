//! Attendance: `present` debits the session's minutes from the voucher, exactly once. Each entry
//! of a sheet is its own transaction with the voucher row locked; the debit itself is a guarded
//! update (`minutes_left >= $n`) backed by the table's balance `CHECK`, and a unique index allows one
//! live record per session and voucher — so retries, double submissions and concurrent requests
//! can never debit twice or below zero.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::sessions::Session;
use super::{AttendanceStatus, CompetenceLevel};
use crate::audit::{self, Actor};
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::tenancy::tenants::{self, Tenant};
use crate::vouchers::VoucherStatus;
use crate::{Db, Error, vouchers};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Attendance {
    pub id: Uuid,
    pub session_id: Uuid,
    pub voucher_id: Uuid,
    pub epn_id: Uuid,
    pub status: AttendanceStatus,
    pub minutes_debited: i32,
    pub recorded_at: DateTime<Utc>,
    pub voided_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
}

const COLUMNS: &str = "id, session_id, voucher_id, epn_id, status, minutes_debited, recorded_at, voided_at, void_reason";

#[derive(Debug, Clone)]
pub struct Entry {
    pub reference: String,
    pub status: AttendanceStatus,
    /// Competence codes of the scheme's referential with a level.
    pub competences: Vec<(String, CompetenceLevel)>,
    /// « Hors parcours »: the animator records a session of a module the holder did not choose,
    /// on purpose; the line says so to finance.
    pub off_path: bool,
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub attendance: Attendance,
    pub reference: String,
    pub minutes_left: i32,
    pub voucher_status: VoucherStatus,
}

/// Records a sheet: one outcome per entry, in order.
pub async fn record(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Uuid,
    actor: Actor,
    session_id: Uuid,
    entries: &[Entry],
) -> Result<Vec<Result<Recorded, Error>>, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    // The sheet's session, read once in the first line's transaction: a wrong session refuses
    // the whole sheet.
    let mut first = db.begin_tenant(tenant_id).await?;
    let session = super::sessions::fetch(&mut first, session_id, false).await?;
    if session.epn_id != epn_id {
        return Err(Error::NotFound("session"));
    }
    if session.status.is_cancelled() {
        return Err(Refusal::SessionCancelled.into());
    }
    session_has_started(&session, &tenant, Utc::now())?;
    let mut first = Some(first);
    let mut outcomes = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut tx = match first.take() {
            Some(tx) => tx,
            None => db.begin_tenant(tenant_id).await?,
        };
        match record_one(&mut tx, &tenant, epn_id, actor, &session, entry).await {
            Ok(recorded) => {
                tx.commit().await?;
                outcomes.push(Ok(recorded));
            }
            Err(Error::Database(err)) => return Err(Error::Database(err)),
            Err(refusal) => {
                tx.rollback().await?;
                outcomes.push(Err(refusal));
            }
        }
    }
    Ok(outcomes)
}

/// Attendance is what happened: a sheet for a session that has not started yet would debit hours
/// (and be reimbursed) for a session that may never be held.
pub fn session_has_started(
    session: &Session,
    tenant: &Tenant,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if session.starts_at > now {
        let starts = session.starts_at.with_timezone(&tenant.tz());
        return Err(Refusal::SessionNotStarted {
            starts_at: starts.naive_local(),
        }
        .into());
    }
    Ok(())
}

/// The voucher of a line, locked, with what the line's checks need to know of its registration,
/// booking, modules and earlier attendance: one statement, where each was one. Each subquery
/// names the tenant itself: Citus refuses `FOR UPDATE` on a statement it cannot send to one shard,
/// and it does not follow `r.tenant_id = v.tenant_id` into the subqueries here. Read in the
/// statement's snapshot; a line recorded meanwhile by a concurrent request is still refused, by
/// the unique index of live attendances (`attendances_once`).
#[derive(sqlx::FromRow)]
struct LineVoucher {
    #[sqlx(flatten)]
    voucher: vouchers::Voucher,
    registered_here: bool,
    booked_off_path: bool,
    chose_any_module: bool,
    chose_this_module: bool,
    already_recorded: bool,
}

async fn lock_line_voucher(
    tx: &mut Tx,
    reference: &str,
    epn_id: Uuid,
    session: &Session,
) -> Result<LineVoucher, Error> {
    let reference = vouchers::canonical(reference)?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {columns},
                EXISTS (SELECT 1 FROM registrations r
                         WHERE r.tenant_id = $2 AND r.voucher_id = v.id AND r.epn_id = $3
                           AND r.ended_at IS NULL) AS registered_here,
                EXISTS (SELECT 1 FROM session_enrolments e
                         WHERE e.tenant_id = $2 AND e.session_id = $4 AND e.voucher_id = v.id
                           AND e.off_path) AS booked_off_path,
                EXISTS (SELECT 1 FROM voucher_modules m
                         WHERE m.tenant_id = $2 AND m.voucher_id = v.id) AS chose_any_module,
                EXISTS (SELECT 1 FROM voucher_modules m
                         WHERE m.tenant_id = $2 AND m.voucher_id = v.id
                           AND m.module_number = $5) AS chose_this_module,
                EXISTS (SELECT 1 FROM attendances a
                         WHERE a.tenant_id = $2 AND a.session_id = $4 AND a.voucher_id = v.id
                           AND a.voided_at IS NULL) AS already_recorded
           FROM vouchers v WHERE v.tenant_id = $2 AND v.reference = $1 FOR UPDATE OF v",
        columns = vouchers::COLUMNS
    )))
    .bind(&reference)
    .bind(tx.tenant_id())
    .bind(epn_id)
    .bind(session.id)
    .bind(session.module_number)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("voucher"))
}

async fn record_one(
    tx: &mut Tx,
    tenant: &Tenant,
    epn_id: Uuid,
    actor: Actor,
    session: &Session,
    entry: &Entry,
) -> Result<Recorded, Error> {
    let session_id = session.id;
    let LineVoucher {
        voucher,
        registered_here,
        booked_off_path,
        chose_any_module,
        chose_this_module,
        already_recorded,
    } = lock_line_voucher(tx, &entry.reference, epn_id, session).await?;
    if !registered_here {
        return Err(Refusal::NotRegisteredHere.into());
    }
    if voucher.scheme_id != session.scheme_id {
        return Err(Refusal::SessionOfAnotherScheme.into());
    }
    if voucher.status == VoucherStatus::Cancelled {
        return Err(Refusal::VoucherCancelled.into());
    }
    let session_day = session.starts_at.with_timezone(&tenant.tz()).date_naive();
    if session_day < voucher.issued_on {
        return Err(Refusal::SessionBeforeIssue {
            session_day,
            issued_on: voucher.issued_on,
        }
        .into());
    }
    if session_day > voucher.valid_until {
        return Err(Refusal::VoucherNotValidThatDay {
            session_day,
            valid_until: voucher.valid_until,
        }
        .into());
    }
    let today = tenant.today();
    if voucher.status == VoucherStatus::Expired || today > voucher.valid_until {
        let grace_days: i32 = sqlx::query_scalar(
            "SELECT coalesce((rules->>'attendance_grace_days')::int, $3)
               FROM scheme_versions WHERE tenant_id = $4 AND scheme_id = $1 AND version = $2",
        )
        .bind(voucher.scheme_id)
        .bind(voucher.rules_version)
        .bind(crate::schemes::rules::DEFAULT_ATTENDANCE_GRACE_DAYS as i32)
        .bind(tx.tenant_id())
        .fetch_one(&mut **tx)
        .await?;
        let last_day = session_day + chrono::Days::new(u64::try_from(grace_days).unwrap_or(0));
        if today > last_day {
            return Err(Refusal::RecordingPeriodOver {
                session_day,
                last_day,
            }
            .into());
        }
    }
    // A booking marked « hors parcours » carries the mark to the attendance on that session.
    let off_path = entry.off_path || booked_off_path;
    if let Some(module) = session.module_number.filter(|_| !off_path)
        && chose_any_module
        && !chose_this_module
    {
        return Err(Refusal::ModuleNotChosen { module }.into());
    }
    if already_recorded {
        return Err(Refusal::AlreadyRecorded.into());
    }

    let minutes = if entry.status.debits_minutes() {
        session.duration_minutes
    } else {
        0
    };
    let (minutes_left, voucher_status): (i32, VoucherStatus) = if minutes > 0 {
        sqlx::query_as(
            "UPDATE vouchers SET minutes_left = minutes_left - $2,
                    status = CASE WHEN minutes_left - $2 = 0 THEN 'completed'
                                  WHEN status = 'expired' THEN 'expired'
                                  ELSE 'in_progress' END
              WHERE tenant_id = $3 AND id = $1 AND minutes_left >= $2
              RETURNING minutes_left, status",
        )
        .bind(voucher.id)
        .bind(minutes)
        .bind(tx.tenant_id())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Refusal::InsufficientBalance {
            minutes_left: voucher.minutes_left,
            minutes,
        })?
    } else {
        (voucher.minutes_left, voucher.status)
    };
    let attendance: Attendance = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO attendances (tenant_id, id, session_id, voucher_id, epn_id, status, minutes_debited, recorded_by, off_path)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    )))
    .bind(tenant.id)
    .bind(Uuid::now_v7())
    .bind(session_id)
    .bind(voucher.id)
    .bind(epn_id)
    .bind(entry.status)
    .bind(minutes)
    .bind(actor.user_id)
    .bind(off_path)
    .fetch_one(&mut **tx)
    .await?;
    record_competences(
        tx,
        tenant.id,
        &attendance,
        voucher.scheme_id,
        &entry.competences,
    )
    .await?;
    Ok(Recorded {
        attendance,
        reference: voucher.reference,
        minutes_left,
        voucher_status,
    })
}

async fn record_competences(
    tx: &mut Tx,
    tenant_id: Uuid,
    attendance: &Attendance,
    scheme_id: Uuid,
    competences: &[(String, CompetenceLevel)],
) -> Result<(), Error> {
    if competences.is_empty() {
        return Ok(());
    }
    if !attendance.status.debits_minutes() {
        return Err(Error::invalid(
            "competences",
            "competences are recorded only for people present",
        ));
    }
    let referential: String =
        sqlx::query_scalar("SELECT referential_code FROM schemes WHERE tenant_id = $2 AND id = $1")
            .bind(scheme_id)
            .bind(tx.tenant_id())
            .fetch_one(&mut **tx)
            .await?;
    for (code, level) in competences {
        let known: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM competences WHERE referential_code = $1 AND code = $2)",
        )
        .bind(&referential)
        .bind(code)
        .fetch_one(&mut **tx)
        .await?;
        if !known {
            return Err(Error::invalid(
                "competences.code",
                format!("`{code}` is not a competence of the {referential} referential"),
            ));
        }
        sqlx::query(
            "INSERT INTO attendance_competences (tenant_id, attendance_id, referential_code, competence_code, level)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant_id, attendance_id, competence_code) DO UPDATE SET level = EXCLUDED.level",
        )
        .bind(tenant_id)
        .bind(attendance.id)
        .bind(&referential)
        .bind(code)
        .bind(level)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Voids a recorded attendance (with a reason, audited) and gives its minutes back. Always
/// possible, even after the month was reimbursed: reimbursement turns it into an adjustment.
pub async fn void(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Option<Uuid>,
    actor: Actor,
    attendance_id: Uuid,
    reason: &str,
) -> Result<Attendance, Error> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::invalid("reason", "between 1 and 500 characters"));
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    let current: Attendance = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM attendances WHERE tenant_id = $2 AND id = $1 FOR UPDATE"
    )))
    .bind(attendance_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .filter(|a: &Attendance| epn_id.is_none_or(|e| e == a.epn_id))
    .ok_or(Error::NotFound("attendance"))?;
    if current.voided_at.is_some() {
        return Err(Refusal::AttendanceAlreadyVoided.into());
    }
    let voided: Attendance = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE attendances SET voided_at = now(), void_reason = $2 WHERE tenant_id = $3 AND id = $1 RETURNING {COLUMNS}"
    )))
    .bind(attendance_id)
    .bind(reason)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    if current.minutes_debited > 0 {
        sqlx::query(
            "UPDATE vouchers SET minutes_left = minutes_left + $2,
                    status = CASE WHEN status IN ('expired', 'cancelled') THEN status
                                  WHEN minutes_left + $2 = minutes_total THEN 'registered'
                                  ELSE 'in_progress' END
              WHERE tenant_id = $3 AND id = $1",
        )
        .bind(current.voucher_id)
        .bind(current.minutes_debited)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "attendance.voided",
        "attendance",
        attendance_id,
        json!({ "voucher_id": current.voucher_id, "session_id": current.session_id, "minutes": current.minutes_debited, "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(voided)
}
