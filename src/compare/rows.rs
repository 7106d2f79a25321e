//! The row phase: re-read only the rows of divergent leaves (and of keys that
//! may be duplicated), match them by key, and classify each key as only-left,
//! only-right, changed (with the columns that differ), unchanged, or
//! duplicated. Values are compared on their canonical encoding, the same bytes
//! the Merkle pass hashed.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use arrow::row::Rows;
use datafusion::scalar::ScalarValue;
use rayon::prelude::*;

use crate::canon::{self, ColumnPlan};
use crate::error::{Error, Result, Side};
use crate::merkle::{Boundaries, PositionMap};
use crate::plan::ComparePlan;
use crate::source::{BatchStream, KeyRangeHint, Source};

/// How a key differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    OnlyLeft,
    OnlyRight,
    Changed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::OnlyLeft => "only_left",
            Status::OnlyRight => "only_right",
            Status::Changed => "changed",
        }
    }
}

/// One differing key: row indexes into [`RowDiff::left`] / [`RowDiff::right`].
#[derive(Debug, Clone)]
pub struct KeyDiff {
    pub status: Status,
    pub left: Option<usize>,
    pub right: Option<usize>,
    /// Indexes into `plan.values` of the columns that differ (changed rows only).
    pub columns: Vec<usize>,
    /// The leaf the key falls in.
    pub leaf: usize,
}

/// A key that occurs more than once on at least one side.
#[derive(Debug, Clone)]
pub struct DuplicateKey {
    pub left: Vec<usize>,
    pub right: Vec<usize>,
    /// The leaf the key falls in.
    pub leaf: usize,
}

/// Rows of one side kept for the row phase, in scan column order (keys, then values).
#[derive(Debug, Clone)]
pub struct KeptRows {
    pub batch: RecordBatch,
    /// Rows the source returned during the re-read (before recon's exact filter).
    pub rescanned: u64,
    /// Rows of the selected leaves and keys (before identical rows were set aside).
    pub reread: u64,
}

/// The result of the row phase.
#[derive(Debug)]
pub struct RowDiff {
    pub left: KeptRows,
    pub right: KeptRows,
    /// Differences ordered by key.
    pub diffs: Vec<KeyDiff>,
    pub duplicates: Vec<DuplicateKey>,
    /// Matched keys whose rows are equal.
    pub unchanged: u64,
    /// Per value column: rows where that column differs.
    pub column_mismatches: Vec<u64>,
    /// Leaves holding an unchanged pair whose values differ within a
    /// tolerance: their digests may differ without a difference to show.
    pub tolerated_leaves: Vec<usize>,
}

/// What to re-read.
pub struct Reread<'a> {
    pub boundaries: &'a Boundaries,
    /// Per leaf: read it again.
    pub leaves: &'a [bool],
    /// Key hashes to read again wherever they are (duplicate candidates).
    pub key_hashes: &'a [u64],
    /// Where each side's rows lie (left, right), for positional sources.
    pub positions: [Option<&'a PositionMap>; 2],
    /// Per leaf: rows in it on the larger side (to size groups of leaves).
    pub leaf_rows: &'a [u64],
    /// Rows per group of leaves read back together.
    pub group_rows: u64,
}

/// The rows of one side in the selected leaves, read back as the row phase
/// reads them (for a comparison with a snapshot, which has no rows).
pub fn rows_in(
    source: &dyn Source,
    plan: &ComparePlan,
    side: Side,
    reread: &Reread<'_>,
) -> Result<KeptRows> {
    let hint = range_hint(plan, reread)?;
    keep_rows(source, plan, side, reread, hint.as_ref())
}

/// Re-reads the selected rows of both sides and diffs them.
pub fn diff_rows(
    left: &dyn Source,
    right: &dyn Source,
    plan: &ComparePlan,
    reread: &Reread<'_>,
) -> Result<RowDiff> {
    let hint = range_hint(plan, reread)?;
    let mut kept: [Vec<KeptRows>; 2] = [Vec::new(), Vec::new()];
    let mut identical = 0u64;
    for group in groups(left, right, reread) {
        let group_reread = Reread {
            leaves: &group,
            ..*reread
        };
        let (l, r) = rayon::join(
            || keep_rows(left, plan, Side::Left, &group_reread, hint.as_ref()),
            || keep_rows(right, plan, Side::Right, &group_reread, hint.as_ref()),
        );
        let (l, r, pairs) = set_aside_identical(plan, l?, r?, reread.key_hashes)?;
        identical += pairs;
        kept[0].push(l);
        kept[1].push(r);
    }
    let [l, r] = kept;
    let mut rows = compare_rows(
        plan,
        reread.boundaries,
        concat_kept(l, plan, Side::Left)?,
        concat_kept(r, plan, Side::Right)?,
    )?;
    rows.unchanged += identical;
    Ok(rows)
}

