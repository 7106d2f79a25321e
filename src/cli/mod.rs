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
