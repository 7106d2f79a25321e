//! Canonical values: how a column of one side and its counterpart on the
//! other side are brought to one Arrow type, so that equal values (by the
//! default semantics in DESIGN.md) have equal bytes in Arrow's row format, and
//! unequal values never do. Row hashes and row comparisons are both computed
//! from these bytes, so the Merkle pass and the row diff can never disagree.
//!
//! Arrow's row format is a prefix-free, order-preserving encoding with a null
//! sentinel per value and terminated variable-length values, so
//! `("1|", "2")` and `("1", "|2")` cannot collide, and NULL differs from "".

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use arrow::compute::{CastOptions, cast_with_options, is_not_null, is_null};
use arrow::datatypes::{DataType, Float32Type, Float64Type, TimeUnit};
use arrow::row::{RowConverter, Rows, SortField};

use crate::error::{Error, Result, Side, one_line};

/// How one side's column becomes canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Conversion {
    /// Cast (exact, erroring on overflow) to the canonical type.
    Cast,
    /// The side holds text and the other side a typed value: parse the text;
    /// text that does not parse is kept verbatim in a second canonical column,
    /// so it can only ever equal the same unparsable text.
    ParseText,
    /// The side is typed and the other side holds text: cast, and emit an
    /// all-null second canonical column.
    CastWithEmptyText,
}

/// A compared column: its names and types on both sides, and its canonical form.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    pub left_name: String,
    pub right_name: String,
    pub left_type: DataType,
    pub right_type: DataType,
    /// The single Arrow type both sides are compared as.
    pub canonical: DataType,
    /// Empty strings compare as NULL (one side is a format that cannot tell them apart).
    pub empty_is_null: bool,
    left: Conversion,
    right: Conversion,
}

impl ColumnPlan {
    /// Plans how `left_type` and `right_type` are compared, or says why they cannot be.
    pub fn new(
        left_name: &str,
        right_name: &str,
        left_type: &DataType,
        right_type: &DataType,
    ) -> std::result::Result<Self, String> {
        let (canonical, left, right) = unify(left_type, right_type)?;
        Ok(ColumnPlan {
            left_name: left_name.to_string(),
            right_name: right_name.to_string(),
            left_type: left_type.clone(),
            right_type: right_type.clone(),
            canonical,
            empty_is_null: false,
            left,
            right,
        })
    }

    /// The name shown in reports (the left name, or `left→right` when mapped).
    pub fn display_name(&self) -> String {
        if self.left_name == self.right_name {
            self.left_name.clone()
        } else {
            format!("{}→{}", self.left_name, self.right_name)
        }
    }

    pub fn name(&self, side: Side) -> &str {
        match side {
            Side::Left => &self.left_name,
            Side::Right => &self.right_name,
        }
    }

    pub fn source_type(&self, side: Side) -> &DataType {
        match side {
            Side::Left => &self.left_type,
            Side::Right => &self.right_type,
        }
    }

    /// True when text on one side is parsed to the other side's type.
    pub fn parses_text(&self) -> bool {
        self.left == Conversion::ParseText || self.right == Conversion::ParseText
    }

    /// The two sides store the value in different type families (e.g. text
    /// against numbers), which the schema report flags.
    pub fn family_differs(&self) -> bool {
        family(&self.left_type) != family(&self.right_type)
    }

    /// Row-format fields this column contributes (one, or two with a text fallback).
    pub fn sort_fields(&self) -> Vec<SortField> {
        let mut fields = vec![SortField::new(self.canonical.clone())];
        if self.parses_text() {
            fields.push(SortField::new(DataType::Utf8));
        }
        fields
    }

    /// Converts one side's array into its canonical arrays (one, or two with a text fallback).
    pub fn canonicalize(&self, array: &ArrayRef, side: Side) -> Result<Vec<ArrayRef>> {
        let conversion = match side {
            Side::Left => &self.left,
            Side::Right => &self.right,
        };
        let fail = |e: arrow::error::ArrowError| {
            Error::Schema(format!(
                "column {} ({side}): cannot convert {} to {}: {}",
                self.name(side),
                array.data_type(),
                self.canonical,
                one_line(e)
            ))
        };
        let blanked;
        let array = if self.empty_is_null && family(array.data_type()) == Family::Text {
            blanked = empty_to_null(array).map_err(fail)?;
            &blanked
        } else {
            array
        };
        match conversion {
            Conversion::Cast => Ok(vec![to_canonical(array, &self.canonical).map_err(fail)?]),
            Conversion::CastWithEmptyText => Ok(vec![
                to_canonical(array, &self.canonical).map_err(fail)?,
                arrow::array::new_null_array(&DataType::Utf8, array.len()),
            ]),
            Conversion::ParseText => parse_text(array, &self.canonical).map_err(fail),
        }
    }
}

