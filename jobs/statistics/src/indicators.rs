//! The long `indicators` table and its small-count suppression.
//!
//! Suppression, for the published file:
//! 1. primary: a count of holders under the threshold, and an amount or a number of hours that
//!    fewer holders than the threshold make up, is blanked (zero is not: it discloses no one);
//! 2. secondary: within one indicator and one dimension the cells add up to the `ensemble` row, so
//!    a dimension with exactly one blanked cell would give it away by difference: the smallest
//!    other cell of that dimension is blanked too;
//! 3. derived: a rate, an average or a percentile is blanked when a count it is computed from is
//!    blanked in the same row group (same dimension value), or when it rests on fewer holders than
//!    the threshold.

use std::collections::{BTreeMap, HashSet};

use polars::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Basis {
    /// A number of holders (or vouchers): itself the count suppression looks at.
    Count,
    /// A quantity (hours, euros) that `contributors` holders make up.
    Magnitude,
    /// Computed from the counts named, in the same dimension value.
    Derived(&'static [&'static str]),
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorRow {
    pub dimension: &'static str,
    pub value: String,
    pub indicator: &'static str,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub result: Option<f64>,
    /// How many holders the cell rests on.
    pub contributors: f64,
    pub basis: Basis,
}

fn small(contributors: f64, threshold: f64) -> bool {
    contributors > 0.0 && contributors < threshold
}

/// Which rows the published file blanks.
pub fn suppressed(rows: &[IndicatorRow], threshold: i32) -> Vec<bool> {
    let threshold = f64::from(threshold);
    let mut masked: Vec<bool> = rows
        .iter()
        .map(|r| !matches!(r.basis, Basis::Derived(_)) && small(r.contributors, threshold))
        .collect();

    // Secondary: one blanked cell alone in its (dimension, indicator) group.
    let mut groups: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        if r.dimension != "ensemble" && !matches!(r.basis, Basis::Derived(_)) {
            groups
                .entry((r.dimension, r.indicator))
                .or_default()
                .push(i);
        }
    }
    for members in groups.values() {
        let blanked = members.iter().filter(|&&i| masked[i]).count();
        if blanked == 1 && members.len() > 1 {
            let smallest = members
                .iter()
                .copied()
                .filter(|&i| !masked[i])
                .min_by(|&a, &b| {
                    let value = |i: usize| rows[i].result.unwrap_or(0.0);
                    value(a)
                        .total_cmp(&value(b))
                        .then_with(|| rows[a].value.cmp(&rows[b].value))
                });
            if let Some(i) = smallest {
                masked[i] = true;
            }
        }
    }

    // Derived rows follow the counts they come from.
    let blanked: HashSet<(&str, &str, &str)> = rows
        .iter()
        .zip(&masked)
        .filter(|(_, m)| **m)
        .map(|(r, _)| (r.dimension, r.value.as_str(), r.indicator))
        .collect();
    for (i, r) in rows.iter().enumerate() {
        if let Basis::Derived(sources) = r.basis {
            masked[i] = small(r.contributors, threshold)
                || sources
                    .iter()
                    .any(|s| blanked.contains(&(r.dimension, r.value.as_str(), s)));
        }
    }
    masked
}

/// The table as a frame; with `mask`, the blanked rows lose their figures and say so.
pub fn frame(
    rows: &[IndicatorRow],
    period: &str,
    mask: Option<&[bool]>,
) -> PolarsResult<DataFrame> {
    let hidden = |i: usize| mask.is_some_and(|m| m[i]);
    let figure = |pick: fn(&IndicatorRow) -> Option<f64>| -> Vec<Option<f64>> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| if hidden(i) { None } else { pick(r) })
            .collect()
    };
    let height = rows.len();
    DataFrame::new(
        height,
        vec![
            Column::new("periode".into(), vec![period; height]),
            Column::new(
                "dimension".into(),
                rows.iter().map(|r| r.dimension).collect::<Vec<_>>(),
            ),
            Column::new(
                "valeur_dimension".into(),
                rows.iter().map(|r| r.value.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "indicateur".into(),
                rows.iter().map(|r| r.indicator).collect::<Vec<_>>(),
            ),
            Column::new("numerateur".into(), figure(|r| r.numerator)),
            Column::new("denominateur".into(), figure(|r| r.denominator)),
            Column::new("valeur".into(), figure(|r| r.result)),
            Column::new(
                "masque".into(),
                (0..height).map(hidden).collect::<Vec<bool>>(),
            ),
        ],
    )
}

