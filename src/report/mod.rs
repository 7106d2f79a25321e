//! One [`Report`] value, built once from the pipeline's results, and one
//! renderer per output format. Renderers know nothing of how the data was
//! read; the JSON form is the contract (README, "JSON output") and is the serialisation
//! of this struct.

pub mod checks;
mod diffs_file;
mod html;
mod json;
mod markdown;
mod mask;
pub mod table;
pub mod values;

use arrow::array::ArrayRef;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::canon;
use crate::compare::rows::{KeyDiff, RowDiff, Status};
use crate::error::{Result, Side};
use crate::merkle::{Boundaries, SideLeaves, TreeComparison};
use crate::plan::{ComparePlan, OneSidedColumn, TypeDifference};
use values::{ValueRenderer, row_object};

pub use crate::output::OutputFile;
pub use diffs_file::{DiffsFile, write_diffs};
pub use html::{HTML_SAMPLE, write_checks_html, write_html};
pub use json::{Listing, write_json, write_json_listing, write_ndjson, write_ndjson_listing};
pub use markdown::write_markdown;
pub use mask::{MASKED, Mask};
pub use table::{TABLE_SAMPLE, write_table};

/// Equal within the rules, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Equal,
    Different,
}

#[derive(Debug, Clone, Serialize)]
pub struct SideInfo {
    pub source: String,
    pub rows: u64,
    /// Rows whose key is NULL.
    pub null_keys: u64,
    /// Keys that occur more than once on this side.
    pub duplicate_keys: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub left_rows: u64,
    pub right_rows: u64,
    pub only_left: u64,
    pub only_right: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub duplicate_keys: u64,
    pub null_keys: u64,
}