/// Broad kinds of values; a change of family is a schema difference worth showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Number,
    Text,
    Binary,
    Bool,
    Temporal,
    Time,
    Null,
    Other,
}

pub fn family(t: &DataType) -> Family {
    use DataType::*;
    match value_type(t) {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float16 | Float32
        | Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => {
            Family::Number
        }
        Utf8 | LargeUtf8 | Utf8View => Family::Text,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Family::Binary,
        Boolean => Family::Bool,
        Date32 | Date64 | Timestamp(..) => Family::Temporal,
        Time32(_) | Time64(_) => Family::Time,
        Null => Family::Null,
        _ => Family::Other,
    }
}

/// Dictionary columns are compared by their values.
fn value_type(t: &DataType) -> &DataType {
    match t {
        DataType::Dictionary(_, v) => value_type(v),
        other => other,
    }
}

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

/// Decimal digits an integer type needs before the decimal point.
fn int_digits(t: &DataType) -> Option<u8> {
    use DataType::*;
    Some(match t {
        Int8 | UInt8 => 3,
        Int16 | UInt16 => 5,
        Int32 | UInt32 => 10,
        Int64 => 19,
        UInt64 => 20,
        _ => return None,
    })
}

fn decimal_parts(t: &DataType) -> Option<(u8, i8)> {
    use DataType::*;
    match t {
        Decimal32(p, s) | Decimal64(p, s) | Decimal128(p, s) | Decimal256(p, s) => Some((*p, *s)),
        _ => None,
    }
}

/// Finer unit first: the unit both timestamps can be expressed in exactly.
fn finer_unit(a: TimeUnit, b: TimeUnit) -> TimeUnit {
    fn rank(u: TimeUnit) -> u8 {
        match u {
            TimeUnit::Second => 0,
            TimeUnit::Millisecond => 1,
            TimeUnit::Microsecond => 2,
            TimeUnit::Nanosecond => 3,
        }
    }
    if rank(a) >= rank(b) { a } else { b }
}

/// The canonical type of one type compared with itself.
fn self_canonical(t: &DataType) -> DataType {
    use DataType::*;
    match value_type(t) {
        Float16 => Float32,
        Timestamp(unit, _) => Timestamp(*unit, None),
        other => other.clone(),
    }
}

/// Decides the canonical type of a pair of column types.
fn unify(
    l: &DataType,
    r: &DataType,
) -> std::result::Result<(DataType, Conversion, Conversion), String> {
    use DataType::*;
    let (lv, rv) = (value_type(l), value_type(r));
    let cast = |t: DataType| Ok((t, Conversion::Cast, Conversion::Cast));
    if lv == rv {
        return cast(self_canonical(lv));
    }
    let (lf, rf) = (family(lv), family(rv));
    match (lf, rf) {
        (Family::Null, _) => return cast(self_canonical(rv)),
        (_, Family::Null) => return cast(self_canonical(lv)),
        _ => {}
    }
    match (lv, rv) {
        // Numbers: exact where an exact common type exists, else as float64.
        (a, b) if lf == Family::Number && rf == Family::Number => {
            if is_float(a) || is_float(b) {
                return cast(
                    if matches!((a, b), (Float32, Float16) | (Float16, Float32)) {
                        Float32
                    } else {
                        Float64
                    },
                );
            }
            let (da, db) = (decimal_parts(a), decimal_parts(b));
            if da.is_none() && db.is_none() {
                let signed = |t: &DataType| matches!(t, Int8 | Int16 | Int32 | Int64);
                return cast(match (signed(a), signed(b)) {
                    (true, true) => Int64,
                    (false, false) => UInt64,
                    _ if a == &UInt64 || b == &UInt64 => Decimal128(20, 0),
                    _ => Int64,
                });
            }
            // Decimal against decimal or integer: the larger scale, enough precision.
            let parts = |t: &DataType| decimal_parts(t).or_else(|| int_digits(t).map(|d| (d, 0)));
            let ((pa, sa), (pb, sb)) = (
                parts(a).ok_or("unsupported number type")?,
                parts(b).ok_or("unsupported number type")?,
            );
            let scale = sa.max(sb);
            let whole = (pa as i16 - sa as i16).max(pb as i16 - sb as i16).max(1);
            let needed = whole + scale.max(0) as i16;
            cast(if needed <= 38 {
                Decimal128(38, scale)
            } else {
                Decimal256(76, scale)
            })
        }
        (Date32 | Date64, Date32 | Date64) => cast(Date64),
        (Timestamp(ua, _), Timestamp(ub, _)) => cast(Timestamp(finer_unit(*ua, *ub), None)),
        (Timestamp(u, _), Date32 | Date64) | (Date32 | Date64, Timestamp(u, _)) => {
            cast(Timestamp(finer_unit(*u, TimeUnit::Millisecond), None))
        }
        (Time32(_) | Time64(_), Time32(_) | Time64(_)) => cast(Time64(TimeUnit::Nanosecond)),
        (a, b) if lf == Family::Text && rf == Family::Text => {
            let _ = (a, b);
            cast(Utf8View)
        }
        (a, b) if lf == Family::Binary && rf == Family::Binary => {
            if matches!(a, FixedSizeBinary(_)) || matches!(b, FixedSizeBinary(_)) {
                cast(Binary)
            } else {
                cast(BinaryView)
            }
        }
        // Text against a typed value: parse the text as that type.
        (_, b) if lf == Family::Text && parsable(rf) => Ok((
            self_canonical(b),
            Conversion::ParseText,
            Conversion::CastWithEmptyText,
        )),
        (a, _) if rf == Family::Text && parsable(lf) => Ok((
            self_canonical(a),
            Conversion::CastWithEmptyText,
            Conversion::ParseText,
        )),
        _ => Err(format!("types {l} and {r} cannot be compared")),
    }
}

