//! The path for positional sources that are not stored in key order (files
//! written by Spark, by parallel exporters, by hash-partitioned jobs): each
//! side is read once, and every row leaves a fingerprint, the hash of its
//! key, the hash of its row and its position. Fingerprints are gathered in
//! buckets by key hash; each bucket is sorted and matched against the same
//! bucket of the other side. A key found once on each side with equal row
//! hashes is equal; the rows of every other key (missing on a side, changed,
//! or occurring twice) are read back by position, and only those are
//! compared. Nothing is read twice but the rows that differ.
//!
//! Each row is also hashed into the digest of its key-range leaf, as on the
//! other paths, so the report names divergent ranges and a source that
//! returns other rows when read back is caught. Memory holds 24 bytes a row
//! and side up to `--memory-limit`; past it the fingerprints go to a
//! temporary file, bucket by bucket, and come back one bucket at a time.

use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::BooleanArray;
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::record_batch::RecordBatch;
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::Outcome;
use super::rows::{self, KeptRows};
use crate::canon;
use crate::error::{Error, Result, Side};
use crate::merkle::{self, Boundaries, RowHasher, SideLeaves};
use crate::plan::ComparePlan;
use crate::report::Strategy;
use crate::source::Positional;

/// Fingerprints are bucketed by the top bits of their key hash: 256
/// buckets of a 10M-row side hold about 40,000 each, sorted in cache.
const BUCKET_BITS: u32 = 8;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// Bytes one fingerprint takes, in memory and on disk.
const FINGERPRINT_BYTES: u64 = 24;

/// One row, reduced to what matching needs.
#[derive(Debug, Clone, Copy)]
struct Fingerprint {
    /// Keyed hash of the canonical key.
    key: u64,
    /// Keyed hash of the canonical row (key included), folded to 64 bits.
    row: u64,
    /// Position of the row in its source (over all parts).
    position: u64,
}

/// Compares two positional sources in any order, holding at most about
/// `memory_limit` bytes of fingerprints; beyond it they go to temporary
/// files, bucket by bucket, and are read back one bucket at a time.
pub(super) fn compare(
    sources: [&dyn Positional; 2],
    plan: &ComparePlan,
    boundaries: &Boundaries,
    memory_limit: u64,
    progress: &ProgressBar,
) -> Result<Outcome> {
    let budget = Budget {
        limit: memory_limit,
        held: AtomicU64::new(0),
        spilling: AtomicBool::new(false),
    };
    let (left, right) = rayon::join(
        || fingerprint(sources[0], plan, Side::Left, boundaries, &budget, progress),
        || fingerprint(sources[1], plan, Side::Right, boundaries, &budget, progress),
    );
    let (left, right) = (left?, right?);
    let trees = merkle::compare_leaves(&left.leaves, &right.leaves);
    let hashed = Instant::now();

    let matched: Vec<(Vec<u64>, Vec<u64>, u64)> = (0..BUCKETS)
        .into_par_iter()
        .map_init(Scratch::default, |scratch, b| {
            Ok(match_bucket(left.bucket(b)?, right.bucket(b)?, scratch))
        })
        .collect::<Result<_>>()?;
    let spilled = left.spill.written() + right.spill.written();
    let (left_leaves, right_leaves) = (left.leaves, right.leaves);
    drop((left.memory, right.memory, left.spill, right.spill));
    let mut unchanged = 0u64;
    let mut positions: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
    for (l, r, pairs) in matched {
        positions[0].extend(l);
        positions[1].extend(r);
        unchanged += pairs;
    }
    let [left_positions, right_positions] = positions;
    let (left_kept, right_kept) = rayon::join(
        || read_back(sources[0], plan, Side::Left, left_positions),
        || read_back(sources[1], plan, Side::Right, right_positions),
    );
    let rows = rows::compare_rows(plan, boundaries, left_kept?, right_kept?)?;
    // The report counts the keyed rows not read back as unchanged: exactly
    // the left rows of the equal pairs.
    let keyed = left_leaves.rows - left_leaves.null_key_rows;
    if keyed.checked_sub(rows.left.reread) != Some(unchanged) {
        return Err(Error::Internal(format!(
            "fingerprints: {unchanged} equal pairs, but {} of {keyed} left rows read back",
            rows.left.reread
        )));
    }
    Ok(Outcome {
        left: left_leaves,
        right: right_leaves,
        trees,
        rows,
        strategy: Strategy::Fingerprints,
        hashed,
        spilled,
    })
}

