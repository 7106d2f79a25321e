//! Leaf boundaries: chosen once, from a sample of the keys of both sides, and
//! applied to both, so that a leaf covers the same key range on each side.
//! Equal-depth quantiles keep leaves near the same row count whatever the key
//! distribution (gaps, skew, strings), unlike an even split of the key domain.

use arrow::array::{ArrayRef, UInt64Array};
use arrow::compute::take;
use arrow::row::RowConverter;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use std::cmp::Ordering;

use crate::canon::{self, ColumnPlan, compare_keys};
use crate::error::{Result, Side};
use crate::source::{BatchStream, Source};

/// Keys sampled per partition stream of a streaming source (whose row count
/// is not known before it is read).
pub const SAMPLE_PER_PARTITION: usize = 1 << 16;

/// Sampled keys per leaf kept for choosing bounds: more only lengthen the sort.
const MAX_SAMPLES_PER_LEAF: usize = 32;

/// A uniform sample of one side's keys (as encoded key rows), with the weight
/// (rows represented) of each sampled key.
#[derive(Debug, Default)]
pub struct KeySample {
    pub rows: u64,
    pub keys: Vec<(Box<[u8]>, f64)>,
    /// For a positional source: the row position of each sampled key, in
    /// the order read (empty for a streaming source).
    pub positions: Vec<u64>,
}

impl KeySample {
    /// The sampled keys strictly increase with their positions: the source
    /// may be stored in key order (to be confirmed on every row).
    pub fn looks_ordered(&self) -> bool {
        self.positions.len() == self.keys.len() && self.keys.windows(2).all(|w| w[0].0 < w[1].0)
    }
}

/// Reads the key columns of one side and samples about `target` keys: every
/// n-th row of a positional source (whose size is known), a reservoir per
/// partition of a streaming one.
pub fn sample_keys(
    source: &dyn Source,
    keys: &[&ColumnPlan],
    side: Side,
    target: usize,
) -> Result<KeySample> {
    let names: Vec<String> = keys.iter().map(|k| k.name(side).to_string()).collect();
    let converter = canon::row_converter(keys)?;
    let partials: Vec<KeySample> = match source.positional() {
        Some(positional) => {
            let rows: u64 = positional.part_rows().iter().sum();
            let stride = (rows / target.max(1) as u64).max(1);
            let mut starts = Vec::with_capacity(positional.part_rows().len());
            let mut at = 0u64;
            for &r in positional.part_rows() {
                starts.push(at);
                at += r;
            }
            starts
                .into_par_iter()
                .enumerate()
                .map(|(part, start)| {
                    let picks = Picks { start, stride };
                    if positional.sparse_reads() {
                        let rows = positional.part_rows()[part];
                        let ranges: Vec<_> = (picks.first()..rows)
                            .step_by(stride as usize)
                            .map(|offset| offset..offset + 1)
                            .collect();
                        let stream = positional.read_part(part, &names, Some(&ranges))?;
                        every_nth(stream, keys, &converter, side, picks, true)
                    } else {
                        let stream = positional.read_part(part, &names, None)?;
                        every_nth(stream, keys, &converter, side, picks, false)
                    }
                })
                .collect::<Result<_>>()?
        }
        None => source
            .scan(&names, None)?
            .into_par_iter()
            .enumerate()
            .map(|(partition, stream)| reservoir(stream, keys, &converter, side, partition))
            .collect::<Result<_>>()?,
    };
    let mut sample = KeySample::default();
    for p in partials {
        sample.rows += p.rows;
        sample.keys.extend(p.keys);
        sample.positions.extend(p.positions);
    }
    Ok(sample)
}

/// The rows of one part a systematic sample picks: those whose position in
/// the source is a multiple of `stride`.
#[derive(Clone, Copy)]
struct Picks {
    /// The part's first row in the source.
    start: u64,
    stride: u64,
}

impl Picks {
    /// The first picked row's offset in the part.
    fn first(self) -> u64 {
        (self.stride - self.start % self.stride) % self.stride
    }
}

