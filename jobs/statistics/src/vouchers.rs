//! The per-voucher rows, the one source as long as the tenant is large: each batch read is written
//! out at once as rows of the `vouchers` dataset (the period's cohort), and kept for the
//! indicators reduced to codes and numbers (the holder's dimensions as categories, no
//! pseudonym, no status text). The job's memory grows with the vouchers kept this way, about 85
//! bytes each, not with the attendance or the files.

use std::collections::HashMap;
use std::path::Path;

use polars::prelude::*;

use crate::StatisticsError;
use crate::compute::in_period;
use crate::source::{categorical, with_departments};
use crate::write::Streamed;
use passerelle_core::statistics::{ExportFile, Period};

/// Rows per batch: one Parquet row group of the `vouchers` file.
pub const BATCH_ROWS: usize = 262_144;

/// The holder's dimensions, kept as categories (a 4-byte code per row, each text once).
const DIMENSIONS: [&str; 8] = [
    "prescripteur",
    "type_prescripteur",
    "categorie_public",
    "commune",
    "departement",
    "tranche_age",
    "orientation",
    "epn",
];

/// What the indicators need of each voucher.
const KEPT: [&str; 11] = [
    "issued_on",
    "registered",
    "expired_unused",
    "completed",
    "cancelled",
    "fee_cents",
    "first_day",
    "minutes_used",
    "delivered_minutes",
    "period_cents",
    "period_funded_cents",
];

/// Every voucher issued before the period's end, one row each, in issue order.
pub struct Holders {
    /// The dimensions, `KEPT` and `module_set`, the code of the voucher's set of modules.
    pub frame: DataFrame,
    /// The module numbers of each set, by code.
    pub module_sets: Vec<Vec<i32>>,
}

/// The distinct sets of modules chosen ("1,4"), a handful for a million vouchers.
#[derive(Default)]
struct ModuleSets {
    codes: HashMap<String, u32>,
    sets: Vec<Vec<i32>>,
}

impl ModuleSets {
    fn code(&mut self, modules: &str) -> Result<u32, StatisticsError> {
        if let Some(code) = self.codes.get(modules) {
            return Ok(*code);
        }
        let set = modules
            .split(',')
            .map(|n| n.parse::<i32>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| StatisticsError::Copy(format!("a set of modules unread: {modules}")))?;
        let code = u32::try_from(self.sets.len()).expect("fewer than four billion sets");
        self.sets.push(set);
        self.codes.insert(modules.to_owned(), code);
        Ok(code)
    }
}

/// Receives the batches: writes the cohort's rows, keeps every voucher's codes and numbers.
pub struct Splitter {
    period: Period,
    label: String,
    scheme_code: String,
    folder: std::path::PathBuf,
    files: Option<Streamed>,
    kept: Vec<DataFrame>,
    module_sets: ModuleSets,
}

impl Splitter {
    pub fn new(folder: &Path, period: &Period, scheme_code: &str) -> Self {
        Self {
            period: *period,
            label: period.label(),
            scheme_code: scheme_code.to_owned(),
            folder: folder.to_owned(),
            files: None,
            kept: Vec::new(),
            module_sets: ModuleSets::default(),
        }
    }

    /// Takes one batch of the per-voucher statement (`source::VOUCHERS`).
    pub fn push(&mut self, batch: DataFrame) -> Result<(), StatisticsError> {
        let batch = with_departments(batch)?;
        let published = self.dataset_rows(&batch)?;
        if self.files.is_none() {
            self.files = Some(Streamed::create(
                &self.folder,
                "vouchers",
                false,
                published.schema(),
            )?);
        }
        if let Some(files) = self.files.as_mut() {
            files.write(&published)?;
        }
        drop(published);
        let kept = self.kept_columns(&batch)?;
        self.kept.push(kept);
        Ok(())
    }

    /// The files of the `vouchers` dataset, and what the indicators need.
    pub fn finish(self) -> Result<(Vec<ExportFile>, Holders), StatisticsError> {
        let files = match self.files {
            Some(files) => files.finish()?,
            None => Vec::new(),
        };
        let mut kept = self.kept.into_iter();
        let mut frame = kept.next().unwrap_or_default();
        for batch in kept {
            frame.vstack_mut_owned(batch)?;
        }
        Ok((
            files,
            Holders {
                frame,
                module_sets: self.module_sets.sets,
            },
        ))
    }

    /// The rows of the `vouchers` dataset in `batch`: the period's cohort, with the published
    /// names and types.
    fn dataset_rows(&self, batch: &DataFrame) -> Result<DataFrame, StatisticsError> {
        Ok(batch
            .clone()
            .lazy()
            .filter(in_period("issued_on", &self.period))
            .select([
                lit(self.label.clone()).alias("periode"),
                col("holder_key").alias("cle_beneficiaire"),
                lit(self.scheme_code.clone()).alias("dispositif"),
                col("prescripteur"),
                col("type_prescripteur"),
                col("categorie_public"),
                col("tranche_age"),
                col("commune"),
                col("departement"),
                col("epn"),
                col("orientation"),
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
            .collect()?)
    }

    /// What the indicators need of `batch`: the dimensions as categories, the numbers, and the
    /// code of the voucher's set of modules.
    fn kept_columns(&mut self, batch: &DataFrame) -> Result<DataFrame, StatisticsError> {
        let categorical = categorical();
        let mut columns = Vec::with_capacity(DIMENSIONS.len() + KEPT.len() + 1);
        for name in DIMENSIONS {
            columns.push(batch.column(name)?.cast(&categorical)?);
        }
        for name in KEPT {
            columns.push(batch.column(name)?.clone());
        }
        let sets = batch
            .column("modules")?
            .str()?
            .iter()
            .map(|modules| modules.map(|m| self.module_sets.code(m)).transpose())
            .collect::<Result<UInt32Chunked, _>>()?;
        columns.push(sets.with_name("module_set".into()).into_column());
        Ok(DataFrame::new(batch.height(), columns)?)
    }
}
