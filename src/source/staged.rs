//! NDJSON and Arrow IPC sources (and CSV the in-place reader of
//! `csv_text.rs` refuses) too large to hold in memory (over
//! [`super::IN_MEMORY_BYTES`]), decoded once: DataFusion parses the files in
//! parallel by byte ranges, and every decoded batch is written, as it comes,
//! to a temporary file in Arrow's IPC form. The source is then positional, one
//! part per batch in file order, so the merged pass and the fingerprint path
//! apply to it as to Parquet, and every later read (key sample, hashing,
//! read-back) copies bytes instead of parsing text again.
//!
//! Memory holds one batch per partition while staging and one per reader
//! afterwards; the staged bytes live in the page cache or on disk.

use std::fs::File;
use std::io::Cursor;
use std::io::Write;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use super::{BatchStream, KeyRangeHint, Positional, Source};
use crate::error::{Error, Result};

/// One staged batch: where its bytes lie, in which temporary file.
#[derive(Debug, Clone, Copy)]
struct Part {
    file: usize,
    offset: u64,
    len: usize,
}

/// A source decoded once into a temporary Arrow IPC file.
pub struct StagedSource {
    describe: String,
    staged: Arc<Staged>,
    part_rows: Vec<u64>,
    distinguishes_empty_from_null: bool,
    declares_nullability: bool,
}

/// The staged bytes, shared with the streams that read them lazily.
struct Staged {
    schema: SchemaRef,
    /// One file per partition of the decoding.
    files: Vec<File>,
    parts: Vec<Part>,
}

/// A failure of the temporary file, named by where it lives.
fn temp_file_error(e: impl std::fmt::Display) -> Error {
    Error::Output {
        path: format!(
            "a temporary file for decoded rows in {} (TMPDIR)",
            std::env::temp_dir().display()
        ),
        message: e.to_string(),
    }
}

impl StagedSource {
    /// Reads every column of `source` once, partitions in parallel, each
    /// into a temporary file of its own (writers of one file would queue on
    /// its lock); the files are removed when the source is dropped, or by
    /// the system if the process dies: they have no name.
    pub fn stage(source: &dyn Source) -> Result<Self> {
        let schema = source.schema();
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let partitions: Vec<(File, Vec<(Part, u64)>)> = source
            .scan(&columns, None)?
            .into_par_iter()
            .enumerate()
            .map(|(index, stream)| -> Result<(File, Vec<(Part, u64)>)> {
                let mut file = tempfile::tempfile().map_err(temp_file_error)?;
                let mut parts = Vec::new();
                let mut end = 0u64;
                for batch in stream {
                    let batch = batch?;
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    let bytes = encode(&batch)?;
                    file.write_all(&bytes).map_err(temp_file_error)?;
                    let part = Part {
                        file: index,
                        offset: end,
                        len: bytes.len(),
                    };
                    end += bytes.len() as u64;
                    parts.push((part, batch.num_rows() as u64));
                }
                Ok((file, parts))
            })
            .collect::<Result<_>>()?;
        let mut files = Vec::with_capacity(partitions.len());
        let mut parts = Vec::new();
        for (file, staged) in partitions {
            files.push(file);
            parts.extend(staged);
        }
        Ok(StagedSource {
            describe: source.describe().to_string(),
            part_rows: parts.iter().map(|p| p.1).collect(),
            staged: Arc::new(Staged {
                schema,
                files,
                parts: parts.into_iter().map(|p| p.0).collect(),
            }),
            distinguishes_empty_from_null: source.distinguishes_empty_from_null(),
            declares_nullability: source.declares_nullability(),
        })
    }

    fn indexes(&self, columns: &[String]) -> Result<Vec<usize>> {
        super::column_indexes(&self.staged.schema, &self.describe, columns)
    }
}

impl Staged {
    /// Decodes the given columns of one staged batch.
    fn read(&self, part: usize, indexes: &[usize]) -> Result<RecordBatch> {
        let Part { file, offset, len } = *self
            .parts
            .get(part)
            .ok_or_else(|| Error::Internal(format!("no staged part {part}")))?;
        let mut bytes = vec![0u8; len];
        self.files[file]
            .read_exact_at(&mut bytes, offset)
            .map_err(temp_file_error)?;
        let mut reader = StreamReader::try_new(Cursor::new(bytes), Some(indexes.to_vec()))
            .map_err(temp_file_error)?;
        match reader.next() {
            Some(batch) => batch.map_err(temp_file_error),
            None => Err(temp_file_error("a staged batch is missing")),
        }
    }
}

