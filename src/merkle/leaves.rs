//! The hashing pass: one streaming read of a side, partitions in parallel,
//! every row hashed (key and compared columns, canonical values) into the
//! digest of its leaf. Memory holds the leaf digests, not the rows.
//!
//! For a positional source (Parquet read directly) the pass also keeps, per
//! chunk of [`CHUNK_ROWS`] rows, the smallest and largest leaf met there, so
//! the row phase can read back only the chunks of divergent leaves; and it
//! checks whether each part's keys strictly increase. Parts with increasing,
//! non-overlapping keys cannot hold a duplicate key, so for sorted data (the
//! common case) no per-row state is kept at all. Otherwise, 64-bit key hashes
//! of the rows that could be duplicated are gathered and sorted to find the
//! candidates: 8 bytes per such row.

use std::ops::Range;

use arrow::array::ArrayRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows};
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::Digest;
use super::boundaries::Boundaries;
use crate::canon::{self, ColumnPlan};
use crate::error::{Result, Side};
use crate::plan::ComparePlan;
use crate::source::{BatchStream, Positional, Source};

/// Rows with a NULL key kept as examples for the report.
pub const NULL_KEY_SAMPLES: usize = 10;

/// Rows per entry of a [`PositionMap`]: finer chunks re-read fewer rows
/// around a difference, at 8 bytes of memory per chunk.
pub const CHUNK_ROWS: u64 = 128;

/// Where the leaves' rows lie in a positional source.
#[derive(Debug, Default)]
pub struct PositionMap {
    /// Per part, per chunk: the smallest and largest leaf of its rows
    /// (`(u32::MAX, 0)` for a chunk of NULL keys only).
    pub parts: Vec<Vec<(u32, u32)>>,
    /// Per part: it may hold a key that occurs more than once on this side.
    pub may_repeat_keys: Vec<bool>,
}

impl PositionMap {
    /// Row ranges of `part` whose chunks may hold a row of a selected leaf;
    /// `selected_before[i]` counts the selected leaves below leaf `i`.
    pub fn ranges(&self, part: usize, selected_before: &[u32]) -> Vec<Range<u64>> {
        let mut out: Vec<Range<u64>> = Vec::new();
        for (chunk, &(low, high)) in self.parts[part].iter().enumerate() {
            if low > high || selected_before[high as usize + 1] == selected_before[low as usize] {
                continue;
            }
            let start = chunk as u64 * CHUNK_ROWS;
            match out.last_mut() {
                Some(last) if last.end == start => last.end = start + CHUNK_ROWS,
                _ => out.push(start..start + CHUNK_ROWS),
            }
        }
        out
    }
}

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
    /// Row positions, for positional sources.
    pub positions: Option<PositionMap>,
}

impl SideLeaves {
    /// Empty digests for `leaf_count` leaves.
    pub fn with_leaves(leaf_count: usize) -> Self {
        SideLeaves {
            leaves: vec![Digest::default(); leaf_count],
            ..SideLeaves::default()
        }
    }

    /// Adds the digests, rows and NULL keys another thread gathered over
    /// the same leaves.
    pub fn absorb(&mut self, other: SideLeaves) {
        for (total, part) in self.leaves.iter_mut().zip(&other.leaves) {
            total.merge(part);
        }
        self.rows += other.rows;
        self.add_null_keys(other.null_key_rows, other.null_key_samples);
    }

    /// Counts row `i` of `batch`, whose key is NULL, and keeps it as an
    /// example while fewer than [`NULL_KEY_SAMPLES`] are kept.
    pub fn note_null_key(&mut self, batch: &RecordBatch, i: usize) {
        self.null_key_rows += 1;
        if self.null_key_samples.len() < NULL_KEY_SAMPLES {
            self.null_key_samples.push(batch.slice(i, 1));
        }
    }

    /// Adds the NULL-key counts and examples of another part of this side.
    pub fn add_null_keys(&mut self, rows: u64, samples: Vec<RecordBatch>) {
        self.null_key_rows += rows;
        let room = NULL_KEY_SAMPLES.saturating_sub(self.null_key_samples.len());
        self.null_key_samples.extend(samples.into_iter().take(room));
    }
}

