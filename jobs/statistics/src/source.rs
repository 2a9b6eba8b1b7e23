//! What the statistics job reads from PostgreSQL: one COPY per table family, each a single pass,
//! all in one transaction (one snapshot) of the tenant. The benchmark's baseline runs the very same
//! statements.

use chrono::NaiveDate;
use polars::prelude::{Categories, DataFrame, DataType, IntoColumn, NamedFrom, Series};
use uuid::Uuid;

use crate::StatisticsError;
use crate::extract::{self, Interner, Kind};
use passerelle_core::storage::Tx;

/// Interner slots: vouchers, sessions and EPNs are joined on dense keys.
const VOUCHERS: usize = 0;
const SESSIONS: usize = 1;
const EPNS: usize = 2;
/// Holders (beneficiaries): the competences are counted per person, as a dense key rather than
/// the 64-character pseudonym on each of millions of rows.
const HOLDERS: usize = 3;

/// The tenant's data for one scheme, as frames.
pub struct Sources {
    /// One row per voucher of the scheme issued before the period ends, with the holder's
    /// dimensions already reduced to what may be published (age band, not birth year).
    pub vouchers: DataFrame,
    /// The module choices of those vouchers.
    pub modules: DataFrame,
    /// EPN names by key.
    pub epns: DataFrame,
    /// Module labels by number.
    pub module_labels: DataFrame,
    /// Every session of the scheme.
    pub sessions: DataFrame,
    /// Every attendance (not voided) at those sessions.
    pub attendance: DataFrame,
    /// Approved and paid reimbursements, per voucher, month and EPN, with the part the funders
    /// pay of them (the one funder's part in a funder's scope).
    pub reimbursed: DataFrame,
    /// Competences worked, per attendance, with the holder of the voucher (of the vouchers issued
    /// before the period ends).
    pub competencies: DataFrame,
}

pub type Statement = (&'static str, String, Vec<(&'static str, Kind)>);

