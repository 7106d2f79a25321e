//! Masks: columns whose values no output may show. Resolved once per run
//! to the names the column has on either side, so a mapped column is hidden
//! under its right name too, and applied here to every output recon writes
//! (the report in all its formats, the differences file, repair backups);
//! aggregate findings use [`Mask::hides`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use super::{DiffRecord, Report};
use crate::error::{Error, Result};

/// What a masked value is shown as.
pub const MASKED: &str = "***";

/// The names, on either side, of the columns to hide.
#[derive(Debug, Clone, Default)]
pub struct Mask {
    names: BTreeSet<String>,
}

impl Mask {
    /// Resolves `requested` names (each a left or a right column name)
    /// through `map` (left name → right name). A name neither side has is
    /// an error: a typo in a mask would otherwise show the very values it
    /// was meant to hide.
    pub fn resolve(
        requested: &[String],
        map: &BTreeMap<String, String>,
        left_columns: &[String],
        right_columns: &[String],
    ) -> Result<Mask> {
        if let Some(name) = requested
            .iter()
            .find(|n| !left_columns.contains(n) && !right_columns.contains(n))
        {
            return Err(Error::Usage(format!(
                "mask names column {name:?}, which neither side has"
            )));
        }
        Ok(Mask::by_names(requested, map))
    }

    /// A mask of these names and, through `map` (left name → right name),
    /// their names on the other side.
    pub fn by_names(requested: &[String], map: &BTreeMap<String, String>) -> Mask {
        let mut names: BTreeSet<String> = requested.iter().cloned().collect();
        for (left, right) in map {
            if names.contains(left) || names.contains(right) {
                names.insert(left.clone());
                names.insert(right.clone());
            }
        }
        Mask { names }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether values of the column named `name` (on either side) are hidden.
    pub fn hides(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    fn hide_row(&self, row: &mut Map<String, Value>) {
        for (name, value) in row.iter_mut() {
            if self.hides(name) {
                *value = Value::String(MASKED.into());
            }
        }
    }

    /// Hides the masked values of one difference: its key and both rows.
    pub fn hide_diff(&self, d: &mut DiffRecord) {
        self.hide_row(&mut d.key);
        d.left.iter_mut().for_each(|r| self.hide_row(r));
        d.right.iter_mut().for_each(|r| self.hide_row(r));
    }

    /// Hides the masked values everywhere in the report: keys, differing
    /// rows, duplicate keys, NULL-key samples and range bounds.
    pub fn apply_to_report(&self, report: &mut Report) {
        if self.is_empty() {
            return;
        }
        for d in &mut report.diffs {
            self.hide_diff(d);
        }
        for d in &mut report.duplicates {
            self.hide_row(&mut d.key);
        }
        for n in &mut report.null_key_samples {
            self.hide_row(&mut n.row);
        }
        for r in &mut report.ranges {
            r.from.iter_mut().for_each(|m| self.hide_row(m));
            r.to.iter_mut().for_each(|m| self.hide_row(m));
        }
        if let Some(s) = &mut report.snapshot {
            s.rows.iter_mut().for_each(|r| self.hide_row(r));
        }
    }

    /// The batch with every masked column replaced by text `***` (NULL
    /// stays NULL). `name_of` maps a field name to the column it holds
    /// (e.g. `left_price` → `price` in the differences file).
    pub fn apply_to_batch(
        &self,
        batch: &RecordBatch,
        name_of: impl Fn(&str) -> String,
    ) -> Result<RecordBatch> {
        if self.is_empty() {
            return Ok(batch.clone());
        }
        let mut fields = Vec::with_capacity(batch.num_columns());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if self.hides(&name_of(field.name())) {
                let hidden: StringArray = (0..column.len())
                    .map(|i| column.is_valid(i).then_some(MASKED))
                    .collect();
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(Arc::new(hidden));
            } else {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }
}
