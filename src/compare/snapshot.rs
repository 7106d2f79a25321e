//! Snapshots as a side: taking one (`recon snapshot`), and comparing a live
//! source against one (`recon diff SNAPSHOT RIGHT`). The live side is hashed
//! into the snapshot's leaves, under the snapshot's digest key; the trees
//! are compared; the live rows of divergent leaves are read back. The
//! snapshot holds no rows, so those rows cannot be matched: the report
//! names the divergent ranges and the live rows in them.

use std::time::Instant;

use indicatif::ProgressBar;

use super::Spec;
use super::rows::{self, KeptRows, Reread, RowDiff};
use crate::canon::keyed;
use crate::error::{Error, Result, Side};
use crate::merkle::{self, Boundaries, SideLeaves, TreeComparison};
use crate::plan::{ComparePlan, SideTraits};
use crate::report::{Report, ReportInput, SnapshotComparison, Stats, Strategy, values};
use crate::snapshot::{self, FileIdentity, HashPlan, Snapshot};
use crate::source::Source;

/// A snapshot keeps each file's part records but needs telling of none.
const NOTHING: merkle::OnPart<'static> = &|_, _| {};

/// Rows of the live side listed in the report (all are counted).
const LISTED_ROWS: usize = 1000;

/// Takes a snapshot of `source`: its leaves under `spec`'s key and columns,
/// cut like `like`'s when given (so that two snapshots compare).
pub fn take_snapshot(
    source: &dyn Source,
    spec: &Spec,
    like: Option<&Snapshot>,
    hash_keys: bool,
) -> Result<Snapshot> {
    crate::source::in_pool(spec.threads, || {
        let source: &dyn Source = match source.as_database() {
            Some(db) => db.load(&spec.selection.key)?,
            None => source,
        };
        let schema = source.schema();
        let traits = SideTraits::of(source);
        let mut selection = spec.selection.clone();
        selection.map.clear();
        let plan = ComparePlan::with_traits(&schema, &schema, &selection, [traits, traits])?;
        let keys = plan.key_columns();
        let hash_plan = HashPlan::of(&plan, Side::Left, &schema);
        let boundaries = match like {
            Some(like) => {
                if let Some(why) = like.meta.plan.mismatch(&hash_plan) {
                    return Err(Error::Usage(format!(
                        "--like: the snapshot was taken under another plan: {why}"
                    )));
                }
                keyed::adopt(&like.meta.digest_key)
                    .map_err(|why| Error::Usage(format!("--like: {why}")))?;
                like.boundaries(&keys)?
            }
            None if hash_keys => {
                // Hashes spread evenly: equal widths need only the row count.
                let rows = match source.positional() {
                    Some(p) => p.part_rows().iter().sum::<u64>(),
                    None => crate::source::read_all(&[source], spec.threads)?[0],
                };
                Boundaries::even_hashes(super::leaves_for(spec, rows as usize))
            }
            None => {
                let rows = source
                    .positional()
                    .map(|p| p.part_rows().iter().sum::<u64>());
                let target = rows.map_or(usize::MAX, |r| {
                    super::leaves_for(spec, r as usize) * super::SAMPLES_PER_LEAF
                });
                let sample = merkle::sample_keys(source, &keys, Side::Left, target)?;
                let leaves = super::leaves_for(spec, sample.rows as usize);
                Boundaries::from_samples(&[&sample], leaves)
            }
        };
        let files = source.positional().map_or(&[][..], |p| p.files());
        let (leaves, records) = merkle::hash_side_keeping(
            source,
            &plan,
            Side::Left,
            &boundaries,
            &[],
            (!files.is_empty()).then_some(NOTHING),
            &ProgressBar::hidden(),
        )?;
        let start = std::time::SystemTime::now();
        let identities = files
            .iter()
            .map(|path| {
                FileIdentity::read(path, start, None).map_err(|message| Error::Source {
                    side: Side::Left,
                    source_name: source.describe().to_string(),
                    message: format!("{}: {message}", path.display()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut parts: Vec<Vec<merkle::PartRecord>> = vec![Vec::new(); files.len()];
        if let Some(positional) = source.positional() {
            for (part, record) in records {
                if let Some(f) = positional.part_file(part) {
                    parts[f].push(record);
                }
            }
        }
        let mut taken = Snapshot::of_side(
            source,
            hash_plan,
            spec.leaf_rows,
            &leaves,
            snapshot::decode_bounds(&keys, &boundaries)?,
            identities,
            &parts,
        );
        taken.meta.hashed_keys = boundaries.is_hashed();
        Ok(taken)
    })
}

/// One side of a comparison with a snapshot: the snapshot, or a live source.
pub enum SideInput<'a> {
    Snapshot {
        snapshot: &'a Snapshot,
        path: &'a str,
    },
    Live(&'a dyn Source),
}

/// Compares two sides of which at least one is a snapshot.
pub fn diff_with_snapshot(
    left: SideInput<'_>,
    right: SideInput<'_>,
    spec: &Spec,
    ranges_out: Option<&str>,
) -> Result<super::Comparison> {
    crate::source::in_pool(spec.threads, || {
        let started = Instant::now();
        let right_keys: Vec<String> = spec
            .selection
            .key
            .iter()
            .map(|k| spec.selection.right_name(k).to_string())
            .collect();
        // Each side's schema and traits; a database side is read whole.
        struct Opened<'a> {
            snapshot: Option<(&'a Snapshot, &'a str)>,
            live: Option<&'a dyn Source>,
            schema: arrow::datatypes::SchemaRef,
            traits: SideTraits,
        }
        let mut opened = Vec::new();
        for (input, keys) in [(left, &spec.selection.key), (right, &right_keys)] {
            opened.push(match input {
                SideInput::Snapshot { snapshot, path } => Opened {
                    schema: snapshot.meta.plan.schema()?,
                    traits: SideTraits {
                        distinguishes_empty_from_null: snapshot.meta.distinguishes_empty_from_null,
                        declares_nullability: snapshot.meta.declares_nullability,
                    },
                    snapshot: Some((snapshot, path)),
                    live: None,
                },
                SideInput::Live(source) => {
                    let source: &dyn Source = match source.as_database() {
                        Some(db) => db.load(keys)?,
                        None => source,
                    };
                    Opened {
                        schema: source.schema(),
                        traits: SideTraits::of(source),
                        snapshot: None,
                        live: Some(source),
                    }
                }
            });
        }
        let [l, r]: [Opened<'_>; 2] = opened
            .try_into()
            .map_err(|_| Error::Internal("two sides".into()))?;
        let plan =
            ComparePlan::with_traits(&l.schema, &r.schema, &spec.selection, [l.traits, r.traits])?;
        let keys = plan.key_columns();
        // Every snapshot must have been taken under this plan, with one key
        // and one cut of the key space.
        let mut boundaries: Option<(Boundaries, &Snapshot)> = None;
        for (side, o) in [(Side::Left, &l), (Side::Right, &r)] {
            let Some((snapshot, path)) = o.snapshot else {
                continue;
            };
            let fail = |message: String| Error::Snapshot {
                path: path.to_string(),
                message,
            };
            if snapshot.meta.partial {
                return Err(fail(
                    "the state of an unfinished run, not a snapshot: its leaves are incomplete"
                        .into(),
                ));
            }
            let here = HashPlan::of(&plan, side, &o.schema);
            if let Some(why) = snapshot.meta.plan.mismatch(&here) {
                return Err(fail(format!("taken under another plan: {why}")));
            }
            // Columns of the other side that the snapshot did not hash would
            // be compared against nothing.
            let unhashed = match side {
                Side::Left => &plan.right_only,
                Side::Right => &plan.left_only,
            };
            if !unhashed.is_empty() {
                let names: Vec<&str> = unhashed.iter().map(|c| c.name.as_str()).collect();
                return Err(fail(format!(
                    "taken under another plan: this comparison hashes {} that the snapshot \
                     did not (--exclude them, or take the snapshot with them)",
                    names.join(", ")
                )));
            }
            keyed::adopt(&snapshot.meta.digest_key).map_err(|why| {
                fail(format!(
                    "cannot be compared here: {why} (take both snapshots with --like)"
                ))
            })?;
            match &boundaries {
                None => boundaries = Some((snapshot.boundaries(&keys)?, snapshot)),
                Some((_, first)) => {
                    let same = first.bounds.len() == snapshot.bounds.len()
                        && first
                            .bounds
                            .iter()
                            .zip(&snapshot.bounds)
                            .all(|(a, b)| a.as_ref() == b.as_ref());
                    if !same {
                        return Err(fail(
                            "its leaves are cut differently from the other snapshot's \
                             (take it with `recon snapshot --like` the other)"
                                .into(),
                        ));
                    }
                }
            }
        }
        let Some((boundaries, first)) = boundaries else {
            return Err(Error::Internal("no snapshot side".into()));
        };
        let snapshot_keys = first.meta.plan.keys.clone();
        let sampled = Instant::now();
        // A live side of files is hashed on the cluster when the run has one.
        let mut clustered = Vec::with_capacity(2);
        for (side, live) in [(Side::Left, l.live), (Side::Right, r.live)] {
            clustered.push(match live {
                Some(live) => super::cluster::LiveSide::new(
                    spec,
                    live,
                    [l.schema.clone(), r.schema.clone()],
                    [l.traits, r.traits],
                    side,
                )?,
                None => None,
            });
        }
        let leaves_of = |side: Side, o: &Opened<'_>| -> Result<SideLeaves> {
            if let Some(live) = &clustered[side as usize] {
                return live.leaves(&plan, &boundaries);
            }
            match (o.snapshot, o.live) {
                (Some((s, _)), _) => Ok(SideLeaves {
                    leaves: s.leaves.clone(),
                    rows: s.meta.rows,
                    null_key_rows: s.meta.null_key_rows,
                    ..SideLeaves::default()
                }),
                (None, Some(live)) => {
                    merkle::hash_side(live, &plan, side, &boundaries, &ProgressBar::hidden())
                }
                (None, None) => Err(Error::Internal("a side with no input".into())),
            }
        };
        let (left_leaves, right_leaves) = (leaves_of(Side::Left, &l)?, leaves_of(Side::Right, &r)?);
        let trees = merkle::compare_leaves(&left_leaves, &right_leaves);
        if let Some(path) = ranges_out {
            super::RangeSet::of(&plan, &boundaries, &trees.divergent_leaves, snapshot_keys)?
                .write(path)?;
        }
        let hashed = Instant::now();
        // The live rows of divergent leaves.
        let mut selected = vec![false; boundaries.leaf_count()];
        for &leaf in &trees.divergent_leaves {
            selected[leaf] = true;
        }
        let leaf_rows: Vec<u64> = left_leaves
            .leaves
            .iter()
            .zip(&right_leaves.leaves)
            .map(|(a, b)| a.rows.max(b.rows))
            .collect();
        let kept = |side: Side, o: &Opened<'_>, leaves: &SideLeaves| -> Result<Option<KeptRows>> {
            let Some(live) = o.live else {
                return Ok(None);
            };
            let fetched = match &clustered[side as usize] {
                Some(remote) => Some(remote.rows(&boundaries, &trees.divergent_leaves)?),
                None => None,
            };
            let live: &dyn Source = match &fetched {
                Some(memory) => memory,
                None => live,
            };
            let reread = Reread {
                boundaries: &boundaries,
                leaves: &selected,
                key_hashes: &[],
                positions: [leaves.positions.as_ref(), leaves.positions.as_ref()],
                leaf_rows: &leaf_rows,
                group_rows: spec.group_rows,
            };
            Ok(Some(rows::rows_in(live, &plan, side, &reread)?))
        };
        let left_kept = kept(Side::Left, &l, &left_leaves)?;
        let right_kept = kept(Side::Right, &r, &right_leaves)?;
        let finished = Instant::now();
        let empty = |side: Side| KeptRows {
            batch: arrow::record_batch::RecordBatch::new_empty(std::sync::Arc::new(
                rows::scan_schema(&plan.columns(), side),
            )),
            rescanned: 0,
            reread: 0,
        };
        let row_diff = RowDiff {
            left: left_kept.clone().unwrap_or_else(|| empty(Side::Left)),
            right: right_kept.clone().unwrap_or_else(|| empty(Side::Right)),
            diffs: Vec::new(),
            duplicates: Vec::new(),
            unchanged: 0,
            column_mismatches: vec![0; plan.values.len()],
            tolerated_leaves: Vec::new(),
        };
        let stats = Stats {
            threads: spec.threads,
            strategy: if clustered.iter().any(Option::is_some) {
                Strategy::Cluster
            } else {
                Strategy::Leaves
            },
            leaves: boundaries.leaf_count(),
            divergent_leaves: trees.divergent_leaves.len(),
            tree_nodes_compared: trees.nodes_compared,
            left_rows_hashed: if l.live.is_some() {
                left_leaves.rows
            } else {
                0
            },
            right_rows_hashed: if r.live.is_some() {
                right_leaves.rows
            } else {
                0
            },
            left_rows_rescanned: row_diff.left.rescanned,
            right_rows_rescanned: row_diff.right.rescanned,
            left_rows_reread: row_diff.left.reread,
            right_rows_reread: row_diff.right.reread,
            seconds_sample: (sampled - started).as_secs_f64(),
            seconds_hash: (hashed - sampled).as_secs_f64(),
            seconds_rows: (finished - hashed).as_secs_f64(),
            seconds_total: (finished - started).as_secs_f64(),
            ..Stats::default()
        };
        let describe = |o: &Opened<'_>| match (o.snapshot, o.live) {
            (Some((s, path)), _) => {
                format!("snapshot {path} of {} ({})", s.meta.source, s.meta.created)
            }
            (None, Some(live)) => live.describe().to_string(),
            (None, None) => String::new(),
        };
        let (left_name, right_name) = (describe(&l), describe(&r));
        let mut report = Report::build(ReportInput {
            left_name: &left_name,
            right_name: &right_name,
            plan: &plan,
            boundaries: &boundaries,
            left_leaves: &left_leaves,
            right_leaves: &right_leaves,
            comparison: &trees,
            rows: &row_diff,
            max_diffs: spec.max_diffs,
            stats,
        })?;
        let live = [(Side::Left, &left_kept), (Side::Right, &right_kept)]
            .into_iter()
            .find_map(|(side, kept)| kept.as_ref().map(|k| (side, k)));
        finish_report(
            &mut report,
            &plan,
            [&left_leaves, &right_leaves],
            &trees,
            live,
            boundaries.is_hashed(),
        );
        let names = |schema: &arrow::datatypes::SchemaRef| -> Vec<String> {
            schema.fields().iter().map(|f| f.name().clone()).collect()
        };
        let mask = crate::report::Mask::resolve(
            &spec.mask,
            &spec.selection.map,
            &names(&l.schema),
            &names(&r.schema),
        )?;
        mask.apply_to_report(&mut report);
        Ok(super::Comparison {
            report,
            plan,
            rows: row_diff,
            mask,
        })
    })
}

/// What a comparison with a snapshot can say: the divergent ranges, and the
/// live rows in them (not matched: the snapshot has no rows). Counts of
/// only-left, only-right and changed rows are unknown and left at zero;
/// rows in equal leaves are unchanged.
fn finish_report(
    report: &mut Report,
    plan: &ComparePlan,
    [left, right]: [&SideLeaves; 2],
    trees: &TreeComparison,
    live: Option<(Side, &KeptRows)>,
    hashed: bool,
) {
    let mut divergent = vec![false; left.leaves.len()];
    for &leaf in &trees.divergent_leaves {
        divergent[leaf] = true;
    }
    report.summary.unchanged = left
        .leaves
        .iter()
        .zip(&right.leaves)
        .zip(&divergent)
        .filter(|(_, d)| !**d)
        .map(|((l, _), _)| l.rows)
        .sum();
    let (rows, listed) = match live {
        Some((side, kept)) => {
            let batch = &kept.batch;
            let names: Vec<&str> = plan.columns().iter().map(|c| c.name(side)).collect();
            let renderers: Vec<values::ValueRenderer> = batch
                .columns()
                .iter()
                .map(values::ValueRenderer::new)
                .collect();
            let listed = (0..batch.num_rows().min(LISTED_ROWS))
                .map(|i| values::row_object(&names, &renderers, i))
                .collect();
            (batch.num_rows() as u64, listed)
        }
        None => (0, Vec::new()),
    };
    for range in &mut report.ranges {
        range.differences = 0;
    }
    report.snapshot = Some(SnapshotComparison {
        live_side: live.map(|(side, _)| side),
        live_rows_in_ranges: rows,
        rows_truncated: rows as usize > listed.len(),
        rows: listed,
    });
    report.schema.notes.push(match live {
        Some((side, _)) => format!(
            "compared with a snapshot, which holds digests, not rows: {} divergent ranges \
                 hold {rows} rows of the {} side; their counterparts are not known \
                 (`--ranges-out FILE`, then `recon extract` on the snapshot's source)",
            report.ranges.len(),
            side.name()
        ),
        None => format!(
            "two snapshots compared by digest: {} divergent ranges",
            report.ranges.len()
        ),
    });
    if hashed {
        report.schema.notes.push(
            "the snapshot's leaves cut key hashes (--hash-keys): its ranges hold keys \
             scattered over the key space and are named by hash, not by key"
                .into(),
        );
    }
    if !trees.divergent_leaves.is_empty() {
        report.verdict = crate::report::Verdict::Different;
    }
}
