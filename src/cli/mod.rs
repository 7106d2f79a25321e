//! Command-line front end: clap argument structs and thin `run` functions
//! that call the library and map outcomes to exit codes.

pub mod check;
pub mod diff;
pub mod generate;
pub mod repair;
pub mod scan;
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
    long_about = "Find where two data sources disagree.\n\nExit codes: 0 equal, 1 different, 2 error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare two sources by key.
    Diff(Box<diff::Args>),
    /// Write the SQL patch that makes a database table agree with the source of truth.
    Repair(Box<repair::Args>),
    /// Run the reconciliations described by rule files (default: rules/*.toml).
    Check(check::Args),
    /// Check rule files without reading any data.
    Validate(validate::Args),
    /// Generate a pair of test files with known differences.
    Gen(generate::Args),
    /// Read every column of sources and count their rows (checks that recon can
    /// read them, and measures what reading alone costs).
    Scan(scan::Args),
}

/// Runs a parsed command and returns its exit code.
pub fn run(cli: Cli) -> recon::Result<u8> {
    match cli.command {
        Command::Diff(args) => diff::run(*args),
        Command::Repair(args) => repair::run(*args),
        Command::Check(args) => check::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Gen(args) => generate::run(args),
        Command::Scan(args) => scan::run(args),
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
