//! One comparison from end to end, and the choice of how to run it. Every
//! strategy has its own file here (see `ARCHITECTURE.md`):
//!
//! - [`pushdown`]: both sides are databases; checksums of key ranges run
//!   inside them, and only the rows of differing ranges are fetched (then
//!   compared by the strategies below, as in-memory sources).
//! - `merged`: both sides are stored in key order; each is read once and
//!   the two are walked together by key.
//! - `unsorted`: positional sources in any order; rows are matched by
//!   fingerprints (key hash, row hash, position) and only the differing
//!   rows are read back by position.
//! - `reread`: no order assumed; rows are hashed into key-range leaves, the
//!   Merkle trees compared, the rows of divergent leaves read back.
//!
//! [`rows`] compares the rows a strategy kept; [`Spec`] and [`Comparison`]
//! (in `spec`) are what every strategy takes and gives.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::{Error, Result, Side};
use crate::merkle::{self, Boundaries, SideLeaves, TreeComparison};
use crate::plan::{ComparePlan, SideTraits};
use crate::report::{Mask, Report, ReportInput, StateStats, Stats, Strategy};
use crate::snapshot::state::StateDir;
use crate::source::Source;
use crate::source::db::comment_text;

#[cfg(feature = "cluster")]
mod cluster;
/// Without the `cluster` feature: `--cluster` says how to get it.
#[cfg(not(feature = "cluster"))]
#[path = "cluster_off.rs"]
mod cluster;
mod incremental;
mod merged;
pub mod pushdown;
mod ranges;
pub mod recheck;
mod reread;
pub mod rows;
mod snapshot;
mod spec;
mod unsorted;

pub use ranges::{RangeSet, extract, ranges_key, rows_in_ranges};
pub use rows::{DuplicateKey, KeyDiff, RowDiff, Status};
pub use snapshot::{SideInput, diff_with_snapshot, take_snapshot};
pub use spec::{ClusterRun, Comparison, EXECUTOR_WAIT, Spec};

/// What a strategy found: each side's leaf digests, the leaves whose
/// digests differ, and the rows behind every difference.
struct Outcome {
    left: SideLeaves,
    right: SideLeaves,
    trees: TreeComparison,
    rows: RowDiff,
    strategy: Strategy,
    /// When the hashing ended and the row phase began.
    hashed: Instant,
    /// Bytes of per-row state written to temporary files.
    spilled: u64,
}

/// Sampled keys per leaf (both sides together) when both sources are
/// positional: their samples are systematic (every n-th row), so a sorted
/// side's leaves come out at their target size, and an unsorted side's
/// (at most [`UNSORTED_LEAVES`] of them) still from many keys each.
const SAMPLES_PER_LEAF: usize = 2;

