//! Equality by storage: two cells of one Arrow type stored alike are equal
//! under every value rule, since a cell's canonical form depends on its
//! stored value alone. The merged pass dismisses row pairs stored alike
//! with block compares (`memcmp` over runs of aligned rows) instead of
//! hashing every row; a pair stored differently is not necessarily
//! different (`-0` against `0`, a tolerance, case) and goes to the row
//! comparison, which applies the rules.

use arrow::array::{
    Array, ArrayData, ArrayRef, AsArray, BooleanArray, GenericByteArray, OffsetSizeTrait,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{ArrowNativeType, ByteArrayType, DataType};

use crate::error::{Error, Result};

/// Whether cells of this type can be compared by their storage here: fixed
/// widths, booleans and byte strings (not dictionaries, whose codes mean
/// nothing across arrays, nor nested types).
pub fn comparable_by_storage(t: &DataType) -> bool {
    use DataType::*;
    (t.is_primitive() && !matches!(t, Dictionary(..)))
        || matches!(
            t,
            Boolean
                | Utf8
                | LargeUtf8
                | Utf8View
                | Binary
                | LargeBinary
                | BinaryView
                | FixedSizeBinary(_)
        )
}

/// A run of aligned row pairs: pair `first + t` (its place in the caller's
/// `same`) is rows `left + t` and `right + t`, for `t` in `0..len`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    pub first: usize,
    pub left: usize,
    pub right: usize,
    pub len: usize,
}

/// Rows compared as one block first: a stretch of a table and its copy
/// costs one compare per column, not one per row or per small block.
const WIDE_BLOCK: usize = 1024;

/// Rows per block once a wide block differs: a changed row costs a block of
/// cell compares.
const BLOCK: usize = 32;

/// Clears `same[run.first + t]` for every pair of every run whose cells
/// `left[run.left + t]` and `right[run.right + t]` are stored differently (a
/// NULL matches only a NULL). The arrays have one type, for which
/// [`comparable_by_storage`] holds.
pub fn clear_unlike(
    left: &ArrayRef,
    right: &ArrayRef,
    runs: &[Run],
    same: &mut [bool],
) -> Result<()> {
    if left.data_type() != right.data_type() {
        return Err(Error::Internal(format!(
            "storage compare of {} against {}",
            left.data_type(),
            right.data_type()
        )));
    }
    let nulls = [left.logical_nulls(), right.logical_nulls()];
    let compare = Compare {
        runs,
        nulls: [nulls[0].as_ref(), nulls[1].as_ref()],
    };
    let t = left.data_type();
    if t.is_primitive() || matches!(t, DataType::FixedSizeBinary(_)) {
        let width = match t {
            DataType::FixedSizeBinary(w) => *w as usize,
            _ => t.primitive_width().unwrap_or(0),
        };
        let (left_data, right_data) = (left.to_data(), right.to_data());
        let (l, r) = (
            fixed_bytes(&left_data, width),
            fixed_bytes(&right_data, width),
        );
        match width {
            1 => compare.mark(&Fixed::<1>(l), &Fixed::<1>(r), same),
            2 => compare.mark(&Fixed::<2>(l), &Fixed::<2>(r), same),
            4 => compare.mark(&Fixed::<4>(l), &Fixed::<4>(r), same),
            8 => compare.mark(&Fixed::<8>(l), &Fixed::<8>(r), same),
            16 => compare.mark(&Fixed::<16>(l), &Fixed::<16>(r), same),
            w => compare.mark(&Wide(l, w), &Wide(r, w), same),
        }
    } else {
        match t {
            DataType::Boolean => compare.mark(left.as_boolean(), right.as_boolean(), same),
            DataType::Utf8 => compare.mark(left.as_string::<i32>(), right.as_string::<i32>(), same),
            DataType::LargeUtf8 => {
                compare.mark(left.as_string::<i64>(), right.as_string::<i64>(), same)
            }
            DataType::Binary => {
                compare.mark(left.as_binary::<i32>(), right.as_binary::<i32>(), same)
            }
            DataType::LargeBinary => {
                compare.mark(left.as_binary::<i64>(), right.as_binary::<i64>(), same)
            }
            DataType::Utf8View | DataType::BinaryView => {
                compare.mark(&Views::of_array(left), &Views::of_array(right), same)
            }
            other => {
                return Err(Error::Internal(format!("no storage compare for {other}")));
            }
        }
    }
    Ok(())
}

