//! Which tables a territory's archive holds, read from the catalog: every table with a `tenant_id`
//! column, so a table added by a later migration travels without anyone remembering to list it.
//! The few left out are named here with the reason, and a test checks that each still exists.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::Error;

/// Tenant tables that do not travel: credentials and state that means nothing elsewhere.
pub const LEFT_OUT: [(&str, &str); 13] = [
    (
        "api_tokens",
        "API tokens are credentials: the new deployment issues its own",
    ),
    (
        "identity_providers",
        "the OpenID Connect client and its secret are credentials of this deployment: the new one registers its own, with its own redirect address",
    ),
    (
        "identity_provider_domains",
        "the domains allowed through a provider go with the provider, left out",
    ),
    (
        "user_identities",
        "identities linked through a provider go with the provider, left out: each agent is linked again at their first sign-in on the new deployment",
    ),
    (
        "totp_factors",
        "second-factor secrets are credentials: each user sets up an authenticator again on the new deployment",
    ),
    (
        "recovery_codes",
        "recovery codes are credentials, and stand in for the second factor left out with them",
    ),
    (
        "web_sessions",
        "portal sessions end with the deployment that opened them",
    ),
    (
        "account_links",
        "invitation and password links are credentials that expire within days",
    ),
    (
        "idempotency_keys",
        "replay protection is kept for 24 hours and then purged",
    ),
    (
        "import_chunks",
        "an uploaded file is kept only while its import runs; its report travels",
    ),
    (
        "credential_keys",
        "the signing keys are sealed with this deployment's service key, and what they signed names this deployment's addresses: the new deployment makes its own keys",
    ),
    (
        "credentials",
        "the credentials name this deployment's addresses (their id, keys and status list) and were signed by keys left out: holders take new ones from the new deployment",
    ),
    (
        "tenant_archives",
        "the archives written by the former deployment stay there, with their files; the audit log records them",
    ),
];

/// Columns written empty: a password hash is a credential, and the territory's users choose a new
/// password on the new deployment (« mot de passe oublié »).
pub const BLANKED: [(&str, &str); 1] = [("users", "password_hash")];

/// Load orders no foreign key says: the lines of a statement and their funders' shares have no
/// row-by-row key (a month writes millions), but a trigger refuses a row whose statement is not
/// there yet.
const LOADS_AFTER: [(&str, &str); 2] = [
    ("statement_lines", "statements"),
    ("statement_funder_shares", "statement_lines"),
];

/// How a column's values read in the Parquet copy. The CSV copy is PostgreSQL's own text for
/// every type, which `restore` loads back as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Integer,
    Boolean,
    Float,
    Date,
    /// `timestamptz`, written in UTC.
    Timestamp,
    /// Everything else, as PostgreSQL writes it: text, uuid, numeric, jsonb, bytea (`\x…` hex).
    Text,
}

impl ColumnKind {
    fn of(sql_type: &str) -> Self {
        match sql_type {
            "smallint" | "integer" | "bigint" => Self::Integer,
            "boolean" => Self::Boolean,
            "real" | "double precision" => Self::Float,
            "date" => Self::Date,
            "timestamp with time zone" => Self::Timestamp,
            _ => Self::Text,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedColumn {
    pub name: String,
    /// PostgreSQL's name of the type (`format_type`), for readers of the files.
    pub sql_type: String,
    pub kind: ColumnKind,
    pub nullable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedTable {
    pub name: String,
    pub columns: Vec<ArchivedColumn>,
    /// The primary key's columns: the files are sorted by them, so two exports of the same data
    /// are the same bytes.
    pub key: Vec<String>,
}

impl ArchivedTable {
    pub fn is_blanked(&self, column: &str) -> bool {
        BLANKED.contains(&(self.name.as_str(), column))
    }
}

/// The tables in an order that loads: a table comes after every table its foreign keys point to.
pub async fn tenant_tables(conn: &mut sqlx::PgConnection) -> Result<Vec<ArchivedTable>, Error> {
    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
           FROM pg_class c
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
            AND EXISTS (SELECT 1 FROM pg_attribute t
                         WHERE t.attrelid = c.oid AND t.attname = 'tenant_id' AND NOT t.attisdropped)
          ORDER BY c.relname, a.attnum",
    )
    .fetch_all(&mut *conn)
    .await?;
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text
           FROM pg_index i
           JOIN pg_class c ON c.oid = i.indrelid
           CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
          WHERE i.indisprimary AND c.relnamespace = 'public'::regnamespace
          ORDER BY c.relname, k.position",
    )
    .fetch_all(&mut *conn)
    .await?;
    let references: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT c.conrelid::regclass::text, c.confrelid::regclass::text
           FROM pg_constraint c
          WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
            AND c.conrelid <> c.confrelid",
    )
    .fetch_all(&mut *conn)
    .await?;

    let mut tables: BTreeMap<String, ArchivedTable> = BTreeMap::new();
    for (table, name, sql_type, nullable) in columns {
        if LEFT_OUT.iter().any(|(left, _)| *left == table) {
            continue;
        }
        tables
            .entry(table.clone())
            .or_insert_with(|| ArchivedTable {
                name: table,
                columns: Vec::new(),
                key: Vec::new(),
            })
            .columns
            .push(ArchivedColumn {
                name,
                kind: ColumnKind::of(&sql_type),
                sql_type,
                nullable,
            });
    }
    for (table, column) in keys {
        if let Some(t) = tables.get_mut(&table) {
            t.key.push(column);
        }
    }
    let mut needs: BTreeMap<String, BTreeSet<String>> = tables
        .keys()
        .map(|name| (name.clone(), BTreeSet::new()))
        .collect();
    let implicit = LOADS_AFTER
        .iter()
        .map(|(from, to)| ((*from).to_owned(), (*to).to_owned()));
    for (from, to) in references.into_iter().chain(implicit) {
        if tables.contains_key(&to)
            && let Some(set) = needs.get_mut(&from)
        {
            set.insert(to);
        }
    }
    let mut ordered = Vec::with_capacity(tables.len());
    while !needs.is_empty() {
        let ready: Vec<String> = needs
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        if ready.is_empty() {
            return Err(Error::Internal(format!(
                "the foreign keys between {:?} form a cycle: no load order exists",
                needs.keys().collect::<Vec<_>>()
            )));
        }
        for name in ready {
            needs.remove(&name);
            for deps in needs.values_mut() {
                deps.remove(&name);
            }
            if let Some(table) = tables.remove(&name) {
                ordered.push(table);
            }
        }
    }
    Ok(ordered)
}