/// Systematic sample of one part: the rows `picks` names. Only those rows
/// are encoded; with `only_picked`, the stream holds nothing else.
fn every_nth(
    stream: BatchStream,
    keys: &[&ColumnPlan],
    converter: &RowConverter,
    side: Side,
    picks: Picks,
    only_picked: bool,
) -> Result<KeySample> {
    let Picks { start, stride } = picks;
    let mut sample = KeySample::default();
    let mut at = start;
    let weight = stride as f64;
    for batch in stream {
        let batch = batch?;
        let n = batch.num_rows() as u64;
        let (picked, batch_start): (UInt64Array, u64) = if only_picked {
            // Row i of the stream is the part's i-th pick.
            let index = at - start;
            at += n;
            ((0..n).collect(), start + picks.first() + index * stride)
        } else {
            let first = (stride - at % stride) % stride;
            let batch_start = at;
            at += n;
            ((first..n).step_by(stride as usize).collect(), batch_start)
        };
        if picked.is_empty() {
            continue;
        }
        let columns = batch
            .columns()
            .iter()
            .map(|c| take(c, &picked, None))
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
        let nulls = canon::null_rows(&columns);
        let encoded = canon::encode(converter, &canon::canonical_arrays(keys, &columns, side)?)?;
        for i in 0..encoded.num_rows() {
            if !nulls.as_ref().is_some_and(|m| m[i]) {
                sample.keys.push((encoded.row(i).as_ref().into(), weight));
                sample.positions.push(match only_picked {
                    true => batch_start + picked.value(i) * stride,
                    false => batch_start + picked.value(i),
                });
                sample.rows += stride;
            }
        }
    }
    Ok(sample)
}

/// Reservoir sample of one partition stream.
fn reservoir(
    stream: BatchStream,
    keys: &[&ColumnPlan],
    converter: &RowConverter,
    side: Side,
    partition: usize,
) -> Result<KeySample> {
    let mut rng = SmallRng::seed_from_u64(0x5eed ^ (partition as u64) << 1 ^ side as u64);
    let mut reservoir: Vec<Box<[u8]>> = Vec::new();
    let mut seen: u64 = 0;
    for batch in stream {
        let batch = batch?;
        let canonical = canon::canonical_arrays(keys, batch.columns(), side)?;
        let rows = canon::encode(converter, &canonical)?;
        let nulls = canon::null_rows(batch.columns());
        for i in 0..rows.num_rows() {
            if nulls.as_ref().is_some_and(|n| n[i]) {
                continue;
            }
            seen += 1;
            if reservoir.len() < SAMPLE_PER_PARTITION {
                reservoir.push(rows.row(i).as_ref().into());
            } else {
                let slot = rng.random_range(0..seen);
                if (slot as usize) < SAMPLE_PER_PARTITION {
                    reservoir[slot as usize] = rows.row(i).as_ref().into();
                }
            }
        }
    }
    let weight = if reservoir.is_empty() {
        0.0
    } else {
        seen as f64 / reservoir.len() as f64
    };
    Ok(KeySample {
        rows: seen,
        keys: reservoir.into_iter().map(|k| (k, weight)).collect(),
        positions: Vec::new(),
    })
}

/// Sorted, distinct encoded keys; leaf `i` holds keys in `[b[i-1], b[i])`,
/// the first and last leaves are open-ended.
///
/// The keys sit end to end in one buffer, and their first eight bytes again
/// as integers: the leaf lookup, done once per row, binary-searches the
/// integers (cache-resident, no pointer chased) and compares whole keys only
/// among bounds that share the key's first eight bytes. On input in random
/// order that is what the lookup costs.
#[derive(Debug, Clone)]
pub struct Boundaries {
    /// Leaves cut the key's keyed 64-bit hash, not the key: the bounds are
    /// hashes (big-endian), so they reveal no key (`recon snapshot --hash-keys`).
    hashed: bool,
    bytes: Vec<u8>,
    /// `ends[i]` is where bound `i` ends in `bytes`; bound `i` starts at `ends[i - 1]` (or 0).
    ends: Vec<usize>,
    /// Per bound, [`prefix`] of it, indexed for the lookup.
    prefixes: PrefixIndex,
}

