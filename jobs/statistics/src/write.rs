//! Files: Parquet (zstd) for tools, CSV for spreadsheets (French Excel: UTF-8 with BOM, `;`,
//! decimal comma, dates dd/mm/yyyy, text that would start a formula escaped). Each file is written
//! under a temporary name, hashed while it is written, then renamed: a file that exists is whole.
//! A long dataset is written batch by batch ([`Streamed`]), never whole in memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use passerelle_core::statistics::ExportFile;
use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::StatisticsError;

/// A file being written, with the hash and the size of what went into it.
struct Hashing {
    file: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

/// A handle on a [`Hashing`] file that a polars writer can own while the dataset keeps another
/// one, to take the file back when the writer is done.
#[derive(Clone)]
struct Shared(Arc<Mutex<Hashing>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = self.0.lock().expect("one writer at a time");
        let n = out.file.write(buf)?;
        out.hasher.update(&buf[..n]);
        out.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().expect("one writer at a time").file.flush()
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
    df: &DataFrame,
) -> Result<Vec<ExportFile>, StatisticsError> {
    let mut files = Streamed::create(folder, dataset, published, df.schema())?;
    files.write(df)?;
    files.finish()
}

/// One file of a dataset being written.
struct Partial {
    name: String,
    format: &'static str,
    path: PathBuf,
    out: Shared,
}

impl Partial {
    fn create(folder: &Path, name: String, format: &'static str) -> std::io::Result<Self> {
        // A name of its own per run: two runs of one export never write into each other's file.
        let path = folder.join(format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple()));
        let out = Shared(Arc::new(Mutex::new(Hashing {
            file: BufWriter::new(File::create(&path)?),
            hasher: Sha256::new(),
            bytes: 0,
        })));
        Ok(Self {
            name,
            format,
            path,
            out,
        })
    }
}

/// A dataset's Parquet and CSV files, written batch by batch: each batch is a Parquet row group
/// and more lines of the CSV. Until [`Streamed::finish`] the files have their temporary names; a
/// dataset dropped unfinished deletes them.
pub struct Streamed {
    dataset: String,
    published: bool,
    rows: i64,
    parquet: Option<polars_io::parquet::write::BatchedWriter<Shared>>,
    csv: Option<polars_io::csv::write::BatchedWriter<Shared>>,
    files: Vec<Partial>,
}

impl Streamed {
    /// Opens `<name>.parquet` and `<name>.csv` in `folder` for rows of `schema`.
    pub fn create(
        folder: &Path,
        dataset: &str,
        published: bool,
        schema: &Schema,
    ) -> Result<Self, StatisticsError> {
        let base = if published {
            format!("{dataset}-published")
        } else {
            dataset.to_owned()
        };
        let parquet = Partial::create(folder, format!("{base}.parquet"), "parquet")?;
        let csv = Partial::create(folder, format!("{base}.csv"), "csv")?;
        let parquet_writer = ParquetWriter::new(parquet.out.clone())
            .with_compression(ParquetCompression::Zstd(None))
            .batched(schema)?;
        let csv_writer = CsvWriter::new(csv.out.clone())
            .include_bom(true)
            .with_separator(b';')
            .with_decimal_comma(true)
            .with_date_format(Some("%d/%m/%Y".into()))
            .batched(schema)?;
        Ok(Self {
            dataset: dataset.to_owned(),
            published,
            rows: 0,
            parquet: Some(parquet_writer),
            csv: Some(csv_writer),
            files: vec![parquet, csv],
        })
    }

    /// Appends `df`'s rows to both files.
    pub fn write(&mut self, df: &DataFrame) -> Result<(), StatisticsError> {
        if df.height() == 0 {
            return Ok(());
        }
        // One row group per batch: the Parquet writer takes each chunk as a row group.
        let mut df = df.clone();
        df.rechunk_mut();
        if let Some(parquet) = self.parquet.as_mut() {
            parquet.write_batch(&df)?;
        }
        if let Some(csv) = self.csv.as_mut() {
            csv.write_batch(&escape_formulas(&df)?)?;
        }
        self.rows += i64::try_from(df.height()).unwrap_or(i64::MAX);
        Ok(())
    }