/// The fingerprints both sides hold in memory, against the limit.
struct Budget {
    limit: u64,
    held: AtomicU64,
    /// Set once the limit was passed: from then on every thread writes its
    /// fingerprints out at the end of each part, so that finished work holds
    /// no memory.
    spilling: AtomicBool,
}

/// Fingerprints written to a temporary file (deleted when dropped), as
/// segments of one bucket each.
struct Spill {
    state: Mutex<SpillState>,
}

struct SpillState {
    file: Option<std::fs::File>,
    written: u64,
    /// (bucket, offset in bytes, fingerprints)
    segments: Vec<(usize, u64, usize)>,
}

/// A failure of the temporary file, named by where it lives.
fn temp_file_error(e: std::io::Error) -> Error {
    Error::Output {
        path: format!(
            "a temporary file for fingerprints in {} (TMPDIR)",
            std::env::temp_dir().display()
        ),
        message: e.to_string(),
    }
}

impl Spill {
    fn new() -> Self {
        Spill {
            state: Mutex::new(SpillState {
                file: None,
                written: 0,
                segments: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, SpillState>> {
        self.state
            .lock()
            .map_err(|_| Error::Internal("fingerprint file lock poisoned".into()))
    }

    /// Appends fingerprints, each slice to its bucket.
    fn write<'a>(&self, pieces: impl Iterator<Item = (usize, &'a [Fingerprint])>) -> Result<()> {
        let mut bytes = Vec::new();
        let mut segments = Vec::new();
        for (b, fingerprints) in pieces.filter(|p| !p.1.is_empty()) {
            segments.push((b, bytes.len() as u64, fingerprints.len()));
            bytes.reserve(fingerprints.len() * FINGERPRINT_BYTES as usize);
            for f in fingerprints {
                bytes.extend_from_slice(&f.key.to_le_bytes());
                bytes.extend_from_slice(&f.row.to_le_bytes());
                bytes.extend_from_slice(&f.position.to_le_bytes());
            }
        }
        let mut state = self.lock()?;
        let base = state.written;
        let file = match &mut state.file {
            Some(file) => file,
            slot => slot.insert(tempfile::tempfile().map_err(temp_file_error)?),
        };
        file.seek(SeekFrom::Start(base))
            .and_then(|_| file.write_all(&bytes))
            .map_err(temp_file_error)?;
        state.written += bytes.len() as u64;
        state
            .segments
            .extend(segments.into_iter().map(|(b, at, n)| (b, base + at, n)));
        Ok(())
    }

    /// Appends every fingerprint of bucket `b` written so far to `out`.
    fn read(&self, b: usize, out: &mut Vec<Fingerprint>) -> Result<()> {
        let mut state = self.lock()?;
        let segments: Vec<(u64, usize)> = state
            .segments
            .iter()
            .filter(|s| s.0 == b)
            .map(|s| (s.1, s.2))
            .collect();
        let Some(file) = state.file.as_mut() else {
            return Ok(());
        };
        for (offset, count) in segments {
            let mut bytes = vec![0u8; count * FINGERPRINT_BYTES as usize];
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_exact(&mut bytes))
                .map_err(temp_file_error)?;
            out.extend(bytes.chunks_exact(FINGERPRINT_BYTES as usize).map(|c| {
                let word = |i: usize| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&c[i * 8..i * 8 + 8]);
                    u64::from_le_bytes(w)
                };
                Fingerprint {
                    key: word(0),
                    row: word(1),
                    position: word(2),
                }
            }));
        }
        Ok(())
    }

    /// Bytes written so far.
    fn written(&self) -> u64 {
        self.lock().map(|s| s.written).unwrap_or(0)
    }
}

/// One side after its pass: leaves, and fingerprints per bucket, in memory
/// and (past the limit) on disk.
struct Fingerprinted {
    leaves: SideLeaves,
    /// Per bucket, the chunks still in memory.
    memory: Vec<Mutex<Vec<Vec<Fingerprint>>>>,
    spill: Spill,
}

