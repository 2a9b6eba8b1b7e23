//! What the statistics job reads from PostgreSQL, all in one transaction (one snapshot) of the
//! tenant, one COPY per dataset. PostgreSQL aggregates what is counted over attendance rows and
//! statement lines (sessions per EPN, module and month; hours per EPN and per module; amounts per
//! EPN; competences per holder), so that the job holds a row per output row, never per
//! attendance: the one long result is a row per voucher, streamed (`vouchers`). The benchmark's
//! baseline runs the very same statements.

use chrono::Datelike;
use polars::prelude::{Categories, DataFrame, DataType, IntoColumn, NamedFrom, Series};
use uuid::Uuid;

use crate::StatisticsError;
use crate::compute::ALL;
use crate::extract::{self, Kind};
use passerelle_core::statistics::Period;
use passerelle_core::storage::Tx;

/// The aggregated sources, as frames (the per-voucher one is read apart: `VOUCHERS`).
pub struct Sources {
    /// Module labels by number.
    pub module_labels: DataFrame,
    /// Sessions held, presences and minutes per EPN, module and month of the period.
    pub attendance: DataFrame,
    /// Minutes attended in the period and holders, per EPN (`dimension` = `epn`) and per module.
    pub delivered: DataFrame,
    /// Amounts of the approved and paid statements per EPN for the period's months, and up to
    /// its end (`scope` = `a_date`), with the part the funders pay (the one funder's part in a
    /// funder's scope).
    pub reimbursed: DataFrame,
    /// Holders per EPN (and for all EPNs), competence and highest level reached in the period.
    pub competencies: DataFrame,
}

pub type Statement = (&'static str, String, Vec<(&'static str, Kind)>);

/// The name of the per-voucher statement, streamed rather than read whole.
pub const VOUCHERS: &str = "vouchers";

