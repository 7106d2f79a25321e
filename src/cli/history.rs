//! `recon history`: the trend of the runs a results store holds.

use std::io::Write;

use clap::ValueEnum;
use recon::history::{self, Store};
use recon::{Error, Result};

use super::EXIT_EQUAL;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The results store: a SQLite file or a PostgreSQL URL.
    #[arg(long, value_name = "FILE|URL", default_value = "recon-history.db")]
    pub history: String,
    /// Only this check (or table: `CHECK/schema.table` under `recon check`).
    #[arg(long, value_name = "NAME")]
    pub check: Option<String>,
    /// The last N runs of each check.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub last: usize,
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: Format,
}

pub fn run(args: Args) -> Result<u8> {
    if args.last == 0 {
        return Err(Error::Usage("--last must be at least 1".into()));
    }
    let mut store = Store::open(&args.history, false)?;
    let trends = history::trend(&mut store, args.check.as_deref(), args.last)?;
    if let (Some(check), true) = (&args.check, trends.is_empty()) {
        return Err(Error::Usage(format!(
            "no run of check {check:?} is recorded in {}",
            recon::source::url::redact(&args.history)
        )));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Table => history::write_trend_table(&trends, &mut out, false)?,
        Format::Markdown => history::write_trend_table(&trends, &mut out, true)?,
        Format::Json => history::write_trend_json(&trends, &mut out)?,
    }
    out.flush().map_err(|e| Error::Output {
        path: "standard output".into(),
        message: e.to_string(),
    })?;
    Ok(EXIT_EQUAL)
}