impl Fingerprinted {
    /// All fingerprints of bucket `b`, as chunks; the memory chunks are
    /// handed over.
    fn bucket(&self, b: usize) -> Result<Vec<Vec<Fingerprint>>> {
        let mut chunks = std::mem::take(
            &mut *self.memory[b]
                .lock()
                .map_err(|_| Error::Internal("bucket lock poisoned".into()))?,
        );
        let mut spilled = Vec::new();
        self.spill.read(b, &mut spilled)?;
        chunks.push(spilled);
        Ok(chunks)
    }
}

/// What one thread gathered from the parts it read.
struct Gathered {
    /// Leaf digests, rows and NULL keys.
    side: SideLeaves,
    /// Per bucket, chunks of fingerprints of this thread's rows not yet
    /// spilled (one chunk a part: each sized once, never grown and copied).
    chunks: Vec<Vec<Vec<Fingerprint>>>,
    /// Bytes of those fingerprints, as counted in the budget.
    held: u64,
}

impl Gathered {
    fn new(leaf_count: usize) -> Self {
        Gathered {
            side: SideLeaves::with_leaves(leaf_count),
            chunks: vec![Vec::new(); BUCKETS],
            held: 0,
        }
    }

    /// Writes this thread's fingerprints, and those of the part being read,
    /// out, and returns their budget.
    fn spill(
        &mut self,
        current: &mut [Vec<Fingerprint>],
        spill: &Spill,
        budget: &Budget,
    ) -> Result<()> {
        let kept = self
            .chunks
            .iter()
            .enumerate()
            .flat_map(|(b, chunks)| chunks.iter().map(move |c| (b, c.as_slice())));
        let reading = current.iter().enumerate().map(|(b, c)| (b, c.as_slice()));
        spill.write(kept.chain(reading))?;
        self.chunks.iter_mut().for_each(Vec::clear);
        current.iter_mut().for_each(Vec::clear);
        budget.held.fetch_sub(self.held, Ordering::Relaxed);
        self.held = 0;
        Ok(())
    }
}

/// Reads every row of one side once: its leaf digest and its fingerprint.
fn fingerprint(
    source: &dyn Positional,
    plan: &ComparePlan,
    side: Side,
    boundaries: &Boundaries,
    budget: &Budget,
    progress: &ProgressBar,
) -> Result<Fingerprinted> {
    let hasher = RowHasher::new(plan, side)?;
    let names = plan.column_names(side);
    let part_rows = source.part_rows();
    let starts: Vec<u64> = part_rows
        .iter()
        .scan(0u64, |next, &rows| {
            let start = *next;
            *next += rows;
            Some(start)
        })
        .collect();
    let spill = Spill::new();
    let leaf_count = boundaries.leaf_count();
    let gathered: Vec<Gathered> = (0..part_rows.len())
        .into_par_iter()
        .try_fold(
            || Gathered::new(leaf_count),
            |mut g, part| {
                // Room for this part's share of each bucket and a margin of
                // about three standard deviations, so buckets rarely grow.
                let share = part_rows[part] as usize / BUCKETS;
                let mut current: Vec<Vec<Fingerprint>> = (0..BUCKETS)
                    .map(|_| Vec::with_capacity(share + share / 10 + 16))
                    .collect();
                let mut offset = 0u64;
                let mut leaf = 0usize;
                let mut near = true;
                for batch in source.read_part(part, &names, None)? {
                    let batch = batch?;
                    let n = batch.num_rows();
                    let encoded = hasher.encode(&batch)?;
                    let mut added = 0u64;
                    for i in 0..n {
                        if encoded.nulls.as_ref().is_some_and(|m| m[i]) {
                            g.side.note_null_key(&batch, i);
                            continue;
                        }
                        let key = encoded.keys.row(i);
                        let key = key.as_ref();
                        let hash = encoded.hashes[i];
                        // Rows in key order (within a part) find their leaf
                        // near the last one; in random order the guess only
                        // costs two cache misses, so it is tried only while
                        // it pays.
                        let found = if near {
                            boundaries.leaf_near(key, leaf)
                        } else {
                            boundaries.leaf_of(key)
                        };
                        near = found == leaf || found == leaf + 1;
                        leaf = found;
                        g.side.leaves[leaf].add(hash);
                        let key_hash = canon::key_hash(key);
                        current[(key_hash >> (64 - BUCKET_BITS)) as usize].push(Fingerprint {
                            key: key_hash,
                            row: (hash as u64) ^ ((hash >> 64) as u64),
                            position: starts[part] + offset + i as u64,
                        });
                        added += FINGERPRINT_BYTES;
                    }
                    offset += n as u64;
                    g.side.rows += n as u64;
                    g.held += added;
                    progress.inc(n as u64);
                    if budget.held.fetch_add(added, Ordering::Relaxed) + added > budget.limit {
                        budget.spilling.store(true, Ordering::Relaxed);
                        g.spill(&mut current, &spill, budget)?;
                    }
                }
                if offset != part_rows[part] {
                    return Err(changed_underneath(side));
                }
                if budget.spilling.load(Ordering::Relaxed) {
                    g.spill(&mut current, &spill, budget)?;
                } else {
                    for (chunks, chunk) in g.chunks.iter_mut().zip(current) {
                        if !chunk.is_empty() {
                            chunks.push(chunk);
                        }
                    }
                }
                Ok(g)
            },
        )
        .collect::<Result<_>>()?;

    let mut leaves = SideLeaves::with_leaves(leaf_count);
    let mut memory: Vec<Vec<Vec<Fingerprint>>> = vec![Vec::new(); BUCKETS];
    for g in gathered {
        leaves.absorb(g.side);
        for (all, chunks) in memory.iter_mut().zip(g.chunks) {
            all.extend(chunks);
        }
    }
    Ok(Fingerprinted {
        leaves,
        memory: memory.into_iter().map(Mutex::new).collect(),
        spill,
    })
}

