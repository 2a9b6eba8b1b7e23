//! National-scale data for the benchmarks: by default 20 tenants, 4,000 EPNs, 1,000,000 vouchers
//! and about 8,000,000 attendance rows, loaded with `COPY` in minutes, the same rows for the same
//! seed. Tenants, schemes, prescribers and allocations go through the domain code; everything
//! else is drawn here and streamed to PostgreSQL.
//!
//! The spread: four kinds of prescriber with uneven shares; the six common public categories and
//! two rare ones; a dozen communes per tenant, one rare; two modules chosen per voucher; vouchers
//! issued over the first year, attending from 6 to 11 sessions of their EPN (about one in nine
//! absent) over the weeks after their issue, within their year of validity; 5% never come; a
//! third of holders gave an email. Sessions run every other day at each EPN over two years, so the
//! attendance of the last vouchers issued runs into the second.
//!
//! `COPY FROM` does not run under row-level security, so the load lifts `FORCE ROW LEVEL
//! SECURITY` from the tables it fills for its length and puts it back at the end: this is for a
//! benchmark's own database, never a shared one. The attendance table's foreign keys are dropped
//! for the load and put back `NOT VALID` (the rows are built from the keys just written); indexes
//! that back no constraint are dropped and built again after it.
//!
//! Each voucher's draws come from a generator seeded by (seed, tenant, voucher), so each table is
//! written in its own pass, parents before children, and every pass draws the same voucher.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, TimeZone};
use passerelle_core::audit::Actor;
use passerelle_core::prescribers::{self, NewAllocation, NewPrescriber};
use passerelle_core::tenancy::tenants::TenantKind;
use sqlx::postgres::PgPoolCopyExt;
use sqlx::{AssertSqlSafe, ConnectOptions, PgPool};
use uuid::Uuid;

use crate::{TestDatabase, active_ticket_net, create_tenant};

#[derive(Debug, Clone, Copy)]
pub struct NationalSpec {
    pub seed: u64,
    pub tenants: usize,
    pub epns_per_tenant: usize,
    pub vouchers_per_tenant: usize,
    /// Sessions per EPN over the two years (one every other day at 365).
    pub sessions_per_epn: usize,
    /// The first day of the first year.
    pub first_day: NaiveDate,
}

impl NationalSpec {
    /// 20 tenants × 200 EPNs × 50,000 vouchers, from 1 January 2025.
    pub fn national(seed: u64) -> Self {
        Self {
            seed,
            tenants: 20,
            epns_per_tenant: 200,
            vouchers_per_tenant: 50_000,
            sessions_per_epn: 365,
            first_day: NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GeneratedTenant {
    pub id: Uuid,
    pub slug: String,
    pub scheme_id: Uuid,
}

#[derive(Debug)]
pub struct NationalData {
    pub tenants: Vec<GeneratedTenant>,
    /// Rows written per table.
    pub rows: BTreeMap<&'static str, u64>,
    pub took: Duration,
}

/// A small, fast, seedable generator (SplitMix64): the same seed gives the same rows.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// An id that sorts by (`tenant`, `n`, `kind`), then random bits, as uuid v7 ids sort by
    /// time in production: each table's rows arrive in key order, so their indexes grow at the
    /// end instead of taking each key at a random place.
    fn id(&mut self, tenant: usize, n: usize, kind: u16) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[0..2].copy_from_slice(&(tenant as u16).to_be_bytes());
        bytes[2..6].copy_from_slice(&(n as u32).to_be_bytes());
        bytes[6] = 0x70 | ((kind >> 8) as u8 & 0x0F);
        bytes[7] = kind as u8;
        bytes[8..16].copy_from_slice(&self.next().to_be_bytes());
        bytes[8] = 0x80 | (bytes[8] & 0x3F);
        Uuid::from_bytes(bytes)
    }
}

const CATEGORIES: [(&str, u64); 8] = [
    ("minima_sociaux", 24),
    ("senior", 22),
    ("single_parent", 14),
    ("low_qualified_employee", 12),
    ("parent_of_pupil", 12),
    ("social_insurance_user", 12),
    ("other", 3),
    ("spouse_of_self_employed", 1),
];

const PRESCRIBER_KINDS: [(&str, &str, u64); 4] = [
    ("CAF", "caf", 40),
    ("CCAS", "ccas", 30),
    ("France Travail", "france_travail", 20),
    ("Mission locale", "mission_locale", 10),
];

fn weighted<'a, T>(draw: &mut Draw, items: &'a [(T, u64)]) -> &'a T {
    let total: u64 = items.iter().map(|(_, w)| w).sum();
    let mut pick = draw.below(total);
    for (item, weight) in items {
        if pick < *weight {
            return item;
        }
        pick -= weight;
    }
    &items[items.len() - 1].0
}