/// The sorted prefixes of the bounds, and a table over their range: bucket
/// `b` holds the prefixes from `base + b << shift` on, and the table says
/// how many prefixes lie below each bucket. A lookup reads one table entry
/// and the few prefixes of its bucket (usually none or one), so keys in
/// random order cost about one cache miss each: a binary search over 4,096
/// prefixes makes 12 dependent reads, and with keys in random order that was
/// most of the hashing pass. Buckets follow the bounds' own spread (the bits
/// they share are skipped), so narrow key ranges spread as well as wide ones;
/// a skewed bucket falls back to a binary search within it.
#[derive(Debug, Clone, Default)]
struct PrefixIndex {
    /// Every prefix, in order.
    all: Vec<u64>,
    /// The smallest prefix.
    base: u64,
    /// Bits of `prefix - base` below the bucket number.
    shift: u32,
    /// `starts[b]`: how many prefixes lie below bucket `b` (one more entry
    /// than buckets; the last is `all.len()`).
    starts: Vec<u32>,
}

/// Buckets per bound, at most [`MAX_BUCKETS`].
const BUCKETS_PER_BOUND: usize = 4;
const MAX_BUCKETS: usize = 1 << 16;

impl PrefixIndex {
    fn new(all: Vec<u64>) -> Self {
        let (Some(&base), Some(&last)) = (all.first(), all.last()) else {
            return PrefixIndex::default();
        };
        let buckets = (all.len() * BUCKETS_PER_BOUND)
            .next_power_of_two()
            .clamp(1, MAX_BUCKETS) as u128;
        let span = u128::from(last - base) + 1;
        // The smallest shift that fits the span into the buckets.
        let mut shift = 0u32;
        while (span >> shift) >= buckets {
            shift += 1;
        }
        let starts = (0..=buckets)
            .map(|b| {
                let from = u128::from(base) + (b << shift);
                all.partition_point(|&v| u128::from(v) < from) as u32
            })
            .collect();
        PrefixIndex {
            all,
            base,
            shift,
            starts,
        }
    }

    fn all(&self) -> &[u64] {
        &self.all
    }

    /// How many prefixes are below `wanted`.
    #[inline]
    fn count_below(&self, wanted: u64) -> usize {
        if wanted <= self.base {
            return 0;
        }
        let last = self.starts.len().saturating_sub(1);
        let bucket = ((wanted - self.base) >> self.shift).min(last as u64) as usize;
        // Past the last bucket: above every prefix.
        let (Some(&from), Some(&to)) = (self.starts.get(bucket), self.starts.get(bucket + 1))
        else {
            return self.all.len();
        };
        let (from, to) = (from as usize, to as usize);
        from + self.all[from..to].partition_point(|&v| v < wanted)
    }
}

/// The first eight bytes of an encoded key, big-endian, zero-padded. For
/// keys `a` and `b`, `prefix(a) < prefix(b)` implies `a < b` (a shorter key
/// padded with zeros is a prefix of the other, hence smaller, or differs in
/// a real byte), so only equal prefixes need the whole keys compared.
#[inline]
fn prefix(key: &[u8]) -> u64 {
    if let Some(eight) = key.first_chunk::<8>() {
        return u64::from_be_bytes(*eight);
    }
    let mut eight = [0u8; 8];
    eight[..key.len()].copy_from_slice(key);
    u64::from_be_bytes(eight)
}

impl Default for Boundaries {
    fn default() -> Self {
        Boundaries::from_sorted(Vec::new())
    }
}

