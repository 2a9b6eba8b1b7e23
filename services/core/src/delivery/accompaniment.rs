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
use crate::error::Validator;
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
    /// A pending public request expires then.
    pub expires_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, scheme_id, epn_id, channel, prescriber_id, beneficiary_id, message, status, decision_reason, \
                       voucher_id, created_at, decided_at, expires_at";

/// The scheme offers accompaniment and the EPN takes part in it.
async fn check_offer(
    tx: &mut Tx,
    tenant: &Tenant,
    scheme_id: Uuid,
    epn_id: Uuid,
) -> Result<(), Error> {
    let status: Option<SchemeStatus> =
        sqlx::query_scalar("SELECT status FROM schemes WHERE tenant_id = $2 AND id = $1")
            .bind(scheme_id)
            .bind(tx.tenant_id())
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
        return Err(Error::breaks("epn_id", crate::FieldRule::EpnNotTakingPart));
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

/// How long a request from the public form waits for an answer: past it, it expires and its
/// details are wiped (the person is told so on the receipt page).
pub const PUBLIC_REQUEST_DAYS: i64 = 30;

/// What a person gives on the public form. People rarely know their commune's INSEE code: they
/// give it (API clients that look it up) or their postal code and commune's name, and staff give
/// the code when they accept.
#[derive(Debug, Clone, Default)]
pub struct PublicRequest {
    pub epn_id: Uuid,
    /// `commune_insee` may be empty when `postal_code` and `commune_name` are given.
    pub person: NewBeneficiary,
    pub postal_code: Option<String>,
    pub commune_name: Option<String>,
    pub message: Option<String>,
}

impl PublicRequest {
    fn place_typed(&self) -> bool {
        self.person.commune_insee.trim().is_empty()
    }

    fn validate(&self) -> Result<(), Error> {
        let mut fields = match self.person.validate() {
            Ok(()) => Vec::new(),
            Err(Error::Invalid(fields)) => fields,
            Err(other) => return Err(other),
        };
        if self.place_typed() {
            fields.retain(|f| f.field != "commune_insee");
        }
        let mut v = Validator::default();
        if self.place_typed() {
            v.check(
                self.postal_code
                    .as_deref()
                    .is_some_and(|c| c.len() == 5 && c.bytes().all(|b| b.is_ascii_digit())),
                "postal_code",
                "a French postal code of 5 digits (or give commune_insee)",
            )
            .check(
                self.commune_name
                    .as_deref()
                    .is_some_and(|n| !n.trim().is_empty() && n.trim().chars().count() <= 100),
                "commune_name",
                "the commune's name, at most 100 characters (or give commune_insee)",
            );
        }
        v.check_rule(
            self.person.email.is_some() || self.person.phone.is_some(),
            "phone",
            crate::FieldRule::NoWayToReach,
        );
        if let Err(Error::Invalid(more)) = v.finish() {
            fields.extend(more);
        }
        if fields.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(fields))
        }
    }
}

/// A request recorded from the public form, and whether a confirmation email is on its way.
#[derive(Debug, Clone)]
pub struct PublicReceipt {
    pub request: AccompanimentRequest,
    pub confirmation_sent: bool,
}

