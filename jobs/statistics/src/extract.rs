//! Reading a query's result straight into columns: `COPY (SELECT …) TO STDOUT (FORMAT binary)`,
//! decoded as the bytes arrive into one vector per column, never into a struct per row, and
//! handed over in frames of a bounded number of rows when the result is long.

use chrono::NaiveDate;
use futures::TryStreamExt;
use passerelle_core::storage::Tx;
use polars::prelude::*;

use crate::StatisticsError;

/// The binary COPY signature, then the flags and the header extension length.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Days from 1970-01-01 (polars dates) to 2000-01-01 (PostgreSQL dates).
const PG_EPOCH_DAYS: i32 = 10_957;

/// What a column of the query holds, and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int16,
    Int32,
    Int64,
    /// A `date`, as days since 1970 in an `Int32` column (cast to `Date` when written out).
    Date,
    Bool,
    Text,
}

/// Each column goes straight into a polars builder: no `Option<String>` per value, no second copy.
enum Sink {
    Int32(PrimitiveChunkedBuilder<Int32Type>),
    Int64(PrimitiveChunkedBuilder<Int64Type>),
    Bool(BooleanChunkedBuilder),
    Text(StringChunkedBuilder),
}

impl Sink {
    fn new(kind: Kind, name: &str) -> Self {
        let name = PlSmallStr::from(name);
        const CAPACITY: usize = 4096;
        match kind {
            Kind::Int16 | Kind::Int32 | Kind::Date => {
                Self::Int32(PrimitiveChunkedBuilder::new(name, CAPACITY))
            }
            Kind::Int64 => Self::Int64(PrimitiveChunkedBuilder::new(name, CAPACITY)),
            Kind::Bool => Self::Bool(BooleanChunkedBuilder::new(name, CAPACITY)),
            Kind::Text => Self::Text(StringChunkedBuilder::new(name, CAPACITY)),
        }
    }

    fn into_column(self) -> Column {
        match self {
            Self::Int32(b) => b.finish().into_column(),
            Self::Int64(b) => b.finish().into_column(),
            Self::Bool(b) => b.finish().into_column(),
            Self::Text(b) => b.finish().into_column(),
        }
    }
}

fn malformed(what: &str) -> StatisticsError {
    StatisticsError::Copy(format!("malformed binary COPY data: {what}"))
}

struct Decoder<'a> {
    kinds: &'a [Kind],
    names: &'a [&'a str],
    sinks: Vec<Sink>,
    header_done: bool,
    finished: bool,
    rows: usize,
}

impl Decoder<'_> {
    /// Empty columns for the next rows.
    fn reset(&mut self) {
        self.sinks = self
            .kinds
            .iter()
            .zip(self.names)
            .map(|(kind, name)| Sink::new(*kind, name))
            .collect();
        self.rows = 0;
    }

    /// The rows decoded since the last call, as a frame.
    fn take(&mut self) -> Result<DataFrame, StatisticsError> {
        let height = self.rows;
        let columns = std::mem::take(&mut self.sinks)
            .into_iter()
            .map(Sink::into_column)
            .collect();
        self.reset();
        Ok(DataFrame::new(height, columns)?)
    }

    /// Decodes the complete tuples at the start of `buf` until `limit` rows are held; returns how
    /// many bytes it used.
    fn decode(&mut self, buf: &[u8], limit: usize) -> Result<usize, StatisticsError> {
        let mut pos = 0;
        if !self.header_done {
            if buf.len() < SIGNATURE.len() + 8 {
                return Ok(0);
            }
            if &buf[..SIGNATURE.len()] != SIGNATURE {
                return Err(malformed("bad signature"));
            }
            let ext = i32_at(buf, SIGNATURE.len() + 4);
            let ext = usize::try_from(ext).map_err(|_| malformed("bad header"))?;
            let header = SIGNATURE.len() + 8 + ext;
            if buf.len() < header {
                return Ok(0);
            }
            pos = header;
            self.header_done = true;
        }
        'tuples: while pos + 2 <= buf.len() && self.rows < limit {
            let fields = i16::from_be_bytes([buf[pos], buf[pos + 1]]);
            if fields == -1 {
                self.finished = true;
                return Ok(pos + 2);
            }
            if usize::try_from(fields).ok() != Some(self.kinds.len()) {
                return Err(malformed("unexpected field count"));
            }
            // Find the tuple's end first, so that a tuple split across chunks is left whole.
            let mut end = pos + 2;
            for _ in 0..self.kinds.len() {
                if end + 4 > buf.len() {
                    break 'tuples;
                }
                let len = i32_at(buf, end);
                end += 4;
                if len > 0 {
                    end += len as usize;
                }
            }
            if end > buf.len() {
                break;
            }
            let mut at = pos + 2;
            for (kind, sink) in self.kinds.iter().zip(self.sinks.iter_mut()) {
                let len = i32_at(buf, at);
                at += 4;
                let value = if len < 0 {
                    None
                } else {
                    let v = &buf[at..at + len as usize];
                    at += len as usize;
                    Some(v)
                };
                push(*kind, sink, value)?;
            }
            self.rows += 1;
            pos = end;
        }
        Ok(pos)
    }
}

