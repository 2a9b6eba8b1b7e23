//! The statements the code under test sends, checked for what Citus needs to send each to one
//! shard: every tenant table a statement reads, locks or changes is pinned by `tenant_id = $n`
//! (or a literal), directly or through `x.tenant_id = y.tenant_id` from a pinned one. Row-level
//! security narrows the rows on every node, but Citus routes by the statement's own predicate:
//! without it, a statement fans out to every shard, and a row lock across shards is refused.
//!
//! With `PASSERELLE_STATEMENT_LOG` set to a directory (`make test` sets it), every test process
//! records there each distinct statement of the product's own code (not of the tests) that is not
//! pinned, with the source line that sent it; `statement_routing` in the core's tests reads them all
//! after the run. An `INSERT … VALUES` is routed by its values and needs nothing more.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use sqlparser::ast::{
    BinaryOperator, Expr, FromTable, InTarget, Insert, ObjectNamePart, OnConflict,
    OnConflictAction, OnInsert, Select, SetExpr, Statement, TableFactor, TableObject, Value, Visit,
    Visitor, visit_expressions,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use tracing::field::{Field, Visit as FieldVisit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

pub const LOG_DIRECTORY_VARIABLE: &str = "PASSERELLE_STATEMENT_LOG";

/// The files each process writes: its unrouted statements, and its proof of capture.
const RECORD_EXTENSION: &str = "tsv";
const PROOF_EXTENSION: &str = "proof";

/// Why a statement would not be routed to one shard.
#[derive(Debug, PartialEq, Eq)]
pub enum Unrouted {
    /// These tenant tables (as named in the statement) are not pinned to a tenant.
    Unpinned(Vec<String>),
    /// `INSERT … SELECT` into this tenant table without `RETURNING` nor `ON CONFLICT`: unless
    /// Citus can run it on the shard where the rows already are, it copies the selected rows into
    /// the shards with `COPY`, which row-level security refuses; with either clause it inserts
    /// them with `INSERT … SELECT` on each shard.
    CopiedInsert(String),
    /// An upsert into this tenant table whose `DO UPDATE SET` calls a function that is not
    /// immutable (`now()`…), which Citus refuses on a distributed table: `EXCLUDED.<column>`
    /// carries the column's default instead.
    VolatileUpsert(String),
    /// An `UPDATE` or `DELETE` of this tenant table calls a function that is not immutable inside
    /// `CASE` or `coalesce` (Citus evaluates `now()` on the coordinator, but not where it may not
    /// be evaluated at all), or in `RETURNING` (a subquery there too: the row-level security of
    /// the table it reads calls `current_setting`): Citus refuses these on a distributed table.
    /// `least(column, now())` keeps the earlier of a moment and now without `coalesce`.
    MutableInModification(String),
    /// The parser could not read the statement, so nothing can be said of it.
    Unreadable(String),
}

/// What keeps `statement` from being routed to one shard, if anything. `tenant_tables` are the
/// tables that carry a `tenant_id` (read from the catalog).
pub fn unrouted(statement: &str, tenant_tables: &HashSet<String>) -> Option<Unrouted> {
    let parsed = match Parser::parse_sql(&PostgreSqlDialect {}, statement) {
        Ok(parsed) => parsed,
        // What the parser cannot read is reported only when it names a tenant table.
        Err(e) => {
            let names_tenant_table = statement
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| tenant_tables.contains(word));
            return names_tenant_table.then(|| Unrouted::Unreadable(e.to_string()));
        }
    };
    let mut unpinned = Vec::new();
    for statement in &parsed {
        if let Some(table) = copied_insert(statement, tenant_tables) {
            return Some(Unrouted::CopiedInsert(table));
        }
        if let Some(table) = volatile_upsert(statement, tenant_tables) {
            return Some(Unrouted::VolatileUpsert(table));
        }
        if let Some(table) = mutable_in_modification(statement, tenant_tables) {
            return Some(Unrouted::MutableInModification(table));
        }
        let mut scopes = Scopes {
            tenant_tables,
            scopes: Vec::new(),
            open: Vec::new(),
            locking: matches!(statement, Statement::Query(query) if !query.locks.is_empty()),
        };
        let _ = statement.visit(&mut scopes);
        unpinned.extend(scopes.unpinned());
    }
    (!unpinned.is_empty()).then_some(Unrouted::Unpinned(unpinned))
}

