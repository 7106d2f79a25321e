//! Running one rule file: open both sources, compare them under the file's
//! rules, and let the gate turn the report into pass, warn or fail.

use std::time::Instant;

use super::{GateRule, Level, LoadedRules, Threshold, expand_env};
use crate::aggregate::{AggregateFinding, AggregateSpec};
use crate::error::{Error, Result, Side, one_line};
use crate::report::{MASKED, Mask, Report};
use crate::source::{self, OpenOptions};

/// The outcome of one check, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

/// One rule file, run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckResult {
    pub name: String,
    pub file: String,
    pub status: Status,
    /// Why the check warned or failed (each finding over its threshold), or the error.
    pub reasons: Vec<String>,
    /// What the reader should know besides (where a table's key came from).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub seconds: f64,
    /// Aggregates compared (when the file asks for them).
    pub aggregates: Vec<AggregateFinding>,
    /// The comparison's report (absent on an error, or without a key).
    pub report: Option<Report>,
}

/// Runs one loaded rule file: one result, or one per table when both
/// sources name a whole database. Errors become a result with status `error`.
pub fn run_all(
    loaded: &LoadedRules,
    threads: usize,
    runtime: &tokio::runtime::Handle,
    state: Option<&std::path::Path>,
) -> Vec<CheckResult> {
    let rules = &loaded.rules;
    let started = Instant::now();
    let databases = (|| {
        let text = |rule: &super::SourceRule| expand_env(&rule.source);
        let (Ok(left), Ok(right)) = (text(&rules.left), text(&rules.right)) else {
            return Ok(None);
        };
        super::tables::whole_databases(
            &left,
            &right,
            rules.left.query.as_deref(),
            rules.right.query.as_deref(),
        )
    })();
    let failed = |e: Error| CheckResult {
        name: loaded.name(),
        file: loaded.path.display().to_string(),
        status: Status::Error,
        reasons: vec![crate::source::url::redact(&one_line(e))],
        notes: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
        aggregates: Vec::new(),
        report: None,
    };
    match databases {
        Ok(None) => vec![run(loaded, threads, runtime, state)],
        Err(e) => vec![failed(e)],
        Ok(Some((left, right))) => {
            crate::canon::keyed::reset();
            let spec = rules.spec(threads);
            let tables = super::tables::TablesRun {
                left: &left,
                right: &right,
                tables: &rules.tables,
                table: &rules.table,
                spec: &spec,
                gate: &rules.gate,
                live: &rules.live,
                prefix: format!("{}/", loaded.name()),
                file: loaded.path.display().to_string(),
            };
            super::tables::run(&tables, runtime).unwrap_or_else(|e| vec![failed(e)])
        }
    }
}

/// Runs one check; with `state`, its comparison keeps state in the
/// check's own directory under it (named after the check).
pub fn run(
    loaded: &LoadedRules,
    threads: usize,
    runtime: &tokio::runtime::Handle,
    state: Option<&std::path::Path>,
) -> CheckResult {
    let started = Instant::now();
    // Each check draws its own digest key (or adopts a snapshot's or a
    // state's): checks run one after another.
    crate::canon::keyed::reset();
    // The check's name as one safe path component.
    let directory: String = loaded
        .name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let state = state.map(|dir| dir.join(directory));
    let (status, reasons, aggregates, report) = match compare(loaded, threads, runtime, state) {
        Ok((aggregates, report)) => {
            let (mut status, mut reasons) = match &report {
                Some(report) => evaluate(&loaded.rules.gate, report),
                None => (Status::Pass, Vec::new()),
            };
            let level = loaded
                .rules
                .aggregates
                .as_ref()
                .map_or(Level::Fail, |a| a.level);
            for f in aggregates.iter().filter(|f| !f.equal) {
                let status_of = match level {
                    Level::Ignore => continue,
                    Level::Warn => Status::Warn,
                    Level::Fail => Status::Fail,
                };
                status = status.max(status_of);
                reasons.push(aggregate_reason(f));
            }
            (status, reasons, aggregates, report)
        }
        Err(e) => (
            Status::Error,
            vec![crate::source::url::redact(&one_line(e))],
            Vec::new(),
            None,
        ),
    };
    CheckResult {
        name: loaded.name(),
        file: loaded.path.display().to_string(),
        status,
        reasons,
        notes: Vec::new(),
        seconds: started.elapsed().as_secs_f64(),
        aggregates,
        report,
    }
}