/// Streams rows (tab-separated `COPY` text) in batches of about a megabyte.
struct CopyStream<'a> {
    copy: sqlx::postgres::PgCopyIn<sqlx::pool::PoolConnection<sqlx::Postgres>>,
    buffer: String,
    rows: u64,
    table: &'a str,
}

impl<'a> CopyStream<'a> {
    async fn open(pool: &PgPool, table: &'a str, columns: &str) -> Self {
        let copy = pool
            .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN"))
            .await
            .unwrap_or_else(|e| panic!("COPY {table}: {e}"));
        Self {
            copy,
            buffer: String::with_capacity(1 << 21),
            rows: 0,
            table,
        }
    }

    async fn row(&mut self, fields: std::fmt::Arguments<'_>) {
        self.buffer.write_fmt(fields).expect("write to a String");
        self.buffer.push('\n');
        self.rows += 1;
        if self.buffer.len() >= 1 << 20 {
            self.copy
                .send(self.buffer.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("COPY {}: {e}", self.table));
            self.buffer.clear();
        }
    }

    async fn finish(mut self) -> u64 {
        if !self.buffer.is_empty() {
            self.copy
                .send(self.buffer.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("COPY {}: {e}", self.table));
        }
        self.copy
            .finish()
            .await
            .unwrap_or_else(|e| panic!("COPY {}: {e}", self.table));
        self.rows
    }
}

const LOADED: [&str; 9] = [
    "epns",
    "epn_schemes",
    "beneficiaries",
    "vouchers",
    "registrations",
    "voucher_modules",
    "sessions",
    "attendances",
    "attendance_competences",
];

/// The attendance table's foreign keys, which bulk loads drop and put back `NOT VALID`.
pub(crate) const ATTENDANCE_KEYS: [(&str, &str); 3] = [
    (
        "attendances_session_fkey",
        "FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id)",
    ),
    (
        "attendances_voucher_fkey",
        "FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id)",
    ),
    (
        "attendances_epn_fkey",
        "FOREIGN KEY (tenant_id, epn_id) REFERENCES epns (tenant_id, id)",
    ),
];

