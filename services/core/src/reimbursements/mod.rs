//! What a tenant owes each EPN, month by month: statements computed by `compute`, reviewed and
//! approved by finance, paid by SEPA transfer (`sepa`), exported for spreadsheets (`export`).

pub mod allocation;
pub mod compute;
pub mod export;
pub mod funder_claims;
pub mod line_kind;
pub mod sepa;
pub mod split;
pub mod status;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::emails::outbox;
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::tenancy::tenants;
use crate::{Db, Error};

pub use compute::{MonthRun, month_of, run_month};
pub use line_kind::{LineKind, LineSource};
pub use status::StatementStatus;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Statement {
    pub id: Uuid,
    pub reference: String,
    pub epn_id: Uuid,
    pub epn_name: String,
    pub epn_siret: Option<String>,
    pub scheme_id: Uuid,
    pub scheme_name: String,
    pub month: NaiveDate,
    pub status: StatementStatus,
    pub total_cents: i64,
    pub line_count: i32,
    pub computed_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<Uuid>,
    pub paid_on: Option<NaiveDate>,
    pub bank_reference: Option<String>,
}

const STATEMENT_SELECT: &str = "SELECT st.id, st.reference, st.epn_id, e.name AS epn_name, e.pivot AS epn_siret,
        st.scheme_id, sc.name AS scheme_name, st.month, st.status, st.total_cents, st.line_count, st.computed_at,
        st.approved_at, st.approved_by, st.paid_on, st.bank_reference
    FROM statements st
    JOIN epns e ON e.tenant_id = st.tenant_id AND e.id = st.epn_id
    JOIN schemes sc ON sc.tenant_id = st.tenant_id AND sc.id = st.scheme_id";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatementLine {
    pub line_no: i32,
    pub kind: LineKind,
    pub source_kind: LineSource,
    pub source_id: Uuid,
    pub occurred_on: NaiveDate,
    pub session_id: Option<Uuid>,
    pub session_starts_at: Option<DateTime<Utc>>,
    pub module_number: Option<i32>,
    pub module_title: Option<String>,
    pub voucher_reference: String,
    pub minutes: i32,
    pub rate_cents: i64,
    pub amount_cents: i64,
    pub adjusts_month: Option<NaiveDate>,
    /// The attendance was recorded « hors parcours »: a module the holder had not chosen.
    pub off_path: bool,
}

#[derive(Debug, Clone, Default)]
pub struct StatementFilter {
    pub month: Option<NaiveDate>,
    pub status: Option<StatementStatus>,
    pub epn_id: Option<Uuid>,
}

pub async fn list(
    db: &Db,
    tenant_id: Uuid,
    filter: &StatementFilter,
) -> Result<Vec<Statement>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows = list_in(&mut tx, filter).await?;
    tx.commit().await?;
    Ok(rows)
}

pub(crate) async fn list_in(
    tx: &mut Tx,
    filter: &StatementFilter,
) -> Result<Vec<Statement>, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{STATEMENT_SELECT}
         WHERE st.tenant_id = $4 AND ($1::date IS NULL OR st.month = $1) AND ($2::text IS NULL OR st.status = $2)
           AND ($3::uuid IS NULL OR st.epn_id = $3)
         ORDER BY st.month, e.name, sc.name"
    )))
    .bind(filter.month.map(month_of))
    .bind(filter.status)
    .bind(filter.epn_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?)
}

pub(crate) async fn fetch(tx: &mut Tx, id: Uuid) -> Result<Statement, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{STATEMENT_SELECT} WHERE st.tenant_id = $2 AND st.id = $1"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("statement"))
}

pub(crate) async fn lines_in(tx: &mut Tx, statement_id: Uuid) -> Result<Vec<StatementLine>, Error> {
    Ok(sqlx::query_as(
        "SELECT l.line_no, l.kind, l.source_kind, l.source_id, l.occurred_on, l.session_id, s.starts_at AS session_starts_at,
                l.module_number, m.title AS module_title, l.voucher_reference, l.minutes, l.rate_cents, l.amount_cents,
                l.adjusts_month, coalesce(a.off_path, false) AS off_path
         FROM statement_lines l
         JOIN statements st ON st.tenant_id = l.tenant_id AND st.id = l.statement_id
         LEFT JOIN sessions s ON s.tenant_id = l.tenant_id AND s.id = l.session_id
         LEFT JOIN attendances a ON a.tenant_id = l.tenant_id AND a.id = l.source_id AND l.source_kind = 'attendance'
         LEFT JOIN scheme_modules m ON m.tenant_id = l.tenant_id AND m.scheme_id = st.scheme_id AND m.number = l.module_number
         WHERE l.tenant_id = $2 AND l.statement_id = $1 ORDER BY l.line_no",
    )
    .bind(statement_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?)
}

/// A statement seen by `epn` (an EPN's staff: another EPN's statement is not found), or by the
/// tenant's finance (`None`).
pub(crate) async fn fetch_for(
    tx: &mut Tx,
    id: Uuid,
    epn: Option<Uuid>,
) -> Result<Statement, Error> {
    let statement = fetch(tx, id).await?;
    if epn.is_some_and(|own| own != statement.epn_id) {
        return Err(Error::NotFound("statement"));
    }
    Ok(statement)
}

/// A statement and its lines; `epn` is the caller's EPN when it is an EPN's staff.
pub async fn get(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    epn: Option<Uuid>,
) -> Result<(Statement, Vec<StatementLine>), Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let statement = fetch_for(&mut tx, id, epn).await?;
    let lines = lines_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok((statement, lines))
}

