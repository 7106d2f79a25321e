//! One comparison from end to end: plan → sample keys → choose leaves → hash
//! both sides → compare trees → re-read divergent leaves → report. Each step
//! lives in its own module; this one only sequences them and times them.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::diff::{self, Reread, RowDiff};
use crate::error::{Error, Result, Side};
use crate::merkle::{self, Boundaries, MerkleTree, SideLeaves};
use crate::ordered;
use crate::plan::{ComparePlan, Selection, SideTraits};
use crate::report::{Mask, Report, ReportInput, Stats};
use crate::source::Source;
use crate::source::db::comment_text;

pub mod pushdown;

/// Sampled keys per leaf (both sides together): enough that equal-depth
/// leaves come out near their target size.
const SAMPLES_PER_LEAF: usize = 16;

/// How to compare.
#[derive(Debug, Clone)]
pub struct Spec {
    pub selection: Selection,
    /// List at most this many differences in the report (all are counted).
    pub max_diffs: Option<usize>,
    /// Target rows per leaf: smaller leaves re-read less around each difference.
    pub leaf_rows: usize,
    /// Upper bound on leaves (memory is O(leaves)).
    pub max_leaves: usize,
    /// When many leaves diverge, their rows are read back and compared in
    /// groups of about this many rows, so memory holds one group at a time.
    pub group_rows: u64,
    /// Compare sources stored in key order in one merged pass (checked as
    /// it reads; off only to exercise the general path).
    pub merge_ordered: bool,
    /// Worker threads for hashing and comparing.
    pub threads: usize,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Compare two database sides by checksums computed inside them (off:
    /// read both whole, e.g. to measure the difference).
    pub pushdown: bool,
    /// Sessions per database for checksum queries (PostgreSQL; MySQL cannot
    /// share a snapshot between sessions and uses one).
    pub db_threads: usize,
    /// Columns (left or right names) whose values no output shows.
    pub mask: Vec<String>,
    /// Pause checksum queries while a server runs more than this many
    /// queries of others (`--max-load`).
    pub max_load: Option<u64>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            selection: Selection::default(),
            max_diffs: None,
            leaf_rows: 256,
            max_leaves: 1 << 16,
            group_rows: 1 << 20,
            merge_ordered: true,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            progress: false,
            pushdown: true,
            db_threads: 4,
            mask: Vec::new(),
            max_load: None,
        }
    }
}

/// A finished comparison: the report, and the rows behind its differences.
pub struct Comparison {
    /// The report, masked columns already hidden.
    pub report: Report,
    pub plan: ComparePlan,
    /// The rows behind the differences, as read (unmasked: repair needs them).
    pub rows: RowDiff,
    /// The columns every output of this comparison hides.
    pub mask: Mask,
}

impl Comparison {
    /// Writes every differing row to a Parquet or CSV file.
    pub fn write_diffs(&self, path: &str) -> Result<u64> {
        crate::report::write_diffs(path, &self.plan, &self.rows, &self.mask)
    }

    /// Writes every differing row to a file opened earlier.
    pub fn write_diffs_to(&self, file: crate::report::DiffsFile) -> Result<u64> {
        file.write(&self.plan, &self.rows, &self.mask)
    }
}

/// Compares two sources; the report comes back with the spec's masks applied.
pub fn diff(left: &dyn Source, right: &dyn Source, spec: &Spec) -> Result<Comparison> {
    let names = |s: &dyn Source| -> Vec<String> {
        s.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    };
    let mask = Mask::resolve(&spec.mask, &spec.selection.map, &names(left), &names(right))?;
    let mut comparison = compare_unmasked(left, right, spec)?;
    mask.apply_to_report(&mut comparison.report);
    comparison.mask = mask;
    Ok(comparison)
}

fn compare_unmasked(left: &dyn Source, right: &dyn Source, spec: &Spec) -> Result<Comparison> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(spec.threads.max(1))
        .build()
        .map_err(|e| Error::Internal(format!("thread pool: {e}")))?;
    pool.install(|| {
        // A database side not compared by checksums in the database is read
        // once, in one snapshot, in key order (so the merged pass applies).
        let keys = &spec.selection.key;
        let right_keys: Vec<String> = keys
            .iter()
            .map(|k| spec.selection.right_name(k).to_string())
            .collect();
        let (left_db, right_db) = (left.as_database(), right.as_database());
        let mut pushdown_note = None;
        if let (Some(l), Some(r), true) = (left_db, right_db, spec.pushdown) {
            match pushdown::diff(l, r, spec)? {
                Ok(comparison) => return Ok(comparison),
                Err(reason) => pushdown_note = Some(reason),
            }
        }
        let left: &dyn Source = match left_db {
            Some(db) => db.load(keys)?,
            None => left,
        };
        let right: &dyn Source = match right_db {
            Some(db) => db.load(&right_keys)?,
            None => right,
        };
        let mut comparison = run(left, right, spec)?;
        if let Some(reason) = pushdown_note {
            comparison.report.schema.notes.push(format!(
                "both sides were read whole: checksums could not run in the databases ({reason})"
            ));
        }
        Ok(comparison)
    })
}