impl Summary {
    pub fn differences(&self) -> u64 {
        self.only_left + self.only_right + self.changed
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SchemaReport {
    pub compared_columns: Vec<String>,
    pub left_only: Vec<OneSidedColumn>,
    pub right_only: Vec<OneSidedColumn>,
    pub type_differences: Vec<TypeDifference>,
    pub nullability_changes: Vec<crate::plan::NullabilityChange>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnMismatches {
    pub name: String,
    pub mismatches: u64,
}

/// A run of adjacent divergent leaves: keys from `from` (inclusive) to `to`
/// (exclusive); `null` means unbounded.
#[derive(Debug, Clone, Serialize)]
pub struct DivergentRange {
    pub from: Option<Map<String, Value>>,
    pub to: Option<Map<String, Value>>,
    pub left_rows: u64,
    pub right_rows: u64,
    /// Keys in the range found only-left, only-right, changed or duplicated.
    pub differences: u64,
    /// Where the range lies in the key space, as fractions from 0 (the
    /// first key) to 1 (the last): of the leaves, which hold about equal
    /// numbers of rows, for files; of the key's MIN..MAX for an integer key
    /// checksummed in databases. Absent where the key was hashed into buckets,
    /// which have no key order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<[f64; 2]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffRecord {
    pub status: Status,
    pub key: Map<String, Value>,
    /// The columns that differ (changed rows).
    pub columns: Vec<String>,
    pub left: Option<Map<String, Value>>,
    pub right: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DuplicateRecord {
    pub key: Map<String, Value>,
    pub left_count: usize,
    pub right_count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct NullKeyRecord {
    pub side: Side,
    pub row: Map<String, Value>,
}

/// How the rows of files (or of rows fetched from databases) were compared;
/// `ARCHITECTURE.md` describes each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Both sides in key order, read once and walked together.
    Merged,
    /// Leaf digests compared, rows of divergent leaves read back.
    #[default]
    Leaves,
    /// Row fingerprints matched by key hash, differing rows read back by position.
    Fingerprints,
    /// Leaf digests computed on a cluster (`--cluster`), rows of divergent
    /// leaves fetched from it.
    Cluster,
}

/// Where the time and the reads went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub threads: usize,
    pub strategy: Strategy,
    /// Both sides were stored in key order and were compared in one merged
    /// pass: nothing was read twice.
    pub merged_pass: bool,
    pub leaves: usize,
    pub divergent_leaves: usize,
    pub tree_nodes_compared: usize,
    /// Rows read by the hashing pass, per side.
    pub left_rows_hashed: u64,
    pub right_rows_hashed: u64,
    /// Rows the sources returned during the row phase (after source-side pruning).
    pub left_rows_rescanned: u64,
    pub right_rows_rescanned: u64,
    /// Rows held and compared by the row phase (divergent ranges and duplicate candidates).
    pub left_rows_reread: u64,
    pub right_rows_reread: u64,
    /// Bytes of per-row state written to temporary files (over `--memory-limit`).
    pub bytes_spilled: u64,
    pub seconds_sample: f64,
    pub seconds_hash: f64,
    pub seconds_rows: f64,
    pub seconds_total: f64,
    /// Set when both sides were databases compared by checksums computed
    /// inside them; the figures above then cover the fetched rows only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushdown: Option<PushdownStats>,
    /// Set when the run kept state (`--state`): what it reused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateStats>,
    /// Set when a side was hashed on a cluster (`--cluster`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStats>,
}

/// What the cluster did for a run, and what came back from it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterStats {
    /// Queries the cluster ran (digests, repeated keys, rows; per side).
    pub jobs: u32,
    /// Bytes returned to this process (the Arrow IPC size of the results):
    /// in all, and of the digests, the repeated key hashes and the rows.
    pub bytes_returned: u64,
    pub digest_bytes: u64,
    pub key_hash_bytes: u64,
    pub row_bytes: u64,
    /// Rows of divergent leaves (and possibly repeated keys) fetched, per side.
    pub left_rows_fetched: u64,
    pub right_rows_fetched: u64,
    pub seconds_digests: f64,
    pub seconds_rows: f64,
}

/// What a run with `--state` took from the last run's state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StateStats {
    /// The last run's state was used (same plan, boundaries kept).
    pub reused: bool,
    /// The leaf boundaries were planned afresh because the leaves had drifted.
    pub replanned: bool,
    /// Files whose rows were taken from the state, and files read and hashed.
    pub left_files_reused: u64,
    pub left_files_hashed: u64,
    pub right_files_reused: u64,
    pub right_files_hashed: u64,
    /// Rows taken from the state (the `*_rows_hashed` figures count them too).
    pub left_rows_reused: u64,
    pub right_rows_reused: u64,
    /// Two databases: first-level key ranges whose digests were taken from
    /// an unfinished run's journal, per side, and when that run began.
    pub left_leaves_resumed: u64,
    pub right_leaves_resumed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_since: Option<String>,
}

/// How two database sides were compared inside the databases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushdownMethod {
    /// Checksums of ranges of the (first) key column.
    #[default]
    Ranges,
    /// Checksums of hash buckets of the key.
    Buckets,
    /// One join inside the one database both sides live in.
    Join,
}

/// What crossed the network when checksums ran inside the databases.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushdownStats {
    /// How the databases compared.
    pub method: PushdownMethod,
    /// First-level leaves (key ranges, or hash buckets of the key).
    pub leaves: u64,
    /// Key ranges or buckets whose rows were fetched.
    pub divergent_leaves: u64,
    /// Queries run on each side (checksums, bisection, fetches).
    pub left_queries: u64,
    pub right_queries: u64,
    pub left_rows_fetched: u64,
    pub right_rows_fetched: u64,
    /// Arrow bytes of the fetched rows.
    pub left_bytes_fetched: u64,
    pub right_bytes_fetched: u64,
    /// Connecting, checksums, bisection and fetching.
    pub seconds_in_databases: f64,
    /// Time checksum queries waited for a busy server (`--max-load`), per side.
    pub left_seconds_paused: f64,
    pub right_seconds_paused: f64,
    /// The row diff of the fetched rows.
    pub seconds_compare: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    pub left: SideInfo,
    pub right: SideInfo,
    pub key: Vec<String>,
    pub summary: Summary,
    pub schema: SchemaReport,
    pub columns: Vec<ColumnMismatches>,
    pub ranges: Vec<DivergentRange>,
    /// Differences listed (all of them unless `diffs_truncated`).
    pub diffs: Vec<DiffRecord>,
    pub diffs_truncated: bool,
    pub duplicates: Vec<DuplicateRecord>,
    pub null_key_samples: Vec<NullKeyRecord>,
    /// Set when a side is a snapshot (digests, no rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotComparison>,
    /// Set when differences were read again (`--recheck`) or young rows
    /// left out (`--ignore-younger`): what went away, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transient: Option<Transient>,
    pub stats: Stats,
}