/// Splits the selected leaves into groups of about `group_rows` rows, so
/// that when many leaves diverge, memory holds one group's rows and the
/// differences found so far, not every re-read row. Only
/// where both sides are positional and their rows lie in key order does a
/// group's read touch just its own rows; otherwise every group would cost a
/// full scan, and one group is read.
fn groups(left: &dyn Source, right: &dyn Source, reread: &Reread<'_>) -> Vec<Vec<bool>> {
    let whole = || vec![reread.leaves.to_vec()];
    let maps = [reread.positions[0], reread.positions[1]];
    let (Some(lm), Some(rm)) = (maps[0], maps[1]) else {
        return whole();
    };
    if !reread.key_hashes.is_empty() || left.positional().is_none() || right.positional().is_none()
    {
        return whole();
    }
    let mut out: Vec<Vec<bool>> = Vec::new();
    let mut rows = 0u64;
    for (leaf, _) in reread.leaves.iter().enumerate().filter(|(_, s)| **s) {
        if out.is_empty() || rows >= reread.group_rows.max(1) {
            out.push(vec![false; reread.leaves.len()]);
            rows = 0;
        }
        if let Some(group) = out.last_mut() {
            group[leaf] = true;
        }
        rows += reread.leaf_rows.get(leaf).copied().unwrap_or(0);
    }
    if out.len() <= 1 {
        return whole();
    }
    // Rows each plan would read: grouping pays only if the groups' reads add
    // up to about one read of the selected chunks (keys in order).
    let read = |map: &PositionMap, leaves: &[bool]| -> u64 {
        let before = selected_before(leaves);
        (0..map.parts.len())
            .flat_map(|p| map.ranges(p, &before))
            .map(|r| r.end - r.start)
            .sum()
    };
    let once: u64 = read(lm, reread.leaves) + read(rm, reread.leaves);
    let grouped: u64 = out.iter().map(|g| read(lm, g) + read(rm, g)).sum();
    if grouped > once + once / 4 {
        return whole();
    }
    out
}

/// `out[i]` counts the selected leaves below leaf `i`.
fn selected_before(leaves: &[bool]) -> Vec<u32> {
    let mut out = Vec::with_capacity(leaves.len() + 1);
    let mut count = 0u32;
    out.push(0);
    for &selected in leaves {
        count += u32::from(selected);
        out.push(count);
    }
    out
}

/// The rows kept from each group, as one batch.
fn concat_kept(parts: Vec<KeptRows>, plan: &ComparePlan, side: Side) -> Result<KeptRows> {
    let rescanned = parts.iter().map(|p| p.rescanned).sum();
    let reread = parts.iter().map(|p| p.reread).sum();
    let batches: Vec<RecordBatch> = parts.into_iter().map(|p| p.batch).collect();
    let batch = match batches.first() {
        Some(first) => concat_batches(&first.schema(), &batches)?,
        None => RecordBatch::new_empty(Arc::new(scan_schema(&plan.columns(), side))),
    };
    Ok(KeptRows {
        batch,
        rescanned,
        reread,
    })
}