/// The statements, with the columns each returns. The scheme, the period and the funder are
/// inlined (COPY takes no parameters) from typed values; row-level security limits every table
/// to the tenant. With a funder, every row comes from the vouchers it co-finances (and a session
/// counts when one of them attended it).
pub fn statements(scheme_id: Uuid, period: &Period, funder: Option<Uuid>) -> Vec<Statement> {
    let scheme = format!("'{scheme_id}'::uuid");
    let start = extract::date_literal(period.start);
    let end = extract::date_literal(period.end);
    let age_year = period.last_day().year();
    // The condition that a row's voucher is the funder's, for the voucher column given.
    let funded = |tenant: &str, voucher: &str| match funder {
        None => String::new(),
        Some(funder) => format!(
            " AND EXISTS (SELECT 1 FROM voucher_funders vf WHERE vf.tenant_id = {tenant} \
               AND vf.voucher_id = {voucher} AND vf.funder_id = '{funder}'::uuid)"
        ),
    };
    let vouchers_funded = funded("v.tenant_id", "v.id");
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
    // The day a session falls on, in the tenant's time zone.
    let session_day = "JOIN tenants t ON t.id = s.tenant_id
                 CROSS JOIN LATERAL (SELECT (s.starts_at AT TIME ZONE t.time_zone)::date AS day) l";
    let in_period = |day: &str| format!("{day} >= {start} AND {day} < {end}");
    let day_in_period = in_period("l.day");
    let month_in_period = in_period("r.month");
    // Each statement line with the funders' part of it, per voucher, month and EPN.
    let lines = format!(
        "SELECT l.voucher_id, st.month, st.epn_id, sum(l.amount_cents)::bigint AS cents,
                coalesce(sum(sh.cents), 0)::bigint AS funded
         FROM statement_lines l
         JOIN statements st ON st.tenant_id = l.tenant_id AND st.id = l.statement_id
         LEFT JOIN (SELECT tenant_id, statement_id, line_no, sum(amount_cents) AS cents
                      FROM statement_line_shares{shares_of_funder}
                     GROUP BY tenant_id, statement_id, line_no) sh
                ON sh.tenant_id = l.tenant_id AND sh.statement_id = l.statement_id AND sh.line_no = l.line_no
         WHERE st.scheme_id = {scheme} AND st.status IN ('approved', 'paid') AND st.month < {end}{lines_funded}
         GROUP BY l.voucher_id, st.month, st.epn_id"
    );
    let module_label = "coalesce(m.number || '. ' || m.title, 'Sans module')";
    vec![
        (
            VOUCHERS,
            format!(
                "WITH usage AS (
                    SELECT a.voucher_id,
                           min(l.day) FILTER (WHERE a.status = 'present') AS first_day,
                           sum(a.minutes_debited)::bigint AS minutes_used,
                           sum(a.minutes_debited) FILTER (WHERE a.status = 'present' AND {day_in_period})::bigint AS delivered
                    FROM attendances a
                    JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
                    {session_day}
                    WHERE s.scheme_id = {scheme} AND a.voided_at IS NULL{attendance_funded}
                    GROUP BY a.voucher_id),
                 paid AS (
                    SELECT r.voucher_id, sum(r.cents)::bigint AS cents, sum(r.funded)::bigint AS funded,
                           sum(r.cents) FILTER (WHERE {month_in_period})::bigint AS period_cents,
                           sum(r.funded) FILTER (WHERE {month_in_period})::bigint AS period_funded
                    FROM ({lines}) r
                    GROUP BY r.voucher_id),
                 chosen AS (
                    SELECT voucher_id, string_agg(module_number::text, ',' ORDER BY module_number) AS modules
                    FROM voucher_modules WHERE scheme_id = {scheme}
                    GROUP BY voucher_id)
                 SELECT encode(x.holder_key, 'hex'), x.prescriber, x.prescriber_kind, x.public_category, x.commune,
                        x.department, x.age_band, x.issued_on, x.status, x.epn, x.registered, x.expired_unused,
                        x.orientation, x.fee_cents, x.completed, x.cancelled, x.modules, x.first_day,
                        x.minutes_used, x.delivered, x.cents, x.funded, x.period_cents, x.period_funded
                 FROM (
                    SELECT hmac(uuid_send(v.beneficiary_id), ts.statistics_key, 'sha256') AS holder_key,
                           p.name AS prescriber, p.kind AS prescriber_kind, b.public_category,
                           coalesce(b.commune_insee, 'Non renseignée') AS commune,
                           CASE WHEN b.commune_insee IS NULL THEN 'Non renseigné'
                                WHEN b.commune_insee LIKE '97%' THEN left(b.commune_insee, 3)
                                ELSE left(b.commune_insee, 2) END AS department,
                           CASE WHEN b.birth_year IS NULL THEN 'Non renseigné'
                                WHEN {age_year} - b.birth_year < 25 THEN 'Moins de 25 ans'
                                WHEN {age_year} - b.birth_year < 45 THEN '25 à 44 ans'
                                WHEN {age_year} - b.birth_year < 60 THEN '45 à 59 ans'
                                WHEN {age_year} - b.birth_year < 75 THEN '60 à 74 ans'
                                ELSE '75 ans et plus' END AS age_band,
                           v.issued_on, v.status, coalesce(e.name, 'Non inscrit') AS epn,
                           reg.epn_id IS NOT NULL AS registered,
                           voucher_expired_unused(v.status, v.minutes_left, v.minutes_total, v.valid_until,
                                                  (now() AT TIME ZONE t.time_zone)::date) AS expired_unused,
                           coalesce(o.kind, 'non_renseignee') AS orientation, v.participation_fee_cents AS fee_cents,
                           v.status = 'completed' AS completed, v.status = 'cancelled' AS cancelled,
                           chosen.modules, u.first_day, coalesce(u.minutes_used, 0) AS minutes_used, u.delivered,
                           coalesce(pd.cents, 0) AS cents, coalesce(pd.funded, 0) AS funded,
                           pd.period_cents, pd.period_funded
                    FROM vouchers v
                    JOIN tenants t ON t.id = v.tenant_id
                    JOIN beneficiaries b ON b.tenant_id = v.tenant_id AND b.id = v.beneficiary_id
                    JOIN prescribers p ON p.tenant_id = v.tenant_id AND p.id = v.prescriber_id
                    JOIN tenant_secrets ts ON ts.tenant_id = v.tenant_id
                    -- The EPN of the current registration, or of the last one when none is current.
                    LEFT JOIN (SELECT DISTINCT ON (r.voucher_id) r.voucher_id, r.epn_id FROM registrations r
                               ORDER BY r.voucher_id, r.ended_at IS NULL DESC, r.registered_at DESC) reg
                           ON reg.voucher_id = v.id
                    LEFT JOIN epns e ON e.tenant_id = v.tenant_id AND e.id = reg.epn_id
                    LEFT JOIN voucher_orientations o ON o.tenant_id = v.tenant_id AND o.voucher_id = v.id
                    LEFT JOIN usage u ON u.voucher_id = v.id
                    LEFT JOIN paid pd ON pd.voucher_id = v.id
                    LEFT JOIN chosen ON chosen.voucher_id = v.id
                    WHERE v.scheme_id = {scheme} AND v.issued_on < {end}{vouchers_funded}) x
                 -- Issue order, then the pseudonym's bytes (the order of its hexadecimal text).
                 ORDER BY x.issued_on, x.holder_key"
            ),
            vec![
                ("holder_key", Kind::Text),
                ("prescripteur", Kind::Text),
                ("type_prescripteur", Kind::Text),
                ("categorie_public", Kind::Text),
                ("commune", Kind::Text),
                ("departement", Kind::Text),
                ("tranche_age", Kind::Text),
                ("issued_on", Kind::Date),
                ("status", Kind::Text),
                ("epn", Kind::Text),
                ("registered", Kind::Bool),
                ("expired_unused", Kind::Bool),
                ("orientation", Kind::Text),
                ("fee_cents", Kind::Int64),
                ("completed", Kind::Bool),
                ("cancelled", Kind::Bool),
                ("modules", Kind::Text),
                ("first_day", Kind::Date),
                ("minutes_used", Kind::Int64),
                ("delivered_minutes", Kind::Int64),
                ("reimbursed_cents", Kind::Int64),
                ("funded_cents", Kind::Int64),
                ("period_cents", Kind::Int64),
                ("period_funded_cents", Kind::Int64),
            ],
        ),
        (
            "module_labels",
            format!("SELECT number, number || '. ' || title FROM scheme_modules WHERE scheme_id = {scheme}"),
            vec![("module_number", Kind::Int32), ("module_label", Kind::Text)],
        ),
        (
            "attendance",
            format!(
                "WITH held AS MATERIALIZED (
                    SELECT s.id, s.epn_id, s.module_number,
                           (extract(year FROM l.day) * 100 + extract(month FROM l.day))::int4 AS month,
                           s.status = 'held' AS held
                    FROM sessions s
                    {session_day}
                    WHERE s.scheme_id = {scheme} AND {day_in_period}{sessions_funded}),
                 present AS (
                    SELECT a.session_id, count(*) AS presences, sum(a.minutes_debited) AS minutes
                    FROM attendances a
                    JOIN held h ON h.id = a.session_id
                    WHERE a.status = 'present' AND a.voided_at IS NULL{attendance_funded}
                    GROUP BY a.session_id)
                 SELECT e.name, {module_label}, g.month, g.held, g.presences, g.minutes
                 FROM (SELECT h.epn_id, h.module_number, h.month, count(*) FILTER (WHERE h.held)::bigint AS held,
                              coalesce(sum(p.presences), 0)::bigint AS presences,
                              coalesce(sum(p.minutes), 0)::bigint AS minutes
                       FROM held h LEFT JOIN present p ON p.session_id = h.id
                       GROUP BY h.epn_id, h.module_number, h.month) g
                 JOIN epns e ON e.id = g.epn_id
                 LEFT JOIN scheme_modules m ON m.scheme_id = {scheme} AND m.number = g.module_number"
            ),
            vec![
                ("epn", Kind::Text),
                ("module", Kind::Text),
                ("month", Kind::Int32),
                ("seances_tenues", Kind::Int64),
                ("presences", Kind::Int64),
                ("minutes", Kind::Int64),
            ],
        ),
        (
            "delivered",
            format!(
                "WITH d AS MATERIALIZED (
                    SELECT a.voucher_id, s.epn_id, s.module_number, sum(a.minutes_debited)::bigint AS minutes
                    FROM attendances a
                    JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
                    {session_day}
                    WHERE s.scheme_id = {scheme} AND a.status = 'present' AND a.voided_at IS NULL
                      AND {day_in_period}{attendance_funded}
                    GROUP BY a.voucher_id, s.epn_id, s.module_number)
                 SELECT 'epn', x.value, sum(x.minutes)::bigint, count(*)::bigint
                 FROM (SELECT e.name AS value, d.voucher_id, sum(d.minutes) AS minutes
                       FROM d JOIN epns e ON e.id = d.epn_id GROUP BY e.name, d.voucher_id) x
                 GROUP BY x.value
                 UNION ALL
                 SELECT 'module', x.value, sum(x.minutes)::bigint, count(*)::bigint
                 FROM (SELECT {module_label} AS value, d.voucher_id, sum(d.minutes) AS minutes
                       FROM d LEFT JOIN scheme_modules m ON m.scheme_id = {scheme} AND m.number = d.module_number
                       GROUP BY 1, d.voucher_id) x
                 GROUP BY x.value"
            ),
            vec![
                ("dimension", Kind::Text),
                ("value", Kind::Text),
                ("minutes", Kind::Int64),
                ("holders", Kind::Int64),
            ],
        ),
        (
            "reimbursed",
            format!(
                "WITH r AS MATERIALIZED ({lines})
                 SELECT 'epn', e.name, sum(r.cents)::bigint, sum(r.funded)::bigint,
                        count(DISTINCT r.voucher_id)::bigint, bool_or(r.funded <> 0)
                 FROM r JOIN epns e ON e.id = r.epn_id
                 WHERE {month_in_period}
                 GROUP BY e.name
                 UNION ALL
                 SELECT 'a_date', NULL, sum(r.cents)::bigint, sum(r.funded)::bigint,
                        count(DISTINCT r.voucher_id)::bigint, bool_or(r.funded <> 0)
                 FROM r"
            ),
            vec![
                ("scope", Kind::Text),
                ("value", Kind::Text),
                ("cents", Kind::Int64),
                ("funded", Kind::Int64),
                ("holders", Kind::Int64),
                ("co_financed", Kind::Bool),
            ],
        ),
        (
            "competencies",
            format!(
                "WITH worked AS MATERIALIZED (
                    SELECT v.beneficiary_id AS holder, s.epn_id, c.code || ' ' || c.title AS competence,
                           max(CASE ac.level WHEN 'discovered' THEN 1 WHEN 'practised' THEN 2 ELSE 3 END) AS level_rank
                    FROM attendance_competences ac
                    JOIN attendances a ON a.tenant_id = ac.tenant_id AND a.id = ac.attendance_id
                    JOIN vouchers v ON v.tenant_id = a.tenant_id AND v.id = a.voucher_id
                    JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
                    JOIN competences c ON c.referential_code = ac.referential_code AND c.code = ac.competence_code
                    {session_day}
                    WHERE s.scheme_id = {scheme} AND v.issued_on < {end} AND a.voided_at IS NULL
                      AND {day_in_period}{attendance_funded}
                    GROUP BY v.beneficiary_id, s.epn_id, c.code, c.title)
                 SELECT e.name, w.competence, w.level_rank, count(*)::bigint
                 FROM worked w JOIN epns e ON e.id = w.epn_id
                 GROUP BY w.epn_id, e.name, w.competence, w.level_rank
                 UNION ALL
                 SELECT '{ALL}', h.competence, h.level_rank, count(*)::bigint
                 FROM (SELECT holder, competence, max(level_rank) AS level_rank FROM worked GROUP BY holder, competence) h
                 GROUP BY h.competence, h.level_rank"
            ),
            vec![
                ("epn", Kind::Text),
                ("competence", Kind::Text),
                ("level_rank", Kind::Int32),
                ("beneficiaires", Kind::Int64),
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
pub(crate) fn with_departments(mut vouchers: DataFrame) -> Result<DataFrame, StatisticsError> {
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

/// The type of the columns kept as categories: one mapping for the whole process, so that every
/// batch of vouchers gives the same text the same code.
pub(crate) fn categorical() -> DataType {
    DataType::from_categories(Categories::global())
}

/// Reads every source in the transaction's snapshot: the per-voucher rows are sent to `vouchers`
/// in frames of `batch_rows` rows as they arrive, the rest is returned.
pub async fn read(
    tx: &mut Tx,
    scheme_id: Uuid,
    period: &Period,
    funder: Option<Uuid>,
    batch_rows: usize,
    vouchers: &tokio::sync::mpsc::Sender<DataFrame>,
) -> Result<Sources, StatisticsError> {
    let mut statements = statements(scheme_id, period, funder).into_iter();
    let (_, select, columns) = statements
        .next()
        .filter(|(name, _, _)| *name == VOUCHERS)
        .expect("the per-voucher statement comes first");
    let mut batches = extract::Batches::open(tx, &select, &columns, batch_rows).await?;
    while let Some(batch) = batches.next().await? {
        if vouchers.send(batch).await.is_err() {
            // The receiving side stopped (its error is the one to report): the rest of the COPY
            // is read and dropped, so that the transaction can roll back.
            batches.discard().await?;
            return Err(StatisticsError::Copy(
                "the per-voucher rows were not taken".into(),
            ));
        }
    }
    drop(batches);
    let mut frames = Vec::new();
    for (_, select, columns) in statements {
        frames.push(extract::copy_frame(tx, &select, &columns).await?);
    }
    let mut frames = frames.into_iter();
    let mut next = || frames.next().expect("one frame per statement");
    Ok(Sources {
        module_labels: next(),
        attendance: next(),
        delivered: next(),
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