/// One batch as a self-contained IPC stream (schema, batch, end marker).
fn encode(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut writer = StreamWriter::try_new(Vec::new(), &batch.schema()).map_err(temp_file_error)?;
    writer.write(batch).map_err(temp_file_error)?;
    writer.into_inner().map_err(temp_file_error)
}

impl Staged {
    /// The rows of one part in `ranges` (all of them without), as one batch;
    /// `None` when no row is selected.
    fn read_ranges(
        &self,
        part: usize,
        indexes: &[usize],
        ranges: Option<&[Range<u64>]>,
    ) -> Result<Option<RecordBatch>> {
        let batch = self.read(part, indexes)?;
        let rows = batch.num_rows() as u64;
        let Some(ranges) = ranges else {
            return Ok(Some(batch));
        };
        // Copied out, so that a few kept rows do not hold the whole batch.
        let selected: Vec<u32> = ranges
            .iter()
            .flat_map(|r| r.start.min(rows) as u32..r.end.min(rows) as u32)
            .collect();
        if selected.is_empty() {
            return Ok(None);
        }
        Ok(Some(take_record_batch(
            &batch,
            &UInt32Array::from(selected),
        )?))
    }
}

impl Source for StagedSource {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.staged.schema)
    }

    fn distinguishes_empty_from_null(&self) -> bool {
        self.distinguishes_empty_from_null
    }

    fn declares_nullability(&self) -> bool {
        self.declares_nullability
    }

    fn scan(&self, columns: &[String], _hint: Option<&KeyRangeHint>) -> Result<Vec<BatchStream>> {
        super::scan_by_part(self, columns)
    }

    fn positional(&self) -> Option<&dyn Positional> {
        Some(self)
    }
}

impl Positional for StagedSource {
    fn part_rows(&self) -> &[u64] {
        &self.part_rows
    }

    fn read_part(
        &self,
        part: usize,
        columns: &[String],
        ranges: Option<&[Range<u64>]>,
    ) -> Result<BatchStream> {
        let indexes = self.indexes(columns)?;
        let ranges = ranges.map(<[Range<u64>]>::to_vec);
        let staged = Arc::clone(&self.staged);
        // Read when first polled: a scan opens every part's stream at once.
        let read = move || staged.read_ranges(part, &indexes, ranges.as_deref());
        Ok(Box::new(
            std::iter::once_with(read).filter_map(Result::transpose),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemorySource;
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(from: i64, rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let ids = Int64Array::from_iter_values(from..from + rows);
        let names = StringArray::from_iter(
            (from..from + rows).map(|i| (i % 3 != 0).then(|| format!("n{i}"))),
        );
        RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(names)]).unwrap()
    }

    fn staged() -> StagedSource {
        // Two partitions of two batches each, one of them empty.
        let partitions = vec![
            vec![batch(0, 5), batch(5, 0), batch(5, 4)],
            vec![batch(9, 6)],
        ];
        let memory = MemorySource::new("mem", batch(0, 0).schema(), partitions).unwrap();
        StagedSource::stage(&memory).unwrap()
    }

    fn ids(stream: BatchStream, column: usize) -> Vec<i64> {
        stream
            .flat_map(|b| {
                let b = b.unwrap();
                let a = b
                    .column(column)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .clone();
                a.values().to_vec()
            })
            .collect()
    }

    #[test]
    fn parts_keep_the_partitions_order_and_skip_empty_batches() {
        let s = staged();
        assert_eq!(s.part_rows(), &[5, 4, 6]);
        let all: Vec<i64> = (0..3)
            .flat_map(|p| ids(s.read_part(p, &["id".into()], None).unwrap(), 0))
            .collect();
        assert_eq!(all, (0..15).collect::<Vec<_>>());
    }

    #[test]
    fn columns_come_in_the_order_asked_and_ranges_select_rows() {
        let s = staged();
        let columns = ["name".to_string(), "id".to_string()];
        let stream = s
            .read_part(2, &columns, Some(&[0..1, 3..5, 9..12]))
            .unwrap();
        let batches: Vec<RecordBatch> = stream.map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!(b.schema().field(0).name(), "name");
        let names = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert!(
            names.is_null(0) && names.is_null(1),
            "ids 9 and 12 have no name"
        );
        assert_eq!(names.value(2), "n13");
        assert_eq!(
            ids(Box::new(batches.into_iter().map(Ok)), 1),
            vec![9, 12, 13]
        );
        assert!(
            s.read_part(1, &columns, Some(&[]))
                .unwrap()
                .next()
                .is_none()
        );
        assert!(s.read_part(0, &["nope".into()], None).is_err());
    }
}
