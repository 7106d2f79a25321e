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

const KIND: checks::Kind = checks::Kind::Checks;

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
    #[command(flatten)]
    pub job: super::job::JobArgs,
}

pub fn run(args: Args) -> Result<u8> {
    let started = super::job::start();
    let mut results = Vec::new();
    let outcome = execute(&args, &mut results);
    super::job::finish(&args.job, started, "recon check", outcome, results)
}

/// Runs the checks; `results` receives each one's result.
fn execute(args: &Args, out: &mut Vec<rules::check::CheckResult>) -> Result<u8> {
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
        .flat_map(|path| match rules::load(path) {
            Ok(loaded) => {
                rules::check::run_all(&loaded, threads, runtime.handle(), args.state.as_deref())
            }
            Err(e) => vec![rules::check::CheckResult {
                name: path.file_stem().map_or_else(
                    || path.display().to_string(),
                    |s| s.to_string_lossy().into_owned(),
                ),
                file: path.display().to_string(),
                status: Status::Error,
                reasons: vec![recon::source::url::redact(&recon::error::one_line(e))],
                notes: Vec::new(),
                seconds: 0.0,
                aggregates: Vec::new(),
                report: None,
            }],
        })
        .collect();

    let format = match args.format {
        Some(Format::Table) => Some(Shown::Table),
        Some(Format::Json) => Some(Shown::Json),
        Some(Format::Html) => Some(Shown::Html),
        None => None,
    };
    *out = results;
    let worst = emit(
        out,
        KIND,
        format,
        Files {
            junit,
            markdown,
            html,
        },
    )?;
    Ok(match worst {
        Status::Error => EXIT_ERROR,
        Status::Fail => EXIT_DIFFERENT,
        Status::Warn if args.strict => EXIT_DIFFERENT,
        Status::Warn | Status::Pass => EXIT_EQUAL,
    })
}

/// How results are printed on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shown {
    Table,
    Json,
    /// One JSON object per line, a result each.
    Ndjson,
    Markdown,
    Html,
}

/// The files a run of several comparisons writes besides standard output.
pub(super) struct Files {
    pub junit: Option<OutputFile>,
    pub markdown: Option<OutputFile>,
    pub html: Option<OutputFile>,
}

/// Prints the results (table on a terminal, JSON otherwise), writes the
/// files, says each error on stderr, and returns the worst status.
pub(super) fn emit(
    results: &[rules::check::CheckResult],
    kind: checks::Kind,
    format: Option<Shown>,
    files: Files,
) -> Result<Status> {
    let stdout = std::io::stdout();
    let format = format.unwrap_or(if stdout.is_terminal() {
        Shown::Table
    } else {
        Shown::Json
    });
    let mut out = std::io::BufWriter::new(stdout.lock());
    let fail = |e: std::io::Error| Error::Output {
        path: "standard output".into(),
        message: e.to_string(),
    };
    match format {
        Shown::Table => checks::write_checks_table(results, &mut out, kind)?,
        Shown::Json => checks::write_checks_json(results, &mut out, kind)?,
        Shown::Ndjson => {
            for r in results {
                serde_json::to_writer(&mut out, r).map_err(|e| Error::Internal(e.to_string()))?;
                writeln!(out).map_err(fail)?;
            }
        }
        Shown::Markdown => {
            checks::write_checks_markdown(results, &mut out, "standard output", kind)?
        }
        Shown::Html => {
            recon::report::write_checks_html(results, &mut out, "standard output", kind)?
        }
    }
    out.flush().map_err(fail)?;
    if let Some(mut file) = files.junit {
        let path = file.path().to_string();
        checks::write_checks_junit(results, &mut file, &path, kind)?;
        file.commit()?;
    }
    if let Some(mut file) = files.markdown {
        let path = file.path().to_string();
        checks::write_checks_markdown(results, &mut file, &path, kind)?;
        file.commit()?;
    }
    if let Some(mut file) = files.html {
        let path = file.path().to_string();
        recon::report::write_checks_html(results, &mut file, &path, kind)?;
        file.commit()?;
    }
    // Errors also go to stderr, one line each, as for every command.
    for r in results.iter().filter(|r| r.status == Status::Error) {
        eprintln!("recon: error: {}: {}", r.name, r.reasons.join("; "));
    }
    Ok(checks::worst(results))
}