/// Reads one side and keeps the rows of selected leaves or keys.
fn keep_rows(
    source: &dyn Source,
    plan: &ComparePlan,
    side: Side,
    reread: &Reread<'_>,
    hint: Option<&KeyRangeHint>,
) -> Result<KeptRows> {
    let columns = plan.columns();
    let keys = plan.key_columns();
    let names = plan.column_names(side);
    let converter = canon::row_converter(&keys)?;
    let schema = Arc::new(scan_schema(&columns, side));
    if !reread.leaves.iter().any(|&l| l) && reread.key_hashes.is_empty() {
        return Ok(KeptRows {
            batch: RecordBatch::new_empty(schema),
            rescanned: 0,
            reread: 0,
        });
    }
    let parts: Vec<(Vec<RecordBatch>, u64)> = streams(source, &names, side, reread, hint)?
        .into_par_iter()
        .map(|stream| {
            let mut kept = Vec::new();
            let mut seen = 0u64;
            for batch in stream {
                let batch = batch?;
                seen += batch.num_rows() as u64;
                let key_arrays = &batch.columns()[..keys.len()];
                let key_rows = canon::encode(
                    &converter,
                    &canon::canonical_arrays(&keys, key_arrays, side)?,
                )?;
                let nulls = canon::null_rows(key_arrays);
                let mut leaf = 0;
                let mask: BooleanArray = (0..batch.num_rows())
                    .map(|i| {
                        if nulls.as_ref().is_some_and(|m| m[i]) {
                            return Some(false);
                        }
                        let key = key_rows.row(i);
                        leaf = reread.boundaries.leaf_near(key.as_ref(), leaf);
                        Some(
                            reread.leaves[leaf]
                                || (!reread.key_hashes.is_empty()
                                    && reread
                                        .key_hashes
                                        .binary_search(&canon::key_hash(key.as_ref()))
                                        .is_ok()),
                        )
                    })
                    .collect();
                // Whole batches of selected rows (many divergent leaves) need no copy.
                let filtered = if mask.true_count() == batch.num_rows() {
                    batch
                } else {
                    filter_record_batch(&batch, &mask)?
                };
                if filtered.num_rows() > 0 {
                    kept.push(filtered);
                }
            }
            Ok((kept, seen))
        })
        .collect::<Result<_>>()?;
    let rescanned = parts.iter().map(|p| p.1).sum();
    let batches: Vec<RecordBatch> = parts.into_iter().flat_map(|p| p.0).collect();
    let batch = if batches.is_empty() {
        RecordBatch::new_empty(Arc::clone(&schema))
    } else {
        let first_schema = batches[0].schema();
        concat_batches(&first_schema, &batches)?
    };
    Ok(KeptRows {
        reread: batch.num_rows() as u64,
        batch,
        rescanned,
    })
}

/// The reads that cover the rows to keep: for a positional source only the
/// chunks of selected leaves (and, if duplicate candidates are sought, the
/// parts that may repeat keys); otherwise a scan narrowed by the hint.
fn streams(
    source: &dyn Source,
    names: &[String],
    side: Side,
    reread: &Reread<'_>,
    hint: Option<&KeyRangeHint>,
) -> Result<Vec<BatchStream>> {
    let map = reread.positions[side as usize];
    let (Some(positional), Some(map)) = (source.positional(), map) else {
        return source.scan(names, hint);
    };
    let selected_before = selected_before(reread.leaves);
    let mut out = Vec::new();
    for part in 0..positional.part_rows().len() {
        if !reread.key_hashes.is_empty() && map.may_repeat_keys[part] {
            out.push(positional.read_part(part, names, None)?);
            continue;
        }
        let ranges = map.ranges(part, &selected_before);
        if !ranges.is_empty() {
            out.push(positional.read_part(part, names, Some(&ranges))?);
        }
    }
    Ok(out)
}

pub(crate) fn scan_schema(columns: &[&ColumnPlan], side: Side) -> Schema {
    Schema::new(
        columns
            .iter()
            .map(|c| arrow::datatypes::Field::new(c.name(side), c.source_type(side).clone(), true))
            .collect::<Vec<_>>(),
    )
}

