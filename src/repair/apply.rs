//! `--apply`: runs a patch in one transaction on the target (a server
//! session, or SQLite in-process), reads the touched keys back inside that
//! transaction, compares them with the source of truth, and commits only if
//! they now agree; otherwise rolls back, so the target is left as it was.

use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;

use super::Patch;
use crate::compare::{Comparison, Spec};
use crate::error::{Error, Result, Side};
use crate::source::db::{DatabaseSource, DbColumn, Session};
use crate::source::url::Engine;
use crate::source::{MemorySource, Source};

/// Touched keys read back per query.
const KEYS_PER_READ: usize = 500;

/// Applies `patch` to `target`; `truth` is the side the patch was built from.
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
    let reads: Vec<String> = patch
        .touched
        .chunks(KEYS_PER_READ)
        .map(|chunk| {
            let predicate: Vec<String> = chunk.iter().map(|k| format!("({k})")).collect();
            format!(
                "SELECT {} FROM {} WHERE {}",
                target.select_list(&columns),
                target.relation(),
                predicate.join(" OR ")
            )
        })
        .collect();
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
    if target.engine() == Engine::Sqlite {
        return target.apply_in_process(&patch.statements, &reads, &columns, verify);
    }
    let runtime = target.runtime().clone();
    let (mut session, readback) =
        runtime.block_on(run_and_read(target, patch, &reads, &columns))?;
    let verdict = verify(readback);
    runtime.block_on(async {
        if let Err(e) = verdict {
            let _ = session.text_rows("ROLLBACK").await;
            return Err(e);
        }
        session
            .text_rows("COMMIT")
            .await
            .map(|_| ())
            .map_err(|m| target.error(format!("COMMIT failed: {m}")))
    })
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
    let truth_batch = match truth {
        Side::Left => &comparison.rows.left.batch,
        Side::Right => &comparison.rows.right.batch,
    };
    let written = take_record_batch(truth_batch, &UInt32Array::from(patch.truth_rows.clone()))?;
    let truth_rows = MemorySource::new(
        "the rows the patch wrote",
        truth_batch.schema(),
        vec![vec![written]],
    )?;
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, c.data_type.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let target_rows = MemorySource::new(target.describe(), schema, vec![readback])?;
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

/// Runs the statements and reads the touched keys back, in one transaction
/// (rolled back on any failure).
async fn run_and_read(
    target: &DatabaseSource,
    patch: &Patch,
    reads: &[String],
    columns: &[&DbColumn],
) -> Result<(Session, Vec<RecordBatch>)> {
    let mut session = target.write_session().await?;
    for statement in &patch.statements {
        if let Err(m) = session.text_rows(statement).await {
            let _ = session.text_rows("ROLLBACK").await;
            return Err(target.error(format!(
                "the patch failed and was rolled back, the target is unchanged: {m}"
            )));
        }
    }
    let mut batches = Vec::new();
    for sql in reads {
        match target.fetch(&mut session, sql, columns).await {
            Ok(b) => batches.extend(b),
            Err(e) => {
                let _ = session.text_rows("ROLLBACK").await;
                return Err(e);
            }
        }
    }
    Ok((session, batches))
}
