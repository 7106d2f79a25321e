//! Repair: the change that makes the target agree with the source of truth,
//! as a SQL patch for the target's dialect. Built from a finished comparison,
//! so it follows the rules the comparison used: excluded columns are left
//! alone, mapped columns are written under the target's names, and a change
//! within a tolerance is not a difference and is not touched.

mod apply;
mod file;
mod literal;

use std::fmt::Write;

use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use crate::compare::Comparison;
use crate::compare::rows::Status;
use crate::error::{Error, Result, Side};
use crate::source::db::{Dialect, comment_text};
use crate::source::url::Engine;

pub use apply::apply;
pub use file::{Repaired, repaired_rows};
pub use literal::{literal, literal_for};

/// Rows per DELETE statement.
const BATCH: usize = 500;

/// What repair may do.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The side that is right; the other is changed.
    pub truth: Side,
    pub insert: bool,
    pub update: bool,
    pub delete: bool,
    /// Refuse a patch touching more rows than this, unless `force`.
    pub max_rows: Option<u64>,
    pub force: bool,
}

impl Policy {
    /// The differences a copy repaired under this policy still has from the
    /// truth, as `(only in truth, only in target, changed)`: exactly those
    /// of `before` that the policy left alone, and nothing else.
    pub fn remaining(&self, before: &crate::report::Summary) -> (u64, u64, u64) {
        let (only_truth, only_target) = match self.truth {
            Side::Left => (before.only_left, before.only_right),
            Side::Right => (before.only_right, before.only_left),
        };
        let left_alone = |allowed: bool, n: u64| if allowed { 0 } else { n };
        (
            left_alone(self.insert, only_truth),
            left_alone(self.delete, only_target),
            left_alone(self.update, before.changed),
        )
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            truth: Side::Left,
            insert: true,
            update: true,
            delete: true,
            max_rows: None,
            force: false,
        }
    }
}

impl Policy {
    /// Refuses a repair of more rows than `max_rows`, unless forced.
    pub fn allows(&self, rows: u64) -> Result<()> {
        match self.max_rows {
            Some(max) if rows > max && !self.force => Err(Error::Usage(format!(
                "repair refuses: it would touch {rows} rows, more than max_rows = {max} \
                 (--force to allow)"
            ))),
            _ => Ok(()),
        }
    }
}

/// A patch and what it does.
#[derive(Debug, Clone)]
pub struct Patch {
    pub sql: String,
    /// The statements between the transaction's start and its COMMIT.
    pub statements: Vec<String>,
    /// The rows each statement must affect; any other count means the
    /// target changed since the comparison, and the transaction is rolled back.
    pub affects: Vec<u64>,
    /// A predicate per touched key (inserted, updated or deleted), in the
    /// target's names: what `--apply` reads back to check.
    pub touched: Vec<String>,
    /// Rows of the truth side's kept batch that the target must now hold.
    pub truth_rows: Vec<u32>,
    /// Rows of the target's kept batch that the patch changes or deletes.
    pub target_rows: Vec<u32>,
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
}

impl Patch {
    pub fn rows(&self) -> u64 {
        self.inserts + self.updates + self.deletes
    }
}

/// The target table, as repair writes to it.
pub struct Target<'a> {
    pub engine: Engine,
    /// `schema.table` or `table`, unquoted.
    pub table: &'a str,
    /// How the target is shown (redacted).
    pub describe: &'a str,
    pub truth_describe: &'a str,
}

