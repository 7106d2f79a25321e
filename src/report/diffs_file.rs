//! Every differing row to a Parquet or CSV file, for results too large to
//! read in a terminal: `status`, the key columns, then `left_<col>` and
//! `right_<col>` for every compared column, in the sources' own types.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, UInt32Array};
use arrow::compute::{interleave, take};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

use super::{Mask, OutputFile};
use crate::canon;
use crate::compare::rows::RowDiff;
use crate::error::{Error, Result, Side};
use crate::plan::ComparePlan;

/// Writes the rows of every difference and duplicate key; the format follows the extension.
pub fn write_diffs(path: &str, plan: &ComparePlan, rows: &RowDiff, mask: &Mask) -> Result<u64> {
    DiffsFile::create(path)?.write(plan, rows, mask)
}

/// An output file opened before the comparison starts, so that a bad path
/// fails at once rather than after the work is done.
pub struct DiffsFile {
    out: OutputFile,
    parquet: bool,
}

impl DiffsFile {
    pub fn create(path: &str) -> Result<Self> {
        let fail = |message: String| Error::Output {
            path: path.to_string(),
            message,
        };
        let lower = path.to_ascii_lowercase();
        let parquet = lower.ends_with(".parquet") || lower.ends_with(".pq");
        if !parquet && !lower.ends_with(".csv") {
            return Err(fail("use a .parquet or .csv file name".into()));
        }
        Ok(DiffsFile {
            out: OutputFile::create(path)?,
            parquet,
        })
    }

    /// Writes the rows of every difference and duplicate key, masked
    /// columns hidden; returns the line count.
    pub fn write(self, plan: &ComparePlan, rows: &RowDiff, mask: &Mask) -> Result<u64> {
        write_rows(self, plan, rows, mask)
    }
}

fn write_rows(out: DiffsFile, plan: &ComparePlan, rows: &RowDiff, mask: &Mask) -> Result<u64> {
    let DiffsFile {
        out: mut file,
        parquet,
    } = out;
    let path = file.path().to_string();
    let fail = |message: String| Error::Output {
        path: path.clone(),
        message,
    };

    // (status, left row, right row) for every output line.
    let mut lines: Vec<(&str, Option<u32>, Option<u32>)> = rows
        .diffs
        .iter()
        .map(|d| {
            (
                d.status.as_str(),
                d.left.map(|i| i as u32),
                d.right.map(|i| i as u32),
            )
        })
        .collect();
    for d in &rows.duplicates {
        lines.extend(
            d.left
                .iter()
                .map(|&i| ("duplicate_key", Some(i as u32), None)),
        );
        lines.extend(
            d.right
                .iter()
                .map(|&i| ("duplicate_key", None, Some(i as u32))),
        );
    }

    let keys = plan.key_columns();
    let nkeys = keys.len();
    let key_canonical = |side: Side| -> Result<Vec<ArrayRef>> {
        let batch = match side {
            Side::Left => &rows.left.batch,
            Side::Right => &rows.right.batch,
        };
        canon::canonical_arrays(&keys, &batch.columns()[..nkeys], side)
    };
    let (left_keys, right_keys) = (key_canonical(Side::Left)?, key_canonical(Side::Right)?);
    let picks: Vec<(usize, usize)> = lines
        .iter()
        .map(|(_, l, r)| match (l, r) {
            (Some(l), _) => (0, *l as usize),
            (None, Some(r)) => (1, *r as usize),
            (None, None) => (0, 0),
        })
        .collect();

    // `status`, unless a key column has that name.
    let status_name = if keys.iter().any(|k| k.left_name == "status") {
        "_status"
    } else {
        "status"
    };
    let mut fields = vec![Field::new(
        status_name,
        arrow::datatypes::DataType::Utf8,
        false,
    )];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
        lines.iter().map(|l| l.0),
    ))];
    for (k, plan_key) in keys.iter().enumerate() {
        let array = interleave(&[left_keys[k].as_ref(), right_keys[k].as_ref()], &picks)?;
        fields.push(Field::new(
            &plan_key.left_name,
            array.data_type().clone(),
            true,
        ));
        columns.push(array);
    }
    let left_idx = UInt32Array::from(lines.iter().map(|l| l.1).collect::<Vec<_>>());
    let right_idx = UInt32Array::from(lines.iter().map(|l| l.2).collect::<Vec<_>>());
    for (i, column) in plan.values.iter().enumerate() {
        for (side, batch, idx) in [
            (Side::Left, &rows.left.batch, &left_idx),
            (Side::Right, &rows.right.batch, &right_idx),
        ] {
            let array = take(batch.column(nkeys + i).as_ref(), idx, None)?;
            fields.push(Field::new(
                format!("{side}_{}", column.name(side)),
                array.data_type().clone(),
                true,
            ));
            columns.push(array);
        }
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    // Fields are `status`, the key columns by left name, then
    // `left_<left name>` / `right_<right name>`.
    let batch = mask.apply_to_batch(&batch, |field| {
        field
            .strip_prefix("left_")
            .filter(|name| mask.hides(name))
            .or_else(|| field.strip_prefix("right_").filter(|name| mask.hides(name)))
            .unwrap_or(field)
            .to_string()
    })?;
    if parquet {
        let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), None)
            .map_err(|e| fail(e.to_string()))?;
        writer.write(&batch).map_err(|e| fail(e.to_string()))?;
        writer.close().map_err(|e| fail(e.to_string()))?;
    } else {
        let mut writer = arrow::csv::Writer::new(&mut file);
        writer.write(&batch).map_err(|e| fail(e.to_string()))?;
    }
    file.commit()?;
    Ok(lines.len() as u64)
}
