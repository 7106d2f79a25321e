//! One merged pass for sources stored in key order (a table exported sorted
//! by its key, the usual case): both sides are read once, window by window
//! of the same key range, every row is hashed into its leaf's digest as in
//! the Merkle pass, and the two sides are walked together by key at the same
//! time, so a differing row is caught as it goes by and nothing is read
//! twice. Memory holds one batch per side and thread, plus the differing rows.
//!
//! Order is an assumption, checked on every row. The key sample proposes it
//! (sampled keys strictly increase with their positions) and places each
//! window's read from the sampled positions around its key bounds; each
//! window then verifies that its non-NULL keys strictly increase, that its
//! first key lies below its range and that its read went past the next
//! window's start to a key above its range. Reads that overlap and are each
//! in order make the whole side in order, so every row falls in exactly one
//! window's key range and is read there. If any window finds otherwise, the
//! pass gives way to the general path (hash, compare trees, re-read), which
//! assumes nothing.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::UInt32Array;
use arrow::compute::{concat_batches, take_record_batch};
use arrow::record_batch::RecordBatch;
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::rows::{self, KeptRows, Matched, RowDiff};
use crate::canon::compare_keys;
use crate::error::{Error, Result, Side};
use crate::merkle::{
    Boundaries, Digest, EncodedBatch, KeySample, NULL_KEY_SAMPLES, RowHasher, SideLeaves,
};
use crate::plan::ComparePlan;
use crate::source::{BatchStream, Positional, Source};

/// Both sides after the merged pass: their leaf digests, as the Merkle pass
/// would have made them, and the row differences.
pub struct Merged {
    pub left: SideLeaves,
    pub right: SideLeaves,
    pub rows: RowDiff,
}

/// Windows are at least this many rows, so each read is long enough to be
/// efficient, unless the caller asks for smaller groups.
const MIN_WINDOW_ROWS: u64 = 1 << 16;

/// The merged pass, when both sides are positional and their samples are in
/// key order; `None` when it does not apply or a window found the rows out
/// of order (nothing is lost: the caller takes the general path).
pub fn merge(
    sources: [&dyn Source; 2],
    plan: &ComparePlan,
    boundaries: &Boundaries,
    samples: [&KeySample; 2],
    max_window_rows: u64,
    progress: &ProgressBar,
) -> Result<Option<Merged>> {
    let (Some(left), Some(right)) = (sources[0].positional(), sources[1].positional()) else {
        return Ok(None);
    };
    if !samples.iter().all(|s| s.looks_ordered()) {
        return Ok(None);
    }
    let positionals = [left, right];
    let totals = positionals.map(|p| p.part_rows().iter().sum::<u64>());
    let leaf_count = boundaries.leaf_count();
    let threads = rayon::current_num_threads() as u64;
    let largest = totals[0].max(totals[1]).max(1);
    let window_rows = (largest / (threads * 4).max(1))
        .max(MIN_WINDOW_ROWS)
        .min(max_window_rows.max(1));
    let leaves_per_window = (window_rows * leaf_count as u64).div_ceil(largest).max(1) as usize;
    let windows = windows(boundaries, samples, totals, leaves_per_window);

    let hashers = [
        RowHasher::new(plan, Side::Left)?,
        RowHasher::new(plan, Side::Right)?,
    ];
    let names = [Side::Left, Side::Right].map(|side| plan.column_names(side));
    let shared = Shared {
        positionals,
        totals,
        hashers: &hashers,
        names: &names,
        boundaries,
        abandoned: AtomicBool::new(false),
        progress,
    };
    let outs: Vec<Option<WindowOut>> = windows
        .par_iter()
        .map(|w| merge_window(&shared, w))
        .collect::<Result<_>>()?;
    let Some(outs) = outs.into_iter().collect::<Option<Vec<WindowOut>>>() else {
        return Ok(None);
    };
    finish(plan, boundaries, outs, totals).map(Some)
}

/// Where one side's rows of a window are read: positions `[start, end)`.
/// The read must go past `next_start` (where the next window's read starts);
/// NULL-key rows before it belong to this window.
#[derive(Debug, Clone, PartialEq)]
struct SideWindow {
    start: u64,
    end: u64,
    next_start: u64,
}

