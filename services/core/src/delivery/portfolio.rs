//! The e-portfolio: what a holder did and learnt — sessions, modules, hours, competencies with
//! their levels and dates, EPN. Tenant staff read it through the API; the holder through a private
//! link whose token is unguessable, revocable and renewable. It outlives the voucher's validity.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::CompetenceLevel;
use crate::audit::{self, Actor};
use crate::storage::Tx;
use crate::tenancy::tenants;
use crate::vouchers::VoucherStatus;
use crate::vouchers::{self, Visibility, Voucher};
use crate::{Db, Error};

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
    /// The EPN the voucher is (or was last) registered at.
    pub epn_name: Option<String>,
    pub sessions: Vec<PortfolioSession>,
    pub competences: Vec<PortfolioCompetence>,
    /// Where the EPN oriented the person at the end of the journey.
    pub orientation: Option<super::orientation::Orientation>,
}

async fn build(tx: &mut Tx, voucher: &Voucher, status: VoucherStatus) -> Result<Portfolio, Error> {
    let scheme_name: String = sqlx::query_scalar("SELECT name FROM schemes WHERE id = $1")
        .bind(voucher.scheme_id)
        .fetch_one(&mut **tx)
        .await?;
    let first_name: Option<String> =
        sqlx::query_scalar("SELECT first_name FROM beneficiaries WHERE id = $1")
            .bind(voucher.beneficiary_id)
            .fetch_one(&mut **tx)
            .await?;
    let epn_name: Option<String> = sqlx::query_scalar(
        "SELECT e.name FROM registrations r JOIN epns e ON e.tenant_id = r.tenant_id AND e.id = r.epn_id
          WHERE r.voucher_id = $1 ORDER BY r.id DESC LIMIT 1",
    )
    .bind(voucher.id)
    .fetch_optional(&mut **tx)
    .await?;
    let sessions: Vec<PortfolioSession> = sqlx::query_as(
        "SELECT a.id AS attendance_id, s.starts_at, a.minutes_debited AS minutes, s.module_number, m.title AS module_title,
                e.name AS epn_name
           FROM attendances a
           JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
           JOIN epns e ON e.tenant_id = a.tenant_id AND e.id = a.epn_id
           LEFT JOIN scheme_modules m ON m.tenant_id = s.tenant_id AND m.scheme_id = s.scheme_id AND m.number = s.module_number
          WHERE a.voucher_id = $1 AND a.voided_at IS NULL AND a.status = 'present'
          ORDER BY s.starts_at",
    )
    .bind(voucher.id)
    .fetch_all(&mut **tx)
    .await?;
    let competences: Vec<PortfolioCompetence> = sqlx::query_as(
        "SELECT ac.attendance_id, c.code, c.area, c.title, ac.level, ac.recorded_at
           FROM attendance_competences ac
           JOIN attendances a ON a.tenant_id = ac.tenant_id AND a.id = ac.attendance_id
           JOIN competences c ON c.referential_code = ac.referential_code AND c.code = ac.competence_code
          WHERE a.voucher_id = $1 AND a.voided_at IS NULL
          ORDER BY c.code, ac.recorded_at",
    )
    .bind(voucher.id)
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

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Creates the holder's private link, revoking any previous one; returns the token (shown once).
pub async fn renew_link(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    reference: &str,
    visibility: Visibility,
) -> Result<String, Error> {
    let voucher = vouchers::get(db, tenant_id, reference, visibility).await?;
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = format!(
        "{TOKEN_PREFIX}{}_{}",
        tenant_id.simple(),
        URL_SAFE_NO_PAD.encode(secret)
    );
    let mut tx = db.begin_tenant(tenant_id).await?;
    sqlx::query("UPDATE portfolio_links SET revoked_at = now() WHERE voucher_id = $1 AND revoked_at IS NULL")
        .bind(voucher.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO portfolio_links (tenant_id, id, voucher_id, token_hash) VALUES ($1, $2, $3, $4)")
        .bind(tenant_id)
        .bind(Uuid::now_v7())
        .bind(voucher.id)
        .bind(hash(&token))
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "portfolio.link_created",
        "voucher",
        voucher.id,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

pub async fn revoke_link(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    reference: &str,
    visibility: Visibility,
) -> Result<(), Error> {
    let voucher = vouchers::get(db, tenant_id, reference, visibility).await?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let revoked = sqlx::query("UPDATE portfolio_links SET revoked_at = now() WHERE voucher_id = $1 AND revoked_at IS NULL")
        .bind(voucher.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if revoked == 0 {
        return Err(Error::NotFound("portfolio link"));
    }
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "portfolio.link_revoked",
        "voucher",
        voucher.id,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The portfolio behind a holder's link, or `None` for an unknown or revoked link.
pub async fn by_link(db: &Db, token: &str) -> Result<Option<Portfolio>, Error> {
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
    let voucher_id: Option<Uuid> = sqlx::query_scalar(
        "SELECT voucher_id FROM portfolio_links WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(voucher_id) = voucher_id else {
        return Ok(None);
    };
    let voucher = vouchers::fetch_by_id(&mut tx, voucher_id).await?;
    let portfolio = build(
        &mut tx,
        &voucher,
        voucher.status_at(tenant.tz(), Utc::now()),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(portfolio))
}
