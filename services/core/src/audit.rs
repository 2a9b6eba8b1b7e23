//! The append-only audit log. Every entry is written in the transaction of the change it records,
//! so a rolled-back change leaves no entry and a committed one always has its entry.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::pagination::{Page, PageRequest};
use crate::storage::Tx;
use crate::tenancy::{Principal, Role};
use crate::{Db, Error};

/// Who did something: a user of the tenant, the platform operator, or the system (a job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub role: &'static str,
}

impl Actor {
    /// A background job or the demo seed.
    pub const SYSTEM: Actor = Actor {
        user_id: None,
        role: "system",
    };
    /// The operator at the command line.
    pub const OPERATOR: Actor = Actor {
        user_id: None,
        role: "operator",
    };

    /// The actor of work done later on someone's behalf (an import, an archive), from the user id
    /// and role stored with the request. A role this version does not know reads as the system.
    pub fn stored(user_id: Option<Uuid>, role: &str) -> Actor {
        let role = match role.parse::<Role>() {
            Ok(role) => role.as_str(),
            Err(_) if role == Actor::OPERATOR.role => Actor::OPERATOR.role,
            Err(_) => Actor::SYSTEM.role,
        };
        Actor { user_id, role }
    }
}

impl From<&Principal> for Actor {
    fn from(p: &Principal) -> Self {
        match p {
            Principal::Platform { admin_id, .. } => Actor {
                user_id: Some(*admin_id),
                role: Role::PlatformAdmin.as_str(),
            },
            Principal::Tenant { user_id, role, .. } => Actor {
                user_id: Some(*user_id),
                role: role.as_str(),
            },
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_role: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub details: Value,
}

/// What an edit changed, as its audit entry keeps it: `{"before": {…}, "after": {…}}` with only
/// the fields whose value differs (each `(name, before, after)`); `None` when nothing changed,
/// so that an edit that changes nothing records nothing.
pub fn changes<'a>(
    fields: impl IntoIterator<Item = (&'a str, Option<String>, Option<String>)>,
) -> Option<Value> {
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    for (field, old, new) in fields {
        if old != new {
            before.insert(field.to_owned(), old.map_or(Value::Null, Value::String));
            after.insert(field.to_owned(), new.map_or(Value::Null, Value::String));
        }
    }
    (!after.is_empty()).then(|| serde_json::json!({ "before": before, "after": after }))
}

pub async fn record(
    tx: &mut Tx,
    tenant_id: Uuid,
    actor: Actor,
    action: &str,
    object_type: &str,
    object_id: impl ToString,
    details: Value,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, id, actor_id, actor_role, action, object_type, object_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(actor.user_id)
    .bind(actor.role)
    .bind(action)
    .bind(object_type)
    .bind(object_id.to_string())
    .bind(details)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub actor_id: Option<Uuid>,
    /// Newest first (a person reading the log), instead of oldest first (a client replaying it).
    pub newest_first: bool,
}

/// Entries, oldest first unless the filter asks for the newest first; the cursor continues in
/// the same order.
pub async fn list(
    db: &Db,
    tenant_id: Uuid,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEntry>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let (after, order) = if filter.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let rows: Vec<AuditEntry> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, occurred_at, actor_id, actor_role, action, object_type, object_id, details FROM audit_log
          WHERE tenant_id = $7 AND ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR object_type = $2)
            AND ($3::text IS NULL OR object_id = $3) AND ($4::uuid IS NULL OR actor_id = $4)
            AND ($5::uuid IS NULL OR id {after} $5)
          ORDER BY id {order} LIMIT $6"
    )))
    .bind(&filter.action)
    .bind(&filter.object_type)
    .bind(&filter.object_id)
    .bind(filter.actor_id)
    .bind(page.after)
    .bind(page.fetch_limit())
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Page::from_rows(rows, page, |e| e.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_keeps_only_the_fields_it_changed() {
        let same = || Some("CAF".to_owned());
        assert_eq!(changes([("name", same(), same())]), None);
        assert_eq!(
            changes([
                ("name", same(), same()),
                ("contact_email", None, Some("a@b.example".into())),
                ("siret", Some("1".into()), None),
            ]),
            Some(serde_json::json!({
                "before": { "contact_email": null, "siret": "1" },
                "after": { "contact_email": "a@b.example", "siret": null },
            }))
        );
    }
}
