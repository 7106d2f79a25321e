//! Files read through DataFusion: Parquet, CSV, NDJSON and Arrow IPC; one
//! file, a directory of files or a glob. DataFusion does the decoding, the
//! parallel split of large files, the pruning by statistics, and runs the
//! optional per-side SQL query (the source is registered as table `t`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::common::Column;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::options::{ArrowReadOptions, JsonReadOptions};
use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::{
    CsvReadOptions, DataFrame, ParquetReadOptions, SessionConfig, SessionContext,
};
use futures::StreamExt;
use tokio::runtime::Handle;

use super::{BatchStream, KeyRangeHint, OpenOptions, Source};
use crate::error::{Error, Result, Side, one_line};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Parquet,
    Csv,
    Tsv,
    NdJson,
    ArrowIpc,
}

impl FileFormat {
    fn from_prefix(prefix: &str) -> Option<Self> {
        Some(match prefix.to_ascii_lowercase().as_str() {
            "parquet" | "pq" => FileFormat::Parquet,
            "csv" => FileFormat::Csv,
            "tsv" => FileFormat::Tsv,
            "ndjson" | "json" | "jsonl" => FileFormat::NdJson,
            "arrow" | "ipc" | "feather" => FileFormat::ArrowIpc,
            _ => return None,
        })
    }

    /// The field delimiter of a text file of this format: tab for TSV,
    /// `configured` (`--delimiter`) otherwise.
    pub fn delimiter(self, configured: u8) -> u8 {
        match self {
            FileFormat::Tsv => b'\t',
            _ => configured,
        }
    }

    fn from_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?;
        Self::from_prefix(ext)
    }
}

/// A parsed file source argument: the format and the files it names.
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub text: String,
    pub format: FileFormat,
    files: Vec<PathBuf>,
}

impl FileSpec {
    /// Parses `[format:]path`, where path is a file, a directory (read
    /// recursively, skipping names that start with `.` or `_`, such as
    /// `_SUCCESS` or `.crc` files) or a glob.
    pub fn parse(text: &str, side: Side) -> Result<Self> {
        let fail = |message: String| Error::Source {
            side,
            source_name: text.to_string(),
            message,
        };
        let (explicit, path_text) = match text.split_once(':') {
            Some((prefix, rest)) if FileFormat::from_prefix(prefix).is_some() => {
                (FileFormat::from_prefix(prefix), rest)
            }
            _ => (None, text),
        };
        if path_text.is_empty() {
            return Err(fail("empty path".into()));
        }
        let path = std::path::absolute(path_text).map_err(|e| fail(one_line(e)))?;
        let (files, from_directory) = if path.is_file() {
            (vec![path.clone()], false)
        } else if path.is_dir() {
            let mut files = Vec::new();
            walk(&path, &mut files).map_err(fail)?;
            (files, true)
        } else if path_text.contains(['*', '?', '[']) {
            let matches = glob::glob(&path.to_string_lossy())
                .map_err(|e| fail(format!("bad glob pattern: {e}")))?;
            // An entry the glob cannot read would drop its rows in silence.
            let mut files = Vec::new();
            for entry in matches {
                let path = entry.map_err(|e| {
                    fail(format!(
                        "cannot read {}: {}",
                        e.path().display(),
                        one_line(e.error())
                    ))
                })?;
                if path.is_file() {
                    files.push(path);
                } else if !path.is_dir() {
                    return Err(fail(format!(
                        "cannot read {}: not a file (a broken link?)",
                        path.display()
                    )));
                }
            }
            (files, false)
        } else {
            return Err(fail("no such file or directory".into()));
        };
        let (format, mut files) = match explicit {
            Some(format) => (format, files),
            None => {
                // A directory may hold other files (a README); a named file or glob may not.
                let known: Vec<(PathBuf, FileFormat)> = files
                    .iter()
                    .filter_map(|f| FileFormat::from_extension(f).map(|fmt| (f.clone(), fmt)))
                    .collect();
                if !from_directory && known.len() < files.len() {
                    let unknown = files
                        .iter()
                        .find(|f| FileFormat::from_extension(f).is_none());
                    return Err(fail(format!(
                        "unknown file format{}; name it with a prefix such as parquet:, csv:, ndjson: or arrow:",
                        unknown
                            .map(|f| format!(" of {}", f.display()))
                            .unwrap_or_default()
                    )));
                }
                let Some(first) = known.first().map(|k| k.1) else {
                    return Err(fail(if from_directory {
                        "no Parquet, CSV, NDJSON or Arrow files in this directory".into()
                    } else {
                        "no files match this pattern".into()
                    }));
                };
                if let Some((other, _)) = known.iter().find(|k| k.1 != first) {
                    return Err(fail(format!(
                        "files of more than one format ({} is not like the others); name the format with a prefix",
                        other.display()
                    )));
                }
                (first, known.into_iter().map(|k| k.0).collect())
            }
        };
        if files.is_empty() {
            return Err(fail("no files match this pattern".into()));
        }
        files.sort();
        if format == FileFormat::Parquet {
            for file in &files {
                check_parquet_footer(file).map_err(|m| fail(format!("{}: {m}", file.display())))?;
            }
        }
        Ok(FileSpec {
            text: text.to_string(),
            format,
            files,
        })
    }

