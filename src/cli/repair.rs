//! `recon repair LEFT RIGHT --key COLS --sql FILE`: the SQL patch that makes
//! the target (by default RIGHT) agree with the source of truth.
//!
//! A dry run: the patch is written, nothing is changed. Exit 0 when the
//! sides already agree (an empty patch), 1 when a patch was written, 2 on an
//! error (a target that is not a database table, a refused patch).

use std::io::Write;

use recon::repair::{self, Policy, Target};
use recon::{Error, Result, Side};

use super::diff;
use super::{EXIT_DIFFERENT, EXIT_EQUAL};

#[derive(Debug, clap::Args)]
#[group(id = "repair")]
pub struct Args {
    #[command(flatten)]
    pub diff: diff::Args,
    /// The side that is right; the other one is repaired.
    #[arg(long, value_enum, default_value = "left")]
    pub truth: TruthSide,
    /// Write the SQL patch to this file (`-` for standard output).
    #[arg(long, value_name = "FILE", required_unless_present = "apply")]
    pub sql: Option<String>,
    /// Run the patch on the target in one transaction, check the touched rows
    /// inside it, and commit only if they now agree (else roll back, exit 2).
    #[arg(long)]
    pub apply: bool,
    /// Before applying, write the target rows the patch changes or deletes to
    /// this Parquet file.
    #[arg(long, value_name = "FILE.parquet", requires = "apply")]
    pub backup: Option<String>,
    /// Do not insert rows missing from the target.
    #[arg(long)]
    pub no_insert: bool,
    /// Do not update changed rows.
    #[arg(long)]
    pub no_update: bool,
    /// Do not delete rows only in the target.
    #[arg(long)]
    pub no_delete: bool,
    /// Refuse a patch touching more rows than this (unless --force).
    #[arg(long, value_name = "N")]
    pub max_rows: Option<u64>,
    /// Write the patch even above --max-rows.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TruthSide {
    Left,
    Right,
}

pub fn run(args: Args) -> Result<u8> {
    let truth = match args.truth {
        TruthSide::Left => Side::Left,
        TruthSide::Right => Side::Right,
    };
    let compared = diff::compare(&args.diff)?;
    let [left, right] = &compared.sources;
    let (truth_source, target_source) = match truth {
        Side::Left => (left, right),
        Side::Right => (right, left),
    };
    let Some(db) = target_source.as_database() else {
        return Err(Error::Usage(format!(
            "the target {} is not a database table: --sql patches databases \
             (repaired files are not written yet)",
            target_source.describe()
        )));
    };
    let Some(table) = db.table() else {
        return Err(Error::Usage(
            "the target is a query: name its table (?table=...) to repair it".into(),
        ));
    };
    let policy = Policy {
        truth,
        insert: !args.no_insert,
        update: !args.no_update,
        delete: !args.no_delete,
        max_rows: args.max_rows,
        force: args.force,
    };
    let target = Target {
        engine: db.engine(),
        table,
        describe: target_source.describe(),
        truth_describe: truth_source.describe(),
    };
    let patch = repair::sql_patch(&compared.outcome, &target, &policy)?;
    if let Some(path) = &args.sql {
        let io = |e: std::io::Error| Error::Output {
            path: path.clone(),
            message: e.to_string(),
        };
        if path == "-" {
            std::io::stdout()
                .write_all(patch.sql.as_bytes())
                .map_err(io)?;
        } else {
            std::fs::write(path, &patch.sql).map_err(io)?;
            eprintln!(
                "wrote {path}: {} inserts, {} updates, {} deletes{}",
                patch.inserts,
                patch.updates,
                patch.deletes,
                if args.apply { "" } else { " (not applied)" }
            );
        }
    }
    if !args.apply {
        drop(compared);
        return Ok(if patch.rows() == 0 {
            EXIT_EQUAL
        } else {
            EXIT_DIFFERENT
        });
    }
    if patch.rows() > 0 {
        if let Some(path) = &args.backup {
            let batch = match truth {
                Side::Left => &compared.outcome.rows.right.batch,
                Side::Right => &compared.outcome.rows.left.batch,
            };
            let rows = arrow::array::UInt32Array::from(patch.target_rows.clone());
            let backup = arrow::compute::take_record_batch(batch, &rows)?;
            write_parquet(path, &backup)?;
            eprintln!("backed up {} target rows to {path}", backup.num_rows());
        }
        repair::apply(&compared.outcome, db, truth, &patch, &compared.spec)?;
        eprintln!(
            "applied and verified: {} inserts, {} updates, {} deletes committed",
            patch.inserts, patch.updates, patch.deletes
        );
    }
    drop(compared);
    Ok(EXIT_EQUAL)
}

/// Writes one batch to a Parquet file (the rows a repair is about to change).
fn write_parquet(path: &str, batch: &arrow::record_batch::RecordBatch) -> Result<()> {
    let fail = |e: String| Error::Output {
        path: path.to_string(),
        message: e,
    };
    let file = std::fs::File::create(path).map_err(|e| fail(e.to_string()))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
        .map_err(|e| fail(e.to_string()))?;
    writer.write(batch).map_err(|e| fail(e.to_string()))?;
    writer.close().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
