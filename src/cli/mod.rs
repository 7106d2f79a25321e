//! Command-line front end: clap argument structs and thin `run` functions
//! that call the library and map outcomes to exit codes.

pub mod diff;
pub mod generate;

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
    Diff(diff::Args),
    /// Generate a pair of test files with known differences.
    Gen(generate::Args),
}

/// Runs a parsed command and returns its exit code.
pub fn run(cli: Cli) -> recon::Result<u8> {
    match cli.command {
        Command::Diff(args) => diff::run(args),
        Command::Gen(args) => generate::run(args),
    }
}