/// A run of leaves and where each side's rows for them are read.
#[derive(Debug, Clone, PartialEq)]
struct Window {
    leaves: Range<usize>,
    sides: [SideWindow; 2],
}

/// Cuts the leaves into runs of `leaves_per_window` and places each run's
/// reads: from the last sampled row below its lower bound to the first
/// sampled row at or above its upper bound.
fn windows(
    boundaries: &Boundaries,
    samples: [&KeySample; 2],
    totals: [u64; 2],
    leaves_per_window: usize,
) -> Vec<Window> {
    let leaf_count = boundaries.leaf_count();
    let mut out = Vec::with_capacity(leaf_count.div_ceil(leaves_per_window));
    let mut first = 0;
    while first < leaf_count {
        let stop = (first + leaves_per_window).min(leaf_count);
        let sides = [0, 1].map(|s| {
            let (sample, total) = (samples[s], totals[s]);
            let below = |bound: &[u8]| sample.keys.partition_point(|(k, _)| k.as_ref() < bound);
            let last_below = |bound: &[u8]| match below(bound) {
                0 => 0,
                i => sample.positions[i - 1],
            };
            let first_not_below =
                |bound: &[u8]| sample.positions.get(below(bound)).copied().unwrap_or(total);
            let start = boundaries.lower(first).map_or(0, last_below);
            let (end, next_start) = match boundaries.upper(stop - 1) {
                Some(upper) => ((first_not_below(upper) + 1).min(total), last_below(upper)),
                None => (total, total),
            };
            SideWindow {
                start,
                end,
                next_start,
            }
        });
        out.push(Window {
            leaves: first..stop,
            sides,
        });
        first = stop;
    }
    out
}

/// What every window reads with.
struct Shared<'a> {
    positionals: [&'a dyn Positional; 2],
    totals: [u64; 2],
    hashers: &'a [RowHasher<'a>; 2],
    names: &'a [Vec<String>; 2],
    boundaries: &'a Boundaries,
    /// Set by the first window that finds rows out of order: all stop.
    abandoned: AtomicBool,
    progress: &'a ProgressBar,
}

/// One side's share of one window.
#[derive(Default)]
struct SideOut {
    /// Digests of the window's leaves.
    digests: Vec<Digest>,
    rows: u64,
    null_key_rows: u64,
    null_key_samples: Vec<RecordBatch>,
    /// Rows that differ from the other side (or have no partner there).
    kept: Vec<RecordBatch>,
}

struct WindowOut {
    sides: [SideOut; 2],
    /// Per leaf of the window: key pairs found equal.
    unchanged: Vec<u64>,
    /// The kept rows' keys in key order (indexes into the window's kept rows).
    matched: Vec<Matched>,
}

/// Walks both sides of one window together by key.
fn merge_window(shared: &Shared<'_>, window: &Window) -> Result<Option<WindowOut>> {
    if shared.abandoned.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let mut left = Cursor::new(shared, window, Side::Left);
    let mut right = Cursor::new(shared, window, Side::Right);
    let mut unchanged = vec![0u64; window.leaves.len()];
    let mut matched = Vec::new();
    let mut has_left = left.advance()?;
    let mut has_right = right.advance()?;
    while has_left || has_right {
        let order = match (has_left, has_right) {
            (true, true) => compare_keys(left.key(), right.key()),
            (true, false) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Equal => {
                if left.hash() == right.hash() {
                    unchanged[left.leaf - window.leaves.start] += 1;
                } else {
                    let pair = (Some(left.keep()), Some(right.keep()));
                    matched.push(Matched::new(pair.0, pair.1, left.leaf));
                }
                has_left = left.advance()?;
                has_right = right.advance()?;
            }
            std::cmp::Ordering::Less => {
                matched.push(Matched::new(Some(left.keep()), None, left.leaf));
                has_left = left.advance()?;
            }
            std::cmp::Ordering::Greater => {
                matched.push(Matched::new(None, Some(right.keep()), right.leaf));
                has_right = right.advance()?;
            }
        }
    }
    let (left, right) = (left.finish()?, right.finish()?);
    if shared.abandoned.load(Ordering::Relaxed) {
        return Ok(None);
    }
    Ok(Some(WindowOut {
        sides: [left, right],
        unchanged,
        matched,
    }))
}