/// The statements, with the columns each returns. The scheme, the period's end, the year ages
/// are counted at and the funder are inlined (COPY takes no parameters) from typed values;
/// row-level security limits every table to the tenant. With a funder, every row comes from the
/// vouchers it co-finances (and a session counts when one of them attended it).
pub fn statements(
    scheme_id: Uuid,
    end: NaiveDate,
    age_year: i32,
    funder: Option<Uuid>,
) -> Vec<Statement> {
    let scheme = format!("'{scheme_id}'::uuid");
    let end = extract::date_literal(end);
    // The condition that a row's voucher is the funder's, for the voucher column given.
    let funded = |tenant: &str, voucher: &str| match funder {
        None => String::new(),
        Some(funder) => format!(
            " AND EXISTS (SELECT 1 FROM voucher_funders vf WHERE vf.tenant_id = {tenant} \
               AND vf.voucher_id = {voucher} AND vf.funder_id = '{funder}'::uuid)"
        ),
    };
    let vouchers_funded = funded("v.tenant_id", "v.id");
    let modules_funded = funded("voucher_modules.tenant_id", "voucher_modules.voucher_id");
    let attendance_funded = funded("a.tenant_id", "a.voucher_id");
    let lines_funded = funded("l.tenant_id", "l.voucher_id");
    // The funders' part of a line: every funder's in the territory's files, the one funder's in
    // its own.
    let shares_of_funder = match funder {
        None => String::new(),
        Some(funder) => format!(" WHERE funder_id = '{funder}'::uuid"),
    };
    let sessions_funded = match funder {
        None => String::new(),
        Some(_) => format!(
            " AND EXISTS (SELECT 1 FROM attendances a WHERE a.tenant_id = s.tenant_id AND a.session_id = s.id \
               AND a.voided_at IS NULL{attendance_funded})"
        ),
    };
    vec![
        (
            "vouchers",
            format!(
                "SELECT v.id, encode(hmac(uuid_send(v.beneficiary_id), ts.statistics_key, 'sha256'), 'hex'),
                        p.name, p.kind, b.public_category, coalesce(b.commune_insee, 'Non renseignée'),
                        CASE WHEN b.commune_insee IS NULL THEN 'Non renseigné'
                             WHEN b.commune_insee LIKE '97%' THEN left(b.commune_insee, 3)
                             ELSE left(b.commune_insee, 2) END,
                        CASE WHEN b.birth_year IS NULL THEN 'Non renseigné'
                             WHEN {age_year} - b.birth_year < 25 THEN 'Moins de 25 ans'
                             WHEN {age_year} - b.birth_year < 45 THEN '25 à 44 ans'
                             WHEN {age_year} - b.birth_year < 60 THEN '45 à 59 ans'
                             WHEN {age_year} - b.birth_year < 75 THEN '60 à 74 ans'
                             ELSE '75 ans et plus' END,
                        v.issued_on, v.status, reg.epn_id,
                        voucher_expired_unused(v.status, v.minutes_left, v.minutes_total, v.valid_until,
                                               (now() AT TIME ZONE t.time_zone)::date),
                        coalesce(o.kind, 'non_renseignee'), v.participation_fee_cents
                 FROM vouchers v
                 JOIN tenants t ON t.id = v.tenant_id
                 JOIN beneficiaries b ON b.tenant_id = v.tenant_id AND b.id = v.beneficiary_id
                 JOIN prescribers p ON p.tenant_id = v.tenant_id AND p.id = v.prescriber_id
                 JOIN tenant_secrets ts ON ts.tenant_id = v.tenant_id
                 -- The EPN of the current registration, or of the last one when none is current.
                 LEFT JOIN (SELECT DISTINCT ON (r.voucher_id) r.voucher_id, r.epn_id FROM registrations r
                            ORDER BY r.voucher_id, r.ended_at IS NULL DESC, r.registered_at DESC) reg
                        ON reg.voucher_id = v.id
                 LEFT JOIN voucher_orientations o ON o.tenant_id = v.tenant_id AND o.voucher_id = v.id
                 WHERE v.scheme_id = {scheme} AND v.issued_on < {end}{vouchers_funded}"
            ),
            vec![
                ("voucher", Kind::Key(VOUCHERS)),
                ("holder_key", Kind::Text),
                ("prescripteur", Kind::Text),
                ("type_prescripteur", Kind::Text),
                ("categorie_public", Kind::Text),
                ("commune", Kind::Text),
                ("departement", Kind::Text),
                ("tranche_age", Kind::Text),
                ("issued_on", Kind::Date),
                ("status", Kind::Text),
                ("epn_key", Kind::Key(EPNS)),
                ("expired_unused", Kind::Bool),
                ("orientation", Kind::Text),
                ("fee_cents", Kind::Int64),
            ],
        ),
        (
            "modules",
            format!(
                "SELECT voucher_id, module_number FROM voucher_modules WHERE scheme_id = {scheme}{modules_funded}"
            ),
            vec![("voucher", Kind::Key(VOUCHERS)), ("module_number", Kind::Int32)],
        ),
        (
            "epns",
            "SELECT id, name FROM epns".to_owned(),
            vec![("epn_key", Kind::Key(EPNS)), ("epn_name", Kind::Text)],
        ),
        (
            "module_labels",
            format!("SELECT number, number || '. ' || title FROM scheme_modules WHERE scheme_id = {scheme}"),
            vec![("module_number", Kind::Int32), ("module_label", Kind::Text)],
        ),
        (
            "sessions",
            format!(
                "SELECT s.id, s.epn_id, s.module_number, l.day,
                        (extract(year FROM l.day) * 100 + extract(month FROM l.day))::int4, s.status = 'held'
                 FROM sessions s
                 JOIN tenants t ON t.id = s.tenant_id
                 CROSS JOIN LATERAL (SELECT (s.starts_at AT TIME ZONE t.time_zone)::date AS day) l
                 WHERE s.scheme_id = {scheme}{sessions_funded}"
            ),
            vec![
                ("session", Kind::Key(SESSIONS)),
                ("session_epn", Kind::Key(EPNS)),
                ("session_module", Kind::Int32),
                ("day", Kind::Date),
                ("month", Kind::Int32),
                ("held", Kind::Bool),
            ],
        ),
        (
            "attendance",
            format!(
                "SELECT a.voucher_id, a.session_id, a.status = 'present', a.minutes_debited
                 FROM attendances a
                 JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
                 WHERE s.scheme_id = {scheme} AND a.voided_at IS NULL{attendance_funded}"
            ),
            vec![
                ("voucher", Kind::Key(VOUCHERS)),
                ("session", Kind::Key(SESSIONS)),
                ("present", Kind::Bool),
                ("minutes", Kind::Int32),
            ],
        ),
        (
            "reimbursed",
            format!(
                "SELECT l.voucher_id, st.month, st.epn_id, sum(l.amount_cents)::bigint,
                        coalesce(sum(sh.cents), 0)::bigint
                 FROM statement_lines l
                 JOIN statements st ON st.tenant_id = l.tenant_id AND st.id = l.statement_id
                 LEFT JOIN (SELECT tenant_id, statement_id, line_no, sum(amount_cents) AS cents
                              FROM statement_line_shares{shares_of_funder}
                             GROUP BY tenant_id, statement_id, line_no) sh
                        ON sh.tenant_id = l.tenant_id AND sh.statement_id = l.statement_id AND sh.line_no = l.line_no
                 WHERE st.scheme_id = {scheme} AND st.status IN ('approved', 'paid') AND st.month < {end}{lines_funded}
                 GROUP BY l.voucher_id, st.month, st.epn_id"
            ),
            vec![
                ("voucher", Kind::Key(VOUCHERS)),
                ("month", Kind::Date),
                ("statement_epn", Kind::Key(EPNS)),
                ("cents", Kind::Int64),
                ("funded_cents", Kind::Int64),
            ],
        ),
        (
            "competencies",
            format!(
                "SELECT v.beneficiary_id, s.epn_id, c.code || ' ' || c.title,
                        CASE ac.level WHEN 'discovered' THEN 1 WHEN 'practised' THEN 2 ELSE 3 END,
                        (s.starts_at AT TIME ZONE t.time_zone)::date
                 FROM attendance_competences ac
                 JOIN attendances a ON a.tenant_id = ac.tenant_id AND a.id = ac.attendance_id
                 JOIN vouchers v ON v.tenant_id = a.tenant_id AND v.id = a.voucher_id
                 JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
                 JOIN competences c ON c.referential_code = ac.referential_code AND c.code = ac.competence_code
                 JOIN tenants t ON t.id = s.tenant_id
                 WHERE s.scheme_id = {scheme} AND v.issued_on < {end} AND a.voided_at IS NULL{attendance_funded}"
            ),
            vec![
                ("holder", Kind::Key(HOLDERS)),
                ("competence_epn", Kind::Key(EPNS)),
                ("competence", Kind::Text),
                ("level_rank", Kind::Int32),
                ("day", Kind::Date),
            ],
        ),
    ]
}

