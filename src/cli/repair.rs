//! `recon repair LEFT RIGHT --key COLS --sql FILE`: the SQL patch that makes
//! the target (by default RIGHT) agree with the source of truth.
//!
//! A dry run: the patch is written, nothing is changed. Exit 0 when the
//! sides already agree (an empty patch), 1 when a patch was written, 2 on an
//! error (a target that is not a database table, a refused patch).

use std::io::Write;

use recon::repair::{self, Policy, Target};
use recon::report::OutputFile;
use recon::{Error, Result, Side};

use super::diff;
use super::{EXIT_DIFFERENT, EXIT_EQUAL};

#[derive(Debug, clap::Args)]
#[group(id = "repair")]
pub struct Args {
    #[command(flatten)]
    pub diff: diff::Args,
    /// The side that is right; the other one is repaired [default: left, or
    /// the rule file's `[repair] truth`].
    #[arg(long, value_enum)]
    pub truth: Option<TruthSide>,
    /// Write the SQL patch to this file (`-` for standard output).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["apply", "write", "in_place"])]
    pub sql: Option<String>,
    /// A file target: write a repaired copy of it to this Parquet file.
    #[arg(long, value_name = "FILE.parquet", conflicts_with_all = ["sql", "apply"])]
    pub write: Option<String>,
    /// A Parquet file target: replace it by its repaired copy (written beside
    /// it, checked, then renamed over it).
    #[arg(long, conflicts_with_all = ["sql", "apply", "write"])]
    pub in_place: bool,
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
    let started = super::job::start();
    let mut results = Vec::new();
    let outcome = execute(&args, &mut results);
    let name = diff::comparison_name(&args.diff);
    super::job::finish(&args.diff.job, started, &name, outcome, results)
}