/// Differences that did not last: gone when read again after a delay (a
/// replica catching up), or on rows too young to judge.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Transient {
    /// Times the remaining differences were read again.
    pub rechecks: u32,
    pub delay_seconds: f64,
    /// Differences gone on a later read, as first seen.
    pub keys: Vec<DiffRecord>,
    /// Differences left out because a side's row was younger than the
    /// `--ignore-younger` limit.
    pub young: u64,
    /// Differing keys not read again (beyond the recheck limit): they stay differences.
    pub not_rechecked: u64,
    /// Transient differences fail the gate too (the rule file says so).
    pub fail: bool,
}

/// A comparison with a snapshot: rows cannot be matched, only located.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotComparison {
    /// The side read from its source (none when both are snapshots).
    pub live_side: Option<Side>,
    /// Rows of the live side in the divergent ranges.
    pub live_rows_in_ranges: u64,
    /// The first of them (key and compared columns).
    pub rows: Vec<Map<String, Value>>,
    pub rows_truncated: bool,
}

/// Renders a comparison's differences as records: the report's own list,
/// and a JSON listing written one record at a time (`write_json_listing`),
/// which never holds a million of them at once.
pub struct DiffRecords<'a> {
    plan: &'a ComparePlan,
    left: Vec<ValueRenderer<'a>>,
    right: Vec<ValueRenderer<'a>>,
    key_names: Vec<&'a str>,
    left_value_names: Vec<&'a str>,
    right_value_names: Vec<&'a str>,
}

impl<'a> DiffRecords<'a> {
    pub fn new(plan: &'a ComparePlan, rows: &'a RowDiff) -> Self {
        let value_names =
            |side: Side| -> Vec<&'a str> { plan.values.iter().map(|c| c.name(side)).collect() };
        DiffRecords {
            plan,
            left: rows
                .left
                .batch
                .columns()
                .iter()
                .map(ValueRenderer::new)
                .collect(),
            right: rows
                .right
                .batch
                .columns()
                .iter()
                .map(ValueRenderer::new)
                .collect(),
            key_names: plan.keys.iter().map(|k| k.left_name.as_str()).collect(),
            left_value_names: value_names(Side::Left),
            right_value_names: value_names(Side::Right),
        }
    }

    /// Where the key of a difference is read: its left row when there is one.
    fn key_at(&self, left: Option<usize>, right: Option<usize>) -> Option<RowAt<'_, 'a>> {
        let n = self.key_names.len();
        let (renderers, row) = match (left, right) {
            (Some(l), _) => (&self.left[..n], l),
            (None, Some(r)) => (&self.right[..n], r),
            (None, None) => return None,
        };
        Some(RowAt {
            names: &self.key_names,
            renderers,
            row,
        })
    }

    /// Where a side's compared values of a difference are read.
    fn values_at(&self, side: Side, row: usize) -> RowAt<'_, 'a> {
        let n = self.key_names.len();
        let (names, renderers) = match side {
            Side::Left => (&self.left_value_names, &self.left[n..]),
            Side::Right => (&self.right_value_names, &self.right[n..]),
        };
        RowAt {
            names,
            renderers,
            row,
        }
    }

    /// The names of the columns that differ.
    fn changed_columns(&self, d: &KeyDiff) -> Vec<String> {
        d.columns
            .iter()
            .map(|&c| self.plan.values[c].display_name())
            .collect()
    }

