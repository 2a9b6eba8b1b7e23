//! Vouchers: nominative, issued by a prescriber from its allocation under the scheme's rules in
//! force that day, which the voucher keeps for life.

pub mod bulk;
pub mod reference;
pub mod status;
pub mod validity;

pub use status::VoucherStatus;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::beneficiaries::{self, Beneficiary, NewBeneficiary};
use crate::pagination::{Page, PageRequest};
use crate::refusal::Refusal;
use crate::storage::Tx;
use crate::tenancy::tenants::{self, Tenant};
use crate::{Db, Error, FieldRule, prescribers, schemes};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Voucher {
    pub id: Uuid,
    pub reference: String,
    pub scheme_id: Uuid,
    pub rules_version: i32,
    pub beneficiary_id: Uuid,
    pub prescriber_id: Uuid,
    pub allocation_id: Uuid,
    pub issued_by: Option<Uuid>,
    pub issued_on: NaiveDate,
    pub valid_until: NaiveDate,
    pub status: VoucherStatus,
    pub minutes_total: i32,
    pub minutes_left: i32,
    pub face_value_cents: i64,
    pub participation_fee_cents: i64,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub(crate) const COLUMNS: &str = "id, reference, scheme_id, rules_version, beneficiary_id, prescriber_id, allocation_id, issued_by, \
                       issued_on, valid_until, status, minutes_total, minutes_left, face_value_cents, \
                       participation_fee_cents, cancelled_at, cancel_reason, created_at";

impl Voucher {
    /// The status as of `now`: an open voucher past its validity reads as expired even before the
    /// daily expiry run has recorded it.
    pub fn status_at(&self, tz: chrono_tz::Tz, now: DateTime<Utc>) -> VoucherStatus {
        if self.status.is_open() && !validity::is_valid_at(self.valid_until, tz, now) {
            VoucherStatus::Expired
        } else {
            self.status
        }
    }
}

/// Who the voucher is for: someone already registered by the prescriber, or a new person.
#[derive(Debug, Clone)]
pub enum Holder {
    Existing(Uuid),
    New(NewBeneficiary),
}

impl Holder {
    /// The holder a request names with exactly one of the two: `None` when it gives both or
    /// neither (the caller says so in its own words).
    pub fn one_of(existing: Option<Uuid>, new: Option<NewBeneficiary>) -> Option<Holder> {
        match (existing, new) {
            (Some(id), None) => Some(Holder::Existing(id)),
            (None, Some(new)) => Some(Holder::New(new)),
            _ => None,
        }
    }

    /// The beneficiary record: the existing one, which must be the prescriber's own (another's is
    /// not found) and not erased, or the new person, registered now for the prescriber.
    pub(crate) async fn resolve(
        &self,
        tx: &mut Tx,
        tenant_id: Uuid,
        prescriber_id: Uuid,
        actor: Actor,
    ) -> Result<beneficiaries::Beneficiary, Error> {
        match self {
            Holder::Existing(id) => {
                let b = beneficiaries::fetch(tx, *id).await?;
                if b.prescriber_id != prescriber_id {
                    return Err(Error::NotFound("beneficiary"));
                }
                if b.erased_at.is_some() {
                    return Err(Refusal::BeneficiaryErased.into());
                }
                Ok(b)
            }
            Holder::New(new) => {
                beneficiaries::insert(tx, tenant_id, prescriber_id, actor, new).await
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct IssueRequest {
    pub scheme_id: Uuid,
    pub holder: Holder,
    pub participation_fee_cents: i64,
}

#[derive(Debug, Clone)]
pub struct Issued {
    pub voucher: Voucher,
    pub beneficiary: Beneficiary,
    /// The tenant, already loaded for issuance: callers render dates and statuses with it.
    pub tenant: Tenant,
}

pub async fn issue(
    db: &Db,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    actor: Actor,
    request: &IssueRequest,
) -> Result<Issued, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let issued = issue_in(&mut tx, &tenant, prescriber_id, actor, request).await?;
    tx.commit().await?;
    Ok(issued)
}

/// How a voucher will be used: it decides which rule of the scheme gives its hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// A nominative voucher for the scheme's hours.
    Individual,
    /// A personalised accompaniment (Pass Numérique: two hours).
    Accompaniment,
    /// A member's pass in a collective project, for the project's hours.
    Project { minutes: u32 },
}

pub(crate) async fn issue_in(
    tx: &mut Tx,
    tenant: &Tenant,
    prescriber_id: Uuid,
    actor: Actor,
    request: &IssueRequest,
) -> Result<Issued, Error> {
    issue_for(
        tx,
        tenant,
        prescriber_id,
        actor,
        request,
        DeliveryMode::Individual,
    )
    .await
}

pub(crate) async fn issue_for(
    tx: &mut Tx,
    tenant: &Tenant,
    prescriber_id: Uuid,
    actor: Actor,
    request: &IssueRequest,
    mode: DeliveryMode,
) -> Result<Issued, Error> {
    let today = tenant.today();
    let status: Option<schemes::SchemeStatus> =
        sqlx::query_scalar("SELECT status FROM schemes WHERE tenant_id = $2 AND id = $1 FOR SHARE")
            .bind(request.scheme_id)
            .bind(tx.tenant_id())
            .fetch_optional(&mut **tx)
            .await?;
    match status {
        None => return Err(Error::invalid("scheme_id", "no such scheme in this tenant")),
        Some(schemes::SchemeStatus::Active) => {}
        Some(status) => return Err(Refusal::SchemeNotActive { status }.into()),
    }
    let (rules_version, rules) = schemes::rules_in_force(tx, request.scheme_id, today).await?;
    let minutes = match mode {
        DeliveryMode::Individual if rules.delivery_modes.individual_vouchers => {
            rules.voucher_minutes
        }
        DeliveryMode::Accompaniment => rules
            .delivery_modes
            .accompaniment_minutes
            .ok_or_else(|| Error::from(Refusal::NoAccompaniment))?,
        DeliveryMode::Project { minutes } if rules.delivery_modes.collective_projects.is_some() => {
            minutes
        }
        DeliveryMode::Individual => {
            return Err(Refusal::NoIndividualVouchers.into());
        }
        DeliveryMode::Project { .. } => {
            return Err(Refusal::NoCollectiveProjects.into());
        }
    };
    // An individual voucher is worth the scheme's face value; an accompaniment or a project pass
    // is worth its hours at the hourly rate.
    let face_value_cents = match mode {
        DeliveryMode::Individual => rules.face_value_cents,
        _ => crate::money::minutes_at_rate(
            i32::try_from(minutes).unwrap_or(i32::MAX),
            rules.hourly_rate_cents,
        ),
    };
    if !(0..=rules.participation_fee_cap_cents).contains(&request.participation_fee_cents) {
        return Err(Error::invalid(
            "participation_fee_cents",
            format!(
                "between 0 and the scheme's cap of {} cents",
                rules.participation_fee_cap_cents
            ),
        ));
    }

    let beneficiary = request
        .holder
        .resolve(tx, tenant.id, prescriber_id, actor)
        .await?;
    if !rules
        .eligible_categories
        .contains(&beneficiary.public_category)
    {
        return Err(Error::breaks(
            "public_category",
            FieldRule::NotEligible {
                category: beneficiary.public_category,
            },
        ));
    }

    if let Some(envelope) = rules.budget_envelope_cents {
        // Serialise issuance per scheme while checking the envelope.
        sqlx::query("SELECT 1 FROM schemes WHERE tenant_id = $2 AND id = $1 FOR UPDATE")
            .bind(request.scheme_id)
            .bind(tx.tenant_id())
            .execute(&mut **tx)
            .await?;
        let committed: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(face_value_cents), 0)::bigint FROM vouchers WHERE tenant_id = $2 AND scheme_id = $1 AND status <> 'cancelled'",
        )
        .bind(request.scheme_id)
        .bind(tx.tenant_id())
        .fetch_one(&mut **tx)
        .await?;
        if committed + face_value_cents > envelope {
            return Err(Refusal::BudgetEnvelopeUsedUp {
                committed_cents: committed,
                envelope_cents: envelope,
            }
            .into());
        }
    }

    let allocation_id = prescribers::take_one(tx, prescriber_id, request.scheme_id, today).await?;
    let valid_until = validity::last_valid_day(today, &rules.validity);
    if valid_until < today {
        return Err(Refusal::SchemeValidityEnded { valid_until }.into());
    }
    let minutes = i32::try_from(minutes).unwrap_or(i32::MAX);
    let voucher = loop {
        let candidate = reference::generate(&tenant.reference_prefix);
        let inserted: Option<Voucher> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO vouchers (tenant_id, id, reference, scheme_id, rules_version, beneficiary_id, prescriber_id,
                                   allocation_id, issued_by, issued_on, valid_until, minutes_total, minutes_left,
                                   face_value_cents, participation_fee_cents)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14)
             ON CONFLICT (tenant_id, reference) DO NOTHING
             RETURNING {COLUMNS}"
        )))
        .bind(tenant.id)
        .bind(Uuid::now_v7())
        .bind(&candidate)
        .bind(request.scheme_id)
        .bind(rules_version)
        .bind(beneficiary.id)
        .bind(prescriber_id)
        .bind(allocation_id)
        .bind(actor.user_id)
        .bind(today)
        .bind(valid_until)
        .bind(minutes)
        .bind(face_value_cents)
        .bind(request.participation_fee_cents)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(voucher) = inserted {
            break voucher;
        }
    };
    crate::funders::plan::attach(
        tx,
        voucher.id,
        request.scheme_id,
        beneficiary.public_category,
        prescriber_id,
        today,
        valid_until,
    )
    .await?;
    if beneficiary.email.is_some() && beneficiary.email_consent {
        crate::emails::outbox::add_welcome(tx, tenant.id, voucher.id).await?;
    }
    audit::record(
        tx,
        tenant.id,
        actor,
        "voucher.issued",
        "voucher",
        voucher.id,
        json!({ "reference": voucher.reference, "scheme_id": voucher.scheme_id, "rules_version": rules_version,
                "beneficiary_id": beneficiary.id, "prescriber_id": prescriber_id, "allocation_id": allocation_id,
                "participation_fee_cents": request.participation_fee_cents }),
    )
    .await?;
    Ok(Issued {
        voucher,
        beneficiary,
        tenant: tenant.clone(),
    })
}