    /// The files named, sorted.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn paths(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect()
    }
}

/// Files (and an optional query over them as `t`) that every executor can
/// read at the same paths.
#[derive(Debug, Clone)]
pub struct ClusterTable {
    pub format: FileFormat,
    pub files: Vec<PathBuf>,
    pub query: Option<String>,
    /// CSV field delimiter and header line.
    pub delimiter: u8,
    pub has_header: bool,
}

impl ClusterTable {
    /// The files a side argument names, read by a cluster as they are read
    /// here; `None` for a database (its checksums run in it, or it is read
    /// here).
    pub fn for_side(
        text: &str,
        query: Option<&str>,
        side: Side,
        options: &OpenOptions,
    ) -> Result<Option<ClusterTable>> {
        if super::url::DatabaseUrl::parse(text, side)?.is_some() {
            return Ok(None);
        }
        Ok(Some(ClusterTable::new(
            &FileSpec::parse(text, side)?,
            query,
            options,
        )))
    }

    /// The files `spec` names, read by a cluster as they are read here.
    pub fn new(spec: &FileSpec, query: Option<&str>, options: &OpenOptions) -> ClusterTable {
        ClusterTable {
            format: spec.format,
            files: spec.files.clone(),
            query: query.map(str::to_string),
            delimiter: spec.format.delimiter(options.delimiter),
            has_header: options.has_header,
        }
    }
}

/// Files below `dir`, skipping hidden and `_`-prefixed names. A directory
/// or entry that cannot be read is an error naming it: skipping it would
/// drop its rows in silence (and both sides losing the same file would look
/// equal).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::result::Result<(), String> {
    let unreadable =
        |path: &Path, e: std::io::Error| format!("cannot read {}: {}", path.display(), one_line(e));
    let entries = std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| unreadable(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.is_file() {
            out.push(path);
        } else {
            return Err(format!(
                "cannot read {}: not a file or directory (a broken link?)",
                path.display()
            ));
        }
    }
    Ok(())
}

/// A Parquet file ends with its metadata length and `PAR1`; a file whose
/// footer does not fit is refused here with a clear cause (the reader would
/// otherwise compute ranges from garbage).
fn check_parquet_footer(path: &Path) -> std::result::Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(one_line)?;
    let len = file.metadata().map_err(one_line)?.len();
    let not_parquet = || "not a Parquet file (no valid footer)".to_string();
    if len < 12 {
        return Err(not_parquet());
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(one_line)?;
    let metadata_len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    if &tail[4..] != b"PAR1" || metadata_len + 12 > len {
        return Err(not_parquet());
    }
    Ok(())
}

/// A file source: a DataFusion session with the files registered as `t` and
/// the (optional) query applied.
pub struct FileSource {
    describe: String,
    side: Side,
    format: FileFormat,
    frame: DataFrame,
    schema: SchemaRef,
    runtime: Handle,
}

