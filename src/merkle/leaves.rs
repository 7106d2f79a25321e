//! The hashing pass: one streaming read of a side, partitions in parallel,
//! every row hashed (key and compared columns, canonically encoded) into the
//! digest of its leaf. Memory holds the leaf digests, not the rows; the only
//! per-row state is one 64-bit key hash, kept to find duplicate keys.

use arrow::record_batch::RecordBatch;
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::Digest;
use super::boundaries::Boundaries;
use crate::canon;
use crate::error::{Result, Side};
use crate::plan::ComparePlan;
use crate::source::Source;

/// Rows with a NULL key kept as examples for the report.
pub const NULL_KEY_SAMPLES: usize = 10;

/// What the hashing pass learned about one side.
#[derive(Debug, Default)]
pub struct SideLeaves {
    pub leaves: Vec<Digest>,
    /// Every row read, NULL keys included.
    pub rows: u64,
    pub null_key_rows: u64,
    /// A few rows with a NULL key (all scanned columns).
    pub null_key_samples: Vec<RecordBatch>,
    /// Key hashes seen more than once: candidates for duplicate keys, to be
    /// confirmed on the keys themselves.
    pub duplicate_key_hashes: Vec<u64>,
}

/// Hashes every row of one side into its leaf.
pub fn hash_side(
    source: &dyn Source,
    plan: &ComparePlan,
    side: Side,
    boundaries: &Boundaries,
    progress: &ProgressBar,
) -> Result<SideLeaves> {
    let columns = plan.columns();
    let keys = plan.key_columns();
    let names: Vec<String> = columns.iter().map(|c| c.name(side).to_string()).collect();
    let key_converter = canon::row_converter(&keys)?;
    let row_converter = canon::row_converter(&columns)?;
    let leaf_count = boundaries.leaf_count();

    struct Partial {
        leaves: Vec<Digest>,
        rows: u64,
        null_key_rows: u64,
        null_key_samples: Vec<RecordBatch>,
        key_hashes: Vec<u64>,
    }

    let partials: Vec<Partial> = source
        .scan(&names, None)?
        .into_par_iter()
        .map(|stream| {
            let mut p = Partial {
                leaves: vec![Digest::default(); leaf_count],
                rows: 0,
                null_key_rows: 0,
                null_key_samples: Vec::new(),
                key_hashes: Vec::new(),
            };
            for batch in stream {
                let batch = batch?;
                let n = batch.num_rows();
                p.rows += n as u64;
                let key_arrays = &batch.columns()[..keys.len()];
                let key_canonical = canon::canonical_arrays(&keys, key_arrays, side)?;
                let mut all_canonical = key_canonical.clone();
                all_canonical.extend(canon::canonical_arrays(
                    &columns[keys.len()..],
                    &batch.columns()[keys.len()..],
                    side,
                )?);
                let key_rows = canon::encode(&key_converter, &key_canonical)?;
                let full_rows = canon::encode(&row_converter, &all_canonical)?;
                let nulls = canon::null_rows(key_arrays);
                p.key_hashes.reserve(n);
                for i in 0..n {
                    if nulls.as_ref().is_some_and(|m| m[i]) {
                        p.null_key_rows += 1;
                        if p.null_key_samples.len() < NULL_KEY_SAMPLES {
                            p.null_key_samples.push(batch.slice(i, 1));
                        }
                        continue;
                    }
                    let key = key_rows.row(i);
                    let leaf = boundaries.leaf_of(key.as_ref());
                    p.leaves[leaf].add(canon::row_hash(full_rows.row(i).as_ref()));
                    p.key_hashes.push(canon::key_hash(key.as_ref()));
                }
                progress.inc(n as u64);
            }
            Ok(p)
        })
        .collect::<Result<_>>()?;

    let mut out = SideLeaves {
        leaves: vec![Digest::default(); leaf_count],
        ..Default::default()
    };
    let mut key_hashes = Vec::new();
    for p in partials {
        for (total, part) in out.leaves.iter_mut().zip(&p.leaves) {
            total.merge(part);
        }
        out.rows += p.rows;
        out.null_key_rows += p.null_key_rows;
        let room = NULL_KEY_SAMPLES.saturating_sub(out.null_key_samples.len());
        out.null_key_samples
            .extend(p.null_key_samples.into_iter().take(room));
        if key_hashes.is_empty() {
            key_hashes = p.key_hashes;
        } else {
            key_hashes.extend(p.key_hashes);
        }
    }
    out.duplicate_key_hashes = repeated(key_hashes);
    Ok(out)
}

/// Values that occur more than once, each reported once.
fn repeated(mut hashes: Vec<u64>) -> Vec<u64> {
    hashes.par_sort_unstable();
    let mut out: Vec<u64> = hashes
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    out.dedup();
    out
}
