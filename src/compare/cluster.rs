//! The cluster path (`--cluster`): a Ballista cluster hashes the file sides
//! it can read into the run's leaves (the very row hashes and leaves of the
//! local path), the trees are compared here, and only the rows of divergent
//! leaves and of keys that may repeat come back, to be compared here as any
//! re-read rows are. A side the cluster cannot read (a database) is hashed
//! here under the same leaves.

use std::time::Instant;

use super::rows::RowDiff;
use super::{Comparison, Outcome, Spec, finish, first_boundaries, progress_bar, sample_both};
use crate::cluster::client::{Cluster, ClusterSide};
use crate::cluster::functions::{ChosenRows, HashingSpec};
use crate::error::{Result, Side};
use crate::merkle::{self, Boundaries, Digest, SideLeaves};
use crate::plan::{ComparePlan, SideTraits};
use crate::report::{ClusterStats, Strategy};
use crate::source::{ClusterTable, MemorySource, Source};

/// Rows a sub-bucket of a leaf holds, about: the digests the cluster
/// returns grow as they shrink, the rows of a divergent one as they grow.
const SUB_BUCKET_ROWS: u64 = 64;

/// At most this many sub-buckets per leaf, and in all per side (32 bytes
/// each: 32 MiB of digests per side at most, held by this process).
const MAX_SUB_BUCKETS: u64 = 256;
const MAX_BUCKETS: u64 = 1 << 20;

