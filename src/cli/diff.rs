//! `recon diff LEFT RIGHT --key COLS`: compare two sources.
//!
//! Exit 0 when they agree, 1 when they differ, 2 when they cannot be compared.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use recon::report::{self, Verdict};
use recon::rules::check::CheckResult;
use recon::rules::{ColumnRule, TypeClass};
use recon::snapshot::Snapshot;
use recon::source::{self, OpenOptions};
use recon::{Error, Result, Selection, Side, Spec};

use super::{EXIT_DIFFERENT, EXIT_EQUAL};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Ndjson,
    Markdown,
    /// One self-contained page (inline CSS and SVG; nothing is fetched).
    Html,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Left source: a file, directory or glob (Parquet, CSV, NDJSON, Arrow IPC);
    /// prefix with `parquet:`, `csv:`, `tsv:`, `ndjson:` or `arrow:` to name the format.
    pub left: String,
    /// Right source, same forms as LEFT.
    pub right: String,
    /// Key column(s), comma-separated [default for database tables: the
    /// primary key, else a unique index over NOT NULL columns].
    #[arg(short, long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// When both sides name a database and no table: compare only the
    /// tables these comma-separated glob patterns match (`!` leaves out; a
    /// pattern with a dot matches `schema.table`, others the table name).
    #[arg(long, value_name = "PATTERNS")]
    pub tables: Option<String>,
    /// Compare only these columns (besides the key), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Leave these columns out of the comparison, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Take the key, columns, mapping, comparison rules and report options
    /// from a rule file (its sources are not used; flags add to it).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<std::path::PathBuf>,
    /// Columns named differently on the right: LEFT=RIGHT, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "LEFT=RIGHT")]
    pub map: Vec<String>,
    /// Numbers equal within an absolute tolerance: COL=VALUE, comma-separated
    /// (`|l - r| <= abs + rel * |r|`).
    #[arg(long, value_delimiter = ',', value_name = "COL=VALUE")]
    pub abs_tol: Vec<String>,
    /// Numbers equal within a relative tolerance: COL=VALUE, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "COL=VALUE")]
    pub rel_tol: Vec<String>,
    /// Timestamps equal within a time: COL=DURATION (`1ms`, `2s`), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "COL=DURATION")]
    pub time_tol: Vec<String>,
    /// Ignore leading and trailing white space in these text columns (all text columns when none is named).
    #[arg(long, value_delimiter = ',', num_args = 0.., value_name = "COLS")]
    pub trim: Option<Vec<String>>,
    /// Ignore letter case in these text columns (all text columns when none is named).
    #[arg(long, value_delimiter = ',', num_args = 0.., value_name = "COLS")]
    pub ignore_case: Option<Vec<String>>,
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(short, long, value_enum)]
    pub format: Option<Format>,
    /// Write every differing row to this .parquet or .csv file.
    #[arg(long, value_name = "FILE")]
    pub output_diffs: Option<String>,
    /// Also write the report as one self-contained HTML page to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<String>,
    /// Also write JUnit XML here: one test case (per table, over whole databases).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<String>,
    /// List at most N differences (all are still counted).
    #[arg(long, value_name = "N")]
    pub max_diffs: Option<usize>,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Sessions per database for checksum queries (PostgreSQL shares one
    /// snapshot between them; MySQL/MariaDB starts them under a brief
    /// LOCK TABLES) [default: the rule file's, else 4].
    #[arg(long, value_name = "N")]
    pub db_threads: Option<usize>,
    /// Read both database sides whole instead of computing checksums inside them.
    #[arg(long)]
    pub no_pushdown: bool,
    /// Two tables of one PostgreSQL database are compared by one join inside
    /// it; this compares them by checksums instead.
    #[arg(long)]
    pub no_join: bool,
    /// Pause checksum queries while a server is busier than N: PostgreSQL
    /// sessions of others running a query, MySQL/MariaDB `Threads_running`.
    #[arg(long, value_name = "N")]
    pub max_load: Option<u64>,
    /// SQL over the left source to filter, project or fold it first: over a
    /// file it sees the file as table `t`; a database runs it as it is.
    #[arg(long, value_name = "SQL")]
    pub left_query: Option<String>,
    /// SQL over the right source (a file is table `t`).
    #[arg(long, value_name = "SQL")]
    pub right_query: Option<String>,
    /// CSV field delimiter (one ASCII character; `\t` or `tab` for tab).
    #[arg(long, default_value = ",")]
    pub delimiter: String,
    /// CSV files have no header line (columns are named column_1, column_2, ...).
    #[arg(long)]
    pub no_header: bool,
    /// Target rows per Merkle leaf: smaller leaves re-read fewer rows around each difference.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub leaf_rows: usize,
    /// Memory for per-row state (e.g. `2G`, `512M`; default a quarter of
    /// RAM, at most 1 GiB). Unsorted files' row fingerprints (24 bytes a row
    /// and side) beyond it go to a temporary file (TMPDIR) and come back a
    /// bucket at a time. NDJSON and Arrow IPC files larger than a quarter of
    /// it (at most 256 MiB) are decoded once into a temporary file, not into
    /// memory (CSV is read in place).
    #[arg(long, value_name = "SIZE", value_parser = super::parse_size)]
    pub memory_limit: Option<u64>,
    /// Hide the values of these columns (left or right names) in every
    /// output: report, differences file, repair backup. Adds to a rule file's mask.
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    pub mask: Vec<String>,
    /// Keep each side's Merkle leaves in DIR between runs: the next run
    /// re-hashes only the files that changed (size, times, inode; and the
    /// content of a file changed within seconds of a run) and re-reads only
    /// the rows of divergent ranges. For sources read from files.
    #[arg(long, value_name = "DIR")]
    pub state: Option<std::path::PathBuf>,
    /// When a side is a snapshot: write the divergent ranges to this file,
    /// for `recon extract` on the snapshot's source.
    #[arg(long, value_name = "FILE")]
    pub ranges_out: Option<String>,
    /// Compare only the rows whose key lies in the ranges of this file
    /// (written by --ranges-out), on both sides.
    #[arg(long, value_name = "FILE")]
    pub ranges: Option<String>,
    /// With --state: hash every file again and rewrite the state.
    #[arg(long, requires = "state")]
    pub full: bool,
    /// With --state and two databases: continue an unfinished run from the
    /// checksums it had finished (`no`: start afresh; a resumed run mixes
    /// two moments of the sources, and the report says so).
    #[arg(long, value_name = "yes|no", default_value = "yes", value_parser = ["yes", "no"])]
    pub resume: String,
    /// Hash the file sides on a Ballista cluster of recon executors
    /// (`df://HOST:PORT`, `recon cluster scheduler`): every executor reads
    /// the files at the same paths; digests and the rows of divergent
    /// ranges come back. Needs a recon built with `--features cluster`.
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// With --cluster: how long a job may wait for a free executor before
    /// the run fails (`30s`, `10m`) [default: 2m].
    #[arg(long, value_name = "DURATION", requires = "cluster")]
    pub cluster_wait: Option<String>,
    /// Print the SQL each database would be sent (sessions, isolation,
    /// checksum and fetch queries) and stop, without running any of it.
    #[arg(long)]
    pub explain: bool,
    /// Never draw a progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Live sources: read the differing keys again from both sides, up to N
    /// times (after --recheck-delay each); differences gone by then are
    /// reported as transient, and do not fail unless the rule file's
    /// `[gate] transient = "fail"` says so.
    #[arg(long, value_name = "N")]
    pub recheck: Option<u32>,
    /// The wait before each recheck (`500ms`, `2s`, `1m`) [default: 1s].
    #[arg(long, value_name = "DURATION")]
    pub recheck_delay: Option<String>,
    /// Leave out differences whose row has, on either side, a time in COL
    /// within DURATION of the run's start (rows still being written):
    /// COL=DURATION, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "COL=DURATION")]
    pub ignore_younger: Vec<String>,
    /// The comparison's name in JUnit, history and metrics [default: LEFT vs RIGHT].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub job: super::job::JobArgs,
}

