use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Role;
use super::tenants::is_email;
use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::pagination::{Page, PageRequest};
use crate::refusal::Refusal;
use crate::storage::{Change, Tx};
use crate::{Db, Error};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    #[sqlx(try_from = "String")]
    pub role: RoleColumn,
    pub prescriber_id: Option<Uuid>,
    pub epn_id: Option<Uuid>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A role read back from the `users.role` column (constrained to tenant roles by the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleColumn(pub Role);

impl TryFrom<String> for RoleColumn {
    type Error = super::role::UnknownRole;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse().map(RoleColumn)
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub prescriber_id: Option<Uuid>,
    pub epn_id: Option<Uuid>,
}

impl NewUser {
    pub fn validate(&self) -> Result<(), Error> {
        let mut v = Validator::default();
        v.check(is_email(&self.email), "email", "an email address")
            .check(
                !self.display_name.trim().is_empty() && self.display_name.chars().count() <= 200,
                "display_name",
                "between 1 and 200 characters",
            )
            .check(
                self.role != Role::PlatformAdmin,
                "role",
                "platform_admin is not a tenant role",
            )
            .check(
                (self.role == Role::Prescriber) == self.prescriber_id.is_some(),
                "prescriber_id",
                "required for the prescriber role and only for it",
            )
            .check(
                (self.role == Role::Epn) == self.epn_id.is_some(),
                "epn_id",
                "required for the epn role and only for it",
            );
        v.finish()
    }
}

pub async fn create(db: &Db, tenant_id: Uuid, new: &NewUser) -> Result<User, Error> {
    new.validate()?;
    let mut tx = db.begin_tenant(tenant_id).await?;
    let user = insert(&mut tx, tenant_id, new).await?;
    tx.commit().await?;
    Ok(user)
}

pub(crate) async fn insert(tx: &mut Tx, tenant_id: Uuid, new: &NewUser) -> Result<User, Error> {
    Ok(sqlx::query_as(
        "INSERT INTO users (tenant_id, id, email, display_name, role, prescriber_id, epn_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(new.email.trim())
    .bind(new.display_name.trim())
    .bind(new.role.as_str())
    .bind(new.prescriber_id)
    .bind(new.epn_id)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn list(db: &Db, tenant_id: Uuid, page: PageRequest) -> Result<Page<User>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let rows: Vec<User> = sqlx::query_as(
        "SELECT * FROM users WHERE tenant_id = $3 AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
    )
    .bind(page.after)
    .bind(page.fetch_limit())
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |u| u.id))
}

/// A user as the process keeps it (`storage::memory`): for showing who someone is, as every
/// change of a user is announced. A decision inside a transaction reads `fetch` instead.
pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<User, Error> {
    if let Some(user) = db.memory().user(tenant_id, id) {
        return Ok(user);
    }
    let read_at = db.memory().generation();
    let mut tx = db.begin_tenant(tenant_id).await?;
    let user = fetch(&mut tx, id).await?;
    tx.commit().await?;
    db.memory().keep_user(read_at, user.clone());
    Ok(user)
}

pub(crate) async fn fetch(tx: &mut Tx, id: Uuid) -> Result<User, Error> {
    sqlx::query_as("SELECT * FROM users WHERE tenant_id = $2 AND id = $1")
        .bind(id)
        .bind(tx.tenant_id())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("user"))
}

