//! The indicators, computed with polars' lazy API from the per-voucher frame (`vouchers`) and the
//! aggregates `source` read; the attendance and competence datasets put in order.
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
use crate::vouchers::Holders;
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

/// The columns the cohort's indicators are computed from.
const COHORT_FIGURES: [&str; 8] = [
    "registered",
    "started",
    "completed",
    "expired_unused",
    "cancelled",
    "minutes_used",
    "fee_cents",
    "days_to_first",
];

pub struct Computed {
    pub indicators: Vec<IndicatorRow>,
    pub attendance: DataFrame,
    pub competencies: DataFrame,
}

pub(crate) fn in_period(column: &str, period: &Period) -> Expr {
    col(column)
        .gt_eq(lit(days(period.start)))
        .and(col(column).lt(lit(days(period.end))))
}

/// The indicators, from the per-voucher frame and the aggregates PostgreSQL computed; the
/// attendance and competence datasets, sorted and labelled.
pub fn compute(
    sources: Sources,
    holders: Holders,
    period: &Period,
    envelope_cents: Option<i64>,
) -> PolarsResult<Computed> {
    let Sources {
        module_labels,
        attendance,
        delivered,
        reimbursed,
        competencies,
    } = sources;
    let Holders {
        frame: holders,
        module_sets,
    } = holders;
    let holders = holders
        .lazy()
        .with_columns([
            col("first_day").is_not_null().alias("started"),
            lit(ALL).alias("ensemble"),
        ])
        .collect()?;
    // The vouchers come in issue order, issued before the period's end: the cohort is the
    // frame's tail from the first issued in the period, taken without a copy.
    let issued_before = holders
        .column("issued_on")?
        .as_materialized_series()
        .i32()?
        .iter()
        .take_while(|day| day.is_some_and(|d| d < days(period.start)))
        .count();
    let cohort = holders
        .slice(
            i64::try_from(issued_before).unwrap_or(i64::MAX),
            holders.height(),
        )
        .lazy()
        .with_column((col("first_day") - col("issued_on")).alias("days_to_first"))
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
        |dimension: &'static str, frame: LazyFrame, value: Expr| -> PolarsResult<()> {
            let grouped = frame
                .group_by([value.alias("value")])
                .agg(cohort_aggs())
                .collect()?;
            push_cohort_rows(&mut rows, dimension, &grouped)
        };
    for (dimension, column) in HOLDER_DIMENSIONS {
        cohort_by(dimension, cohort.clone().lazy(), col(column))?;
    }
    cohort_by("epn", cohort.clone().lazy(), col("epn"))?;
    // A voucher counts under each module it chose: the cohort's vouchers of one module at a time.
    let numbers = module_labels.column("module_number")?.i32()?;
    let labels = module_labels.column("module_label")?.str()?;
    for (number, label) in numbers.iter().zip(labels.iter()) {
        let (Some(number), Some(label)) = (number, label) else {
            continue;
        };
        let chosen: Vec<bool> = module_sets
            .iter()
            .map(|set| set.contains(&number))
            .collect();
        let mask: BooleanChunked = cohort
            .column("module_set")?
            .as_materialized_series()
            .u32()?
            .iter()
            .map(|set| set.is_some_and(|code| chosen[code as usize]))
            .collect();
        // A module nobody in the cohort chose has no row (a literal key would make one group).
        if !mask.any() {
            continue;
        }
        cohort_by(
            "module",
            cohort.select(COHORT_FIGURES)?.filter(&mask)?.lazy(),
            lit(label.to_owned()),
        )?;
    }

    // Activity: hours delivered in the period, per holder dimension over the vouchers that
    // attended in it; per EPN and per module as PostgreSQL summed them.
    let delivered_holders = holders
        .clone()
        .lazy()
        .filter(col("delivered_minutes").is_not_null());
    let activity_aggs = || {
        vec![
            col("delivered_minutes")
                .sum()
                .cast(DataType::Float64)
                .alias("minutes"),
            len().cast(DataType::Float64).alias("holders"),
        ]
    };
    for (dimension, column) in HOLDER_DIMENSIONS {
        let grouped = delivered_holders
            .clone()
            .group_by([col(column).alias("value")])
            .agg(activity_aggs())
            .collect()?;
        push_hours_rows(&mut rows, dimension, &grouped)?;
    }
    for dimension in ["epn", "module"] {
        let grouped = delivered
            .clone()
            .lazy()
            .filter(col("dimension").eq(lit(dimension)))
            .collect()?;
        push_hours_rows(&mut rows, dimension, &grouped)?;
    }

    // Activity: amounts reimbursed for the period's months.
    let by_epn = reimbursed
        .clone()
        .lazy()
        .filter(col("scope").eq(lit("epn")))
        .collect()?;
    // The funders' part is published where a funder paid something: a scheme nobody co-finances
    // keeps the rows it had.
    let co_financed = by_epn.column("co_financed")?.bool()?.any();
    let reimbursed_holders = holders.lazy().filter(col("period_cents").is_not_null());
    for (dimension, column) in HOLDER_DIMENSIONS {
        let grouped = reimbursed_holders
            .clone()
            .group_by([col(column).alias("value")])
            .agg([
                col("period_cents")
                    .sum()
                    .cast(DataType::Float64)
                    .alias("cents"),
                col("period_funded_cents")
                    .sum()
                    .cast(DataType::Float64)
                    .alias("funded"),
                len().cast(DataType::Float64).alias("holders"),
            ])
            .collect()?;
        push_amount_rows(&mut rows, dimension, &grouped, co_financed)?;
    }
    push_amount_rows(&mut rows, "epn", &by_epn, co_financed)?;

    // Budget consumed: everything reimbursed up to the period's end over the envelope.
    let to_date = reimbursed
        .lazy()
        .filter(col("scope").eq(lit("a_date")))
        .collect()?;
    let cents = floats(&to_date, "cents")?
        .first()
        .copied()
        .flatten()
        .unwrap_or(0.0);
    let holders_paid = floats(&to_date, "holders")?
        .first()
        .copied()
        .flatten()
        .unwrap_or(0.0);
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

    Ok(Computed {
        indicators: rows,
        attendance: attendance_by_epn_module_month(attendance)?,
        competencies: competencies_by_epn(competencies)?,
    })
}

/// Sessions held, presences and minutes per EPN, module and month, in that order, the month as
/// `2026-10`.
fn attendance_by_epn_module_month(attendance: DataFrame) -> PolarsResult<DataFrame> {
    let sorted = attendance.sort(["epn", "module", "month"], SortMultipleOptions::default())?;
    month_labels(sorted, "month", "mois", 2)
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

/// Holders by competence and the highest level they reached in the period, per EPN and overall
/// (`Ensemble`), in that order.
fn competencies_by_epn(competencies: DataFrame) -> PolarsResult<DataFrame> {
    let both = competencies.sort(
        ["epn", "competence", "level_rank"],
        SortMultipleOptions::default(),
    )?;
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