/// The rows with a NULL key a hashing pass of `source` keeps as examples
/// (the first [`NULL_KEY_SAMPLES`] in source order), for a side another
/// engine hashed: its key columns are read until they are found, then only
/// those rows whole.
pub fn null_key_samples(
    source: &dyn Source,
    plan: &ComparePlan,
    side: Side,
) -> Result<Vec<RecordBatch>> {
    let names = plan.column_names(side);
    let keys = plan.key_columns().len();
    let mut out: Vec<RecordBatch> = Vec::new();
    match source.positional() {
        Some(positional) => {
            for part in 0..positional.part_rows().len() {
                let mut offsets: Vec<Range<u64>> = Vec::new();
                let mut at = 0u64;
                for batch in positional.read_part(part, &names[..keys], None)? {
                    let batch = batch?;
                    if let Some(nulls) = canon::null_rows(batch.columns()) {
                        offsets.extend(
                            (0..batch.num_rows())
                                .filter(|&i| nulls[i])
                                .map(|i| at + i as u64..at + i as u64 + 1),
                        );
                    }
                    at += batch.num_rows() as u64;
                    if out.len() + offsets.len() >= NULL_KEY_SAMPLES {
                        break;
                    }
                }
                offsets.truncate(NULL_KEY_SAMPLES - out.len());
                if !offsets.is_empty() {
                    for batch in positional.read_part(part, &names, Some(&offsets))? {
                        let batch = batch?;
                        out.extend((0..batch.num_rows()).map(|i| batch.slice(i, 1)));
                    }
                }
                if out.len() >= NULL_KEY_SAMPLES {
                    break;
                }
            }
        }
        None => {
            'streams: for stream in source.scan(&names, None)? {
                for batch in stream {
                    let batch = batch?;
                    if let Some(nulls) = canon::null_rows(&batch.columns()[..keys]) {
                        for i in (0..batch.num_rows()).filter(|&i| nulls[i]) {
                            out.push(batch.slice(i, 1));
                            if out.len() >= NULL_KEY_SAMPLES {
                                break 'streams;
                            }
                        }
                    }
                }
            }
        }
    }
    out.truncate(NULL_KEY_SAMPLES);
    Ok(out)
}

/// Encodes and hashes the rows of one side's batches.
pub(crate) struct RowHasher<'a> {
    side: Side,
    keys: Vec<&'a ColumnPlan>,
    values: Vec<&'a ColumnPlan>,
    key_converter: RowConverter,
}

/// One batch, encoded: keys in the row format (to find their leaves), or
/// another form the caller compares, and every row's hash.
pub(crate) struct EncodedBatch<K = Rows> {
    pub keys: K,
    pub hashes: Vec<u128>,
    pub nulls: Option<Vec<bool>>,
}

impl<'a> RowHasher<'a> {
    pub fn new(plan: &'a ComparePlan, side: Side) -> Result<Self> {
        let columns = plan.columns();
        let keys = plan.key_columns();
        Ok(RowHasher {
            side,
            key_converter: canon::row_converter(&keys)?,
            values: columns[keys.len()..].to_vec(),
            keys,
        })
    }

    /// The batch's keys and row hashes.
    pub fn encode(&self, batch: &RecordBatch) -> Result<EncodedBatch> {
        self.encode_with(batch, true)
    }

    /// The batch's key columns in their canonical form.
    pub fn canonical_keys(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        canon::canonical_arrays(&self.keys, &batch.columns()[..self.keys.len()], self.side)
    }

    /// The batch's keys only (`hashes` left empty).
    pub fn encode_keys(&self, batch: &RecordBatch) -> Result<EncodedBatch> {
        self.encode_with(batch, false)
    }

    fn encode_with(&self, batch: &RecordBatch, hash: bool) -> Result<EncodedBatch> {
        let nkeys = self.keys.len();
        let key_arrays = &batch.columns()[..nkeys];
        let key_canonical = canon::canonical_arrays(&self.keys, key_arrays, self.side)?;
        let keys = canon::encode(&self.key_converter, &key_canonical)?;
        let hashes = if hash {
            let mut all: Vec<ArrayRef> = key_canonical;
            all.extend(canon::hashed_arrays(
                &self.values,
                &batch.columns()[nkeys..],
                self.side,
            )?);
            canon::row_hashes(&all)?
        } else {
            Vec::new()
        };
        Ok(EncodedBatch {
            keys,
            hashes,
            nulls: canon::null_rows(key_arrays),
        })
    }
}

