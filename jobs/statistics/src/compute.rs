//! The datasets, computed with polars' lazy API from the frames `source` read.
//!
//! Definitions (also in the README):
//! - the period's *cohort* is the vouchers issued in it; issued, registered, started (at least one
//!   session attended), completed, expired unused (past validity with no minute used: the SQL
//!   function `voucher_expired_unused`, the prescriber funnel's definition too) and
//!   cancelled count cohort vouchers, whatever happened to them since; rates divide by issued;
//!   average hours and days to the first session are over the started ones;
//! - *activity* is what happened in the period: hours delivered (attended minutes of sessions
//!   held in it) and amounts reimbursed (approved or paid statements of its months);
//! - budget consumed is what was reimbursed up to the end of the period over the scheme's envelope.

use polars::prelude::*;

use crate::extract::days;
use crate::indicators::{Basis, IndicatorRow};
use crate::source::Sources;
use passerelle_core::statistics::Period;

pub const ALL: &str = "Ensemble";

/// The voucher-level dimensions (a value per voucher) and their column.
const HOLDER_DIMENSIONS: [(&str, &str); 8] = [
    ("ensemble", "ensemble"),
    ("prescripteur", "prescripteur"),
    ("type_prescripteur", "type_prescripteur"),
    ("categorie_public", "categorie_public"),
    ("tranche_age", "tranche_age"),
    ("commune", "commune"),
    ("departement", "departement"),
    ("orientation", "orientation"),
];

pub struct Computed {
    pub indicators: Vec<IndicatorRow>,
    pub vouchers: DataFrame,
    pub attendance: DataFrame,
    pub competencies: DataFrame,
}

fn in_period(column: &str, period: &Period) -> Expr {
    col(column)
        .gt_eq(lit(days(period.start)))
        .and(col(column).lt(lit(days(period.end))))
}

/// A text as a category, to fill the gaps of a column of categories (the EPNs' names, the
/// modules' labels) without turning it back into text.
fn category(text: &str) -> Expr {
    lit(text).cast(crate::source::categorical())
}

fn key_join(left: LazyFrame, right: LazyFrame, on: &str, how: JoinType) -> LazyFrame {
    left.join(right, [col(on)], [col(on)], JoinArgs::new(how))
}