impl Boundaries {
    /// Equal-depth boundaries for about `leaves` leaves, from both samples.
    /// A sample larger than the leaves need is thinned first (every n-th
    /// key, weighing n times as much), so few leaves cost a small sort.
    pub fn from_samples(samples: &[&KeySample], leaves: usize) -> Self {
        let sampled: usize = samples.iter().map(|s| s.keys.len()).sum();
        let every = (sampled / leaves.saturating_mul(MAX_SAMPLES_PER_LEAF).max(1)).max(1);
        // Each key beside its prefix: most comparisons are settled without
        // following the key to the heap.
        let mut keys: Vec<(u64, &[u8], f64)> = samples
            .iter()
            .flat_map(|s| {
                s.keys
                    .iter()
                    .step_by(every)
                    .map(|(k, w)| (prefix(k), k.as_ref(), *w * every as f64))
            })
            .collect();
        if keys.is_empty() || leaves <= 1 {
            return Boundaries::default();
        }
        // A stable sort merges the runs of samples read in key order (one
        // per side and part of a sorted source) instead of sorting them anew.
        keys.par_sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let total: f64 = keys.iter().map(|k| k.2).sum();
        let step = total / leaves as f64;
        let mut bounds: Vec<Box<[u8]>> = Vec::with_capacity(leaves);
        let mut cumulative = 0.0;
        let mut next = step;
        for (_, key, weight) in keys {
            if cumulative >= next {
                if bounds.last().is_none_or(|b| b.as_ref() < key) {
                    bounds.push(key.into());
                }
                while next <= cumulative {
                    next += step;
                }
            }
            cumulative += weight;
        }
        Boundaries::from_sorted(bounds)
    }