/// The tenant table an upsert writes into when its `DO UPDATE SET` calls a volatile function.
fn volatile_upsert(statement: &Statement, tenant_tables: &HashSet<String>) -> Option<String> {
    let Statement::Insert(insert) = statement else {
        return None;
    };
    let Some(OnInsert::OnConflict(OnConflict {
        action: OnConflictAction::DoUpdate(update),
        ..
    })) = &insert.on
    else {
        return None;
    };
    let calls_volatile = update
        .assignments
        .iter()
        .any(|assignment| calls_not_immutable(&assignment.value.to_string()));
    if !calls_volatile {
        return None;
    }
    tenant_table_of(insert, tenant_tables)
}

/// Whether the text of an expression calls a function whose result is not fixed by its arguments
/// (the clock, chance, sequences), among those the product uses.
fn calls_not_immutable(text: &str) -> bool {
    const NOT_IMMUTABLE: [&str; 10] = [
        "now(",
        "current_timestamp",
        "current_date",
        "clock_timestamp(",
        "statement_timestamp(",
        "transaction_timestamp(",
        "random(",
        "uuid_v7(",
        "gen_random_uuid(",
        "nextval(",
    ];
    let text = text.to_lowercase();
    NOT_IMMUTABLE.iter().any(|function| text.contains(function))
}

/// The tenant table an `UPDATE` or `DELETE` changes when it calls a function that is not
/// immutable inside `CASE` or `coalesce`, or in `RETURNING`.
fn mutable_in_modification(
    statement: &Statement,
    tenant_tables: &HashSet<String>,
) -> Option<String> {
    let (table, checked, returning): (_, Vec<&Expr>, _) = match statement {
        Statement::Update(update) => {
            let mut checked: Vec<&Expr> = update.assignments.iter().map(|a| &a.value).collect();
            checked.extend(&update.selection);
            (
                relation_name(&update.table.relation),
                checked,
                &update.returning,
            )
        }
        Statement::Delete(delete) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            (
                from.first().and_then(|t| relation_name(&t.relation)),
                delete.selection.iter().collect(),
                &delete.returning,
            )
        }
        _ => return None,
    };
    let table = table.filter(|t| tenant_tables.contains(t))?;
    // A subquery in RETURNING reads a table under row-level security, whose policy calls
    // `current_setting`: refused as well.
    let in_returning = returning.iter().flatten().any(|item| {
        calls_not_immutable(&item.to_string())
            || visit_expressions(item, |expr| match expr {
                Expr::Subquery(_)
                | Expr::Exists { .. }
                | Expr::In {
                    target: InTarget::Subquery(_),
                    ..
                } => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            })
            .is_break()
    });
    let in_case_or_coalesce = checked.into_iter().any(|part| {
        visit_expressions(part, |expr| {
            let conditional = match expr {
                Expr::Case { .. } => true,
                Expr::Function(function) => {
                    function.name.to_string().eq_ignore_ascii_case("coalesce")
                }
                _ => false,
            };
            if conditional && calls_not_immutable(&expr.to_string()) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .is_break()
    });
    (in_returning || in_case_or_coalesce).then_some(table)
}

fn relation_name(factor: &TableFactor) -> Option<String> {
    let TableFactor::Table { name, .. } = factor else {
        return None;
    };
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => Some(ident.value.clone()),
        _ => None,
    }
}

fn tenant_table_of(insert: &Insert, tenant_tables: &HashSet<String>) -> Option<String> {
    let TableObject::TableName(name) = &insert.table else {
        return None;
    };
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) if tenant_tables.contains(&ident.value) => {
            Some(ident.value.clone())
        }
        _ => None,
    }
}