/// A part's index, chunk map and key order.
type PartSummary = (usize, Vec<(u32, u32)>, KeyOrder);

/// Per-thread totals.
struct Totals {
    side: SideLeaves,
    key_hashes: Vec<u64>,
    /// Positional sources: per part read, its chunk map and key order.
    parts: Vec<PartSummary>,
    /// Records of the parts read, when asked for.
    records: Vec<(usize, PartRecord)>,
}

impl Totals {
    fn new(leaf_count: usize) -> Self {
        Totals {
            side: SideLeaves::with_leaves(leaf_count),
            key_hashes: Vec::new(),
            parts: Vec::new(),
            records: Vec::new(),
        }
    }

    fn merge(mut self, other: Totals) -> Totals {
        self.side.absorb(other.side);
        let mut hashes = other.key_hashes;
        if self.key_hashes.len() < hashes.len() {
            std::mem::swap(&mut self.key_hashes, &mut hashes);
        }
        self.key_hashes.extend(hashes);
        self.parts.extend(other.parts);
        self.records.extend(other.records);
        self
    }
}

/// Whether one part's (non-NULL) keys strictly increase, and the smallest
/// and largest of them (the first and last, while they increase).
#[derive(Debug, Default, Clone)]
struct KeyOrder {
    increasing: bool,
    low: Option<Box<[u8]>>,
    high: Option<Box<[u8]>>,
}

/// What to note per row besides its digest.
struct Tracking {
    chunks: Option<Vec<(u32, u32)>>,
    order: Option<KeyOrder>,
    keep_key_hashes: bool,
}

/// What the hashing pass learned about one part of a positional source,
/// kept between runs (`--state`) so that an unchanged part need not be read
/// again: its rows' contribution to each leaf, its chunk map and key order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartRecord {
    pub rows: u64,
    pub null_key_rows: u64,
    /// (leaf, digest of the part's rows in it), by leaf, leaves it has rows in only.
    pub leaves: Vec<(u32, Digest)>,
    /// Per chunk of [`CHUNK_ROWS`] rows: the smallest and largest leaf.
    pub chunks: Vec<(u32, u32)>,
    /// Whether the part's keys strictly increase, and its smallest and
    /// largest keys (encoded).
    pub increasing: bool,
    pub low: Option<Box<[u8]>>,
    pub high: Option<Box<[u8]>>,
}

impl PartRecord {
    fn order(&self) -> KeyOrder {
        KeyOrder {
            increasing: self.increasing,
            low: self.low.clone(),
            high: self.high.clone(),
        }
    }
}

/// Hashes every row of one side into its leaf.
pub fn hash_side(
    source: &dyn Source,
    plan: &ComparePlan,
    side: Side,
    boundaries: &Boundaries,
    progress: &ProgressBar,
) -> Result<SideLeaves> {
    Ok(hash_side_keeping(source, plan, side, boundaries, &[], None, progress)?.0)
}

/// Told of each part's record as soon as the part is hashed.
pub type OnPart<'a> = &'a (dyn Fn(usize, &PartRecord) + Sync);