pub async fn find_by_email(tx: &mut Tx, email: &str) -> Result<Option<User>, Error> {
    Ok(
        sqlx::query_as("SELECT * FROM users WHERE tenant_id = $2 AND lower(email) = lower($1)")
            .bind(email)
            .bind(tx.tenant_id())
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// What a tenant admin changes in a user: `None` keeps a field. A user's role, organisation and
/// EPN go together: a new role takes the organisation or EPN it needs, and drops the others.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub prescriber_id: Option<Option<Uuid>>,
    pub epn_id: Option<Option<Uuid>>,
}

/// Changes a user with the validation of their creation, takes effect at their next request (a
/// role is read at each one), and is audited with each changed field before and after. The
/// tenant's last active tenant admin keeps that role, or nobody could manage the tenant.
pub async fn update(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    id: Uuid,
    changes: UserChanges,
) -> Result<User, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    // Every tenant admin is locked, so that two admins demoting each other at once cannot both
    // succeed.
    sqlx::query("SELECT id FROM users WHERE tenant_id = $1 AND role = 'tenant_admin' ORDER BY id FOR UPDATE")
        .bind(tx.tenant_id())
        .execute(&mut *tx)
        .await?;
    let before: User =
        sqlx::query_as("SELECT * FROM users WHERE tenant_id = $2 AND id = $1 FOR UPDATE")
            .bind(id)
            .bind(tx.tenant_id())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound("user"))?;
    let RoleColumn(old_role) = before.role;
    let role = changes.role.unwrap_or(old_role);
    let keep = |given: Option<Option<Uuid>>, current: Option<Uuid>, needed: bool| match given {
        Some(id) => id,
        None if needed => current,
        None => None,
    };
    let after = NewUser {
        email: changes
            .email
            .map(|e| e.trim().to_owned())
            .unwrap_or_else(|| before.email.clone()),
        display_name: changes
            .display_name
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| before.display_name.clone()),
        role,
        prescriber_id: keep(
            changes.prescriber_id,
            before.prescriber_id,
            role == Role::Prescriber,
        ),
        epn_id: keep(changes.epn_id, before.epn_id, role == Role::Epn),
    };
    after.validate()?;
    if old_role == Role::TenantAdmin && role != Role::TenantAdmin && before.disabled_at.is_none() {
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM users WHERE tenant_id = $2 AND role = 'tenant_admin' AND disabled_at IS NULL AND id <> $1",
        )
        .bind(id)
        .bind(tx.tenant_id())
        .fetch_one(&mut *tx)
        .await?;
        if others == 0 {
            return Err(Refusal::LastTenantAdmin.into());
        }
    }
    let updated: User = sqlx::query_as(
        "UPDATE users SET email = $2, display_name = $3, role = $4, prescriber_id = $5, epn_id = $6,
                          funder_id = CASE WHEN $4 = 'funder' THEN funder_id END
          WHERE tenant_id = $7 AND id = $1 RETURNING *",
    )
    .bind(id)
    .bind(&after.email)
    .bind(&after.display_name)
    .bind(after.role.as_str())
    .bind(after.prescriber_id)
    .bind(after.epn_id)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    // A role, an EPN or an organisation changed: the tokens' principals are read again.
    let tenant_id = tx.tenant_id();
    tx.changed(Change::TenantPrincipals(tenant_id)).await?;
    let text = |v: Option<Uuid>| v.map(|id| id.to_string());
    let pairs = [
        (
            "email",
            Some(before.email.clone()),
            Some(updated.email.clone()),
        ),
        (
            "display_name",
            Some(before.display_name.clone()),
            Some(updated.display_name.clone()),
        ),
        (
            "role",
            Some(old_role.as_str().to_owned()),
            Some(role.as_str().to_owned()),
        ),
        (
            "prescriber_id",
            text(before.prescriber_id),
            text(updated.prescriber_id),
        ),
        ("epn_id", text(before.epn_id), text(updated.epn_id)),
    ];
    if let Some(details) = audit::changes(pairs) {
        audit::record(
            &mut tx,
            tenant_id,
            actor,
            "user.updated",
            "user",
            id,
            details,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(updated)
}

/// Disables a user: their tokens stop working at once; the record stays for the audit trail.
pub async fn disable(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<User, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let user: User = sqlx::query_as(
        // The first disabling's moment stays: `least` ignores the NULL of an active user. Not
        // `coalesce`, which Citus refuses around `now()` in an UPDATE of a distributed table.
        "UPDATE users SET disabled_at = least(disabled_at, now()) WHERE tenant_id = $2 AND id = $1 RETURNING *",
    )
    .bind(id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("user"))?;
    tx.changed(Change::TenantPrincipals(tenant_id)).await?;
    tx.commit().await?;
    Ok(user)
}