fn i32_at(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn push(kind: Kind, sink: &mut Sink, value: Option<&[u8]>) -> Result<(), StatisticsError> {
    let fixed = |v: &[u8], n: usize| {
        if v.len() == n {
            Ok(())
        } else {
            Err(malformed("unexpected value length"))
        }
    };
    match (kind, sink) {
        (Kind::Int16, Sink::Int32(out)) => out.append_option(match value {
            None => None,
            Some(v) => {
                fixed(v, 2)?;
                Some(i32::from(i16::from_be_bytes([v[0], v[1]])))
            }
        }),
        (Kind::Int32, Sink::Int32(out)) => out.append_option(match value {
            None => None,
            Some(v) => {
                fixed(v, 4)?;
                Some(i32_at(v, 0))
            }
        }),
        (Kind::Date, Sink::Int32(out)) => out.append_option(match value {
            None => None,
            Some(v) => {
                fixed(v, 4)?;
                Some(i32_at(v, 0) + PG_EPOCH_DAYS)
            }
        }),
        (Kind::Int64, Sink::Int64(out)) => out.append_option(match value {
            None => None,
            Some(v) => {
                fixed(v, 8)?;
                Some(i64::from_be_bytes(v.try_into().expect("8 bytes")))
            }
        }),
        (Kind::Bool, Sink::Bool(out)) => out.append_option(match value {
            None => None,
            Some(v) => {
                fixed(v, 1)?;
                Some(v[0] != 0)
            }
        }),
        (Kind::Text, Sink::Text(out)) => match value {
            None => out.append_null(),
            Some(v) => out
                .append_value(std::str::from_utf8(v).map_err(|_| malformed("text is not UTF-8"))?),
        },
        _ => unreachable!("sinks are built from their kinds"),
    }
    Ok(())
}

/// Runs `select` through a binary COPY and returns its columns as a DataFrame named as in
/// `columns`. `select` must have exactly the columns of `columns`, in order and of those types
/// (`int2`, `int4`, `int8`, `date`, `bool`, `text`).
pub async fn copy_frame(
    tx: &mut Tx,
    select: &str,
    columns: &[(&str, Kind)],
) -> Result<DataFrame, StatisticsError> {
    let mut frames = Vec::new();
    copy_batches(tx, select, columns, usize::MAX, async |frame| {
        frames.push(frame);
        Ok(())
    })
    .await?;
    Ok(frames.pop().unwrap_or_default())
}

/// The same COPY handed over as it arrives, in frames of `rows` rows (the last one shorter, and
/// one empty frame when the query returns nothing), so that a long result is never whole in
/// memory unless the caller keeps it. An error of `batch` stops the COPY and is returned.
pub async fn copy_batches(
    tx: &mut Tx,
    select: &str,
    columns: &[(&str, Kind)],
    rows: usize,
    mut batch: impl AsyncFnMut(DataFrame) -> Result<(), StatisticsError>,
) -> Result<(), StatisticsError> {
    let rows = rows.max(1);
    let kinds: Vec<Kind> = columns.iter().map(|(_, k)| *k).collect();
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let mut decoder = Decoder {
        kinds: &kinds,
        names: &names,
        sinks: Vec::new(),
        header_done: false,
        finished: false,
        rows: 0,
    };
    decoder.reset();
    let statement = format!("COPY ({select}) TO STDOUT (FORMAT binary)");
    let mut stream = (**tx).copy_out_raw(&statement).await?;
    // The bytes of a tuple that a chunk ended in the middle of, waiting for the next chunk.
    let mut pending: Vec<u8> = Vec::new();
    let mut handed = false;
    while let Some(chunk) = stream.try_next().await? {
        let continued = !pending.is_empty();
        if continued {
            pending.extend_from_slice(&chunk);
        }
        let used = {
            let buf: &[u8] = if continued { &pending } else { &chunk };
            let mut used = 0;
            loop {
                used += decoder.decode(&buf[used..], rows)?;
                if decoder.rows < rows {
                    break;
                }
                batch(decoder.take()?).await?;
                handed = true;
            }
            used
        };
        if continued {
            pending.drain(..used);
        } else {
            pending.extend_from_slice(&chunk[used..]);
        }
    }
    if !decoder.finished || !pending.is_empty() {
        return Err(malformed("the data ended in the middle of a tuple"));
    }
    if decoder.rows > 0 || !handed {
        batch(decoder.take()?).await?;
    }
    Ok(())
}

/// The same COPY with nothing kept: the baseline of the benchmark (the bytes PostgreSQL produces).
pub async fn copy_discard(tx: &mut Tx, select: &str) -> Result<u64, StatisticsError> {
    let statement = format!("COPY ({select}) TO STDOUT (FORMAT binary)");
    let mut stream = (**tx).copy_out_raw(&statement).await?;
    let mut bytes = 0u64;
    while let Some(chunk) = stream.try_next().await? {
        bytes += chunk.len() as u64;
    }
    Ok(bytes)
}

/// A date as a SQL literal, for COPY statements (which take no bind parameters).
pub fn date_literal(date: NaiveDate) -> String {
    format!("DATE '{}'", date.format("%Y-%m-%d"))
}

/// A polars date (days since 1970) from a calendar date.
pub fn days(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    i32::try_from((date - epoch).num_days()).expect("a date within polars' range")
}
