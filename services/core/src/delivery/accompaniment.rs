//! Personalised accompaniment (Pass Numérique): two hours at an EPN, asked for by a prescriber for
//! a person, or by the person through the public form. Accepting a request issues a voucher for the
//! scheme's accompaniment time, registered at that EPN, from a prescriber's allocation: the
//! requester's, or for a public request the one the tenant admin designates.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{RequestChannel, RequestStatus};
use crate::audit::{self, Actor};
use crate::beneficiaries::{NewBeneficiary, PublicCategory};
use crate::epns;
use crate::pagination::{Page, PageRequest};
use crate::refusal::Refusal;
use crate::schemes::SchemeStatus;
use crate::storage::Tx;
use crate::tenancy::tenants::{self, Tenant};
use crate::vouchers::{self, DeliveryMode, Holder, IssueRequest, Voucher};
use crate::{Db, Error, schemes};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccompanimentRequest {
    pub id: Uuid,
    pub scheme_id: Uuid,
    pub epn_id: Uuid,
    pub channel: RequestChannel,
    pub prescriber_id: Option<Uuid>,
    pub beneficiary_id: Option<Uuid>,
    pub message: Option<String>,
    pub status: RequestStatus,
    pub decision_reason: Option<String>,
    pub voucher_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, scheme_id, epn_id, channel, prescriber_id, beneficiary_id, message, status, decision_reason, \
                       voucher_id, created_at, decided_at";

/// The scheme offers accompaniment and the EPN takes part in it.
async fn check_offer(
    tx: &mut Tx,
    tenant: &Tenant,
    scheme_id: Uuid,
    epn_id: Uuid,
) -> Result<(), Error> {
    let status: Option<SchemeStatus> =
        sqlx::query_scalar("SELECT status FROM schemes WHERE id = $1")
            .bind(scheme_id)
            .fetch_optional(&mut **tx)
            .await?;
    if status != Some(SchemeStatus::Active) {
        return Err(Error::invalid(
            "scheme",
            "no active scheme with this identifier",
        ));
    }
    let (_, rules) = schemes::rules_in_force(tx, scheme_id, tenant.today()).await?;
    if rules.delivery_modes.accompaniment_minutes.is_none() {
        return Err(Refusal::NoAccompaniment.into());
    }
    if !epns::takes_part(tx, epn_id, scheme_id).await? {
        return Err(Error::invalid(
            "epn_id",
            "this EPN does not take part in this scheme",
        ));
    }
    Ok(())
}

fn clean(message: Option<&str>) -> Result<Option<String>, Error> {
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    if message.is_some_and(|m| m.chars().count() > 2000) {
        return Err(Error::invalid("message", "at most 2000 characters"));
    }
    Ok(message.map(str::to_owned))
}

/// A prescriber asks for an accompaniment for a person it registered (or registers now).
/// Where and for what: the scheme, the EPN, and an optional message.
#[derive(Debug, Clone)]
pub struct Wish {
    pub scheme_id: Uuid,
    pub epn_id: Uuid,
    pub message: Option<String>,
}

pub async fn request_by_prescriber(
    db: &Db,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    actor: Actor,
    wish: &Wish,
    holder: &Holder,
) -> Result<AccompanimentRequest, Error> {
    let message = clean(wish.message.as_deref())?;
    let (scheme_id, epn_id) = (wish.scheme_id, wish.epn_id);
    let tenant = tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    check_offer(&mut tx, &tenant, scheme_id, epn_id).await?;
    let beneficiary_id = holder
        .resolve(&mut tx, tenant_id, prescriber_id, actor)
        .await?
        .id;
    let request: AccompanimentRequest = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO accompaniment_requests (tenant_id, id, scheme_id, epn_id, channel, prescriber_id, beneficiary_id, message)
         VALUES ($1, $2, $3, $4, 'prescriber', $5, $6, $7) RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(scheme_id)
    .bind(epn_id)
    .bind(prescriber_id)
    .bind(beneficiary_id)
    .bind(message)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "accompaniment.requested",
        "accompaniment_request",
        request.id,
        json!({ "channel": RequestChannel::Prescriber.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(request)
}

/// A person asks through the public form, naming the tenant by its slug and the scheme by its code.
pub async fn request_public(
    db: &Db,
    tenant_slug: &str,
    scheme_code: &str,
    epn_id: Uuid,
    person: &NewBeneficiary,
    message: Option<&str>,
) -> Result<AccompanimentRequest, Error> {
    person.validate()?;
    let message = clean(message)?;
    let tenant = tenants::find_by_slug(db, tenant_slug)
        .await?
        .ok_or_else(|| Error::invalid("territory", "unknown territory"))?;
    let mut tx = db.begin_tenant(tenant.id).await?;
    let scheme_id: Uuid = sqlx::query_scalar("SELECT id FROM schemes WHERE code = $1")
        .bind(scheme_code)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::invalid("scheme", "no such scheme in this territory"))?;
    let epn_known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM epns WHERE id = $1)")
        .bind(epn_id)
        .fetch_one(&mut *tx)
        .await?;
    if !epn_known {
        return Err(Error::invalid("epn_id", "no such EPN in this territory"));
    }
    check_offer(&mut tx, &tenant, scheme_id, epn_id).await?;
    let request: AccompanimentRequest = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO accompaniment_requests (tenant_id, id, scheme_id, epn_id, channel, first_name, last_name, birth_year,
                                            commune_insee, public_category, email, phone, email_consent, message)
         VALUES ($1, $2, $3, $4, 'public_form', $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {COLUMNS}"
    )))
    .bind(tenant.id)
    .bind(Uuid::now_v7())
    .bind(scheme_id)
    .bind(epn_id)
    .bind(person.first_name.trim())
    .bind(person.last_name.trim())
    .bind(person.birth_year)
    .bind(&person.commune_insee)
    .bind(person.public_category)
    .bind(&person.email)
    .bind(&person.phone)
    .bind(person.email_consent)
    .bind(message)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant.id,
        Actor::SYSTEM,
        "accompaniment.requested",
        "accompaniment_request",
        request.id,
        json!({ "channel": RequestChannel::PublicForm.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(request)
}

/// Who is looking: the whole tenant, one EPN, or one prescriber.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    Tenant,
    Epn(Uuid),
    Prescriber(Uuid),
}