    /// Boundaries given directly (sorted, distinct).
    pub fn from_sorted(bounds: Vec<Box<[u8]>>) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        let mut bytes = Vec::with_capacity(bounds.iter().map(|b| b.len()).sum());
        let mut ends = Vec::with_capacity(bounds.len());
        for b in &bounds {
            bytes.extend_from_slice(b);
            ends.push(bytes.len());
        }
        let prefixes = PrefixIndex::new(bounds.iter().map(|b| prefix(b)).collect());
        Boundaries {
            hashed: false,
            bytes,
            ends,
            prefixes,
        }
    }

    /// `leaves` leaves of equal width over the keys' 64-bit hashes (hashes
    /// are uniform, so equal widths hold about equal numbers of rows).
    pub fn even_hashes(leaves: usize) -> Self {
        let leaves = leaves.max(1) as u128;
        let bounds: Vec<u64> = (1..leaves).map(|i| ((i << 64) / leaves) as u64).collect();
        Self::from_hashes(bounds)
    }

    /// Boundaries over key hashes, given as sorted, distinct hash values.
    pub fn from_hashes(bounds: Vec<u64>) -> Self {
        let mut b = Self::from_sorted(bounds.iter().map(|h| h.to_be_bytes().into()).collect());
        b.hashed = true;
        b
    }

    /// Every bound as stored: an encoded key, or a key hash (big-endian).
    pub fn raw_bounds(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.ends.len()).map(|i| self.bound(i))
    }

    /// Boundaries from [`Self::raw_bounds`] and [`Self::is_hashed`].
    pub fn from_raw(hashed: bool, bounds: Vec<Box<[u8]>>) -> Self {
        let mut b = Self::from_sorted(bounds);
        b.hashed = hashed;
        b
    }

    /// The leaves cut key hashes, not keys.
    pub fn is_hashed(&self) -> bool {
        self.hashed
    }

    /// The bounds as hash values (boundaries over key hashes only).
    pub fn hashes(&self) -> Vec<u64> {
        (0..self.ends.len())
            .map(|i| prefix(self.bound(i)))
            .collect()
    }

    #[inline]
    fn bound(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    pub fn leaf_count(&self) -> usize {
        self.ends.len() + 1
    }

    /// The leaf an encoded key falls in: the number of bounds <= key (or
    /// <= its hash, for boundaries over key hashes).
    #[inline]
    pub fn leaf_of(&self, key: &[u8]) -> usize {
        if self.hashed {
            return self.leaf_of_bytes(&canon::key_hash(key).to_be_bytes());
        }
        self.leaf_of_bytes(key)
    }

    #[inline]
    fn leaf_of_bytes(&self, key: &[u8]) -> usize {
        let wanted = prefix(key);
        // Bounds with a smaller prefix are smaller keys; among those with the
        // same prefix (usually none or one), compare whole keys.
        let mut low = self.prefixes.count_below(wanted);
        let mut high = low;
        while self.prefixes.all().get(high) == Some(&wanted) {
            high += 1;
        }
        while low < high {
            let mid = low + (high - low) / 2;
            if compare_keys(self.bound(mid), key) != Ordering::Greater {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    /// Whether `key` (whose [`prefix`] is `wanted`) lies below bound `i`:
    /// the prefixes decide unless they are equal.
    #[inline]
    fn below_bound(&self, key: &[u8], wanted: u64, i: usize) -> bool {
        match wanted.cmp(&self.prefixes.all()[i]) {
            Ordering::Equal => compare_keys(key, self.bound(i)) == Ordering::Less,
            order => order == Ordering::Less,
        }
    }

    /// The leaf of `key`, trying `guess` and the leaf after it first: sorted
    /// input walks the leaves in order, so two comparisons of prefixes
    /// usually settle it.
    #[inline]
    pub fn leaf_near(&self, key: &[u8], guess: usize) -> usize {
        if self.hashed {
            // Hashes have no order to follow.
            return self.leaf_of(key);
        }
        let n = self.ends.len();
        let wanted = prefix(key);
        if guess <= n && (guess == 0 || !self.below_bound(key, wanted, guess - 1)) {
            if guess == n || self.below_bound(key, wanted, guess) {
                return guess;
            }
            // key >= bound(guess): the leaf is guess + 1 if key is below the next bound.
            if guess + 1 == n || self.below_bound(key, wanted, guess + 1) {
                return guess + 1;
            }
        }
        self.leaf_of(key)
    }

    /// The inclusive lower bound of a leaf (`None` for the first leaf).
    pub fn lower(&self, leaf: usize) -> Option<&[u8]> {
        leaf.checked_sub(1)
            .filter(|&i| i < self.ends.len())
            .map(|i| self.bound(i))
    }

    /// The exclusive upper bound of a leaf (`None` for the last leaf).
    pub fn upper(&self, leaf: usize) -> Option<&[u8]> {
        (leaf < self.ends.len()).then(|| self.bound(leaf))
    }

    /// Decodes boundary keys back into key arrays (one row per given bound).
    pub fn decode(converter: &RowConverter, bounds: &[&[u8]]) -> Result<Vec<ArrayRef>> {
        let parser = converter.parser();
        let rows: Vec<_> = bounds.iter().map(|b| parser.parse(b)).collect();
        Ok(converter.convert_rows(rows)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(keys: impl Iterator<Item = u32>) -> KeySample {
        let keys: Vec<(Box<[u8]>, f64)> = keys
            .map(|k| (k.to_be_bytes().to_vec().into_boxed_slice(), 1.0))
            .collect();
        KeySample {
            rows: keys.len() as u64,
            keys,
            positions: Vec::new(),
        }
    }

    #[test]
    fn equal_depth_leaves_on_skewed_keys() {
        // Half the keys are tiny, half are huge: an even domain split would put them in two leaves.
        let s = sample((0..500).chain(1_000_000_000..1_000_000_500));
        let b = Boundaries::from_samples(&[&s], 10);
        assert!((9..=10).contains(&b.leaf_count()), "{}", b.leaf_count());
        let mut counts = vec![0; b.leaf_count()];
        for (k, _) in &s.keys {
            counts[b.leaf_of(k)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (50..=150).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn leaf_near_agrees_with_leaf_of() {
        let s = sample((0..1000).map(|k| k * 3));
        let b = Boundaries::from_samples(&[&s], 40);
        for key in 0..3100u32 {
            let exact = b.leaf_of(&key.to_be_bytes());
            for guess in [
                0,
                exact.saturating_sub(1),
                exact,
                exact + 1,
                b.leaf_count() - 1,
                7,
            ] {
                assert_eq!(
                    b.leaf_near(&key.to_be_bytes(), guess),
                    exact,
                    "{key} {guess}"
                );
            }
        }
    }

    #[test]
    fn every_key_has_a_leaf() {
        let s = sample(10..20);
        let b = Boundaries::from_samples(&[&s], 4);
        assert_eq!(b.leaf_of(&0u32.to_be_bytes()), 0);
        assert_eq!(b.leaf_of(&u32::MAX.to_be_bytes()), b.leaf_count() - 1);
    }

    #[test]
    fn the_prefix_index_counts_like_a_binary_search() {
        // Even spreads of many sizes, a narrow range far from zero, values
        // at both ends of u64, and a skewed set (most in one bucket).
        let mut sets: Vec<Vec<u64>> = [0usize, 1, 15, 16, 17, 255, 256, 4096, 4097, 70_000]
            .iter()
            .map(|&n| (0..n as u64).map(|i| i * 8 + (i % 7)).collect())
            .collect();
        sets.push((0..3000u64).map(|i| (1 << 63) + i * 3).collect());
        sets.push(vec![0, 1, u64::MAX - 1, u64::MAX]);
        let mut skewed: Vec<u64> = (0..2000u64).map(|i| 1_000_000 + i).collect();
        skewed.extend([5, u64::MAX / 2, u64::MAX - 7]);
        skewed.sort_unstable();
        sets.push(skewed);
        for values in sets {
            let index = PrefixIndex::new(values.clone());
            let mut probes: Vec<u64> = vec![0, 1, u64::MAX - 1, u64::MAX];
            for &v in values.iter().step_by(1 + values.len() / 700) {
                probes.extend([v.wrapping_sub(1), v, v.wrapping_add(1)]);
            }
            for wanted in probes {
                let expected = values.partition_point(|&v| v < wanted);
                assert_eq!(
                    index.count_below(wanted),
                    expected,
                    "{} values, key {wanted}",
                    values.len()
                );
            }
        }
    }

    #[test]
    fn hashed_boundaries_spread_keys_evenly_and_agree_with_their_hash() {
        let b = Boundaries::even_hashes(16);
        assert!(b.is_hashed());
        assert_eq!(b.leaf_count(), 16);
        assert_eq!(Boundaries::from_hashes(b.hashes()).hashes(), b.hashes());
        let mut counts = [0u32; 16];
        for k in 0..16_000u32 {
            let key = k.to_be_bytes();
            let leaf = b.leaf_of(&key);
            assert_eq!(leaf, b.leaf_near(&key, 3));
            let h = canon::key_hash(&key);
            assert_eq!(leaf, b.hashes().iter().filter(|&&x| x <= h).count());
            counts[leaf] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    proptest::proptest! {
        /// The prefix shortcut gives the leaf a plain count of the bounds
        /// at or below the key gives, on keys sharing long prefixes, keys
        /// shorter than eight bytes and keys that are prefixes of bounds.
        #[test]
        fn leaf_of_counts_the_bounds_at_or_below_the_key(
            bounds in proptest::collection::btree_set(proptest::collection::vec(0u8..3, 0..12), 0..40),
            keys in proptest::collection::vec(proptest::collection::vec(0u8..3, 0..12), 1..40),
        ) {
            let bounds: Vec<Box<[u8]>> = bounds.into_iter().map(Vec::into_boxed_slice).collect();
            let b = Boundaries::from_sorted(bounds.clone());
            for key in &keys {
                let expected = bounds.iter().filter(|x| x.as_ref() <= key.as_slice()).count();
                proptest::prop_assert_eq!(b.leaf_of(key), expected, "{:?}", key);
            }
        }
    }
}