/// Most rows of a divergent leaf are equal on both sides. Pairs of rows with
/// the same full-row hash (key included, so the same key) are set aside as
/// unchanged before the keyed comparison, which then sees only the rows that
/// differ. Rows whose key may be duplicated are never set aside, so that
/// duplicates are still reported. Returns the remaining rows and the pairs
/// set aside.
fn set_aside_identical(
    plan: &ComparePlan,
    left: KeptRows,
    right: KeptRows,
    duplicate_candidates: &[u64],
) -> Result<(KeptRows, KeptRows, u64)> {
    let columns = plan.columns();
    let nkeys = plan.keys.len();
    let key_converter = canon::row_converter(&plan.key_columns())?;
    // Per row: its full-row hash, or None when it must go to the keyed comparison.
    let hashes = |kept: &KeptRows, side: Side| -> Result<Vec<Option<u128>>> {
        let arrays = kept.batch.columns();
        let rows = canon::row_hashes(&canon::hashed_arrays(&columns, arrays, side)?)?;
        let keys = if duplicate_candidates.is_empty() {
            None
        } else {
            let key_arrays = canon::canonical_arrays(&plan.key_columns(), &arrays[..nkeys], side)?;
            Some(canon::encode(&key_converter, &key_arrays)?)
        };
        Ok(rows
            .into_iter()
            .enumerate()
            .map(|(i, hash)| {
                let candidate = keys.as_ref().is_some_and(|k| {
                    duplicate_candidates
                        .binary_search(&canon::key_hash(k.row(i).as_ref()))
                        .is_ok()
                });
                (!candidate).then_some(hash)
            })
            .collect())
    };
    let (left_hashes, right_hashes) =
        rayon::join(|| hashes(&left, Side::Left), || hashes(&right, Side::Right));
    let (left_hashes, right_hashes) = (left_hashes?, right_hashes?);
    // Rows whose key may repeat were left out above, so on each side a row
    // hash names one row; a hash seen twice on a side (a 128-bit collision)
    // stays unpaired and goes to the keyed comparison.
    let mut by_hash: HashMap<u128, Option<u32>, HashIsKey> =
        HashMap::with_capacity_and_hasher(left_hashes.len(), HashIsKey);
    for (i, h) in left_hashes.iter().enumerate() {
        if let Some(h) = h {
            by_hash
                .entry(*h)
                .and_modify(|slot| *slot = None)
                .or_insert(Some(i as u32));
        }
    }
    let mut keep_left = vec![true; left_hashes.len()];
    let mut keep_right = vec![true; right_hashes.len()];
    let mut pairs = 0u64;
    for (j, h) in right_hashes.iter().enumerate() {
        let Some(h) = h else { continue };
        if let Some(slot) = by_hash.get_mut(h)
            && let Some(i) = slot.take()
        {
            keep_left[i as usize] = false;
            keep_right[j] = false;
            pairs += 1;
        }
    }
    let compact = |kept: KeptRows, keep: Vec<bool>| -> Result<KeptRows> {
        let batch = filter_record_batch(&kept.batch, &BooleanArray::from(keep))?;
        Ok(KeptRows { batch, ..kept })
    };
    Ok((
        compact(left, keep_left)?,
        compact(right, keep_right)?,
        pairs,
    ))
}

/// Hashing for map keys that are 128-bit hashes already: their low 64 bits.
#[derive(Clone, Copy, Default)]
struct HashIsKey;

impl std::hash::BuildHasher for HashIsKey {
    type Hasher = LowBits;
    fn build_hasher(&self) -> LowBits {
        LowBits(0)
    }
}

struct LowBits(u64);

impl std::hash::Hasher for LowBits {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u128 keys are hashed; fold anything else in for completeness.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// Matches kept rows by key and classifies them. Rows are grouped by
/// sorting (key bytes, side, row) once, not through a map of small vectors:
/// with a million differing rows the allocations were most of the time.
pub(crate) fn compare_rows(
    plan: &ComparePlan,
    boundaries: &Boundaries,
    left: KeptRows,
    right: KeptRows,
) -> Result<RowDiff> {
    let keys = plan.key_columns();
    let key_converter = canon::row_converter(&keys)?;
    let nkeys = keys.len();
    let encode_keys = |kept: &KeptRows, side: Side| -> Result<Rows> {
        let arrays = &kept.batch.columns()[..nkeys];
        canon::encode(
            &key_converter,
            &canon::canonical_arrays(&keys, arrays, side)?,
        )
    };
    let left_keys = encode_keys(&left, Side::Left)?;
    let right_keys = encode_keys(&right, Side::Right)?;

    // (key, side: 0 left / 1 right, row), sorted: each key's rows together,
    // its left rows first.
    let mut all: Vec<(&[u8], u8, usize)> =
        Vec::with_capacity(left_keys.num_rows() + right_keys.num_rows());
    all.extend((0..left_keys.num_rows()).map(|i| (left_keys.row(i).data(), 0, i)));
    all.extend((0..right_keys.num_rows()).map(|i| (right_keys.row(i).data(), 1, i)));
    all.par_sort_unstable();

    let mut matched = Vec::new();
    let mut duplicates = Vec::new();
    let mut start = 0;
    while start < all.len() {
        let key = all[start].0;
        let end = start + all[start..].partition_point(|e| e.0 == key);
        let group = &all[start..end];
        let lefts = group.partition_point(|e| e.1 == 0);
        let leaf = boundaries.leaf_of(key);
        match (lefts, group.len() - lefts) {
            (1, 0) => matched.push(Matched::new(Some(group[0].2), None, leaf)),
            (0, 1) => matched.push(Matched::new(None, Some(group[0].2), leaf)),
            (1, 1) => matched.push(Matched::new(Some(group[0].2), Some(group[1].2), leaf)),
            _ => duplicates.push(DuplicateKey {
                left: group[..lefts].iter().map(|e| e.2).collect(),
                right: group[lefts..].iter().map(|e| e.2).collect(),
                leaf,
            }),
        }
        start = end;
    }
    classify(plan, left, right, &matched, duplicates)
}

/// One key's row on each side among the kept rows (at most one per side).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Matched {
    pub left: Option<usize>,
    pub right: Option<usize>,
    pub leaf: usize,
}