/// The tenant table an `INSERT … SELECT` without `RETURNING` nor `ON CONFLICT` writes into.
fn copied_insert(statement: &Statement, tenant_tables: &HashSet<String>) -> Option<String> {
    let Statement::Insert(insert) = statement else {
        return None;
    };
    let source = insert.source.as_ref()?;
    if matches!(source.body.as_ref(), SetExpr::Values(_))
        || insert.returning.is_some()
        || insert.on.is_some()
    {
        return None;
    }
    tenant_table_of(insert, tenant_tables)
}

/// A column `tenant_id`, qualified or not, as written in a scope.
#[derive(Clone, Debug)]
struct TenantColumn {
    qualifier: Option<String>,
    scope: usize,
}

#[derive(Default)]
struct Scope {
    parent: Option<usize>,
    /// (name the statement uses for it, table), for tenant tables only.
    tables: Vec<(String, String)>,
    pins: Vec<TenantColumn>,
    links: Vec<(TenantColumn, TenantColumn)>,
}

/// Each `SELECT` (each side of a `UNION` too), `UPDATE` and `DELETE` is a scope: a subquery sees the names of the scopes
/// around it, as in SQL.
struct Scopes<'a> {
    tenant_tables: &'a HashSet<String>,
    scopes: Vec<Scope>,
    open: Vec<usize>,
    /// A `SELECT … FOR UPDATE`: Citus locks rows only by a statement it can send to one shard,
    /// and it does not carry the tenant from an enclosing scope into a subquery there
    /// (`could not run distributed query with FOR UPDATE/SHARE commands`), so each scope must
    /// be pinned on its own.
    locking: bool,
}

impl Scopes<'_> {
    fn push(&mut self) {
        let parent = self.open.last().copied();
        self.scopes.push(Scope {
            parent,
            ..Scope::default()
        });
        self.open.push(self.scopes.len() - 1);
    }

    fn current(&mut self) -> Option<&mut Scope> {
        let index = *self.open.last()?;
        self.scopes.get_mut(index)
    }

    fn column(&self, expr: &Expr) -> Option<TenantColumn> {
        let scope = *self.open.last()?;
        match unwrapped(expr) {
            Expr::Identifier(ident) if ident.value == "tenant_id" => Some(TenantColumn {
                qualifier: None,
                scope,
            }),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [.., qualifier, column] if column.value == "tenant_id" => Some(TenantColumn {
                    qualifier: Some(qualifier.value.clone()),
                    scope,
                }),
                _ => None,
            },
            _ => None,
        }
    }

    /// The table (scope, index in its tables) a column names: the nearest scope that has it.
    fn resolve(&self, column: &TenantColumn) -> Option<(usize, usize)> {
        let mut scope = Some(column.scope);
        while let Some(index) = scope {
            let tables = &self.scopes[index].tables;
            match &column.qualifier {
                Some(qualifier) => {
                    if let Some(at) = tables.iter().position(|(name, _)| name == qualifier) {
                        return Some((index, at));
                    }
                }
                None => match tables.len() {
                    0 => {}
                    1 => return Some((index, 0)),
                    _ => return None,
                },
            }
            scope = self.scopes[index].parent;
        }
        None
    }

    fn unpinned(&self) -> Vec<String> {
        let mut pinned: HashSet<(usize, usize)> = self
            .scopes
            .iter()
            .flat_map(|scope| scope.pins.iter())
            .filter_map(|column| self.resolve(column))
            .collect();
        let links: Vec<_> = self
            .scopes
            .iter()
            .flat_map(|scope| scope.links.iter())
            .filter_map(|(a, b)| Some((self.resolve(a)?, self.resolve(b)?)))
            .filter(|(a, b)| !self.locking || a.0 == b.0)
            .collect();
        loop {
            let before = pinned.len();
            for (a, b) in &links {
                if pinned.contains(a) || pinned.contains(b) {
                    pinned.insert(*a);
                    pinned.insert(*b);
                }
            }
            if pinned.len() == before {
                break;
            }
        }
        self.scopes
            .iter()
            .enumerate()
            .flat_map(|(index, scope)| {
                scope
                    .tables
                    .iter()
                    .enumerate()
                    .map(move |(at, (_, table))| ((index, at), table))
            })
            .filter(|(key, _)| !pinned.contains(key))
            .map(|(_, table)| table.clone())
            .collect()
    }
}

