//! Canonical values: how a column of one side and its counterpart on the
//! other side are brought to one Arrow type, so that equal values (by the
//! default semantics in ARCHITECTURE.md) have equal bytes in Arrow's row format, and
//! unequal values never do. Row hashes and row comparisons are both computed
//! from these bytes, so the Merkle pass and the row diff can never disagree.
//!
//! Arrow's row format is a prefix-free, order-preserving encoding with a null
//! sentinel per value and terminated variable-length values, so
//! `("1|", "2")` and `("1", "|2")` cannot collide, and NULL differs from "".

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Float64Array, Int64Array, StringArray,
};
use arrow::compute::{CastOptions, cast_with_options, is_not_null, is_null};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int64Type, TimeUnit,
    TimestampNanosecondType,
};
use arrow::row::{RowConverter, Rows, SortField};

use crate::error::{Error, Result, Side, one_line};

pub mod keyed;
mod rules;
pub mod stored;

pub use rules::{ColumnRule, Duration, Tolerance, TypeClass, ValueRule, within};

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
    /// Dates and timestamps of different units: exact nanoseconds since the
    /// epoch as a 128-bit integer, which no unit or date range can overflow.
    Nanos,
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
    /// Empty strings compare as NULL (one side is a format that cannot tell
    /// them apart, or a rule says so).
    pub empty_is_null: bool,
    /// Normalisers and tolerance from the rules (none by default).
    pub rule: ValueRule,
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
            rule: ValueRule::default(),
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
        let normalized;
        let array = if family(array.data_type()) == Family::Text
            && (self.rule.trim || self.rule.case_insensitive)
        {
            normalized = rules::normalize_text(array, &self.rule).map_err(fail)?;
            &normalized
        } else {
            array
        };
        let blanked;
        let array = if self.empty_is_null && family(array.data_type()) == Family::Text {
            blanked = empty_to_null(array).map_err(fail)?;
            &blanked
        } else {
            array
        };
        let mut out = match conversion {
            Conversion::Cast => vec![to_canonical(array, &self.canonical).map_err(fail)?],
            Conversion::CastWithEmptyText => vec![
                to_canonical(array, &self.canonical).map_err(fail)?,
                arrow::array::new_null_array(&DataType::Utf8, array.len()),
            ],
            Conversion::ParseText => parse_text(array, &self.canonical).map_err(fail)?,
            Conversion::Nanos => vec![to_nanos(array).map_err(fail)?],
        };
        if let (Some(digits), Some(first)) = (self.rule.digits, out.first_mut()) {
            *first = rules::round_digits(first, digits);
        }
        Ok(out)
    }

    /// The kind of values this column compares as, for default rules.
    pub fn type_class(&self) -> Option<TypeClass> {
        use DataType::*;
        if self.left == Conversion::Nanos {
            return Some(TypeClass::Timestamp);
        }
        Some(match &self.canonical {
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => TypeClass::Int,
            Float16 | Float32 | Float64 => TypeClass::Float,
            Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => TypeClass::Decimal,
            Utf8 | LargeUtf8 | Utf8View => TypeClass::Text,
            Timestamp(..) => TypeClass::Timestamp,
            Date32 | Date64 => TypeClass::Date,
            _ => return None,
        })
    }

    /// Takes a column's comparison rules, or says why they do not fit its type.
    pub fn apply_rule(&mut self, rule: &ColumnRule) -> std::result::Result<(), String> {
        use DataType::*;
        let class = self.type_class();
        let text = class == Some(TypeClass::Text)
            || family(&self.left_type) == Family::Text
            || family(&self.right_type) == Family::Text;
        let both_cast = self.left == Conversion::Cast && self.right == Conversion::Cast;
        let types = || format!("{} and {}", self.left_type, self.right_type);
        if rule.trim.is_some()
            || rule.case_insensitive.is_some()
            || rule.null_equals_empty.is_some()
        {
            if !text {
                return Err(format!(
                    "trim, case_insensitive and null_equals_empty apply to text, not {}",
                    types()
                ));
            }
            self.rule.trim = rule.trim.unwrap_or(false);
            self.rule.case_insensitive = rule.case_insensitive.unwrap_or(false);
            if rule.null_equals_empty == Some(true) {
                self.empty_is_null = true;
            }
        }
        if rule.abs.is_some() || rule.rel.is_some() || rule.digits.is_some() {
            // Widen exactly where the tolerance needs a wider type.
            if both_cast {
                match self.canonical {
                    Float16 | Float32 => self.canonical = Float64,
                    Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32 => self.canonical = Int64,
                    UInt64 => self.canonical = Decimal128(20, 0),
                    _ => {}
                }
            }
            if rule.digits.is_some() && self.canonical != Float64 {
                return Err(format!(
                    "digits applies to floating-point columns, not {}",
                    types()
                ));
            }
            if (rule.abs.is_some() || rule.rel.is_some())
                && !matches!(self.canonical, Int64 | Float64 | Decimal128(..))
            {
                return Err(format!("abs and rel apply to numbers, not {}", types()));
            }
            self.rule.digits = rule.digits;
            if rule.abs.is_some() || rule.rel.is_some() {
                self.rule.tolerance = Some(Tolerance::Numeric {
                    abs: rule.abs.unwrap_or(0.0),
                    rel: rule.rel.unwrap_or(0.0),
                });
            }
        }
        if let Some(time) = rule.time {
            if class != Some(TypeClass::Timestamp) {
                return Err(format!("time applies to timestamps, not {}", types()));
            }
            self.rule.tolerance = Some(Tolerance::Nanos(time.nanos));
        }
        Ok(())
    }

    /// The arrays a row hash is computed from: the canonical arrays, with a
    /// tolerant column's values replaced by their buckets.
    pub fn hash_arrays(&self, array: &ArrayRef, side: Side) -> Result<Vec<ArrayRef>> {
        let canonical = self.canonicalize(array, side)?;
        Ok(rules::hash_form(&canonical, &self.rule))
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
    let integer = |t: &DataType| {
        matches!(
            t,
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
        )
    };
    match (lv, rv) {
        // A boolean against an integer (MySQL has no boolean, only
        // TINYINT(1)): true is 1 and false is 0; any other integer differs.
        (Boolean, b) | (b, Boolean) if integer(b) => cast(Int64),
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
        // Same unit, different zones: the stored instants compare directly.
        (Timestamp(ua, _), Timestamp(ub, _)) if ua == ub => cast(Timestamp(*ua, None)),
        (Timestamp(..) | Date32 | Date64, Timestamp(..) | Date32 | Date64) => {
            Ok((Decimal128(38, 0), Conversion::Nanos, Conversion::Nanos))
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
            parse_target(b),
            Conversion::ParseText,
            Conversion::CastWithEmptyText,
        )),
        (a, _) if rf == Family::Text && parsable(lf) => Ok((
            parse_target(a),
            Conversion::CastWithEmptyText,
            Conversion::ParseText,
        )),
        _ => Err(format!("types {l} and {r} cannot be compared")),
    }
}

