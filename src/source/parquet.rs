//! Parquet files read directly with the parquet crate, when no query is
//! given: the rows then have stable positions (file, row group, row), so the
//! source is [`Positional`]. The hashing pass notes where each leaf's rows
//! lie and the row phase reads back only those rows, skipping whole pages
//! through the offset index where the file has one. Files whose schemas
//! differ go through DataFusion instead, which reconciles them.

use std::fs::File;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::file::metadata::PageIndexPolicy;

use super::{BatchStream, KeyRangeHint, Positional, Source};
use crate::error::{Error, Result, Side, one_line};

/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;
/// Row groups larger than this are split into parts read in parallel, when
/// the offset index lets a reader start mid-group without decoding the skipped pages.
const PART_ROWS: u64 = 256 * 1024;

struct ParquetFile {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
}

/// A slice of one row group: the unit of parallel and positional reading.
#[derive(Debug, Clone, Copy)]
struct Part {
    file: usize,
    row_group: usize,
    /// First row of the part within its row group.
    start: u64,
    rows: u64,
    group_rows: u64,
}

pub struct ParquetSource {
    describe: String,
    side: Side,
    files: Vec<ParquetFile>,
    schema: SchemaRef,
    parts: Vec<Part>,
    part_rows: Vec<u64>,
    /// The files' paths, in file order.
    paths: Vec<PathBuf>,
}

impl ParquetSource {
    /// Opens the files, or returns `None` when their schemas differ (the
    /// caller then reads them through DataFusion).
    pub fn open(describe: &str, paths: &[PathBuf], side: Side) -> Result<Option<Self>> {
        let fail = |path: &PathBuf, message: String| Error::Source {
            side,
            source_name: describe.to_string(),
            message: format!("{}: {message}", path.display()),
        };
        let options = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional);
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let file = File::open(path).map_err(|e| fail(path, one_line(e)))?;
            let metadata = ArrowReaderMetadata::load(&file, options.clone())
                .map_err(|e| fail(path, one_line(e)))?;
            files.push(ParquetFile {
                path: path.clone(),
                metadata,
            });
        }
        let schema = Arc::clone(files[0].metadata.schema());
        if files.iter().any(|f| f.metadata.schema() != &schema) {
            return Ok(None);
        }
        let mut parts = Vec::new();
        for (index, file) in files.iter().enumerate() {
            let meta = file.metadata.metadata();
            let splittable = meta.offset_index().is_some();
            for (row_group, rg) in meta.row_groups().iter().enumerate() {
                let group_rows = rg.num_rows().max(0) as u64;
                let step = if splittable {
                    PART_ROWS
                } else {
                    group_rows.max(1)
                };
                let mut start = 0;
                while start < group_rows {
                    let rows = step.min(group_rows - start);
                    parts.push(Part {
                        file: index,
                        row_group,
                        start,
                        rows,
                        group_rows,
                    });
                    start += rows;
                }
            }
        }
        let part_rows = parts.iter().map(|p| p.rows).collect();
        Ok(Some(ParquetSource {
            describe: describe.to_string(),
            side,
            files,
            schema,
            parts,
            part_rows,
            paths: paths.to_vec(),
        }))
    }

    fn read_error(&self, message: String) -> Error {
        Error::Read {
            side: self.side,
            source_name: self.describe.clone(),
            message,
        }
    }

    /// Root column indexes of `columns`, and how to put the decoded columns
    /// (which come in file order) back into the order asked for.
    fn projection(&self, columns: &[String]) -> Result<(Vec<usize>, Vec<usize>)> {
        let roots = columns
            .iter()
            .map(|c| {
                self.schema
                    .index_of(c)
                    .map_err(|_| self.read_error(format!("no column {c:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut sorted = roots.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let order = roots
            .iter()
            .map(|r| sorted.binary_search(r).unwrap_or_default())
            .collect();
        Ok((sorted, order))
    }
}

impl Source for ParquetSource {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn scan(&self, columns: &[String], _hint: Option<&KeyRangeHint>) -> Result<Vec<BatchStream>> {
        super::scan_by_part(self, columns)
    }

    fn positional(&self) -> Option<&dyn Positional> {
        Some(self)
    }
}

impl Positional for ParquetSource {
    fn part_rows(&self) -> &[u64] {
        &self.part_rows
    }

    fn files(&self) -> &[PathBuf] {
        &self.paths
    }

    fn part_file(&self, part: usize) -> Option<usize> {
        self.parts.get(part).map(|p| p.file)
    }

    fn span_rows(&self, part: usize) -> u64 {
        let p = &self.parts[part];
        p.group_rows - p.start
    }

    fn read_part(
        &self,
        part: usize,
        columns: &[String],
        ranges: Option<&[Range<u64>]>,
    ) -> Result<BatchStream> {
        let p = self.parts[part];
        let file = &self.files[p.file];
        let (roots, order) = self.projection(columns)?;
        let handle = File::open(&file.path)
            .map_err(|e| self.read_error(format!("{}: {}", file.path.display(), one_line(e))))?;
        let mask = ProjectionMask::roots(file.metadata.parquet_schema(), roots);
        // Selectors over the whole row group: skip to the part, select the
        // asked-for ranges within it, skip the rest.
        let wanted: Vec<Range<u64>> = match ranges {
            Some(r) => r
                .iter()
                .map(|r| (p.start + r.start)..(p.start + r.end.min(p.group_rows - p.start)))
                .filter(|r| r.start < r.end)
                .collect(),
            None => std::iter::once(p.start..p.start + p.rows).collect(),
        };
        let mut selectors = Vec::with_capacity(wanted.len() * 2 + 1);
        let mut at = 0u64;
        for r in &wanted {
            if r.start > at {
                selectors.push(RowSelector::skip((r.start - at) as usize));
            }
            selectors.push(RowSelector::select((r.end - r.start) as usize));
            at = r.end;
        }
        if at < p.group_rows {
            selectors.push(RowSelector::skip((p.group_rows - at) as usize));
        }
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(handle, file.metadata.clone())
                .with_row_groups(vec![p.row_group])
                .with_projection(mask)
                .with_row_selection(RowSelection::from(selectors))
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| {
                    self.read_error(format!("{}: {}", file.path.display(), one_line(e)))
                })?;
        let (side, describe, path) = (self.side, self.describe.clone(), file.path.clone());
        Ok(Box::new(reader.map(move |batch| {
            let batch = batch.map_err(|e| Error::Read {
                side,
                source_name: describe.clone(),
                message: format!("{}: {}", path.display(), one_line(e)),
            })?;
            Ok(batch.project(&order)?)
        })))
    }
}