pub fn compute(
    sources: Sources,
    period: &Period,
    scheme_code: &str,
    envelope_cents: Option<i64>,
) -> PolarsResult<Computed> {
    let Sources {
        vouchers,
        modules,
        epns,
        module_labels,
        sessions,
        attendance,
        reimbursed,
        competencies,
    } = sources;
    let epn_names = |key: &str, name: &str| {
        epns.clone()
            .lazy()
            .select([col("epn_key").alias(key), col("epn_name").alias(name)])
    };

    let attendance_dataset = attendance_by_epn_module_month(
        &sessions,
        &attendance,
        period,
        epn_names("session_epn", "epn"),
        module_labels.clone().lazy(),
    )?;
    // Attendance with its session's day, EPN and module, integers only: eight million rows stay
    // small.
    let attended = key_join(
        attendance.lazy(),
        sessions.lazy().select([
            col("session"),
            col("session_epn"),
            col("session_module"),
            col("day"),
        ]),
        "session",
        JoinType::Inner,
    )
    .collect()?;

    let usage = attended.clone().lazy().group_by([col("voucher")]).agg([
        col("day").filter(col("present")).min().alias("first_day"),
        col("minutes")
            .cast(DataType::Int64)
            .sum()
            .alias("minutes_used"),
    ]);
    let paid = reimbursed.clone().lazy().group_by([col("voucher")]).agg([
        col("cents").sum().alias("reimbursed_cents"),
        col("funded_cents").sum().alias("funded_cents"),
    ]);

    let holders = key_join(
        key_join(
            vouchers
                .lazy()
                .with_column(col("epn_key").is_not_null().alias("registered")),
            epn_names("epn_key", "epn"),
            "epn_key",
            JoinType::Left,
        ),
        usage,
        "voucher",
        JoinType::Left,
    );
    let holders = key_join(holders, paid, "voucher", JoinType::Left)
        .with_columns([
            col("epn").fill_null(category("Non inscrit")),
            col("minutes_used").fill_null(lit(0i64)),
            col("reimbursed_cents").fill_null(lit(0i64)),
            col("funded_cents").fill_null(lit(0i64)),
            col("first_day").is_not_null().alias("started"),
            lit(ALL).alias("ensemble"),
        ])
        .collect()?;

    let cohort = holders
        .clone()
        .lazy()
        .filter(in_period("issued_on", period))
        .with_columns([
            (col("first_day") - col("issued_on")).alias("days_to_first"),
            col("status").eq(lit("completed")).alias("completed"),
            col("status").eq(lit("cancelled")).alias("cancelled"),
        ])
        .collect()?;

    let mut rows = Vec::new();
    let cohort_aggs = || {
        vec![
            len().cast(DataType::Float64).alias("issued"),
            col("registered")
                .sum()
                .cast(DataType::Float64)
                .alias("registered"),
            col("started")
                .sum()
                .cast(DataType::Float64)
                .alias("started"),
            col("completed")
                .sum()
                .cast(DataType::Float64)
                .alias("completed"),
            col("expired_unused")
                .sum()
                .cast(DataType::Float64)
                .alias("expired_unused"),
            col("cancelled")
                .sum()
                .cast(DataType::Float64)
                .alias("cancelled"),
            col("minutes_used")
                .sum()
                .cast(DataType::Float64)
                .alias("minutes_used"),
            col("fee_cents").sum().cast(DataType::Float64).alias("fees"),
            col("fee_cents")
                .gt(lit(0i64))
                .sum()
                .cast(DataType::Float64)
                .alias("paying"),
            col("days_to_first")
                .cast(DataType::Float64)
                .median()
                .alias("days_median"),
            col("days_to_first")
                .cast(DataType::Float64)
                .quantile(lit(0.9), QuantileMethod::Linear)
                .alias("days_p90"),
        ]
    };
    let mut cohort_by =
        |dimension: &'static str, frame: LazyFrame, column: &str| -> PolarsResult<()> {
            let grouped = frame
                .group_by([col(column).alias("value")])
                .agg(cohort_aggs())
                .collect()?;
            push_cohort_rows(&mut rows, dimension, &grouped)
        };
    for (dimension, column) in HOLDER_DIMENSIONS {
        cohort_by(dimension, cohort.clone().lazy(), column)?;
    }
    cohort_by("epn", cohort.clone().lazy(), "epn")?;
    let labelled_modules = key_join(
        modules.lazy(),
        module_labels.clone().lazy(),
        "module_number",
        JoinType::Inner,
    );
    cohort_by(
        "module",
        key_join(
            cohort.clone().lazy(),
            labelled_modules,
            "voucher",
            JoinType::Inner,
        ),
        "module_label",
    )?;

    // Activity: hours delivered in the period. Holder dimensions go through a per-voucher total
    // (a million rows, not eight); EPN and module through the session.
    let delivered = attended
        .clone()
        .lazy()
        .filter(in_period("day", period).and(col("present")))
        .select([
            col("voucher"),
            col("session_epn"),
            col("session_module"),
            col("minutes").cast(DataType::Int64),
        ])
        .collect()?;
    // The eight million rows are not needed any more: free them before the next aggregations.
    drop(attended);
    let delivered_by_voucher = delivered
        .clone()
        .lazy()
        .group_by([col("voucher")])
        .agg([col("minutes").sum()]);
    let delivered_holders = key_join(
        holders.clone().lazy(),
        delivered_by_voucher,
        "voucher",
        JoinType::Inner,
    )
    .collect()?;
    let activity_aggs = || {
        vec![
            col("minutes")
                .sum()
                .cast(DataType::Float64)
                .alias("minutes"),
            col("voucher")
                .n_unique()
                .cast(DataType::Float64)
                .alias("holders"),
        ]
    };
    for (dimension, column) in HOLDER_DIMENSIONS {
        let grouped = delivered_holders
            .clone()
            .lazy()
            .group_by([col(column).alias("value")])
            .agg(activity_aggs())
            .collect()?;
        push_hours_rows(&mut rows, dimension, &grouped)?;
    }
    drop(delivered_holders);
    let by_epn = key_join(
        delivered.clone().lazy(),
        epn_names("session_epn", "epn"),
        "session_epn",
        JoinType::Left,
    )
    .group_by([col("epn").alias("value")])
    .agg(activity_aggs())
    .collect()?;
    push_hours_rows(&mut rows, "epn", &by_epn)?;
    let by_module = key_join(
        delivered
            .lazy()
            .with_column(col("session_module").alias("module_number")),
        module_labels.clone().lazy(),
        "module_number",
        JoinType::Left,
    )
    .group_by([col("module_label")
        .fill_null(category("Sans module"))
        .alias("value")])
    .agg(activity_aggs())
    .collect()?;
    push_hours_rows(&mut rows, "module", &by_module)?;

    // Activity: amounts reimbursed for the period's months.
    let reimbursed_in_period = reimbursed
        .clone()
        .lazy()
        .filter(in_period("month", period))
        .collect()?;
    let reimbursed_holders = key_join(
        holders.clone().lazy().drop(Selector::ByName {
            names: Arc::from([
                PlSmallStr::from("reimbursed_cents"),
                PlSmallStr::from("funded_cents"),
            ]),
            strict: true,
        }),
        reimbursed_in_period.clone().lazy(),
        "voucher",
        JoinType::Inner,
    )
    .collect()?;
    // The funders' part is published where a funder paid something: a scheme nobody co-finances
    // keeps the rows it had.
    let co_financed = reimbursed_in_period
        .column("funded_cents")?
        .i64()?
        .iter()
        .any(|cents| cents.is_some_and(|c| c != 0));
    let amount_aggs = || {
        vec![
            col("cents").sum().cast(DataType::Float64).alias("cents"),
            col("funded_cents")
                .sum()
                .cast(DataType::Float64)
                .alias("funded"),
            col("voucher")
                .n_unique()
                .cast(DataType::Float64)
                .alias("holders"),
        ]
    };
    for (dimension, column) in HOLDER_DIMENSIONS {
        let grouped = reimbursed_holders
            .clone()
            .lazy()
            .group_by([col(column).alias("value")])
            .agg(amount_aggs())
            .collect()?;
        push_amount_rows(&mut rows, dimension, &grouped, co_financed)?;
    }
    drop(reimbursed_holders);
    let by_epn = key_join(
        reimbursed_in_period.lazy(),
        epn_names("statement_epn", "epn"),
        "statement_epn",
        JoinType::Left,
    )
    .group_by([col("epn").alias("value")])
    .agg(amount_aggs())
    .collect()?;
    push_amount_rows(&mut rows, "epn", &by_epn, co_financed)?;

    // Budget consumed: everything reimbursed up to the period's end over the envelope.
    let to_date = reimbursed
        .lazy()
        .select([
            col("cents").sum().cast(DataType::Float64).alias("cents"),
            col("voucher")
                .n_unique()
                .cast(DataType::Float64)
                .alias("holders"),
        ])
        .collect()?;
    let cents = floats(&to_date, "cents")?[0].unwrap_or(0.0);
    let holders_paid = floats(&to_date, "holders")?[0].unwrap_or(0.0);
    let envelope = envelope_cents.map(|c| c as f64 / 100.0);
    rows.push(IndicatorRow {
        dimension: "ensemble",
        value: ALL.into(),
        indicator: "budget_consomme",
        numerator: Some(cents / 100.0),
        denominator: envelope,
        result: envelope.filter(|e| *e > 0.0).map(|e| cents / 100.0 / e),
        contributors: holders_paid,
        basis: Basis::Magnitude,
    });

    // The per-voucher frames are not needed any more: freed before the competences' rows.
    drop(holders);
    let competencies_dataset =
        competencies_by_epn(competencies, period, epn_names("competence_epn", "epn"))?;

    let label = period.label();
    let vouchers_dataset = cohort
        .lazy()
        .sort(["issued_on", "holder_key"], SortMultipleOptions::default())
        .select([
            lit(label.clone()).alias("periode"),
            col("holder_key").alias("cle_beneficiaire"),
            lit(scheme_code.to_owned()).alias("dispositif"),
            col("prescripteur").cast(DataType::String),
            col("type_prescripteur").cast(DataType::String),
            col("categorie_public").cast(DataType::String),
            col("tranche_age").cast(DataType::String),
            col("commune").cast(DataType::String),
            col("departement").cast(DataType::String),
            col("epn").cast(DataType::String),
            col("orientation").cast(DataType::String),
            col("issued_on").cast(DataType::Date).alias("date_emission"),
            col("first_day")
                .cast(DataType::Date)
                .alias("date_premiere_seance"),
            col("minutes_used").alias("minutes_utilisees"),
            col("status").alias("statut"),
            col("reimbursed_cents").alias("montant_rembourse_centimes"),
            col("fee_cents").alias("participation_centimes"),
            col("funded_cents").alias("part_financeurs_centimes"),
        ])
        .collect()?;

    Ok(Computed {
        indicators: rows,
        vouchers: vouchers_dataset,
        attendance: attendance_dataset,
        competencies: competencies_dataset,
    })
}

