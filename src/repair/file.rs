//! Repaired files: the target's rows with the comparison's differences
//! resolved toward the source of truth, written as a new Parquet file. Rows
//! and columns repair does not touch (equal rows, columns the rules leave
//! out) are copied as they are.

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, UInt32Array, new_null_array};
use arrow::compute::{
    CastOptions, cast_with_options, concat_batches, filter_record_batch, take, take_record_batch,
};
use arrow::row::{RowConverter, SortField};
use std::collections::HashMap;

use super::Policy;
use crate::compare::Comparison;
use crate::compare::rows::Status;
use crate::error::{Error, Result, Side};
use crate::source::Source;

/// What a repaired copy holds, by count.
#[derive(Debug, Clone, Default)]
pub struct Repaired {
    pub batch: Option<RecordBatch>,
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
}

/// The target's rows, repaired.
pub fn repaired_rows(
    comparison: &Comparison,
    target: &dyn Source,
    policy: &Policy,
) -> Result<Repaired> {
    let plan = &comparison.plan;
    let rows = &comparison.rows;
    if !rows.duplicates.is_empty() || comparison.report.summary.null_keys > 0 {
        return Err(Error::Usage(
            "repair refuses: duplicate or NULL keys cannot be addressed by their key".into(),
        ));
    }
    let truth = policy.truth;
    let other = truth.other();
    let (truth_batch, kept_target) = match truth {
        Side::Left => (&rows.left.batch, &rows.right.batch),
        Side::Right => (&rows.right.batch, &rows.left.batch),
    };
    let columns = plan.columns();
    let keys = plan.keys.len();
    let schema = target.schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let batches: Vec<RecordBatch> = target
        .scan(&names, None)?
        .into_iter()
        .flatten()
        .collect::<Result<_>>()?;
    let all = concat_batches(&schema, &batches)?;

    // Keys of the target rows to drop or change, as row-format bytes.
    let key_index = |batch: &RecordBatch| -> Result<Vec<usize>> {
        (0..keys)
            .map(|k| {
                batch
                    .schema()
                    .index_of(columns[k].name(other))
                    .map_err(|e| Error::Internal(e.to_string()))
            })
            .collect()
    };
    let fields: Vec<SortField> = (0..keys)
        .map(|k| SortField::new(columns[k].source_type(other).clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    let key_rows = |batch: &RecordBatch| -> Result<arrow::row::Rows> {
        let arrays: Vec<ArrayRef> = key_index(batch)?
            .into_iter()
            .map(|i| batch.column(i).clone())
            .collect();
        Ok(converter.convert_columns(&arrays)?)
    };
    let kept_keys = key_rows(kept_target)?;
    // target kept row → (truth row, changed value columns) for updates; None for deletes.
    let mut actions: HashMap<Vec<u8>, Option<(usize, Vec<usize>)>> = HashMap::new();
    let mut inserts = Vec::new();
    for diff in &rows.diffs {
        let (t, o) = match truth {
            Side::Left => (diff.left, diff.right),
            Side::Right => (diff.right, diff.left),
        };
        match (diff.status, t, o) {
            (Status::Changed, Some(t), Some(o)) if policy.update => {
                actions.insert(
                    kept_keys.row(o).as_ref().to_vec(),
                    Some((t, diff.columns.clone())),
                );
            }
            (Status::Changed, ..) => {}
            (_, Some(t), None) if policy.insert => inserts.push(t as u32),
            (_, None, Some(o)) if policy.delete => {
                actions.insert(kept_keys.row(o).as_ref().to_vec(), None);
            }
            _ => {}
        }
    }
    let all_keys = key_rows(&all)?;
    let mut keep = Vec::with_capacity(all.num_rows());
    let mut updated: Vec<(u32, usize, Vec<usize>)> = Vec::new();
    let mut deletes = 0u64;
    for i in 0..all.num_rows() {
        match actions.get(all_keys.row(i).as_ref()) {
            None => keep.push(true),
            Some(None) => {
                keep.push(false);
                deletes += 1;
            }
            Some(Some((t, changed))) => {
                keep.push(false);
                updated.push((i as u32, *t, changed.clone()));
            }
        }
    }
    let mut parts = vec![filter_record_batch(&all, &BooleanArray::from(keep))?];

    // Updated rows: the target's own row with the changed columns from the truth.
    if !updated.is_empty() {
        let base = take_record_batch(
            &all,
            &UInt32Array::from_iter_values(updated.iter().map(|u| u.0)),
        )?;
        let truth_rows = UInt32Array::from_iter_values(updated.iter().map(|u| u.1 as u32));
        let mut arrays: Vec<ArrayRef> = base.columns().to_vec();
        for (v, column) in plan.values.iter().enumerate() {
            let mask = BooleanArray::from_iter(updated.iter().map(|u| Some(u.2.contains(&v))));
            if mask.true_count() == 0 {
                continue;
            }
            let at = schema
                .index_of(column.name(other))
                .map_err(|e| Error::Internal(e.to_string()))?;
            let fresh = exact_cast(
                &take(truth_batch.column(keys + v), &truth_rows, None)?,
                schema.field(at).data_type(),
                schema.field(at).name(),
            )?;
            arrays[at] = arrow::compute::kernels::zip::zip(&mask, &fresh, &arrays[at])?;
        }
        parts.push(RecordBatch::try_new(schema.clone(), arrays)?);
    }

    // Inserted rows: the truth's values under the target's names and types;
    // columns the comparison did not cover are NULL.
    if !inserts.is_empty() {
        let picked = take_record_batch(truth_batch, &UInt32Array::from(inserts.clone()))?;
        let arrays = schema
            .fields()
            .iter()
            .map(
                |field| match columns.iter().position(|c| c.name(other) == field.name()) {
                    Some(c) => exact_cast(picked.column(c), field.data_type(), field.name()),
                    None => Ok(new_null_array(field.data_type(), picked.num_rows())),
                },
            )
            .collect::<Result<Vec<_>>>()?;
        parts.push(RecordBatch::try_new(schema.clone(), arrays).map_err(|e| {
            Error::Usage(format!(
                "repair cannot insert the missing rows: {} (a column the comparison left out \
                 is NOT NULL?)",
                crate::error::one_line(e)
            ))
        })?);
    }
    let updates = updated.len() as u64;
    let batch = concat_batches(&schema, &parts)?;
    Ok(Repaired {
        batch: Some(batch),
        inserts: inserts.len() as u64,
        updates,
        deletes,
    })
}

/// `values` as the target column's type, or an error naming the column: a
/// value that does not fit (an Int64 of 5e9 into an Int32 column, a double
/// into a float that would round it, a decimal losing digits) must never be
/// written as NULL or as another value. Exact means the cast back gives the
/// same values.
fn exact_cast(
    values: &ArrayRef,
    to: &arrow::datatypes::DataType,
    column: &str,
) -> Result<ArrayRef> {
    if values.data_type() == to {
        return Ok(values.clone());
    }
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    let refuse = |why: String| {
        Error::Usage(format!(
            "repair cannot write column {column} as {to}: {why}; nothing was written"
        ))
    };
    let cast =
        cast_with_options(values, to, &strict).map_err(|e| refuse(crate::error::one_line(e)))?;
    let back = cast_with_options(&cast, values.data_type(), &strict)
        .map_err(|e| refuse(crate::error::one_line(e)))?;
    let same = arrow::compute::kernels::cmp::not_distinct(&back, values)
        .map_err(|e| refuse(crate::error::one_line(e)))?;
    if let Some(row) = (0..same.len()).find(|&i| !same.value(i)) {
        let shown = arrow::util::display::array_value_to_string(values, row).unwrap_or_default();
        return Err(refuse(format!("the value {shown} would change")));
    }
    Ok(cast)
}
