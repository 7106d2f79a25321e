//! `--apply`: runs a patch in one transaction on the target (a server
//! session, or SQLite in-process), reads the touched keys back inside that
//! transaction, compares them with the source of truth, and commits only if
//! they now agree; otherwise rolls back, so the target is left as it was.

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;

use super::Patch;
use crate::compare::{Comparison, Spec};
use crate::error::{Error, Result, Side};
use crate::plan::Selection;
use crate::source::db::{DatabaseSource, DbColumn, WriteTransaction, columns_schema};
use crate::source::url::Engine;
use crate::source::{MemorySource, Source};

/// Touched keys read back per query.
const KEYS_PER_READ: usize = 500;

/// Applies `patch` to `target`; `truth` is the side the patch was built from.
/// Before writing, the touched rows are read and locked: if any is no longer
/// as the comparison saw it (a write landed in between), nothing is written.
pub fn apply(
    comparison: &Comparison,
    target: &DatabaseSource,
    truth: Side,
    patch: &Patch,
    spec: &Spec,
) -> Result<()> {
    let other = truth.other();
    let plan = &comparison.plan;
    let columns: Vec<&DbColumn> = plan
        .columns()
        .iter()
        .map(|c| {
            target.column(c.name(other)).ok_or_else(|| {
                Error::Internal(format!("the target has no column {}", c.name(other)))
            })
        })
        .collect::<Result<_>>()?;
    // SQLite locks the whole file for the write transaction instead.
    let lock = match target.engine() {
        Engine::Sqlite => "",
        _ => " FOR UPDATE",
    };
    let reads = |suffix: &str| -> Vec<String> {
        patch
            .touched
            .chunks(KEYS_PER_READ)
            .map(|chunk| {
                let predicate: Vec<String> = chunk.iter().map(|k| format!("({k})")).collect();
                format!(
                    "SELECT {} FROM {} WHERE {}{suffix}",
                    target.select_list(&columns),
                    target.relation(),
                    predicate.join(" OR ")
                )
            })
            .collect()
    };
    let (lock_reads, after_reads) = (reads(lock), reads(""));
    let write = WriteTransaction {
        lock_reads: &lock_reads,
        statements: &patch.statements,
        affects: &patch.affects,
        reads: &after_reads,
    };
    let check = |now: Vec<RecordBatch>| -> Result<()> {
        match changed_since_compared(comparison, target, truth, patch, spec, &columns, now)? {
            None => Ok(()),
            Some(key) => Err(Error::Unstable(format!(
                "the target row with key {key} changed after the comparison (a concurrent \
                 write?); nothing was written, the target is unchanged: compare again"
            ))),
        }
    };
    let verify = |readback: Vec<RecordBatch>| -> Result<()> {
        let differences = differences(comparison, target, truth, patch, spec, &columns, readback)?;
        if differences > 0 {
            return Err(Error::Unstable(format!(
                "after the patch, {differences} touched row(s) still differ from the source of \
                 truth; rolled back, the target is unchanged"
            )));
        }
        Ok(())
    };
    target.write_transaction(&write, &columns, check, verify)
}

/// The key of a touched row that is no longer what the comparison read
/// (changed, deleted, or inserted where the patch inserts), if any.
fn changed_since_compared(
    comparison: &Comparison,
    target: &DatabaseSource,
    truth: Side,
    patch: &Patch,
    spec: &Spec,
    columns: &[&DbColumn],
    now: Vec<RecordBatch>,
) -> Result<Option<String>> {
    let other = truth.other();
    let seen = kept_rows(
        comparison,
        other,
        &patch.target_rows,
        "the target as compared",
    )?;
    let now = read_rows(target, columns, now)?;
    // Both hold the target's columns under the target's names; any change
    // counts, whatever the comparison's rules would forgive.
    let check = Spec {
        selection: Selection {
            key: comparison
                .plan
                .keys
                .iter()
                .map(|k| k.name(other).to_string())
                .collect(),
            ..Selection::default()
        },
        threads: spec.threads,
        mask: columns
            .iter()
            .filter(|c| comparison.mask.hides(&c.name))
            .map(|c| c.name.clone())
            .collect(),
        ..Spec::default()
    };
    let report = crate::compare::diff(&seen, &now, &check)?.report;
    Ok(report.diffs.first().map(|d| {
        d.key
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join(", ")
    }))
}

/// Rows `rows` of one side's kept batch, as a source.
fn kept_rows(
    comparison: &Comparison,
    side: Side,
    rows: &[u32],
    name: &str,
) -> Result<MemorySource> {
    let batch = match side {
        Side::Left => &comparison.rows.left.batch,
        Side::Right => &comparison.rows.right.batch,
    };
    let picked = take_record_batch(batch, &UInt32Array::from(rows.to_vec()))?;
    MemorySource::new(name, batch.schema(), vec![vec![picked]])
}

/// Rows read from the target as `columns`, as a source.
fn read_rows(
    target: &DatabaseSource,
    columns: &[&DbColumn],
    batches: Vec<RecordBatch>,
) -> Result<MemorySource> {
    MemorySource::new(target.describe(), columns_schema(columns), vec![batches])
}

/// How many of the touched rows, as read back, still differ from the truth.
fn differences(
    comparison: &Comparison,
    target: &DatabaseSource,
    truth: Side,
    patch: &Patch,
    spec: &Spec,
    columns: &[&DbColumn],
    readback: Vec<RecordBatch>,
) -> Result<u64> {
    let truth_rows = kept_rows(
        comparison,
        truth,
        &patch.truth_rows,
        "the rows the patch wrote",
    )?;
    let target_rows = read_rows(target, columns, readback)?;
    let (left, right): (&dyn Source, &dyn Source) = match truth {
        Side::Left => (&truth_rows, &target_rows),
        Side::Right => (&target_rows, &truth_rows),
    };
    let mut check = spec.clone();
    // Both sides now hold exactly the compared columns.
    check.selection.columns.clear();
    check.selection.exclude.clear();
    Ok(crate::compare::diff(left, right, &check)?
        .report
        .summary
        .differences())
}