/// Requests, newest first, a page at a time: a person who just asked is on the first page however
/// many requests (spam included) came before. The cursor continues below the last request seen.
pub async fn list(
    db: &Db,
    tenant_id: Uuid,
    scope: Scope,
    status: Option<RequestStatus>,
    page: PageRequest,
) -> Result<Page<AccompanimentRequest>, Error> {
    let (epn, prescriber) = match scope {
        Scope::Tenant => (None, None),
        Scope::Epn(id) => (Some(id), None),
        Scope::Prescriber(id) => (None, Some(id)),
    };
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<AccompanimentRequest> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM accompaniment_requests
          WHERE ($1::uuid IS NULL OR epn_id = $1) AND ($2::uuid IS NULL OR prescriber_id = $2) AND ($3::text IS NULL OR status = $3)
            AND ($4::uuid IS NULL OR id < $4)
          ORDER BY id DESC LIMIT $5"
    )))
    .bind(epn)
    .bind(prescriber)
    .bind(status)
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |r| r.id))
}

async fn lock_pending(tx: &mut Tx, id: Uuid, scope: Scope) -> Result<AccompanimentRequest, Error> {
    let request: AccompanimentRequest = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM accompaniment_requests WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .filter(|r: &AccompanimentRequest| match scope {
        Scope::Tenant => true,
        Scope::Epn(epn) => r.epn_id == epn,
        Scope::Prescriber(p) => r.prescriber_id == Some(p),
    })
    .ok_or(Error::NotFound("accompaniment request"))?;
    if request.status.is_decided() {
        return Err(Refusal::RequestAlreadyDecided {
            status: request.status,
        }
        .into());
    }
    Ok(request)
}

