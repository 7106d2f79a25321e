//! What a scheduled job keeps of a run: `--history` appends it to a results
//! store, `--metrics` writes it as OpenMetrics text. Both see every run,
//! failed ones included (as an error result), so a dashboard shows a job
//! that stopped working as well as one that found differences.

use recon::history::{self, Run};
use recon::rules::check::{CheckResult, Status};
use recon::{Error, Result};

/// Flags every comparing command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct JobArgs {
    /// Append this run (counts, divergent ranges, difference keys per check
    /// or table) to a results store: a SQLite file, created when missing
    /// (e.g. recon-history.db, `recon history`'s default), or a PostgreSQL URL.
    #[arg(long, value_name = "FILE|URL")]
    pub history: Option<String>,
    /// Write the run's metrics as OpenMetrics text to FILE, replaced whole
    /// (for a node-exporter textfile collector or a push gateway).
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<String>,
    /// The job's name in history and metrics (its runs' `recon_job` label),
    /// for several jobs on one host [default: the command, e.g. `recon diff`].
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
}

/// The time a run starts, for its record.
pub fn start() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Records a finished run (`outcome` is its exit code or error) where the
/// flags ask; a failure to record fails the run (exit 2), as a job that
/// loses its history silently cannot be trusted.
pub fn finish(
    job: &JobArgs,
    started: chrono::DateTime<chrono::Utc>,
    name: &str,
    outcome: Result<u8>,
    mut results: Vec<CheckResult>,
) -> Result<u8> {
    if job.history.is_none() && job.metrics.is_none() {
        return outcome;
    }
    let exit_code = match &outcome {
        Ok(code) => *code,
        Err(_) => super::EXIT_ERROR,
    };
    if let Err(e) = &outcome
        && results.is_empty()
    {
        results.push(CheckResult {
            name: name.to_string(),
            file: String::new(),
            status: Status::Error,
            reasons: vec![recon::source::url::redact(&recon::error::one_line(e))],
            notes: Vec::new(),
            seconds: 0.0,
            aggregates: Vec::new(),
            report: None,
        });
    }
    let command: Vec<String> = std::env::args().collect();
    let job_name = job.job.clone().unwrap_or_else(|| {
        let subcommand = command.get(1).map_or("", String::as_str);
        format!("recon {subcommand}").trim().to_string()
    });
    let run = Run {
        job: job_name,
        started,
        finished: chrono::Utc::now(),
        command: recon::source::url::redact(&command.join(" ")),
        host: history::host_name(),
        exit_code,
        results: &results,
    };
    let mut failure: Option<Error> = None;
    if let Some(path) = &job.metrics
        && let Err(e) = history::metrics::write(path, &run)
    {
        failure = Some(e);
    }
    if let Some(store) = &job.history
        && let Err(e) = history::record(store, &run)
    {
        failure.get_or_insert(e);
    }
    match (outcome, failure) {
        (Err(e), _) => Err(e),
        (Ok(_), Some(e)) => Err(e),
        (Ok(code), None) => Ok(code),
    }
}
