//! Rule files: one TOML file describes one reconciliation, its two sources,
//! key, column mapping, per-column comparison rules, the gate that turns
//! counts into a verdict, and report options. A scheduled job or a CI gate
//! runs it with `recon check`; `recon validate` checks it without data.
//!
//! Every mistake in a file (unknown key, wrong type, bad value) is reported
//! as `FILE:LINE: what is wrong (expected form)`, so it can be fixed without
//! reading this module.

pub mod check;
mod parse;
pub mod settings;
pub mod tables;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::canon::{ColumnRule, Duration, TypeClass};
pub use parse::Threshold;

use crate::error::{Error, Result};

/// One reconciliation, as written in a rule file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Shown in reports; the file name without `.toml` when absent.
    pub name: Option<String>,
    pub description: Option<String>,
    pub left: SourceRule,
    pub right: SourceRule,
    /// Key column(s), by their left-side names; may be left out when only
    /// aggregates are checked.
    #[serde(default)]
    pub key: Vec<String>,
    #[serde(default)]
    pub columns: ColumnsRule,
    /// Comparison rules per column (left-side name).
    #[serde(default)]
    pub compare: BTreeMap<String, ColumnRule>,
    /// Comparison rules for every column of a kind, unless the column has its own.
    #[serde(default)]
    pub defaults: BTreeMap<TypeClass, ColumnRule>,
    #[serde(default)]
    pub gate: GateRule,
    #[serde(default)]
    pub report: ReportRule,
    /// Aggregate checks (no key needed), run before the row comparison.
    pub aggregates: Option<AggregatesRule>,
    #[serde(default)]
    pub database: DatabaseRule,
    #[serde(default)]
    pub repair: RepairRule,
    /// Which tables a run over two whole databases compares, and their
    /// names on the right.
    #[serde(default)]
    pub tables: TablesRule,
    /// Settings of single tables in such a run, by their left name.
    #[serde(default)]
    pub table: BTreeMap<String, TableRule>,
    /// Live sources (a replica that lags): read differences again, leave
    /// young rows out.
    #[serde(default)]
    pub live: LiveRule,
    /// Hash file sides on a Ballista cluster.
    #[serde(default)]
    pub cluster: ClusterRule,
}

/// `[cluster]`: what `--cluster` says.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterRule {
    /// The scheduler, `df://HOST:PORT`.
    pub url: Option<String>,
    /// How long a job may wait for a free executor (default 2m).
    pub wait: Option<Duration>,
}

impl ClusterRule {
    /// The wait, as the comparison takes it.
    pub fn executor_wait(&self) -> std::time::Duration {
        self.wait
            .map_or(crate::compare::EXECUTOR_WAIT, Duration::to_std)
    }
}

/// `[live]`: what `--recheck`, `--recheck-delay` and `--ignore-younger` say.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveRule {
    /// Read the differing keys again up to this many times.
    pub recheck: Option<u32>,
    /// The wait before each recheck (default 1s).
    pub recheck_delay: Option<Duration>,
    /// Column (left name) → age: differences on rows younger are left out.
    #[serde(default)]
    pub ignore_younger: BTreeMap<String, Duration>,
}

impl LiveRule {
    /// The settling these settings ask for (none when they ask nothing).
    /// `columns`: the left side's columns; ages of other columns are left
    /// out (a run over a database applies them to the tables that have them).
    pub fn settle(
        &self,
        gate: &GateRule,
        started: chrono::DateTime<chrono::Utc>,
        columns: Option<&[String]>,
    ) -> Option<crate::compare::recheck::Settle> {
        let ignore_younger: Vec<(String, std::time::Duration)> = self
            .ignore_younger
            .iter()
            .filter(|(c, _)| columns.is_none_or(|all| all.contains(c)))
            .map(|(c, d)| (c.clone(), d.to_std()))
            .collect();
        if self.recheck.is_none() && ignore_younger.is_empty() {
            return None;
        }
        Some(crate::compare::recheck::Settle {
            times: self.recheck.unwrap_or(0),
            delay: self
                .recheck_delay
                .as_ref()
                .map_or(std::time::Duration::from_secs(1), |d| d.to_std()),
            ignore_younger,
            started,
            transient_fails: gate.transient == Level::Fail,
        })
    }
}

