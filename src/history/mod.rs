//! Run history: each run of `diff`, `check` or `repair` given `--history`
//! is appended to a results store (a row per run, per check or table, and
//! per difference key, up to [`KEYS_PER_CHECK`]), and `recon history`
//! prints the trend: per check, the counts of each run and which difference
//! keys are new, persisting or resolved since the run before.

pub mod metrics;
mod store;

use std::collections::BTreeSet;
use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::report::Report;
use crate::rules::check::{CheckResult, Status};
use store::{RunRows, ValueOf};
pub use store::{Store, VERSION};

/// Difference keys kept per check and run; beyond them a run's keys are
/// marked incomplete and the trend says so.
pub const KEYS_PER_CHECK: usize = 10_000;

/// One finished run of recon, as recorded.
pub struct Run<'a> {
    /// The job's name (`--job`), for telling several jobs apart.
    pub job: String,
    pub started: chrono::DateTime<chrono::Utc>,
    pub finished: chrono::DateTime<chrono::Utc>,
    /// The command line, passwords hidden.
    pub command: String,
    pub host: String,
    pub exit_code: u8,
    pub results: &'a [CheckResult],
}

impl Run<'_> {
    /// The worst status of the run's results.
    pub fn status(&self) -> Status {
        self.results
            .iter()
            .map(|r| r.status)
            .max()
            .unwrap_or(Status::Pass)
    }

    pub fn seconds(&self) -> f64 {
        (self.finished - self.started)
            .to_std()
            .map_or(0.0, |d| d.as_secs_f64())
    }
}

