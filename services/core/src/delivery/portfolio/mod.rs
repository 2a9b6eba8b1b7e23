//! The e-portfolio: what a person did and learnt — sessions, modules, hours, competencies with
//! their levels and dates, EPN. Tenant staff read one voucher's through the API; the person reads
//! theirs, across every voucher they were given, through their private link (`link`). It
//! outlives the vouchers' validity.

pub mod link;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::CompetenceLevel;
use crate::audit::Actor;
use crate::storage::Tx;
use crate::tenancy::tenants::{self, Tenant};
use crate::vouchers::VoucherStatus;
use crate::vouchers::{self, Visibility, Voucher};
use crate::{Db, Error};
use link::{HolderLink, LinkKey, Opened};

/// How the links made before codes began (`pf_<tenant>_<secret>`).
const TOKEN_PREFIX: &str = "pf_";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PortfolioSession {
    pub attendance_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub minutes: i32,
    pub module_number: Option<i32>,
    pub module_title: Option<String>,
    pub epn_name: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PortfolioCompetence {
    pub attendance_id: Uuid,
    pub code: String,
    pub area: String,
    pub title: String,
    pub level: CompetenceLevel,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Portfolio {
    pub reference: String,
    pub first_name: Option<String>,
    pub scheme_name: String,
    pub status: VoucherStatus,
    pub issued_on: NaiveDate,
    pub valid_until: NaiveDate,
    pub minutes_total: i32,
    pub minutes_left: i32,
    /// What the holder pays toward it (0: free for them).
    pub participation_fee_cents: i64,
    /// The EPN the voucher is (or was last) registered at.
    pub epn_name: Option<String>,
    pub sessions: Vec<PortfolioSession>,
    pub competences: Vec<PortfolioCompetence>,
    /// Where the EPN oriented the person at the end of the journey.
    pub orientation: Option<super::orientation::Orientation>,
}

async fn build(tx: &mut Tx, voucher: &Voucher, status: VoucherStatus) -> Result<Portfolio, Error> {
    let scheme_name: String =
        sqlx::query_scalar("SELECT name FROM schemes WHERE tenant_id = $2 AND id = $1")
            .bind(voucher.scheme_id)
            .bind(tx.tenant_id())
            .fetch_one(&mut **tx)
            .await?;
    let first_name: Option<String> =
        sqlx::query_scalar("SELECT first_name FROM beneficiaries WHERE tenant_id = $2 AND id = $1")
            .bind(voucher.beneficiary_id)
            .bind(tx.tenant_id())
            .fetch_one(&mut **tx)
            .await?;
    let epn_name: Option<String> = sqlx::query_scalar(
        "SELECT e.name FROM registrations r JOIN epns e ON e.tenant_id = r.tenant_id AND e.id = r.epn_id
          WHERE r.tenant_id = $2 AND r.voucher_id = $1 ORDER BY r.id DESC LIMIT 1",
    )
    .bind(voucher.id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?;
    let sessions: Vec<PortfolioSession> = sqlx::query_as(
        "SELECT a.id AS attendance_id, s.starts_at, a.minutes_debited AS minutes, s.module_number, m.title AS module_title,
                e.name AS epn_name
           FROM attendances a
           JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
           JOIN epns e ON e.tenant_id = a.tenant_id AND e.id = a.epn_id
           LEFT JOIN scheme_modules m ON m.tenant_id = s.tenant_id AND m.scheme_id = s.scheme_id AND m.number = s.module_number
          WHERE a.tenant_id = $2 AND a.voucher_id = $1 AND a.voided_at IS NULL AND a.status = 'present'
          ORDER BY s.starts_at",
    )
    .bind(voucher.id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?;
    let competences: Vec<PortfolioCompetence> = sqlx::query_as(
        "SELECT ac.attendance_id, c.code, c.area, c.title, ac.level, ac.recorded_at
           FROM attendance_competences ac
           JOIN attendances a ON a.tenant_id = ac.tenant_id AND a.id = ac.attendance_id
           JOIN competences c ON c.referential_code = ac.referential_code AND c.code = ac.competence_code
          WHERE a.tenant_id = $2 AND a.voucher_id = $1 AND a.voided_at IS NULL
          ORDER BY c.code, ac.recorded_at",
    )
    .bind(voucher.id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?;
    Ok(Portfolio {
        reference: voucher.reference.clone(),
        first_name,
        scheme_name,
        status,
        issued_on: voucher.issued_on,
        valid_until: voucher.valid_until,
        minutes_total: voucher.minutes_total,
        minutes_left: voucher.minutes_left,
        participation_fee_cents: voucher.participation_fee_cents,
        epn_name,
        sessions,
        competences,
        orientation: super::orientation::of(tx, voucher.id).await?,
    })
}

/// The portfolio of a voucher, for tenant staff.
pub async fn get(
    db: &Db,
    tenant_id: Uuid,
    reference: &str,
    visibility: Visibility,
) -> Result<Portfolio, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    let voucher = vouchers::get(db, tenant_id, reference, visibility).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let portfolio = build(
        &mut tx,
        &voucher,
        voucher.status_at(tenant.tz(), Utc::now()),
    )
    .await?;
    tx.commit().await?;
    Ok(portfolio)
}

/// A competence as far as the person got with it, across all their sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompetenceReached {
    pub code: String,
    pub area: String,
    pub title: String,
    /// The highest level recorded.
    pub level: CompetenceLevel,
    /// When that level was first recorded.
    pub reached_at: DateTime<Utc>,
}

/// Everything a person did and learnt, voucher after voucher: what their private link opens.
#[derive(Debug, Clone)]
pub struct PersonPortfolio {
    /// The territory that gave the vouchers.
    pub tenant_name: String,
    pub first_name: Option<String>,
    /// Oldest first.
    pub vouchers: Vec<Portfolio>,
}

impl PersonPortfolio {
    /// Each competence once, at the highest level the person reached, in the referential's
    /// order: what they learnt, whichever voucher paid for it.
    pub fn competences_reached(&self) -> Vec<CompetenceReached> {
        let mut reached: BTreeMap<&str, CompetenceReached> = BTreeMap::new();
        for c in self.vouchers.iter().flat_map(|v| &v.competences) {
            let better = reached.get(c.code.as_str()).is_none_or(|r| {
                c.level > r.level || (c.level == r.level && c.recorded_at < r.reached_at)
            });
            if better {
                reached.insert(
                    &c.code,
                    CompetenceReached {
                        code: c.code.clone(),
                        area: c.area.clone(),
                        title: c.title.clone(),
                        level: c.level,
                        reached_at: c.recorded_at,
                    },
                );
            }
        }
        reached.into_values().collect()
    }
}

/// The portfolio a holder's link opens: every voucher of the person.
pub async fn of_person(db: &Db, opened: &Opened) -> Result<PersonPortfolio, Error> {
    let tenant = &opened.tenant;
    let mut tx = db.begin_tenant(tenant.id).await?;
    let first_name: Option<String> =
        sqlx::query_scalar("SELECT first_name FROM beneficiaries WHERE tenant_id = $2 AND id = $1")
            .bind(opened.beneficiary_id)
            .bind(tx.tenant_id())
            .fetch_one(&mut *tx)
            .await?;
    let now = Utc::now();
    let mut portfolios = Vec::new();
    for voucher in vouchers::of_beneficiary(&mut tx, opened.beneficiary_id).await? {
        let status = voucher.status_at(tenant.tz(), now);
        portfolios.push(build(&mut tx, &voucher, status).await?);
    }
    tx.commit().await?;
    portfolios.sort_by_key(|p| p.issued_on);
    Ok(PersonPortfolio {
        tenant_name: tenant.name.clone(),
        first_name,
        vouchers: portfolios,
    })
}

/// Whose portfolio a link made before codes opens (`pf_…`, from the API's `renewPortfolioLink`
/// before links belonged to the person), or `None` for an unknown or revoked one.
pub async fn open_token(db: &Db, token: &str) -> Result<Option<Opened>, Error> {
    let Some(rest) = token.strip_prefix(TOKEN_PREFIX) else {
        return Ok(None);
    };
    let Some(tenant_id) = rest
        .split_once('_')
        .and_then(|(t, _)| Uuid::try_parse(t).ok())
    else {
        return Ok(None);
    };
    let Ok(tenant) = tenants::get(db, tenant_id).await else {
        return Ok(None);
    };
    let mut tx = db.begin_tenant(tenant_id).await?;
    let beneficiary_id: Option<Uuid> = sqlx::query_scalar(
        "SELECT beneficiary_id FROM portfolio_links
          WHERE tenant_id = $2 AND token_hash = $1 AND NOT letter_code AND revoked_at IS NULL",
    )
    .bind(link::token_hash(token))
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(beneficiary_id.map(|beneficiary_id| Opened {
        tenant,
        beneficiary_id,
        code: None,
    }))
}

/// The holder's link for the person holding `reference`, made now if they have none: what their
/// letter prints. `None` once the person's data is erased.
pub async fn letter_link(
    db: &Db,
    key: &LinkKey,
    tenant: &Tenant,
    actor: Actor,
    reference: &str,
    visibility: Visibility,
) -> Result<Option<HolderLink>, Error> {
    let voucher = vouchers::get(db, tenant.id, reference, visibility).await?;
    let mut tx = db.begin_tenant(tenant.id).await?;
    let link = link::ensure(&mut tx, key, tenant, actor, voucher.beneficiary_id).await?;
    tx.commit().await?;
    Ok(link)
}

/// A new private link for the person holding `reference`; every previous one stops working.
pub async fn renew_link(
    db: &Db,
    key: &LinkKey,
    tenant_id: Uuid,
    actor: Actor,
    reference: &str,
    visibility: Visibility,
) -> Result<HolderLink, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    let voucher = vouchers::get(db, tenant_id, reference, visibility).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let link = link::renew(&mut tx, key, &tenant, actor, voucher.beneficiary_id).await?;
    tx.commit().await?;
    Ok(link)
}

/// Stops every private link of the person holding `reference`.
pub async fn revoke_link(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    reference: &str,
    visibility: Visibility,
) -> Result<(), Error> {
    let voucher = vouchers::get(db, tenant_id, reference, visibility).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    if link::revoke_all(&mut tx, tenant_id, actor, voucher.beneficiary_id).await? == 0 {
        return Err(Error::NotFound("portfolio link"));
    }
    tx.commit().await?;
    Ok(())
}