/// Reads one side of a window row by row, checking order, and stops at
/// each row the window owns.
struct Cursor<'a> {
    shared: &'a Shared<'a>,
    side: Side,
    leaves: Range<usize>,
    window: SideWindow,
    /// Parts (with row ranges within them) not opened yet.
    pending: VecDeque<(usize, Range<u64>)>,
    stream: Option<BatchStream>,
    batch: Option<(RecordBatch, EncodedBatch)>,
    /// Position of the current batch's first row.
    batch_start: u64,
    /// The next row of the batch to look at.
    next: usize,
    /// The row the cursor stands on (owned by the window).
    row: usize,
    /// The previous non-NULL key: its row in this batch, or a copy from an earlier one.
    previous: Option<usize>,
    carried: Option<Vec<u8>>,
    /// The current row's leaf (also the guess for the next row).
    leaf: usize,
    first_checked: bool,
    /// The read reached a key above the window past the next window's start.
    passed_end: bool,
    done: bool,
    kept: Vec<u32>,
    /// Rows kept so far in this window.
    kept_rows: usize,
    out: SideOut,
}

impl<'a> Cursor<'a> {
    fn new(shared: &'a Shared<'a>, window: &Window, side: Side) -> Self {
        let s = side as usize;
        let w = window.sides[s].clone();
        // The part ranges covering [start, end).
        let mut pending = VecDeque::new();
        let mut at = 0u64;
        for (part, &rows) in shared.positionals[s].part_rows().iter().enumerate() {
            let (from, to) = (w.start.max(at), w.end.min(at + rows));
            if from < to {
                pending.push_back((part, from - at..to - at));
            }
            at += rows;
        }
        let batch_start = w.start;
        Cursor {
            shared,
            side,
            leaves: window.leaves.clone(),
            window: w,
            pending,
            stream: None,
            batch: None,
            batch_start,
            next: 0,
            row: 0,
            previous: None,
            carried: None,
            leaf: window.leaves.start,
            first_checked: false,
            passed_end: false,
            done: false,
            kept: Vec::new(),
            kept_rows: 0,
            out: SideOut {
                digests: vec![Digest::default(); window.leaves.len()],
                ..SideOut::default()
            },
        }
    }

    /// The key of the row the cursor stands on (only asked after `advance`
    /// returned true, so a batch is held).
    fn key(&self) -> &[u8] {
        self.batch
            .as_ref()
            .map_or(&[], |(_, encoded)| encoded.keys.row(self.row).data())
    }

    fn hash(&self) -> u128 {
        self.batch
            .as_ref()
            .map_or(0, |(_, encoded)| encoded.hashes[self.row])
    }

    /// The current row goes to the row comparison; returns its index among
    /// the window's kept rows.
    fn keep(&mut self) -> usize {
        self.kept.push(self.row as u32);
        self.kept_rows += 1;
        self.kept_rows - 1
    }

    /// Marks the side out of order: every window stops, the pass is void.
    fn disorder(&mut self) {
        self.shared.abandoned.store(true, Ordering::Relaxed);
        self.done = true;
    }

