//! Record batches already in memory, as a source: for library users who hold
//! Arrow data, and for tests.

use std::ops::Range;

use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::{BatchStream, KeyRangeHint, Positional, Source};
use crate::error::{Error, Result};

/// In-memory batches, split into partitions that are read in parallel.
pub struct MemorySource {
    describe: String,
    schema: SchemaRef,
    partitions: Vec<Vec<RecordBatch>>,
    /// Each batch is a part of a positional source (see [`MemorySource::positional`]).
    parts: Option<Vec<u64>>,
    /// False when the data came from a format that cannot tell "" from NULL.
    distinguishes_empty_from_null: bool,
    /// False when the data came from a format without NOT NULL columns.
    declares_nullability: bool,
}

impl MemorySource {
    /// All batches must share `schema`.
    pub fn new(
        describe: impl Into<String>,
        schema: SchemaRef,
        partitions: Vec<Vec<RecordBatch>>,
    ) -> Result<Self> {
        let describe = describe.into();
        if let Some(b) = partitions.iter().flatten().find(|b| b.schema() != schema) {
            return Err(Error::Schema(format!(
                "{describe}: a batch has schema {:?}, expected {:?}",
                b.schema(),
                schema
            )));
        }
        Ok(MemorySource {
            describe,
            schema,
            partitions,
            parts: None,
            distinguishes_empty_from_null: true,
            declares_nullability: true,
        })
    }

    /// Makes the source positional, each batch one part, as a Parquet file's
    /// row groups are: for tests of the positional read-back.
    pub fn positional(mut self) -> Self {
        self.parts = Some(self.batches().map(|b| b.num_rows() as u64).collect());
        self
    }

    /// Marks the data as read from a format that cannot tell an empty string
    /// from NULL (CSV), so that the comparison treats them alike.
    pub fn from_format_without_empty_strings(mut self) -> Self {
        self.distinguishes_empty_from_null = false;
        self
    }

    /// Marks the data as read from a format that cannot declare a column
    /// NOT NULL (CSV, NDJSON).
    pub fn without_declared_nullability(mut self) -> Self {
        self.declares_nullability = false;
        self
    }

    fn batches(&self) -> impl Iterator<Item = &RecordBatch> {
        self.partitions.iter().flatten()
    }

    fn indexes(&self, columns: &[String]) -> Result<Vec<usize>> {
        super::column_indexes(&self.schema, &self.describe, columns)
    }
}

impl Source for MemorySource {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn distinguishes_empty_from_null(&self) -> bool {
        self.distinguishes_empty_from_null
    }

    fn declares_nullability(&self) -> bool {
        self.declares_nullability
    }

    fn scan(&self, columns: &[String], _hint: Option<&KeyRangeHint>) -> Result<Vec<BatchStream>> {
        if self.parts.is_some() {
            return super::scan_by_part(self, columns);
        }
        let indexes = self.indexes(columns)?;
        Ok(self
            .partitions
            .iter()
            .map(|batches| {
                let projected: Vec<Result<RecordBatch>> = batches
                    .iter()
                    .map(|b| b.project(&indexes).map_err(Error::from))
                    .collect();
                Box::new(projected.into_iter()) as BatchStream
            })
            .collect())
    }

    fn positional(&self) -> Option<&dyn Positional> {
        self.parts.as_ref().map(|_| self as &dyn Positional)
    }
}

impl Positional for MemorySource {
    fn part_rows(&self) -> &[u64] {
        self.parts.as_deref().unwrap_or_default()
    }

    fn read_part(
        &self,
        part: usize,
        columns: &[String],
        ranges: Option<&[Range<u64>]>,
    ) -> Result<BatchStream> {
        let batch = self
            .batches()
            .nth(part)
            .ok_or_else(|| Error::Internal(format!("no part {part}")))?
            .project(&self.indexes(columns)?)?;
        let rows = batch.num_rows() as u64;
        let slices: Vec<RecordBatch> = match ranges {
            None => vec![batch],
            Some(ranges) => ranges
                .iter()
                .map(|r| r.start.min(rows)..r.end.min(rows))
                .filter(|r| r.start < r.end)
                .map(|r| batch.slice(r.start as usize, (r.end - r.start) as usize))
                .collect(),
        };
        // One batch per read, as a file reader would return the selected rows.
        let out = if slices.is_empty() {
            Vec::new()
        } else {
            vec![concat_batches(&slices[0].schema(), &slices)?]
        };
        Ok(Box::new(out.into_iter().map(Ok)))
    }
}
