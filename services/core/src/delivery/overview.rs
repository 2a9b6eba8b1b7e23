//! What an EPN's animator looks at on a page: the sessions around today, a session's sheet with
//! the people who may attend it, the competences to assess, and the month so far.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::AttendanceStatus;
use super::sessions::Session;
use crate::tenancy::tenants;
use crate::{Db, Error};

/// Local midnight at the start of `day`: the instant the day before stops.
pub fn start_of_day(day: NaiveDate, tz: chrono_tz::Tz) -> DateTime<Utc> {
    crate::vouchers::validity::ends_at(day.pred_opt().unwrap_or(day), tz)
}

/// An EPN's sessions starting from `from` up to `to` (exclusive), in time order.
pub async fn sessions_between(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Session>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows = sqlx::query_as(
        "SELECT id, epn_id, scheme_id, module_number, starts_at, duration_minutes, capacity, animator, place, status, created_at
           FROM sessions WHERE tenant_id = $4 AND epn_id = $1 AND starts_at >= $2 AND starts_at < $3 ORDER BY starts_at, id LIMIT 200",
    )
    .bind(epn_id)
    .bind(from)
    .bind(to)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// One person on a session's sheet: a voucher registered at the EPN in the session's scheme.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SheetRow {
    pub reference: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub minutes_left: i32,
    /// Booked on this session beforehand.
    pub enrolled: bool,
    /// Booked « hors parcours »: the sheet ticks the mark already.
    pub booked_off_path: bool,
    /// The attendance already recorded on this session (present, absent, excused), if any.
    pub recorded: Option<AttendanceStatus>,
}

/// The people who may be on a session's sheet: every open voucher registered at the session's
/// EPN in its scheme, and those already recorded; booked people first, then by name.
pub async fn sheet(db: &Db, tenant_id: Uuid, session: &Session) -> Result<Vec<SheetRow>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows = sqlx::query_as(
        "SELECT v.reference, b.first_name, b.last_name, v.minutes_left,
                EXISTS (SELECT 1 FROM session_enrolments e WHERE e.tenant_id = $4 AND e.session_id = $2 AND e.voucher_id = v.id) AS enrolled,
                EXISTS (SELECT 1 FROM session_enrolments e WHERE e.tenant_id = $4 AND e.session_id = $2 AND e.voucher_id = v.id AND e.off_path)
                    AS booked_off_path,
                a.status AS recorded
           FROM registrations r
           JOIN vouchers v ON v.tenant_id = $4 AND v.id = r.voucher_id
           JOIN beneficiaries b ON b.tenant_id = $4 AND b.id = v.beneficiary_id
           LEFT JOIN attendances a ON a.tenant_id = $4 AND a.session_id = $2 AND a.voucher_id = v.id AND a.voided_at IS NULL
          WHERE r.tenant_id = $4 AND r.epn_id = $1 AND r.ended_at IS NULL AND v.scheme_id = $3
            AND (v.status IN ('registered', 'in_progress') OR a.id IS NOT NULL)
          ORDER BY 5 DESC, b.last_name, b.first_name, v.reference
          LIMIT 300",
    )
    .bind(session.epn_id)
    .bind(session.id)
    .bind(session.scheme_id)
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Competence {
    pub code: String,
    pub area: String,
    pub title: String,
}

/// The competences of a scheme's referential, in the referential's order.
pub async fn competences(
    db: &Db,
    tenant_id: Uuid,
    scheme_id: Uuid,
) -> Result<Vec<Competence>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows = sqlx::query_as(
        "SELECT c.code, c.area, c.title FROM competences c JOIN schemes s ON s.referential_code = c.referential_code
          WHERE s.tenant_id = $2 AND s.id = $1 ORDER BY string_to_array(c.code, '.')::int[]",
    )
    .bind(scheme_id)
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// An EPN's month so far, in the tenant's time zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct MonthSoFar {
    pub sessions_held: i64,
    pub presences: i64,
    pub absences: i64,
    pub people: i64,
    pub minutes_delivered: i64,
    pub registrations: i64,
}

pub async fn month_so_far(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Uuid,
    month: NaiveDate,
) -> Result<MonthSoFar, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    let start = start_of_day(month, tenant.tz());
    let end = start_of_day(
        month
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(month),
        tenant.tz(),
    );
    let mut tx = db.begin_tenant(tenant_id).await?;
    let month_so_far = sqlx::query_as(
        "SELECT (SELECT count(*) FROM sessions s WHERE s.tenant_id = $4 AND s.epn_id = $1 AND s.starts_at >= $2 AND s.starts_at < $3
                    AND EXISTS (SELECT 1 FROM attendances a WHERE a.tenant_id = $4 AND a.session_id = s.id AND a.voided_at IS NULL)) AS sessions_held,
                count(*) FILTER (WHERE a.status = 'present') AS presences,
                count(*) FILTER (WHERE a.status <> 'present') AS absences,
                count(DISTINCT a.voucher_id) FILTER (WHERE a.status = 'present') AS people,
                coalesce(sum(a.minutes_debited), 0)::bigint AS minutes_delivered,
                (SELECT count(*) FROM registrations r WHERE r.tenant_id = $4 AND r.epn_id = $1 AND r.registered_at >= $2 AND r.registered_at < $3) AS registrations
           FROM attendances a JOIN sessions s ON s.tenant_id = $4 AND s.id = a.session_id
          WHERE a.tenant_id = $4 AND a.epn_id = $1 AND a.voided_at IS NULL AND s.starts_at >= $2 AND s.starts_at < $3",
    )
    .bind(epn_id)
    .bind(start)
    .bind(end)
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(month_so_far)
}