/// This machine's name, for the record.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Timestamps as stored: RFC 3339 in UTC, microseconds, so text sorts by time.
fn timestamp(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The difference keys of a report, as canonical JSON (key columns in key
/// order), with their kind and changed columns; and whether that is all of them.
fn difference_keys(report: &Report) -> (Vec<[String; 3]>, bool) {
    let keys: Vec<[String; 3]> = report
        .diffs
        .iter()
        .take(KEYS_PER_CHECK)
        .map(|d| {
            [
                serde_json::to_value(d.status)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                serde_json::Value::Object(d.key.clone()).to_string(),
                serde_json::to_string(&d.columns).unwrap_or_default(),
            ]
        })
        .collect();
    let complete = !report.diffs_truncated && report.diffs.len() <= KEYS_PER_CHECK;
    (keys, complete)
}

/// A run as the rows the store inserts.
fn rows_of(run: &Run<'_>) -> RunRows {
    let text = |s: String| ValueOf::Text(s);
    let runs = vec![
        text(run.job.clone()),
        text(timestamp(&run.started)),
        text(timestamp(&run.finished)),
        text(run.command.clone()),
        text(run.host.clone()),
        text(env!("CARGO_PKG_VERSION").into()),
        ValueOf::Real(run.seconds()),
        text(run.status().as_str().into()),
        ValueOf::Int(i64::from(run.exit_code)),
    ];
    // Two checks of one name (one file name in two folders) are told apart,
    // as the store keys a run's checks by name.
    let mut seen: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    let names: Vec<String> = run
        .results
        .iter()
        .map(|r| {
            let n = seen.entry(r.name.as_str()).or_insert(0);
            *n += 1;
            match *n {
                1 => r.name.clone(),
                n => format!("{} ({n})", r.name),
            }
        })
        .collect();
    let checks = run
        .results
        .iter()
        .zip(names)
        .map(|(r, name)| {
            let count = |f: &dyn Fn(&Report) -> u64| {
                r.report
                    .as_ref()
                    .map_or(ValueOf::Null, |rep| ValueOf::Int(f(rep) as i64))
            };
            // No report (an error, aggregates only): no keys known, not "none".
            let (keys, complete) = r
                .report
                .as_ref()
                .map_or((Vec::new(), false), difference_keys);
            let row = vec![
                text(name),
                text(r.status.as_str().into()),
                count(&|rep| rep.summary.left_rows),
                count(&|rep| rep.summary.right_rows),
                count(&|rep| rep.summary.only_left),
                count(&|rep| rep.summary.only_right),
                count(&|rep| rep.summary.changed),
                count(&|rep| rep.summary.unchanged),
                count(&|rep| rep.summary.duplicate_keys),
                count(&|rep| rep.summary.null_keys),
                r.report
                    .as_ref()
                    .and_then(|rep| rep.transient.as_ref())
                    .map_or(ValueOf::Null, |t| ValueOf::Int(t.keys.len() as i64)),
                count(&|rep| rep.ranges.len() as u64),
                ValueOf::Int(i64::from(complete)),
                r.report
                    .as_ref()
                    .map_or(text("[]".into()), |rep| json(&rep.ranges)),
                r.report
                    .as_ref()
                    .map_or(text("null".into()), |rep| json(&rep.schema)),
                json(&r.reasons),
                json(&r.notes),
                ValueOf::Real(r.seconds),
            ];
            (row, keys)
        })
        .collect();
    RunRows { run: runs, checks }
}

/// A value as JSON text, for the store's JSON columns.
fn json<T: Serialize>(value: &T) -> ValueOf {
    ValueOf::Text(serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
}

/// Appends a run to the store at `location` (a SQLite file is created when
/// missing); returns the run's id.
pub fn record(location: &str, run: &Run<'_>) -> Result<i64> {
    Store::open(location, true)?.append(run)
}

/// One check of one run, as stored.
#[derive(Debug, Clone, Serialize)]
pub struct StoredCheck {
    pub run_id: i64,
    pub started_at: String,
    pub host: String,
    #[serde(skip)]
    pub name: String,
    pub status: String,
    pub left_rows: Option<u64>,
    pub right_rows: Option<u64>,
    pub only_left: Option<u64>,
    pub only_right: Option<u64>,
    pub changed: Option<u64>,
    pub duplicate_keys: Option<u64>,
    pub null_keys: Option<u64>,
    pub transient: Option<u64>,
    pub divergent_ranges: Option<u64>,
    /// Every difference key of the run was stored.
    pub keys_complete: bool,
    pub reasons: Vec<String>,
}

/// A stored difference key.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kind: String,
    pub key: String,
}

/// A run of a check, with how its difference keys moved since the run before.
#[derive(Debug, Clone, Serialize)]
pub struct TrendRun {
    #[serde(flatten)]
    pub check: StoredCheck,
    /// Keys that differ now and did not in the run before (absent for the first run).
    pub new: Option<usize>,
    pub persisting: Option<usize>,
    pub resolved: Option<usize>,
}

/// One check's history.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub check: String,
    pub runs: Vec<TrendRun>,
    /// The keys of the last run against the run before it.
    pub new_keys: Vec<serde_json::Value>,
    pub persisting_keys: Vec<serde_json::Value>,
    pub resolved_keys: Vec<serde_json::Value>,
}

/// The trend of each check (or of one), over its last `last` runs.
pub fn trend(store: &mut Store, check: Option<&str>, last: usize) -> Result<Vec<Trend>> {
    // A store no run has written to yet holds no tables.
    if store.version()? == 0 {
        return Ok(Vec::new());
    }
    // One run more than shown: the first shown run compares with it.
    let rows = store.checks(check, last + 1)?;
    let mut out: Vec<Trend> = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let name = rows[i].name.clone();
        let end = rows[i..]
            .iter()
            .position(|r| r.name != name)
            .map_or(rows.len(), |n| i + n);
        let runs = &rows[i..end];
        let mut previous: Option<BTreeSet<String>> = None;
        let mut trend_runs = Vec::new();
        let mut last_sets = (Vec::new(), Vec::new(), Vec::new());
        for run in runs {
            // A run without a report (an error) knows no keys: it is shown,
            // and the next run is compared with the last one that did.
            if run.left_rows.is_none() {
                trend_runs.push(TrendRun {
                    check: run.clone(),
                    new: None,
                    persisting: None,
                    resolved: None,
                });
                continue;
            }
            let keys: BTreeSet<String> = store
                .keys(run.run_id, &name)?
                .into_iter()
                .map(|k| k.key)
                .collect();
            let moved = previous.as_ref().map(|before| {
                let new: Vec<&String> = keys.difference(before).collect();
                let persisting: Vec<&String> = keys.intersection(before).collect();
                let resolved: Vec<&String> = before.difference(&keys).collect();
                (new, persisting, resolved)
            });
            let parse = |list: &[&String]| -> Vec<serde_json::Value> {
                list.iter()
                    .map(|k| serde_json::from_str(k).unwrap_or(serde_json::Value::Null))
                    .collect()
            };
            if let Some((n, p, r)) = &moved {
                last_sets = (parse(n), parse(p), parse(r));
            } else {
                last_sets = (Vec::new(), Vec::new(), Vec::new());
            }
            trend_runs.push(TrendRun {
                check: run.clone(),
                new: moved.as_ref().map(|m| m.0.len()),
                persisting: moved.as_ref().map(|m| m.1.len()),
                resolved: moved.as_ref().map(|m| m.2.len()),
            });
            previous = Some(keys);
        }
        // The extra, older run only served as the first one's "before".
        if trend_runs.len() > last {
            trend_runs.remove(0);
        }
        out.push(Trend {
            check: name,
            runs: trend_runs,
            new_keys: last_sets.0,
            persisting_keys: last_sets.1,
            resolved_keys: last_sets.2,
        });
        i = end;
    }
    Ok(out)
}