/// Primary suppression of a count column of another dataset: blanks it (and the columns derived
/// from it) where it is small, and adds the flag. With `group_by`, a group left with exactly one
/// blanked cell loses its smallest other cell too.
pub fn suppress_counts(
    df: &DataFrame,
    count: &str,
    also: &[&str],
    group_by: Option<&[&str]>,
    threshold: i32,
) -> PolarsResult<DataFrame> {
    let threshold = f64::from(threshold);
    let counts = crate::compute::floats(df, count)?;
    let mut masked: Vec<bool> = counts
        .iter()
        .map(|c| small(c.unwrap_or(0.0), threshold))
        .collect();
    if let Some(keys) = group_by {
        let key_columns = keys
            .iter()
            .map(|k| {
                Ok(df
                    .column(k)?
                    .cast(&DataType::String)?
                    .as_materialized_series()
                    .str()?
                    .iter()
                    .map(|v| v.unwrap_or("").to_owned())
                    .collect::<Vec<_>>())
            })
            .collect::<PolarsResult<Vec<_>>>()?;
        let mut groups: BTreeMap<Vec<&str>, Vec<usize>> = BTreeMap::new();
        for i in 0..df.height() {
            let key = key_columns.iter().map(|c| c[i].as_str()).collect();
            groups.entry(key).or_default().push(i);
        }
        for members in groups.values() {
            if members.iter().filter(|&&i| masked[i]).count() == 1 && members.len() > 1 {
                let smallest = members
                    .iter()
                    .copied()
                    .filter(|&i| !masked[i])
                    .min_by(|&a, &b| {
                        counts[a]
                            .unwrap_or(0.0)
                            .total_cmp(&counts[b].unwrap_or(0.0))
                    });
                if let Some(i) = smallest {
                    masked[i] = true;
                }
            }
        }
    }
    let mut out = df.clone();
    for name in std::iter::once(&count).chain(also) {
        let column = out.column(name)?.clone();
        let values: Vec<Option<i64>> = column
            .cast(&DataType::Int64)?
            .as_materialized_series()
            .i64()?
            .iter()
            .zip(&masked)
            .map(|(v, m)| if *m { None } else { v })
            .collect();
        out.with_column(Column::new((*name).into(), values))?;
    }
    out.with_column(Column::new("masque".into(), masked))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(
        dimension: &'static str,
        value: &str,
        indicator: &'static str,
        n: f64,
    ) -> IndicatorRow {
        IndicatorRow {
            dimension,
            value: value.into(),
            indicator,
            numerator: Some(n),
            denominator: None,
            result: Some(n),
            contributors: n,
            basis: Basis::Count,
        }
    }

    #[test]
    fn a_lone_small_cell_takes_the_next_smallest_with_it() {
        let rows = vec![
            count("ensemble", "Ensemble", "bons_emis", 60.0),
            count("categorie_public", "senior", "bons_emis", 3.0),
            count("categorie_public", "jeune", "bons_emis", 7.0),
            count("categorie_public", "demandeur_emploi", "bons_emis", 50.0),
        ];
        assert_eq!(suppressed(&rows, 5), [false, true, true, false]);
    }

    #[test]
    fn two_small_cells_protect_each_other_and_zero_is_not_small() {
        let rows = vec![
            count("ensemble", "Ensemble", "bons_annules", 4.0),
            count("categorie_public", "senior", "bons_annules", 2.0),
            count("categorie_public", "jeune", "bons_annules", 2.0),
            count("categorie_public", "autre", "bons_annules", 0.0),
        ];
        assert_eq!(suppressed(&rows, 5), [true, true, true, false]);
    }

    #[test]
    fn a_rate_over_a_blanked_count_is_blanked() {
        let mut rate = count("categorie_public", "jeune", "taux_activation", 40.0);
        rate.basis = Basis::Derived(&["bons_demarres", "bons_emis"]);
        let rows = vec![
            count("categorie_public", "jeune", "bons_emis", 40.0),
            count("categorie_public", "jeune", "bons_demarres", 3.0),
            count("categorie_public", "senior", "bons_demarres", 30.0),
            rate,
        ];
        assert_eq!(suppressed(&rows, 5), [false, true, true, true]);
    }
}
