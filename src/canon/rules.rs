//! Comparison rules of one column: normalisers that change what a value is
//! (trim, case, significant digits, NULL = ''), applied before hashing, so
//! hashing stays exact; and tolerances, which make values equal that are
//! not identical and so cannot be hashed exactly.
//!
//! A tolerant column is hashed by its *bucket*: the value divided by a width
//! a little under the tolerance, rounded down. Two values in one bucket are
//! closer than the tolerance, so an equal hash always means "equal within the
//! rule" and a row skipped for an equal hash (by a leaf digest, the merged
//! pass or the identical-row set-aside) is never a real difference. Values
//! within the tolerance may still fall in neighbouring buckets: their rows
//! are compared, with the tolerance, in the row phase. Where a bucket cannot
//! be computed safely (a value too large for the division to be exact, a
//! relative tolerance so fine that logarithms blur it), the value is hashed
//! exactly, which is always safe.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int8Array, Int64Array, StringArray,
};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type, TimeUnit};

use super::unit_nanos;

/// How the values of one column compare (the defaults: exactly).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueRule {
    pub trim: bool,
    pub case_insensitive: bool,
    /// Floats rounded to this many significant digits before comparing.
    pub digits: Option<u32>,
    pub tolerance: Option<Tolerance>,
}

/// Values this close are equal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// `|l - r| <= abs + rel * |r|`, as datacompy.
    Numeric { abs: f64, rel: f64 },
    /// Dates and timestamps at most this many nanoseconds apart.
    Nanos(i64),
}

/// How the values of one column are compared.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    /// Numbers: equal when `|l - r| <= abs + rel * |r|`.
    pub abs: Option<f64>,
    pub rel: Option<f64>,
    /// Timestamps: equal when at most this far apart (`"1ms"`, `"2s"`).
    pub time: Option<Duration>,
    /// Text: leading and trailing white space does not count.
    pub trim: Option<bool>,
    /// Text: letter case does not count.
    pub case_insensitive: Option<bool>,
    /// Text: NULL and the empty string are equal.
    pub null_equals_empty: Option<bool>,
    /// Floats: compared at this many significant digits.
    pub digits: Option<u32>,
}

impl ColumnRule {
    /// The fields set here, over those of `base`.
    pub fn over(&self, base: &ColumnRule) -> ColumnRule {
        ColumnRule {
            abs: self.abs.or(base.abs),
            rel: self.rel.or(base.rel),
            time: self.time.or(base.time),
            trim: self.trim.or(base.trim),
            case_insensitive: self.case_insensitive.or(base.case_insensitive),
            null_equals_empty: self.null_equals_empty.or(base.null_equals_empty),
            digits: self.digits.or(base.digits),
        }
    }
}

/// Kinds of columns a default rule applies to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TypeClass {
    Int,
    Float,
    Decimal,
    Text,
    Timestamp,
    Date,
}

/// A time tolerance, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    pub nanos: i64,
}

impl Duration {
    /// Parses `"500us"`, `"1ms"`, `"2s"`, `"5m"`, `"1h"`, `"1d"`.
    pub fn parse(text: &str) -> std::result::Result<Duration, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let per_unit: i64 = match unit.trim() {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => {
                return Err(format!(
                    "{text:?}: expected a duration like \"1ms\", \"2s\" or \"5m\" (units ns, us, ms, s, m, h, d)"
                ));
            }
        };
        let count: i64 = digits.parse().map_err(|_| {
            format!("{text:?}: expected a whole number before the unit, like \"2s\"")
        })?;
        count
            .checked_mul(per_unit)
            .map(|nanos| Duration { nanos })
            .ok_or_else(|| format!("{text:?}: too long"))
    }

    /// As a wait (a negative duration waits not at all).
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanos.max(0) as u64)
    }
}

/// As the text [`Duration::parse`] reads back: `"1500ns"`.
impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ns", self.nanos))
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Bucket widths are this much under the tolerance, so that rounding in the
/// division cannot put two values further apart than the tolerance into one
/// bucket.
const MARGIN: f64 = 1e-6;

/// Quotients at most this large are exact enough (their rounding error is far
/// below `MARGIN`) to be bucketed.
const MAX_BUCKET: f64 = (1u64 << 31) as f64;