/// Cells of one array, compared with another's of the same type by value
/// storage only (validity is handled apart).
trait Cells {
    /// True when cells `a..a + n` are stored as `other`'s `b..b + n`; false
    /// when unknown (the cells are then compared one by one).
    fn block_alike(&self, other: &Self, a: usize, b: usize, n: usize) -> bool;
    fn cell_alike(&self, other: &Self, a: usize, b: usize) -> bool;
}

/// One column's compare: the runs and both sides' NULLs.
struct Compare<'a> {
    runs: &'a [Run],
    nulls: [Option<&'a NullBuffer>; 2],
}

impl Compare<'_> {
    /// Clears `same` for the pairs stored differently: a wide block whose
    /// values and validity are alike is settled at once, else its blocks
    /// are, else their cells one by one.
    fn mark<C: Cells + ?Sized>(&self, left: &C, right: &C, same: &mut [bool]) {
        for run in self.runs {
            let mut done = 0;
            while done < run.len {
                let wide = self.block(run, done, WIDE_BLOCK);
                if !self.alike(left, right, &wide) {
                    for start in (0..wide.len).step_by(BLOCK) {
                        let block = self.block(&wide, start, BLOCK);
                        if !self.alike(left, right, &block) {
                            self.mark_cells(left, right, &block, same);
                        }
                    }
                }
                done += wide.len;
            }
        }
    }

    /// The part of `run` from its pair `from`, at most `most` pairs long.
    fn block(&self, run: &Run, from: usize, most: usize) -> Run {
        Run {
            first: run.first + from,
            left: run.left + from,
            right: run.right + from,
            len: most.min(run.len - from),
        }
    }

    /// True when a block of four pairs or more is stored alike as a whole.
    fn alike<C: Cells + ?Sized>(&self, left: &C, right: &C, block: &Run) -> bool {
        block.len >= 4
            && self.validity_alike(block)
            && left.block_alike(right, block.left, block.right, block.len)
    }

    fn mark_cells<C: Cells + ?Sized>(&self, left: &C, right: &C, block: &Run, same: &mut [bool]) {
        let valid = |side: usize, i: usize| self.nulls[side].is_none_or(|n| n.is_valid(i));
        for t in 0..block.len {
            let (a, b) = (block.left + t, block.right + t);
            let alike = match (valid(0, a), valid(1, b)) {
                (true, true) => left.cell_alike(right, a, b),
                (false, false) => true,
                _ => false,
            };
            same[block.first + t] &= alike;
        }
    }

    /// True when the block's cells are NULL at the same places on both
    /// sides: then values stored alike (NULL slots included) make every
    /// pair alike.
    fn validity_alike(&self, block: &Run) -> bool {
        if self.nulls[0].is_none() && self.nulls[1].is_none() {
            return true;
        }
        let valid_bits = |side: usize, start: usize, len: usize| match self.nulls[side] {
            Some(nulls) => bits(nulls, start, len),
            None => u64::MAX >> (64 - len),
        };
        (0..block.len).step_by(64).all(|t| {
            let len = 64.min(block.len - t);
            valid_bits(0, block.left + t, len) == valid_bits(1, block.right + t, len)
        })
    }
}

