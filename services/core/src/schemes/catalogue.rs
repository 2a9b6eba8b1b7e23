//! A scheme's module catalogue: the modules holders choose among and the public awareness kit
//! shows by theme, each with a short text and links to resources. The catalogue can be edited
//! after the scheme is created; a module that is already in use (offered by an EPN, chosen on a
//! voucher, planned for a session) keeps its number and can only have its text changed.

use serde_json::json;
use uuid::Uuid;

use super::SchemeDetail;
use crate::audit::{self, Actor};
use crate::error::Validator;
use crate::refusal::Refusal;
use crate::schemes::{SchemeRules, SchemeStatus};
use crate::storage::Tx;
use crate::tenancy::tenants;
use crate::{Db, Error};

/// The most modules a catalogue holds.
pub const MAX_MODULES: usize = 200;
/// The most resource links a module carries.
pub const MAX_LINKS: usize = 10;
/// The longest short text of a module, in characters.
pub const MAX_DESCRIPTION: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Module {
    pub number: i32,
    pub title: String,
    /// Its theme: the awareness kit groups modules by it.
    pub family: String,
    /// Resources for the awareness kit (https links).
    pub resource_links: Vec<String>,
    /// What the person learns there, in a few sentences, for the awareness kit.
    pub description: Option<String>,
}

impl Module {
    /// The same module with its texts trimmed and an empty description as none.
    fn tidied(&self) -> Self {
        Self {
            number: self.number,
            title: self.title.trim().to_owned(),
            family: self.family.trim().to_owned(),
            resource_links: self
                .resource_links
                .iter()
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect(),
            description: self
                .description
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
        }
    }
}

/// Whether a resource link may be shown to the public: an https address with a host, short
/// enough to print.
fn is_resource_link(link: &str) -> bool {
    link.len() <= 500
        && link.strip_prefix("https://").is_some_and(|rest| {
            rest.split('/')
                .next()
                .is_some_and(|host| host.contains('.'))
        })
        && !link.chars().any(char::is_whitespace)
}

pub(crate) fn validate_modules(modules: &[Module]) -> Result<(), Error> {
    let mut v = Validator::default();
    let mut numbers: Vec<i32> = modules.iter().map(|m| m.number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    v.check(
        numbers.len() == modules.len(),
        "modules",
        "module numbers must be unique",
    )
    .check(
        modules.len() <= MAX_MODULES,
        "modules",
        format!("at most {MAX_MODULES} modules"),
    )
    .check(
        modules.iter().all(|m| (1..=999).contains(&m.number)),
        "modules.number",
        "between 1 and 999",
    )
    .check(
        modules
            .iter()
            .all(|m| !m.title.trim().is_empty() && m.title.chars().count() <= 300),
        "modules.title",
        "between 1 and 300 characters",
    )
    .check(
        modules
            .iter()
            .all(|m| !m.family.trim().is_empty() && m.family.chars().count() <= 100),
        "modules.family",
        "between 1 and 100 characters",
    )
    .check(
        modules.iter().all(|m| {
            m.resource_links.len() <= MAX_LINKS
                && m.resource_links.iter().all(|l| is_resource_link(l.trim()))
        }),
        "modules.resource_links",
        format!("at most {MAX_LINKS} https:// links per module"),
    )
    .check(
        modules.iter().all(|m| {
            m.description
                .as_deref()
                .is_none_or(|d| d.trim().chars().count() <= MAX_DESCRIPTION)
        }),
        "modules.description",
        format!("at most {MAX_DESCRIPTION} characters"),
    );
    v.finish()
}

pub(crate) async fn insert(
    tx: &mut Tx,
    tenant_id: Uuid,
    scheme_id: Uuid,
    module: &Module,
) -> Result<(), Error> {
    let module = module.tidied();
    sqlx::query(
        "INSERT INTO scheme_modules (tenant_id, scheme_id, number, title, family, resource_links, description)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant_id)
    .bind(scheme_id)
    .bind(module.number)
    .bind(&module.title)
    .bind(&module.family)
    .bind(&module.resource_links)
    .bind(&module.description)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The scheme's catalogue, by number.
pub(crate) async fn of(tx: &mut Tx, scheme_id: Uuid) -> Result<Vec<Module>, Error> {
    Ok(sqlx::query_as(
        "SELECT number, title, family, resource_links, description FROM scheme_modules
          WHERE tenant_id = $2 AND scheme_id = $1 ORDER BY number",
    )
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?)
}

/// Of `numbers`, those an EPN offers, a voucher chose or a session was planned on.
async fn in_use(tx: &mut Tx, scheme_id: Uuid, numbers: &[i32]) -> Result<Vec<i32>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT n FROM unnest($2::int[]) AS n
          WHERE EXISTS (SELECT 1 FROM epn_modules WHERE tenant_id = $3 AND scheme_id = $1 AND module_number = n)
             OR EXISTS (SELECT 1 FROM voucher_modules WHERE tenant_id = $3 AND scheme_id = $1 AND module_number = n)
             OR EXISTS (SELECT 1 FROM sessions WHERE tenant_id = $3 AND scheme_id = $1 AND module_number = n)
          ORDER BY n",
    )
    .bind(scheme_id)
    .bind(numbers)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?)
}