/// Makes a message to the person who asked due, to the address they gave: it is kept on the
/// message, since a decided request's details are wiped.
async fn tell_requester(
    tx: &mut Tx,
    tenant_id: Uuid,
    request_id: Uuid,
    kind: crate::emails::outbox::Kind,
    address: &str,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO email_outbox (tenant_id, id, kind, accompaniment_request_id, recipient)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(kind)
    .bind(request_id)
    .bind(address)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A person asks through the public form, naming the tenant by its slug and the scheme by its code.
/// The request waits `PUBLIC_REQUEST_DAYS` for an answer; when the person gave an email address,
/// a confirmation leaves at once.
pub async fn request_public(
    db: &Db,
    tenant_slug: &str,
    scheme_code: &str,
    request: &PublicRequest,
) -> Result<PublicReceipt, Error> {
    request.validate()?;
    let person = &request.person;
    let message = clean(request.message.as_deref())?;
    let tenant = tenants::find_by_slug(db, tenant_slug)
        .await?
        .ok_or_else(|| Error::invalid("territory", "unknown territory"))?;
    let mut tx = db.begin_tenant(tenant.id).await?;
    let scheme_id: Uuid =
        sqlx::query_scalar("SELECT id FROM schemes WHERE tenant_id = $2 AND code = $1")
            .bind(scheme_code)
            .bind(tx.tenant_id())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::invalid("scheme", "no such scheme in this territory"))?;
    let epn_known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM epns WHERE tenant_id = $2 AND id = $1)")
            .bind(request.epn_id)
            .bind(tx.tenant_id())
            .fetch_one(&mut *tx)
            .await?;
    if !epn_known {
        return Err(Error::invalid("epn_id", "no such EPN in this territory"));
    }
    check_offer(&mut tx, &tenant, scheme_id, request.epn_id).await?;
    let typed = request.place_typed();
    let recorded: AccompanimentRequest = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO accompaniment_requests (tenant_id, id, scheme_id, epn_id, channel, first_name, last_name, birth_year,
                                            commune_insee, public_category, email, phone, email_consent, message,
                                            postal_code, commune_name, expires_at)
         VALUES ($1, $2, $3, $4, 'public_form', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                 now() + make_interval(days => $16)) RETURNING {COLUMNS}"
    )))
    .bind(tenant.id)
    .bind(Uuid::now_v7())
    .bind(scheme_id)
    .bind(request.epn_id)
    .bind(person.first_name.trim())
    .bind(person.last_name.trim())
    .bind(person.birth_year)
    .bind((!typed).then(|| person.commune_insee.trim()))
    .bind(person.public_category)
    .bind(&person.email)
    .bind(&person.phone)
    .bind(person.email_consent)
    .bind(message)
    .bind(if typed { request.postal_code.as_deref() } else { None })
    .bind(if typed {
        request.commune_name.as_deref().map(str::trim)
    } else {
        None
    })
    .bind(i32::try_from(PUBLIC_REQUEST_DAYS).unwrap_or(30))
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant.id,
        Actor::SYSTEM,
        "accompaniment.requested",
        "accompaniment_request",
        recorded.id,
        json!({ "channel": RequestChannel::PublicForm.as_str() }),
    )
    .await?;
    if let Some(address) = &person.email {
        tell_requester(
            &mut tx,
            tenant.id,
            recorded.id,
            crate::emails::outbox::Kind::RequestReceived,
            address,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(PublicReceipt {
        request: recorded,
        confirmation_sent: person.email.is_some(),
    })
}

/// Public requests still pending past their expiry: marked expired and their details wiped. Run
/// by the daily job; returns how many expired.
pub async fn expire_due(db: &Db, tenant_id: Uuid) -> Result<u64, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let expired = sqlx::query(
        "UPDATE accompaniment_requests
            SET status = 'expired', decided_at = now(),
                first_name = NULL, last_name = NULL, birth_year = NULL, commune_insee = NULL,
                public_category = NULL, email = NULL, phone = NULL, postal_code = NULL, commune_name = NULL
          WHERE tenant_id = $1 AND status = 'pending' AND expires_at <= now()",
    )
    .bind(tx.tenant_id())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if expired > 0 {
        audit::record(
            &mut tx,
            tenant_id,
            Actor::SYSTEM,
            "accompaniment.expired",
            "tenant",
            tenant_id,
            json!({ "requests": expired, "after_days": PUBLIC_REQUEST_DAYS }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(expired)
}

/// A pending request as the EPN's inbox shows it: the person's details as they gave them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestDetails {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_year: Option<i16>,
    pub commune_insee: Option<String>,
    pub postal_code: Option<String>,
    pub commune_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The person's details of requests (empty once decided or expired), by id.
pub async fn details(
    db: &Db,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, RequestDetails)>, Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        #[sqlx(flatten)]
        details: RequestDetails,
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, first_name, last_name, birth_year, commune_insee, postal_code, commune_name, email, phone, expires_at
           FROM accompaniment_requests WHERE tenant_id = $2 AND id = ANY($1)",
    )
    .bind(ids)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(|r| (r.id, r.details)).collect())
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
          WHERE tenant_id = $6 AND ($1::uuid IS NULL OR epn_id = $1) AND ($2::uuid IS NULL OR prescriber_id = $2) AND ($3::text IS NULL OR status = $3)
            AND ($4::uuid IS NULL OR id < $4)
          ORDER BY id DESC LIMIT $5"
    )))
    .bind(epn)
    .bind(prescriber)
    .bind(status)
    .bind(page.after)
    .bind(page.fetch_limit())
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |r| r.id))
}

async fn lock_pending(tx: &mut Tx, id: Uuid, scope: Scope) -> Result<AccompanimentRequest, Error> {
    let request: AccompanimentRequest = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM accompaniment_requests WHERE tenant_id = $2 AND id = $1 FOR UPDATE"
    )))
    .bind(id)
    .bind(tx.tenant_id())
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