    fn key(&self, left: Option<usize>, right: Option<usize>) -> Map<String, Value> {
        self.key_at(left, right)
            .map_or_else(Map::new, |k| k.object())
    }

    pub fn record(&self, d: &KeyDiff) -> DiffRecord {
        DiffRecord {
            status: d.status,
            key: self.key(d.left, d.right),
            columns: self.changed_columns(d),
            left: d.left.map(|l| self.values_at(Side::Left, l).object()),
            right: d.right.map(|r| self.values_at(Side::Right, r).object()),
        }
    }
}

/// One row's named values: the names, their renderers, the row.
struct RowAt<'r, 'a> {
    names: &'r [&'a str],
    renderers: &'r [ValueRenderer<'a>],
    row: usize,
}

impl RowAt<'_, '_> {
    fn object(&self) -> Map<String, Value> {
        row_object(self.names, self.renderers, self.row)
    }
}

/// Everything the report is built from.
pub struct ReportInput<'a> {
    pub left_name: &'a str,
    pub right_name: &'a str,
    pub plan: &'a ComparePlan,
    pub boundaries: &'a Boundaries,
    pub left_leaves: &'a SideLeaves,
    pub right_leaves: &'a SideLeaves,
    pub comparison: &'a TreeComparison,
    pub rows: &'a RowDiff,
    pub max_diffs: Option<usize>,
    pub stats: Stats,
}

impl Report {
    pub fn build(input: ReportInput<'_>) -> Result<Report> {
        let ReportInput {
            plan,
            rows,
            left_leaves,
            right_leaves,
            ..
        } = input;
        let count = |s: Status| rows.diffs.iter().filter(|d| d.status == s).count() as u64;
        let left_kept = rows.left.reread;
        let left_keyed = left_leaves.rows - left_leaves.null_key_rows;
        let summary = Summary {
            left_rows: left_leaves.rows,
            right_rows: right_leaves.rows,
            only_left: count(Status::OnlyLeft),
            only_right: count(Status::OnlyRight),
            changed: count(Status::Changed),
            // Rows not re-read lie in equal leaves and have unique keys: unchanged.
            unchanged: left_keyed.saturating_sub(left_kept) + rows.unchanged,
            duplicate_keys: rows.duplicates.len() as u64,
            null_keys: left_leaves.null_key_rows + right_leaves.null_key_rows,
        };

        let records = DiffRecords::new(plan, rows);
        let limit = input.max_diffs.unwrap_or(usize::MAX);
        let diffs: Vec<DiffRecord> = rows
            .diffs
            .iter()
            .take(limit)
            .map(|d| records.record(d))
            .collect();

        let duplicates = rows
            .duplicates
            .iter()
            .map(|d| DuplicateRecord {
                key: records.key(d.left.first().copied(), d.right.first().copied()),
                left_count: d.left.len(),
                right_count: d.right.len(),
            })
            .collect();

        let mut null_key_samples = Vec::new();
        for (side, leaves) in [(Side::Left, left_leaves), (Side::Right, right_leaves)] {
            for batch in &leaves.null_key_samples {
                let renderers: Vec<ValueRenderer> =
                    batch.columns().iter().map(ValueRenderer::new).collect();
                let names: Vec<&str> = plan.columns().iter().map(|c| c.name(side)).collect();
                null_key_samples.push(NullKeyRecord {
                    side,
                    row: row_object(&names, &renderers, 0),
                });
            }
        }

        let ranges = divergent_ranges(&input, rows)?;
        let columns = plan
            .values
            .iter()
            .zip(&rows.column_mismatches)
            .filter(|(_, n)| **n > 0)
            .map(|(c, &n)| ColumnMismatches {
                name: c.display_name(),
                mismatches: n,
            })
            .collect();

        let different = summary.differences() + summary.duplicate_keys + summary.null_keys > 0
            || plan.schema_differs();
        Ok(Report {
            verdict: if different {
                Verdict::Different
            } else {
                Verdict::Equal
            },
            left: SideInfo {
                source: input.left_name.to_string(),
                rows: left_leaves.rows,
                null_keys: left_leaves.null_key_rows,
                duplicate_keys: rows.duplicates.iter().filter(|d| d.left.len() > 1).count() as u64,
            },
            right: SideInfo {
                source: input.right_name.to_string(),
                rows: right_leaves.rows,
                null_keys: right_leaves.null_key_rows,
                duplicate_keys: rows.duplicates.iter().filter(|d| d.right.len() > 1).count() as u64,
            },
            key: plan.keys.iter().map(|k| k.display_name()).collect(),
            diffs_truncated: rows.diffs.len() > diffs.len(),
            summary,
            schema: SchemaReport {
                compared_columns: plan.values.iter().map(|c| c.display_name()).collect(),
                left_only: plan.left_only.clone(),
                right_only: plan.right_only.clone(),
                type_differences: plan.type_differences.clone(),
                nullability_changes: plan.nullability_changes.clone(),
                notes: plan.notes.clone(),
            },
            columns,
            ranges,
            diffs,
            duplicates,
            null_key_samples,
            snapshot: None,
            transient: None,
            stats: input.stats,
        })
    }
}