/// `--map a=b,c=d` as left name → right name.
fn parse_map(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for pair in pairs {
        let Some((l, r)) = pair.split_once('=') else {
            return Err(Error::Usage(format!(
                "--map {pair}: expected LEFT=RIGHT (a left column name, '=', its right name)"
            )));
        };
        let (l, r) = (l.trim(), r.trim());
        if l.is_empty() || r.is_empty() {
            return Err(Error::Usage(format!(
                "--map {pair}: a column name is empty"
            )));
        }
        if map.insert(l.to_string(), r.to_string()).is_some() {
            return Err(Error::Usage(format!("--map: column {l:?} is mapped twice")));
        }
    }
    Ok(map)
}

/// The comparison-rule flags as rules per column (or for all text columns).
fn column_rules(args: &Args, selection: &mut Selection) -> Result<()> {
    let pairs = |flag: &str, values: &[String]| -> Result<Vec<(String, String)>> {
        values
            .iter()
            .map(|pair| match pair.split_once('=') {
                Some((c, v)) if !c.trim().is_empty() => {
                    Ok((c.trim().to_string(), v.trim().to_string()))
                }
                _ => Err(Error::Usage(format!(
                    "--{flag} {pair}: expected COLUMN=VALUE"
                ))),
            })
            .collect()
    };
    // The value's range is checked with the rest of the settings.
    let number = |flag: &str, column: &str, v: &str| -> Result<f64> {
        v.parse::<f64>().map_err(|_| {
            Error::Usage(format!(
                "--{flag} {column}={v}: expected a number, 0 or more"
            ))
        })
    };
    for (column, v) in pairs("abs-tol", &args.abs_tol)? {
        let value = number("abs-tol", &column, &v)?;
        selection.rules.entry(column).or_default().abs = Some(value);
    }
    for (column, v) in pairs("rel-tol", &args.rel_tol)? {
        let value = number("rel-tol", &column, &v)?;
        selection.rules.entry(column).or_default().rel = Some(value);
    }
    for (column, v) in pairs("time-tol", &args.time_tol)? {
        let time = recon::rules::Duration::parse(&v)
            .map_err(|why| Error::Usage(format!("--time-tol {column}={why}")))?;
        selection.rules.entry(column).or_default().time = Some(time);
    }
    // A text flag with no columns applies to every text column.
    let mut text_rule = |columns: &Option<Vec<String>>, set: fn(&mut ColumnRule)| match columns {
        None => {}
        Some(columns) if columns.is_empty() => {
            set(selection.default_rules.entry(TypeClass::Text).or_default());
        }
        Some(columns) => {
            for column in columns {
                set(selection
                    .rules
                    .entry(column.trim().to_string())
                    .or_default());
            }
        }
    };
    text_rule(&args.trim, |r| r.trim = Some(true));
    text_rule(&args.ignore_case, |r| r.case_insensitive = Some(true));
    Ok(())
}