fn attendance_by_epn_module_month(
    sessions: &DataFrame,
    attendance: &DataFrame,
    period: &Period,
    epn_names: LazyFrame,
    module_labels: LazyFrame,
) -> PolarsResult<DataFrame> {
    // The presences are summed per session first, on its one integer key: a group-by on the
    // three keys below encodes every row's keys, which over eight million attendance rows took
    // more memory than the rows themselves.
    let per_session = attendance
        .clone()
        .lazy()
        .filter(col("present"))
        .group_by([col("session")])
        .agg([
            len().cast(DataType::Int64).alias("presences"),
            col("minutes").cast(DataType::Int64).sum().alias("minutes"),
        ]);
    let joined = key_join(
        sessions.clone().lazy().filter(in_period("day", period)),
        per_session,
        "session",
        JoinType::Left,
    )
    .group_by([col("session_epn"), col("session_module"), col("month")])
    .agg([
        col("held")
            .sum()
            .cast(DataType::Int64)
            .alias("seances_tenues"),
        col("presences").sum(),
        col("minutes").sum(),
    ]);
    let joined = key_join(joined, epn_names, "session_epn", JoinType::Left);
    key_join(
        joined.with_column(col("session_module").alias("module_number")),
        module_labels,
        "module_number",
        JoinType::Left,
    )
    .select([
        col("epn").cast(DataType::String),
        col("module_label")
            .cast(DataType::String)
            .fill_null(lit("Sans module"))
            .alias("module"),
        col("month"),
        col("seances_tenues"),
        col("presences").fill_null(lit(0i64)),
        col("minutes").fill_null(lit(0i64)),
    ])
    .sort(["epn", "module", "month"], SortMultipleOptions::default())
    .collect()
    .and_then(|df| month_labels(df, "month", "mois", 2))
}

