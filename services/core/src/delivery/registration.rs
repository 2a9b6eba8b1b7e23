//! Registration of a voucher at an EPN: the positioning interview and the modules chosen. A
//! voucher is registered at one EPN at a time; a tenant admin can move it (history kept).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use super::AutonomyLevel;
use crate::audit::{self, Actor};
use crate::beneficiaries;
use crate::refusal::Refusal;
use crate::schemes::SchemeRules;
use crate::storage::Tx;
use crate::tenancy::tenants;
use crate::vouchers::VoucherStatus;
use crate::vouchers::{self, Voucher};
use crate::{Db, Error, FieldRule, epns};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Registration {
    pub id: Uuid,
    pub voucher_id: Uuid,
    pub epn_id: Uuid,
    pub registered_at: DateTime<Utc>,
    pub interview_on: Option<NaiveDate>,
    pub interview_minutes: Option<i32>,
    pub autonomy_level: Option<AutonomyLevel>,
    pub needs: Option<String>,
    pub notes: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
}

const COLUMNS: &str = "id, voucher_id, epn_id, registered_at, interview_on, interview_minutes, autonomy_level, needs, notes, ended_at, end_reason";

#[derive(Debug, Clone, Default)]
pub struct Interview {
    pub on: Option<NaiveDate>,
    pub minutes: Option<i32>,
    pub autonomy_level: Option<AutonomyLevel>,
    pub needs: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RegisterRequest {
    pub reference: String,
    pub last_name: String,
    pub interview: Interview,
    pub modules: Vec<i32>,
}

#[derive(Debug, Clone)]
pub struct Registered {
    pub registration: Registration,
    pub voucher: Voucher,
    pub modules: Vec<i32>,
}

async fn rules_of(tx: &mut Tx, voucher: &Voucher) -> Result<SchemeRules, Error> {
    let rules: sqlx::types::Json<SchemeRules> = sqlx::query_scalar(
        "SELECT rules FROM scheme_versions WHERE tenant_id = $3 AND scheme_id = $1 AND version = $2",
    )
    .bind(voucher.scheme_id)
    .bind(voucher.rules_version)
    .bind(tx.tenant_id())
    .fetch_one(&mut **tx)
    .await?;
    Ok(rules.0)
}

/// Checks a module choice against the voucher's rules and what the EPN offers.
async fn check_modules(
    tx: &mut Tx,
    voucher: &Voucher,
    rules: &SchemeRules,
    epn_id: Uuid,
    modules: &[i32],
) -> Result<Vec<i32>, Error> {
    let mut chosen = modules.to_vec();
    chosen.sort_unstable();
    chosen.dedup();
    if chosen.len() != modules.len() {
        return Err(Error::breaks("modules", FieldRule::ModuleChosenTwice));
    }
    if chosen.len() != rules.modules_to_choose as usize {
        return Err(Error::breaks(
            "modules",
            FieldRule::ModulesToChoose {
                required: rules.modules_to_choose,
                given: chosen.len(),
            },
        ));
    }
    let offered = epns::offered_modules(tx, epn_id, voucher.scheme_id).await?;
    let missing: Vec<i32> = chosen
        .iter()
        .copied()
        .filter(|m| !offered.contains(m))
        .collect();
    if !missing.is_empty() {
        return Err(Error::breaks(
            "modules",
            FieldRule::ModulesNotOffered { modules: missing },
        ));
    }
    Ok(chosen)
}

async fn replace_modules(
    tx: &mut Tx,
    tenant_id: Uuid,
    voucher: &Voucher,
    modules: &[i32],
) -> Result<(), Error> {
    sqlx::query("DELETE FROM voucher_modules WHERE tenant_id = $2 AND voucher_id = $1")
        .bind(voucher.id)
        .bind(tx.tenant_id())
        .execute(&mut **tx)
        .await?;
    for number in modules {
        sqlx::query("INSERT INTO voucher_modules (tenant_id, voucher_id, scheme_id, module_number) VALUES ($1, $2, $3, $4)")
            .bind(tenant_id)
            .bind(voucher.id)
            .bind(voucher.scheme_id)
            .bind(number)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn active(tx: &mut Tx, voucher_id: Uuid) -> Result<Option<Registration>, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM registrations WHERE tenant_id = $2 AND voucher_id = $1 AND ended_at IS NULL"
    )))
    .bind(voucher_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?)
}