/// A finished comparison, with what must outlive it (the sources' runtime).
pub struct Compared {
    pub outcome: recon::Comparison,
    pub sources: [std::sync::Arc<dyn source::Source>; 2],
    pub runtime: tokio::runtime::Runtime,
    pub spec: Spec,
    /// The rule file's `[repair]` section, if a rule file was given.
    pub repair: recon::rules::RepairRule,
    /// JSON and NDJSON list the differences from `outcome.rows`, a record at
    /// a time, up to `listed`; the report holds a sample of them.
    pub streamed: bool,
    /// `--max-diffs` (or the rule file's sample): how many to list.
    pub listed: Option<usize>,
}

/// Both sources open and the comparison's settings, before it runs.
pub struct Prepared {
    pub sources: [std::sync::Arc<dyn source::Source>; 2],
    pub runtime: tokio::runtime::Runtime,
    pub spec: Spec,
    pub repair: recon::rules::RepairRule,
    /// The rule file's gate and `[live]` section (defaults without a file).
    rules: (recon::rules::GateRule, recon::rules::LiveRule),
    diffs_file: Option<report::DiffsFile>,
    html_file: Option<report::OutputFile>,
    /// Where the key came from, when the catalog named it.
    key_note: Option<String>,
}

/// How `args` open file sources.
fn open_options(args: &Args, threads: usize) -> Result<OpenOptions> {
    Ok(OpenOptions {
        threads,
        delimiter: super::parse_delimiter(&args.delimiter)?,
        has_header: !args.no_header,
        in_memory_bytes: args.memory_limit.map_or(source::IN_MEMORY_BYTES, |m| {
            (m / 4).min(source::IN_MEMORY_BYTES)
        }),
        ..OpenOptions::default()
    })
}