    /// Moves to the next row the window owns; false when there is none.
    fn advance(&mut self) -> Result<bool> {
        while !self.done {
            let batch_rows = self.batch.as_ref().map_or(0, |b| b.0.num_rows());
            if self.next >= batch_rows {
                if !self.next_batch()? {
                    self.done = true;
                    // Stopping short of the side's end needs the proof that
                    // the rest lies above the window.
                    if !self.passed_end && self.window.end < self.shared.totals[self.side as usize]
                    {
                        self.disorder();
                    }
                }
                continue;
            }
            let i = self.next;
            self.next += 1;
            let position = self.batch_start + i as u64;
            let Some((batch, encoded)) = &self.batch else {
                continue;
            };
            if encoded.nulls.as_ref().is_some_and(|m| m[i]) {
                if position < self.window.next_start {
                    self.out.null_key_rows += 1;
                    self.out.rows += 1;
                    if self.out.null_key_samples.len() < NULL_KEY_SAMPLES {
                        self.out.null_key_samples.push(batch.slice(i, 1));
                    }
                }
                continue;
            }
            let key = encoded.keys.row(i);
            let increasing = match (self.previous, &self.carried) {
                (Some(p), _) => compare_keys(encoded.keys.row(p).data(), key.data()).is_lt(),
                (None, Some(carried)) => compare_keys(carried, key.data()).is_lt(),
                (None, None) => true,
            };
            if !increasing {
                self.disorder();
                continue;
            }
            self.previous = Some(i);
            let leaf = self.shared.boundaries.leaf_near(key.data(), self.leaf);
            self.leaf = leaf;
            if !self.first_checked {
                self.first_checked = true;
                // A read that does not start at the side's first row must
                // start below the window, or rows before it could belong here.
                if self.window.start > 0 && leaf >= self.leaves.start {
                    self.disorder();
                    continue;
                }
            }
            if leaf < self.leaves.start {
                continue;
            }
            if leaf >= self.leaves.end {
                if position > self.window.next_start {
                    self.passed_end = true;
                    self.done = true;
                }
                continue;
            }
            self.out.digests[leaf - self.leaves.start].add(encoded.hashes[i]);
            self.out.rows += 1;
            self.row = i;
            return Ok(true);
        }
        Ok(false)
    }

    /// Sets the kept rows of the current batch aside and loads the next
    /// batch; false at the end of the window's read.
    fn next_batch(&mut self) -> Result<bool> {
        self.flush_kept()?;
        if let Some((batch, encoded)) = self.batch.take() {
            if let Some(p) = self.previous.take() {
                self.carried = Some(encoded.keys.row(p).data().to_vec());
            }
            self.batch_start += batch.num_rows() as u64;
        }
        self.next = 0;
        if self.shared.abandoned.load(Ordering::Relaxed) {
            self.done = true;
            return Ok(false);
        }
        let s = self.side as usize;
        loop {
            if self.stream.is_none() {
                let Some((part, range)) = self.pending.pop_front() else {
                    return Ok(false);
                };
                let ranges = [range];
                self.stream = Some(self.shared.positionals[s].read_part(
                    part,
                    &self.shared.names[s],
                    Some(&ranges),
                )?);
            }
            match self.stream.as_mut().and_then(Iterator::next) {
                Some(batch) => {
                    let batch = batch?;
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    self.shared.progress.inc(batch.num_rows() as u64);
                    let encoded = self.shared.hashers[s].encode(&batch)?;
                    self.batch = Some((batch, encoded));
                    return Ok(true);
                }
                None => self.stream = None,
            }
        }
    }