/// [`hash_side`] for a positional source that takes the parts `reuse`
/// holds a record of (indexed by part) from there instead of reading them,
/// and, with `record`, returns a record of every part it read (and tells
/// `record` of each as it is done).
pub fn hash_side_keeping(
    source: &dyn Source,
    plan: &ComparePlan,
    side: Side,
    boundaries: &Boundaries,
    reuse: &[Option<PartRecord>],
    record: Option<OnPart<'_>>,
    progress: &ProgressBar,
) -> Result<(SideLeaves, Vec<(usize, PartRecord)>)> {
    let hasher = RowHasher::new(plan, side)?;
    let names = plan.column_names(side);
    let leaf_count = boundaries.leaf_count();

    let totals = match source.positional() {
        Some(positional) => (0..positional.part_rows().len())
            .into_par_iter()
            .try_fold(
                || Totals::new(leaf_count),
                |mut totals, part| {
                    if let Some(kept) = reuse.get(part).and_then(Option::as_ref) {
                        for &(leaf, digest) in &kept.leaves {
                            totals.side.leaves[leaf as usize].merge(&digest);
                        }
                        totals.side.rows += kept.rows;
                        totals.parts.push((part, kept.chunks.clone(), kept.order()));
                        progress.inc(kept.rows);
                        return Ok(totals);
                    }
                    let rows = positional.part_rows()[part];
                    let mut tracking = Tracking {
                        chunks: Some(vec![(u32::MAX, 0); rows.div_ceil(CHUNK_ROWS) as usize]),
                        order: Some(KeyOrder {
                            increasing: true,
                            ..KeyOrder::default()
                        }),
                        keep_key_hashes: false,
                    };
                    let stream = positional.read_part(part, &names, None)?;
                    if let Some(on_part) = record {
                        // The part alone, to know its own contribution.
                        let mut own = Totals::new(leaf_count);
                        hash_stream(
                            stream,
                            &hasher,
                            boundaries,
                            &mut own,
                            &mut tracking,
                            progress,
                        )?;
                        let order = tracking.order.unwrap_or_default();
                        let chunks = tracking.chunks.unwrap_or_default();
                        let kept = PartRecord {
                            rows: own.side.rows,
                            null_key_rows: own.side.null_key_rows,
                            leaves: own
                                .side
                                .leaves
                                .iter()
                                .enumerate()
                                .filter(|(_, d)| d.rows > 0)
                                .map(|(leaf, d)| (leaf as u32, *d))
                                .collect(),
                            chunks: chunks.clone(),
                            increasing: order.increasing,
                            low: order.low.clone(),
                            high: order.high.clone(),
                        };
                        on_part(part, &kept);
                        totals.records.push((part, kept));
                        totals.side.absorb(own.side);
                        totals.parts.push((part, chunks, order));
                    } else {
                        hash_stream(
                            stream,
                            &hasher,
                            boundaries,
                            &mut totals,
                            &mut tracking,
                            progress,
                        )?;
                        totals.parts.push((
                            part,
                            tracking.chunks.unwrap_or_default(),
                            tracking.order.unwrap_or_default(),
                        ));
                    }
                    Ok::<_, crate::error::Error>(totals)
                },
            )
            .try_reduce(|| Totals::new(leaf_count), |a, b| Ok(a.merge(b)))?,
        None => source
            .scan(&names, None)?
            .into_par_iter()
            .try_fold(
                || Totals::new(leaf_count),
                |mut totals, stream| {
                    let mut tracking = Tracking {
                        chunks: None,
                        order: None,
                        keep_key_hashes: true,
                    };
                    hash_stream(
                        stream,
                        &hasher,
                        boundaries,
                        &mut totals,
                        &mut tracking,
                        progress,
                    )?;
                    Ok::<_, crate::error::Error>(totals)
                },
            )
            .try_reduce(|| Totals::new(leaf_count), |a, b| Ok(a.merge(b)))?,
    };

    let mut out = totals.side;
    let mut key_hashes = totals.key_hashes;
    if let Some(positional) = source.positional() {
        let mut parts = totals.parts;
        parts.sort_unstable_by_key(|p| p.0);
        let may_repeat = may_repeat_keys(&parts.iter().map(|p| &p.2).collect::<Vec<_>>());
        if may_repeat.iter().any(|&m| m) {
            key_hashes = key_hashes_of(positional, &hasher, &names, &may_repeat)?;
        }
        out.positions = Some(PositionMap {
            parts: parts.into_iter().map(|p| p.1).collect(),
            may_repeat_keys: may_repeat,
        });
    }
    out.duplicate_key_hashes = repeated(key_hashes);
    let mut records = totals.records;
    records.sort_unstable_by_key(|r| r.0);
    Ok((out, records))
}