/// A read-only transaction of the tenant with one snapshot for every statement, so that the
/// datasets agree with one another.
pub async fn snapshot(db: &passerelle_core::Db, tenant_id: Uuid) -> Result<Tx, StatisticsError> {
    Ok(db.begin_tenant_snapshot(tenant_id).await?)
}

/// The département of each holder's commune from the official commune list
/// (`passerelle_core::communes`), where the query could only take the code's first characters
/// (wrong for the overseas collectivities, and for a former commune merged into a commune of
/// another département). A code the list does not know keeps the query's value.
fn with_departments(mut vouchers: DataFrame) -> Result<DataFrame, StatisticsError> {
    let departments = {
        let communes = vouchers.column("commune")?.str()?;
        let by_prefix = vouchers.column("departement")?.str()?;
        let departments: Vec<Option<&str>> = communes
            .iter()
            .zip(by_prefix.iter())
            .map(|(commune, prefix)| {
                commune
                    .and_then(passerelle_core::communes::today)
                    .map(|c| c.department)
                    .or(prefix)
            })
            .collect();
        Series::new("departement".into(), departments)
    };
    vouchers.with_column(departments.into_column())?;
    Ok(vouchers)
}

/// The holder's dimensions: a few dozen values (a prescriber, an age band, a commune) each
/// repeated over a million vouchers, kept as categories (a 4-byte code per row, each value once)
/// rather than as a string per row.
const VOUCHER_CATEGORIES: [&str; 7] = [
    "prescripteur",
    "type_prescripteur",
    "categorie_public",
    "commune",
    "departement",
    "tranche_age",
    "orientation",
];