impl Matched {
    pub fn new(left: Option<usize>, right: Option<usize>, leaf: usize) -> Self {
        Matched { left, right, leaf }
    }
}

/// One value column of the kept rows, ready to compare.
enum ColumnValues {
    Encoded(Rows, Rows),
    /// Canonical arrays compared with the tolerance, and their exact encoding.
    Tolerant(Vec<ArrayRef>, Vec<ArrayRef>, canon::Tolerance, Rows, Rows),
}

impl ColumnValues {
    fn differ(&self, l: usize, r: usize) -> bool {
        match self {
            ColumnValues::Encoded(lv, rv) => lv.row(l) != rv.row(r),
            ColumnValues::Tolerant(lv, rv, t, ..) => !canon::within(lv, l, rv, r, *t),
        }
    }

    /// Equal within a tolerance but not exactly (so hashed apart, maybe).
    fn tolerated(&self, l: usize, r: usize) -> bool {
        match self {
            ColumnValues::Encoded(..) => false,
            ColumnValues::Tolerant(.., le, re) => le.row(l) != re.row(r),
        }
    }
}

/// Classifies keys already matched (in key order): only-left, only-right,
/// or a pair whose columns are compared on their canonical encoding.
pub(crate) fn classify(
    plan: &ComparePlan,
    left: KeptRows,
    right: KeptRows,
    matched: &[Matched],
    duplicates: Vec<DuplicateKey>,
) -> Result<RowDiff> {
    let nkeys = plan.keys.len();
    // Each value column encoded on its own, both sides with the same
    // encoder; a tolerant column keeps its canonical arrays, compared with
    // its tolerance.
    let value_rows: Vec<ColumnValues> = plan
        .values
        .par_iter()
        .enumerate()
        .map(|(i, column)| {
            let canonical = |kept: &KeptRows, side: Side| {
                column.canonicalize(&kept.batch.columns()[nkeys + i], side)
            };
            let (l, r) = (
                canonical(&left, Side::Left)?,
                canonical(&right, Side::Right)?,
            );
            let converter = canon::row_converter(&[column])?;
            let (le, re) = (
                canon::encode(&converter, &l)?,
                canon::encode(&converter, &r)?,
            );
            Ok(match column.rule.tolerance {
                Some(tolerance) => ColumnValues::Tolerant(l, r, tolerance, le, re),
                None => ColumnValues::Encoded(le, re),
            })
        })
        .collect::<Result<_>>()?;

    let mut diffs = Vec::new();
    let mut unchanged = 0u64;
    let mut column_mismatches = vec![0u64; plan.values.len()];
    let mut tolerated_leaves = Vec::new();
    for m in matched {
        let (status, columns) = match (m.left, m.right) {
            (Some(li), Some(ri)) => {
                let columns: Vec<usize> = value_rows
                    .iter()
                    .enumerate()
                    .filter(|(_, values)| values.differ(li, ri))
                    .map(|(c, _)| c)
                    .collect();
                if columns.is_empty() {
                    if value_rows.iter().any(|values| values.tolerated(li, ri)) {
                        tolerated_leaves.push(m.leaf);
                    }
                    unchanged += 1;
                    continue;
                }
                for &c in &columns {
                    column_mismatches[c] += 1;
                }
                (Status::Changed, columns)
            }
            (Some(_), None) => (Status::OnlyLeft, Vec::new()),
            (None, Some(_)) => (Status::OnlyRight, Vec::new()),
            (None, None) => return Err(Error::Internal("key with no rows".into())),
        };
        diffs.push(KeyDiff {
            status,
            left: m.left,
            right: m.right,
            columns,
            leaf: m.leaf,
        });
    }
    Ok(RowDiff {
        left,
        right,
        diffs,
        duplicates,
        unchanged,
        column_mismatches,
        tolerated_leaves,
    })
}