/// A value Citus can route by: a parameter or a literal, cast or parenthesised.
fn is_fixed_value(expr: &Expr) -> bool {
    matches!(
        unwrapped(expr),
        Expr::Value(value) if matches!(
            value.value,
            Value::Placeholder(_) | Value::SingleQuotedString(_)
        )
    )
}

fn unwrapped(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast { expr, .. } | Expr::Nested(expr) => unwrapped(expr),
        other => other,
    }
}

impl Visitor for Scopes<'_> {
    type Break = ();

    fn pre_visit_select(&mut self, _select: &Select) -> ControlFlow<()> {
        self.push();
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, _select: &Select) -> ControlFlow<()> {
        self.open.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if matches!(statement, Statement::Update(_) | Statement::Delete(_)) {
            self.push();
        }
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if matches!(statement, Statement::Update(_) | Statement::Delete(_)) {
            self.open.pop();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, alias, .. } = factor {
            let table = match name.0.last() {
                Some(ObjectNamePart::Identifier(ident)) => ident.value.clone(),
                _ => return ControlFlow::Continue(()),
            };
            if self.tenant_tables.contains(&table) {
                let used_as = alias
                    .as_ref()
                    .map_or_else(|| table.clone(), |alias| alias.name.value.clone());
                if let Some(scope) = self.current() {
                    scope.tables.push((used_as, table));
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = expr
        {
            match (self.column(left), self.column(right)) {
                (Some(a), Some(b)) => {
                    if let Some(scope) = self.current() {
                        scope.links.push((a, b));
                    }
                }
                (Some(column), None) if is_fixed_value(right) => {
                    if let Some(scope) = self.current() {
                        scope.pins.push(column);
                    }
                }
                (None, Some(column)) if is_fixed_value(left) => {
                    if let Some(scope) = self.current() {
                        scope.pins.push(column);
                    }
                }
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }
}

struct Capture {
    directory: PathBuf,
    seen: Mutex<HashSet<u64>>,
    /// Whether this process has written its proof: the line of one statement of the product it
    /// saw, which shows that statements reach the capture and that their sender is found.
    proven: std::sync::atomic::AtomicBool,
}

static CAPTURE: OnceLock<Option<Capture>> = OnceLock::new();
static TENANT_TABLES: OnceLock<HashSet<String>> = OnceLock::new();

/// Starts recording unrouted statements for this process, when `PASSERELLE_STATEMENT_LOG` is set.
/// The tenant tables are read from the catalog of the first test database.
pub async fn capture(owner: &sqlx::PgPool) {
    let Some(_) = CAPTURE.get_or_init(|| {
        let directory = PathBuf::from(std::env::var_os(LOG_DIRECTORY_VARIABLE)?);
        std::fs::create_dir_all(&directory).ok()?;
        let layer = StatementLayer
            .with_filter(Targets::new().with_target("sqlx::query", tracing::Level::TRACE));
        // A test that installed its own subscriber keeps it.
        tracing_subscriber::registry().with(layer).try_init().ok()?;
        Some(Capture {
            directory,
            seen: Mutex::new(HashSet::new()),
            proven: std::sync::atomic::AtomicBool::new(false),
        })
    }) else {
        return;
    };
    if TENANT_TABLES.get().is_none() {
        let mut tables = passerelle_core::storage::preflight::tenant_tables(owner)
            .await
            .expect("read the tenant tables from the catalog");
        // A view with a tenant column (`statement_line_shares`) is read like a tenant table: Citus
        // routes a statement over it by the tenant named on it, as on its table.
        let views: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
              WHERE n.nspname = 'public' AND c.relkind = 'v'",
        )
        .fetch_all(owner)
        .await
        .expect("read the tenant views from the catalog");
        tables.extend(views);
        let _ = TENANT_TABLES.set(tables.into_iter().collect());
    }
}

struct StatementLayer;

#[derive(Default)]
struct StatementFields {
    summary: String,
    statement: String,
}

impl FieldVisit for StatementFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.clone_into(&mut self.statement),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "summary" | "db.statement") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for StatementLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = StatementFields::default();
        event.record(&mut fields);
        let sql = if fields.statement.trim().is_empty() {
            fields.summary
        } else {
            fields.statement
        };
        record(sql.trim());
    }
}