/// Opens both sources and applies flags and rule file.
pub fn prepare(args: &Args) -> Result<Prepared> {
    let threads = super::thread_count(args.threads)?;
    if args.leaf_rows == 0 {
        return Err(Error::Usage("--leaf-rows must be at least 1".into()));
    }
    for side in [&args.left, &args.right] {
        if Snapshot::sniff(side).is_some() {
            return Err(Error::Usage(format!(
                "{side} is a snapshot: it holds digests, not rows, so only `recon diff` \
                 compares with it (no repair, no --explain, no --output-diffs)"
            )));
        }
    }
    let runtime = super::runtime(threads)?;
    let options = open_options(args, threads)?;
    // Open the output first: a bad path should fail before the work, not after.
    let diffs_file = args
        .output_diffs
        .as_deref()
        .map(report::DiffsFile::create)
        .transpose()?;
    let html_file = args
        .html
        .as_deref()
        .map(report::OutputFile::create)
        .transpose()?;
    let left = source::open(
        &args.left,
        args.left_query.as_deref(),
        Side::Left,
        &options,
        runtime.handle(),
    )?;
    let right = source::open(
        &args.right,
        args.right_query.as_deref(),
        Side::Right,
        &options,
        runtime.handle(),
    )?;
    let (mut spec, file) = build_spec(args, threads)?;
    let key_note = catalog_key(&mut spec, left.as_ref(), right.as_ref())?;
    spec.cluster = cluster_run(args, file.as_ref(), &options, [false; 2])?;
    let (left, right) = match &args.ranges {
        None => (left, right),
        Some(ranges) => {
            let right_key: Vec<String> = spec
                .selection
                .key
                .iter()
                .map(|k| spec.selection.right_name(k).to_string())
                .collect();
            let restrict = |s: &dyn source::Source, key: &[String], side| {
                recon::source::in_pool(threads, || {
                    recon::compare::rows_in_ranges(s, key, side, ranges)
                })
            };
            let l: std::sync::Arc<dyn source::Source> =
                std::sync::Arc::new(restrict(left.as_ref(), &spec.selection.key, Side::Left)?);
            let r: std::sync::Arc<dyn source::Source> =
                std::sync::Arc::new(restrict(right.as_ref(), &right_key, Side::Right)?);
            (l, r)
        }
    };
    Ok(Prepared {
        sources: [left, right],
        runtime,
        spec,
        repair: file
            .as_ref()
            .map(|f| f.rules.repair.clone())
            .unwrap_or_default(),
        rules: file
            .map(|f| (f.rules.gate, f.rules.live))
            .unwrap_or_default(),
        diffs_file,
        html_file,
        key_note,
    })
}

/// What `--cluster` (or the rule file's `[cluster] url`) hashes there: the
/// file sides (not snapshots), read at the same paths by every executor.
fn cluster_run(
    args: &Args,
    file: Option<&recon::rules::LoadedRules>,
    options: &OpenOptions,
    snapshots: [bool; 2],
) -> Result<Option<recon::compare::ClusterRun>> {
    let rule = file.map(|f| &f.rules.cluster);
    let Some(url) = args
        .cluster
        .clone()
        .or_else(|| rule.and_then(|r| r.url.clone()))
    else {
        return Ok(None);
    };
    for (used, flag) in [
        (args.state.is_some(), "--state"),
        (args.ranges.is_some(), "--ranges"),
    ] {
        if used {
            return Err(Error::Usage(format!(
                "--cluster hashes whole files on the cluster: {flag} cannot be used with it"
            )));
        }
    }
    let table = |text: &str, query: Option<&str>, side: Side| match snapshots[side as usize] {
        true => Ok(None),
        false => source::ClusterTable::for_side(text, query, side, options),
    };
    let tables = [
        table(&args.left, args.left_query.as_deref(), Side::Left)?,
        table(&args.right, args.right_query.as_deref(), Side::Right)?,
    ];
    let mut executor_wait = rule.map_or(recon::compare::EXECUTOR_WAIT, |r| r.executor_wait());
    if let Some(wait) = &args.cluster_wait {
        let wait = recon::rules::Duration::parse(wait)
            .map_err(|why| Error::Usage(format!("--cluster-wait {why}")))?;
        executor_wait = wait.to_std();
    }
    recon::compare::ClusterRun::new(url, tables, executor_wait).map(Some)
}

/// Without `--key` (or a rule file's key): the key the tables' catalogs
/// name; the note says where it came from.
fn catalog_key(
    spec: &mut Spec,
    left: &dyn source::Source,
    right: &dyn source::Source,
) -> Result<Option<String>> {
    if !spec.selection.key.is_empty() {
        return Ok(None);
    }
    let found = recon::rules::tables::catalog_key(
        left.as_database(),
        right.as_database(),
        &spec.selection.map,
    )?;
    let Some((key, from)) = found else {
        return Err(Error::Usage(
            "--key is needed: no side is a database table with a primary key or a unique \
             index over NOT NULL columns"
                .into(),
        ));
    };
    spec.selection.key = key;
    recon::rules::settings::check_selection(&spec.selection)
        .map_err(|p| Error::Usage(p.message))?;
    Ok(Some(format!(
        "key {}: {from}",
        spec.selection.key.join(", ")
    )))
}