/// Leaves on the fingerprint path, where they only name the divergent
/// ranges: few enough that the leaf lookup of rows in random order stays in
/// the processor's cache.
const UNSORTED_LEAVES: usize = 4096;

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
    crate::source::in_pool(spec.threads, || {
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
            // An unfinished run's digests compare only under its key.
            if let Some(dir) = spec.state.as_deref().filter(|_| spec.resume) {
                crate::snapshot::journal::adopt_key(dir);
            }
            match pushdown::fetch(l, r, spec)? {
                Ok(fetched) => {
                    let comparison = run(&fetched.left, &fetched.right, spec)?;
                    return fetched.complete(comparison);
                }
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
        let mut comparison = match &spec.cluster {
            Some(_) => cluster::compare(left, right, spec)?,
            None => run(left, right, spec)?,
        };
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
fn run(left: &dyn Source, right: &dyn Source, spec: &Spec) -> Result<Comparison> {
    let started = Instant::now();
    let traits = [left, right].map(SideTraits::of);
    let plan = ComparePlan::with_traits(&left.schema(), &right.schema(), &spec.selection, traits)?;
    let keys = plan.key_columns();

    let leaves_for = |rows: usize| leaves_for(spec, rows);
    let known_rows = |s: &dyn Source| s.positional().map(|p| p.part_rows().iter().sum::<u64>());
    let sample = || sample_both([left, right], &keys, spec);
    let progress = progress_bar(spec.progress);
    let mut notes = Vec::new();
    if let Some(dir) = &spec.state {
        let state = StateDir::new(dir);
        let fresh = || -> Result<Boundaries> {
            let (l, r) = sample()?;
            let leaves = leaves_for(l.rows.max(r.rows) as usize);
            Ok(Boundaries::from_samples(&[&l, &r], leaves))
        };
        let fresh_leaves = match (known_rows(left), known_rows(right)) {
            (Some(l), Some(r)) => leaves_for(l.max(r) as usize),
            _ => 1,
        };
        let plan_fresh = incremental::FreshPlan {
            leaves: fresh_leaves,
            boundaries: &fresh,
        };
        match incremental::compare([left, right], &plan, spec, &state, plan_fresh, &progress)? {
            Some(done) => {
                let mut comparison = finish(
                    [left, right],
                    spec,
                    plan.clone(),
                    &done.boundaries,
                    done.outcome,
                    [started, started],
                    &progress,
                    Some(done.stats),
                )?;
                comparison.report.schema.notes.extend(done.notes);
                for (side, kept) in [Side::Left, Side::Right].into_iter().zip(&done.states) {
                    state.save(side, kept)?;
                }
                return Ok(comparison);
            }
            None => notes.push(
                "--state: not kept, a side is not read from files by position (a query, \
                 a database, or files read through DataFusion)"
                    .to_string(),
            ),
        }
    }
    let (left_sample, right_sample) = sample()?;
    let positionals = match (left.positional(), right.positional()) {
        (Some(l), Some(r)) if spec.unsorted_path => Some([l, r]),
        _ => None,
    };
    let samples = [&left_sample, &right_sample];
    let boundaries = first_boundaries([left, right], spec, samples);
    let sampled = Instant::now();

    // Sources stored in key order are compared in one merged pass; the
    // general path (hash, compare trees, re-read) assumes nothing.
    let merged = if spec.merge_ordered {
        merged::merge(
            [left, right],
            &plan,
            &boundaries,
            samples,
            spec.group_rows,
            &progress,
        )?
    } else {
        None
    };
    let fingerprints = positionals.filter(|_| merged.is_none());
    let boundaries = match fingerprints {
        Some(_) if boundaries.leaf_count() > UNSORTED_LEAVES => {
            Boundaries::from_samples(&samples, UNSORTED_LEAVES)
        }
        _ => boundaries,
    };
    drop((left_sample, right_sample));
    let outcome = match merged {
        Some(m) => {
            let trees = merkle::compare_leaves(&m.left, &m.right);
            Outcome {
                left: m.left,
                right: m.right,
                trees,
                rows: m.rows,
                strategy: Strategy::Merged,
                hashed: Instant::now(),
                spilled: 0,
            }
        }
        None => {
            progress.set_position(0);
            match fingerprints {
                Some(positionals) => unsorted::compare(
                    positionals,
                    &plan,
                    &boundaries,
                    spec.memory_limit,
                    &progress,
                )?,
                None => reread::compare(
                    [left, right],
                    &plan,
                    &boundaries,
                    spec.group_rows,
                    &progress,
                )?,
            }
        }
    };
    let mut comparison = finish(
        [left, right],
        spec,
        plan,
        &boundaries,
        outcome,
        [started, sampled],
        &progress,
        None,
    )?;
    comparison.report.schema.notes.extend(notes);
    Ok(comparison)
}

/// Samples both sides' keys for the leaf boundaries. Positional sources go
/// the merged pass (in key order: a systematic sample of a leaf's worth of
/// rows already makes equal-depth leaves) or the fingerprint path (few
/// leaves): a sparse sample serves both, and the same sample whatever the
/// path (or a cluster), so every path names the same ranges.
fn sample_both(
    [left, right]: [&dyn Source; 2],
    keys: &[&crate::canon::ColumnPlan],
    spec: &Spec,
) -> Result<(merkle::KeySample, merkle::KeySample)> {
    // Leaves for the larger side; sized before sampling when both sides know
    // their row counts (positional sources), from the sample otherwise.
    let known_rows = |s: &dyn Source| s.positional().map(|p| p.part_rows().iter().sum::<u64>());
    let per_side_target = match (known_rows(left), known_rows(right)) {
        (Some(l), Some(r)) => leaves_for(spec, l.max(r) as usize) * SAMPLES_PER_LEAF / 2,
        _ => usize::MAX,
    };
    let (l, r) = rayon::join(
        || merkle::sample_keys(left, keys, Side::Left, per_side_target),
        || merkle::sample_keys(right, keys, Side::Right, per_side_target),
    );
    Ok((l?, r?))
}

/// The boundaries a run starts with. Unsorted positional sources are
/// matched by row fingerprints; leaves then serve only to name ranges in
/// the report, so fewer of them keep the per-row lookup in cache. A sample
/// out of key order rules out the merged pass, so those leaves are the only
/// ones needed.
fn first_boundaries(
    [left, right]: [&dyn Source; 2],
    spec: &Spec,
    samples: [&merkle::KeySample; 2],
) -> Boundaries {
    let leaves = leaves_for(spec, samples[0].rows.max(samples[1].rows) as usize);
    let positional = left.positional().is_some() && right.positional().is_some();
    let ordered = samples.iter().all(|s| s.looks_ordered());
    if positional && spec.unsorted_path && !(ordered && spec.merge_ordered) {
        Boundaries::from_samples(&samples, leaves.min(UNSORTED_LEAVES))
    } else {
        Boundaries::from_samples(&samples, leaves)
    }
}

/// The end every strategy shares: check that the divergent leaves are
/// explained, gather the statistics and build the report.
#[allow(clippy::too_many_arguments)]
fn finish(
    [left, right]: [&dyn Source; 2],
    spec: &Spec,
    plan: ComparePlan,
    boundaries: &Boundaries,
    outcome: Outcome,
    [started, sampled]: [Instant; 2],
    progress: &ProgressBar,
    state: Option<StateStats>,
) -> Result<Comparison> {
    progress.finish_and_clear();
    // Whichever strategy ran, its divergent leaves must be explained.
    check_repeatable(&outcome.trees.divergent_leaves, &outcome.rows, boundaries)?;
    let finished = Instant::now();
    let Outcome {
        left: left_leaves,
        right: right_leaves,
        trees: comparison,
        rows,
        strategy,
        hashed,
        spilled,
    } = outcome;

    let stats = Stats {
        threads: spec.threads,
        strategy,
        merged_pass: strategy == Strategy::Merged,
        bytes_spilled: spilled,
        leaves: boundaries.leaf_count(),
        divergent_leaves: comparison.divergent_leaves.len(),
        tree_nodes_compared: comparison.nodes_compared,
        left_rows_hashed: left_leaves.rows - state.as_ref().map_or(0, |s| s.left_rows_reused),
        right_rows_hashed: right_leaves.rows - state.as_ref().map_or(0, |s| s.right_rows_reused),
        left_rows_rescanned: rows.left.rescanned,
        right_rows_rescanned: rows.right.rescanned,
        left_rows_reread: rows.left.reread,
        right_rows_reread: rows.right.reread,
        seconds_sample: (sampled - started).as_secs_f64(),
        seconds_hash: (hashed - sampled).as_secs_f64(),
        seconds_rows: (finished - hashed).as_secs_f64(),
        seconds_total: (finished - started).as_secs_f64(),
        pushdown: None,
        cluster: None,
        state,
    };
    let report = Report::build(ReportInput {
        left_name: left.describe(),
        right_name: right.describe(),
        plan: &plan,
        boundaries,
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

/// Leaves for a side of `rows` rows.
fn leaves_for(spec: &Spec, rows: usize) -> usize {
    // Small tables still get a few leaves, so the report can name narrow ranges.
    let floor = rows.div_ceil(4).min(64);
    rows.div_ceil(spec.leaf_rows.max(1))
        .max(floor)
        .clamp(1, spec.max_leaves.max(1))
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