/// The type of the columns kept as categories: one mapping for the whole process, so that a
/// category made by the computation (a gap filled) has the code of the same text read here.
pub(crate) fn categorical() -> DataType {
    DataType::from_categories(Categories::global())
}

/// `names` of `frame` turned into categories, one column at a time.
fn as_categories(mut frame: DataFrame, names: &[&str]) -> Result<DataFrame, StatisticsError> {
    let categorical = categorical();
    for name in names {
        let column = frame.column(name)?.cast(&categorical)?;
        frame.with_column(column)?;
    }
    Ok(frame)
}

/// Reads every source in the transaction's snapshot.
pub async fn read(
    tx: &mut Tx,
    scheme_id: Uuid,
    end: NaiveDate,
    age_year: i32,
    funder: Option<Uuid>,
) -> Result<Sources, StatisticsError> {
    let mut interners = [
        Interner::default(),
        Interner::default(),
        Interner::default(),
        Interner::default(),
    ];
    let mut frames = Vec::new();
    for (name, select, columns) in statements(scheme_id, end, age_year, funder) {
        let frame = extract::copy_frame(tx, &select, &columns, &mut interners).await?;
        // Each frame's text dimensions become categories as soon as it is read, before the next
        // one: the strings of a million vouchers never wait for the eight million attendance rows.
        frames.push(match name {
            "vouchers" => as_categories(with_departments(frame)?, &VOUCHER_CATEGORIES)?,
            "competencies" => as_categories(frame, &["competence"])?,
            "epns" => as_categories(frame, &["epn_name"])?,
            "module_labels" => as_categories(frame, &["module_label"])?,
            _ => frame,
        });
    }
    let mut frames = frames.into_iter();
    let mut next = || frames.next().expect("one frame per statement");
    Ok(Sources {
        vouchers: next(),
        modules: next(),
        epns: next(),
        module_labels: next(),
        sessions: next(),
        attendance: next(),
        reimbursed: next(),
        competencies: next(),
    })
}

#[cfg(test)]
mod departments {
    use polars::prelude::{DataFrame, IntoColumn, NamedFrom, Series};

    #[test]
    fn the_department_is_the_official_lists_and_an_unknown_code_keeps_its_prefix() {
        let frame = DataFrame::new(
            3,
            vec![
                Series::new("commune".into(), ["98411", "46102", "99999"]).into_column(),
                Series::new("departement".into(), ["98", "46", "99"]).into_column(),
            ],
        )
        .expect("frame");
        let frame = super::with_departments(frame).expect("departments");
        let departments: Vec<Option<&str>> = frame
            .column("departement")
            .expect("column")
            .str()
            .expect("text")
            .iter()
            .collect();
        assert_eq!(departments, [Some("984"), Some("46"), Some("99")]);
    }
}