/// `len` (at most 64) validity bits of `nulls` from `start`, as the low
/// bits of a word.
fn bits(nulls: &NullBuffer, start: usize, len: usize) -> u64 {
    let buffer = nulls.inner();
    let bit = buffer.offset() + start;
    let bytes = buffer.values();
    let first = bit / 8;
    let last = (first + 9).min(bytes.len());
    let mut word = [0u8; 16];
    word[..last - first].copy_from_slice(&bytes[first..last]);
    let shifted = (u128::from_le_bytes(word) >> (bit % 8)) as u64;
    shifted & (u64::MAX >> (64 - len))
}

/// The value bytes of a fixed-width array (primitive or fixed-size
/// binary), from its offset.
pub(crate) fn fixed_bytes(data: &ArrayData, width: usize) -> &[u8] {
    let start = data.offset() * width;
    &data.buffers()[0].as_slice()[start..start + data.len() * width]
}

struct Fixed<'a, const W: usize>(&'a [u8]);

impl<const W: usize> Cells for Fixed<'_, W> {
    fn block_alike(&self, other: &Self, a: usize, b: usize, n: usize) -> bool {
        self.0[a * W..(a + n) * W] == other.0[b * W..(b + n) * W]
    }
    fn cell_alike(&self, other: &Self, a: usize, b: usize) -> bool {
        let cell = |bytes: &[u8], i: usize| -> [u8; W] {
            let mut out = [0u8; W];
            out.copy_from_slice(&bytes[i * W..(i + 1) * W]);
            out
        };
        cell(self.0, a) == cell(other.0, b)
    }
}

struct Wide<'a>(&'a [u8], usize);

impl Cells for Wide<'_> {
    fn block_alike(&self, other: &Self, a: usize, b: usize, n: usize) -> bool {
        let w = self.1;
        self.0[a * w..(a + n) * w] == other.0[b * w..(b + n) * w]
    }
    fn cell_alike(&self, other: &Self, a: usize, b: usize) -> bool {
        let w = self.1;
        self.0[a * w..(a + 1) * w] == other.0[b * w..(b + 1) * w]
    }
}

impl Cells for BooleanArray {
    fn block_alike(&self, other: &Self, a: usize, b: usize, n: usize) -> bool {
        let (l, r) = (self.values(), other.values());
        (0..n).all(|t| l.value(a + t) == r.value(b + t))
    }
    fn cell_alike(&self, other: &Self, a: usize, b: usize) -> bool {
        self.values().value(a) == other.values().value(b)
    }
}

impl<T: ByteArrayType> Cells for GenericByteArray<T>
where
    T::Offset: OffsetSizeTrait,
{
    fn block_alike(&self, other: &Self, a: usize, b: usize, n: usize) -> bool {
        let (lo, ro) = (self.value_offsets(), other.value_offsets());
        let (l0, r0) = (lo[a], ro[b]);
        let lengths_alike = lo[a..=a + n]
            .iter()
            .zip(&ro[b..=b + n])
            .all(|(&l, &r)| l - l0 == r - r0);
        lengths_alike
            && self.value_data()[l0.as_usize()..lo[a + n].as_usize()]
                == other.value_data()[r0.as_usize()..ro[b + n].as_usize()]
    }
    fn cell_alike(&self, other: &Self, a: usize, b: usize) -> bool {
        fn bytes<T: ByteArrayType>(array: &GenericByteArray<T>, i: usize) -> &[u8] {
            let o = array.value_offsets();
            &array.value_data()[o[i].as_usize()..o[i + 1].as_usize()]
        }
        bytes(self, a) == bytes(other, b)
    }
}

/// A view array's 16-byte views and the bytes they point into: a view of at
/// most 12 bytes holds the value itself.
struct Views<'a> {
    views: &'a [u128],
    buffers: &'a [arrow::buffer::Buffer],
}

impl<'a> Views<'a> {
    fn of_array(array: &'a ArrayRef) -> Self {
        match array.data_type() {
            DataType::Utf8View => Views::of(array.as_string_view()),
            _ => Views::of(array.as_binary_view()),
        }
    }

