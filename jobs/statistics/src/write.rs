//! Files: Parquet (zstd) for tools, CSV for spreadsheets (French Excel: UTF-8 with BOM, `;`,
//! decimal comma, dates dd/mm/yyyy, text that would start a formula escaped). Each file is written
//! under a temporary name, hashed while it is written, then renamed: a file that exists is whole.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use passerelle_core::statistics::ExportFile;
use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::StatisticsError;

struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Text cells that a spreadsheet would read as a formula get a leading apostrophe.
fn escape_formulas(df: &DataFrame) -> PolarsResult<DataFrame> {
    let mut out = df.clone();
    for column in df.columns() {
        if column.dtype() != &DataType::String {
            continue;
        }
        let values = column.as_materialized_series().str()?;
        let risky = |s: &str| s.starts_with(['=', '+', '-', '@', '\t', '\r']);
        // Most columns never need it: leave them as they are rather than copy a million strings.
        if !values.iter().flatten().any(risky) {
            continue;
        }
        let escaped: Vec<Option<String>> = values
            .iter()
            .map(|v| {
                v.map(|s| {
                    if risky(s) {
                        format!("'{s}")
                    } else {
                        s.to_owned()
                    }
                })
            })
            .collect();
        out.with_column(Column::new(column.name().clone(), escaped))?;
    }
    Ok(out)
}

/// Writes `df` as `<name>.parquet` and `<name>.csv` in `folder`.
pub fn both(
    folder: &Path,
    dataset: &str,
    published: bool,
    df: &mut DataFrame,
) -> Result<Vec<ExportFile>, StatisticsError> {
    let base = if published {
        format!("{dataset}-published")
    } else {
        dataset.to_owned()
    };
    let rows = i64::try_from(df.height()).unwrap_or(i64::MAX);
    let mut files = Vec::new();
    for format in ["parquet", "csv"] {
        let name = format!("{base}.{format}");
        // A name of its own per run: two runs of one export never write into each other's file.
        let partial = folder.join(format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple()));
        let mut out = Hashing {
            inner: BufWriter::new(File::create(&partial)?),
            hasher: Sha256::new(),
            bytes: 0,
        };
        if format == "parquet" {
            ParquetWriter::new(&mut out)
                .with_compression(ParquetCompression::Zstd(None))
                .finish(df)?;
        } else {
            let mut escaped = escape_formulas(df)?;
            CsvWriter::new(&mut out)
                .include_bom(true)
                .with_separator(b';')
                .with_decimal_comma(true)
                .with_date_format(Some("%d/%m/%Y".into()))
                .finish(&mut escaped)?;
        }
        out.flush()?;
        let Hashing {
            inner,
            hasher,
            bytes,
        } = out;
        inner.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, folder.join(&name))?;
        files.push(ExportFile {
            name,
            dataset: dataset.to_owned(),
            format: format.to_owned(),
            published,
            row_count: rows,
            byte_size: i64::try_from(bytes).unwrap_or(i64::MAX),
            sha256: hex::encode(hasher.finalize()),
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_would_start_a_formula_is_escaped_and_the_rest_is_left_alone() {
        let df = DataFrame::new(
            3,
            vec![
                Column::new("epn".into(), ["=HYPERLINK(\"x\")", "EPN de Gramat", "-1"]),
                Column::new("n".into(), [1i64, 2, 3]),
            ],
        )
        .unwrap();
        let escaped = escape_formulas(&df).unwrap();
        let values: Vec<Option<&str>> = escaped
            .column("epn")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(
            values,
            [
                Some("'=HYPERLINK(\"x\")"),
                Some("EPN de Gramat"),
                Some("'-1")
            ]
        );
        assert_eq!(escaped.column("n").unwrap(), df.column("n").unwrap());
    }
}