    /// Ends both files, makes them durable and gives them their names.
    pub fn finish(mut self) -> Result<Vec<ExportFile>, StatisticsError> {
        if let Some(parquet) = self.parquet.take() {
            parquet.finish()?;
        }
        if let Some(mut csv) = self.csv.take() {
            csv.finish()?;
        }
        let folder_files = std::mem::take(&mut self.files);
        let mut files = Vec::new();
        for partial in folder_files {
            let Partial {
                name,
                format,
                path,
                out,
            } = partial;
            let Hashing {
                file,
                hasher,
                bytes,
            } = Arc::into_inner(out.0)
                .expect("the writers are done")
                .into_inner()
                .expect("one writer at a time");
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&path, path.with_file_name(&name))?;
            files.push(ExportFile {
                name,
                dataset: self.dataset.clone(),
                format: format.to_owned(),
                published: self.published,
                row_count: self.rows,
                byte_size: i64::try_from(bytes).unwrap_or(i64::MAX),
                sha256: hex::encode(hasher.finalize()),
            });
        }
        Ok(files)
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        for partial in &self.files {
            let _ = std::fs::remove_file(&partial.path);
        }
    }
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

    fn batch(from: i64, rows: i64) -> DataFrame {
        let numbers: Vec<i64> = (from..from + rows).collect();
        let names: Vec<String> = numbers.iter().map(|n| format!("=ligne {n}")).collect();
        DataFrame::new(
            numbers.len(),
            vec![
                Column::new("n".into(), numbers),
                Column::new("nom".into(), names),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_dataset_written_in_batches_reads_back_whole_and_an_unfinished_one_leaves_nothing() {
        let folder = std::env::temp_dir().join(format!(
            "passerelle-streamed-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&folder).unwrap();
        let first = batch(0, 3);
        let mut files = Streamed::create(&folder, "lignes", false, first.schema()).unwrap();
        files.write(&first).unwrap();
        files.write(&batch(3, 0)).unwrap();
        files.write(&batch(3, 4)).unwrap();
        let written = files.finish().unwrap();
        assert_eq!(
            written
                .iter()
                .map(|f| (f.name.as_str(), f.row_count))
                .collect::<Vec<_>>(),
            [("lignes.parquet", 7), ("lignes.csv", 7)]
        );

        let csv = std::fs::read(folder.join("lignes.csv")).unwrap();
        assert_eq!(written[1].byte_size, csv.len() as i64);
        assert_eq!(written[1].sha256, hex::encode(Sha256::digest(&csv)));
        let text = String::from_utf8(csv).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // One byte-order mark and one header, then every row once, escaped.
        assert_eq!(lines[0], "\u{feff}n;nom");
        assert_eq!(text.matches('\u{feff}').count(), 1);
        assert_eq!(
            lines[1..],
            (0..7)
                .map(|n| format!("{n};'=ligne {n}"))
                .collect::<Vec<_>>()
        );

        let mut reader = polars_io::prelude::ParquetReader::new(
            File::open(folder.join("lignes.parquet")).unwrap(),
        );
        assert_eq!(reader.get_metadata().unwrap().row_groups.len(), 2);
        let read = polars_io::SerReader::finish(reader).unwrap();
        let numbers: Vec<Option<i64>> = read.column("n").unwrap().i64().unwrap().iter().collect();
        assert_eq!(numbers, (0..7).map(Some).collect::<Vec<_>>());

        // A dataset dropped before its end (the read failed) leaves no file behind.
        let mut abandoned = Streamed::create(&folder, "abandon", false, first.schema()).unwrap();
        abandoned.write(&first).unwrap();
        drop(abandoned);
        let mut left: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["lignes.csv", "lignes.parquet"]);
        std::fs::remove_dir_all(&folder).unwrap();
    }
}