/// `202610` → `2026-10`, in a string column put at `index`.
fn month_labels(df: DataFrame, from: &str, to: &str, index: usize) -> PolarsResult<DataFrame> {
    let labels: Vec<Option<String>> = df
        .column(from)?
        .as_materialized_series()
        .i32()?
        .iter()
        .map(|m| m.map(|m| format!("{:04}-{:02}", m / 100, m % 100)))
        .collect();
    let mut df = df.drop(from)?;
    df.insert_column(index, Column::new(to.into(), labels))?;
    Ok(df)
}

const LEVELS: [&str; 3] = ["découvert", "pratiqué", "acquis"];

/// Holders by competence and the highest level they reached in the period, per EPN and overall.
fn competencies_by_epn(
    competencies: DataFrame,
    period: &Period,
    epn_names: LazyFrame,
) -> PolarsResult<DataFrame> {
    let worked = competencies.lazy().filter(in_period("day", period));
    // Grouped on the EPN's key and the competence's category; names and labels only on the few
    // rows that come out.
    let per_epn = key_join(
        worked
            .clone()
            .group_by([col("competence_epn"), col("competence"), col("holder")])
            .agg([col("level_rank").max()])
            .group_by([col("competence_epn"), col("competence"), col("level_rank")])
            .agg([len().cast(DataType::Int64).alias("beneficiaires")]),
        epn_names,
        "competence_epn",
        JoinType::Left,
    );
    let overall = worked
        .group_by([col("competence"), col("holder")])
        .agg([col("level_rank").max()])
        .group_by([col("competence"), col("level_rank")])
        .agg([len().cast(DataType::Int64).alias("beneficiaires")])
        .with_column(lit(ALL).alias("epn"));
    let both = concat(
        [
            per_epn.select([
                col("epn").cast(DataType::String),
                col("competence").cast(DataType::String),
                col("level_rank"),
                col("beneficiaires"),
            ]),
            overall.select([
                col("epn"),
                col("competence").cast(DataType::String),
                col("level_rank"),
                col("beneficiaires"),
            ]),
        ],
        UnionArgs::default(),
    )?
    .sort(
        ["epn", "competence", "level_rank"],
        SortMultipleOptions::default(),
    )
    .collect()?;
    let levels: Vec<Option<&str>> = both
        .column("level_rank")?
        .as_materialized_series()
        .i32()?
        .iter()
        .map(|r| r.and_then(|r| LEVELS.get(usize::try_from(r - 1).ok()?).copied()))
        .collect();
    let mut both = both.drop("level_rank")?;
    both.insert_column(2, Column::new("niveau".into(), levels))?;
    Ok(both)
}