/// A pruning hint on the first key column covering the leaves to re-read,
/// when that column's type orders the same way in the source as in recon.
fn range_hint(plan: &ComparePlan, reread: &Reread<'_>) -> Result<Option<KeyRangeHint>> {
    if !reread.key_hashes.is_empty() {
        return Ok(None); // duplicate candidates can be anywhere
    }
    let first = &plan.keys[0];
    // Leaves over key hashes are no key ranges.
    if !hint_safe(first) || reread.boundaries.is_hashed() {
        return Ok(None);
    }
    let converter = canon::row_converter(&plan.key_columns())?;
    let b = reread.boundaries;
    let bound = |key: Option<&[u8]>| -> Result<Option<ScalarValue>> {
        let Some(key) = key else { return Ok(None) };
        let arrays = Boundaries::decode(&converter, &[key])?;
        Ok(Some(
            ScalarValue::try_from_array(&arrays[0], 0)
                .map_err(|e| Error::Internal(e.to_string()))?,
        ))
    };
    let ranges = leaf_runs(reread.leaves, MAX_HINT_RANGES)
        .into_iter()
        .map(|(start, end)| Ok((bound(b.lower(start))?, bound(b.upper(end))?)))
        .collect::<Result<Vec<_>>>()?;
    Ok((!ranges.is_empty()).then(|| KeyRangeHint {
        column: first.left_name.clone(),
        ranges,
    }))
}

/// At most this many ranges go into a source's pruning predicate.
const MAX_HINT_RANGES: usize = 64;

/// Runs of selected leaves as inclusive `(first, last)` pairs; when there are
/// more than `max`, the runs separated by the smallest gaps are merged, so the
/// covering ranges take in as few unselected leaves as possible.
pub fn leaf_runs(selected: &[bool], max: usize) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (leaf, _) in selected.iter().enumerate().filter(|(_, s)| **s) {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == leaf => *end = leaf,
            _ => runs.push((leaf, leaf)),
        }
    }
    if runs.len() <= max.max(1) {
        return runs;
    }
    // Keep the (max - 1) widest gaps as splits.
    let mut gaps: Vec<(usize, usize)> = runs
        .windows(2)
        .enumerate()
        .map(|(i, w)| (w[1].0 - w[0].1, i))
        .collect();
    gaps.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut split_after: Vec<usize> = gaps.into_iter().take(max.max(1) - 1).map(|g| g.1).collect();
    split_after.sort_unstable();
    let mut merged = Vec::with_capacity(max);
    let mut start = runs[0].0;
    for i in split_after {
        merged.push((start, runs[i].1));
        start = runs[i + 1].0;
    }
    merged.push((start, runs[runs.len() - 1].1));
    merged
}

/// Range predicates push down safely for integer, decimal, text and date keys
/// stored as the same kind on both sides (floats order NaN differently, and
/// time-zone-aware timestamps compare through a cast).
fn hint_safe(column: &ColumnPlan) -> bool {
    use DataType::*;
    let plain = |t: &DataType| {
        matches!(
            t,
            Int8 | Int16
                | Int32
                | Int64
                | UInt8
                | UInt16
                | UInt32
                | UInt64
                | Utf8
                | LargeUtf8
                | Utf8View
                | Date32
        ) || matches!(t, Decimal128(..) | Timestamp(_, None))
    };
    plain(&column.left_type)
        && plain(&column.right_type)
        && plain(&column.canonical)
        && column.left_name == column.right_name
}

#[cfg(test)]
mod tests {
    use super::leaf_runs;

    #[test]
    fn runs_merge_across_the_smallest_gaps() {
        let mut selected = vec![false; 100];
        for i in [1, 2, 3, 10, 12, 50, 90, 91] {
            selected[i] = true;
        }
        assert_eq!(
            leaf_runs(&selected, 10),
            vec![(1, 3), (10, 10), (12, 12), (50, 50), (90, 91)]
        );
        assert_eq!(leaf_runs(&selected, 3), vec![(1, 12), (50, 50), (90, 91)]);
        assert_eq!(leaf_runs(&selected, 1), vec![(1, 91)]);
        assert!(leaf_runs(&[false; 5], 3).is_empty());
    }
}