/// Replaces the scheme's catalogue with `modules`: modules keep their numbers, new numbers are
/// added, and numbers left out are removed unless they are in use (refused, naming them). Every
/// version of the rules must still find enough modules to choose among. Audited with the numbers
/// added, changed and removed.
pub async fn replace(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    scheme_id: Uuid,
    modules: Vec<Module>,
) -> Result<SchemeDetail, Error> {
    validate_modules(&modules)?;
    let modules: Vec<Module> = modules.iter().map(Module::tidied).collect();
    let today = tenants::get(db, tenant_id).await?.today();
    let mut tx = db.begin_tenant(tenant_id).await?;
    let scheme = super::fetch_for_update(&mut tx, scheme_id).await?;
    if scheme.status == SchemeStatus::Closed {
        return Err(Refusal::SchemeClosed.into());
    }
    let versions: Vec<sqlx::types::Json<SchemeRules>> = sqlx::query_scalar(
        "SELECT rules FROM scheme_versions WHERE tenant_id = $2 AND scheme_id = $1",
    )
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut *tx)
    .await?;
    for rules in &versions {
        rules.0.validate(Some(modules.len()))?;
    }
    let before = of(&mut tx, scheme_id).await?;
    let removed: Vec<i32> = before
        .iter()
        .map(|m| m.number)
        .filter(|n| !modules.iter().any(|m| m.number == *n))
        .collect();
    let used = in_use(&mut tx, scheme_id, &removed).await?;
    if !used.is_empty() {
        return Err(Refusal::ModulesInUse { numbers: used }.into());
    }
    sqlx::query(
        "DELETE FROM scheme_modules WHERE tenant_id = $3 AND scheme_id = $1 AND number = ANY($2)",
    )
    .bind(scheme_id)
    .bind(&removed)
    .bind(tx.tenant_id())
    .execute(&mut *tx)
    .await?;
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for module in &modules {
        match before.iter().find(|m| m.number == module.number) {
            None => {
                insert(&mut tx, tenant_id, scheme_id, module).await?;
                added.push(module.number);
            }
            Some(old) if old != module => {
                sqlx::query(
                    "UPDATE scheme_modules SET title = $3, family = $4, resource_links = $5, description = $6
                      WHERE tenant_id = $7 AND scheme_id = $1 AND number = $2",
                )
                .bind(scheme_id)
                .bind(module.number)
                .bind(&module.title)
                .bind(&module.family)
                .bind(&module.resource_links)
                .bind(&module.description)
                .bind(tx.tenant_id())
                .execute(&mut *tx)
                .await?;
                changed.push(module.number);
            }
            Some(_) => {}
        }
    }
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "scheme.catalogue_changed",
        "scheme",
        scheme_id,
        json!({ "added": added, "changed": changed, "removed": removed }),
    )
    .await?;
    let detail = super::load_detail(&mut tx, scheme, today).await?;
    tx.commit().await?;
    Ok(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(links: &[&str], description: Option<&str>) -> Module {
        Module {
            number: 1,
            title: "Médias".into(),
            family: "Kit".into(),
            resource_links: links.iter().map(|l| (*l).to_owned()).collect(),
            description: description.map(str::to_owned),
        }
    }

    #[test]
    fn links_must_be_https_addresses_with_a_host() {
        for good in [
            "https://www.clemi.fr/",
            "https://service-public.fr/particuliers",
        ] {
            assert!(validate_modules(&[module(&[good], None)]).is_ok(), "{good}");
        }
        for bad in [
            "http://www.clemi.fr/",
            "javascript:alert(1)",
            "https://localhost/",
            "https://a.fr/x y",
            "https://",
        ] {
            assert!(validate_modules(&[module(&[bad], None)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_description_is_at_most_a_thousand_characters_and_blank_is_none() {
        let long = "é".repeat(MAX_DESCRIPTION + 1);
        assert!(validate_modules(&[module(&[], Some(&long))]).is_err());
        assert!(validate_modules(&[module(&[], Some(&long[2..]))]).is_ok());
        assert_eq!(module(&[], Some("  ")).tidied().description, None);
    }
}
