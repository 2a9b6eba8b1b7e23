//! One-click unsubscribe (RFC 8058): the link in a holder's message names the tenant and the
//! message's random key. Looking it up changes nothing; withdrawing consent stops every pending
//! message to that holder, whose vouchers then go to their prescriber's digest instead.

use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::storage::Tx;
use crate::tenancy::tenants;
use crate::{Db, Error};

#[derive(Debug, Clone)]
pub struct Subscription {
    pub tenant_name: String,
    pub scheme_name: String,
    /// "m…@example.fr": enough for the holder to recognise the address, not enough to learn it.
    pub masked_address: String,
    pub consenting: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    beneficiary_id: Uuid,
    scheme_name: String,
    email: Option<String>,
    email_consent: bool,
}

async fn find_in(tx: &mut Tx, key: Uuid) -> Result<Option<Row>, Error> {
    Ok(sqlx::query_as(
        "SELECT b.id AS beneficiary_id, s.name AS scheme_name, b.email, b.email_consent
         FROM email_outbox o
         JOIN vouchers v ON v.tenant_id = o.tenant_id AND v.id = o.voucher_id
         JOIN schemes s ON s.tenant_id = v.tenant_id AND s.id = v.scheme_id
         JOIN beneficiaries b ON b.tenant_id = v.tenant_id AND b.id = v.beneficiary_id
         WHERE o.tenant_id = $2 AND o.unsubscribe_key = $1",
    )
    .bind(key)
    .bind(tx.tenant_id())
    .fetch_optional(&mut **tx)
    .await?)
}

fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".into(),
    }
}

/// What the confirmation page shows. Nothing changes.
pub async fn find(db: &Db, tenant_id: Uuid, key: Uuid) -> Result<Subscription, Error> {
    let tenant = tenants::get(db, tenant_id)
        .await
        .map_err(|_| Error::NotFound("unsubscribe link"))?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let row = find_in(&mut tx, key)
        .await?
        .ok_or(Error::NotFound("unsubscribe link"))?;
    tx.commit().await?;
    Ok(Subscription {
        tenant_name: tenant.shown_name().to_owned(),
        scheme_name: row.scheme_name,
        masked_address: row.email.as_deref().map(mask).unwrap_or_default(),
        consenting: row.email_consent,
    })
}

/// Withdraws the holder's consent. Idempotent: a second click finds consent already withdrawn.
pub async fn withdraw(db: &Db, tenant_id: Uuid, key: Uuid) -> Result<Subscription, Error> {
    let tenant = tenants::get(db, tenant_id)
        .await
        .map_err(|_| Error::NotFound("unsubscribe link"))?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let row = find_in(&mut tx, key)
        .await?
        .ok_or(Error::NotFound("unsubscribe link"))?;
    if row.email_consent {
        sqlx::query(
            "UPDATE beneficiaries SET email_consent = false WHERE tenant_id = $2 AND id = $1",
        )
        .bind(row.beneficiary_id)
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
        let cancelled = sqlx::query(
            "UPDATE email_outbox SET status = 'cancelled', last_error = 'the holder unsubscribed', finished_at = now()
             WHERE tenant_id = $2 AND status = 'pending'
               AND voucher_id IN (SELECT id FROM vouchers WHERE tenant_id = $2 AND beneficiary_id = $1)",
        )
        .bind(row.beneficiary_id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        audit::record(
            &mut tx,
            tenant_id,
            Actor {
                user_id: None,
                role: "holder",
            },
            "beneficiary.email_consent_withdrawn",
            "beneficiary",
            row.beneficiary_id,
            json!({ "via": "unsubscribe_link", "pending_emails_cancelled": cancelled }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Subscription {
        tenant_name: tenant.shown_name().to_owned(),
        scheme_name: row.scheme_name,
        masked_address: row.email.as_deref().map(mask).unwrap_or_default(),
        consenting: false,
    })
}
