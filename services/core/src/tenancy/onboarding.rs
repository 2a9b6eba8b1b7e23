//! A new territory's first steps: the platform's operator invites its first tenant admin by
//! email (the usual invitation link, which the worker sends), and the tenant admin's home shows a
//! short set-up checklist of what is done and what is left.

use serde_json::json;
use uuid::Uuid;

use super::users::{self, NewUser, User};
use super::{Role, account_links};
use crate::audit::{self, Actor};
use crate::{Db, Error};

/// Creates a tenant admin of `tenant_id` and makes their invitation due, in one transaction: a
/// refused address (malformed, already a user of the tenant) leaves nothing behind.
pub async fn invite_admin(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    email: &str,
    display_name: &str,
) -> Result<User, Error> {
    let new = NewUser {
        email: email.trim().to_owned(),
        display_name: display_name.trim().to_owned(),
        role: Role::TenantAdmin,
        prescriber_id: None,
        epn_id: None,
    };
    new.validate()?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let user = users::insert(&mut tx, tenant_id, &new).await?;
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "tenant.admin_invited",
        "user",
        user.id,
        json!({ "email": user.email }),
    )
    .await?;
    account_links::invite_in(&mut tx, tenant_id, actor, user.id).await?;
    tx.commit().await?;
    Ok(user)
}

/// What a new territory has set up, as its admin's checklist shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Checklist {
    /// Schemes open to issuance.
    pub active_schemes: i64,
    pub prescribers: i64,
    /// Prescribers with an allocation on a scheme.
    pub prescribers_with_allocation: i64,
    /// Prescribers without a contact email: their daily digest has nowhere to go.
    pub prescribers_without_email: Vec<String>,
    pub epns: i64,
    /// EPNs that offer a scheme's modules.
    pub epns_taking_part: i64,
    /// Active users who are neither tenant admins nor disabled: the people who will work in it.
    pub staff: i64,
}

impl Checklist {
    /// Every step done.
    pub fn complete(&self) -> bool {
        self.active_schemes > 0
            && self.prescribers_with_allocation > 0
            && self.prescribers_without_email.is_empty()
            && self.epns_taking_part > 0
            && self.staff > 0
    }
}

/// The tenant's checklist, read in one query.
pub async fn checklist(db: &Db, tenant_id: Uuid) -> Result<Checklist, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let checklist = sqlx::query_as(
        "SELECT (SELECT count(*) FROM schemes WHERE tenant_id = $1 AND status = 'active') AS active_schemes,
                (SELECT count(*) FROM prescribers WHERE tenant_id = $1) AS prescribers,
                (SELECT count(DISTINCT prescriber_id) FROM allocations WHERE tenant_id = $1)
                    AS prescribers_with_allocation,
                coalesce((SELECT array_agg(name ORDER BY name) FROM prescribers
                           WHERE tenant_id = $1 AND (contact_email IS NULL OR btrim(contact_email) = '')), '{}')
                    AS prescribers_without_email,
                (SELECT count(*) FROM epns WHERE tenant_id = $1) AS epns,
                (SELECT count(DISTINCT epn_id) FROM epn_schemes WHERE tenant_id = $1) AS epns_taking_part,
                (SELECT count(*) FROM users WHERE tenant_id = $1 AND role <> 'tenant_admin' AND disabled_at IS NULL)
                    AS staff",
    )
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(checklist)
}