/// Which tables of two databases are compared (both sources name a
/// database and no table).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablesRule {
    /// Glob patterns of tables to compare (all when empty): a pattern with
    /// a dot matches `schema.table` (MySQL's schema is its database), one
    /// without matches the table's own name.
    #[serde(default)]
    pub include: Vec<String>,
    /// Patterns of tables left out, as `include`.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Left table → right table, for tables named differently.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
}

/// One table's own settings in a run over whole databases; they add to
/// (key: replace) the file's.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRule {
    /// The key, when the catalog's is not the one to use.
    #[serde(default)]
    pub key: Vec<String>,
    #[serde(default)]
    pub columns: ColumnsRule,
    #[serde(default)]
    pub compare: BTreeMap<String, ColumnRule>,
}

/// What `recon repair --rules FILE` may do; flags override it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairRule {
    /// The side that is right: `left` (default) or `right`.
    pub truth: Option<crate::error::Side>,
    pub insert: Option<bool>,
    pub update: Option<bool>,
    pub delete: Option<bool>,
    /// Refuse a repair touching more rows than this (unless forced).
    pub max_rows: Option<u64>,
}

/// How database sides are read (`--db-threads`, `--no-pushdown`, `--no-join`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseRule {
    /// Sessions per database for checksum queries (default 4).
    pub threads: Option<std::num::NonZeroUsize>,
    /// Compute checksums inside the databases (default true).
    pub pushdown: Option<bool>,
    /// Compare two tables of one PostgreSQL database by a join inside it
    /// (default true; false uses the checksums).
    pub join: Option<bool>,
    /// Pause checksum queries while a server runs more queries than this
    /// (PostgreSQL: active sessions of others; MySQL: Threads_running).
    pub max_load: Option<u64>,
}

/// Aggregates compared between the sides.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatesRule {
    /// Default: every metric (sums only for numbers).
    pub metrics: Option<Vec<crate::aggregate::Metric>>,
    /// Columns measured (left names); the row count needs none.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Aggregate per value of this column.
    pub group_by: Option<String>,
    #[serde(default)]
    pub abs: f64,
    #[serde(default)]
    pub rel: f64,
    /// What a mismatch does to the verdict.
    #[serde(default = "fail")]
    pub level: Level,
}

impl RuleFile {
    /// What to compare, as the engine takes it.
    pub fn selection(&self) -> crate::plan::Selection {
        crate::plan::Selection {
            key: self.key.clone(),
            columns: self.columns.include.clone(),
            exclude: self.columns.exclude.clone(),
            map: self.columns.map.clone(),
            rules: self.compare.clone(),
            default_rules: self.defaults.clone(),
        }
    }
}

/// One side's source.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRule {
    /// A file, directory or glob (or, later, a database URL); `${VAR}` is
    /// replaced by the environment variable, so secrets stay out of the file.
    pub source: String,
    /// SQL over the source (registered as table `t`).
    pub query: Option<String>,
    /// CSV field delimiter (one character; `\t` for tab).
    pub delimiter: Option<String>,
    /// CSV files have a header line (default true).
    pub header: Option<bool>,
}

/// Which columns are compared, and under which name on the right.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnsRule {
    /// Compare only these columns (besides the key); all when empty.
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Left name → right name, for columns named differently.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
}

/// What is tolerated before the check warns or fails.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRule {
    pub max_only_left: Option<Threshold>,
    pub max_only_right: Option<Threshold>,
    pub max_changed: Option<Threshold>,
    /// Differing keys over the larger side's rows.
    pub max_diff_ratio: Option<Threshold>,
    /// Columns only on the right side (added by a migration) do not fail.
    #[serde(default)]
    pub allow_added_columns: bool,
    /// A column whose type only widened (INT to BIGINT, FLOAT to DOUBLE,
    /// a decimal gaining digits) does not fail.
    #[serde(default = "yes")]
    pub allow_type_widening: bool,
    /// Any other type change (a narrower type, text for a number) does not
    /// fail; values are still compared by their canonical form.
    #[serde(default)]
    pub allow_type_changes: bool,
    /// A column that became nullable, or NOT NULL, does not fail.
    #[serde(default)]
    pub allow_nullability_changes: bool,
    /// What a duplicate key does to the verdict.
    #[serde(default = "fail")]
    pub duplicate_keys: Level,
    /// What a NULL key does to the verdict.
    #[serde(default = "warn")]
    pub null_keys: Level,
    /// What a transient difference (gone when read again, `--recheck`) does.
    #[serde(default = "warn")]
    pub transient: Level,
}