/// `sum(price) [group "EU"]: 10.5 vs 11`.
pub(super) fn aggregate_reason(f: &AggregateFinding) -> String {
    let metric = serde_json::to_value(f.metric)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let what = match &f.column {
        Some(c) => format!("{metric}({c})"),
        None => metric,
    };
    let group = f
        .group
        .as_ref()
        .map_or(String::new(), |g| format!(" [group {g}]"));
    format!("{what}{group}: {} vs {}", f.left, f.right)
}

/// A side of a comparison with a snapshot: the snapshot, or the opened source.
fn side_input<'a>(
    snapshot: &'a Option<(String, crate::snapshot::Snapshot)>,
    live: &'a Option<std::sync::Arc<dyn source::Source>>,
) -> Result<crate::compare::SideInput<'a>> {
    match (snapshot, live) {
        (Some((path, snapshot)), _) => Ok(crate::compare::SideInput::Snapshot { snapshot, path }),
        (None, Some(live)) => Ok(crate::compare::SideInput::Live(live.as_ref())),
        (None, None) => Err(Error::Internal("a side with no input".into())),
    }
}

fn compare(
    loaded: &LoadedRules,
    threads: usize,
    runtime: &tokio::runtime::Handle,
    state: Option<std::path::PathBuf>,
) -> Result<(Vec<AggregateFinding>, Option<Report>)> {
    let rules = &loaded.rules;
    let at = |message: String| Error::Rules {
        path: loaded.path.display().to_string(),
        line: None,
        message,
    };
    // A side's location, query and reading options, as the rule file says.
    let side_args = |side: Side| -> Result<(String, Option<String>, OpenOptions)> {
        let rule = match side {
            Side::Left => &rules.left,
            Side::Right => &rules.right,
        };
        let location =
            expand_env(&rule.source).map_err(|why| at(format!("[{side}] source: {why}")))?;
        let query = rule
            .query
            .as_deref()
            .map(expand_env)
            .transpose()
            .map_err(|why| at(format!("[{side}] query: {why}")))?;
        let delimiter = match rule.delimiter.as_deref() {
            None => b',',
            Some(d) => super::settings::delimiter(d).map_err(|m| at(format!("[{side}] {m}")))?,
        };
        let options = OpenOptions {
            threads,
            delimiter,
            has_header: rule.header.unwrap_or(true),
            ..OpenOptions::default()
        };
        Ok((location, query, options))
    };
    let open = |side: Side| -> Result<std::sync::Arc<dyn source::Source>> {
        let (location, query, options) = side_args(side)?;
        source::open(&location, query.as_deref(), side, &options, runtime)
    };
    // `[cluster]`: the file sides (not snapshots) hashed on a cluster.
    let cluster = |snapshot: [bool; 2]| -> Result<Option<crate::compare::ClusterRun>> {
        let Some(url) = &rules.cluster.url else {
            return Ok(None);
        };
        let table = |side: Side| -> Result<Option<source::ClusterTable>> {
            if snapshot[side as usize] {
                return Ok(None);
            }
            let (location, query, options) = side_args(side)?;
            source::ClusterTable::for_side(&location, query.as_deref(), side, &options)
        };
        if state.is_some() {
            return Err(at(
                "[cluster] hashes whole files on the cluster: --state does not apply".into(),
            ));
        }
        let tables = [table(Side::Left)?, table(Side::Right)?];
        let url = expand_env(url).map_err(|why| at(format!("[cluster] url: {why}")))?;
        crate::compare::ClusterRun::new(url, tables, rules.cluster.executor_wait())
            .map_err(|e| at(format!("[cluster]: {e}")))
            .map(Some)
    };
    // A snapshot side holds digests, not rows: compared by digest alone.
    let snapshot_of = |side: Side| -> Result<Option<(String, crate::snapshot::Snapshot)>> {
        let rule = match side {
            Side::Left => &rules.left,
            Side::Right => &rules.right,
        };
        let location =
            expand_env(&rule.source).map_err(|why| at(format!("[{side}] source: {why}")))?;
        match crate::snapshot::Snapshot::sniff(&location) {
            Some(_) => Ok(Some((
                location.clone(),
                crate::snapshot::Snapshot::read(&location)?,
            ))),
            None => Ok(None),
        }
    };
    let snapshots = [snapshot_of(Side::Left)?, snapshot_of(Side::Right)?];
    if snapshots.iter().any(Option::is_some) {
        if rules.aggregates.is_some() || rules.key.is_empty() {
            return Err(at(
                "a snapshot side holds digests, not rows: it needs a key and takes no \
                 [aggregates]"
                    .into(),
            ));
        }
        let live = [Side::Left, Side::Right].map(|side| match snapshots[side as usize] {
            Some(_) => Ok(None),
            None => open(side).map(Some),
        });
        let [left_live, right_live] = live;
        let (left_live, right_live) = (left_live?, right_live?);
        let mut spec = rules.spec(threads);
        spec.cluster = cluster([snapshots[0].is_some(), snapshots[1].is_some()])?;
        let report = crate::compare::diff_with_snapshot(
            side_input(&snapshots[0], &left_live)?,
            side_input(&snapshots[1], &right_live)?,
            &spec,
            None,
        )?
        .report;
        write_files(&rules.report, &report)?;
        return Ok((Vec::new(), Some(report)));
    }
    let (left, right) = (open(Side::Left)?, open(Side::Right)?);
    let aggregates = match &rules.aggregates {
        None => Vec::new(),
        Some(a) => {
            let spec = AggregateSpec {
                metrics: a.metrics.clone().unwrap_or_else(|| {
                    use crate::aggregate::Metric::*;
                    vec![Count, Nulls, Sum, Min, Max, CountDistinct]
                }),
                columns: a.columns.clone(),
                map: rules.columns.map.clone(),
                group_by: a.group_by.clone(),
                abs: a.abs,
                rel: a.rel,
            };
            let mut findings = source::in_pool(threads, || {
                crate::aggregate::compare(left.as_ref(), right.as_ref(), &spec)
            })?;
            let mask = Mask::by_names(&rules.report.mask, &rules.columns.map);
            mask_aggregates(&mut findings, &mask, a.group_by.as_deref());
            findings
        }
    };
    let mut spec = rules.spec(threads);
    spec.cluster = cluster([false; 2])?;
    if rules.key.is_empty() {
        if rules.aggregates.is_some() {
            return Ok((aggregates, None));
        }
        // A database table's key from its catalog; nothing else passes
        // without a comparison.
        let found = super::tables::catalog_key(
            left.as_database(),
            right.as_database(),
            &rules.columns.map,
        )?;
        let Some((key, _)) = found else {
            return Err(at(
                "no key: name one (`key = [...]`), or compare database tables that have a \
                 primary key or a unique index over NOT NULL columns"
                    .into(),
            ));
        };
        spec.selection.key = key;
        super::settings::check_selection(&spec.selection).map_err(|p| at(p.message))?;
    }
    spec.state = state;
    let settle = rules.live.settle(&rules.gate, chrono::Utc::now(), None);
    let mut first = spec.clone();
    if settle.is_some() {
        first.max_diffs = None;
    }
    let mut report = crate::diff(left.as_ref(), right.as_ref(), &first)?.report;
    if let Some(settle) = settle {
        let reopen = |side: Side, query: Option<String>| match query {
            Some(query) => {
                let rule = match side {
                    Side::Left => &rules.left,
                    Side::Right => &rules.right,
                };
                let location = expand_env(&rule.source)
                    .map_err(|why| at(format!("[{side}] source: {why}")))?;
                let options = OpenOptions {
                    threads,
                    ..OpenOptions::default()
                };
                source::open(&location, Some(&query), side, &options, runtime)
            }
            None => open(side),
        };
        crate::compare::recheck::settle(
            &mut report,
            &spec,
            &settle,
            [left.as_ref(), right.as_ref()],
            &reopen,
        )?;
    }
    write_files(&rules.report, &report)?;
    Ok((aggregates, Some(report)))
}