/// The canonical type text is parsed into, against a typed column.
fn parse_target(t: &DataType) -> DataType {
    match t {
        DataType::Time32(_) | DataType::Time64(_) => DataType::Time64(TimeUnit::Nanosecond),
        other => self_canonical(other),
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
    let array = unpack_dictionary(array)?;
    let cast = if array.data_type() == target {
        array
    } else if target == &DataType::Float64 && decimal_parts(array.data_type()).is_some() {
        decimal_to_f64(&array)?
    } else {
        cast_with_options(&array, target, &strict)?
    };
    Ok(normalize_floats(cast))
}

fn unpack_dictionary(array: &ArrayRef) -> std::result::Result<ArrayRef, arrow::error::ArrowError> {
    match array.data_type() {
        DataType::Dictionary(_, values) => arrow::compute::cast(array, values),
        _ => Ok(Arc::clone(array)),
    }
}

/// Decimals as the nearest float64 (one rounding), so that `12.34` stored as a
/// decimal equals `12.34` parsed from text. Arrow's cast divides an already
/// rounded float, which is off by one ulp for large unscaled values.
fn decimal_to_f64(array: &ArrayRef) -> std::result::Result<ArrayRef, arrow::error::ArrowError> {
    const EXACT: u128 = 1 << 53;
    let (_, scale) = decimal_parts(array.data_type()).unwrap_or((38, 0));
    if matches!(
        array.data_type(),
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..)
    ) && (0..=22).contains(&scale)
    {
        let wide = arrow::compute::cast(array, &DataType::Decimal128(38, scale))?;
        let divisor = 10f64.powi(scale as i32);
        let text_needed = wide
            .as_primitive::<Decimal128Type>()
            .iter()
            .flatten()
            .any(|v| v.unsigned_abs() >= EXACT);
        if !text_needed {
            return Ok(Arc::new(
                wide.as_primitive::<Decimal128Type>()
                    .unary::<_, Float64Type>(|v| v as f64 / divisor),
            ));
        }
    }
    // Exact decimal text, then a correctly rounded parse.
    let text = arrow::compute::cast(array, &DataType::Utf8)?;
    let floats: Float64Array = text
        .as_string::<i32>()
        .iter()
        .map(|v| v.and_then(|s| s.parse::<f64>().ok()))
        .collect();
    Ok(Arc::new(floats))
}