/// Approves a draft after checking it: its total against its lines, and its lines against the
/// attendance recorded now. Any difference blocks approval with the reason.
pub async fn approve(db: &Db, tenant_id: Uuid, actor: Actor, id: Uuid) -> Result<Statement, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    compute::lock_tenant(&mut tx, tenant_id).await?;
    let statement = fetch(&mut tx, id).await?;
    if !statement.status.can_be_approved() {
        return Err(Refusal::StatementAlreadyDecided {
            reference: statement.reference.clone(),
            status: statement.status,
        }
        .into());
    }
    let (sum, count): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(amount_cents), 0)::bigint, count(*) FROM statement_lines WHERE tenant_id = $2 AND statement_id = $1",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    if sum != statement.total_cents || count != i64::from(statement.line_count) {
        return Err(Refusal::StatementDoesNotAddUp {
            reference: statement.reference.clone(),
            total_cents: statement.total_cents,
            line_count: statement.line_count,
            sum_cents: sum,
            count,
        }
        .into());
    }
    compute::build_desired(&mut tx, &tenant, statement.month).await?;
    let drift: i64 = sqlx::query_scalar(
        "WITH wanted AS (
             SELECT source_kind, source_id, kind, amount_cents FROM desired_lines
             WHERE epn_id = $2 AND scheme_id = $3 AND target_month = $4),
         held AS (
             SELECT source_kind, source_id, kind, amount_cents FROM statement_lines
             WHERE tenant_id = $5 AND statement_id = $1)
         SELECT count(*) FROM ((SELECT * FROM wanted EXCEPT ALL SELECT * FROM held)
                               UNION ALL (SELECT * FROM held EXCEPT ALL SELECT * FROM wanted)) d",
    )
    .bind(id)
    .bind(statement.epn_id)
    .bind(statement.scheme_id)
    .bind(statement.month)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    if drift > 0 {
        return Err(Refusal::AttendanceChanged {
            reference: statement.reference.clone(),
            drift,
        }
        .into());
    }
    sqlx::query(
        "UPDATE statements SET status = 'approved', approved_at = now(), approved_by = $2 WHERE tenant_id = $3 AND id = $1",
    )
    .bind(id)
    .bind(actor.user_id)
    .bind(tx.tenant_id())
    .execute(&mut *tx)
    .await?;
    outbox::add_statement_news(&mut tx, tenant_id, id, outbox::Kind::StatementApproved).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "statement.approved",
        "statement",
        id,
        json!({ "reference": statement.reference, "total_cents": statement.total_cents, "month": statement.month }),
    )
    .await?;
    let approved = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(approved)
}

pub async fn mark_paid(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
    paid_on: NaiveDate,
    bank_reference: &str,
) -> Result<Statement, Error> {
    let bank_reference = bank_reference.trim();
    if bank_reference.is_empty() || bank_reference.chars().count() > 100 {
        return Err(Error::invalid(
            "bank_reference",
            "between 1 and 100 characters",
        ));
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    let statement = fetch(&mut tx, id).await?;
    if !statement.status.can_be_paid() {
        return Err(Refusal::StatementNotApproved {
            reference: statement.reference.clone(),
            status: statement.status,
        }
        .into());
    }
    sqlx::query(
        "UPDATE statements SET status = 'paid', paid_on = $2, bank_reference = $3 WHERE tenant_id = $4 AND id = $1",
    )
    .bind(id)
    .bind(paid_on)
    .bind(bank_reference)
    .bind(tx.tenant_id())
    .execute(&mut *tx)
    .await?;
    outbox::add_statement_news(&mut tx, tenant_id, id, outbox::Kind::StatementPaid).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "statement.paid",
        "statement",
        id,
        json!({ "reference": statement.reference, "paid_on": paid_on, "bank_reference": bank_reference }),
    )
    .await?;
    let paid = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(paid)
}

/// The tenant's treasury account, which pays the EPNs.
pub async fn set_treasury(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    bank: &crate::epns::BankDetails,
) -> Result<(), Error> {
    let (iban, bic) = bank.validated()?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    sqlx::query(
        "INSERT INTO tenant_secrets (tenant_id, treasury_iban, treasury_bic, treasury_holder)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO UPDATE
            SET treasury_iban = EXCLUDED.treasury_iban, treasury_bic = EXCLUDED.treasury_bic,
                treasury_holder = EXCLUDED.treasury_holder",
    )
    .bind(tenant_id)
    .bind(&iban)
    .bind(&bic)
    .bind(bank.account_holder.trim())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "tenant.treasury_set",
        "tenant",
        tenant_id,
        json!({ "iban": crate::epns::mask_iban(&iban), "bic": bic }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