/// The comparison's settings: the rule file's, then the flags over them,
/// checked as one.
fn build_spec(args: &Args, threads: usize) -> Result<(Spec, Option<recon::rules::LoadedRules>)> {
    let file = args.rules.as_deref().map(recon::rules::load).transpose()?;
    let mut spec = file.as_ref().map_or_else(
        || Spec {
            threads,
            ..Spec::default()
        },
        |f| f.rules.spec(threads),
    );
    let selection = &mut spec.selection;
    if !args.key.is_empty() {
        selection.key = args.key.clone();
    }
    selection.columns.extend(args.columns.iter().cloned());
    selection.exclude.extend(args.exclude.iter().cloned());
    selection.map.extend(parse_map(&args.map)?);
    column_rules(args, selection)?;
    recon::rules::settings::check_selection(selection).map_err(|p| Error::Usage(p.message))?;
    spec.max_diffs = args.max_diffs.or(spec.max_diffs);
    spec.leaf_rows = args.leaf_rows;
    spec.pushdown &= !args.no_pushdown;
    spec.join_in_database &= !args.no_join;
    if let Some(n) = args.db_threads {
        spec.db_threads = n.max(1);
    }
    spec.max_load = args.max_load.or(spec.max_load);
    if let Some(bytes) = args.memory_limit {
        spec.memory_limit = bytes;
    }
    spec.progress = !args.quiet && std::io::stderr().is_terminal();
    spec.state = args.state.clone();
    spec.full_rehash = args.full;
    spec.resume = args.resume == "yes";
    spec.mask
        .extend(args.mask.iter().map(|c| c.trim().to_string()));
    Ok((spec, file))
}

/// The rule file's `[live]` section with `--recheck`, `--recheck-delay`
/// and `--ignore-younger` over it.
fn live_rule(args: &Args, file: recon::rules::LiveRule) -> Result<recon::rules::LiveRule> {
    let mut live = file;
    if args.recheck.is_some() {
        live.recheck = args.recheck;
    }
    if let Some(delay) = &args.recheck_delay {
        live.recheck_delay = Some(
            recon::rules::Duration::parse(delay)
                .map_err(|why| Error::Usage(format!("--recheck-delay {why}")))?,
        );
    }
    for (column, age) in recon::compare::recheck::parse_ignore_younger(&args.ignore_younger)? {
        live.ignore_younger.insert(
            column,
            recon::rules::Duration {
                nanos: age.as_nanos().min(i64::MAX as u128) as i64,
            },
        );
    }
    Ok(live)
}

/// `--recheck` and `--ignore-younger` (or the rule file's `[live]`), when given.
fn settle_options(
    args: &Args,
    (gate, file): &(recon::rules::GateRule, recon::rules::LiveRule),
) -> Result<Option<recon::compare::recheck::Settle>> {
    let live = live_rule(args, file.clone())?;
    let Some(settle) = live.settle(gate, *STARTED.get_or_init(chrono::Utc::now), None) else {
        return Ok(None);
    };
    if args.output_diffs.is_some() {
        return Err(Error::Usage(
            "--output-diffs writes the rows of the first read; with --recheck or \
             --ignore-younger the report's differences are those that lasted: use the JSON report"
                .into(),
        ));
    }
    Ok(Some(settle))
}

/// When the run started: `--ignore-younger` measures ages from it.
pub static STARTED: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();

/// Opens both sources, applies flags and rule file, and compares (no
/// rechecks: what a repair patches is what it read).
pub fn compare(args: &Args) -> Result<Compared> {
    compare_with(args, false)
}

