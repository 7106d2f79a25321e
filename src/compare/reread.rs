//! The general path, which assumes nothing about the order of either side:
//! every row of both sides is hashed into the digest of its key-range leaf,
//! the two Merkle trees are compared, and only the rows of divergent leaves
//! (and of keys that may occur twice) are read back and compared.

use std::time::Instant;

use indicatif::ProgressBar;

use super::Outcome;
use super::rows::{self, Reread, RowDiff};
use crate::error::{Result, Side};
use crate::merkle::{self, Boundaries, SideLeaves};
use crate::plan::ComparePlan;
use crate::report::Strategy;
use crate::source::Source;

/// Hashes both sides, compares their trees, re-reads what differs.
pub(super) fn compare(
    [left, right]: [&dyn Source; 2],
    plan: &ComparePlan,
    boundaries: &Boundaries,
    group_rows: u64,
    progress: &ProgressBar,
) -> Result<Outcome> {
    let (left_leaves, right_leaves) = rayon::join(
        || merkle::hash_side(left, plan, Side::Left, boundaries, progress),
        || merkle::hash_side(right, plan, Side::Right, boundaries, progress),
    );
    let (left_leaves, right_leaves) = (left_leaves?, right_leaves?);
    let trees = merkle::compare_leaves(&left_leaves, &right_leaves);
    let hashed = Instant::now();
    let rows = reread_divergent(
        [left, right],
        plan,
        boundaries,
        [&left_leaves, &right_leaves],
        &trees.divergent_leaves,
        group_rows,
    )?;
    Ok(Outcome {
        left: left_leaves,
        right: right_leaves,
        trees,
        rows,
        strategy: Strategy::Leaves,
        hashed,
        spilled: 0,
    })
}

/// Key hashes met more than once on either side, ascending, each once.
pub(super) fn duplicate_candidates(sides: [&SideLeaves; 2]) -> Vec<u64> {
    let mut hashes: Vec<u64> = sides
        .iter()
        .flat_map(|s| s.duplicate_key_hashes.iter().copied())
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// The general row phase: reads back the rows of divergent leaves (and of
/// possibly duplicated keys) on both sides and compares them.
pub(super) fn reread_divergent(
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
    let duplicate_candidates = duplicate_candidates([left_leaves, right_leaves]);
    let leaf_rows: Vec<u64> = left_leaves
        .leaves
        .iter()
        .zip(&right_leaves.leaves)
        .map(|(l, r)| l.rows.max(r.rows))
        .collect();
    rows::diff_rows(
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