/// Text normalisers, on a text array (any string layout); other arrays pass.
pub fn normalize_text(array: &ArrayRef, rule: &ValueRule) -> arrow::error::Result<ArrayRef> {
    if !(rule.trim || rule.case_insensitive) {
        return Ok(Arc::clone(array));
    }
    let text = match array.data_type() {
        DataType::Utf8 => Arc::clone(array),
        DataType::LargeUtf8 | DataType::Utf8View => arrow::compute::cast(array, &DataType::Utf8)?,
        DataType::Dictionary(_, v)
            if matches!(
                **v,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            arrow::compute::cast(array, &DataType::Utf8)?
        }
        _ => return Ok(Arc::clone(array)),
    };
    let out: StringArray = text
        .as_string::<i32>()
        .iter()
        .map(|v| {
            v.map(|s| {
                let s = if rule.trim { s.trim() } else { s };
                if rule.case_insensitive {
                    s.to_lowercase()
                } else {
                    s.to_string()
                }
            })
        })
        .collect();
    Ok(Arc::new(out))
}

/// Floats at `digits` significant digits (decimal rounding, as printed).
pub fn round_digits(array: &ArrayRef, digits: u32) -> ArrayRef {
    match array.data_type() {
        DataType::Float64 => {
            let rounded: Float64Array = array.as_primitive::<Float64Type>().unary(|x| {
                if x.is_finite() && x != 0.0 {
                    format!("{:.*e}", digits.saturating_sub(1) as usize, x)
                        .parse()
                        .unwrap_or(x)
                        + 0.0
                } else {
                    x
                }
            });
            Arc::new(rounded)
        }
        _ => Arc::clone(array),
    }
}

/// The arrays a tolerant column is hashed as: a kind per value (0 bucketed,
/// 1 exact) and the bucket or the exact value. Untolerant columns pass.
pub fn hash_form(canonical: &[ArrayRef], rule: &ValueRule) -> Vec<ArrayRef> {
    let Some(tolerance) = rule.tolerance else {
        return canonical.to_vec();
    };
    let Some(first) = canonical.first() else {
        return Vec::new();
    };
    let (kind, value) = match (tolerance, first.data_type()) {
        (Tolerance::Numeric { abs, rel }, DataType::Float64) => float_buckets(first, abs, rel),
        (Tolerance::Numeric { abs, .. }, DataType::Int64) => {
            int_buckets(first, (abs * (1.0 - MARGIN)).floor())
        }
        (Tolerance::Numeric { abs, .. }, DataType::Decimal128(_, scale)) => {
            decimal_buckets(first, abs * 10f64.powi(i32::from(*scale)) * (1.0 - MARGIN))
        }
        (Tolerance::Nanos(nanos), DataType::Timestamp(unit, _)) => {
            let per_unit = unit_nanos(*unit) as f64;
            int_buckets(first, (nanos as f64 / per_unit * (1.0 - MARGIN)).floor())
        }
        (Tolerance::Nanos(nanos), DataType::Decimal128(..)) => {
            decimal_buckets(first, nanos as f64 * (1.0 - MARGIN))
        }
        // Anything else is hashed exactly (always safe).
        _ => return canonical.to_vec(),
    };
    let mut out = vec![kind, value];
    out.extend(canonical[1..].iter().cloned());
    out
}

fn float_buckets(array: &ArrayRef, abs: f64, rel: f64) -> (ArrayRef, ArrayRef) {
    let values = array.as_primitive::<Float64Type>();
    let width = abs * (1.0 - MARGIN);
    // A relative tolerance alone: buckets of log |x|, when the tolerance is
    // coarse enough for logarithms to resolve it.
    let log_width = (abs == 0.0 && rel >= 1e-4).then(|| (1.0 + rel).ln() * (1.0 - MARGIN));
    let mut kinds = Vec::with_capacity(values.len());
    let bucketed: Float64Array = values
        .iter()
        .map(|v| {
            let Some(x) = v else {
                kinds.push(0i8);
                return None;
            };
            let bucket = if width > 0.0 {
                let q = (x / width).floor();
                (q.abs() < MAX_BUCKET).then_some(q)
            } else if let Some(w) = log_width {
                if x == 0.0 || !x.is_finite() {
                    None
                } else {
                    let q = (x.abs().ln() / w).floor();
                    // The sign is part of the bucket: -q-0.5 never equals a whole q.
                    (q.abs() < MAX_BUCKET).then_some(if x < 0.0 { -q - 0.5 } else { q })
                }
            } else {
                None
            };
            match bucket {
                Some(q) => {
                    kinds.push(0);
                    Some(q + 0.0)
                }
                None => {
                    kinds.push(1);
                    Some(x)
                }
            }
        })
        .collect();
    (Arc::new(Int8Array::from(kinds)), Arc::new(bucketed))
}

