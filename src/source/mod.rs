//! Connectors: each side of a comparison is a [`Source`] that yields a schema
//! and, on demand, partitioned streams of Arrow record batches with exactly
//! the columns asked for. The rest of the pipeline never learns where the
//! data came from.

mod credentials;
mod csv_scan;
mod csv_text;
pub mod db;
mod file;
mod local_store;
mod memory;
mod parquet;
mod staged;
pub mod url;

use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::scalar::ScalarValue;

use crate::error::{Result, Side};

pub use csv_text::CsvTextSource;
pub use file::{ClusterTable, FileFormat, FileSource, FileSpec};
pub use memory::MemorySource;
pub use parquet::ParquetSource;
pub use staged::StagedSource;

/// One partition's batches. Partitions are read in parallel, each by one thread.
pub type BatchStream = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// A hint for a re-read: rows whose first key column lies in one of these
/// inclusive ranges (`None` is unbounded). Sources may use it to skip data
/// (Parquet statistics, database indexes) and may return more rows than it
/// admits; the caller filters exactly.
#[derive(Debug, Clone)]
pub struct KeyRangeHint {
    pub column: String,
    pub ranges: Vec<(Option<ScalarValue>, Option<ScalarValue>)>,
}

/// A side of the comparison.
pub trait Source: Send + Sync {
    /// A human-readable name, safe to print (no secrets).
    fn describe(&self) -> &str;
    /// The columns this source yields.
    fn schema(&self) -> SchemaRef;
    /// False when the format cannot tell an empty string from NULL (CSV).
    fn distinguishes_empty_from_null(&self) -> bool {
        true
    }
    /// False when the format cannot declare a column NOT NULL (CSV, NDJSON),
    /// so its columns' nullability says nothing.
    fn declares_nullability(&self) -> bool {
        true
    }
    /// Streams `columns` (in that order), optionally narrowed by `hint`.
    fn scan(&self, columns: &[String], hint: Option<&KeyRangeHint>) -> Result<Vec<BatchStream>>;
    /// Read access by row position, for sources whose rows have stable positions.
    fn positional(&self) -> Option<&dyn Positional> {
        None
    }
    /// The database behind this source, for checksums computed inside it.
    fn as_database(&self) -> Option<&db::DatabaseSource> {
        None
    }
}

/// A source whose rows can be read back by position: a fixed list of parts
/// (for Parquet, slices of row groups), each read on its own, whole or in
/// row ranges. The hashing pass reads every part and notes where each leaf's
/// rows lie; the row phase then reads back only the ranges it needs.
pub trait Positional: Sync {
    /// Rows in each part, in part order. A scan of the source yields the same
    /// rows in the same order, one stream per part.
    fn part_rows(&self) -> &[u64];
    /// Reads `columns` (in that order) of one part: all of it, or only the
    /// given sorted, disjoint row ranges (offsets within the part).
    fn read_part(
        &self,
        part: usize,
        columns: &[String],
        ranges: Option<&[Range<u64>]>,
    ) -> Result<BatchStream>;
    /// Rows from the start of `part` that one [`Positional::read_part`] of it
    /// can read: its ranges may run past the part's end into the parts that
    /// follow, up to this many rows. By default the part's own rows; a
    /// Parquet part reaches to the end of its row group, which one reader
    /// then decodes, each dictionary once.
    fn span_rows(&self, part: usize) -> u64 {
        self.part_rows()[part]
    }
    /// True when reading a few rows of a part costs far less than the whole
    /// part (text, where unread rows are only split, not parsed): the key
    /// sample then reads only the rows it picks.
    fn sparse_reads(&self) -> bool {
        false
    }
    /// The source's rows as text records, for sources that hold them.
    fn text_records(&self) -> Option<&dyn TextRecords> {
        None
    }
    /// The files the parts come from, for sources read from files: a run
    /// that keeps state (`--state`) re-hashes only the parts of files that
    /// changed since.
    fn files(&self) -> &[std::path::PathBuf] {
        &[]
    }
    /// The index into [`Positional::files`] of the file a part comes from.
    fn part_file(&self, _part: usize) -> Option<usize> {
        None
    }
}

/// Rows as records of text (CSV): under one delimiter and one schema, two
/// records whose fields have the same bytes hold the same values, so rows
/// can be compared by their text and decoded only where it differs.
pub trait TextRecords: Sync {
    /// The field delimiter (the rest of the dialect is arrow-csv's default).
    fn delimiter(&self) -> u8;
    /// Reads `keys` (decoded, in that order) of one part and, as a last
    /// column of type Binary, each row's text of `fields`: the fields'
    /// bytes joined by the delimiter, as a record of those fields alone
    /// (every field in file order: the record itself, its terminator left
    /// out). All rows, or the given row ranges as in
    /// [`Positional::read_part`].
    fn read_part_text(
        &self,
        part: usize,
        keys: &[String],
        fields: &[String],
        ranges: Option<&[Range<u64>]>,
    ) -> Result<BatchStream>;
    /// Decodes texts read by [`TextRecords::read_part_text`] into the
    /// columns `fields` (the same fields, in the same order).
    fn decode(&self, texts: &arrow::array::ArrayRef, fields: &[String]) -> Result<RecordBatch>;
}

/// Runs `work` on a pool of `threads` worker threads (at least one): every
/// parallel read and comparison of a run stays within `--threads`.
pub fn in_pool<T: Send>(threads: usize, work: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| crate::error::Error::Internal(format!("thread pool: {e}")))?
        .install(work)
}