/// Who may see a voucher: everyone in the tenant, or only the prescriber that issued it.
#[derive(Debug, Clone, Copy)]
pub enum Visibility {
    Tenant,
    Prescriber(Uuid),
}

impl Visibility {
    fn prescriber(self) -> Option<Uuid> {
        match self {
            Visibility::Tenant => None,
            Visibility::Prescriber(id) => Some(id),
        }
    }
}

pub(crate) fn canonical(reference: &str) -> Result<String, Error> {
    reference::parse(reference)
        .map(|(canonical, _)| canonical)
        .map_err(|e| Error::invalid("reference", e.to_string()))
}

async fn fetch_by_reference(
    tx: &mut Tx,
    reference: &str,
    visibility: Visibility,
    lock: bool,
) -> Result<Voucher, Error> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM vouchers WHERE tenant_id = $3 AND reference = $1 AND ($2::uuid IS NULL OR prescriber_id = $2){lock}"
    )))
    .bind(reference)
    .bind(visibility.prescriber())
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("voucher"))
}

pub(crate) async fn fetch_by_id(tx: &mut Tx, id: Uuid) -> Result<Voucher, Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM vouchers WHERE tenant_id = $2 AND id = $1"
    )))
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NotFound("voucher"))
}

/// Locks a voucher by its reference (as typed by a person) for a change.
pub(crate) async fn lock_by_reference(tx: &mut Tx, reference: &str) -> Result<Voucher, Error> {
    let reference = canonical(reference)?;
    fetch_by_reference(tx, &reference, Visibility::Tenant, true).await
}

