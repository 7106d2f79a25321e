//! Connectors: each side of a comparison is a [`Source`] that yields a schema
//! and, on demand, partitioned streams of Arrow record batches with exactly
//! the columns asked for. The rest of the pipeline never learns where the
//! data came from.

mod file;
mod memory;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::scalar::ScalarValue;

use crate::error::{Result, Side};

pub use file::{FileFormat, FileSource, FileSpec};
pub use memory::MemorySource;

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
    /// Streams `columns` (in that order), optionally narrowed by `hint`.
    fn scan(&self, columns: &[String], hint: Option<&KeyRangeHint>) -> Result<Vec<BatchStream>>;
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
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            delimiter: b',',
            has_header: true,
        }
    }
}

/// Opens a source from its command-line form (`path`, `parquet:path`, a
/// directory or a glob), with an optional SQL query over it as table `t`.
pub fn open(
    spec: &str,
    query: Option<&str>,
    side: Side,
    options: &OpenOptions,
    runtime: &tokio::runtime::Handle,
) -> Result<Arc<dyn Source>> {
    let file = FileSpec::parse(spec, side)?;
    Ok(Arc::new(FileSource::open(
        file,
        query,
        side,
        options,
        runtime.clone(),
    )?))
}
