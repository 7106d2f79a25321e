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
    #[arg(long, value_name = "FILE", required = true)]
    pub sql: String,
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
    let io = |e: std::io::Error| Error::Output {
        path: args.sql.clone(),
        message: e.to_string(),
    };
    if args.sql == "-" {
        std::io::stdout()
            .write_all(patch.sql.as_bytes())
            .map_err(io)?;
    } else {
        std::fs::write(&args.sql, &patch.sql).map_err(io)?;
        eprintln!(
            "wrote {}: {} inserts, {} updates, {} deletes (not applied)",
            args.sql, patch.inserts, patch.updates, patch.deletes
        );
    }
    drop(compared);
    Ok(if patch.rows() == 0 {
        EXIT_EQUAL
    } else {
        EXIT_DIFFERENT
    })
}