impl Default for GateRule {
    fn default() -> Self {
        GateRule {
            max_only_left: None,
            max_only_right: None,
            max_changed: None,
            max_diff_ratio: None,
            allow_added_columns: false,
            allow_type_widening: true,
            allow_type_changes: false,
            allow_nullability_changes: false,
            duplicate_keys: Level::Fail,
            null_keys: Level::Warn,
            transient: Level::Warn,
        }
    }
}

fn yes() -> bool {
    true
}
fn fail() -> Level {
    Level::Fail
}
fn warn() -> Level {
    Level::Warn
}

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ignore,
    Warn,
    Fail,
}

/// Report options.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRule {
    /// Differences listed (all are counted).
    pub sample: Option<usize>,
    /// Columns whose values are shown as `***` in every output.
    #[serde(default)]
    pub mask: Vec<String>,
    /// Write this check's full report to these files, by format.
    pub json: Option<String>,
    pub markdown: Option<String>,
    pub table: Option<String>,
}

/// A rule file read from disk: where it came from and what it says.
#[derive(Debug, Clone)]
pub struct LoadedRules {
    pub path: PathBuf,
    pub rules: RuleFile,
}

impl LoadedRules {
    /// The check's name: `name`, or the file name without `.toml`.
    pub fn name(&self) -> String {
        self.rules.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.path.display().to_string())
        })
    }
}

/// Parses and checks a rule file's text; `path` names it in errors.
pub fn parse_text(path: &Path, text: &str) -> Result<RuleFile> {
    parse::parse(path, text)
}

/// Reads and checks a rule file (no data is touched).
pub fn load(path: &Path) -> Result<LoadedRules> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Rules {
        path: path.display().to_string(),
        line: None,
        message: format!("cannot read: {}", crate::error::one_line(e)),
    })?;
    let rules = parse::parse(path, &text)?;
    Ok(LoadedRules {
        path: path.to_path_buf(),
        rules,
    })
}

/// The rule files named, or every `*.toml` in `dir` (sorted) when none is.
pub fn discover(paths: &[PathBuf], dir: &Path) -> Result<Vec<PathBuf>> {
    if !paths.is_empty() {
        return Ok(paths.to_vec());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::Usage(format!(
            "no rule files given and {} cannot be read: {}",
            dir.display(),
            crate::error::one_line(e)
        ))
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(Error::Usage(format!(
            "no rule files given and none (*.toml) in {}",
            dir.display()
        )));
    }
    Ok(found)
}

/// Replaces `${VAR}` with the environment variable's value. A missing
/// variable is an error that names it (never a value).
pub fn expand_env(text: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("`${` without a closing `}`".into());
        };
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{name}}}` is not an environment variable name"));
        }
        match std::env::var(name) {
            Ok(value) => out.push_str(&value),
            Err(_) => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_variables_expand_and_missing_ones_are_named() {
        // SAFETY: tests in this module are the only users of this variable.
        unsafe { std::env::set_var("RECON_RULES_TEST_HOST", "db.example") };
        assert_eq!(
            expand_env("postgres://u@${RECON_RULES_TEST_HOST}/x").unwrap(),
            "postgres://u@db.example/x"
        );
        assert_eq!(expand_env("plain").unwrap(), "plain");
        let missing = expand_env("${RECON_RULES_TEST_MISSING}").unwrap_err();
        assert!(missing.contains("RECON_RULES_TEST_MISSING"), "{missing}");
        assert!(expand_env("${oops").is_err());
        assert!(expand_env("${a-b}").is_err());
    }

    #[test]
    fn a_column_rule_overrides_the_default() {
        let default = ColumnRule {
            abs: Some(0.1),
            trim: Some(true),
            ..ColumnRule::default()
        };
        let own = ColumnRule {
            abs: Some(0.01),
            ..ColumnRule::default()
        };
        let merged = own.over(&default);
        assert_eq!(merged.abs, Some(0.01));
        assert_eq!(merged.trim, Some(true));
    }
}