fn record(sql: &str) {
    let (Some(Some(capture)), Some(tenant_tables)) = (CAPTURE.get(), TENANT_TABLES.get()) else {
        return;
    };
    let mut hasher = DefaultHasher::new();
    sql.hash(&mut hasher);
    if !capture
        .seen
        .lock()
        .map(|mut seen| seen.insert(hasher.finish()))
        .unwrap_or(false)
    {
        return;
    }
    if !capture.proven.load(std::sync::atomic::Ordering::Relaxed)
        && let Some(sender) = sending_function()
    {
        capture
            .proven
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let proof = capture
            .directory
            .join(format!("{}.{PROOF_EXTENSION}", std::process::id()));
        let _ = std::fs::write(proof, sender);
    }
    let Some(reason) = unrouted(sql, tenant_tables) else {
        return;
    };
    let Some(sender) = sending_function() else {
        return;
    };
    let reason = match reason {
        Unrouted::Unpinned(tables) => tables.join(","),
        Unrouted::CopiedInsert(table) => format!("copied insert into {table}"),
        Unrouted::VolatileUpsert(table) => format!("volatile upsert of {table}"),
        Unrouted::MutableInModification(table) => {
            format!("clock in CASE, coalesce or RETURNING of a change to {table}")
        }
        Unrouted::Unreadable(error) => format!("unreadable: {error}"),
    };
    let line = format!(
        "{sender}\t{}\t{}\n",
        reason.replace(['\t', '\n'], " "),
        sql.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let path = capture
        .directory
        .join(format!("{}.{RECORD_EXTENSION}", std::process::id()));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(line.as_bytes());
    }
}

/// The innermost source line of the product's crates on the stack (`services/core/src/…:121`):
/// what sent the statement. None when the statement comes from a test or the harness. Async
/// functions' frames are named `{async_fn#0}`, so the file tells, not the symbol. The crate under
/// test has paths relative to its own folder (`./src/…`), which is where its tests run.
fn sending_function() -> Option<String> {
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    let here = std::env::current_dir().ok()?;
    trace.lines().find_map(|line| {
        let location = line.trim().strip_prefix("at ")?;
        let location = match location.strip_prefix("./") {
            Some(relative) => here.join(relative).to_string_lossy().into_owned(),
            None => location.to_owned(),
        };
        let from = location
            .find("/services/")
            .or_else(|| location.find("/jobs/"))?;
        let location = &location[from + 1..];
        let (path, _column) = location.rsplit_once(':')?;
        let mut parts = path.split('/');
        let (_, _, source) = (parts.next()?, parts.next()?, parts.next()?);
        (source == "src").then(|| path.to_owned())
    })
}

/// A statement recorded: the line that sent it, the tables it does not pin (or why it could not
/// be read), and the statement.
pub type RecordedStatement = (u32, String, String);

/// What the test processes of a run recorded, by source file.
pub fn recorded(
    directory: &std::path::Path,
) -> std::io::Result<BTreeMap<String, BTreeSet<RecordedStatement>>> {
    let mut found: BTreeMap<String, BTreeSet<RecordedStatement>> = BTreeMap::new();
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(RECORD_EXTENSION) {
            continue;
        }
        let text = std::fs::read_to_string(path)?;
        for line in text.lines() {
            let mut fields = line.splitn(3, '\t');
            let (Some(location), Some(reason), Some(sql)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let (file, number) = location.rsplit_once(':').unwrap_or((location, "0"));
            found.entry(file.to_owned()).or_default().insert((
                number.parse().unwrap_or(0),
                reason.to_owned(),
                sql.to_owned(),
            ));
        }
    }
    Ok(found)
}

/// How many test processes saw a statement of the product and found the line that sent it.
pub fn proven_processes(directory: &std::path::Path) -> std::io::Result<usize> {
    let mut proven = 0;
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) == Some(PROOF_EXTENSION)
            && std::fs::read_to_string(&path)?.contains("/src/")
        {
            proven += 1;
        }
    }
    Ok(proven)
}