/// Hides the values of masked columns in aggregate findings: a masked
/// column's sums, minima and maxima, and a group named by a masked value.
pub(super) fn mask_aggregates(
    findings: &mut [AggregateFinding],
    mask: &Mask,
    group_by: Option<&str>,
) {
    let group_hidden = group_by.is_some_and(|g| mask.hides(g));
    for f in findings {
        // A mapped column is named `left→right`.
        let hidden = |c: &str| c.split('→').any(|name| mask.hides(name));
        if f.column.as_deref().is_some_and(hidden) {
            f.left = MASKED.into();
            f.right = MASKED.into();
        }
        if f.group.is_some() && group_hidden {
            f.group = Some(MASKED.into());
        }
    }
}

/// The report files a rule file asks for (parent directories created).
fn write_files(options: &super::ReportRule, report: &Report) -> Result<()> {
    type Render = fn(&Report, &mut dyn std::io::Write, usize) -> Result<()>;
    let sample = options.sample.unwrap_or(crate::report::TABLE_SAMPLE);
    let files: [(&Option<String>, Render); 3] = [
        (&options.json, |r, out, _| crate::report::write_json(r, out)),
        (&options.markdown, crate::report::write_markdown),
        (&options.table, crate::report::write_table),
    ];
    for (path, render) in files {
        let Some(path) = path else { continue };
        let fail = |e: std::io::Error| Error::Output {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut file = std::io::BufWriter::new(crate::report::OutputFile::create(path)?);
        render(report, &mut file, sample)?;
        file.into_inner()
            .map_err(|e| fail(e.into_error()))?
            .commit()?;
    }
    Ok(())
}

/// The gate: each finding against its threshold. With no count or ratio
/// threshold set, any difference fails (the sources should agree).
pub fn evaluate(gate: &GateRule, report: &Report) -> (Status, Vec<String>) {
    // Against a snapshot, differences cannot be counted, only located.
    if let Some(snapshot) = &report.snapshot {
        return match report.ranges.len() {
            0 => (Status::Pass, Vec::new()),
            n => (
                Status::Fail,
                vec![format!(
                    "{n} key ranges differ from the snapshot ({} rows of the live side in \
                     them; a snapshot holds no rows to count differences by)",
                    snapshot.live_rows_in_ranges
                )],
            ),
        };
    }
    let s = &report.summary;
    let mut status = Status::Pass;
    let mut reasons = Vec::new();
    let mut note = |level: Status, reason: String| {
        status = status.max(level);
        reasons.push(reason);
    };
    let any_threshold = gate.max_only_left.is_some()
        || gate.max_only_right.is_some()
        || gate.max_changed.is_some()
        || gate.max_diff_ratio.is_some();
    let zero = Threshold {
        warn: None,
        fail: Some(0.0),
    };
    let largest = s.left_rows.max(s.right_rows).max(1) as f64;
    let counts = [
        ("only_left", s.only_left as f64, gate.max_only_left),
        ("only_right", s.only_right as f64, gate.max_only_right),
        ("changed", s.changed as f64, gate.max_changed),
        (
            "diff_ratio",
            s.differences() as f64 / largest,
            gate.max_diff_ratio,
        ),
    ];
    for (name, value, threshold) in counts {
        let threshold = match threshold {
            Some(t) => t,
            None if !any_threshold && name != "diff_ratio" => zero,
            None => continue,
        };
        let show = |x: f64| {
            if name == "diff_ratio" {
                format!("{x:.6}")
            } else {
                format!("{x}")
            }
        };
        if let Some(fail) = threshold.fail
            && value > fail
        {
            note(
                Status::Fail,
                format!("{name} {} > fail {}", show(value), show(fail)),
            );
        } else if let Some(warn) = threshold.warn
            && value > warn
        {
            note(
                Status::Warn,
                format!("{name} {} > warn {}", show(value), show(warn)),
            );
        }
    }
    let level = |l: Level| match l {
        Level::Ignore => None,
        Level::Warn => Some(Status::Warn),
        Level::Fail => Some(Status::Fail),
    };
    if s.duplicate_keys > 0
        && let Some(l) = level(gate.duplicate_keys)
    {
        note(l, format!("{} duplicate keys", s.duplicate_keys));
    }
    if s.null_keys > 0
        && let Some(l) = level(gate.null_keys)
    {
        note(l, format!("{} rows with a NULL key", s.null_keys));
    }
    if let Some(t) = &report.transient {
        let gone = t.keys.len() as u64 + t.young;
        if gone > 0
            && let Some(l) = level(gate.transient)
        {
            note(
                l,
                format!(
                    "{} transient differences ({} gone when read again, {} on rows too young)",
                    gone,
                    t.keys.len(),
                    t.young
                ),
            );
        }
    }
    let schema = &report.schema;
    for c in &schema.left_only {
        note(
            Status::Fail,
            format!("column {} is missing on the right", c.name),
        );
    }
    for c in &schema.right_only {
        if !gate.allow_added_columns {
            note(
                Status::Fail,
                format!("column {} was added on the right", c.name),
            );
        }
    }
    for t in &schema.type_differences {
        let allowed = if t.widening {
            gate.allow_type_widening
        } else {
            gate.allow_type_changes
        };
        if !allowed {
            note(
                Status::Fail,
                format!(
                    "column {} changed type {} -> {}{}",
                    t.name,
                    t.left,
                    t.right,
                    if t.widening {
                        " (widening, not allowed)"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    if !gate.allow_nullability_changes {
        let says = |nullable: bool| if nullable { "nullable" } else { "NOT NULL" };
        for n in &schema.nullability_changes {
            note(
                Status::Fail,
                format!(
                    "column {} is {} on the left and {} on the right",
                    n.name,
                    says(n.left_nullable),
                    says(n.right_nullable)
                ),
            );
        }
    }
    (status, reasons)
}