async fn owner_sql(pool: &PgPool, sql: &str) {
    sqlx::query(AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Generates the data into `db` (a fresh database: the generator expects no other rows).
pub async fn generate(db: &TestDatabase, spec: NationalSpec) -> NationalData {
    let started = Instant::now();
    let mut draw = Draw(spec.seed);
    let mut tenants = Vec::new();
    let mut prescribers_by_tenant = Vec::new();
    for t in 0..spec.tenants {
        let (a, b) = (b'a' + (t / 26) as u8, b'a' + (t % 26) as u8);
        // Distinct three-letter reference prefixes: NAA, NAB…
        let slug = format!("n{}{}-bench", a as char, b as char);
        let tenant = create_tenant(
            &db.app,
            &slug,
            TenantKind::Departement,
            // Clear of the codes the benchmarks give their own tenants (11, 18, 32, 46).
            &format!("{}", 60 + t),
        )
        .await;
        let scheme_id = active_ticket_net(&db.app, tenant.id, None, Some(spec.first_day)).await;
        let mut prescribers = Vec::new();
        for (name, kind, share) in PRESCRIBER_KINDS {
            let prescriber = prescribers::create(
                &db.app,
                tenant.id,
                Actor::SYSTEM,
                &NewPrescriber {
                    name: format!("{name} {slug}"),
                    kind: kind.parse().expect("a prescriber kind"),
                    contact_email: Some(format!("{kind}@{slug}.example")),
                    ..NewPrescriber::default()
                },
            )
            .await
            .expect("prescriber");
            let allocation = prescribers::allocate(
                &db.app,
                tenant.id,
                Actor::SYSTEM,
                prescriber.id,
                &NewAllocation {
                    scheme_id,
                    period_start: spec.first_day,
                    period_end: spec.first_day + Days::new(364),
                    // An allocation holds at most a million vouchers; the bulk load does not
                    // count a prescriber's issued vouchers against it.
                    quantity: i32::try_from(spec.vouchers_per_tenant.min(1_000_000))
                        .unwrap_or(i32::MAX),
                },
            )
            .await
            .expect("allocation");
            prescribers.push(((prescriber.id, allocation.id), share));
        }
        prescribers_by_tenant.push(prescribers);
        tenants.push(GeneratedTenant {
            id: tenant.id,
            slug,
            scheme_id,
        });
    }

    let pool = &db.owner;
    for table in LOADED {
        owner_sql(
            pool,
            &format!("ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"),
        )
        .await;
    }
    for (constraint, _) in ATTENDANCE_KEYS {
        owner_sql(
            pool,
            &format!("ALTER TABLE attendances DROP CONSTRAINT {constraint}"),
        )
        .await;
    }
    // Indexes that back no constraint are built again after the load, in one sort each, instead
    // of taking millions of rows one at a time.
    let plain_indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.relname::text, pg_get_indexdef(x.indexrelid)
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
         WHERE t.relname = ANY($1) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
    )
    .bind(&LOADED[..])
    .fetch_all(pool)
    .await
    .expect("the loaded tables' indexes");
    for (name, _) in &plain_indexes {
        owner_sql(pool, &format!("DROP INDEX {name}")).await;
    }

    let competences: Vec<String> = sqlx::query_scalar(
        "SELECT code FROM competences WHERE referential_code = 'crcn' ORDER BY code",
    )
    .fetch_all(pool)
    .await
    .expect("competences");
    let paris = chrono_tz::Europe::Paris;
    let mut rows = BTreeMap::new();
    let mut epns = CopyStream::open(pool, "epns", "tenant_id, id, name").await;
    let mut epn_schemes =
        CopyStream::open(pool, "epn_schemes", "tenant_id, epn_id, scheme_id").await;
    let mut sessions = CopyStream::open(
        pool,
        "sessions",
        "tenant_id, id, epn_id, scheme_id, module_number, starts_at, duration_minutes, capacity, status",
    )
    .await;
    let mut epn_ids = Vec::new();
    let mut session_ids: Vec<Vec<Vec<Uuid>>> = Vec::new();
    let mut session_days = Vec::new();
    for j in 0..spec.sessions_per_epn {
        session_days.push((j * 730 / spec.sessions_per_epn) as u64);
    }
    for (t, tenant) in tenants.iter().enumerate() {
        let mut tenant_epns = Vec::new();
        let mut tenant_sessions = Vec::new();
        for e in 0..spec.epns_per_tenant {
            let id = draw.id(t, e, 0xE00);
            epns.row(format_args!(
                "{}\t{id}\tEPN {:04} {}",
                tenant.id,
                e + 1,
                tenant.slug
            ))
            .await;
            epn_schemes
                .row(format_args!("{}\t{id}\t{}", tenant.id, tenant.scheme_id))
                .await;
            let mut ids = Vec::with_capacity(spec.sessions_per_epn);
            for (j, day) in session_days.iter().enumerate() {
                let session_id = draw.id(t, e * 1_000 + j, 0xF00);
                let date = spec.first_day + Days::new(*day);
                let hour = if j % 2 == 0 { 9 } else { 14 };
                let starts_at = paris
                    .from_local_datetime(&date.and_hms_opt(hour, 0, 0).expect("a time"))
                    .earliest()
                    .expect("a Paris time")
                    .to_utc();
                sessions
                    .row(format_args!(
                        "{}\t{session_id}\t{id}\t{}\t{}\t{}\t120\t12\theld",
                        tenant.id,
                        tenant.scheme_id,
                        1 + j % 14,
                        starts_at.to_rfc3339()
                    ))
                    .await;
                ids.push(session_id);
            }
            tenant_epns.push(id);
            tenant_sessions.push(ids);
        }
        epn_ids.push(tenant_epns);
        session_ids.push(tenant_sessions);
    }
    rows.insert("epns", epns.finish().await);
    rows.insert("epn_schemes", epn_schemes.finish().await);
    rows.insert("sessions", sessions.finish().await);

    // A dozen communes per tenant (one of them rare, drawn apart in `plan`).
    let communes: Vec<Vec<String>> = (0..tenants.len())
        .map(|t| {
            (0..12)
                .map(|c| format!("{:02}{:03}", (t + 1) % 96, 10 + c * 17))
                .collect()
        })
        .collect();
    let plans = |t: usize| {
        let (prescribers, communes) = (&prescribers_by_tenant[t], &communes[t]);
        let (session_days, competences) = (&session_days, &competences);
        (0..spec.vouchers_per_tenant)
            .map(move |n| plan(spec, t, n, prescribers, communes, session_days, competences))
    };

    let mut stream = CopyStream::open(
        pool,
        "beneficiaries",
        "tenant_id, id, first_name, last_name, public_category, prescriber_id, birth_year, commune_insee, email, email_consent",
    )
    .await;
    for (t, tenant) in tenants.iter().enumerate() {
        for (n, p) in plans(t).enumerate() {
            let email = if p.email {
                format!("holder{n}.{t}@mail.example")
            } else {
                "\\N".into()
            };
            stream
                .row(format_args!(
                    "{}\t{}\tPrenom{n}\tNom{n}\t{}\t{}\t{}\t{}\t{email}\t{}",
                    tenant.id,
                    p.beneficiary_id,
                    p.category,
                    p.prescriber_id,
                    p.birth_year,
                    p.commune,
                    if p.email { "t" } else { "f" },
                ))
                .await;
        }
    }
    rows.insert("beneficiaries", stream.finish().await);

    let mut stream = CopyStream::open(
        pool,
        "vouchers",
        "tenant_id, id, reference, scheme_id, rules_version, beneficiary_id, prescriber_id, allocation_id, issued_on, valid_until, status, minutes_total, minutes_left, face_value_cents, cancel_reason, cancelled_at",
    )
    .await;
    for (t, tenant) in tenants.iter().enumerate() {
        for (n, p) in plans(t).enumerate() {
            let issued_on = spec.first_day + Days::new(p.issued_day);
            let valid_until = issued_on + Days::new(364);
            let present = p.attendances.iter().filter(|a| !a.absent).count() as u64;
            let minutes_left = 1200 - 120 * present;
            let status = if p.cancelled {
                "cancelled"
            } else if minutes_left == 0 {
                "completed"
            } else if p.expired {
                "expired"
            } else if !p.attendances.is_empty() {
                "in_progress"
            } else if p.comes {
                "registered"
            } else {
                "issued"
            };
            let cancellation = if p.cancelled {
                format!(
                    "erreur de saisie\t{} 12:00:00+00",
                    issued_on + Days::new(10)
                )
            } else {
                "\\N\t\\N".to_owned()
            };
            stream
                .row(format_args!(
                    "{}\t{}\t{}-{n:07}\t{}\t1\t{}\t{}\t{}\t{issued_on}\t{valid_until}\t{status}\t1200\t{minutes_left}\t20000\t{cancellation}",
                    tenant.id,
                    p.voucher_id,
                    tenant.slug,
                    tenant.scheme_id,
                    p.beneficiary_id,
                    p.prescriber_id,
                    p.allocation_id,
                ))
                .await;
        }
    }
    rows.insert("vouchers", stream.finish().await);

    let mut stream = CopyStream::open(
        pool,
        "registrations",
        "tenant_id, id, voucher_id, epn_id, registered_at",
    )
    .await;
    for (t, tenant) in tenants.iter().enumerate() {
        for p in plans(t).filter(|p| p.comes) {
            stream
                .row(format_args!(
                    "{}\t{}\t{}\t{}\t{} 10:00:00+00",
                    tenant.id,
                    p.registration_id,
                    p.voucher_id,
                    epn_ids[t][p.epn],
                    spec.first_day + Days::new(p.issued_day + 2)
                ))
                .await;
        }
    }
    rows.insert("registrations", stream.finish().await);

    let mut stream = CopyStream::open(
        pool,
        "voucher_modules",
        "tenant_id, voucher_id, scheme_id, module_number",
    )
    .await;
    for (t, tenant) in tenants.iter().enumerate() {
        for p in plans(t).filter(|p| p.comes) {
            for module in [p.first_module, p.first_module + 1] {
                stream
                    .row(format_args!(
                        "{}\t{}\t{}\t{module}",
                        tenant.id, p.voucher_id, tenant.scheme_id
                    ))
                    .await;
            }
        }
    }
    rows.insert("voucher_modules", stream.finish().await);

    let mut stream = CopyStream::open(
        pool,
        "attendances",
        "tenant_id, id, session_id, voucher_id, epn_id, status, minutes_debited, recorded_at",
    )
    .await;
    for (t, tenant) in tenants.iter().enumerate() {
        for p in plans(t) {
            for a in &p.attendances {
                stream
                    .row(format_args!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{} 18:00:00+00",
                        tenant.id,
                        a.id,
                        session_ids[t][p.epn][a.session],
                        p.voucher_id,
                        epn_ids[t][p.epn],
                        if a.absent { "absent" } else { "present" },
                        if a.absent { 0 } else { 120 },
                        spec.first_day + Days::new(session_days[a.session]),
                    ))
                    .await;
            }
        }
    }
    rows.insert("attendances", stream.finish().await);

    let mut stream = CopyStream::open(
        pool,
        "attendance_competences",
        "tenant_id, attendance_id, referential_code, competence_code, level",
    )
    .await;
    for (t, tenant) in tenants.iter().enumerate() {
        for p in plans(t) {
            for a in &p.attendances {
                if let Some((competence, level)) = a.worked {
                    stream
                        .row(format_args!(
                            "{}\t{}\tcrcn\t{competence}\t{level}",
                            tenant.id, a.id
                        ))
                        .await;
                }
            }
        }
    }
    rows.insert("attendance_competences", stream.finish().await);

    for (constraint, definition) in ATTENDANCE_KEYS {
        owner_sql(
            pool,
            &format!("ALTER TABLE attendances ADD CONSTRAINT {constraint} {definition} NOT VALID"),
        )
        .await;
    }
    for (_, definition) in &plain_indexes {
        owner_sql(pool, definition).await;
    }
    for table in LOADED {
        owner_sql(
            pool,
            &format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
        )
        .await;
    }
    owner_sql(pool, "ANALYZE").await;
    NationalData {
        tenants,
        rows,
        took: started.elapsed(),
    }
}