/// Hashes one stream's rows into `totals`, noting what `tracking` asks for.
fn hash_stream(
    stream: BatchStream,
    hasher: &RowHasher<'_>,
    boundaries: &Boundaries,
    totals: &mut Totals,
    tracking: &mut Tracking,
    progress: &ProgressBar,
) -> Result<()> {
    let mut offset: u64 = 0;
    let mut leaf = 0usize;
    let mut last_key: Vec<u8> = Vec::new();
    for batch in stream {
        let batch = batch?;
        let n = batch.num_rows();
        totals.side.rows += n as u64;
        let encoded = hasher.encode(&batch)?;
        if tracking.keep_key_hashes {
            totals.key_hashes.reserve(n);
        }
        let mut previous: Option<usize> = None;
        for i in 0..n {
            if encoded.nulls.as_ref().is_some_and(|m| m[i]) {
                totals.side.note_null_key(&batch, i);
                continue;
            }
            let key = encoded.keys.row(i);
            let key = key.as_ref();
            leaf = boundaries.leaf_near(key, leaf);
            totals.side.leaves[leaf].add(encoded.hashes[i]);
            if let Some(chunks) = tracking.chunks.as_mut() {
                let chunk = &mut chunks[((offset + i as u64) / CHUNK_ROWS) as usize];
                chunk.0 = chunk.0.min(leaf as u32);
                chunk.1 = chunk.1.max(leaf as u32);
            }
            if let Some(order) = tracking.order.as_mut() {
                if order.increasing {
                    let before = match previous {
                        Some(p) => Some(encoded.keys.row(p)),
                        None => None,
                    };
                    let increasing = match (&before, order.low.is_some()) {
                        (Some(b), _) => b.as_ref() < key,
                        (None, true) => last_key.as_slice() < key,
                        (None, false) => true,
                    };
                    if !increasing {
                        // The keys rose until now: the largest is the one before.
                        order.increasing = false;
                        order.high = Some(match &before {
                            Some(b) => b.as_ref().into(),
                            None => last_key.as_slice().into(),
                        });
                    }
                }
                if order.low.is_none() {
                    order.low = Some(key.into());
                }
                if !order.increasing {
                    if order.low.as_deref().is_some_and(|low| key < low) {
                        order.low = Some(key.into());
                    }
                    if order.high.as_deref().is_none_or(|high| key > high) {
                        order.high = Some(key.into());
                    }
                }
            }
            if tracking.keep_key_hashes {
                totals.key_hashes.push(canon::key_hash(key));
            }
            previous = Some(i);
        }
        if let (Some(order), Some(p)) = (tracking.order.as_mut(), previous) {
            last_key.clear();
            last_key.extend_from_slice(encoded.keys.row(p).as_ref());
            if order.increasing {
                order.high = Some(last_key.as_slice().into());
            }
        }
        offset += n as u64;
        progress.inc(n as u64);
    }
    Ok(())
}

/// Per part: may it hold a key that occurs more than once on this side? Not
/// when its keys strictly increase and its key range meets no other part's.
fn may_repeat_keys(orders: &[&KeyOrder]) -> Vec<bool> {
    let mut out: Vec<bool> = orders.iter().map(|o| !o.increasing).collect();
    // Parts with keys, by lowest key. A part meets an earlier one when some
    // earlier highest key reaches its lowest key, and a later one when the
    // next lowest key is not above its highest key.
    let mut spans: Vec<(usize, &[u8], &[u8])> = orders
        .iter()
        .enumerate()
        .filter_map(|(i, o)| Some((i, o.low.as_deref()?, o.high.as_deref()?)))
        .collect();
    spans.sort_unstable_by(|a, b| a.1.cmp(b.1));
    let mut furthest: Option<&[u8]> = None;
    for (n, &(i, low, high)) in spans.iter().enumerate() {
        let meets_earlier = furthest.is_some_and(|f| low <= f);
        let meets_later = spans.get(n + 1).is_some_and(|next| next.1 <= high);
        if meets_earlier || meets_later {
            out[i] = true;
        }
        if furthest.is_none_or(|f| high > f) {
            furthest = Some(high);
        }
    }
    out
}