pub(crate) fn floats(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    Ok(df
        .column(name)?
        .cast(&DataType::Float64)?
        .as_materialized_series()
        .f64()?
        .iter()
        .collect())
}

fn strings(df: &DataFrame, name: &str) -> PolarsResult<Vec<String>> {
    Ok(df
        .column(name)?
        .cast(&DataType::String)?
        .as_materialized_series()
        .str()?
        .iter()
        .map(|v| v.unwrap_or("Non renseigné").to_owned())
        .collect())
}

fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator / denominator)
}

fn push_cohort_rows(
    rows: &mut Vec<IndicatorRow>,
    dimension: &'static str,
    df: &DataFrame,
) -> PolarsResult<()> {
    let values = strings(df, "value")?;
    let column = |name| floats(df, name);
    let (fees, paying) = (column("fees")?, column("paying")?);
    let (issued, registered, started, completed, expired, cancelled, minutes, median, p90) = (
        column("issued")?,
        column("registered")?,
        column("started")?,
        column("completed")?,
        column("expired_unused")?,
        column("cancelled")?,
        column("minutes_used")?,
        column("days_median")?,
        column("days_p90")?,
    );
    for (i, value) in values.into_iter().enumerate() {
        let n = |v: &[Option<f64>]| v[i].unwrap_or(0.0);
        let row = |indicator, numerator, denominator, result, contributors, basis| IndicatorRow {
            dimension,
            value: value.clone(),
            indicator,
            numerator,
            denominator,
            result,
            contributors,
            basis,
        };
        let count = |indicator, c: f64| row(indicator, Some(c), None, Some(c), c, Basis::Count);
        let started_n = n(&started);
        rows.extend([
            count("bons_emis", n(&issued)),
            count("bons_inscrits", n(&registered)),
            count("bons_demarres", started_n),
            count("bons_termines", n(&completed)),
            count("bons_expires_sans_usage", n(&expired)),
            count("bons_annules", n(&cancelled)),
            row(
                "taux_activation",
                Some(started_n),
                Some(n(&issued)),
                ratio(started_n, n(&issued)),
                n(&issued),
                Basis::Derived(&["bons_demarres", "bons_emis"]),
            ),
            row(
                "taux_achevement",
                Some(n(&completed)),
                Some(n(&issued)),
                ratio(n(&completed), n(&issued)),
                n(&issued),
                Basis::Derived(&["bons_termines", "bons_emis"]),
            ),
            row(
                "heures_moyennes_par_bon",
                Some(n(&minutes) / 60.0),
                Some(started_n),
                ratio(n(&minutes) / 60.0, started_n),
                started_n,
                Basis::Derived(&["bons_demarres"]),
            ),
            row(
                "jours_premiere_seance_mediane",
                None,
                Some(started_n),
                median[i],
                started_n,
                Basis::Derived(&["bons_demarres"]),
            ),
            row(
                "jours_premiere_seance_p90",
                None,
                Some(started_n),
                p90[i],
                started_n,
                Basis::Derived(&["bons_demarres"]),
            ),
            // What the cohort's holders pay toward their vouchers (collected by the EPNs); it
            // rests on the holders who pay something.
            row(
                "participations_eur",
                Some(n(&fees) / 100.0),
                None,
                Some(n(&fees) / 100.0),
                n(&paying),
                Basis::Magnitude,
            ),
        ]);
    }
    Ok(())
}

