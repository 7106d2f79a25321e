//! Record batches already in memory, as a source: for library users who hold
//! Arrow data, and for tests.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::{BatchStream, KeyRangeHint, Source};
use crate::error::{Error, Result};

/// In-memory batches, split into partitions that are read in parallel.
pub struct MemorySource {
    describe: String,
    schema: SchemaRef,
    partitions: Vec<Vec<RecordBatch>>,
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
        })
    }
}

impl Source for MemorySource {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn scan(&self, columns: &[String], _hint: Option<&KeyRangeHint>) -> Result<Vec<BatchStream>> {
        let indexes = columns
            .iter()
            .map(|c| {
                self.schema
                    .index_of(c)
                    .map_err(|_| Error::Schema(format!("{}: no column {c:?}", self.describe)))
            })
            .collect::<Result<Vec<_>>>()?;
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
}
