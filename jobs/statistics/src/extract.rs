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

struct Decoder {
    columns: Vec<(&'static str, Kind)>,
    sinks: Vec<Sink>,
    header_done: bool,
    finished: bool,
    rows: usize,
}

impl Decoder {
    /// Empty columns for the next rows.
    fn reset(&mut self) {
        self.sinks = self
            .columns
            .iter()
            .map(|(name, kind)| Sink::new(*kind, name))
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
            if usize::try_from(fields).ok() != Some(self.columns.len()) {
                return Err(malformed("unexpected field count"));
            }
            // Find the tuple's end first, so that a tuple split across chunks is left whole.
            let mut end = pos + 2;
            for _ in 0..self.columns.len() {
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
            for ((_, kind), sink) in self.columns.iter().zip(self.sinks.iter_mut()) {
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
    columns: &[(&'static str, Kind)],
) -> Result<DataFrame, StatisticsError> {
    let mut whole = Batches::open(tx, select, columns, usize::MAX).await?;
    Ok(whole.next().await?.unwrap_or_default())
}

/// The same COPY handed over as it arrives, in frames of `rows` rows (the last one shorter, and
/// one empty frame when the query returns nothing), so that a long result is never whole in
/// memory unless the caller keeps it. A reader that stops before the end must
/// [`discard`](Batches::discard) the rest: the connection is unusable until the COPY has ended.
pub struct Batches<'c> {
    stream: futures::stream::BoxStream<'c, sqlx::Result<bytes::Bytes>>,
    decoder: Decoder,
    rows: usize,
    /// Bytes received and not decoded yet: the start of a tuple whose end has not arrived.
    pending: Vec<u8>,
    handed: bool,
    ended: bool,
}

impl<'c> Batches<'c> {
    pub async fn open(
        tx: &'c mut Tx,
        select: &str,
        columns: &[(&'static str, Kind)],
        rows: usize,
    ) -> Result<Self, StatisticsError> {
        let mut decoder = Decoder {
            columns: columns.to_vec(),
            sinks: Vec::new(),
            header_done: false,
            finished: false,
            rows: 0,
        };
        decoder.reset();
        let statement = format!("COPY ({select}) TO STDOUT (FORMAT binary)");
        let stream = (**tx).copy_out_raw(&statement).await?;
        Ok(Self {
            stream,
            decoder,
            rows: rows.max(1),
            pending: Vec::new(),
            handed: false,
            ended: false,
        })
    }

    /// Reads the rest of the COPY without decoding it, so that the transaction can go on (or
    /// roll back) after a reader stopped early.
    pub async fn discard(mut self) -> Result<(), StatisticsError> {
        while self.stream.try_next().await?.is_some() {}
        Ok(())
    }

    /// The next frame, `None` once every row has been handed over.
    pub async fn next(&mut self) -> Result<Option<DataFrame>, StatisticsError> {
        loop {
            let used = self.decoder.decode(&self.pending, self.rows)?;
            self.pending.drain(..used);
            if self.decoder.rows >= self.rows {
                self.handed = true;
                return Ok(Some(self.decoder.take()?));
            }
            if self.ended {
                return Ok(None);
            }
            match self.stream.try_next().await? {
                Some(chunk) => self.pending.extend_from_slice(&chunk),
                None => {
                    self.ended = true;
                    if !self.decoder.finished || !self.pending.is_empty() {
                        return Err(malformed("the data ended in the middle of a tuple"));
                    }
                    if self.decoder.rows > 0 || !self.handed {
                        self.handed = true;
                        return Ok(Some(self.decoder.take()?));
                    }
                    return Ok(None);
                }
            }
        }
    }
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