/// Compares two sources, hashing on the cluster each side it has a table for.
pub(super) fn compare(left: &dyn Source, right: &dyn Source, spec: &Spec) -> Result<Comparison> {
    let Some(run) = &spec.cluster else {
        return Err(crate::error::Error::Internal(
            "the cluster path without a cluster".into(),
        ));
    };
    let started = Instant::now();
    let sources = [left, right];
    let traits = sources.map(SideTraits::of);
    let plan = ComparePlan::with_traits(&left.schema(), &right.schema(), &spec.selection, traits)?;
    let keys = plan.key_columns();
    let (left_sample, right_sample) = sample_both(sources, &keys, spec)?;
    let boundaries = first_boundaries(sources, spec, [&left_sample, &right_sample]);
    let leaf_count = boundaries.leaf_count() as u64;
    let rows_per_leaf = left_sample.rows.max(right_sample.rows) / leaf_count;
    let sub_buckets = rows_per_leaf
        .div_ceil(SUB_BUCKET_ROWS)
        .min(MAX_SUB_BUCKETS)
        .min(MAX_BUCKETS / leaf_count)
        .max(1) as u32;
    drop((left_sample, right_sample));
    let sampled = Instant::now();
    let progress = progress_bar(spec.progress);

    let cluster = Cluster::new(&run.url, run.executor_wait)?;
    let base = HashingSpec::new(
        &left.schema(),
        &right.schema(),
        &spec.selection,
        traits,
        Side::Left,
    )?;
    let sides: [Option<ClusterSide<'_>>; 2] = [0, 1].map(|s| {
        run.tables[s].as_ref().map(|table| ClusterSide {
            table,
            schema: sources[s].schema(),
            spec: base.for_side(Side::BOTH[s]),
        })
    });
    let mut stats = ClusterStats::default();

    // The leaves: from the cluster, or hashed here meanwhile.
    let on_cluster = [sides[0].as_ref(), sides[1].as_ref()];
    let (remote, here) = rayon::join(
        || cluster.digests(on_cluster, &boundaries, sub_buckets),
        || {
            [0, 1]
                .map(|s| {
                    on_cluster[s].is_none().then(|| {
                        merkle::hash_side(sources[s], &plan, Side::BOTH[s], &boundaries, &progress)
                    })
                })
                .map(Option::transpose)
        },
    );
    stats.jobs += 2 * on_cluster.iter().flatten().count() as u32;
    let mut leaves: Vec<SideLeaves> = Vec::with_capacity(2);
    let mut buckets: [Option<Vec<(u64, Digest)>>; 2] = [None, None];
    for (s, (digests, here)) in remote?.into_iter().zip(here).enumerate() {
        let side = Side::BOTH[s];
        leaves.push(match (digests, here?) {
            (Some(d), _) => {
                stats.bytes_returned += d.digest_bytes + d.key_hash_bytes;
                stats.digest_bytes += d.digest_bytes;
                stats.key_hash_bytes += d.key_hash_bytes;
                buckets[s] = Some(d.buckets);
                let null_key_samples = if d.null_key_rows > 0 {
                    merkle::null_key_samples(sources[s], &plan, side)?
                } else {
                    Vec::new()
                };
                SideLeaves {
                    leaves: d.leaves,
                    rows: d.rows,
                    null_key_rows: d.null_key_rows,
                    null_key_samples,
                    duplicate_key_hashes: d.repeated_key_hashes,
                    positions: None,
                }
            }
            (None, Some(local)) => local,
            (None, None) => {
                return Err(crate::error::Error::Internal(
                    "a side hashed nowhere".into(),
                ));
            }
        });
    }
    let (Some(right_leaves), Some(left_leaves)) = (leaves.pop(), leaves.pop()) else {
        return Err(crate::error::Error::Internal("two sides expected".into()));
    };
    let trees = merkle::compare_leaves(&left_leaves, &right_leaves);
    let hashed = Instant::now();
    stats.seconds_digests = (hashed - sampled).as_secs_f64();

    // The rows of divergent leaves and of repeated keys, from where each side is.
    let key_hashes = super::reread::duplicate_candidates([&left_leaves, &right_leaves]);
    // Within a divergent leaf, the sub-buckets whose digests differ (both
    // sides hashed on the cluster); otherwise the whole leaf.
    let (chosen_leaves, chosen_buckets) = match &buckets {
        [Some(l), Some(r)] if sub_buckets > 1 => (
            Vec::new(),
            divergent_buckets(l, r, &trees.divergent_leaves, sub_buckets),
        ),
        _ => (
            trees.divergent_leaves.iter().map(|&l| l as u32).collect(),
            Vec::new(),
        ),
    };
    let chosen = |side: &ClusterSide<'_>| ChosenRows {
        spec: side.spec.with_bounds(&boundaries, sub_buckets),
        leaves: chosen_leaves.clone(),
        buckets: chosen_buckets.clone(),
        key_hashes: key_hashes.clone(),
    };
    let wanted = !trees.divergent_leaves.is_empty() || !key_hashes.is_empty();
    let fetch = [0, 1].map(|s| {
        sides[s]
            .as_ref()
            .filter(|_| wanted)
            .map(|side| (side, chosen(side)))
    });
    stats.jobs += fetch.iter().flatten().count() as u32;
    let fetched = cluster.rows(fetch)?;
    let mut kept: Vec<Option<MemorySource>> = Vec::with_capacity(2);
    for (s, rows) in fetched.into_iter().enumerate() {
        kept.push(match &sides[s] {
            Some(side) => {
                stats.bytes_returned += rows.bytes;
                stats.row_bytes += rows.bytes;
                let n: u64 = rows.batches.iter().map(|b| b.num_rows() as u64).sum();
                match Side::BOTH[s] {
                    Side::Left => stats.left_rows_fetched = n,
                    Side::Right => stats.right_rows_fetched = n,
                }
                Some(fetched_source(side, sources[s], rows.batches)?)
            }
            None => None,
        });
    }
    let read_from: [&dyn Source; 2] = [0, 1].map(|s| match &kept[s] {
        Some(memory) => memory as &dyn Source,
        None => sources[s],
    });
    let rows: RowDiff = super::reread::reread_divergent(
        read_from,
        &plan,
        &boundaries,
        [&left_leaves, &right_leaves],
        &trees.divergent_leaves,
        spec.group_rows,
    )?;
    stats.seconds_rows = hashed.elapsed().as_secs_f64();
    let outcome = Outcome {
        left: left_leaves,
        right: right_leaves,
        trees,
        rows,
        strategy: Strategy::Cluster,
        hashed,
        spilled: 0,
    };
    let mut comparison = finish(
        sources,
        spec,
        plan,
        &boundaries,
        outcome,
        [started, sampled],
        &progress,
        None,
    )?;
    comparison.report.stats.cluster = Some(stats);
    Ok(comparison)
}

/// Rows a cluster returned for `side` (in its scan columns and types), as
/// an in-memory source named as the side's own.
fn fetched_source(
    side: &ClusterSide<'_>,
    source: &dyn Source,
    batches: Vec<arrow::record_batch::RecordBatch>,
) -> Result<MemorySource> {
    MemorySource::new(source.describe(), side.fetched_schema()?, vec![batches])
}