/// Builds the SQL patch for `target` from `comparison`.
pub fn sql_patch(comparison: &Comparison, target: &Target<'_>, policy: &Policy) -> Result<Patch> {
    let plan = &comparison.plan;
    let rows = &comparison.rows;
    if !rows.duplicates.is_empty() {
        return Err(Error::Usage(format!(
            "repair refuses: {} key(s) occur more than once, so a row cannot be told by its key",
            rows.duplicates.len()
        )));
    }
    if comparison.report.summary.null_keys > 0 {
        return Err(Error::Usage(
            "repair refuses: rows with a NULL key cannot be addressed by their key".into(),
        ));
    }
    let truth = policy.truth;
    let other = truth.other();
    let d = Dialect::new(target.engine);
    let table = d.table(target.table);
    let columns = plan.columns();
    let keys = plan.keys.len();
    let batch_of = |side: Side| -> &RecordBatch {
        match side {
            Side::Left => &rows.left.batch,
            Side::Right => &rows.right.batch,
        }
    };
    let (truth_batch, target_batch) = (batch_of(truth), batch_of(other));
    let row_of = |d: &crate::compare::rows::KeyDiff, side: Side| match side {
        Side::Left => d.left,
        Side::Right => d.right,
    };
    let lit = |batch: &RecordBatch, column: usize, row: usize| -> Result<String> {
        let c = columns[column];
        literal_for(
            batch.column(column),
            row,
            c.source_type(other),
            d,
            c.name(other),
        )
        .map_err(Error::Usage)
    };
    // A text key is matched byte for byte as well: under the target's
    // collation `=` may also match keys recon told apart ('e' and 'é', 'P'
    // and 'P ').
    let key_predicate = |batch: &RecordBatch, row: usize| -> Result<String> {
        let parts = (0..keys)
            .map(|k| {
                let column = d.quote(columns[k].name(other));
                let value = lit(batch, k, row)?;
                let text = matches!(
                    columns[k].source_type(other),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                );
                Ok(if text {
                    format!("{column} = {value} AND {}", d.same_text(&column, &value))
                } else {
                    format!("{column} = {value}")
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(parts.join(" AND "))
    };

    let names = columns
        .iter()
        .map(|c| d.quote(c.name(other)))
        .collect::<Vec<_>>()
        .join(", ");
    let from_dual = if target.engine == Engine::MySql {
        " FROM DUAL"
    } else {
        ""
    };
    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    let mut deletes = Vec::new();
    let mut touched = Vec::new();
    let mut truth_rows = Vec::new();
    let mut target_rows = Vec::new();
    for diff in &rows.diffs {
        let missing_in_target = matches!(
            (diff.status, truth),
            (Status::OnlyLeft, Side::Left) | (Status::OnlyRight, Side::Right)
        );
        match diff.status {
            Status::Changed if policy.update => {
                let (Some(t), Some(o)) = (row_of(diff, truth), row_of(diff, other)) else {
                    continue;
                };
                let sets = diff
                    .columns
                    .iter()
                    .map(|&v| {
                        let c = keys + v;
                        Ok(format!(
                            "{} = {}",
                            d.quote(columns[c].name(other)),
                            lit(truth_batch, c, t)?
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let key = key_predicate(target_batch, o)?;
                updates.push(format!(
                    "UPDATE {table} SET {} WHERE {key};",
                    sets.join(", ")
                ));
                touched.push(key);
                truth_rows.push(t as u32);
                target_rows.push(o as u32);
            }
            _ if diff.status != Status::Changed && missing_in_target && policy.insert => {
                if let Some(t) = row_of(diff, truth) {
                    let values = (0..columns.len())
                        .map(|c| lit(truth_batch, c, t))
                        .collect::<Result<Vec<_>>>()?;
                    // Inserted only where the key is absent, so a second run
                    // of the patch changes nothing (with or without a unique
                    // constraint on the key).
                    inserts.push(format!(
                        "INSERT INTO {table} ({names}) SELECT {}{from_dual} WHERE NOT EXISTS \
                         (SELECT 1 FROM {table} WHERE {});",
                        values.join(", "),
                        key_predicate(truth_batch, t)?
                    ));
                    touched.push(key_predicate(truth_batch, t)?);
                    truth_rows.push(t as u32);
                }
            }
            _ if diff.status != Status::Changed && !missing_in_target && policy.delete => {
                if let Some(o) = row_of(diff, other) {
                    let key = key_predicate(target_batch, o)?;
                    deletes.push(format!("({key})"));
                    touched.push(key);
                    target_rows.push(o as u32);
                }
            }
            _ => {}
        }
    }
    policy.allows((inserts.len() + updates.len() + deletes.len()) as u64)?;

    let mut sql = String::new();
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let _ = writeln!(
        sql,
        "-- recon {} repair patch, generated {now}\n-- target: {}\n-- source of truth: {}\n\
         -- rows inserted: {}, updated: {}, deleted: {}; one transaction",
        env!("CARGO_PKG_VERSION"),
        comment_text(target.describe),
        comment_text(target.truth_describe),
        inserts.len(),
        updates.len(),
        deletes.len()
    );
    let settings = match target.engine {
        Engine::Postgres => "SET TIME ZONE 'UTC';\nSET standard_conforming_strings = on;\nBEGIN;",
        Engine::MySql => "SET NAMES utf8mb4;\nSET time_zone = '+00:00';\nSTART TRANSACTION;",
        Engine::Sqlite => "BEGIN;",
    };
    let _ = writeln!(sql, "{settings}");
    let (statements, affects): (Vec<String>, Vec<u64>) = deletes
        .chunks(BATCH)
        .map(|chunk| {
            (
                format!("DELETE FROM {table} WHERE {};", chunk.join(" OR ")),
                chunk.len() as u64,
            )
        })
        .chain(updates.iter().map(|u| (u.clone(), 1)))
        .chain(inserts.iter().map(|i| (i.clone(), 1)))
        .unzip();
    for statement in &statements {
        let _ = writeln!(sql, "{statement}");
    }
    let _ = writeln!(sql, "COMMIT;");
    Ok(Patch {
        sql,
        statements,
        affects,
        touched,
        truth_rows,
        target_rows,
        inserts: inserts.len() as u64,
        updates: updates.len() as u64,
        deletes: deletes.len() as u64,
    })
}
