//! One merged pass for sources stored in key order (a table exported sorted
//! by its key, the usual case): both sides are read once, window by window
//! of the same key range, and walked together by key, so a differing row is
//! caught as it goes by and nothing is read twice. Memory holds one batch
//! per side and thread, plus the differing rows.
//!
//! Rows paired by key are compared by how their cells are stored (see
//! [`crate::canon::stored`]): runs of aligned rows by block compares, no row
//! hashed. Pairs stored differently go to the row comparison, which applies
//! the value rules; a leaf's digests then carry its row counts and a mark
//! when the row comparison found a difference there. Columns that cannot be
//! compared by storage (nested types) make the pass hash every row into its
//! leaf's digest as the Merkle pass does, and compare pairs by row hash.
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

use arrow::array::{ArrayRef, AsArray, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows};
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::rows::{self, KeptRows, Matched, RowDiff};
use crate::canon::{self, compare_keys, stored};
use crate::error::{Error, Result, Side};
use crate::merkle::{
    Boundaries, Digest, EncodedBatch, KeySample, NULL_KEY_SAMPLES, RowHasher, SideLeaves,
};
use crate::plan::ComparePlan;
use crate::source::{BatchStream, Positional, Source, TextRecords};

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
    let columns = [Side::Left, Side::Right].map(|side| plan.column_names(side));
    let text = text_sides(positionals, plan);
    // Text records are read with their keys only, and compared as bytes.
    let (names, storage) = match text {
        Some(_) => (
            [Side::Left, Side::Right]
                .map(|side| plan.keys.iter().map(|k| k.name(side).to_string()).collect()),
            Some(Vec::new()),
        ),
        None => (columns.clone(), storage_forms(plan)),
    };
    let decoded_forms = text.and_then(|_| storage_forms(plan));
    let text_fields = TextFields::new(&sources[0].schema(), &columns);
    let shared = Shared {
        plan,
        storage: storage.as_deref(),
        text,
        decoded_forms: decoded_forms.as_deref(),
        text_fields: &text_fields,
        positionals,
        totals,
        hashers: &hashers,
        names: &names,
        abandoned: AtomicBool::new(false),
        progress,
    };
    // Storage compares make no row hashes: one integer key is then walked
    // as integers.
    let int_bounds = match storage {
        Some(_) => IntBounds::of(plan, boundaries)?,
        None => None,
    };
    let outs: Vec<Option<WindowOut>> = windows
        .par_iter()
        .map(|w| match &int_bounds {
            Some(bounds) => merge_window::<IntKeys>(&shared, bounds, w),
            None => merge_window::<EncodedKeys>(&shared, boundaries, w),
        })
        .collect::<Result<_>>()?;
    let Some(outs) = outs.into_iter().collect::<Option<Vec<WindowOut>>>() else {
        return Ok(None);
    };
    finish(plan, boundaries, outs, totals, storage.is_some()).map(Some)
}

/// How a value column's cells are compared by storage.
#[derive(Debug, Clone, Copy, PartialEq)]
enum StorageForm {
    /// Both sides store one type: their arrays as read.
    AsRead,
    /// The types differ: each side's canonical arrays.
    Canonical,
}

/// Per value column, how it is compared by storage; `None` when some column
/// cannot be (the pass then compares row hashes).
fn storage_forms(plan: &ComparePlan) -> Option<Vec<StorageForm>> {
    plan.values
        .iter()
        .map(|c| {
            if c.left_type == c.right_type && stored::comparable_by_storage(&c.left_type) {
                return Some(StorageForm::AsRead);
            }
            // Canonical arrays: the canonical type, and text where one
            // side's text is parsed.
            stored::comparable_by_storage(&c.canonical).then_some(StorageForm::Canonical)
        })
        .collect()
}

/// The arrays a batch's value columns are compared by, in `forms`.
fn compared_arrays(
    plan: &ComparePlan,
    forms: &[StorageForm],
    batch: &RecordBatch,
    side: Side,
) -> Result<Vec<ArrayRef>> {
    let nkeys = plan.keys.len();
    let mut compared = Vec::with_capacity(forms.len());
    for ((column, form), array) in plan.values.iter().zip(forms).zip(&batch.columns()[nkeys..]) {
        match form {
            StorageForm::AsRead => compared.push(array.clone()),
            StorageForm::Canonical => compared.extend(column.canonicalize(array, side)?),
        }
    }
    Ok(compared)
}

/// Both sides' text records, when equal text stands for equal values: one
/// delimiter, and every compared column of one type on both sides (equal
/// text then parses to equal values; a pair with other bytes is decoded and
/// compared by the value rules). Each side's text holds the plan's columns
/// (see [`TextFields`]), so columns left out, extra or in another order on
/// one side do not matter.
fn text_sides<'a>(
    positionals: [&'a dyn Positional; 2],
    plan: &ComparePlan,
) -> Option<[&'a dyn TextRecords; 2]> {
    let text = [
        positionals[0].text_records()?,
        positionals[1].text_records()?,
    ];
    let same_types = plan.values.iter().all(|c| c.left_type == c.right_type);
    (text[0].delimiter() == text[1].delimiter() && same_types).then_some(text)
}