/// The sub-buckets of `leaves` whose digests differ between the two sides
/// (each side's non-empty sub-buckets, ascending).
fn divergent_buckets(
    left: &[(u64, Digest)],
    right: &[(u64, Digest)],
    leaves: &[usize],
    sub_buckets: u32,
) -> Vec<u64> {
    let sub_buckets = u64::from(sub_buckets);
    let of_leaf = |side: &[(u64, Digest)], leaf: u64| -> std::collections::BTreeMap<u64, Digest> {
        let start = side.partition_point(|b| b.0 < leaf * sub_buckets);
        side[start..]
            .iter()
            .take_while(|b| b.0 < (leaf + 1) * sub_buckets)
            .copied()
            .collect()
    };
    let mut out = Vec::new();
    for &leaf in leaves {
        let (l, r) = (of_leaf(left, leaf as u64), of_leaf(right, leaf as u64));
        let all: std::collections::BTreeSet<u64> = l.keys().chain(r.keys()).copied().collect();
        out.extend(all.into_iter().filter(|b| l.get(b) != r.get(b)));
    }
    out
}

/// A live side compared with a snapshot, hashed on the cluster into the
/// snapshot's leaves (under its digest key, adopted before this is made).
pub(super) struct LiveSide<'a> {
    cluster: Cluster,
    table: ClusterTable,
    source: &'a dyn Source,
    spec: HashingSpec,
}

impl<'a> LiveSide<'a> {
    /// The cluster's view of the live `source` on `side`, when the run has a
    /// cluster and the side is files.
    pub(super) fn new(
        spec: &Spec,
        source: &'a dyn Source,
        [left, right]: [arrow::datatypes::SchemaRef; 2],
        traits: [SideTraits; 2],
        side: Side,
    ) -> Result<Option<LiveSide<'a>>> {
        let Some(run) = &spec.cluster else {
            return Ok(None);
        };
        let Some(table) = run.tables[side as usize].clone() else {
            return Ok(None);
        };
        Ok(Some(LiveSide {
            cluster: Cluster::new(&run.url, run.executor_wait)?,
            table,
            source,
            spec: HashingSpec::new(&left, &right, &spec.selection, traits, side)?,
        }))
    }

    fn side(&self) -> ClusterSide<'_> {
        ClusterSide {
            table: &self.table,
            schema: self.source.schema(),
            spec: self.spec.clone(),
        }
    }

    /// The side's leaf digests (and its first NULL-key rows, read here).
    pub(super) fn leaves(&self, plan: &ComparePlan, boundaries: &Boundaries) -> Result<SideLeaves> {
        let side = self.side();
        let mut sides = [None, None];
        sides[self.spec.side as usize] = Some(&side);
        let [l, r] = self.cluster.digests(sides, boundaries, 1)?;
        let digests = l
            .or(r)
            .ok_or_else(|| crate::error::Error::Internal("the cluster hashed no side".into()))?;
        let null_key_samples = if digests.null_key_rows > 0 {
            merkle::null_key_samples(self.source, plan, self.spec.side)?
        } else {
            Vec::new()
        };
        Ok(SideLeaves {
            leaves: digests.leaves,
            rows: digests.rows,
            null_key_rows: digests.null_key_rows,
            null_key_samples,
            duplicate_key_hashes: digests.repeated_key_hashes,
            positions: None,
        })
    }

    /// The side's rows in the `divergent` leaves.
    pub(super) fn rows(
        &self,
        boundaries: &Boundaries,
        divergent: &[usize],
    ) -> Result<MemorySource> {
        let side = self.side();
        let chosen = ChosenRows {
            spec: side.spec.with_bounds(boundaries, 1),
            leaves: divergent.iter().map(|&l| l as u32).collect(),
            buckets: Vec::new(),
            key_hashes: Vec::new(),
        };
        let mut fetch = [None, None];
        fetch[self.spec.side as usize] = Some((&side, chosen));
        let [l, r] = self.cluster.rows(fetch)?;
        let batches = if self.spec.side == Side::Left { l } else { r }.batches;
        fetched_source(&side, self.source, batches)
    }
}