/// What a comparison would send each database, without running it
/// (`--explain`): the checksum queries when both sides are databases, the
/// one read of each database side otherwise.
pub fn explain(left: &dyn Source, right: &dyn Source, spec: &Spec) -> Result<String> {
    let (left_db, right_db) = (left.as_database(), right.as_database());
    let mut fallback = None;
    if let (Some(l), Some(r), true) = (left_db, right_db, spec.pushdown) {
        match pushdown::explain(l, r, spec)? {
            Ok(text) => return Ok(text),
            Err(reason) => fallback = Some(reason),
        }
    }
    let mut out = Vec::new();
    if let Some(reason) = fallback {
        out.push(format!(
            "-- checksums cannot run in the databases ({}): each side is read whole",
            comment_text(&reason)
        ));
    }
    for (name, source, keys) in [
        ("left", left, spec.selection.key.clone()),
        (
            "right",
            right,
            spec.selection
                .key
                .iter()
                .map(|k| spec.selection.right_name(k).to_string())
                .collect(),
        ),
    ] {
        match source.as_database() {
            Some(db) => {
                out.push(format!("-- {name}: {}", comment_text(db.describe())));
                out.extend(db.session_sql(1));
                out.push(format!("{};", db.read_all_sql(&keys)));
            }
            None => out.push(format!(
                "-- {name}: {}: read by recon, no database",
                comment_text(source.describe())
            )),
        }
        out.push(String::new());
    }
    Ok(out.join("\n"))
}

/// Compares two sources read by recon itself (files, or database sides
/// read whole or fetched by range).
pub(crate) fn run(left: &dyn Source, right: &dyn Source, spec: &Spec) -> Result<Comparison> {
    let started = Instant::now();
    let traits = [left, right].map(|s| SideTraits {
        distinguishes_empty_from_null: s.distinguishes_empty_from_null(),
        declares_nullability: s.declares_nullability(),
    });
    let plan = ComparePlan::with_traits(&left.schema(), &right.schema(), &spec.selection, traits)?;
    let keys = plan.key_columns();

    // Leaves for the larger side; sized before sampling when both sides know
    // their row counts (positional sources), from the sample otherwise.
    let leaves_for = |rows: usize| {
        // Small tables still get a few leaves, so the report can name narrow ranges.
        let floor = rows.div_ceil(4).min(64);
        rows.div_ceil(spec.leaf_rows.max(1))
            .max(floor)
            .clamp(1, spec.max_leaves.max(1))
    };
    let known_rows = |s: &dyn Source| s.positional().map(|p| p.part_rows().iter().sum::<u64>());
    let per_side_target = match (known_rows(left), known_rows(right)) {
        (Some(l), Some(r)) => leaves_for(l.max(r) as usize) * SAMPLES_PER_LEAF / 2,
        _ => usize::MAX,
    };
    let (left_sample, right_sample) = rayon::join(
        || merkle::sample_keys(left, &keys, Side::Left, per_side_target),
        || merkle::sample_keys(right, &keys, Side::Right, per_side_target),
    );
    let (left_sample, right_sample) = (left_sample?, right_sample?);
    let leaves = leaves_for(left_sample.rows.max(right_sample.rows) as usize);
    let boundaries = Boundaries::from_samples(&[&left_sample, &right_sample], leaves);
    let sampled = Instant::now();

    // Sources stored in key order are compared in one merged pass; the
    // general path below (hash, compare trees, re-read) assumes nothing.
    let progress = progress_bar(spec.progress);
    let merged = if spec.merge_ordered {
        ordered::merge(
            [left, right],
            &plan,
            &boundaries,
            [&left_sample, &right_sample],
            spec.group_rows,
            &progress,
        )?
    } else {
        None
    };
    drop((left_sample, right_sample));
    let merged_pass = merged.is_some();
    let (left_leaves, right_leaves, merged_rows) = match merged {
        Some(m) => (m.left, m.right, Some(m.rows)),
        None => {
            progress.set_position(0);
            let (l, r) = rayon::join(
                || merkle::hash_side(left, &plan, Side::Left, &boundaries, &progress),
                || merkle::hash_side(right, &plan, Side::Right, &boundaries, &progress),
            );
            (l?, r?, None)
        }
    };
    progress.finish_and_clear();
    let left_tree = MerkleTree::new(left_leaves.leaves.clone());
    let right_tree = MerkleTree::new(right_leaves.leaves.clone());
    let comparison = merkle::compare(&left_tree, &right_tree);
    let hashed = Instant::now();

    let rows = match merged_rows {
        Some(rows) => rows,
        None => reread_divergent(
            [left, right],
            &plan,
            &boundaries,
            [&left_leaves, &right_leaves],
            &comparison.divergent_leaves,
            spec.group_rows,
        )?,
    };
    check_repeatable(&comparison.divergent_leaves, &rows, &boundaries)?;
    let finished = Instant::now();

    let stats = Stats {
        threads: spec.threads,
        merged_pass,
        leaves: boundaries.leaf_count(),
        divergent_leaves: comparison.divergent_leaves.len(),
        tree_nodes_compared: comparison.nodes_compared,
        left_rows_hashed: left_leaves.rows,
        right_rows_hashed: right_leaves.rows,
        left_rows_rescanned: rows.left.rescanned,
        right_rows_rescanned: rows.right.rescanned,
        left_rows_reread: rows.left.reread,
        right_rows_reread: rows.right.reread,
        seconds_sample: (sampled - started).as_secs_f64(),
        seconds_hash: (hashed - sampled).as_secs_f64(),
        seconds_rows: (finished - hashed).as_secs_f64(),
        seconds_total: (finished - started).as_secs_f64(),
        pushdown: None,
    };
    let report = Report::build(ReportInput {
        left_name: left.describe(),
        right_name: right.describe(),
        plan: &plan,
        boundaries: &boundaries,
        left_leaves: &left_leaves,
        right_leaves: &right_leaves,
        comparison: &comparison,
        rows: &rows,
        max_diffs: spec.max_diffs,
        stats,
    })?;
    Ok(Comparison {
        report,
        plan,
        rows,
        mask: Mask::default(),
    })
}