/// The rule of the chosen path: a holder who chose modules at registration attends those; a
/// voucher without a choice (a project's pass, an accompaniment) attends any. The animator may
/// still book or record another module, marked « hors parcours » (`off_path`), which finance reads.
pub(crate) async fn check_on_path(
    tx: &mut Tx,
    voucher_id: Uuid,
    module: Option<i32>,
    off_path: bool,
) -> Result<(), Error> {
    let Some(module) = module.filter(|_| !off_path) else {
        return Ok(());
    };
    let (chose_any, chose_this): (bool, bool) = sqlx::query_as(
        "SELECT count(*) > 0, coalesce(bool_or(module_number = $2), false)
           FROM voucher_modules WHERE tenant_id = $3 AND voucher_id = $1",
    )
    .bind(voucher_id)
    .bind(module)
    .bind(tx.tenant_id())
    .fetch_one(&mut **tx)
    .await?;
    if chose_any && !chose_this {
        return Err(Refusal::ModuleNotChosen { module }.into());
    }
    Ok(())
}

/// Registers a voucher at the caller's EPN, found by its reference and its holder's last name.
pub async fn register(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Uuid,
    actor: Actor,
    request: &RegisterRequest,
) -> Result<Registered, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let voucher = vouchers::lock_by_reference(&mut tx, &request.reference).await?;
    if !beneficiaries::is_named(&mut tx, voucher.beneficiary_id, &request.last_name).await? {
        return Err(Error::breaks("last_name", FieldRule::NotTheHolder));
    }
    match voucher.status_at(tenant.tz(), Utc::now()) {
        VoucherStatus::Issued => {}
        VoucherStatus::Cancelled => return Err(Refusal::VoucherCancelled.into()),
        VoucherStatus::Expired => {
            return Err(Refusal::VoucherExpired {
                valid_until: voucher.valid_until,
            }
            .into());
        }
        _ => {
            let at = active(&mut tx, voucher.id).await?;
            return Err(match at {
                Some(r) if r.epn_id == epn_id => Refusal::AlreadyRegisteredHere,
                Some(_) => Refusal::RegisteredElsewhere,
                None => Refusal::VoucherClosed {
                    status: voucher.status,
                },
            }
            .into());
        }
    }
    if !epns::takes_part(&mut tx, epn_id, voucher.scheme_id).await? {
        return Err(Refusal::EpnNotInScheme.into());
    }
    let rules = rules_of(&mut tx, &voucher).await?;
    let interview = &request.interview;
    if rules.interview_required
        && (interview.on.is_none() || interview.minutes.is_none_or(|m| m <= 0))
    {
        return Err(Error::invalid(
            "interview",
            format!(
                "this scheme requires the positioning interview ({} minutes): give its date and length",
                rules.interview_minutes
            ),
        ));
    }
    if interview.on.is_some_and(|d| d < voucher.issued_on) {
        return Err(Error::invalid(
            "interview.on",
            "before the voucher was issued",
        ));
    }
    let modules = check_modules(&mut tx, &voucher, &rules, epn_id, &request.modules).await?;
    let registration = insert(&mut tx, tenant_id, voucher.id, epn_id, actor, interview).await?;
    replace_modules(&mut tx, tenant_id, &voucher, &modules).await?;
    let voucher = vouchers::set_status(&mut tx, voucher.id, "registered").await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "voucher.registered",
        "voucher",
        voucher.id,
        json!({ "epn_id": epn_id, "modules": modules, "interview_on": interview.on }),
    )
    .await?;
    tx.commit().await?;
    Ok(Registered {
        registration,
        voucher,
        modules,
    })
}

async fn insert(
    tx: &mut Tx,
    tenant_id: Uuid,
    voucher_id: Uuid,
    epn_id: Uuid,
    actor: Actor,
    interview: &Interview,
) -> Result<Registration, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO registrations (tenant_id, id, voucher_id, epn_id, registered_by, interview_on, interview_minutes,
                                    autonomy_level, needs, notes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(voucher_id)
    .bind(epn_id)
    .bind(actor.user_id)
    .bind(interview.on)
    .bind(interview.minutes)
    .bind(interview.autonomy_level)
    .bind(&interview.needs)
    .bind(&interview.notes)
    .fetch_one(&mut **tx)
    .await?)
}