/// Bumped whenever the generator writes different rows, so that a kept copy is not reused.
const GENERATOR_VERSION: u32 = 2;

/// Names of the databases that keep generated data between benchmarks (`make bench` drops them).
pub const SHARED_PREFIX: &str = "passerelle_national_";

/// National data for one benchmark: a copy of its own (`CREATE DATABASE … TEMPLATE`, seconds) of
/// the data generated for `spec`, which the first benchmark to ask generates (minutes) into a
/// database named after the spec and keeps: `make bench` pays for the generation once, and every
/// benchmark starts from the same rows.
pub async fn shared(spec: NationalSpec) -> (TestDatabase, NationalData) {
    let (template, data) = kept(spec).await;
    (TestDatabase::from_template(&template).await, data)
}

/// The name of the database that keeps the data for `spec`, generated first if need be, and what
/// it holds. Nobody stays connected to it: it is copied, never used in place.
pub async fn kept(spec: NationalSpec) -> (String, NationalData) {
    let template = format!("{SHARED_PREFIX}{:016x}", fingerprint(&spec));
    let mut maintenance = crate::owner_options()
        .connect()
        .await
        .expect("reach PostgreSQL as the owner role");
    let kept: Option<Option<String>> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(&template)
    .fetch_optional(&mut maintenance)
    .await
    .expect("look for kept national data");
    let data = match kept
        .flatten()
        .as_deref()
        .and_then(NationalData::from_comment)
    {
        Some(data) => data,
        None => {
            let db = TestDatabase::create().await;
            let data = generate(&db, spec).await;
            let name = db.name.clone();
            db.close().await;
            for sql in [
                format!("DROP DATABASE IF EXISTS {template} WITH (FORCE)"),
                format!("ALTER DATABASE {name} RENAME TO {template}"),
                format!(
                    "COMMENT ON DATABASE {template} IS '{}'",
                    data.to_comment().replace('\'', "''")
                ),
            ] {
                sqlx::query(AssertSqlSafe(sql.clone()))
                    .execute(&mut maintenance)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            data
        }
    };
    (template, data)
}

/// The national data every benchmark of `make bench` starts from (seed 2026).
pub async fn for_benchmarks() -> (TestDatabase, NationalData) {
    shared(NationalSpec::national(2026)).await
}

/// FNV-1a over the spec and the generator's version: a name that changes when either does.
fn fingerprint(spec: &NationalSpec) -> u64 {
    format!("{GENERATOR_VERSION} {spec:?}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

impl NationalData {
    /// One fact per line: `took <seconds>`, `rows <table> <n>`, `tenant <id> <slug> <scheme id>`.
    fn to_comment(&self) -> String {
        let mut text = format!("took {}\n", self.took.as_secs_f64());
        for (table, rows) in &self.rows {
            let _ = writeln!(text, "rows {table} {rows}");
        }
        for t in &self.tenants {
            let _ = writeln!(text, "tenant {} {} {}", t.id, t.slug, t.scheme_id);
        }
        text
    }

    fn from_comment(text: &str) -> Option<Self> {
        let mut data = Self {
            tenants: Vec::new(),
            rows: BTreeMap::new(),
            took: Duration::ZERO,
        };
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields[..] {
                ["took", seconds] => data.took = Duration::from_secs_f64(seconds.parse().ok()?),
                ["rows", table, rows] => {
                    let table = LOADED.iter().find(|t| **t == table)?;
                    data.rows.insert(*table, rows.parse().ok()?);
                }
                ["tenant", id, slug, scheme_id] => data.tenants.push(GeneratedTenant {
                    id: id.parse().ok()?,
                    slug: slug.to_owned(),
                    scheme_id: scheme_id.parse().ok()?,
                }),
                _ => return None,
            }
        }
        (!data.tenants.is_empty()).then_some(data)
    }
}

struct Attendance<'a> {
    id: Uuid,
    /// Index of the session among its EPN's.
    session: usize,
    absent: bool,
    worked: Option<(&'a str, &'static str)>,
}

/// Everything drawn for one voucher: its holder, its prescriber, its EPN and its attendance.
struct VoucherPlan<'a> {
    beneficiary_id: Uuid,
    voucher_id: Uuid,
    registration_id: Uuid,
    prescriber_id: Uuid,
    allocation_id: Uuid,
    category: &'static str,
    commune: &'a str,
    birth_year: u64,
    email: bool,
    issued_day: u64,
    epn: usize,
    comes: bool,
    cancelled: bool,
    expired: bool,
    first_module: u64,
    attendances: Vec<Attendance<'a>>,
}