/// Key hashes of every non-NULL row of the parts that may repeat keys
/// (a second read of their key columns only).
fn key_hashes_of(
    positional: &dyn Positional,
    hasher: &RowHasher<'_>,
    names: &[String],
    parts: &[bool],
) -> Result<Vec<u64>> {
    let key_names = &names[..hasher.keys.len()];
    let per_part: Vec<Vec<u64>> = parts
        .par_iter()
        .enumerate()
        .filter(|(_, may)| **may)
        .map(|(part, _)| {
            let mut hashes = Vec::with_capacity(positional.part_rows()[part] as usize);
            for batch in positional.read_part(part, key_names, None)? {
                let batch = batch?;
                let canonical =
                    canon::canonical_arrays(&hasher.keys, batch.columns(), hasher.side)?;
                let keys = canon::encode(&hasher.key_converter, &canonical)?;
                let nulls = canon::null_rows(batch.columns());
                for i in 0..batch.num_rows() {
                    if !nulls.as_ref().is_some_and(|m| m[i]) {
                        hashes.push(canon::key_hash(keys.row(i).as_ref()));
                    }
                }
            }
            Ok(hashes)
        })
        .collect::<Result<_>>()?;
    Ok(per_part.concat())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn order(increasing: bool, low: u8, high: u8) -> KeyOrder {
        KeyOrder {
            increasing,
            low: Some(vec![low].into()),
            high: Some(vec![high].into()),
        }
    }

    #[test]
    fn sorted_disjoint_parts_cannot_repeat_keys() {
        let parts = [order(true, 1, 5), order(true, 6, 9), order(true, 10, 10)];
        assert_eq!(
            may_repeat_keys(&parts.iter().collect::<Vec<_>>()),
            vec![false; 3]
        );
    }

    #[test]
    fn overlapping_or_unsorted_parts_may() {
        // 0 and 2 overlap (2 starts at 5, where 0 ends); 1 is unsorted; 3 is clear.
        let parts = [
            order(true, 1, 5),
            order(false, 20, 30),
            order(true, 5, 6),
            order(true, 40, 50),
        ];
        assert_eq!(
            may_repeat_keys(&parts.iter().collect::<Vec<_>>()),
            vec![true, true, true, false]
        );
        // A long part covers a later one that starts after its neighbour.
        let parts = [order(true, 1, 100), order(true, 2, 3), order(true, 50, 60)];
        assert_eq!(
            may_repeat_keys(&parts.iter().collect::<Vec<_>>()),
            vec![true; 3]
        );
    }

    /// Regression: a part that is not in order spans from its smallest to its
    /// largest key, not from its first to its last; a sorted part holding
    /// one of its keys must be flagged too.
    #[test]
    fn unsorted_part_spans_its_smallest_to_largest_key() {
        let batch = |keys: &[i64]| {
            let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
                arrow::datatypes::Field::new("k", arrow::datatypes::DataType::Int64, true),
            ]));
            let column: ArrayRef =
                std::sync::Arc::new(arrow::array::Int64Array::from(keys.to_vec()));
            RecordBatch::try_new(schema, vec![column]).unwrap()
        };
        // Part 0 holds 50..60 then 1..5 (a rotation); part 1 holds only 50.
        let first: Vec<i64> = (50..60).chain(1..5).collect();
        let source = crate::source::MemorySource::new(
            "t",
            batch(&[]).schema(),
            vec![vec![batch(&first), batch(&[50])]],
        )
        .unwrap()
        .positional();
        let schema = batch(&[]).schema();
        let selection = crate::plan::Selection {
            key: vec!["k".into()],
            ..Default::default()
        };
        let plan = ComparePlan::new(&schema, &schema, &selection).unwrap();
        let leaves = hash_side(
            &source,
            &plan,
            Side::Left,
            &Boundaries::default(),
            &ProgressBar::hidden(),
        )
        .unwrap();
        let positions = leaves.positions.unwrap();
        assert_eq!(positions.may_repeat_keys, vec![true, true]);
        assert_eq!(leaves.duplicate_key_hashes.len(), 1);
    }

    #[test]
    fn position_map_selects_chunks_of_selected_leaves() {
        let map = PositionMap {
            parts: vec![vec![(0, 1), (2, 2), (3, 5), (u32::MAX, 0), (6, 6)]],
            may_repeat_keys: vec![false],
        };
        // Leaves 0..8, selected: 2 and 6.
        let selected = [false, false, true, false, false, false, true, false];
        let mut before = vec![0u32];
        for s in selected {
            before.push(before.last().unwrap() + u32::from(s));
        }
        let c = CHUNK_ROWS;
        assert_eq!(map.ranges(0, &before), vec![c..2 * c, 4 * c..5 * c]);
    }
}
