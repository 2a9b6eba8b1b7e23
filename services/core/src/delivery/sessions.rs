//! Sessions at an EPN: a module, a start, a length (the scheme's by default), a capacity.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::SessionStatus;
use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::pagination::{Page, PageRequest};
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::tenancy::tenants;
use crate::{Db, Error, FieldRule, epns, schemes, vouchers};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub id: Uuid,
    pub epn_id: Uuid,
    pub scheme_id: Uuid,
    pub module_number: Option<i32>,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub capacity: i32,
    pub animator: Option<String>,
    pub place: Option<String>,
    pub status: SessionStatus,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, epn_id, scheme_id, module_number, starts_at, duration_minutes, capacity, animator, place, status, created_at";

#[derive(Debug, Clone)]
pub struct NewSession {
    pub scheme_id: Uuid,
    pub module_number: Option<i32>,
    pub starts_at: DateTime<Utc>,
    /// The scheme's session length when absent.
    pub duration_minutes: Option<i32>,
    pub capacity: i32,
    pub animator: Option<String>,
    pub place: Option<String>,
}

pub async fn create(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Uuid,
    actor: Actor,
    new: &NewSession,
) -> Result<Session, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    epns::fetch(&mut tx, epn_id).await?;
    let day = new.starts_at.with_timezone(&tenant.tz()).date_naive();
    let (_, rules) = schemes::rules_in_force(&mut tx, new.scheme_id, day).await?;
    let duration = new.duration_minutes.unwrap_or(rules.session_minutes as i32);
    let mut v = Validator::default();
    v.check(
        (1..=1440).contains(&duration),
        "duration_minutes",
        "between 1 and 1440",
    )
    .check(
        (1..=500).contains(&new.capacity),
        "capacity",
        "between 1 and 500",
    );
    v.finish()?;
    if let Some(module) = new.module_number {
        let offered = epns::offered_modules(&mut tx, epn_id, new.scheme_id).await?;
        if !offered.contains(&module) {
            return Err(Error::breaks(
                "module_number",
                FieldRule::ModulesNotOffered {
                    modules: vec![module],
                },
            ));
        }
    }
    let session: Session = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO sessions (tenant_id, id, epn_id, scheme_id, module_number, starts_at, duration_minutes, capacity, animator, place)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(epn_id)
    .bind(new.scheme_id)
    .bind(new.module_number)
    .bind(new.starts_at)
    .bind(duration)
    .bind(new.capacity)
    .bind(&new.animator)
    .bind(&new.place)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "session.planned",
        "session",
        session.id,
        json!({ "epn_id": epn_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(session)
}

pub(crate) async fn fetch(tx: &mut Tx, session_id: Uuid, lock: bool) -> Result<Session, Error> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sessions WHERE tenant_id = $2 AND id = $1{lock}"
    )))
    .bind(session_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("session"))
}

/// A session of this EPN (another EPN's sessions are not found).
pub async fn get(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Option<Uuid>,
    session_id: Uuid,
) -> Result<Session, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let session = fetch(&mut tx, session_id, false).await?;
    tx.commit().await?;
    if epn_id.is_some_and(|e| e != session.epn_id) {
        return Err(Error::NotFound("session"));
    }
    Ok(session)
}

pub async fn list(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Option<Uuid>,
    page: PageRequest,
) -> Result<Page<Session>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<Session> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sessions WHERE tenant_id = $4 AND ($1::uuid IS NULL OR epn_id = $1) AND ($2::uuid IS NULL OR id > $2)
          ORDER BY id LIMIT $3"
    )))
    .bind(epn_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |s| s.id))
}

/// Books a registered voucher on a session, within its capacity and on the holder's chosen
/// modules unless the animator marks it `off_path` (« hors parcours »).
pub async fn enrol(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Uuid,
    session_id: Uuid,
    reference: &str,
    off_path: bool,
) -> Result<i64, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let session = fetch(&mut tx, session_id, true).await?;
    if session.epn_id != epn_id {
        return Err(Error::NotFound("session"));
    }
    if session.status.is_cancelled() {
        return Err(Refusal::SessionCancelled.into());
    }
    let voucher = vouchers::lock_by_reference(&mut tx, reference).await?;
    let registered_here: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM registrations WHERE tenant_id = $3 AND voucher_id = $1 AND epn_id = $2 AND ended_at IS NULL)")
            .bind(voucher.id)
            .bind(epn_id)
            .bind(tx.tenant_id())
            .fetch_one(&mut *tx)
            .await?;
    if !registered_here {
        return Err(Refusal::NotRegisteredHere.into());
    }
    super::registration::check_on_path(&mut tx, voucher.id, session.module_number, off_path)
        .await?;
    let enrolled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM session_enrolments WHERE tenant_id = $2 AND session_id = $1",
    )
    .bind(session_id)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    if enrolled >= i64::from(session.capacity) {
        return Err(Refusal::SessionFull {
            capacity: session.capacity,
        }
        .into());
    }
    let inserted = sqlx::query(
        "INSERT INTO session_enrolments (tenant_id, session_id, voucher_id, off_path) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(session_id)
    .bind(voucher.id)
    .bind(off_path)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(enrolled + i64::try_from(inserted).unwrap_or_default())
}

/// planned → held or cancelled.
pub async fn set_status(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Uuid,
    actor: Actor,
    session_id: Uuid,
    status: SessionStatus,
) -> Result<Session, Error> {
    if status == SessionStatus::Planned {
        return Err(Error::invalid("status", "held or cancelled"));
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    let session = fetch(&mut tx, session_id, true).await?;
    if session.epn_id != epn_id {
        return Err(Error::NotFound("session"));
    }
    if !session.status.can_become(status) {
        return Err(Refusal::SessionStatusChange {
            from: session.status,
            to: status,
        }
        .into());
    }
    if status.is_cancelled() {
        let recorded: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM attendances WHERE tenant_id = $2 AND session_id = $1 AND voided_at IS NULL)",
        )
        .bind(session_id)
        .bind(tx.tenant_id())
        .fetch_one(&mut *tx)
        .await?;
        if recorded {
            return Err(Refusal::SessionHasAttendance.into());
        }
    }
    let session: Session = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE sessions SET status = $2 WHERE tenant_id = $3 AND id = $1 RETURNING {COLUMNS}"
    )))
    .bind(session_id)
    .bind(status)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "session.status_changed",
        "session",
        session_id,
        json!({ "status": status }),
    )
    .await?;
    tx.commit().await?;
    Ok(session)
}