fn int_buckets(array: &ArrayRef, width: f64) -> (ArrayRef, ArrayRef) {
    let values: Int64Array = match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().clone(),
        _ => match arrow::compute::cast(array, &DataType::Int64) {
            Ok(a) => a.as_primitive::<Int64Type>().clone(),
            Err(_) => return exact(array),
        },
    };
    if !(1.0..=i64::MAX as f64).contains(&width) {
        return exact(array);
    }
    let width = width as i64;
    let kinds = Int8Array::from(vec![0i8; values.len()]);
    let buckets: Int64Array = values.unary(|v| v.div_euclid(width));
    (Arc::new(kinds), Arc::new(buckets))
}

fn decimal_buckets(array: &ArrayRef, width: f64) -> (ArrayRef, ArrayRef) {
    if !(1.0..=1e30).contains(&width) {
        return exact(array);
    }
    let width = width.floor() as i128;
    let values = array.as_primitive::<Decimal128Type>();
    let kinds = Int8Array::from(vec![0i8; values.len()]);
    let buckets: Decimal128Array = values.unary(|v| v.div_euclid(width));
    (Arc::new(kinds), Arc::new(buckets))
}

/// Every value hashed as itself.
fn exact(array: &ArrayRef) -> (ArrayRef, ArrayRef) {
    (
        Arc::new(Int8Array::from(vec![1i8; array.len()])),
        Arc::clone(array),
    )
}

/// Row `l` of `left` and row `r` of `right` (canonical arrays of a tolerant
/// column) are equal within the tolerance. NULL equals only NULL; NaN
/// equals NaN; infinities equal only themselves.
pub fn within(
    left: &[ArrayRef],
    l: usize,
    right: &[ArrayRef],
    r: usize,
    tolerance: Tolerance,
) -> bool {
    let (Some(a), Some(b)) = (left.first(), right.first()) else {
        return false;
    };
    // A text fallback (values that did not parse) must match exactly.
    for (x, y) in left.iter().zip(right).skip(1) {
        if !same_value(x, l, y, r) {
            return false;
        }
    }
    match (a.is_null(l), b.is_null(r)) {
        (true, true) => return true,
        (true, false) | (false, true) => return false,
        _ => {}
    }
    match (tolerance, a.data_type()) {
        (Tolerance::Numeric { abs, rel }, DataType::Float64) => {
            let (x, y) = (
                a.as_primitive::<Float64Type>().value(l),
                b.as_primitive::<Float64Type>().value(r),
            );
            if x.is_nan() || y.is_nan() {
                return x.is_nan() && y.is_nan();
            }
            if x.is_infinite() || y.is_infinite() {
                return x == y;
            }
            (x - y).abs() <= abs + rel * y.abs()
        }
        (Tolerance::Numeric { abs, rel }, DataType::Int64) => {
            let (x, y) = (
                a.as_primitive::<Int64Type>().value(l),
                b.as_primitive::<Int64Type>().value(r),
            );
            ((x as i128 - y as i128).abs() as f64) <= abs + rel * (y as f64).abs()
        }
        (Tolerance::Numeric { abs, rel }, DataType::Decimal128(_, scale)) => {
            let (x, y) = (
                a.as_primitive::<Decimal128Type>().value(l),
                b.as_primitive::<Decimal128Type>().value(r),
            );
            let Some(diff) = x.checked_sub(y) else {
                return false;
            };
            let unit = 10f64.powi(i32::from(*scale));
            (diff.unsigned_abs() as f64) <= (abs + rel * (y as f64 / unit).abs()) * unit
        }
        (Tolerance::Nanos(nanos), DataType::Timestamp(unit, _)) => {
            let per_unit = unit_nanos(*unit) as i128;
            match (timestamp_value(a, l), timestamp_value(b, r)) {
                (Some(x), Some(y)) => ((x as i128 - y as i128) * per_unit).abs() <= nanos as i128,
                _ => false,
            }
        }
        (Tolerance::Nanos(nanos), DataType::Decimal128(..)) => {
            let (x, y) = (
                a.as_primitive::<Decimal128Type>().value(l),
                b.as_primitive::<Decimal128Type>().value(r),
            );
            x.checked_sub(y)
                .is_some_and(|d| d.unsigned_abs() <= nanos as u128)
        }
        _ => same_value(a, l, b, r),
    }
}