/// Accepts a request: issues the accompaniment voucher, registered at the request's EPN. A request
/// filed by a prescriber is paid from its allocation; a public request needs `funding_prescriber`,
/// whose allocation pays for it, and only a tenant admin may choose it.
pub async fn accept(
    db: &Db,
    tenant_id: Uuid,
    scope: Scope,
    actor: Actor,
    id: Uuid,
    funding_prescriber: Option<Uuid>,
) -> Result<Voucher, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let request = lock_pending(&mut tx, id, scope).await?;
    let (prescriber_id, holder) = match (request.prescriber_id, request.beneficiary_id) {
        (Some(prescriber), Some(beneficiary)) => {
            if funding_prescriber.is_some_and(|funding| funding != prescriber) {
                return Err(Error::invalid(
                    "prescriber_id",
                    "a request filed by a prescriber is funded by that prescriber's allocation",
                ));
            }
            (prescriber, Holder::Existing(beneficiary))
        }
        _ if !matches!(scope, Scope::Tenant) => {
            // Choosing the funder spends another organisation's allocation: an EPN could file a
            // public request for itself and be paid from any prescriber's stock.
            return Err(Refusal::FundingChosenByAdmin.into());
        }
        _ => {
            let prescriber = funding_prescriber.ok_or_else(|| {
                Error::invalid(
                    "prescriber_id",
                    "a request from the public form needs the prescriber whose allocation funds it",
                )
            })?;
            let person: (String, String, i16, String, PublicCategory, Option<String>, Option<String>, bool) = sqlx::query_as(
                "SELECT first_name, last_name, birth_year, commune_insee, public_category, email, phone, email_consent
                   FROM accompaniment_requests WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            let new = NewBeneficiary {
                first_name: person.0,
                last_name: person.1,
                birth_year: person.2,
                commune_insee: person.3,
                public_category: person.4,
                email: person.5,
                phone: person.6,
                email_consent: person.7,
                allow_duplicate: true,
            };
            (prescriber, Holder::New(new))
        }
    };
    let issue = IssueRequest {
        scheme_id: request.scheme_id,
        holder,
        participation_fee_cents: 0,
    };
    let issued = vouchers::issue_for(
        &mut tx,
        &tenant,
        prescriber_id,
        actor,
        &issue,
        DeliveryMode::Accompaniment,
    )
    .await?;
    super::registration::register_direct(
        &mut tx,
        tenant_id,
        &issued.voucher,
        request.epn_id,
        actor,
    )
    .await?;
    sqlx::query(
        "UPDATE accompaniment_requests SET status = 'accepted', voucher_id = $2, beneficiary_id = $3, decided_by = $4, decided_at = now(),
                first_name = NULL, last_name = NULL, birth_year = NULL, commune_insee = NULL, public_category = NULL,
                email = NULL, phone = NULL
          WHERE id = $1",
    )
    .bind(id)
    .bind(issued.voucher.id)
    .bind(issued.beneficiary.id)
    .bind(actor.user_id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "accompaniment.accepted",
        "accompaniment_request",
        id,
        json!({ "voucher_id": issued.voucher.id, "prescriber_id": prescriber_id }),
    )
    .await?;
    let voucher = vouchers::fetch_by_id(&mut tx, issued.voucher.id).await?;
    tx.commit().await?;
    Ok(voucher)
}

/// Declines a request with a reason; a public request's personal details are wiped.
pub async fn decline(
    db: &Db,
    tenant_id: Uuid,
    scope: Scope,
    actor: Actor,
    id: Uuid,
    reason: &str,
) -> Result<AccompanimentRequest, Error> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Error::invalid("reason", "between 1 and 500 characters"));
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    lock_pending(&mut tx, id, scope).await?;
    let request: AccompanimentRequest = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE accompaniment_requests SET status = 'declined', decision_reason = $2, decided_by = $3, decided_at = now(),
                first_name = NULL, last_name = NULL, birth_year = NULL, commune_insee = NULL, public_category = NULL,
                email = NULL, phone = NULL
          WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(reason)
    .bind(actor.user_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "accompaniment.declined",
        "accompaniment_request",
        id,
        json!({ "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(request)
}