fn push_hours_rows(
    rows: &mut Vec<IndicatorRow>,
    dimension: &'static str,
    df: &DataFrame,
) -> PolarsResult<()> {
    let values = strings(df, "value")?;
    let minutes = floats(df, "minutes")?;
    let holders = floats(df, "holders")?;
    for (i, value) in values.into_iter().enumerate() {
        let hours = minutes[i].unwrap_or(0.0) / 60.0;
        rows.push(IndicatorRow {
            dimension,
            value,
            indicator: "heures_realisees",
            numerator: Some(hours),
            denominator: None,
            result: Some(hours),
            contributors: holders[i].unwrap_or(0.0),
            basis: Basis::Magnitude,
        });
    }
    Ok(())
}

fn push_amount_rows(
    rows: &mut Vec<IndicatorRow>,
    dimension: &'static str,
    df: &DataFrame,
    co_financed: bool,
) -> PolarsResult<()> {
    let values = strings(df, "value")?;
    let cents = floats(df, "cents")?;
    let funded = floats(df, "funded")?;
    let holders = floats(df, "holders")?;
    for (i, value) in values.into_iter().enumerate() {
        let euros = cents[i].unwrap_or(0.0) / 100.0;
        let contributors = holders[i].unwrap_or(0.0);
        if co_financed {
            let funded_euros = funded[i].unwrap_or(0.0) / 100.0;
            rows.push(IndicatorRow {
                dimension,
                value: value.clone(),
                indicator: "part_financeurs_eur",
                numerator: Some(funded_euros),
                denominator: Some(euros),
                result: Some(funded_euros),
                contributors,
                basis: Basis::Magnitude,
            });
        }
        rows.push(IndicatorRow {
            dimension,
            value,
            indicator: "montant_rembourse_eur",
            numerator: Some(euros),
            denominator: None,
            result: Some(euros),
            contributors,
            basis: Basis::Magnitude,
        });
    }
    Ok(())
}
