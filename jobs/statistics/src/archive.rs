//! The Parquet copy of an archived table, made from its CSV copy: typed columns for tools (dates,
//! integers, timestamps in UTC), written in row groups so that a table of millions of rows never
//! sits whole in memory.
//!
//! PostgreSQL's CSV writes NULL as an empty field and an empty text as `""`; a CSV reader sees
//! both as empty. In the Parquet copy an empty value of a nullable column is therefore null, and
//! the CSV copy (the one `restore` loads) keeps the difference.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use chrono::{DateTime, NaiveDate};
use passerelle_core::archive::tables::{ArchivedColumn, ColumnKind};
use polars::prelude::*;

use crate::StatisticsError;

const ROWS_PER_GROUP: usize = 65_536;

pub fn parquet_from_csv(
    csv_path: &Path,
    columns: &[ArchivedColumn],
    parquet_path: &Path,
) -> Result<(), StatisticsError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(csv_path)
        .map_err(|e| StatisticsError::Copy(format!("{}: {e}", csv_path.display())))?;
    let schema: Schema = columns
        .iter()
        .map(|c| Field::new(c.name.as_str().into(), dtype(c.kind)))
        .collect();
    let out = BufWriter::new(File::create(parquet_path)?);
    let mut writer = ParquetWriter::new(out)
        .with_compression(ParquetCompression::Zstd(None))
        .batched(&schema)?;
    let mut batch: Vec<Vec<Option<String>>> = vec![Vec::new(); columns.len()];
    let mut rows = 0usize;
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| StatisticsError::Copy(format!("{}: {e}", csv_path.display())))?;
        if more {
            for (values, (column, field)) in batch.iter_mut().zip(columns.iter().zip(&record)) {
                let empty_is_null = column.nullable || column.kind != ColumnKind::Text;
                values.push((!(field.is_empty() && empty_is_null)).then(|| field.to_owned()));
            }
            rows += 1;
        }
        if rows == ROWS_PER_GROUP || (!more && rows > 0) {
            let frame = frame(columns, &mut batch)?;
            writer.write_batch(&frame)?;
            rows = 0;
        }
        if !more {
            break;
        }
    }
    writer.finish()?;
    Ok(())
}

fn dtype(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Integer => DataType::Int64,
        ColumnKind::Boolean => DataType::Boolean,
        ColumnKind::Float => DataType::Float64,
        ColumnKind::Date => DataType::Date,
        ColumnKind::Timestamp => DataType::Datetime(TimeUnit::Microseconds, None),
        ColumnKind::Text => DataType::String,
    }
}

/// One row group's columns, typed; empties the batch.
fn frame(
    columns: &[ArchivedColumn],
    batch: &mut [Vec<Option<String>>],
) -> Result<DataFrame, StatisticsError> {
    let height = batch.first().map_or(0, Vec::len);
    let mut series = Vec::with_capacity(columns.len());
    for (column, values) in columns.iter().zip(batch.iter_mut()) {
        let values = std::mem::take(values);
        let name: PlSmallStr = column.name.as_str().into();
        let bad = |v: String| {
            StatisticsError::Copy(format!(
                "{}: `{v}` is not a {:?} value",
                column.name, column.kind
            ))
        };
        let typed = match column.kind {
            ColumnKind::Text => Series::new(name, values),
            ColumnKind::Integer => Series::new(
                name,
                parse_all(&values, |v| v.parse::<i64>().ok()).map_err(bad)?,
            ),
            ColumnKind::Float => Series::new(
                name,
                parse_all(&values, |v| v.parse::<f64>().ok()).map_err(bad)?,
            ),
            ColumnKind::Boolean => Series::new(
                name,
                parse_all(&values, |v| match v {
                    "t" => Some(true),
                    "f" => Some(false),
                    _ => None,
                })
                .map_err(bad)?,
            ),
            ColumnKind::Date => {
                let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
                let days = parse_all(&values, |v| {
                    let date = NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
                    i32::try_from((date - epoch).num_days()).ok()
                })
                .map_err(bad)?;
                Series::new(name, days).cast(&DataType::Date)?
            }
            ColumnKind::Timestamp => {
                let micros = parse_all(&values, |v| {
                    DateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f%#z")
                        .ok()
                        .map(|t| t.timestamp_micros())
                })
                .map_err(bad)?;
                Series::new(name, micros).cast(&dtype(ColumnKind::Timestamp))?
            }
        };
        series.push(typed.into());
    }
    Ok(DataFrame::new(height, series)?)
}

/// Parses every present value, or names the first that does not parse.
fn parse_all<T>(
    values: &[Option<String>],
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<Option<T>>, String> {
    values
        .iter()
        .map(|v| match v {
            None => Ok(None),
            Some(v) => parse(v).map(Some).ok_or_else(|| v.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, kind: ColumnKind, nullable: bool) -> ArchivedColumn {
        ArchivedColumn {
            name: name.into(),
            sql_type: String::new(),
            kind,
            nullable,
        }
    }

    #[test]
    fn postgres_csv_reads_back_typed() {
        let folder = std::env::temp_dir().join(format!("archive-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&folder).expect("folder");
        let csv_path = folder.join("t.csv");
        std::fs::write(
            &csv_path,
            "id,n,ok,on,at,note\n\
             a,3,t,2026-02-01,2026-02-01 09:30:00.5+00,\"x, \"\"y\"\"\"\n\
             b,,f,,2026-02-01 23:00:00+01,\n",
        )
        .expect("csv");
        let columns = [
            column("id", ColumnKind::Text, false),
            column("n", ColumnKind::Integer, true),
            column("ok", ColumnKind::Boolean, false),
            column("on", ColumnKind::Date, true),
            column("at", ColumnKind::Timestamp, false),
            column("note", ColumnKind::Text, true),
        ];
        let parquet_path = folder.join("t.parquet");
        parquet_from_csv(&csv_path, &columns, &parquet_path).expect("parquet");
        let df = ParquetReader::new(File::open(&parquet_path).expect("open"))
            .finish()
            .expect("read");
        assert_eq!(df.height(), 2);
        assert_eq!(df.column("n").expect("n").i64().expect("i64").get(1), None);
        assert_eq!(
            df.column("note").expect("note").str().expect("str").get(0),
            Some("x, \"y\"")
        );
        assert_eq!(df.column("note").expect("note").null_count(), 1);
        assert_eq!(df.column("on").expect("on").dtype(), &DataType::Date);
        let at = df
            .column("at")
            .expect("at")
            .cast(&DataType::Int64)
            .expect("cast");
        assert_eq!(
            at.i64().expect("i64").get(1),
            Some(
                chrono::DateTime::parse_from_rfc3339("2026-02-01T22:00:00Z")
                    .expect("t")
                    .timestamp_micros()
            )
        );
        std::fs::remove_dir_all(&folder).expect("clean");
    }
}