/// Adjacent divergent leaves merged into key ranges, with their row counts.
fn divergent_ranges(input: &ReportInput<'_>, rows: &RowDiff) -> Result<Vec<DivergentRange>> {
    let leaves = &input.comparison.divergent_leaves;
    if leaves.is_empty() {
        return Ok(Vec::new());
    }
    let mut selected = vec![false; input.boundaries.leaf_count()];
    for &leaf in leaves {
        selected[leaf] = true;
    }
    let runs = crate::compare::rows::leaf_runs(&selected, usize::MAX);
    // Decode all the bounds in one go (leaves over key hashes have no key bounds).
    let b = input.boundaries;
    let bounds: Vec<&[u8]> = runs
        .iter()
        .filter(|_| !b.is_hashed())
        .flat_map(|&(start, end)| [b.lower(start), b.upper(end)])
        .flatten()
        .collect();
    let keyed_bounds = !b.is_hashed();
    let keys: Vec<&canon::ColumnPlan> = input.plan.key_columns();
    let converter = canon::row_converter(&keys)?;
    let decoded: Vec<ArrayRef> = if bounds.is_empty() {
        Vec::new()
    } else {
        Boundaries::decode(&converter, &bounds)?
    };
    let renderers: Vec<ValueRenderer> = decoded.iter().map(ValueRenderer::new).collect();
    let names: Vec<&str> = keys.iter().map(|k| k.left_name.as_str()).collect();
    let mut next_bound = 0;
    let mut take_bound = |present: bool| {
        present.then(|| {
            let obj = row_object(&names, &renderers, next_bound);
            next_bound += 1;
            obj
        })
    };
    // Differences per leaf, to attribute them to ranges.
    let mut per_leaf: std::collections::HashMap<usize, u64> = std::collections::HashMap::new();
    let leaves_of_findings = rows
        .diffs
        .iter()
        .map(|d| d.leaf)
        .chain(rows.duplicates.iter().map(|d| d.leaf));
    for leaf in leaves_of_findings {
        *per_leaf.entry(leaf).or_default() += 1;
    }
    let leaf_count = b.leaf_count().max(1) as f64;
    Ok(runs
        .into_iter()
        .map(|(start, end)| {
            let sum = |leaves: &SideLeaves| leaves.leaves[start..=end].iter().map(|d| d.rows).sum();
            DivergentRange {
                span: keyed_bounds
                    .then(|| [start as f64 / leaf_count, (end + 1) as f64 / leaf_count]),
                from: take_bound(keyed_bounds && b.lower(start).is_some()),
                to: take_bound(keyed_bounds && b.upper(end).is_some()),
                left_rows: sum(input.left_leaves),
                right_rows: sum(input.right_leaves),
                differences: (start..=end)
                    .map(|l| per_leaf.get(&l).copied().unwrap_or(0))
                    .sum(),
            }
        })
        .collect())
}