fn parsable(f: Family) -> bool {
    matches!(
        f,
        Family::Number | Family::Bool | Family::Temporal | Family::Time
    )
}

/// Exact cast to the canonical type, then float normalisation.
fn to_canonical(
    array: &ArrayRef,
    target: &DataType,
) -> std::result::Result<ArrayRef, arrow::error::ArrowError> {
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    let cast = if array.data_type() == target {
        Arc::clone(array)
    } else {
        cast_with_options(array, target, &strict)?
    };
    Ok(normalize_floats(cast))
}

/// `-0.0` becomes `0.0` and every NaN the one canonical NaN, so the row
/// format (which orders floats by their bits) sees them as equal.
fn normalize_floats(array: ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::Float64 => Arc::new(
            array
                .as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(|x| if x.is_nan() { f64::NAN } else { x + 0.0 }),
        ),
        DataType::Float32 => Arc::new(
            array
                .as_primitive::<Float32Type>()
                .unary::<_, Float32Type>(|x| if x.is_nan() { f32::NAN } else { x + 0.0 }),
        ),
        _ => array,
    }
}

/// Empty strings become NULL.
fn empty_to_null(array: &ArrayRef) -> std::result::Result<ArrayRef, arrow::error::ArrowError> {
    let empty: BooleanArray = match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| Some(v == Some("")))
            .collect(),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|v| Some(v == Some("")))
            .collect(),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|v| Some(v == Some("")))
            .collect(),
        _ => return Ok(Arc::clone(array)),
    };
    arrow::compute::nullif(array, &empty)
}

/// Parses text into `target`; values that do not parse exactly go to a second
/// (Utf8) array verbatim, and become NULL in the first.
fn parse_text(
    array: &ArrayRef,
    target: &DataType,
) -> std::result::Result<Vec<ArrayRef>, arrow::error::ArrowError> {
    let text = cast_with_options(array, &DataType::Utf8, &CastOptions::default())?;
    let text = text.as_string::<i32>();
    // Decimal parsing rounds extra fractional digits: such text is not that decimal.
    let exact: BooleanArray = match target {
        DataType::Decimal128(_, s)
        | DataType::Decimal256(_, s)
        | DataType::Decimal64(_, s)
        | DataType::Decimal32(_, s) => text
            .iter()
            .map(|v| Some(v.is_none_or(|v| fits_decimal_scale(v, *s))))
            .collect(),
        _ => BooleanArray::from(vec![true; text.len()]),
    };
    let parsed = cast_with_options(
        &(Arc::new(text.clone()) as ArrayRef),
        target,
        &CastOptions::default(),
    )?;
    let parsed = normalize_floats(parsed);
    // Unparsable: non-null text whose parse is null or inexact.
    let failed = arrow::compute::and(
        &is_not_null(text)?,
        &arrow::compute::or(&is_null(&parsed)?, &arrow::compute::not(&exact)?)?,
    )?;
    let raw: StringArray = text
        .iter()
        .zip(failed.iter())
        .map(|(v, f)| if f == Some(true) { v } else { None })
        .collect();
    let keep = arrow::compute::not(&failed)?;
    let parsed = arrow::compute::nullif(&parsed, &arrow::compute::not(&keep)?)?;
    Ok(vec![parsed, Arc::new(raw)])
}

/// True when a decimal literal has no more significant fractional digits than `scale`.
fn fits_decimal_scale(text: &str, scale: i8) -> bool {
    let t = text.trim();
    if t.contains(['e', 'E']) {
        return false;
    }
    match t.split_once('.') {
        None => true,
        Some((_, frac)) => frac.trim_end_matches('0').len() <= scale.max(0) as usize,
    }
}