/// A part is read whole, its wanted rows kept, when it would take more than
/// one row range per this many rows: the reader's cost per range then
/// outweighs decoding the rows between them.
const DENSE_RANGES: u64 = 64;

/// Bits of the key hash below the bucket's that [`sorted`] scatters by.
const SUB_BITS: u32 = 12;

/// One bucket's fingerprints, from its chunks, sorted by key hash: one
/// counting pass and one scatter by the next [`SUB_BITS`] bits of the hash
/// (which also gathers the chunks), then small sorts that stay in cache.
fn sorted(chunks: Vec<Vec<Fingerprint>>, out: &mut Vec<Fingerprint>) {
    let shift = 64 - BUCKET_BITS - SUB_BITS;
    let slot = |f: &Fingerprint| ((f.key >> shift) & ((1 << SUB_BITS) - 1)) as usize;
    let mut starts = vec![0usize; (1 << SUB_BITS) + 1];
    for f in chunks.iter().flatten() {
        starts[slot(f) + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let empty = Fingerprint {
        key: 0,
        row: 0,
        position: 0,
    };
    // The buffer is reused bucket after bucket: no fresh pages to fault in.
    out.clear();
    out.resize(starts[1 << SUB_BITS], empty);
    let mut next = starts.clone();
    for chunk in chunks {
        for f in chunk {
            let s = slot(&f);
            out[next[s]] = f;
            next[s] += 1;
        }
    }
    for w in starts.windows(2) {
        out[w[0]..w[1]].sort_unstable_by_key(|f| f.key);
    }
}

/// Bits of the key hash below the bucket's that split a bucket into the
/// groups whose row-hash sums are compared before anything is sorted: with
/// 2^16 groups in all, 1,000 differences in 10M rows leave 98% of the rows
/// in groups that are dismissed by their sums.
const GROUP_BITS: u32 = 8;
const GROUPS: usize = 1 << GROUP_BITS;

/// Past this share of divergent groups (in 1/16ths), sorting the whole
/// bucket is cheaper than singling out the divergent groups first.
const MOSTLY_DIVERGENT_SIXTEENTHS: usize = 4;

/// Reusable memory of [`match_bucket`], one per thread.
#[derive(Default)]
struct Scratch {
    sorted: (Vec<Fingerprint>, Vec<Fingerprint>),
    /// Open-addressing set of the left side's key hashes (0 = empty).
    seen: Vec<u64>,
}

/// Matches one bucket of each side by key hash. Returns the positions to
/// read back on each side and the number of keys found equal: present once
/// on each side with equal row hashes.
///
/// The bucket is split into [`GROUPS`] groups by key hash; a group whose
/// row count and sum of row hashes agree on both sides holds the same rows
/// on both (a 64-bit keyed sum, as strong as the 64-bit row hash a pair is
/// matched by), so its rows are equal pairs unless a key occurs twice: the
/// left side's keys of such groups go through a hash set, and a group with a
/// repeated key is matched in full. Only the fingerprints of divergent
/// groups are sorted and merged. A key hash shared by two keys (a collision)
/// looks like a duplicate, and its rows are read back and told apart by
/// their keys.
fn match_bucket(
    left: Vec<Vec<Fingerprint>>,
    right: Vec<Vec<Fingerprint>>,
    scratch: &mut Scratch,
) -> (Vec<u64>, Vec<u64>, u64) {
    let shift = 64 - BUCKET_BITS - GROUP_BITS;
    let group = |f: &Fingerprint| ((f.key >> shift) as usize) & (GROUPS - 1);
    let mut counts = [[0u64; GROUPS]; 2];
    let mut sums = [[0u64; GROUPS]; 2];
    for (side, chunks) in [&left, &right].into_iter().enumerate() {
        for f in chunks.iter().flatten() {
            let g = group(f);
            counts[side][g] += 1;
            sums[side][g] = sums[side][g].wrapping_add(f.row);
        }
    }
    let mut divergent = [false; GROUPS];
    for g in 0..GROUPS {
        divergent[g] = counts[0][g] != counts[1][g] || sums[0][g] != sums[1][g];
    }
    let left_rows: u64 = counts[0].iter().sum();
    let many = divergent.iter().filter(|&&d| d).count() * 16 > GROUPS * MOSTLY_DIVERGENT_SIXTEENTHS;
    if many {
        return merge_sorted(left, right, &mut scratch.sorted);
    }
    // A repeated key within an agreeing group: the group is matched in full.
    let slots = (left_rows as usize * 2).next_power_of_two().max(16);
    scratch.seen.clear();
    scratch.seen.resize(slots, 0);
    let mask = slots - 1;
    for f in left.iter().flatten() {
        let g = group(f);
        if divergent[g] {
            continue;
        }
        // The low bits are free of the bucket and group bits; an odd value
        // is never the empty slot. Two key hashes equal but for bit 0 may
        // look repeated: their group is then matched in full, which tells
        // them apart.
        let key = f.key | 1;
        let mut at = (f.key as usize) & mask;
        loop {
            match scratch.seen[at] {
                0 => {
                    scratch.seen[at] = key;
                    break;
                }
                k if k == key => {
                    divergent[g] = true;
                    break;
                }
                _ => at = (at + 1) & mask,
            }
        }
    }
    let single_out = |chunks: Vec<Vec<Fingerprint>>| -> Vec<Fingerprint> {
        chunks
            .iter()
            .flatten()
            .filter(|f| divergent[group(f)])
            .copied()
            .collect()
    };
    let (l, r) = (single_out(left), single_out(right));
    let agreeing = left_rows - l.len() as u64;
    let (out_left, out_right, equal) = merge_sorted(vec![l], vec![r], &mut scratch.sorted);
    (out_left, out_right, equal + agreeing)
}

/// Sorts both sides' fingerprints by key hash and merges them: a key found
/// once on each side with equal row hashes is an equal pair; the positions
/// of every other key are returned to be read back.
fn merge_sorted(
    left: Vec<Vec<Fingerprint>>,
    right: Vec<Vec<Fingerprint>>,
    buffers: &mut (Vec<Fingerprint>, Vec<Fingerprint>),
) -> (Vec<u64>, Vec<u64>, u64) {
    sorted(left, &mut buffers.0);
    sorted(right, &mut buffers.1);
    let (left, right) = (&buffers.0, &buffers.1);
    let run_end = |fs: &[Fingerprint], start: usize| {
        let key = fs[start].key;
        start + fs[start..].partition_point(|f| f.key == key)
    };
    let (mut out_left, mut out_right) = (Vec::new(), Vec::new());
    let mut equal = 0u64;
    let (mut i, mut j) = (0, 0);
    while i < left.len() || j < right.len() {
        let take_left = j == right.len() || (i < left.len() && left[i].key <= right[j].key);
        let take_right = i == left.len() || (j < right.len() && right[j].key <= left[i].key);
        let li = if take_left { run_end(left, i) } else { i };
        let rj = if take_right { run_end(right, j) } else { j };
        let (l, r) = (&left[i..li], &right[j..rj]);
        if l.len() == 1 && r.len() == 1 && l[0].row == r[0].row {
            equal += 1;
        } else {
            out_left.extend(l.iter().map(|f| f.position));
            out_right.extend(r.iter().map(|f| f.position));
        }
        (i, j) = (li, rj);
    }
    (out_left, out_right, equal)
}

/// Reads back the rows at `positions` (any order) of one side, all compared
/// columns, in position order.
fn read_back(
    source: &dyn Positional,
    plan: &ComparePlan,
    side: Side,
    mut positions: Vec<u64>,
) -> Result<KeptRows> {
    let columns = plan.columns();
    let names = plan.column_names(side);
    positions.sort_unstable();
    // Per part, the ranges of rows to read, adjacent rows merged.
    let mut reads: Vec<(usize, Vec<Range<u64>>)> = Vec::new();
    let mut start = 0u64;
    let mut rest = positions.as_slice();
    for (part, &rows) in source.part_rows().iter().enumerate() {
        let end = start + rows;
        let here = rest.partition_point(|&p| p < end);
        let mut ranges: Vec<Range<u64>> = Vec::new();
        for &p in &rest[..here] {
            let local = p - start;
            match ranges.last_mut() {
                Some(last) if last.end == local => last.end += 1,
                _ => ranges.push(local..local + 1),
            }
        }
        if !ranges.is_empty() {
            reads.push((part, ranges));
        }
        rest = &rest[here..];
        start = end;
    }
    let parts: Vec<(Vec<RecordBatch>, u64)> = reads
        .into_par_iter()
        .map(|(part, ranges)| {
            let rows = source.part_rows()[part];
            if (ranges.len() as u64).saturating_mul(DENSE_RANGES) < rows {
                let batches = source
                    .read_part(part, &names, Some(&ranges))?
                    .collect::<Result<Vec<RecordBatch>>>()?;
                let returned = batches.iter().map(|b| b.num_rows() as u64).sum();
                return Ok((batches, returned));
            }
            // Many short ranges cost the reader more than reading the part
            // whole and keeping the wanted rows.
            let mut wanted = vec![false; rows as usize];
            for r in &ranges {
                wanted[r.start as usize..r.end as usize].fill(true);
            }
            let mut offset = 0usize;
            let mut kept = Vec::new();
            for batch in source.read_part(part, &names, None)? {
                let batch = batch?;
                let n = batch.num_rows();
                let mask = wanted
                    .get(offset..offset + n)
                    .ok_or_else(|| changed_underneath(side))?;
                kept.push(filter_record_batch(
                    &batch,
                    &BooleanArray::from(mask.to_vec()),
                )?);
                offset += n;
            }
            Ok((kept, offset as u64))
        })
        .collect::<Result<_>>()?;
    let rescanned = parts.iter().map(|p| p.1).sum();
    let batches: Vec<RecordBatch> = parts.into_iter().flat_map(|p| p.0).collect();
    let schema = Arc::new(rows::scan_schema(&columns, side));
    let batch = match batches.first() {
        Some(first) => concat_batches(&first.schema(), &batches)?,
        None => RecordBatch::new_empty(schema),
    };
    if batch.num_rows() != positions.len() {
        return Err(changed_underneath(side));
    }
    Ok(KeptRows {
        rescanned,
        reread: batch.num_rows() as u64,
        batch,
    })
}

fn changed_underneath(side: Side) -> Error {
    Error::Unstable(format!(
        "the {side} source returned a different number of rows when read a second time \
         (is it changing?)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(key: u64, row: u64, position: u64) -> Fingerprint {
        Fingerprint { key, row, position }
    }

    #[test]
    fn only_keys_seen_once_per_side_with_equal_rows_are_set_aside() {
        let left = [
            fp(1, 10, 0), // equal
            fp(2, 20, 1), // changed
            fp(3, 30, 2), // only left
            fp(5, 50, 3), // twice on the left
            fp(5, 50, 4),
            fp(6, 60, 5), // equal
        ];
        let right = vec![
            fp(6, 60, 9),
            fp(5, 50, 8),
            fp(4, 40, 7), // only right
            fp(2, 21, 6),
            fp(1, 10, 5),
        ];
        // Split in chunks, as parts and spills leave them.
        let (l1, l2) = left.split_at(2);
        let (mut l, mut r, equal) = match_bucket(
            vec![l1.to_vec(), l2.to_vec()],
            vec![right],
            &mut Scratch::default(),
        );
        l.sort_unstable();
        r.sort_unstable();
        assert_eq!(equal, 2);
        assert_eq!(l, vec![1, 2, 3, 4]);
        assert_eq!(r, vec![6, 7, 8]);
    }

    #[test]
    fn an_empty_side_sends_every_row_back() {
        let (l, r, equal) = match_bucket(
            vec![vec![fp(1, 1, 0), fp(1, 1, 1)]],
            Vec::new(),
            &mut Scratch::default(),
        );
        assert_eq!((l, r, equal), (vec![0, 1], vec![], 0));
    }

    /// A key hash in bucket 0x5a and group `group`.
    fn in_group(group: u64, low: u64) -> u64 {
        (0x5a << 56) | (group << 48) | low
    }

    #[test]
    fn agreeing_groups_are_dismissed_by_their_sums_and_divergent_ones_matched() {
        // 2,000 equal pairs over every group, in other orders on each side.
        let equal: Vec<Fingerprint> = (0..2000u64)
            .map(|i| fp(in_group(i % 256, i * 7 + 1), i * 31 + 5, i))
            .collect();
        let mut right: Vec<Fingerprint> = equal
            .iter()
            .rev()
            .map(|f| fp(f.key, f.row, f.position + 10_000))
            .collect();
        let mut left = equal.clone();
        // Group 3: a changed row; group 9: a key only on the left.
        left.push(fp(in_group(3, 1 << 40), 77, 50_000));
        right.push(fp(in_group(3, 1 << 40), 78, 60_000));
        left.push(fp(in_group(9, 1 << 41), 99, 50_001));
        let (mut l, mut r, equal_pairs) = match_bucket(
            vec![left[..700].to_vec(), left[700..].to_vec()],
            vec![right],
            &mut Scratch::default(),
        );
        l.sort_unstable();
        r.sort_unstable();
        assert_eq!(equal_pairs, 2000);
        assert_eq!(l, vec![50_000, 50_001]);
        assert_eq!(r, vec![60_000]);
    }

    #[test]
    fn a_key_repeated_alike_on_both_sides_is_read_back_though_the_sums_agree() {
        let mut left: Vec<Fingerprint> = (0..600u64)
            .map(|i| fp(in_group(i % 256, i + 1), i, i))
            .collect();
        let twice = fp(in_group(4, 1 << 42), 4242, 1000);
        left.push(twice);
        left.push(fp(twice.key, twice.row, 1001));
        let right: Vec<Fingerprint> = left
            .iter()
            .map(|f| fp(f.key, f.row, f.position + 5000))
            .collect();
        let (mut l, mut r, equal_pairs) =
            match_bucket(vec![left], vec![right], &mut Scratch::default());
        l.sort_unstable();
        r.sort_unstable();
        assert_eq!(equal_pairs, 600);
        assert_eq!(l, vec![1000, 1001]);
        assert_eq!(r, vec![6000, 6001]);
    }

    #[test]
    fn mostly_divergent_buckets_are_sorted_whole_with_the_same_answer() {
        // Every group differs: the whole-bucket merge decides.
        let left: Vec<Fingerprint> = (0..512u64)
            .map(|i| fp(in_group(i % 256, i + 1), i, i))
            .collect();
        let right: Vec<Fingerprint> = left
            .iter()
            .map(|f| {
                fp(
                    f.key,
                    f.row ^ u64::from(f.position < 256),
                    f.position + 1000,
                )
            })
            .collect();
        let (l, r, equal_pairs) = match_bucket(vec![left], vec![right], &mut Scratch::default());
        assert_eq!(equal_pairs, 256);
        assert_eq!((l.len(), r.len()), (256, 256));
        assert!(l.iter().all(|&p| p < 256) && r.iter().all(|&p| (1000..1256).contains(&p)));
    }

    #[test]
    fn sorting_a_bucket_orders_every_fingerprint_by_key_hash() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let chunks: Vec<Vec<Fingerprint>> = (0..5)
            // One bucket: the top bits are the bucket's.
            .map(|c| {
                (0..1000)
                    .map(|i| fp((next() >> BUCKET_BITS) | (0x5a << 56), 0, c * 1000 + i))
                    .collect()
            })
            .collect();
        let mut expected: Vec<(u64, u64)> = chunks
            .iter()
            .flatten()
            .map(|f| (f.key, f.position))
            .collect();
        expected.sort_unstable();
        let mut out = Vec::new();
        sorted(chunks, &mut out);
        let mut got: Vec<(u64, u64)> = out.iter().map(|f| (f.key, f.position)).collect();
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
        got.sort_unstable();
        assert_eq!(got, expected);
    }
}