/// The general row phase: reads back the rows of divergent leaves (and of
/// possibly duplicated keys) on both sides and compares them.
fn reread_divergent(
    [left, right]: [&dyn Source; 2],
    plan: &ComparePlan,
    boundaries: &Boundaries,
    [left_leaves, right_leaves]: [&SideLeaves; 2],
    divergent: &[usize],
    group_rows: u64,
) -> Result<RowDiff> {
    let mut reread_leaves = vec![false; boundaries.leaf_count()];
    for &leaf in divergent {
        reread_leaves[leaf] = true;
    }
    let mut duplicate_candidates: Vec<u64> = left_leaves
        .duplicate_key_hashes
        .iter()
        .chain(&right_leaves.duplicate_key_hashes)
        .copied()
        .collect();
    duplicate_candidates.sort_unstable();
    duplicate_candidates.dedup();
    let leaf_rows: Vec<u64> = left_leaves
        .leaves
        .iter()
        .zip(&right_leaves.leaves)
        .map(|(l, r)| l.rows.max(r.rows))
        .collect();
    diff::diff_rows(
        left,
        right,
        plan,
        &Reread {
            boundaries,
            leaves: &reread_leaves,
            key_hashes: &duplicate_candidates,
            positions: [
                left_leaves.positions.as_ref(),
                right_leaves.positions.as_ref(),
            ],
            leaf_rows: &leaf_rows,
            group_rows,
        },
    )
}

/// A bar over the hashing pass; hidden unless asked for (the CLI asks only
/// when stderr is a terminal), and drawn at a low rate.
fn progress_bar(enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template("{spinner} hashing: {human_pos} rows, {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}

/// Every divergent leaf must hold a difference or a duplicate key once its
/// rows are compared. If one does not, a source returned other rows on the
/// second read (a query with LIMIT, or ORDER BY with ties, or data changing
/// underneath): the answer would be unreliable, so say so instead.
fn check_repeatable(divergent: &[usize], rows: &RowDiff, boundaries: &Boundaries) -> Result<()> {
    let mut explained = vec![false; boundaries.leaf_count()];
    for d in &rows.diffs {
        explained[d.leaf] = true;
    }
    for d in &rows.duplicates {
        explained[d.leaf] = true;
    }
    // Under a tolerance, values within it may hash apart.
    for &leaf in &rows.tolerated_leaves {
        explained[leaf] = true;
    }
    match divergent.iter().find(|&&leaf| !explained[leaf]) {
        None => Ok(()),
        Some(_) => Err(Error::Unstable(
            "a source returned different rows when read a second time (is its query \
             repeatable? LIMIT, or ORDER BY with ties, is not; or is the data changing?)"
                .into(),
        )),
    }
}