/// [`compare`], then, `for_report` (the run whose report `recon diff`
/// prints), the rechecks and young rows that `--recheck`, `--ignore-younger`
/// or the rule file's `[live]` ask for, and only the difference records the
/// outputs show.
fn compare_with(args: &Args, for_report: bool) -> Result<Compared> {
    let Prepared {
        sources,
        runtime,
        mut spec,
        repair,
        rules,
        diffs_file,
        html_file,
        key_note,
    } = prepare(args)?;
    let [left, right] = &sources;
    let settle = match for_report {
        true => settle_options(args, &rules)?,
        false => None,
    };
    let listed = spec.max_diffs;
    // JSON and NDJSON list every difference: from the rows, a record at a
    // time, unless rechecks rewrote the list (then the report holds it whole).
    let streamed = for_report && lists_every_diff(args) && settle.is_none();
    if for_report && (streamed || !lists_every_diff(args)) {
        spec.max_diffs = records_kept(args, listed);
    }
    let mut first = spec.clone();
    if settle.is_some() {
        // Every difference is listed, to be judged again; the limit applies after.
        first.max_diffs = None;
    }
    let mut outcome = recon::diff(left.as_ref(), right.as_ref(), &first)?;
    outcome.report.schema.notes.extend(key_note);
    if let Some(settle) = settle {
        let threads = spec.threads;
        let options = open_options(args, threads)?;
        let reopen = |side: Side, query: Option<String>| {
            let (text, given) = match side {
                Side::Left => (&args.left, &args.left_query),
                Side::Right => (&args.right, &args.right_query),
            };
            let query = query.or_else(|| given.clone());
            source::open(text, query.as_deref(), side, &options, runtime.handle())
        };
        recon::compare::recheck::settle(
            &mut outcome.report,
            &spec,
            &settle,
            [left.as_ref(), right.as_ref()],
            &reopen,
        )?;
    }
    if let Some(file) = diffs_file {
        outcome.write_diffs_to(file)?;
    }
    if let Some(mut file) = html_file {
        let path = file.path().to_string();
        report::write_html(&outcome.report, &mut file, &path)?;
        file.commit()?;
    }
    Ok(Compared {
        outcome,
        sources,
        runtime,
        spec,
        repair,
        streamed,
        listed,
    })
}

pub fn run(args: Args) -> Result<u8> {
    let started = *STARTED.get_or_init(super::job::start);
    let mut results = Vec::new();
    let outcome = execute(&args, &mut results);
    super::job::finish(
        &args.job,
        started,
        &comparison_name(&args),
        outcome,
        results,
    )
}

/// The comparison's name: `--name`, else `LEFT vs RIGHT` (passwords hidden).
pub fn comparison_name(args: &Args) -> String {
    args.name.clone().unwrap_or_else(|| {
        format!(
            "{} vs {}",
            recon::source::url::redact(&args.left),
            recon::source::url::redact(&args.right)
        )
    })
}

/// Runs the comparison; `results` receives what the run's record keeps.
fn execute(args: &Args, results: &mut Vec<CheckResult>) -> Result<u8> {
    if let Some((left, right)) = recon::rules::tables::whole_databases(
        &args.left,
        &args.right,
        args.left_query.as_deref(),
        args.right_query.as_deref(),
    )? {
        if args.cluster.is_some() {
            return Err(Error::Usage(
                "--cluster hashes file sides: both sides are databases, whose checksums run in them"
                    .into(),
            ));
        }
        return run_tables(args, left, right, results);
    }
    if args.explain {
        let prepared = prepare(args)?;
        let [left, right] = &prepared.sources;
        let text = recon::explain(left.as_ref(), right.as_ref(), &prepared.spec)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").map_err(|e| Error::Output {
            path: "standard output".into(),
            message: e.to_string(),
        })?;
        return Ok(EXIT_EQUAL);
    }
    let snapshots = [&args.left, &args.right].map(|a| Snapshot::sniff(a).is_some());
    if snapshots.contains(&true) {
        return run_with_snapshot(args, snapshots, results);
    }
    let Compared {
        outcome,
        sources,
        runtime,
        streamed,
        listed,
        ..
    } = compare_with(args, true)?;
    let listing = streamed.then(|| report::Listing {
        records: report::DiffRecords::new(&outcome.plan, &outcome.rows),
        diffs: &outcome.rows.diffs,
        limit: listed,
        mask: &outcome.mask,
    });
    print_report(args, &outcome.report, listing.as_ref())?;
    keep_result(args, &outcome.report, results)?;
    // The output is kept until here so that runtime teardown never races the report.
    drop((sources, runtime));
    Ok(exit_code(outcome.report.verdict))
}

/// The comparison as a result, where JUnit, history or metrics want it
/// (a report with many differences is large: kept only then).
pub fn keep_result(
    args: &Args,
    report: &recon::Report,
    results: &mut Vec<CheckResult>,
) -> Result<()> {
    if args.junit.is_none() && args.job.history.is_none() && args.job.metrics.is_none() {
        return Ok(());
    }
    results.push(single_result(args, report));
    match &args.junit {
        Some(path) => write_junit(path, results),
        None => Ok(()),
    }
}

/// JUnit XML for one comparison: one test case, failed when the sources differ.
fn write_junit(path: &str, results: &[CheckResult]) -> Result<()> {
    let mut file = report::OutputFile::create(path)?;
    report::checks::write_checks_junit(results, &mut file, path, report::checks::Kind::Checks)?;
    file.commit()
}