impl FileSource {
    pub fn open(
        spec: FileSpec,
        query: Option<&str>,
        side: Side,
        options: &OpenOptions,
        runtime: Handle,
    ) -> Result<Self> {
        let fail = |message: String| Error::Source {
            side,
            source_name: spec.text.clone(),
            message,
        };
        let config = SessionConfig::new()
            .with_target_partitions(options.threads.max(1))
            // Each partition reads its own byte ranges, in file order: with
            // work stealing, an idle partition reads a sibling's ranges, and
            // a file stored in key order would come out of order when staged
            // (the merged pass then gave way to the general path at random).
            .set_bool(
                "datafusion.execution.enable_file_stream_work_stealing",
                false,
            )
            .set_bool("datafusion.execution.parquet.pushdown_filters", true)
            .set_bool("datafusion.execution.parquet.reorder_filters", true)
            // DataFusion 55 takes a Parquet column whose statistics say
            // min = max without NULLs for a constant; NaN is left out of a
            // float column's statistics, so its NaNs were read as that
            // value. Row groups are still pruned by their own statistics.
            .set_bool("datafusion.execution.collect_statistics", false);
        let ctx = SessionContext::new_with_config(config);
        let local = ::url::Url::parse("file://").map_err(|e| Error::Internal(e.to_string()))?;
        ctx.register_object_store(&local, super::local_store::GuardedLocal::new());
        let paths = spec.paths();
        let frame = runtime
            .block_on(async {
                // The files are listed already: no extension filter.
                let files = match spec.format {
                    FileFormat::Parquet => {
                        ctx.read_parquet(paths, ParquetReadOptions::default().file_extension(""))
                            .await?
                    }
                    FileFormat::Csv | FileFormat::Tsv => {
                        let o = CsvReadOptions::new()
                            .has_header(options.has_header)
                            .delimiter(spec.format.delimiter(options.delimiter))
                            .file_extension("");
                        ctx.read_csv(paths, o).await?
                    }
                    FileFormat::NdJson => {
                        ctx.read_json(paths, JsonReadOptions::default().file_extension(""))
                            .await?
                    }
                    FileFormat::ArrowIpc => {
                        let o = ArrowReadOptions {
                            file_extension: "",
                            ..Default::default()
                        };
                        ctx.read_arrow(paths, o).await?
                    }
                };
                ctx.register_table("t", files.into_view())?;
                match query {
                    Some(q) => ctx.sql(q).await,
                    None => ctx.table("t").await,
                }
            })
            .map_err(|e| fail(clean_datafusion_message(e)))?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        Ok(FileSource {
            describe: spec.text.clone(),
            side,
            format: spec.format,
            frame,
            schema,
            runtime,
        })
    }
}

impl Source for FileSource {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn distinguishes_empty_from_null(&self) -> bool {
        !matches!(self.format, FileFormat::Csv | FileFormat::Tsv)
    }

    fn declares_nullability(&self) -> bool {
        !matches!(
            self.format,
            FileFormat::Csv | FileFormat::Tsv | FileFormat::NdJson
        )
    }

    fn scan(&self, columns: &[String], hint: Option<&KeyRangeHint>) -> Result<Vec<BatchStream>> {
        let read_error = |e: datafusion::error::DataFusionError| Error::Read {
            side: self.side,
            source_name: self.describe.clone(),
            message: clean_datafusion_message(e),
        };
        let exprs: Vec<Expr> = columns
            .iter()
            .map(|c| Expr::Column(Column::new_unqualified(c)))
            .collect();
        let mut frame = self.frame.clone();
        if let Some(predicate) = hint.and_then(hint_predicate) {
            frame = frame.filter(predicate).map_err(read_error)?;
        }
        let frame = frame.select(exprs).map_err(read_error)?;
        let streams = self
            .runtime
            .block_on(frame.execute_stream_partitioned())
            .map_err(read_error)?;
        Ok(streams
            .into_iter()
            .map(|stream| {
                Box::new(PartitionReader {
                    stream,
                    runtime: self.runtime.clone(),
                    side: self.side,
                    describe: self.describe.clone(),
                }) as BatchStream
            })
            .collect())
    }
}

/// The OR of the hint's ranges (the exact filter runs in recon).
fn hint_predicate(hint: &KeyRangeHint) -> Option<Expr> {
    let column = || Expr::Column(Column::new_unqualified(&hint.column));
    hint.ranges
        .iter()
        .map(|(lower, upper)| match (lower.clone(), upper.clone()) {
            (Some(lo), Some(hi)) => column().gt_eq(lit(lo)).and(column().lt_eq(lit(hi))),
            (Some(lo), None) => column().gt_eq(lit(lo)),
            (None, Some(hi)) => column().lt_eq(lit(hi)),
            (None, None) => lit(true),
        })
        .reduce(Expr::or)
}

/// DataFusion prefixes errors with their origin and may span lines.
fn clean_datafusion_message(e: datafusion::error::DataFusionError) -> String {
    let text = one_line(e.find_root());
    let text = text
        .trim_start_matches("External error: ")
        .trim_start_matches("Arrow error: ")
        .trim_start_matches("Parquet error: ")
        .trim_start_matches("Error during planning: ")
        .trim_start_matches("Object Store error: ")
        .trim_start_matches("Generic local error: ")
        .trim_start_matches("Internal error: ");
    // DataFusion's internal errors ask users to file a bug with DataFusion; here the
    // cause is nearly always the input file, so keep only the cause.
    let text = text
        .split(". This issue was likely caused by a bug")
        .next()
        .unwrap_or(text);
    text.to_string()
}

struct PartitionReader {
    stream: SendableRecordBatchStream,
    runtime: Handle,
    side: Side,
    describe: String,
}

impl Iterator for PartitionReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.runtime.block_on(self.stream.next())?;
        Some(item.map_err(|e| Error::Read {
            side: self.side,
            source_name: self.describe.clone(),
            message: clean_datafusion_message(e),
        }))
    }
}