/// What accepting needs besides the request: the prescriber whose allocation funds a public
/// request (tenant admins only), and the commune's INSEE code when the person gave only their
/// postal code and commune's name.
#[derive(Debug, Clone, Default)]
pub struct Acceptance {
    pub prescriber_id: Option<Uuid>,
    pub commune_insee: Option<String>,
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
    funding: &Acceptance,
) -> Result<Voucher, Error> {
    let funding_prescriber = funding.prescriber_id;
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
        _ => {
            let designated: Option<Uuid> = sqlx::query_scalar(
                "SELECT public_requests_funded_by FROM schemes WHERE tenant_id = $2 AND id = $1",
            )
            .bind(request.scheme_id)
            .bind(tx.tenant_id())
            .fetch_one(&mut *tx)
            .await?;
            let prescriber = match (scope, funding_prescriber, designated) {
                // Choosing the funder spends another organisation's allocation: an EPN could file
                // a public request for itself and be paid from any prescriber's stock. It may
                // only use the funder the tenant admin designated for the scheme.
                (Scope::Tenant, Some(chosen), _) => chosen,
                (_, None, Some(designated)) => designated,
                (Scope::Tenant, None, None) => {
                    return Err(Error::invalid(
                        "prescriber_id",
                        "a request from the public form needs the prescriber whose allocation funds it",
                    ));
                }
                _ => return Err(Refusal::FundingChosenByAdmin.into()),
            };
            #[derive(sqlx::FromRow)]
            struct Asker {
                first_name: String,
                last_name: String,
                birth_year: i16,
                commune_insee: Option<String>,
                public_category: PublicCategory,
                email: Option<String>,
                phone: Option<String>,
                email_consent: bool,
                postal_code: Option<String>,
                commune_name: Option<String>,
            }
            let person: Asker = sqlx::query_as(
                "SELECT first_name, last_name, birth_year, commune_insee, public_category, email, phone, email_consent,
                        postal_code, commune_name
                   FROM accompaniment_requests WHERE tenant_id = $2 AND id = $1",
            )
            .bind(id)
            .bind(tx.tenant_id())
            .fetch_one(&mut *tx)
            .await?;
            let commune_insee = match (
                person.commune_insee,
                funding.commune_insee.as_deref().map(str::trim),
            ) {
                (_, Some(given)) if !given.is_empty() => given.to_owned(),
                (Some(known), _) => known,
                (None, _) => {
                    return Err(Error::invalid(
                        "commune_insee",
                        format!(
                            "the person gave their postal code and commune ({} {}): give the commune's INSEE code",
                            person.postal_code.unwrap_or_default(),
                            person.commune_name.unwrap_or_default()
                        ),
                    ));
                }
            };
            let new = NewBeneficiary {
                first_name: person.first_name,
                last_name: person.last_name,
                birth_year: person.birth_year,
                commune_insee,
                public_category: person.public_category,
                email: person.email,
                phone: person.phone,
                email_consent: person.email_consent,
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
                email = NULL, phone = NULL, postal_code = NULL, commune_name = NULL
          WHERE tenant_id = $5 AND id = $1",
    )
    .bind(id)
    .bind(issued.voucher.id)
    .bind(issued.beneficiary.id)
    .bind(actor.user_id)
    .bind(tx.tenant_id())
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
    let pending = lock_pending(&mut tx, id, scope).await?;
    let address: Option<String> = sqlx::query_scalar(
        "SELECT email FROM accompaniment_requests WHERE tenant_id = $2 AND id = $1",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    let request: AccompanimentRequest = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE accompaniment_requests SET status = 'declined', decision_reason = $2, decided_by = $3, decided_at = now(),
                first_name = NULL, last_name = NULL, birth_year = NULL, commune_insee = NULL, public_category = NULL,
                email = NULL, phone = NULL, postal_code = NULL, commune_name = NULL
          WHERE tenant_id = $4 AND id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(reason)
    .bind(actor.user_id)
    .bind(tx.tenant_id())
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
    // The person who asked through the form is told why; a prescriber's request is followed by
    // its agent, who reads the reason.
    if let (RequestChannel::PublicForm, Some(address)) = (pending.channel, address) {
        tell_requester(
            &mut tx,
            tenant_id,
            id,
            crate::emails::outbox::Kind::RequestDeclined,
            &address,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(request)
}