/// Per row: is any of these (key) columns null? `None` when none can be.
pub fn null_rows(columns: &[ArrayRef]) -> Option<Vec<bool>> {
    let with_nulls: Vec<&ArrayRef> = columns
        .iter()
        .filter(|c| c.logical_null_count() > 0)
        .collect();
    if with_nulls.is_empty() {
        return None;
    }
    let len = columns.first().map_or(0, |c| c.len());
    let mut out = vec![false; len];
    for c in with_nulls {
        if let Some(nulls) = c.logical_nulls() {
            for (o, valid) in out.iter_mut().zip(nulls.iter()) {
                *o |= !valid;
            }
        }
    }
    Some(out)
}

/// Row-format encoders for a list of planned columns.
pub fn row_converter(columns: &[&ColumnPlan]) -> Result<RowConverter> {
    let fields: Vec<SortField> = columns.iter().flat_map(|c| c.sort_fields()).collect();
    Ok(RowConverter::new(fields)?)
}

/// Canonical arrays of `columns` (positions in `arrays` match `columns`).
pub fn canonical_arrays(
    columns: &[&ColumnPlan],
    arrays: &[ArrayRef],
    side: Side,
) -> Result<Vec<ArrayRef>> {
    let mut out = Vec::with_capacity(columns.len());
    for (plan, array) in columns.iter().zip(arrays) {
        out.extend(plan.canonicalize(array, side)?);
    }
    Ok(out)
}

/// Encodes canonical arrays as rows.
pub fn encode(converter: &RowConverter, canonical: &[ArrayRef]) -> Result<Rows> {
    Ok(converter.convert_columns(canonical)?)
}

/// The 128-bit hash of one encoded row.
#[inline]
pub fn row_hash(bytes: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

/// The 64-bit hash of one encoded key, used to find duplicate keys.
#[inline]
pub fn key_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Decimal128Array, Float64Array, Int32Array, Int64Array, TimestampMillisecondArray,
        TimestampSecondArray,
    };

    fn rows_equal(lt: ArrayRef, rt: ArrayRef) -> Vec<bool> {
        let plan = ColumnPlan::new("c", "c", lt.data_type(), rt.data_type()).unwrap();
        let conv = row_converter(&[&plan]).unwrap();
        let l = encode(&conv, &plan.canonicalize(&lt, Side::Left).unwrap()).unwrap();
        let r = encode(&conv, &plan.canonicalize(&rt, Side::Right).unwrap()).unwrap();
        (0..l.num_rows()).map(|i| l.row(i) == r.row(i)).collect()
    }

    #[test]
    fn integer_widths_compare_by_value() {
        let l: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(-5)]));
        let r: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(5)]));
        assert_eq!(rows_equal(l, r), vec![true, true, false]);
    }

    #[test]
    fn decimal_scale_is_not_a_difference() {
        let l: ArrayRef = Arc::new(
            Decimal128Array::from(vec![180, 181])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        let r: ArrayRef = Arc::new(
            Decimal128Array::from(vec![18, 18])
                .with_precision_and_scale(10, 1)
                .unwrap(),
        );
        assert_eq!(rows_equal(l, r), vec![true, false]);
    }

    #[test]
    fn negative_zero_and_nan() {
        let l: ArrayRef = Arc::new(Float64Array::from(vec![-0.0, f64::NAN, 1.0]));
        let r: ArrayRef = Arc::new(Float64Array::from(vec![0.0, -f64::NAN, 1.0 + f64::EPSILON]));
        assert_eq!(rows_equal(l, r), vec![true, true, false]);
    }

    #[test]
    fn timestamps_compare_as_instants() {
        let l: ArrayRef =
            Arc::new(TimestampSecondArray::from(vec![10, 11]).with_timezone("+02:00"));
        let r: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![10_000, 11_001]));
        assert_eq!(rows_equal(l, r), vec![true, false]);
    }

    #[test]
    fn text_parsed_against_numbers_keeps_unparsable_text() {
        let l: ArrayRef = Arc::new(StringArray::from(vec![
            Some("1.80"),
            Some("abc"),
            None,
            Some("1.805"),
            Some(""),
        ]));
        let r: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(180), None, None, Some(181), None])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        assert_eq!(rows_equal(l, r), vec![true, false, true, false, false]);
    }

    #[test]
    fn int_against_float_compares_numbers() {
        let l: ArrayRef = Arc::new(Int64Array::from(vec![3, 4]));
        let r: ArrayRef = Arc::new(Float64Array::from(vec![3.0, 4.5]));
        assert_eq!(rows_equal(l, r), vec![true, false]);
    }

    #[test]
    fn incomparable_types_are_refused() {
        let list = DataType::List(Arc::new(arrow::datatypes::Field::new(
            "x",
            DataType::Int32,
            true,
        )));
        assert!(ColumnPlan::new("c", "c", &DataType::Int32, &list).is_err());
    }
}