/// The fields a row's text holds: the plan's columns in the left file's
/// order (and their counterparts on the right), so that two files laid out
/// alike compare whole records, as they stand.
struct TextFields {
    names: [Vec<String>; 2],
    /// For each plan column, its place among the text's fields.
    plan_order: Vec<usize>,
}

impl TextFields {
    fn new(left: &arrow::datatypes::Schema, columns: &[Vec<String>; 2]) -> Self {
        let mut order: Vec<usize> = (0..columns[0].len()).collect();
        order.sort_by_key(|&i| left.index_of(&columns[0][i]).unwrap_or(usize::MAX));
        let mut plan_order = vec![0; order.len()];
        for (place, &i) in order.iter().enumerate() {
            plan_order[i] = place;
        }
        TextFields {
            names: [0, 1].map(|s| order.iter().map(|&i| columns[s][i].clone()).collect()),
            plan_order,
        }
    }

    /// Texts of side `s` decoded into the plan's columns, in plan order.
    fn decode(&self, text: &dyn TextRecords, s: usize, texts: &ArrayRef) -> Result<RecordBatch> {
        Ok(text
            .decode(texts, &self.names[s])?
            .project(&self.plan_order)?)
    }
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
    plan: &'a ComparePlan,
    /// Per value column, its storage form; `None`: compare row hashes.
    storage: Option<&'a [StorageForm]>,
    /// Both sides read as text records, compared by their bytes.
    text: Option<[&'a dyn TextRecords; 2]>,
    /// With text records: how decoded values are compared by storage.
    decoded_forms: Option<&'a [StorageForm]>,
    /// What a row's text holds, with text records.
    text_fields: &'a TextFields,
    positionals: [&'a dyn Positional; 2],
    totals: [u64; 2],
    hashers: &'a [RowHasher<'a>; 2],
    names: &'a [Vec<String>; 2],
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

/// One side's keys of a batch, as the walk compares them: the walk is
/// compiled once per form, so the common single integer key costs a `u64`
/// compare per row, not a row encoding and a byte compare.
trait WalkKeys: Sized {
    /// The leaves' bounds in the keys' form.
    type Bounds: Sync;
    /// A key kept from an earlier batch, to check the order across batches.
    type Owned;
    /// A batch's keys, NULL mask and (when `hashed`) row hashes.
    fn encode(
        hasher: &RowHasher<'_>,
        batch: &RecordBatch,
        hashed: bool,
    ) -> Result<EncodedBatch<Self>>;
    fn cmp(&self, i: usize, other: &Self, j: usize) -> std::cmp::Ordering;
    fn owned(&self, i: usize) -> Self::Owned;
    /// Key `i` lies above `before`.
    fn above(&self, i: usize, before: &Self::Owned) -> bool;
    fn leaf_near(&self, i: usize, bounds: &Self::Bounds, guess: usize) -> usize;
    /// How many rows, at most `room`, from `i` here and `j` in `other` (`from`
    /// is `(i, j, room)`) have pairwise equal keys, not NULL, increasing from key `i - 1` and below
    /// the upper bound of `leaf`.
    fn aligned(
        &self,
        other: &Self,
        nulls: [Option<&[bool]>; 2],
        from: (usize, usize, usize),
        bounds: &Self::Bounds,
        leaf: usize,
    ) -> usize;
}

fn is_null(nulls: Option<&[bool]>, i: usize) -> bool {
    nulls.is_some_and(|m| m[i])
}

/// Keys in Arrow's row format, compared as bytes: any key.
struct EncodedKeys(Rows);

impl WalkKeys for EncodedKeys {
    type Bounds = Boundaries;
    type Owned = Vec<u8>;

    fn encode(
        hasher: &RowHasher<'_>,
        batch: &RecordBatch,
        hashed: bool,
    ) -> Result<EncodedBatch<Self>> {
        let encoded = match hashed {
            true => hasher.encode(batch)?,
            false => hasher.encode_keys(batch)?,
        };
        Ok(EncodedBatch {
            keys: EncodedKeys(encoded.keys),
            hashes: encoded.hashes,
            nulls: encoded.nulls,
        })
    }
    fn cmp(&self, i: usize, other: &Self, j: usize) -> std::cmp::Ordering {
        compare_keys(self.0.row(i).data(), other.0.row(j).data())
    }
    fn owned(&self, i: usize) -> Vec<u8> {
        self.0.row(i).data().to_vec()
    }
    fn above(&self, i: usize, before: &Vec<u8>) -> bool {
        compare_keys(before, self.0.row(i).data()).is_lt()
    }
    fn leaf_near(&self, i: usize, bounds: &Boundaries, guess: usize) -> usize {
        bounds.leaf_near(self.0.row(i).data(), guess)
    }
    fn aligned(
        &self,
        other: &Self,
        nulls: [Option<&[bool]>; 2],
        (i, j, room): (usize, usize, usize),
        bounds: &Boundaries,
        leaf: usize,
    ) -> usize {
        let upper = bounds.upper(leaf);
        let mut previous = self.0.row(i - 1).data();
        let mut taken = 0;
        while taken < room {
            let (a, b) = (i + taken, j + taken);
            if is_null(nulls[0], a) || is_null(nulls[1], b) {
                break;
            }
            let key = self.0.row(a).data();
            if key != other.0.row(b).data()
                || compare_keys(previous, key).is_ge()
                || upper.is_some_and(|u| compare_keys(key, u).is_ge())
            {
                break;
            }
            previous = key;
            taken += 1;
        }
        taken
    }
}

/// One integer key column: each key as a `u64` that sorts as the key does
/// (a NULL row holds any value; the NULL mask tells).
struct IntKeys(Vec<u64>);

/// The leaves' bounds as [`IntKeys`]: leaf `i` holds the keys from bound
/// `i - 1` (inclusive) to bound `i` (exclusive).
struct IntBounds(Vec<u64>);

impl IntBounds {
    /// The bounds in integer form, when the key is one integer column (of
    /// one canonical array) and the leaves cut keys, not hashes.
    fn of(plan: &ComparePlan, boundaries: &Boundaries) -> Result<Option<IntBounds>> {
        let [key] = plan.keys.as_slice() else {
            return Ok(None);
        };
        let integer = matches!(
            key.canonical,
            arrow::datatypes::DataType::Int64 | arrow::datatypes::DataType::UInt64
        );
        if !integer || key.sort_fields().len() != 1 || boundaries.is_hashed() {
            return Ok(None);
        }
        IntBounds::decoded(&canon::row_converter(&plan.key_columns())?, boundaries)
    }

    /// Boundaries of keys `converter` encoded (one integer column).
    fn decoded(converter: &RowConverter, boundaries: &Boundaries) -> Result<Option<IntBounds>> {
        let bounds: Vec<&[u8]> = boundaries.raw_bounds().collect();
        if bounds.is_empty() {
            return Ok(Some(IntBounds(Vec::new())));
        }
        let decoded = Boundaries::decode(converter, &bounds)?;
        match decoded.as_slice() {
            [array] if array.null_count() == 0 => Ok(sortable_ints(array).map(IntBounds)),
            _ => Ok(None),
        }
    }
}

/// An integer array as `u64`s in the same order: signed values with their
/// sign bit flipped; `None` for other types.
fn sortable_ints(array: &ArrayRef) -> Option<Vec<u64>> {
    use arrow::datatypes::{DataType, Int64Type, UInt64Type};
    match array.data_type() {
        DataType::Int64 => Some(
            array
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .map(|&v| (v as u64) ^ (1 << 63))
                .collect(),
        ),
        DataType::UInt64 => Some(array.as_primitive::<UInt64Type>().values().to_vec()),
        _ => None,
    }
}

impl WalkKeys for IntKeys {
    type Bounds = IntBounds;
    type Owned = u64;

    fn encode(
        hasher: &RowHasher<'_>,
        batch: &RecordBatch,
        hashed: bool,
    ) -> Result<EncodedBatch<Self>> {
        let canonical = hasher.canonical_keys(batch)?;
        let ints = match canonical.as_slice() {
            [array] if !hashed => sortable_ints(array),
            _ => None,
        };
        let ints = ints.ok_or_else(|| {
            Error::Internal("merged pass: integer keys expected, not found".into())
        })?;
        // A key NULL as read, or (never expected) made NULL by its
        // conversion: either way no integer stands for it.
        let mut columns = canonical;
        columns.push(batch.column(0).clone());
        Ok(EncodedBatch {
            keys: IntKeys(ints),
            hashes: Vec::new(),
            nulls: canon::null_rows(&columns),
        })
    }
    fn cmp(&self, i: usize, other: &Self, j: usize) -> std::cmp::Ordering {
        self.0[i].cmp(&other.0[j])
    }
    fn owned(&self, i: usize) -> u64 {
        self.0[i]
    }
    fn above(&self, i: usize, before: &u64) -> bool {
        self.0[i] > *before
    }
    fn leaf_near(&self, i: usize, bounds: &IntBounds, guess: usize) -> usize {
        let (key, bounds) = (self.0[i], &bounds.0);
        let n = bounds.len();
        // The leaf is the number of bounds at or below the key; rows in key
        // order mostly stay in the guessed leaf or enter the next.
        if guess <= n && (guess == 0 || bounds[guess - 1] <= key) {
            if guess == n || key < bounds[guess] {
                return guess;
            }
            if guess + 1 == n || key < bounds[guess + 1] {
                return guess + 1;
            }
        }
        bounds.partition_point(|&b| b <= key)
    }
    fn aligned(
        &self,
        other: &Self,
        nulls: [Option<&[bool]>; 2],
        (i, j, room): (usize, usize, usize),
        bounds: &IntBounds,
        leaf: usize,
    ) -> usize {
        let upper = bounds.0.get(leaf).copied();
        let (mine, theirs) = (&self.0[i..i + room], &other.0[j..j + room]);
        let mut previous = self.0[i - 1];
        let mut taken = 0;
        for (&key, &other_key) in mine.iter().zip(theirs) {
            if key != other_key || key <= previous || upper.is_some_and(|u| key >= u) {
                break;
            }
            previous = key;
            taken += 1;
        }
        if nulls.iter().any(Option::is_some) {
            // NULL rows hold any value: the run ends at the first.
            taken = (0..taken)
                .find(|&t| is_null(nulls[0], i + t) || is_null(nulls[1], j + t))
                .unwrap_or(taken);
        }
        taken
    }
}

/// Walks both sides of one window together by key.
fn merge_window<K: WalkKeys>(
    shared: &Shared<'_>,
    bounds: &K::Bounds,
    window: &Window,
) -> Result<Option<WindowOut>> {
    if shared.abandoned.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let mut cursors = [
        Cursor::<K>::new(shared, bounds, window, Side::Left),
        Cursor::<K>::new(shared, bounds, window, Side::Right),
    ];
    let mut walk = Walk {
        first_leaf: window.leaves.start,
        pending: Vec::new(),
        unchanged: vec![0u64; window.leaves.len()],
        matched: Vec::new(),
        runs: Vec::new(),
        same: Vec::new(),
    };
    let mut has = [
        walk.advance(&mut cursors, 0)?,
        walk.advance(&mut cursors, 1)?,
    ];
    while has[0] || has[1] {
        let [left, right] = &cursors;
        let order = match (has, &left.batch, &right.batch) {
            ([true, true], Some(l), Some(r)) => l.keys.cmp(left.row, &r.keys, right.row),
            ([true, _], ..) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        let row = |cursor: &Cursor<'_, K>| cursor.row as u32;
        match order {
            std::cmp::Ordering::Equal => {
                let mut stretch = Stretch::one(row(left), row(right), left.leaf);
                stretch.len += take_aligned(&mut cursors);
                walk.pending.push(stretch);
                has = [
                    walk.advance(&mut cursors, 0)?,
                    walk.advance(&mut cursors, 1)?,
                ];
            }
            std::cmp::Ordering::Less => {
                walk.pending
                    .push(Stretch::one(row(left), NO_ROW, left.leaf));
                has[0] = walk.advance(&mut cursors, 0)?;
            }
            std::cmp::Ordering::Greater => {
                walk.pending
                    .push(Stretch::one(NO_ROW, row(right), right.leaf));
                has[1] = walk.advance(&mut cursors, 1)?;
            }
        }
    }
    walk.settle(&mut cursors)?;
    let [left, right] = cursors;
    let (left, right) = (left.finish()?, right.finish()?);
    if shared.abandoned.load(Ordering::Relaxed) {
        return Ok(None);
    }
    Ok(Some(WindowOut {
        sides: [left, right],
        unchanged: walk.unchanged,
        matched: walk.matched,
    }))
}

/// After a pair of equal keys, takes in one go the rows that follow in both
/// batches with pairwise equal, increasing, non-NULL keys in the same leaf
/// (a table and its copy align for long stretches): the checks each step
/// would make, without the steps. Returns the number of pairs taken.
fn take_aligned<K: WalkKeys>(cursors: &mut [Cursor<'_, K>; 2]) -> u32 {
    let [left, right] = cursors;
    let start = [left.next, right.next];
    let taken = {
        let (Some(l), Some(r)) = (&left.batch, &right.batch) else {
            return 0;
        };
        let room = (l.batch.num_rows() - start[0]).min(r.batch.num_rows() - start[1]);
        if room == 0 {
            return 0;
        }
        l.keys.aligned(
            &r.keys,
            [l.nulls.as_deref(), r.nulls.as_deref()],
            (start[0], start[1], room),
            left.bounds,
            left.leaf,
        )
    };
    if taken > 0 {
        left.take(taken);
        right.take(taken);
    }
    taken as u32
}

/// A row index standing for "no row on this side".
const NO_ROW: u32 = u32::MAX;

/// Rows of the current batches in key order, all in one leaf: `len` pairs
/// of rows `left + t` and `right + t` with equal keys, or one row of one
/// side (`NO_ROW` on the other).
#[derive(Debug, Clone, Copy)]
struct Stretch {
    left: u32,
    right: u32,
    len: u32,
    leaf: u32,
}

impl Stretch {
    fn one(left: u32, right: u32, leaf: usize) -> Self {
        Stretch {
            left,
            right,
            len: 1,
            leaf: leaf as u32,
        }
    }

    fn paired(&self) -> bool {
        self.left != NO_ROW && self.right != NO_ROW
    }
}

/// The walk's rows met since the cursors' current batches were loaded, and
/// what was settled before.
struct Walk {
    first_leaf: usize,
    /// Rows met, in key order.
    pending: Vec<Stretch>,
    /// Per leaf of the window: key pairs found equal.
    unchanged: Vec<u64>,
    matched: Vec<Matched>,
    // Buffers reused from batch to batch: the pending pairs as runs, and
    // whether each pair is stored alike.
    runs: Vec<stored::Run>,
    same: Vec<bool>,
}

impl Walk {
    /// Moves cursor `s` to its next row; before it leaves a batch, the rows
    /// met in it are settled, while both batches are at hand.
    fn advance<K: WalkKeys>(&mut self, cursors: &mut [Cursor<'_, K>; 2], s: usize) -> Result<bool> {
        loop {
            match cursors[s].step() {
                Step::Row => return Ok(true),
                Step::Done => return Ok(false),
                Step::BatchEnd => {
                    self.settle(cursors)?;
                    cursors[s].next_batch()?;
                }
            }
        }
    }

    /// Text records of paired rows whose bytes differ are decoded, and
    /// pairs whose values are stored alike (`1.50` and `1.5`) set aside as
    /// equal here: two exports spelled differently keep only the rows that
    /// really differ, not every row.
    fn decode_unlike<K>(
        &mut self,
        shared: &Shared<'_>,
        text: [&dyn TextRecords; 2],
        forms: &[StorageForm],
        loaded: [&Loaded<K>; 2],
    ) -> Result<()> {
        // (place in `same`, left row, right row) of each pair stored differently.
        let unlike: Vec<(usize, usize, usize)> = self
            .runs
            .iter()
            .flat_map(|run| (0..run.len).map(move |t| (run.first + t, run.left + t, run.right + t)))
            .filter(|&(k, _, _)| !self.same[k])
            .collect();
        if unlike.is_empty() {
            return Ok(());
        }
        let nkeys = shared.plan.keys.len();
        let mut compared: [Vec<ArrayRef>; 2] = Default::default();
        for (s, side) in [Side::Left, Side::Right].into_iter().enumerate() {
            let rows = UInt32Array::from_iter_values(unlike.iter().map(|&(_, l, r)| match s {
                0 => l as u32,
                _ => r as u32,
            }));
            let records = arrow::compute::take(loaded[s].batch.column(nkeys), &rows, None)?;
            let decoded = shared.text_fields.decode(text[s], s, &records)?;
            compared[s] = compared_arrays(shared.plan, forms, &decoded, side)?;
        }
        // The decoded rows of both sides line up, one pair a row.
        let all = [stored::Run {
            first: 0,
            left: 0,
            right: 0,
            len: unlike.len(),
        }];
        let mut alike = vec![true; unlike.len()];
        for (la, ra) in compared[0].iter().zip(&compared[1]) {
            stored::clear_unlike(la, ra, &all, &mut alike)?;
        }
        for (&(k, _, _), alike) in unlike.iter().zip(alike) {
            self.same[k] = alike;
        }
        Ok(())
    }

    /// Decides the pending rows: a pair alike (by storage or row hash) is
    /// unchanged; any other row is kept for the row comparison.
    fn settle<K: WalkKeys>(&mut self, cursors: &mut [Cursor<'_, K>; 2]) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.runs.clear();
        let mut paired = 0;
        for stretch in self.pending.iter().filter(|s| s.paired()) {
            self.runs.push(stored::Run {
                first: paired,
                left: stretch.left as usize,
                right: stretch.right as usize,
                len: stretch.len as usize,
            });
            paired += stretch.len as usize;
        }
        self.same.clear();
        self.same.resize(paired, true);
        let [left, right] = &*cursors;
        if let (Some(l), Some(r)) = (&left.batch, &right.batch) {
            if left.shared.storage.is_none() {
                for run in &self.runs {
                    for t in 0..run.len {
                        self.same[run.first + t] =
                            l.hashes[run.left + t] == r.hashes[run.right + t];
                    }
                }
            } else {
                for (la, ra) in l.compared.iter().zip(&r.compared) {
                    stored::clear_unlike(la, ra, &self.runs, &mut self.same)?;
                }
                if let (Some(text), Some(forms)) = (left.shared.text, left.shared.decoded_forms) {
                    self.decode_unlike(left.shared, text, forms, [l, r])?;
                }
            }
        }
        let pending = std::mem::take(&mut self.pending);
        let [left, right] = &mut *cursors;
        let mut k = 0;
        for stretch in &pending {
            let leaf = stretch.leaf as usize;
            if !stretch.paired() {
                let kept_left = (stretch.left != NO_ROW).then(|| left.keep(stretch.left as usize));
                let kept_right =
                    (stretch.right != NO_ROW).then(|| right.keep(stretch.right as usize));
                self.matched.push(Matched::new(kept_left, kept_right, leaf));
                continue;
            }
            let same = &self.same[k..k + stretch.len as usize];
            k += same.len();
            let alike = same.iter().filter(|&&s| s).count();
            self.unchanged[leaf - self.first_leaf] += alike as u64;
            if alike == same.len() {
                continue;
            }
            for t in (0..stretch.len).filter(|&t| !same[t as usize]) {
                let kept_left = left.keep((stretch.left + t) as usize);
                let kept_right = right.keep((stretch.right + t) as usize);
                self.matched
                    .push(Matched::new(Some(kept_left), Some(kept_right), leaf));
            }
        }
        self.pending = pending;
        self.pending.clear();
        Ok(())
    }
}

/// Where a cursor stands after a step.
enum Step {
    /// On a row the window owns.
    Row,
    /// Its batch is used up: the caller settles, then loads the next.
    BatchEnd,
    /// No more rows for this window.
    Done,
}

/// A batch read by a cursor, with what its rows are compared by.
struct Loaded<K> {
    batch: RecordBatch,
    keys: K,
    /// Every row's hash, when row hashes are compared.
    hashes: Vec<u128>,
    /// Rows whose key is NULL (`None`: none).
    nulls: Option<Vec<bool>>,
    /// The arrays compared by storage, in the plan's value column order
    /// (empty when row hashes are compared).
    compared: Vec<ArrayRef>,
}

/// Reads one side of a window row by row, checking order, and stops at
/// each row the window owns.
struct Cursor<'a, K: WalkKeys> {
    shared: &'a Shared<'a>,
    bounds: &'a K::Bounds,
    side: Side,
    leaves: Range<usize>,
    window: SideWindow,
    /// Parts (with row ranges within them) not opened yet.
    pending: VecDeque<(usize, Range<u64>)>,
    stream: Option<BatchStream>,
    batch: Option<Loaded<K>>,
    /// Position of the current batch's first row.
    batch_start: u64,
    /// The next row of the batch to look at.
    next: usize,
    /// The row the cursor stands on (owned by the window).
    row: usize,
    /// The previous non-NULL key: its row in this batch, or a copy from an earlier one.
    previous: Option<usize>,
    carried: Option<K::Owned>,
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

impl<'a, K: WalkKeys> Cursor<'a, K> {
    fn new(shared: &'a Shared<'a>, bounds: &'a K::Bounds, window: &Window, side: Side) -> Self {
        let s = side as usize;
        let w = window.sides[s].clone();
        // The reads covering [start, end): one per part, or (rows as read,
        // not text) one across the parts a read of the first can span.
        let positional = shared.positionals[s];
        let mut pending = VecDeque::new();
        let (mut at, mut covered) = (0u64, 0u64);
        for (part, &rows) in positional.part_rows().iter().enumerate() {
            let (from, to) = (w.start.max(at).max(covered), w.end.min(at + rows));
            if from < to {
                let span = match shared.text {
                    Some(_) => rows,
                    None => positional.span_rows(part),
                };
                let reach = w.end.min(at + span).max(to);
                pending.push_back((part, from - at..reach - at));
                covered = reach;
            }
            at += rows;
        }
        let batch_start = w.start;
        Cursor {
            shared,
            bounds,
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

    /// Row `row` of the current batch goes to the row comparison; returns
    /// its index among the window's kept rows.
    fn keep(&mut self, row: usize) -> usize {
        self.kept.push(row as u32);
        self.kept_rows += 1;
        self.kept_rows - 1
    }

    /// Marks the side out of order: every window stops, the pass is void.
    fn disorder(&mut self) {
        self.shared.abandoned.store(true, Ordering::Relaxed);
        self.done = true;
    }

    /// Moves to the next row of the current batch that the window owns.
    fn step(&mut self) -> Step {
        while !self.done {
            let batch_rows = self.batch.as_ref().map_or(0, |b| b.batch.num_rows());
            if self.next >= batch_rows {
                return Step::BatchEnd;
            }
            let i = self.next;
            self.next += 1;
            let position = self.batch_start + i as u64;
            let Some(loaded) = &self.batch else {
                continue;
            };
            if is_null(loaded.nulls.as_deref(), i) {
                if position < self.window.next_start {
                    self.out.null_key_rows += 1;
                    self.out.rows += 1;
                    if self.out.null_key_samples.len() < NULL_KEY_SAMPLES {
                        self.out.null_key_samples.push(loaded.batch.slice(i, 1));
                    }
                }
                continue;
            }
            let keys = &loaded.keys;
            let increasing = match (self.previous, &self.carried) {
                (Some(p), _) => keys.cmp(p, keys, i).is_lt(),
                (None, Some(carried)) => keys.above(i, carried),
                (None, None) => true,
            };
            if !increasing {
                self.disorder();
                continue;
            }
            self.previous = Some(i);
            let leaf = keys.leaf_near(i, self.bounds, self.leaf);
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
            let digest = &mut self.out.digests[leaf - self.leaves.start];
            match loaded.hashes.get(i) {
                Some(&hash) => digest.add(hash),
                // Compared by storage: the digest counts rows (see `finish`).
                None => digest.rows += 1,
            }
            self.out.rows += 1;
            self.row = i;
            return Step::Row;
        }
        Step::Done
    }

    /// Moves over the next `n` rows of the batch, known to be owned by the
    /// window, in the current leaf, with increasing non-NULL keys.
    fn take(&mut self, n: usize) {
        let Some(loaded) = &self.batch else {
            return;
        };
        let digest = &mut self.out.digests[self.leaf - self.leaves.start];
        match loaded.hashes.get(self.next..self.next + n) {
            Some(hashes) if !hashes.is_empty() => hashes.iter().for_each(|&h| digest.add(h)),
            _ => digest.rows += n as u64,
        }
        self.out.rows += n as u64;
        self.next += n;
        self.row = self.next - 1;
        self.previous = Some(self.row);
    }

    /// Sets the kept rows of the current batch aside and loads the next
    /// batch; at the end of the window's read, the cursor is done.
    fn next_batch(&mut self) -> Result<()> {
        if !self.load_next()? && !self.done {
            self.done = true;
            // Stopping short of the side's end needs the proof that the rest
            // lies above the window.
            if !self.passed_end && self.window.end < self.shared.totals[self.side as usize] {
                self.disorder();
            }
        }
        Ok(())
    }

    /// Loads the next batch of the window's read; false at its end.
    fn load_next(&mut self) -> Result<bool> {
        self.flush_kept()?;
        if let Some(Loaded { batch, keys, .. }) = self.batch.take() {
            if let Some(p) = self.previous.take() {
                self.carried = Some(keys.owned(p));
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
                let names = &self.shared.names[s];
                self.stream = Some(match self.shared.text {
                    Some(text) => text[s].read_part_text(
                        part,
                        names,
                        &self.shared.text_fields.names[s],
                        Some(&ranges),
                    )?,
                    None => self.shared.positionals[s].read_part(part, names, Some(&ranges))?,
                });
            }
            match self.stream.as_mut().and_then(Iterator::next) {
                Some(batch) => {
                    let batch = batch?;
                    if batch.num_rows() == 0 {
                        continue;
                    }
                    self.shared.progress.inc(batch.num_rows() as u64);
                    self.batch = Some(self.load(batch)?);
                    return Ok(true);
                }
                None => self.stream = None,
            }
        }
    }

    /// Encodes a batch's keys, and its rows' hashes or the arrays its cells
    /// are compared by.
    fn load(&self, batch: RecordBatch) -> Result<Loaded<K>> {
        let hasher = &self.shared.hashers[self.side as usize];
        let storage = self.shared.storage;
        let EncodedBatch {
            keys,
            hashes,
            nulls,
        } = K::encode(hasher, &batch, storage.is_none())?;
        let nkeys = self.shared.plan.keys.len();
        let compared = match storage {
            None => Vec::new(),
            Some(_) if self.shared.text.is_some() => vec![batch.column(nkeys).clone()],
            Some(forms) => compared_arrays(self.shared.plan, forms, &batch, self.side)?,
        };
        Ok(Loaded {
            batch,
            keys,
            hashes,
            nulls,
            compared,
        })
    }

    fn flush_kept(&mut self) -> Result<()> {
        if self.kept.is_empty() {
            return Ok(());
        }
        if let Some(Loaded { batch, .. }) = &self.batch {
            let indices = UInt32Array::from(std::mem::take(&mut self.kept));
            let rows = self.decoded(take_record_batch(batch, &indices)?)?;
            self.out.kept.push(rows);
        }
        Ok(())
    }

    /// Rows of read batches with the plan's columns: as read, or decoded
    /// from their text records.
    fn decoded(&self, rows: RecordBatch) -> Result<RecordBatch> {
        let s = self.side as usize;
        match self.shared.text {
            Some(text) => {
                self.shared
                    .text_fields
                    .decode(text[s], s, rows.column(self.shared.plan.keys.len()))
            }
            None => Ok(rows),
        }
    }

    fn finish(mut self) -> Result<SideOut> {
        self.flush_kept()?;
        let samples = std::mem::take(&mut self.out.null_key_samples);
        self.out.null_key_samples = samples
            .into_iter()
            .map(|rows| self.decoded(rows))
            .collect::<Result<_>>()?;
        Ok(self.out)
    }
}

/// Joins the windows into per-side leaves and compares the kept rows by key.
fn finish(
    plan: &ComparePlan,
    boundaries: &Boundaries,
    outs: Vec<WindowOut>,
    totals: [u64; 2],
    by_storage: bool,
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
    if by_storage {
        mark_divergent(&mut sides, &mut rows, &matched)?;
    }
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

/// Compared by storage, the digests count rows only: a leaf diverges where
/// the row comparison found a difference (or a value within a tolerance, as
/// hashes would). Pairs stored differently but equal by the value rules
/// (`-0` and `0`) may lie in other leaves; the report counts those leaves'
/// rows as unchanged already, so the comparison's count drops them.
fn mark_divergent(
    sides: &mut [SideLeaves; 2],
    rows: &mut RowDiff,
    matched: &[Matched],
) -> Result<()> {
    let mut divergent = vec![false; sides[0].leaves.len()];
    for leaf in rows
        .diffs
        .iter()
        .map(|d| d.leaf)
        .chain(rows.duplicates.iter().map(|d| d.leaf))
    {
        divergent[leaf] = true;
    }
    for &leaf in &rows.tolerated_leaves {
        divergent[leaf] = true;
    }
    let equal_elsewhere = matched
        .iter()
        .filter(|m| m.left.is_some() && m.right.is_some() && !divergent[m.leaf])
        .count() as u64;
    // Every pair outside the divergent leaves was found equal.
    rows.unchanged = rows.unchanged.checked_sub(equal_elsewhere).ok_or_else(|| {
        Error::Internal(format!(
            "merged pass: {equal_elsewhere} equal pairs outside divergent leaves, {} in all",
            rows.unchanged
        ))
    })?;
    for (digest, _) in sides[1]
        .leaves
        .iter_mut()
        .zip(&divergent)
        .filter(|(_, d)| **d)
    {
        digest.sum = 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, UInt64Array};
    use arrow::datatypes::DataType;
    use arrow::row::SortField;
    use proptest::prelude::*;

    use super::*;

    /// One integer key column as both walks see it: encoded rows (with the
    /// converter) and integers.
    fn both_forms(values: &[Option<i64>], signed: bool) -> (RowConverter, Rows, IntKeys) {
        let array: ArrayRef = match signed {
            true => Arc::new(Int64Array::from(values.to_vec())),
            false => Arc::new(UInt64Array::from_iter(
                values.iter().map(|v| v.map(|v| v as u64)),
            )),
        };
        let t = if signed {
            DataType::Int64
        } else {
            DataType::UInt64
        };
        let converter = RowConverter::new(vec![SortField::new(t)]).unwrap();
        let rows = converter
            .convert_columns(std::slice::from_ref(&array))
            .unwrap();
        (converter, rows, IntKeys(sortable_ints(&array).unwrap()))
    }

    fn key_value() -> impl Strategy<Value = i64> {
        prop_oneof![
            8 => -30i64..30,
            1 => Just(i64::MIN),
            1 => Just(i64::MAX),
            1 => Just(-1i64),
        ]
    }

    proptest! {
        /// Integer keys order, find their leaves and align pairs exactly as
        /// their encoded rows do, signed or not, NULLs and extremes included.
        #[test]
        fn integer_keys_walk_as_their_encoded_rows(
            signed in any::<bool>(),
            bounds in prop::collection::vec(key_value(), 0..12),
            left in prop::collection::vec(prop::option::weighted(0.9, key_value()), 1..40),
            right in prop::collection::vec(prop::option::weighted(0.9, key_value()), 1..40),
        ) {
            let (converter, bound_rows, _) =
                both_forms(&bounds.iter().map(|&b| Some(b)).collect::<Vec<_>>(), signed);
            let mut sorted: Vec<Box<[u8]>> =
                bound_rows.iter().map(|r| r.data().to_vec().into_boxed_slice()).collect();
            sorted.sort();
            sorted.dedup();
            let boundaries = Boundaries::from_sorted(sorted);
            let int_bounds = IntBounds::decoded(&converter, &boundaries).unwrap().unwrap();
            let (_, left_rows, left_ints) = both_forms(&left, signed);
            let (_, right_rows, right_ints) = both_forms(&right, signed);
            let (left_rows, right_rows) = (EncodedKeys(left_rows), EncodedKeys(right_rows));
            let null = |keys: &[Option<i64>]| -> Vec<bool> { keys.iter().map(Option::is_none).collect() };
            let (left_nulls, right_nulls) = (null(&left), null(&right));
            let nulls = [Some(left_nulls.as_slice()), Some(right_nulls.as_slice())];
            let leaves = boundaries.leaf_count();
            for i in (0..left.len()).filter(|&i| left[i].is_some()) {
                for j in (0..right.len()).filter(|&j| right[j].is_some()) {
                    prop_assert_eq!(
                        left_ints.cmp(i, &right_ints, j),
                        left_rows.cmp(i, &right_rows, j)
                    );
                }
                if left[0].is_some() {
                    prop_assert_eq!(
                        left_ints.above(i, &left_ints.owned(0)),
                        left_rows.above(i, &left_rows.owned(0))
                    );
                }
                for guess in 0..leaves {
                    prop_assert_eq!(
                        left_ints.leaf_near(i, &int_bounds, guess),
                        left_rows.leaf_near(i, &boundaries, guess)
                    );
                }
            }
            // Runs start after a pair of equal, non-NULL keys.
            for i in (1..left.len()).filter(|&i| left[i - 1].is_some()) {
                for j in 0..right.len() {
                    let room = (left.len() - i).min(right.len() - j);
                    for leaf in 0..leaves {
                        prop_assert_eq!(
                            left_ints.aligned(&right_ints, nulls, (i, j, room), &int_bounds, leaf),
                            left_rows.aligned(&right_rows, nulls, (i, j, room), &boundaries, leaf)
                        );
                    }
                }
            }
        }
    }

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