/// One comparison as a result: failed when the sources differ, warned on
/// what the default gate warns of (NULL keys).
pub fn single_result(args: &Args, report: &recon::Report) -> CheckResult {
    let gate = recon::rules::GateRule::default();
    let (status, reasons) = recon::rules::check::evaluate(&gate, report);
    let status = match report.verdict {
        Verdict::Different => status.max(recon::rules::check::Status::Fail),
        Verdict::Equal => recon::rules::check::Status::Pass,
    };
    CheckResult {
        name: comparison_name(args),
        file: String::new(),
        status,
        reasons,
        notes: Vec::new(),
        seconds: report.stats.seconds_total,
        aggregates: Vec::new(),
        report: Some(report.clone()),
    }
}

/// `recon diff DB DB`: every table, one result each.
fn run_tables(
    args: &Args,
    left: recon::source::url::DatabaseUrl,
    right: recon::source::url::DatabaseUrl,
    results: &mut Vec<CheckResult>,
) -> Result<u8> {
    let refused = [
        (args.explain, "--explain"),
        (args.output_diffs.is_some(), "--output-diffs"),
        (args.state.is_some(), "--state"),
        (args.ranges.is_some(), "--ranges"),
        (args.ranges_out.is_some(), "--ranges-out"),
    ];
    if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
        return Err(Error::Usage(format!(
            "{flag} applies to one table: name it with ?table= in the URLs \
             (both sides name a database, so every table is compared)"
        )));
    }
    let threads = super::thread_count(args.threads)?;
    let create = |path: &String| report::OutputFile::create(path);
    let files = super::check::Files {
        junit: args.junit.as_ref().map(create).transpose()?,
        markdown: None,
        html: args.html.as_ref().map(create).transpose()?,
    };
    let runtime = super::runtime(threads)?;
    let (spec, file) = build_spec(args, threads)?;
    let (gate, mut tables, table, live) = match file {
        Some(f) => (f.rules.gate, f.rules.tables, f.rules.table, f.rules.live),
        None => Default::default(),
    };
    let live = live_rule(args, live)?;
    if let Some(patterns) = &args.tables {
        let flags = recon::rules::tables::parse_filter(patterns);
        tables.include.extend(flags.include);
        tables.exclude.extend(flags.exclude);
    }
    recon::rules::tables::check_rules(&tables, &table).map_err(|p| Error::Usage(p.message))?;
    let run = recon::rules::tables::TablesRun {
        left: &left,
        right: &right,
        tables: &tables,
        table: &table,
        spec: &spec,
        gate: &gate,
        live: &live,
        prefix: String::new(),
        file: format!("{left} vs {right}"),
    };
    *results = recon::rules::tables::run(&run, runtime.handle())?;
    let format = args.format.map(|f| match f {
        Format::Table => super::check::Shown::Table,
        Format::Json => super::check::Shown::Json,
        Format::Ndjson => super::check::Shown::Ndjson,
        Format::Markdown => super::check::Shown::Markdown,
        Format::Html => super::check::Shown::Html,
    });
    let worst = super::check::emit(results, report::checks::Kind::Tables, format, files)?;
    drop(runtime);
    use recon::rules::check::Status;
    Ok(match worst {
        Status::Error => super::EXIT_ERROR,
        Status::Fail => EXIT_DIFFERENT,
        Status::Warn | Status::Pass => EXIT_EQUAL,
    })
}