fn io(e: std::io::Error) -> Error {
    Error::Output {
        path: "standard output".into(),
        message: e.to_string(),
    }
}

/// Keys listed per kind in the table and Markdown views.
const KEYS_SHOWN: usize = 10;

/// The trend as tables, one per check (Markdown when `markdown`).
pub fn write_trend_table(trends: &[Trend], out: &mut dyn Write, markdown: bool) -> Result<()> {
    let preset = if markdown {
        comfy_table::presets::ASCII_MARKDOWN
    } else {
        comfy_table::presets::UTF8_FULL_CONDENSED
    };
    let show = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
    let moved = |n: Option<usize>| n.map_or("-".to_string(), |n| n.to_string());
    for trend in trends {
        let title = format!("check {} ({} runs)", trend.check, trend.runs.len());
        if markdown {
            writeln!(out, "### {title}\n").map_err(io)?;
        } else {
            writeln!(out, "{title}").map_err(io)?;
        }
        let mut t = comfy_table::Table::new();
        t.load_preset(preset);
        t.set_header(vec![
            "run",
            "started",
            "status",
            "left rows",
            "right rows",
            "only left",
            "only right",
            "changed",
            "transient",
            "new",
            "persisting",
            "resolved",
        ]);
        for r in &trend.runs {
            let c = &r.check;
            let incomplete = if c.keys_complete || c.left_rows.is_none() {
                ""
            } else {
                "+"
            };
            t.add_row(vec![
                c.run_id.to_string(),
                c.started_at.clone(),
                c.status.clone(),
                show(c.left_rows),
                show(c.right_rows),
                show(c.only_left),
                show(c.only_right),
                show(c.changed),
                show(c.transient),
                format!("{}{incomplete}", moved(r.new)),
                format!("{}{incomplete}", moved(r.persisting)),
                format!("{}{incomplete}", moved(r.resolved)),
            ]);
        }
        writeln!(out, "{t}").map_err(io)?;
        if trend
            .runs
            .iter()
            .any(|r| !r.check.keys_complete && r.check.left_rows.is_some())
        {
            writeln!(
                out,
                "+ of the first {KEYS_PER_CHECK} difference keys of a run (more were not stored)"
            )
            .map_err(io)?;
        }
        for (what, keys) in [
            ("new", &trend.new_keys),
            ("persisting", &trend.persisting_keys),
            ("resolved", &trend.resolved_keys),
        ] {
            if keys.is_empty() {
                continue;
            }
            let shown: Vec<String> = keys
                .iter()
                .take(KEYS_SHOWN)
                .map(|k| k.to_string())
                .collect();
            let more = keys.len().saturating_sub(KEYS_SHOWN);
            writeln!(
                out,
                "{what} in the last run: {}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
            .map_err(io)?;
        }
        writeln!(out).map_err(io)?;
    }
    if trends.is_empty() {
        writeln!(out, "no runs recorded").map_err(io)?;
    }
    Ok(())
}

/// The trend as one JSON object.
pub fn write_trend_json(trends: &[Trend], out: &mut dyn Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "checks": trends }))
        .map_err(|e| Error::Internal(e.to_string()))?;
    writeln!(out).map_err(io)
}