/// Registers a voucher issued for a specific EPN (an accompaniment, a project pass): no interview
/// and no module choice.
pub(crate) async fn register_direct(
    tx: &mut Tx,
    tenant_id: Uuid,
    voucher: &Voucher,
    epn_id: Uuid,
    actor: Actor,
) -> Result<Registration, Error> {
    let registration = insert(
        tx,
        tenant_id,
        voucher.id,
        epn_id,
        actor,
        &Interview::default(),
    )
    .await?;
    vouchers::set_status(tx, voucher.id, "registered").await?;
    audit::record(
        tx,
        tenant_id,
        actor,
        "voucher.registered",
        "voucher",
        voucher.id,
        json!({ "epn_id": epn_id, "direct": true }),
    )
    .await?;
    Ok(registration)
}

/// Changes the modules chosen, while time remains on the voucher.
pub async fn change_modules(
    db: &Db,
    tenant_id: Uuid,
    epn_id: Uuid,
    actor: Actor,
    reference: &str,
    modules: &[i32],
) -> Result<Vec<i32>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let voucher = vouchers::lock_by_reference(&mut tx, reference).await?;
    match active(&mut tx, voucher.id).await? {
        Some(r) if r.epn_id == epn_id => {}
        _ => {
            return Err(Refusal::NotRegisteredHere.into());
        }
    }
    if voucher.minutes_left == 0
        || !["registered", "in_progress"].contains(&voucher.status.as_str())
    {
        return Err(Refusal::NoSessionLeft.into());
    }
    let rules = rules_of(&mut tx, &voucher).await?;
    let modules = check_modules(&mut tx, &voucher, &rules, epn_id, modules).await?;
    replace_modules(&mut tx, tenant_id, &voucher, &modules).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "voucher.modules_changed",
        "voucher",
        voucher.id,
        json!({ "modules": modules }),
    )
    .await?;
    tx.commit().await?;
    Ok(modules)
}

/// Moves a registered voucher to another EPN (tenant admin): the current registration ends with the
/// reason, a new one starts with the same interview; history is kept. The new EPN must take part
/// in the scheme and offer every module the holder chose.
pub async fn move_to(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    reference: &str,
    to_epn: Uuid,
    reason: &str,
) -> Result<Registration, Error> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::invalid("reason", "between 1 and 500 characters"));
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    let voucher = vouchers::lock_by_reference(&mut tx, reference).await?;
    let current = active(&mut tx, voucher.id)
        .await?
        .ok_or(Refusal::NotRegistered)?;
    if current.epn_id == to_epn {
        return Err(Refusal::AlreadyRegisteredHere.into());
    }
    epns::fetch(&mut tx, to_epn).await?;
    // The new EPN must deliver what the holder chose: the scheme, and each module of the choice.
    if !epns::takes_part(&mut tx, to_epn, voucher.scheme_id).await? {
        return Err(Refusal::EpnNotInScheme.into());
    }
    let chosen: Vec<i32> = sqlx::query_scalar(
        "SELECT module_number FROM voucher_modules WHERE tenant_id = $2 AND voucher_id = $1 ORDER BY module_number",
    )
    .bind(voucher.id)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    let offered = epns::offered_modules(&mut tx, to_epn, voucher.scheme_id).await?;
    let missing: Vec<i32> = chosen
        .into_iter()
        .filter(|m| !offered.contains(m))
        .collect();
    if !missing.is_empty() {
        return Err(Error::breaks(
            "epn_id",
            FieldRule::ModulesNotOffered { modules: missing },
        ));
    }
    sqlx::query("UPDATE registrations SET ended_at = now(), end_reason = $2 WHERE tenant_id = $3 AND id = $1")
        .bind(current.id)
        .bind(reason)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    let interview = Interview {
        on: current.interview_on,
        minutes: current.interview_minutes,
        autonomy_level: current.autonomy_level,
        needs: current.needs.clone(),
        notes: current.notes.clone(),
    };
    let registration = insert(&mut tx, tenant_id, voucher.id, to_epn, actor, &interview).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "voucher.moved",
        "voucher",
        voucher.id,
        json!({ "from_epn_id": current.epn_id, "to_epn_id": to_epn, "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(registration)
}

/// Every registration of a voucher, oldest first.
pub async fn history(
    db: &Db,
    tenant_id: Uuid,
    voucher_id: Uuid,
) -> Result<Vec<Registration>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM registrations WHERE tenant_id = $2 AND voucher_id = $1 ORDER BY id"
    )))
    .bind(voucher_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}