pub(crate) async fn set_status(
    tx: &mut Tx,
    voucher_id: Uuid,
    status: &str,
) -> Result<Voucher, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE vouchers SET status = $2 WHERE tenant_id = $3 AND id = $1 RETURNING {COLUMNS}"
    )))
    .bind(voucher_id)
    .bind(status)
    .bind(tx.tenant_id())
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn get(
    db: &Db,
    tenant_id: Uuid,
    reference: &str,
    visibility: Visibility,
) -> Result<Voucher, Error> {
    let reference = canonical(reference)?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let voucher = fetch_by_reference(&mut tx, &reference, visibility, false).await?;
    tx.commit().await?;
    Ok(voucher)
}

pub(crate) async fn of_beneficiary(
    tx: &mut Tx,
    beneficiary_id: Uuid,
) -> Result<Vec<Voucher>, Error> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM vouchers WHERE tenant_id = $2 AND beneficiary_id = $1 ORDER BY id"
    )))
    .bind(beneficiary_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?)
}

#[derive(Debug, Clone, Default)]
pub struct VoucherFilter {
    pub status: Option<VoucherStatus>,
    pub scheme_id: Option<Uuid>,
    pub prescriber_id: Option<Uuid>,
    pub beneficiary_id: Option<Uuid>,
    /// Open vouchers whose last valid day is before this date.
    pub expiring_before: Option<NaiveDate>,
    /// Newest first (a person reading their vouchers), instead of oldest first.
    pub newest_first: bool,
}

