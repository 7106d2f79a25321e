//! `recon gen`: write a pair of files with known differences and their ground truth.

use std::path::PathBuf;

use clap::ValueEnum;
use recon::Result;
use recon::generator::{GenSpec, generate};
use recon::source::FileFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Parquet,
    Csv,
    Tsv,
    Ndjson,
    Arrow,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write left.EXT, right.EXT and truth.json into.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Rows in the left file.
    #[arg(long, default_value_t = 1_000)]
    pub rows: u64,
    /// Rows only in the right file.
    #[arg(long, default_value_t = 0)]
    pub inserts: u64,
    /// Rows only in the left file.
    #[arg(long, default_value_t = 0)]
    pub deletes: u64,
    /// Rows whose values differ (1 to 3 columns each).
    #[arg(long, default_value_t = 0)]
    pub updates: u64,
    /// Random seed; the same seed writes the same files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(short, long, value_enum, default_value = "parquet")]
    pub format: Format,
    /// Write rows in random order instead of key order.
    #[arg(long)]
    pub shuffle: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let format = match args.format {
        Format::Parquet => FileFormat::Parquet,
        Format::Csv => FileFormat::Csv,
        Format::Tsv => FileFormat::Tsv,
        Format::Ndjson => FileFormat::NdJson,
        Format::Arrow => FileFormat::ArrowIpc,
    };
    let truth = generate(
        &args.out,
        &GenSpec {
            rows: args.rows,
            inserts: args.inserts,
            deletes: args.deletes,
            updates: args.updates,
            seed: args.seed,
            format,
            shuffle: args.shuffle,
        },
    )?;
    eprintln!(
        "wrote {} ({} rows left, {} rows right: {} inserted, {} deleted, {} updated)",
        args.out.display(),
        truth.left_rows,
        truth.right_rows,
        truth.only_right.len(),
        truth.only_left.len(),
        truth.changed.len()
    );
    Ok(0)
}