const LEVELS: [&str; 3] = ["discovered", "practised", "acquired"];

fn plan<'a>(
    spec: NationalSpec,
    tenant: usize,
    n: usize,
    prescribers: &[((Uuid, Uuid), u64)],
    communes: &'a [String],
    session_days: &[u64],
    competences: &'a [String],
) -> VoucherPlan<'a> {
    let mut first = Draw(spec.seed ^ ((tenant as u64) << 40) ^ (n as u64));
    let mut draw = Draw(first.next());
    let (prescriber_id, allocation_id) = *weighted(&mut draw, prescribers);
    let category = *weighted(&mut draw, &CATEGORIES);
    let commune = if draw.below(200) == 0 {
        "97411"
    } else {
        communes[draw.below(communes.len() as u64) as usize].as_str()
    };
    let issued_day = draw.below(365);
    let cancelled = n.is_multiple_of(40);
    let comes = !cancelled && draw.below(20) != 0;
    let planned = if comes { 6 + draw.below(6) } else { 0 };
    let step = 2 + draw.below(3) as usize;
    let mut attendances = Vec::with_capacity(planned as usize);
    let mut present = 0;
    let mut j = session_days.partition_point(|d| *d < issued_day + 3);
    while (attendances.len() as u64) < planned
        && j < session_days.len()
        && session_days[j] <= issued_day + 364
    {
        let absent = present >= 10 || draw.below(9) == 0;
        let worked = (!absent && draw.below(4) == 0).then(|| {
            (
                competences[draw.below(competences.len() as u64) as usize].as_str(),
                LEVELS[draw.below(3) as usize],
            )
        });
        if !absent {
            present += 1;
        }
        attendances.push(Attendance {
            id: draw.id(tenant, n, 0x100 + attendances.len() as u16),
            session: j,
            absent,
            worked,
        });
        j += step;
    }
    VoucherPlan {
        beneficiary_id: draw.id(tenant, n, 1),
        voucher_id: draw.id(tenant, n, 2),
        registration_id: draw.id(tenant, n, 3),
        prescriber_id,
        allocation_id,
        category,
        commune,
        birth_year: 1940 + draw.below(70),
        email: draw.below(3) == 0,
        issued_day,
        epn: draw.below(spec.epns_per_tenant as u64) as usize,
        comes,
        cancelled,
        expired: issued_day < 240 && draw.below(2) == 0,
        first_module: 1 + draw.below(13),
        attendances,
    }
}