pub async fn list(
    db: &Db,
    tenant_id: Uuid,
    filter: &VoucherFilter,
    visibility: Visibility,
    page: PageRequest,
) -> Result<Page<Voucher>, Error> {
    let (after, order) = if filter.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<Voucher> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM vouchers
          WHERE tenant_id = $9 AND ($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR scheme_id = $2)
            AND ($3::uuid IS NULL OR prescriber_id = $3) AND ($4::uuid IS NULL OR prescriber_id = $4)
            AND ($5::date IS NULL OR (valid_until < $5 AND status IN {open}))
            AND ($6::uuid IS NULL OR beneficiary_id = $6)
            AND ($7::uuid IS NULL OR id {after} $7)
          ORDER BY id {order} LIMIT $8",
        open = VoucherStatus::OPEN_SQL
    )))
    .bind(filter.status)
    .bind(filter.scheme_id)
    .bind(filter.prescriber_id)
    .bind(visibility.prescriber())
    .bind(filter.expiring_before)
    .bind(filter.beneficiary_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |v| v.id))
}

/// Cancels a voucher on which no minute has been used; its place returns to the allocation.
pub async fn cancel(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    reference: &str,
    reason: &str,
    visibility: Visibility,
) -> Result<Voucher, Error> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::invalid("reason", "between 1 and 500 characters"));
    }
    let reference = canonical(reference)?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let voucher = fetch_by_reference(&mut tx, &reference, visibility, true).await?;
    if voucher.status == VoucherStatus::Cancelled {
        return Err(Refusal::VoucherAlreadyCancelled.into());
    }
    if !matches!(
        voucher.status,
        VoucherStatus::Issued | VoucherStatus::Registered
    ) || voucher.minutes_left != voucher.minutes_total
    {
        return Err(Refusal::VoucherInUse {
            status: voucher.status,
            minutes_left: voucher.minutes_left,
            minutes_total: voucher.minutes_total,
        }
        .into());
    }
    let cancelled: Voucher = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE vouchers SET status = 'cancelled', cancelled_at = now(), cancel_reason = $2 WHERE tenant_id = $3 AND id = $1 RETURNING {COLUMNS}"
    )))
    .bind(voucher.id)
    .bind(reason)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE allocations SET issued = issued - 1 WHERE tenant_id = $2 AND id = $1")
        .bind(voucher.allocation_id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "voucher.cancelled",
        "voucher",
        voucher.id,
        json!({ "reference": voucher.reference, "reason": reason, "previous_status": voucher.status }),
    )
    .await?;
    tx.commit().await?;
    Ok(cancelled)
}

/// What anyone holding a reference may learn, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBalance {
    pub status: VoucherStatus,
    pub minutes_left: i32,
    pub valid_until: NaiveDate,
    /// What the holder pays toward the voucher (0: free for them).
    pub participation_fee_cents: i64,
}

/// The public balance check: `None` for an unknown reference, a wrong name, an erased holder or a
/// malformed reference alike, so that the answer reveals nothing about which one it was.
pub async fn public_balance(
    db: &Db,
    reference: &str,
    last_name: &str,
) -> Result<Option<PublicBalance>, Error> {
    let Ok((reference, prefix)) = reference::parse(reference) else {
        return Ok(None);
    };
    let Some(tenant) = tenants::find_by_reference_prefix(db, &prefix).await? else {
        return Ok(None);
    };
    let mut tx = db.begin_tenant(tenant.id).await?;
    let voucher: Option<Voucher> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM vouchers WHERE tenant_id = $2 AND reference = $1"
    )))
    .bind(&reference)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(voucher) = voucher else {
        return Ok(None);
    };
    let named = beneficiaries::is_named(&mut tx, voucher.beneficiary_id, last_name).await?;
    tx.commit().await?;
    if !named {
        return Ok(None);
    }
    Ok(Some(PublicBalance {
        status: voucher.status_at(tenant.tz(), Utc::now()),
        minutes_left: voucher.minutes_left,
        valid_until: voucher.valid_until,
        participation_fee_cents: voucher.participation_fee_cents,
    }))
}