/// The stored integer of a timestamp value.
fn timestamp_value(array: &ArrayRef, i: usize) -> Option<i64> {
    use arrow::datatypes::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    Some(match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            array.as_primitive::<TimestampSecondType>().value(i)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            array.as_primitive::<TimestampMillisecondType>().value(i)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            array.as_primitive::<TimestampMicrosecondType>().value(i)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            array.as_primitive::<TimestampNanosecondType>().value(i)
        }
        _ => return None,
    })
}

/// Exact equality of one value each (through their row encoding).
fn same_value(a: &ArrayRef, l: usize, b: &ArrayRef, r: usize) -> bool {
    let field = arrow::row::SortField::new(a.data_type().clone());
    let Ok(converter) = arrow::row::RowConverter::new(vec![field]) else {
        return false;
    };
    match (
        converter.convert_columns(&[a.slice(l, 1)]),
        converter.convert_columns(&[b.slice(r, 1)]),
    ) {
        (Ok(x), Ok(y)) => x.row(0) == y.row(0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Float64Array, Int64Array, TimestampMillisecondArray};
    use proptest::prelude::*;

    /// The safety property of hashing by bucket: two values with the same
    /// hash form are within the tolerance (else a real difference could be
    /// skipped). Checked for every type a tolerance applies to.
    fn same_form_means_within(
        l: ArrayRef,
        r: ArrayRef,
        t: Tolerance,
    ) -> std::result::Result<(), TestCaseError> {
        let rule = ValueRule {
            tolerance: Some(t),
            ..ValueRule::default()
        };
        let (lf, rf) = (
            hash_form(std::slice::from_ref(&l), &rule),
            hash_form(std::slice::from_ref(&r), &rule),
        );
        let converter = arrow::row::RowConverter::new(
            lf.iter()
                .map(|a| arrow::row::SortField::new(a.data_type().clone()))
                .collect(),
        )
        .unwrap();
        let (le, re) = (
            converter.convert_columns(&lf).unwrap(),
            converter.convert_columns(&rf).unwrap(),
        );
        for i in 0..l.len() {
            if le.row(i) == re.row(i) {
                prop_assert!(
                    within(std::slice::from_ref(&l), i, std::slice::from_ref(&r), i, t),
                    "row {i}: {:?} {:?} {t:?}",
                    l.slice(i, 1),
                    r.slice(i, 1)
                );
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn equal_buckets_are_within_the_tolerance(
            base in prop::collection::vec(-1_000_000i64..1_000_000, 1..50),
            deltas in prop::collection::vec(-300i64..300, 50),
            abs in prop_oneof![Just(0.5), Just(1.0), Just(7.0), Just(99.99), Just(1e-3)],
            rel in prop_oneof![Just(0.0), Just(1e-3), Just(0.1)],
            nanos in prop_oneof![Just(1_000_000i64), Just(2_500_000), Just(999_999), Just(60_000_000_000)],
        ) {
            let right: Vec<i64> = base.iter().zip(&deltas).map(|(b, d)| b + d).collect();
            // Integers.
            let (l, r): (ArrayRef, ArrayRef) = (Arc::new(Int64Array::from(base.clone())), Arc::new(Int64Array::from(right.clone())));
            same_form_means_within(l, r, Tolerance::Numeric { abs, rel })?;
            // Decimals with 2 places: the same integers are cents.
            let dec = |v: &[i64]| -> ArrayRef {
                Arc::new(Decimal128Array::from(v.iter().map(|&x| i128::from(x)).collect::<Vec<_>>()).with_precision_and_scale(38, 2).unwrap())
            };
            same_form_means_within(dec(&base), dec(&right), Tolerance::Numeric { abs, rel })?;
            // Floats: the integers scaled down.
            let float = |v: &[i64]| -> ArrayRef { Arc::new(Float64Array::from(v.iter().map(|&x| x as f64 / 64.0).collect::<Vec<_>>())) };
            same_form_means_within(float(&base), float(&right), Tolerance::Numeric { abs, rel })?;
            // Timestamps in milliseconds, within a time.
            let ts = |v: &[i64]| -> ArrayRef { Arc::new(TimestampMillisecondArray::from(v.to_vec())) };
            same_form_means_within(ts(&base), ts(&right), Tolerance::Nanos(nanos))?;
        }
    }
}
