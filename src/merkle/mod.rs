//! Merkle localisation: both sides are cut into the same key ranges (leaves),
//! each leaf gets an order-independent digest of its rows, leaves are summed
//! into a tree, and the two trees are compared top-down so that only the
//! divergent leaves are read again at row level.

mod boundaries;
mod leaves;

pub use boundaries::{Boundaries, KeySample, sample_keys};
pub(crate) use leaves::{EncodedBatch, RowHasher};
pub use leaves::{
    NULL_KEY_SAMPLES, OnPart, PartRecord, PositionMap, SideLeaves, hash_side, hash_side_keeping,
    null_key_samples,
};

use rayon::prelude::*;

/// How many children an inner node sums.
const FANOUT: usize = 16;

/// The digest of a multiset of rows: their count and the wrapping sum of their
/// 128-bit hashes. Addition (not XOR) keeps duplicate rows from cancelling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    pub rows: u64,
    pub sum: u128,
}

impl Digest {
    #[inline]
    pub fn add(&mut self, row_hash: u128) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(row_hash);
    }

    #[inline]
    pub fn merge(&mut self, other: &Digest) {
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
    }
}

/// Leaf digests and the sums above them; `levels[0]` are the leaves, the last level is the root.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    levels: Vec<Vec<Digest>>,
}

impl MerkleTree {
    pub fn new(leaves: Vec<Digest>) -> Self {
        let mut levels = vec![if leaves.is_empty() {
            vec![Digest::default()]
        } else {
            leaves
        }];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let next = below
                .par_chunks(FANOUT)
                .map(|chunk| {
                    let mut d = Digest::default();
                    chunk.iter().for_each(|c| d.merge(c));
                    d
                })
                .collect();
            levels.push(next);
        }
        MerkleTree { levels }
    }

    pub fn leaves(&self) -> &[Digest] {
        &self.levels[0]
    }
}

/// The outcome of comparing two trees.
#[derive(Debug, Clone, Default)]
pub struct TreeComparison {
    /// Indexes of the leaves whose digests differ, ascending.
    pub divergent_leaves: Vec<usize>,
    /// Tree nodes whose digests were compared.
    pub nodes_compared: usize,
}

/// Builds both sides' trees over their leaf digests and compares them.
pub fn compare_leaves(left: &SideLeaves, right: &SideLeaves) -> TreeComparison {
    compare(
        &MerkleTree::new(left.leaves.clone()),
        &MerkleTree::new(right.leaves.clone()),
    )
}

/// Compares two trees of the same shape top-down, descending only into
/// subtrees whose digests differ.
pub fn compare(left: &MerkleTree, right: &MerkleTree) -> TreeComparison {
    debug_assert_eq!(left.levels.len(), right.levels.len());
    let mut result = TreeComparison::default();
    let top = left.levels.len() - 1;
    let mut stack = vec![(top, 0usize)];
    while let Some((level, index)) = stack.pop() {
        result.nodes_compared += 1;
        let (l, r) = (
            left.levels[level].get(index).copied().unwrap_or_default(),
            right.levels[level].get(index).copied().unwrap_or_default(),
        );
        if l == r {
            continue;
        }
        if level == 0 {
            result.divergent_leaves.push(index);
            continue;
        }
        let width = left.levels[level - 1].len();
        let first = index * FANOUT;
        // Push in reverse so that leaves come out in ascending order.
        for child in (first..(first + FANOUT).min(width)).rev() {
            stack.push((level - 1, child));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digests(values: &[u128]) -> Vec<Digest> {
        values.iter().map(|&v| Digest { rows: 1, sum: v }).collect()
    }

    #[test]
    fn finds_exactly_the_changed_leaves() {
        let base: Vec<u128> = (0..1000).collect();
        let mut changed = base.clone();
        changed[3] = 99_999;
        changed[517] = 5;
        changed[999] = 1;
        let cmp = compare(
            &MerkleTree::new(digests(&base)),
            &MerkleTree::new(digests(&changed)),
        );
        assert_eq!(cmp.divergent_leaves, vec![3, 517, 999]);
        assert!(cmp.nodes_compared < 200);
    }

    #[test]
    fn equal_trees_compare_one_node() {
        let t = MerkleTree::new(digests(&[1, 2, 3]));
        let cmp = compare(&t, &t.clone());
        assert!(cmp.divergent_leaves.is_empty());
        assert_eq!(cmp.nodes_compared, 1);
    }

    #[test]
    fn duplicate_rows_do_not_cancel() {
        let mut twice = Digest::default();
        twice.add(7);
        twice.add(7);
        assert_ne!(twice, Digest::default());
    }
}