/// `recon diff` where a side (or both) is a snapshot.
fn run_with_snapshot(
    args: &Args,
    snapshots: [bool; 2],
    results: &mut Vec<CheckResult>,
) -> Result<u8> {
    let threads = super::thread_count(args.threads)?;
    if args.explain || args.output_diffs.is_some() || args.state.is_some() || args.ranges.is_some()
    {
        return Err(Error::Usage(
            "a snapshot holds digests, not rows: --explain, --output-diffs, --state and \
             --ranges do not apply to a comparison with one"
                .into(),
        ));
    }
    let html_file = args
        .html
        .as_deref()
        .map(report::OutputFile::create)
        .transpose()?;
    let runtime = super::runtime(threads)?;
    let options = open_options(args, threads)?;
    let (mut spec, file) = build_spec(args, threads)?;
    if !lists_every_diff(args) {
        spec.max_diffs = records_kept(args, spec.max_diffs);
    }
    if spec.selection.key.is_empty() {
        return Err(Error::Usage(
            "--key is needed: a snapshot names no key of its own".into(),
        ));
    }
    spec.cluster = cluster_run(args, file.as_ref(), &options, snapshots)?;
    let read = |path: &str, is: bool| is.then(|| Snapshot::read(path)).transpose();
    let left_snap = read(&args.left, snapshots[0])?;
    let right_snap = read(&args.right, snapshots[1])?;
    let open = |text: &str, query: Option<&str>, side: Side, is: bool| {
        (!is)
            .then(|| source::open(text, query, side, &options, runtime.handle()))
            .transpose()
    };
    let left_live = open(
        &args.left,
        args.left_query.as_deref(),
        Side::Left,
        snapshots[0],
    )?;
    let right_live = open(
        &args.right,
        args.right_query.as_deref(),
        Side::Right,
        snapshots[1],
    )?;
    let outcome = recon::compare::diff_with_snapshot(
        side_input(left_snap.as_ref(), &args.left, left_live.as_deref())?,
        side_input(right_snap.as_ref(), &args.right, right_live.as_deref())?,
        &spec,
        args.ranges_out.as_deref(),
    )?;
    if let Some(mut file) = html_file {
        let path = file.path().to_string();
        report::write_html(&outcome.report, &mut file, &path)?;
        file.commit()?;
    }
    print_report(args, &outcome.report, None)?;
    keep_result(args, &outcome.report, results)?;
    drop((left_live, right_live, runtime));
    Ok(exit_code(outcome.report.verdict))
}

fn side_input<'a>(
    snapshot: Option<&'a Snapshot>,
    path: &'a str,
    live: Option<&'a dyn source::Source>,
) -> Result<recon::compare::SideInput<'a>> {
    match (snapshot, live) {
        (Some(snapshot), _) => Ok(recon::compare::SideInput::Snapshot { snapshot, path }),
        (None, Some(live)) => Ok(recon::compare::SideInput::Live(live)),
        (None, None) => Err(Error::Internal("a side with no input".into())),
    }
}

/// The exit code of a verdict.
fn exit_code(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Equal => EXIT_EQUAL,
        Verdict::Different => EXIT_DIFFERENT,
    }
}

/// The format the report is printed in: as asked, else a table on a
/// terminal and JSON otherwise.
fn shown_format(args: &Args) -> Format {
    args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    })
}

/// Whether the printed report lists every difference (JSON, NDJSON).
fn lists_every_diff(args: &Args) -> bool {
    matches!(shown_format(args), Format::Json | Format::Ndjson)
}

/// How many difference records the report itself needs, at most `listed`:
/// the table, Markdown and HTML show a sample and `--history` keeps the
/// first keys. A record (the key and both rows rendered) for each of a
/// million differences would cost seconds and gigabytes; JSON lists them
/// from the rows a record at a time, and the counts stay exact either way.
fn records_kept(args: &Args, listed: Option<usize>) -> Option<usize> {
    let mut kept = report::TABLE_SAMPLE.max(report::HTML_SAMPLE);
    if args.job.history.is_some() {
        // One more than it stores, so that it knows whether it stored all.
        kept = kept.max(recon::history::KEYS_PER_CHECK + 1);
    }
    Some(listed.map_or(kept, |n| n.min(kept)))
}

/// Prints the report in the format asked for (table on a terminal, JSON
/// otherwise); JSON and NDJSON list the differences from `listing` when given.
fn print_report(
    args: &Args,
    report: &recon::Report,
    listing: Option<&report::Listing<'_>>,
) -> Result<()> {
    let stdout = std::io::stdout();
    let format = shown_format(args);
    let sample = args
        .max_diffs
        .unwrap_or(usize::MAX)
        .min(report::TABLE_SAMPLE);
    let mut out = std::io::BufWriter::new(stdout.lock());
    match format {
        Format::Table => report::write_table(report, &mut out, sample)?,
        Format::Json => match listing {
            Some(listing) => report::write_json_listing(report, listing, &mut out)?,
            None => report::write_json(report, &mut out)?,
        },
        Format::Ndjson => match listing {
            Some(listing) => report::write_ndjson_listing(report, listing, &mut out)?,
            None => report::write_ndjson(report, &mut out)?,
        },
        Format::Markdown => report::write_markdown(report, &mut out, sample)?,
        Format::Html => report::write_html(report, &mut out, "standard output")?,
    }
    out.flush().map_err(|e| Error::Output {
        path: "standard output".into(),
        message: e.to_string(),
    })
}
