//! `recon check [RULES...]`: run reconciliations described by rule files
//! (default: every `*.toml` in `rules/`), one line per check and a summary.
//!
//! Exit 0 when every check passes (warnings included, unless `--strict`),
//! 1 when one fails, 2 when one could not be run.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::ValueEnum;
use recon::report::{OutputFile, checks};
use recon::rules::{self, check::Status};
use recon::{Error, Result};

use super::{EXIT_DIFFERENT, EXIT_EQUAL, EXIT_ERROR};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// One self-contained page: a row per check, linked to its details.
    Html,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rule files [default: every *.toml in --dir].
    pub rules: Vec<PathBuf>,
    /// Where to find rule files when none is named.
    #[arg(long, default_value = "rules")]
    pub dir: PathBuf,
    /// Warnings fail too.
    #[arg(long)]
    pub strict: bool,
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(short, long, value_enum)]
    pub format: Option<Format>,
    /// Also write JUnit XML here (one test case per check).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write a Markdown summary here (for a pull-request comment).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write an HTML page here (a row per check, linked to its details).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Keep each check's Merkle leaves in DIR/CHECK between runs: the next
    /// run re-hashes only the files that changed.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<u8> {
    let threads = super::thread_count(args.threads)?;
    let runtime = super::runtime(threads)?;
    let files = rules::discover(&args.rules, &args.dir)?;
    // Output files are created first: a bad path fails before the work.
    let create = |path: &PathBuf| OutputFile::create(&path.display().to_string());
    let junit = args.junit.as_ref().map(create).transpose()?;
    let markdown = args.markdown.as_ref().map(create).transpose()?;
    let html = args.html.as_ref().map(create).transpose()?;

    let results: Vec<rules::check::CheckResult> = files
        .iter()
        .map(|path| match rules::load(path) {
            Ok(loaded) => {
                rules::check::run(&loaded, threads, runtime.handle(), args.state.as_deref())
            }
            Err(e) => rules::check::CheckResult {
                name: path.file_stem().map_or_else(
                    || path.display().to_string(),
                    |s| s.to_string_lossy().into_owned(),
                ),
                file: path.display().to_string(),
                status: Status::Error,
                reasons: vec![recon::source::url::redact(&recon::error::one_line(e))],
                seconds: 0.0,
                aggregates: Vec::new(),
                report: None,
            },
        })
        .collect();

    let stdout = std::io::stdout();
    let format = args.format.unwrap_or(if stdout.is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Table => checks::write_checks_table(&results, &mut out)?,
        Format::Json => checks::write_checks_json(&results, &mut out)?,
        Format::Html => recon::report::write_checks_html(&results, &mut out, "standard output")?,
    }
    out.flush().map_err(|e| Error::Output {
        path: "standard output".into(),
        message: e.to_string(),
    })?;
    if let Some(mut file) = junit {
        let path = file.path().to_string();
        checks::write_checks_junit(&results, &mut file, &path)?;
        file.commit()?;
    }
    if let Some(mut file) = markdown {
        let path = file.path().to_string();
        checks::write_checks_markdown(&results, &mut file, &path)?;
        file.commit()?;
    }
    if let Some(mut file) = html {
        let path = file.path().to_string();
        recon::report::write_checks_html(&results, &mut file, &path)?;
        file.commit()?;
    }
    // Errors also go to stderr, one line each, as for every command.
    for r in results.iter().filter(|r| r.status == Status::Error) {
        eprintln!("recon: error: {}: {}", r.name, r.reasons.join("; "));
    }
    let worst = results
        .iter()
        .map(|r| r.status)
        .max()
        .unwrap_or(Status::Pass);
    Ok(match worst {
        Status::Error => EXIT_ERROR,
        Status::Fail => EXIT_DIFFERENT,
        Status::Warn if args.strict => EXIT_DIFFERENT,
        Status::Warn | Status::Pass => EXIT_EQUAL,
    })
}
