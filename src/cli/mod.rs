//! Command-line front end: clap argument structs and thin `run` functions
//! that call the library and map outcomes to exit codes.

pub mod check;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod diff;
pub mod generate;
pub mod history;
pub mod job;
pub mod repair;
pub mod scan;
pub mod shell;
pub mod snapshot;
pub mod validate;

use clap::{Parser, Subcommand};

/// Exit code: the sources agree.
pub const EXIT_EQUAL: u8 = 0;
/// Exit code: the sources differ.
pub const EXIT_DIFFERENT: u8 = 1;
/// Exit code: the comparison could not be made.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "recon",
    version,
    about = "Find where two data sources disagree",
    long_about = "Find where two data sources disagree.\n\nExit codes: 0 equal, 1 different, 2 error.",
    after_help = "Examples:\n  \
        recon diff testdata/orders/left.parquet testdata/orders/right.parquet --key id\n  \
        recon check --junit results.xml --html results.html\n  \
        recon diff --help"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare two sources by key.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(Box<diff::Args>),
    /// Write the SQL patch that makes a database table agree with the source of truth.
    #[command(after_help = REPAIR_EXAMPLES)]
    Repair(Box<repair::Args>),
    /// Run the reconciliations described by rule files (default: rules/*.toml).
    #[command(after_help = CHECK_EXAMPLES)]
    Check(check::Args),
    /// Check rule files without reading any data.
    #[command(after_help = "Examples:\n  recon validate\n  recon validate rules/orders_exact.toml")]
    Validate(validate::Args),
    /// Generate a pair of test files with known differences.
    #[command(after_help = "Examples:\n  \
        recon gen --out /tmp/pair --rows 1000000 --updates 100 --inserts 10 --deletes 10\n  \
        recon gen --out /tmp/pair --rows 100000 --format csv --shuffle")]
    Gen(generate::Args),
    /// Write a source's Merkle leaves (digests, no row values) to a snapshot
    /// file that `recon diff` takes as a side.
    #[command(after_help = "Examples:\n  \
        recon snapshot archive/ --key id -o archive.snapshot.parquet\n  \
        recon diff archive.snapshot.parquet 'postgres://app@db/shop?table=orders' --key id\n  \
        recon snapshot replica.parquet --key id --like archive.snapshot.parquet -o replica.snapshot.parquet")]
    Snapshot(snapshot::Args),
    /// Write the rows of a source that lie in the ranges a comparison with a
    /// snapshot found divergent (`recon diff ... --ranges-out`).
    #[command(after_help = "Examples:\n  \
        recon extract archive/ --ranges ranges.parquet -o rows.parquet\n  \
        recon diff rows.parquet replica.parquet --key id --ranges ranges.parquet")]
    Extract(snapshot::ExtractArgs),
    /// Read every column of sources and count their rows (checks that recon can
    /// read them, and measures what reading alone costs).
    #[command(
        after_help = "Examples:\n  recon scan testdata/orders/left.parquet\n  \
        recon scan 'exports/*.csv' --query \"SELECT * FROM t WHERE region = 'EU'\""
    )]
    Scan(scan::Args),
    /// Print the trend of recorded runs (`--history`): per check, the counts
    /// of each run and which difference keys are new, persisting or resolved.
    #[command(after_help = "Examples:\n  \
        recon history\n  \
        recon history --history postgres://recon@db/ops --check orders --last 10 --format json")]
    History(history::Args),
    /// Run a Ballista scheduler or executor that knows recon's functions
    /// (built with the `cluster` feature).
    #[cfg(feature = "cluster")]
    #[command(
        subcommand,
        after_help = "Examples:\n  \
        recon cluster scheduler --bind 0.0.0.0:50050\n  \
        recon cluster executor --scheduler 10.0.0.5:50050 --host 10.0.0.7"
    )]
    Cluster(cluster::Command),
    /// Write a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = "Examples:\n  \
        recon completions bash > ~/.local/share/bash-completion/completions/recon\n  \
        recon completions zsh > \"${fpath[1]}/_recon\"\n  \
        recon completions fish > ~/.config/fish/completions/recon.fish")]
    Completions(shell::CompletionsArgs),
    /// Write recon's manual page (roff) to standard output.
    #[command(after_help = "Examples:\n  recon man > recon.1 && man -l recon.1\n  \
        recon man diff > recon-diff.1")]
    Man(shell::ManArgs),
}

const DIFF_EXAMPLES: &str = "Examples:
  recon diff testdata/orders/left.parquet testdata/orders/right.parquet --key id
  recon diff old.csv new.parquet --key order_id,line --exclude updated_at --abs-tol price=0.01
  recon diff 'postgres://app@db1/shop?table=orders' 'mysql://app@db2/shop?table=orders' --key id
  recon diff left.parquet right.parquet --key id --html report.html --format json > report.json";

const REPAIR_EXAMPLES: &str = "Examples:
  recon repair 'postgres://app@db1/shop?table=orders' 'mysql://app@db2/shop?table=orders' \\
      --key id --sql patch.sql
  recon repair truth.parquet 'postgres://app@db/shop?table=orders' --key id --apply \\
      --backup before.parquet
  recon repair truth.parquet stale.parquet --key id --write repaired.parquet";

const CHECK_EXAMPLES: &str = "Examples:
  recon check
  recon check rules/orders_exact.toml --strict --junit results.xml --html results.html";

/// Runs a parsed command and returns its exit code.
pub fn run(cli: Cli) -> recon::Result<u8> {
    match cli.command {
        Command::Diff(args) => diff::run(*args),
        Command::Repair(args) => repair::run(*args),
        Command::Check(args) => check::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Gen(args) => generate::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Snapshot(args) => snapshot::run(args),
        Command::Extract(args) => snapshot::extract(args),
        Command::History(args) => history::run(args),
        #[cfg(feature = "cluster")]
        Command::Cluster(command) => cluster::run(command),
        Command::Completions(args) => shell::completions(args),
        Command::Man(args) => shell::man(args),
    }
}

/// `--delimiter`, checked as a rule file's `delimiter` is.
fn parse_delimiter(text: &str) -> recon::Result<u8> {
    recon::rules::settings::delimiter(text).map_err(|m| recon::Error::Usage(format!("--{m}")))
}

/// The async runtime DataFusion reads files on.
fn runtime(threads: usize) -> recon::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| recon::Error::Internal(format!("cannot start the runtime: {e}")))
}

/// `--threads`, defaulting to every core.
fn thread_count(requested: Option<usize>) -> recon::Result<usize> {
    let threads =
        requested.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    if threads == 0 {
        return Err(recon::Error::Usage("--threads must be at least 1".into()));
    }
    Ok(threads)
}

/// A size in bytes: a number with an optional unit, `K`, `M`, `G`, `T`
/// (powers of 1024; `KB`, `KiB`, ... alike, any case).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 512M, 2G)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown size unit {other:?} (use K, M, G or T)")),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_units_and_refuse_the_rest() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(parse_size("64mb"), Ok(64 << 20));
        assert!(parse_size("").is_err());
        assert!(parse_size("-1G").is_err());
        assert!(parse_size("3 parsecs").is_err());
        assert!(parse_size("1e30").is_err());
    }
}