/// The positions of `columns` in `schema`, or an error naming the missing one.
fn column_indexes(schema: &SchemaRef, describe: &str, columns: &[String]) -> Result<Vec<usize>> {
    columns
        .iter()
        .map(|c| {
            schema
                .index_of(c)
                .map_err(|_| crate::error::Error::Schema(format!("{describe}: no column {c:?}")))
        })
        .collect()
}

/// A positional source's scan: one stream per part, in part order.
fn scan_by_part(source: &dyn Positional, columns: &[String]) -> Result<Vec<BatchStream>> {
    (0..source.part_rows().len())
        .map(|part| source.read_part(part, columns, None))
        .collect()
}

/// Options shared by all file sources of a run.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Parallel partitions per source.
    pub threads: usize,
    /// CSV field delimiter.
    pub delimiter: u8,
    /// CSV files start with a header line.
    pub has_header: bool,
    /// Make CSV, NDJSON and Arrow IPC sources positional: CSV indexed and
    /// read in place, the others decoded once, up front (false streams
    /// them all through DataFusion: `recon scan`'s read floor).
    pub decode_once: bool,
    /// Such sources up to this size are held in memory; larger ones are
    /// staged in a temporary file.
    pub in_memory_bytes: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            delimiter: b',',
            has_header: true,
            decode_once: true,
            in_memory_bytes: IN_MEMORY_BYTES,
        }
    }
}

/// Opens a source from its command-line form (`path`, `parquet:path`, a
/// directory, a glob, or a database URL), with an optional SQL query: over
/// a file as table `t`, or run by the database as it is.
pub fn open(
    spec: &str,
    query: Option<&str>,
    side: Side,
    options: &OpenOptions,
    runtime: &tokio::runtime::Handle,
) -> Result<Arc<dyn Source>> {
    if let Some(url) = url::DatabaseUrl::parse(spec, side)? {
        let source = db::DatabaseSource::open(url, query, side, options.threads, runtime.clone())?;
        return Ok(Arc::new(source));
    }
    let file = FileSpec::parse(spec, side)?;
    if file.format == FileFormat::Parquet
        && query.is_none()
        && let Some(source) = ParquetSource::open(&file.text, file.files(), side)?
    {
        return Ok(Arc::new(source));
    }
    let size: u64 = file
        .files()
        .iter()
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    let text = file.format != FileFormat::Parquet && options.decode_once;
    let csv = matches!(file.format, FileFormat::Csv | FileFormat::Tsv) && query.is_none();
    let delimiter = file.format.delimiter(options.delimiter);
    let (text_spec, paths) = (file.text.clone(), file.files().to_vec());
    let source = FileSource::open(file, query, side, options, runtime.clone())?;
    // CSV is read in place, as text, under the schema DataFusion inferred.
    if text && csv {
        let schema = source.schema();
        let opened = in_pool(options.threads, || {
            CsvTextSource::open(
                &text_spec,
                side,
                &paths,
                schema,
                delimiter,
                options.has_header,
            )
        })?;
        if let Some(csv) = opened {
            return Ok(Arc::new(csv));
        }
    }
    if text && size <= options.in_memory_bytes {
        return in_pool(options.threads, || load(source));
    }
    if text {
        let staged = in_pool(options.threads, || StagedSource::stage(&source))?;
        return Ok(Arc::new(staged));
    }
    Ok(Arc::new(source))
}

/// NDJSON and Arrow IPC sources (and CSV the in-place reader refuses) up to
/// this size on disk are read once into memory and compared there, as a positional source; larger ones are
/// decoded once into a temporary file ([`StagedSource`]). Either way the text
/// is parsed once: parsing is its main cost, and a streaming comparison would
/// parse it up to three times (key sample, hashing pass, re-read).
pub const IN_MEMORY_BYTES: u64 = 256 << 20;

/// Reads a whole source into a positional in-memory source.
fn load(source: FileSource) -> Result<Arc<dyn Source>> {
    use rayon::prelude::*;
    let columns = column_names(&source);
    let partitions: Vec<Vec<RecordBatch>> = source
        .scan(&columns, None)?
        .into_par_iter()
        .map(|stream| stream.collect::<Result<Vec<_>>>())
        .collect::<Result<_>>()?;
    let memory = MemorySource::new(source.describe(), source.schema(), partitions);
    match memory {
        Ok(memory) => {
            let mut memory = memory.positional();
            if !source.distinguishes_empty_from_null() {
                memory = memory.from_format_without_empty_strings();
            }
            if !source.declares_nullability() {
                memory = memory.without_declared_nullability();
            }
            Ok(Arc::new(memory))
        }
        // Batches whose schema differs in detail from the declared one: stream instead.
        Err(_) => Ok(Arc::new(source)),
    }
}

/// Every column of a source, by name.
fn column_names(source: &dyn Source) -> Vec<String> {
    source
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// Reads every column of every source, all at once and partitions in
/// parallel, and returns each source's row count: the cost of reading alone.
pub fn read_all(sources: &[&dyn Source], threads: usize) -> Result<Vec<u64>> {
    use rayon::prelude::*;
    in_pool(threads, || {
        sources
            .par_iter()
            .map(|source| {
                let columns = column_names(*source);
                source
                    .scan(&columns, None)?
                    .into_par_iter()
                    .map(|stream| {
                        stream
                            .map(|batch| batch.map(|b| b.num_rows() as u64))
                            .sum::<Result<u64>>()
                    })
                    .sum::<Result<u64>>()
            })
            .collect()
    })
}