    fn flush_kept(&mut self) -> Result<()> {
        if self.kept.is_empty() {
            return Ok(());
        }
        if let Some((batch, _)) = &self.batch {
            let indices = UInt32Array::from(std::mem::take(&mut self.kept));
            self.out.kept.push(take_record_batch(batch, &indices)?);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<SideOut> {
        self.flush_kept()?;
        Ok(self.out)
    }
}

/// Joins the windows into per-side leaves and compares the kept rows by key.
fn finish(
    plan: &ComparePlan,
    boundaries: &Boundaries,
    outs: Vec<WindowOut>,
    totals: [u64; 2],
) -> Result<Merged> {
    let mut sides: [SideLeaves; 2] = Default::default();
    let mut kept: [Vec<RecordBatch>; 2] = Default::default();
    let mut unchanged = Vec::with_capacity(boundaries.leaf_count());
    let mut matched = Vec::new();
    // Where each window's kept rows start among all kept rows, per side.
    let mut offsets = [0usize; 2];
    for out in outs {
        unchanged.extend(out.unchanged);
        matched.extend(out.matched.iter().map(|m| {
            Matched::new(
                m.left.map(|i| i + offsets[0]),
                m.right.map(|i| i + offsets[1]),
                m.leaf,
            )
        }));
        for (s, part) in out.sides.iter().enumerate() {
            offsets[s] += part.kept.iter().map(RecordBatch::num_rows).sum::<usize>();
        }
        for (s, part) in out.sides.into_iter().enumerate() {
            let side = &mut sides[s];
            side.leaves.extend(part.digests);
            side.rows += part.rows;
            side.add_null_keys(part.null_key_rows, part.null_key_samples);
            kept[s].extend(part.kept);
        }
    }
    // Each row is owned by exactly one window (see the module comment).
    if sides[0].rows != totals[0] || sides[1].rows != totals[1] {
        return Err(Error::Internal(format!(
            "merged pass counted {} and {} rows of {} and {}",
            sides[0].rows, sides[1].rows, totals[0], totals[1]
        )));
    }
    let columns = plan.columns();
    let [left_kept, right_kept] = [Side::Left, Side::Right].map(|side| {
        let batches = std::mem::take(&mut kept[side as usize]);
        let batch = match batches.first() {
            Some(first) => concat_batches(&first.schema(), &batches)?,
            None => RecordBatch::new_empty(std::sync::Arc::new(rows::scan_schema(&columns, side))),
        };
        Ok::<_, Error>(KeptRows {
            batch,
            rescanned: 0,
            reread: 0,
        })
    });
    // Windows follow each other in key order, and so do their matches.
    let mut rows = rows::classify(plan, left_kept?, right_kept?, &matched, Vec::new())?;
    // As the Merkle path counts: rows of divergent leaves are the ones
    // compared row by row; the rest are unchanged by their digests.
    let [left, right] = &sides;
    for (leaf, (l, r)) in left.leaves.iter().zip(&right.leaves).enumerate() {
        if l != r {
            rows.left.reread += l.rows;
            rows.right.reread += r.rows;
            rows.unchanged += unchanged[leaf];
        }
    }
    let [left, right] = sides;
    Ok(Merged { left, right, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(keys: &[u32], positions: &[u64]) -> KeySample {
        KeySample {
            rows: keys.len() as u64,
            keys: keys
                .iter()
                .map(|k| (k.to_be_bytes().to_vec().into_boxed_slice(), 1.0))
                .collect(),
            positions: positions.to_vec(),
        }
    }

    #[test]
    fn windows_overlap_and_cover_each_side() {
        let bounds: Vec<Box<[u8]>> = [10u32, 20, 30]
            .iter()
            .map(|k| k.to_be_bytes().to_vec().into_boxed_slice())
            .collect();
        let b = Boundaries::from_sorted(bounds);
        // Left: key k at position k (0..40), sampled every 4th row.
        let left_keys: Vec<u32> = (0..40).step_by(4).collect();
        let left_pos: Vec<u64> = left_keys.iter().map(|&k| k as u64).collect();
        let left = sample(&left_keys, &left_pos);
        // Right: keys 15..35 at positions 0..20, sampled every 5th row.
        let right = sample(&[15, 20, 25, 30], &[0, 5, 10, 15]);
        let w = windows(&b, [&left, &right], [40, 20], 2);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].leaves, 0..2);
        assert_eq!(w[1].leaves, 2..4);
        // Window 0 holds keys below 20: left reads from 0 through the first
        // sampled key >= 20 (position 20); the next window starts at the last
        // sampled key below 20 (position 16).
        assert_eq!(
            w[0].sides[0],
            SideWindow {
                start: 0,
                end: 21,
                next_start: 16
            }
        );
        assert_eq!(
            w[1].sides[0],
            SideWindow {
                start: 16,
                end: 40,
                next_start: 40
            }
        );
        // Right: key 20 is sampled at position 5; 15 (position 0) is below.
        assert_eq!(
            w[0].sides[1],
            SideWindow {
                start: 0,
                end: 6,
                next_start: 0
            }
        );
        assert_eq!(w[1].sides[1].start, 0);
        assert_eq!(w[1].sides[1].end, 20);
    }
}
