use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Role;
use super::tenants::is_email;
use crate::error::Validator;
use crate::pagination::{Page, PageRequest};
use crate::storage::Tx;
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
        "SELECT * FROM users WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
    )
    .bind(page.after)
    .bind(page.fetch_limit())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |u| u.id))
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<User, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let user = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

pub(crate) async fn fetch(tx: &mut Tx, id: Uuid) -> Result<User, Error> {
    sqlx::query_as("SELECT * FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("user"))
}

pub async fn find_by_email(tx: &mut Tx, email: &str) -> Result<Option<User>, Error> {
    Ok(
        sqlx::query_as("SELECT * FROM users WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// Disables a user: their tokens stop working at once; the record stays for the audit trail.
pub async fn disable(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<User, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let user: User = sqlx::query_as(
        "UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(Error::NotFound("user"))?;
    tx.commit().await?;
    Ok(user)
}