/// Compares, then writes or applies the repair; `results` receives the comparison.
fn execute(args: &Args, results: &mut Vec<recon::rules::check::CheckResult>) -> Result<u8> {
    if args.diff.explain {
        return Err(Error::Usage(
            "--explain shows what a diff sends the databases; for a repair, --sql FILE writes \
             the patch without applying it"
                .into(),
        ));
    }
    if args.diff.recheck.is_some() || !args.diff.ignore_younger.is_empty() {
        return Err(Error::Usage(
            "--recheck and --ignore-younger judge a report; a repair patches what it read: \
             run recon diff with them first"
                .into(),
        ));
    }
    let compared = diff::compare(&args.diff)?;
    diff::keep_result(&args.diff, &compared.outcome.report, results)?;
    let rule = &compared.repair;
    let truth = match args.truth {
        Some(TruthSide::Left) => Side::Left,
        Some(TruthSide::Right) => Side::Right,
        None => rule.truth.unwrap_or(Side::Left),
    };
    let [left, right] = &compared.sources;
    let (truth_source, target_source) = match truth {
        Side::Left => (left, right),
        Side::Right => (right, left),
    };
    let policy = Policy {
        truth,
        insert: !args.no_insert && rule.insert.unwrap_or(true),
        update: !args.no_update && rule.update.unwrap_or(true),
        delete: !args.no_delete && rule.delete.unwrap_or(true),
        max_rows: args.max_rows.or(rule.max_rows),
        force: args.force,
    };
    if args.write.is_some() || args.in_place {
        let target_spec = match truth {
            Side::Left => &args.diff.right,
            Side::Right => &args.diff.left,
        };
        let code = repair_file(&compared, truth, &policy, target_spec, args)?;
        drop(compared);
        return Ok(code);
    }
    let Some(db) = target_source.as_database() else {
        return Err(Error::Usage(format!(
            "the target {} is not a database table: --sql and --apply patch databases; \
             --write FILE.parquet writes a repaired copy of a file",
            target_source.describe()
        )));
    };
    let Some(table) = db.table() else {
        return Err(Error::Usage(
            "the target is a query: name its table (?table=...) to repair it".into(),
        ));
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
            OutputFile::write_all_and_commit(path, patch.sql.as_bytes())?;
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
            let mask = &compared.outcome.mask;
            let backup = mask.apply_to_batch(&backup, str::to_string)?;
            write_parquet(path, &backup)?;
            eprintln!(
                "backed up {} target rows to {path}{}",
                backup.num_rows(),
                if mask.is_empty() {
                    ""
                } else {
                    " (masked columns hold *** there, not their values)"
                }
            );
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
    let mut out = OutputFile::create(path)?;
    write_batch(&mut out, batch)?;
    out.commit()
}

/// Writes one batch as Parquet into an output not yet committed.
fn write_batch(out: &mut OutputFile, batch: &arrow::record_batch::RecordBatch) -> Result<()> {
    let path = out.path().to_string();
    let fail = |e: parquet::errors::ParquetError| Error::Output {
        path: path.clone(),
        message: e.to_string(),
    };
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(out, batch.schema(), None).map_err(fail)?;
    writer.write(batch).map_err(fail)?;
    writer.close().map_err(fail)?;
    Ok(())
}

/// Writes the repaired copy of a file target, checks it against the source
/// of truth, and (with `--in-place`) renames it over the target.
fn repair_file(
    compared: &diff::Compared,
    truth: Side,
    policy: &Policy,
    target_spec: &str,
    args: &Args,
) -> Result<u8> {
    let [left, right] = &compared.sources;
    let (truth_source, target_source) = match truth {
        Side::Left => (left, right),
        Side::Right => (right, left),
    };
    if target_source.as_database().is_some() {
        return Err(Error::Usage(
            "the target is a database: use --sql or --apply".into(),
        ));
    }
    let path = if args.in_place {
        let original = std::path::Path::new(target_spec);
        let is_parquet = original.extension().is_some_and(|e| e == "parquet");
        if !original.is_file() || !is_parquet {
            return Err(Error::Usage(format!(
                "--in-place needs the target to be one .parquet file, not {target_spec}"
            )));
        }
        target_spec.to_string()
    } else {
        args.write.clone().unwrap_or_default()
    };
    let repaired = repair::repaired_rows(&compared.outcome, target_source.as_ref(), policy)?;
    policy.allows(repaired.inserts + repaired.updates + repaired.deletes)?;
    let Some(batch) = &repaired.batch else {
        return Err(Error::Internal("no repaired rows".into()));
    };
    // Written beside its final name, checked, and only then renamed over it:
    // a failed check or a full disk leaves the target and the name untouched.
    let mut out = OutputFile::create(&path)?;
    write_batch(&mut out, batch)?;
    let written = format!("parquet:{}", out.written_path().display());
    let options = recon::source::OpenOptions::default();
    let copy = recon::source::open(
        &written,
        None,
        truth.other(),
        &options,
        compared.runtime.handle(),
    )?;
    let (l, r): (&dyn recon::source::Source, &dyn recon::source::Source) = match truth {
        Side::Left => (truth_source.as_ref(), copy.as_ref()),
        Side::Right => (copy.as_ref(), truth_source.as_ref()),
    };
    let after = recon::diff(l, r, &compared.spec)?.report.summary;
    // Whatever the policy, the copy differs from the truth in exactly the
    // rows the policy left alone: every touched row now agrees.
    let expected = policy.remaining(&compared.outcome.report.summary);
    let found = match truth {
        Side::Left => (after.only_left, after.only_right, after.changed),
        Side::Right => (after.only_right, after.only_left, after.changed),
    };
    if found != expected {
        return Err(Error::Unstable(format!(
            "the repaired copy differs from the source of truth in {} rows where {} were \
             expected (rows left alone by the policy); nothing was written",
            after.differences(),
            expected.0 + expected.1 + expected.2
        )));
    }
    drop(copy);
    out.commit()?;
    eprintln!(
        "{} {path}: {} inserts, {} updates, {} deletes",
        if args.in_place {
            "repaired in place"
        } else {
            "wrote"
        },
        repaired.inserts,
        repaired.updates,
        repaired.deletes
    );
    Ok(EXIT_EQUAL)
}