/// Dates and timestamps as exact nanoseconds since the epoch (Decimal128(38, 0)).
fn to_nanos(array: &ArrayRef) -> std::result::Result<ArrayRef, arrow::error::ArrowError> {
    let array = unpack_dictionary(array)?;
    let per_unit: i128 = match array.data_type() {
        DataType::Date32 => 86_400_000_000_000,
        DataType::Date64 => 1_000_000,
        DataType::Timestamp(unit, _) => unit_nanos(*unit) as i128,
        other => {
            return Err(arrow::error::ArrowError::CastError(format!(
                "{other} is not a date or timestamp"
            )));
        }
    };
    let raw: Int64Array = match array.data_type() {
        DataType::Date32 => array.as_primitive::<Date32Type>().unary(|d| d as i64),
        _ => arrow::compute::cast(&array, &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .clone(),
    };
    let nanos: Decimal128Array = raw.unary(|v| v as i128 * per_unit);
    Ok(Arc::new(nanos.with_precision_and_scale(38, 0)?))
}

fn unit_nanos(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
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
    let array = &unpack_dictionary(array)?;
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

/// Parses text into `target`; text that is not exactly a value of that type
/// (surrounding spaces, extra decimal or sub-unit digits, a date with a time,
/// anything the parser rejects) goes to a second (Utf8) array verbatim, and
/// becomes NULL in the first.
fn parse_text(
    array: &ArrayRef,
    target: &DataType,
) -> std::result::Result<Vec<ArrayRef>, arrow::error::ArrowError> {
    let text = cast_with_options(array, &DataType::Utf8, &CastOptions::default())?;
    let text = text.as_string::<i32>();
    let text_array: ArrayRef = Arc::new(text.clone());
    // Per value: does the text have the exact form of `target`?
    let well_formed = |check: &dyn Fn(&str) -> bool| -> BooleanArray {
        text.iter()
            .map(|v| Some(v.is_none_or(|s| s == s.trim() && check(s))))
            .collect()
    };
    let (parsed, exact) = match target {
        DataType::Timestamp(unit, None) => {
            // Parse at nanosecond precision; keep only values whole in `unit`.
            let nanos = cast_with_options(
                &text_array,
                &DataType::Timestamp(TimeUnit::Nanosecond, None),
                &CastOptions::default(),
            )
            .unwrap_or_else(|_| {
                arrow::array::new_null_array(
                    &DataType::Timestamp(TimeUnit::Nanosecond, None),
                    text.len(),
                )
            });
            let factor = unit_nanos(*unit);
            let nanos = nanos.as_primitive::<TimestampNanosecondType>();
            let whole: BooleanArray = nanos
                .iter()
                .map(|v| Some(v.is_none_or(|n| n % factor == 0)))
                .collect();
            let scaled: ArrayRef = Arc::new(nanos.unary::<_, Int64Type>(|n| n / factor));
            let parsed = arrow::compute::cast(&scaled, target)?;
            let form = well_formed(&|s| fraction_digits(s) <= 9);
            (parsed, arrow::compute::and(&whole, &form)?)
        }
        DataType::Date32 | DataType::Date64 => (
            parse_or_null(&text_array, target),
            well_formed(&|s| {
                let b = s.as_bytes();
                b.len() == 10
                    && b[4] == b'-'
                    && b[7] == b'-'
                    && b.iter()
                        .enumerate()
                        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
            }),
        ),
        DataType::Boolean => (
            parse_or_null(&text_array, target),
            well_formed(&|s| s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")),
        ),
        DataType::Decimal32(_, scale)
        | DataType::Decimal64(_, scale)
        | DataType::Decimal128(_, scale)
        | DataType::Decimal256(_, scale) => {
            let scale = *scale;
            (
                parse_or_null(&text_array, target),
                well_formed(&move |s| fits_decimal_scale(s, scale)),
            )
        }
        _ => (parse_or_null(&text_array, target), well_formed(&|_| true)),
    };
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
    let parsed = arrow::compute::nullif(&parsed, &failed)?;
    Ok(vec![parsed, Arc::new(raw)])
}

/// A lenient parse (NULL where it fails); exactness is checked separately.
fn parse_or_null(text: &ArrayRef, target: &DataType) -> ArrayRef {
    cast_with_options(text, target, &CastOptions::default())
        .unwrap_or_else(|_| arrow::array::new_null_array(target, text.len()))
}

/// Digits after the decimal point of a time of day (0 when there is none).
fn fraction_digits(text: &str) -> usize {
    text.rfind('.').map_or(0, |dot| {
        text[dot + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count()
    })
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
    per_column(columns, arrays, |plan, array| {
        plan.canonicalize(array, side)
    })
}

/// Arrays to hash of `columns`: canonical, tolerant columns as buckets.
pub fn hashed_arrays(
    columns: &[&ColumnPlan],
    arrays: &[ArrayRef],
    side: Side,
) -> Result<Vec<ArrayRef>> {
    per_column(columns, arrays, |plan, array| plan.hash_arrays(array, side))
}

fn per_column(
    columns: &[&ColumnPlan],
    arrays: &[ArrayRef],
    convert: impl Fn(&ColumnPlan, &ArrayRef) -> Result<Vec<ArrayRef>>,
) -> Result<Vec<ArrayRef>> {
    let mut out = Vec::with_capacity(columns.len());
    for (plan, array) in columns.iter().zip(arrays) {
        out.extend(convert(plan, array)?);
    }
    Ok(out)
}

/// Encodes canonical arrays as rows.
pub fn encode(converter: &RowConverter, canonical: &[ArrayRef]) -> Result<Rows> {
    Ok(converter.convert_columns(canonical)?)
}

/// The 128-bit hash of every row of canonical arrays (all of one length).
///
/// Each value becomes one 64-bit word: a fixed-width value of up to 8 bytes
/// is its own bits (so distinct values never share a word), anything else its
/// keyed xxh3-64. NULLs are flagged in null words at the end of the row (a bit per
/// column), so a NULL never equals a value. A row's hash is keyed xxh3-128 over
/// its words in column order: a word stands for a whole value whatever its
/// length, so `("1|", "2")` and `("1", "|2")` cannot collide, and equal
/// canonical values always hash alike. Working column by column on the
/// arrays' own buffers costs a fraction of encoding whole rows.
pub fn row_hashes(canonical: &[ArrayRef]) -> Result<Vec<u128>> {
    // Blocks small enough for their words to stay in cache.
    const BLOCK: usize = 1024;
    let rows = canonical.first().map_or(0, |a| a.len());
    if rows <= BLOCK {
        return block_hashes(canonical);
    }
    let mut out = Vec::with_capacity(rows);
    for start in (0..rows).step_by(BLOCK) {
        let len = BLOCK.min(rows - start);
        let block: Vec<ArrayRef> = canonical.iter().map(|a| a.slice(start, len)).collect();
        out.extend(block_hashes(&block)?);
    }
    Ok(out)
}

fn block_hashes(canonical: &[ArrayRef]) -> Result<Vec<u128>> {
    thread_local! {
        /// The words of a batch's rows, reused from batch to batch: a fresh
        /// zeroed buffer per batch costs more than filling it.
        static WORDS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let rows = canonical.first().map_or(0, |a| a.len());
    let columns = canonical.len();
    let null_start = 8 * columns;
    let stride = 8 * (columns + columns.div_ceil(64));
    let key = keyed::key();
    WORDS.with_borrow_mut(|words| {
        if words.len() < rows * stride {
            words.resize(rows * stride, 0);
        }
        let words = &mut words[..rows * stride];
        // Every value word is written below; the null words start cleared.
        for row in words.chunks_exact_mut(stride.max(1)) {
            row[null_start..].fill(0);
        }
        for (c, array) in canonical.iter().enumerate() {
            value_words(array, &mut |i: usize, w: u64| {
                words[i * stride + c * 8..i * stride + c * 8 + 8].copy_from_slice(&w.to_le_bytes());
            })?;
            if let Some(nulls) = array.logical_nulls() {
                let flag = null_start + 8 * (c / 64) + (c % 64) / 8;
                for i in (0..rows).filter(|&i| nulls.is_null(i)) {
                    words[i * stride + c * 8..i * stride + c * 8 + 8].fill(0);
                    words[i * stride + flag] |= 1 << (c % 8);
                }
            }
        }
        Ok(words
            .chunks_exact(stride.max(1))
            .map(|row| key.hash128(row))
            .collect())
    })
}

/// Calls `put(row, word)` for every value of one canonical array (NULL slots
/// included; the caller flags them).
fn value_words(array: &ArrayRef, put: &mut impl FnMut(usize, u64)) -> Result<()> {
    let key = keyed::key();
    let xxh3_64 = |bytes: &[u8]| key.hash64(bytes);
    let len = array.len();
    // Generic, so that each column's loop is compiled for its own type.
    fn each_value<P: FnMut(usize, u64), V: Fn(usize) -> u64>(len: usize, put: &mut P, value: V) {
        (0..len).for_each(|i| put(i, value(i)));
    }
    macro_rules! each {
        ($value:expr) => {
            each_value(len, put, $value)
        };
    }
    let t = array.data_type();
    if t.is_primitive() {
        let data = array.to_data();
        let w = t.primitive_width().unwrap_or(1);
        let bytes = stored::fixed_bytes(&data, w);
        macro_rules! native {
            ($n:literal, $int:ty) => {
                for (i, v) in bytes.chunks_exact($n).enumerate() {
                    let mut b = [0u8; $n];
                    b.copy_from_slice(v);
                    put(i, <$int>::from_le_bytes(b) as u64);
                }
            };
        }
        match w {
            1 => native!(1, u8),
            2 => native!(2, u16),
            4 => native!(4, u32),
            8 => native!(8, u64),
            _ => each!(|i| xxh3_64(&bytes[i * w..(i + 1) * w])),
        }
        return Ok(());
    }
    match t {
        DataType::Null => each!(|_| 0),
        DataType::Boolean => {
            let b = array.as_boolean();
            each!(|i| u64::from(b.value(i)));
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            each!(|i| xxh3_64(a.value(i).as_bytes()));
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            each!(|i| xxh3_64(a.value(i).as_bytes()));
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            each!(|i| xxh3_64(a.value(i).as_bytes()));
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            each!(|i| xxh3_64(a.value(i)));
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            each!(|i| xxh3_64(a.value(i)));
        }
        DataType::BinaryView => {
            let a = array.as_binary_view();
            each!(|i| xxh3_64(a.value(i)));
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            each!(|i| xxh3_64(a.value(i)));
        }
        _ => {
            // Nested and other types: their row-format encoding, value by value.
            let converter = RowConverter::new(vec![SortField::new(t.clone())])?;
            let rows = converter.convert_columns(std::slice::from_ref(array))?;
            each!(|i| xxh3_64(rows.row(i).as_ref()));
        }
    }
    Ok(())
}

/// Orders two encoded keys exactly as `<[u8]>::cmp` does, eight bytes at a
/// time: keys are short and compared several times per row, and a call to
/// `memcmp` costs more than the comparison itself.
#[inline]
pub fn compare_keys(mut a: &[u8], mut b: &[u8]) -> std::cmp::Ordering {
    while let (Some((x, rest_a)), Some((y, rest_b))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        if x != y {
            return u64::from_be_bytes(*x).cmp(&u64::from_be_bytes(*y));
        }
        (a, b) = (rest_a, rest_b);
    }
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// Bytes as lowercase hex, two digits each (digest keys, SQL byte literals,
/// encoded keys in a cluster's plans).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes [`to_hex`] wrote; `None` for anything else.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The 64-bit hash of one encoded key, used to find duplicate keys.
#[inline]
pub fn key_hash(bytes: &[u8]) -> u64 {
    keyed::hash64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn compare_keys_orders_as_slices_do(
            a in proptest::collection::vec(0u8..4, 0..20),
            b in proptest::collection::vec(0u8..4, 0..20),
        ) {
            proptest::prop_assert_eq!(compare_keys(&a, &b), a.cmp(&b));
            let mut c = a.clone();
            c.extend(&b);
            proptest::prop_assert_eq!(compare_keys(&a, &c), a.cmp(&c));
        }
    }
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
    fn row_hashes_separate_values_nulls_and_columns() {
        let ints = |v: Vec<Option<i64>>| Arc::new(Int64Array::from(v)) as ArrayRef;
        let texts = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as ArrayRef;
        // Rows: (0, "1|", "2"), (NULL, "1", "|2"), (0, "1|", "2"), (0, NULL, "2"), (0, "", "2").
        let h = row_hashes(&[
            ints(vec![Some(0), None, Some(0), Some(0), Some(0)]),
            texts(vec![Some("1|"), Some("1"), Some("1|"), None, Some("")]),
            texts(vec![Some("2"), Some("|2"), Some("2"), Some("2"), Some("2")]),
        ])
        .unwrap();
        assert_eq!(h[0], h[2]);
        let distinct: std::collections::HashSet<u128> = [h[0], h[1], h[3], h[4]].into();
        assert_eq!(distinct.len(), 4);
        // Swapping values between two columns changes the hash.
        let a = row_hashes(&[ints(vec![Some(1)]), ints(vec![Some(2)])]).unwrap();
        let b = row_hashes(&[ints(vec![Some(2)]), ints(vec![Some(1)])]).unwrap();
        assert_ne!(a, b);
        // A NULL is not the zero its slot may hold.
        let zero = row_hashes(&[ints(vec![Some(0)])]).unwrap();
        let null = row_hashes(&[ints(vec![None])]).unwrap();
        assert_ne!(zero, null);
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

    fn text(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    #[test]
    fn parsed_text_keeps_sub_unit_digits_as_a_difference() {
        let t: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
            1_709_294_400,
            1_709_294_400,
            1_709_294_400,
        ]));
        let l = text(&[
            Some("2024-03-01T12:00:00.750Z"),
            Some("2024-03-01T12:00:00Z"),
            Some("2024-03-01T14:00:00+02:00"),
        ]);
        assert_eq!(rows_equal(l, t), vec![false, true, true]);
    }

    #[test]
    fn parsed_dates_and_booleans_are_strict() {
        use arrow::array::{BooleanArray, Date32Array};
        let d: ArrayRef = Arc::new(Date32Array::from(vec![19_783, 19_783]));
        assert_eq!(
            rows_equal(text(&[Some("2024-03-01 23:59:59"), Some("2024-03-01")]), d),
            vec![false, true]
        );
        let b: ArrayRef = Arc::new(BooleanArray::from(vec![true, true, false]));
        assert_eq!(
            rows_equal(text(&[Some("yes"), Some("true"), Some("FALSE")]), b),
            vec![false, true, true]
        );
        let i: ArrayRef = Arc::new(Int64Array::from(vec![42, 42]));
        assert_eq!(
            rows_equal(text(&[Some("42 "), Some("42")]), i),
            vec![false, true]
        );
    }

    #[test]
    fn large_decimals_round_once_to_float() {
        let big = 18_014_398_509_482_002i128; // 2^54 + 18, scale 1
        let l: ArrayRef = Arc::new(
            Decimal128Array::from(vec![big])
                .with_precision_and_scale(20, 1)
                .unwrap(),
        );
        let r: ArrayRef = Arc::new(Float64Array::from(vec![
            "1801439850948200.2".parse::<f64>().unwrap(),
        ]));
        assert_eq!(rows_equal(l, r), vec![true]);
    }

    #[test]
    fn far_timestamps_in_different_units_do_not_overflow() {
        use arrow::array::{Date64Array, TimestampMicrosecondArray, TimestampNanosecondArray};
        let year_9999_us = 253_402_214_400_000_000i64;
        let l: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![year_9999_us, 1_000]));
        let r: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![0, 1_000_000]));
        assert_eq!(rows_equal(l, r), vec![false, true]);
        let d: ArrayRef = Arc::new(Date64Array::from(vec![i64::MAX / 2, 86_400_000]));
        let t: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![0, 86_400_000_000_000]));
        assert_eq!(rows_equal(d, t), vec![false, true]);
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