    fn of<T: arrow::datatypes::ByteViewType + ?Sized>(
        array: &'a arrow::array::GenericByteViewArray<T>,
    ) -> Self {
        Views {
            views: array.views(),
            buffers: array.data_buffers(),
        }
    }

    /// The bytes of a value longer than 12 bytes (held in a data buffer).
    fn long_bytes(&self, i: usize) -> &[u8] {
        let view = self.views[i];
        let len = view as u32 as usize;
        let buffer = (view >> 64) as u32 as usize;
        let offset = (view >> 96) as u32 as usize;
        &self.buffers[buffer][offset..offset + len]
    }
}

impl Cells for Views<'_> {
    fn block_alike(&self, other: &Self, a: usize, b: usize, n: usize) -> bool {
        let (l, r) = (&self.views[a..a + n], &other.views[b..b + n]);
        l == r && l.iter().all(|&v| v as u32 <= 12)
    }
    fn cell_alike(&self, other: &Self, a: usize, b: usize) -> bool {
        let (l, r) = (self.views[a], other.views[b]);
        let len = l as u32;
        if len != r as u32 {
            return false;
        }
        if len <= 12 {
            // Inline values: equal views are equal values (padding that is
            // not zeroed only sends an equal pair to the row comparison).
            return l == r;
        }
        // Long values: the 4-byte prefixes first, then the bytes.
        (l >> 32) as u32 == (r >> 32) as u32 && self.long_bytes(a) == other.long_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        BinaryViewArray, BooleanArray, Decimal128Array, FixedSizeBinaryArray, Float64Array,
        Int32Array, LargeStringArray, StringArray, StringViewArray, make_array,
    };
    use proptest::prelude::*;

    use super::*;

    /// Arrow's own equality of two one-cell slices: by storage, NULLs alike.
    fn oracle(left: &ArrayRef, right: &ArrayRef, pairs: &[(u32, u32)]) -> Vec<bool> {
        pairs
            .iter()
            .map(|&(a, b)| {
                left.slice(a as usize, 1).to_data() == right.slice(b as usize, 1).to_data()
            })
            .collect()
    }

    /// Cuts `pairs` into the longest runs of aligned rows.
    fn runs(pairs: &[(u32, u32)]) -> Vec<Run> {
        let mut out: Vec<Run> = Vec::new();
        for (k, &(a, b)) in pairs.iter().enumerate() {
            match out.last_mut() {
                Some(run)
                    if (run.left + run.len, run.right + run.len) == (a as usize, b as usize) =>
                {
                    run.len += 1
                }
                _ => out.push(Run {
                    first: k,
                    left: a as usize,
                    right: b as usize,
                    len: 1,
                }),
            }
        }
        out
    }

    fn compare(left: &ArrayRef, right: &ArrayRef, pairs: &[(u32, u32)]) -> Result<Vec<bool>> {
        let mut same = vec![true; pairs.len()];
        clear_unlike(left, right, &runs(pairs), &mut same)?;
        Ok(same)
    }

    fn check(left: &ArrayRef, right: &ArrayRef, pairs: &[(u32, u32)]) {
        let same = compare(left, right, pairs).unwrap();
        assert_eq!(
            same,
            oracle(left, right, pairs),
            "{left:?} {right:?} {pairs:?}"
        );
    }

    /// Cells drawn from few values (so that pairs are often alike), a third
    /// of them NULL when `nulls`.
    fn cells(len: usize, nulls: bool) -> impl Strategy<Value = Vec<Option<u8>>> {
        prop::collection::vec(
            (0u8..4, 0u8..3).prop_map(move |(v, n)| (!nulls || n > 0).then_some(v)),
            len,
        )
    }

    fn text(v: u8) -> String {
        // Short and long (over 12 bytes, out of line in views) values.
        match v {
            0 => String::new(),
            1 => "a".into(),
            2 => "a long value, out of line".into(),
            _ => "a long value, out of lime".into(),
        }
    }

    fn arrays(kind: u8, cells: &[Option<u8>]) -> ArrayRef {
        let texts = || cells.iter().map(|c| c.map(text)).collect::<Vec<_>>();
        match kind {
            0 => Arc::new(Int32Array::from_iter(
                cells.iter().map(|c| c.map(i32::from)),
            )),
            1 => Arc::new(Float64Array::from_iter(
                cells
                    .iter()
                    .map(|c| c.map(|v| if v == 3 { -0.0 } else { f64::from(v) })),
            )),
            2 => Arc::new(
                Decimal128Array::from_iter(cells.iter().map(|c| c.map(i128::from)))
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            3 => Arc::new(StringArray::from(texts())),
            4 => Arc::new(LargeStringArray::from(texts())),
            5 => Arc::new(StringViewArray::from(texts())),
            6 => Arc::new(BinaryViewArray::from_iter(
                texts().iter().map(|t| t.as_ref().map(|s| s.as_bytes())),
            )),
            7 => Arc::new(BooleanArray::from_iter(
                cells.iter().map(|c| c.map(|v| v % 2 == 0)),
            )),
            _ => Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    cells.iter().map(|c| c.map(|v| [v, 7, v])),
                    3,
                )
                .unwrap(),
            ),
        }
    }

    proptest! {
        /// Every storage type, sliced arrays, aligned runs and scattered
        /// pairs, NULLs: the same answer as Arrow's equality.
        #[test]
        fn storage_compare_agrees_with_arrow_equality(
            kind in 0u8..9,
            nulls in any::<bool>(),
            (left, right) in prop_oneof![Just(150usize), Just(2600usize)]
                .prop_flat_map(|len| (cells(len, true), cells(len, true))),
            offsets in (0usize..20, 0usize..20),
            shift in 0u32..3,
            rare in any::<bool>(),
            scattered in prop::collection::vec((0u32..100, 0u32..100), 0..40),
        ) {
            let strip = |c: &Vec<Option<u8>>| -> Vec<Option<u8>> {
                if nulls { c.clone() } else { c.iter().map(|v| v.or(Some(1))).collect() }
            };
            // Mostly equal sides, as a table and its copy.
            let mut right = strip(&right);
            let left = strip(&left);
            // Every 7th row differs, or (long runs of alike blocks) every 997th.
            let period = if rare { 997 } else { 7 };
            for (i, cell) in right.iter_mut().enumerate() {
                if i % period != 0 {
                    *cell = left.get(i + shift as usize).copied().flatten().or(*cell);
                }
            }
            let len = left.len() - 30;
            let l = arrays(kind, &left).slice(offsets.0, len);
            let r = arrays(kind, &right).slice(offsets.1, len);
            let aligned = len as u32 - 20;
            let mut pairs: Vec<(u32, u32)> = (0..aligned).map(|i| (i + shift, i)).collect();
            pairs.extend(scattered);
            check(&l, &r, &pairs);
        }
    }

    #[test]
    fn null_slots_holding_other_values_are_alike() {
        // Same validity, different values under the NULLs.
        let data = |values: Vec<i32>| {
            Int32Array::new(
                values.into(),
                Some(NullBuffer::from(vec![true, false, true])),
            )
        };
        let (l, r): (ArrayRef, ArrayRef) =
            (Arc::new(data(vec![1, 5, 3])), Arc::new(data(vec![1, 9, 4])));
        let pairs = [(0, 0), (1, 1), (2, 2)];
        assert_eq!(compare(&l, &r, &pairs).unwrap(), vec![true, true, false]);
        // Different types are refused, not guessed.
        let other = make_array(StringArray::from(vec!["1"]).into_data());
        assert!(compare(&l, &other, &[(0, 0)]).is_err());
    }
}
