//! `--metrics FILE`: the run as OpenMetrics text, for a node-exporter
//! textfile collector or a push gateway. The file is replaced whole
//! (written beside it, then renamed), so a scraper never reads half a run.
//! The last success of each check is carried over from the file the run
//! before wrote, so a failing check still shows when it last passed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use super::Run;
use crate::error::Result;
use crate::output::OutputFile;
use crate::rules::check::Status;

const LAST_SUCCESS: &str = "recon_check_last_success_timestamp_seconds";

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The inverse of [`label`].
fn unlabel(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// Last-success times per check in an earlier metrics file.
fn earlier_successes(path: &str) -> BTreeMap<String, f64> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let prefix = format!("{LAST_SUCCESS}{{check=\"");
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (name, value) = rest.rsplit_once("\"} ")?;
            Some((unlabel(name), value.trim().parse().ok()?))
        })
        .collect()
}

/// Writes the run's metrics to `path`, atomically.
pub fn write(path: &str, run: &Run<'_>) -> Result<()> {
    let text = render(run, &earlier_successes(path));
    let mut file = OutputFile::create(path)?;
    file.write_all(text.as_bytes())
        .map_err(|e| crate::error::Error::Output {
            path: path.to_string(),
            message: e.to_string(),
        })?;
    file.commit()
}

/// The OpenMetrics text of a run.
pub fn render(run: &Run<'_>, earlier: &BTreeMap<String, f64>) -> String {
    let mut out = String::new();
    let finished = run.finished.timestamp_micros() as f64 / 1e6;
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "# HELP {name} {help}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let check = |name: &str| format!("{{check=\"{}\"}}", label(name));
    let job = format!("{{recon_job=\"{}\"}}", label(&run.job));
    let with = |name: &str, key: &str, value: &str| {
        format!("{{check=\"{}\",{key}=\"{value}\"}}", label(name))
    };
    family(
        "recon_run_exit_code",
        "gauge",
        "Exit code of the last run: 0 equal, 1 different, 2 error.",
        vec![(job.clone(), f64::from(run.exit_code))],
    );
    family(
        "recon_run_duration_seconds",
        "gauge",
        "Duration of the last run.",
        vec![(job.clone(), run.seconds())],
    );
    family(
        "recon_run_timestamp_seconds",
        "gauge",
        "When the last run finished (Unix time).",
        vec![(job.clone(), finished)],
    );
    let results = run.results;
    family(
        "recon_check_status",
        "gauge",
        "Outcome of each check or table: 0 pass, 1 warn, 2 fail, 3 error.",
        results
            .iter()
            .map(|r| (check(&r.name), r.status as u8 as f64))
            .collect(),
    );
    family(
        "recon_check_duration_seconds",
        "gauge",
        "Duration of each check or table.",
        results
            .iter()
            .map(|r| (check(&r.name), r.seconds))
            .collect(),
    );
    family(
        "recon_rows",
        "gauge",
        "Rows of each side of each check or table.",
        results
            .iter()
            .filter_map(|r| r.report.as_ref().map(|rep| (r, rep)))
            .flat_map(|(r, rep)| {
                [
                    (with(&r.name, "side", "left"), rep.summary.left_rows as f64),
                    (
                        with(&r.name, "side", "right"),
                        rep.summary.right_rows as f64,
                    ),
                ]
            })
            .collect(),
    );
    family(
        "recon_differences",
        "gauge",
        "Differences of each check or table, by kind.",
        results
            .iter()
            .filter_map(|r| r.report.as_ref().map(|rep| (r, rep)))
            .flat_map(|(r, rep)| {
                let s = &rep.summary;
                let transient = rep.transient.as_ref().map_or(0, |t| t.keys.len()) as f64;
                [
                    ("only_left", s.only_left as f64),
                    ("only_right", s.only_right as f64),
                    ("changed", s.changed as f64),
                    ("duplicate_keys", s.duplicate_keys as f64),
                    ("null_keys", s.null_keys as f64),
                    ("transient", transient),
                ]
                .map(|(kind, n)| (with(&r.name, "kind", kind), n))
            })
            .collect(),
    );
    let mut successes = earlier.clone();
    for r in results.iter().filter(|r| r.status <= Status::Warn) {
        successes.insert(r.name.clone(), finished);
    }
    family(
        LAST_SUCCESS,
        "gauge",
        "When each check or table last passed (Unix time).",
        successes
            .iter()
            .map(|(name, t)| (check(name), *t))
            .collect(),
    );
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_escape_and_come_back() {
        for name in ["plain", "a\"b", "back\\slash", "two\nlines", "x\\\"y"] {
            assert_eq!(unlabel(&label(name)), name);
        }
    }
}
