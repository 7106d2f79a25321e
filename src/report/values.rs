//! Arrow values as JSON: numbers, booleans and strings as JSON natives
//! (decimals keep every digit), NaN and infinities as strings, everything
//! else (timestamps, dates, binary, nested) in Arrow's display form.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Float16Type, Float32Type, Float64Type, TimeUnit, TimestampMicrosecondType,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Number, Value};

/// Renders the values of one array.
pub struct ValueRenderer<'a> {
    array: &'a ArrayRef,
    formatter: Option<ArrayFormatter<'a>>,
}

impl<'a> ValueRenderer<'a> {
    pub fn new(array: &'a ArrayRef) -> Self {
        let formatter = ArrayFormatter::try_new(array.as_ref(), &FORMAT).ok();
        ValueRenderer { array, formatter }
    }

    fn is_null(&self, row: usize) -> bool {
        // A NullArray has no validity buffer: its values are NULL all the same.
        self.array.data_type() == &DataType::Null || self.array.is_null(row)
    }

    pub fn json(&self, row: usize) -> Value {
        let a = self.array;
        if self.is_null(row) {
            return Value::Null;
        }
        let float = |x: f64| {
            Number::from_f64(x).map_or_else(|| Value::String(float_text(x)), Value::Number)
        };
        match a.data_type() {
            DataType::Boolean => Value::Bool(a.as_boolean().value(row)),
            DataType::Float16 => float(a.as_primitive::<Float16Type>().value(row).to_f64()),
            DataType::Float32 => float(a.as_primitive::<Float32Type>().value(row) as f64),
            DataType::Float64 => float(a.as_primitive::<Float64Type>().value(row)),
            t if t.is_integer()
                || matches!(
                    t,
                    DataType::Decimal32(..)
                        | DataType::Decimal64(..)
                        | DataType::Decimal128(..)
                        | DataType::Decimal256(..)
                ) =>
            {
                let text = self.text(row);
                text.parse::<Number>()
                    .map_or(Value::String(text), Value::Number)
            }
            _ => Value::String(self.text(row)),
        }
    }

    /// The display text of a value ("NULL" for null).
    pub fn text(&self, row: usize) -> String {
        if self.is_null(row) {
            return "NULL".into();
        }
        if let Some(infinity) = self.infinity(row) {
            return infinity.into();
        }
        match &self.formatter {
            Some(f) => f.value(row).to_string(),
            None => format!("<{}>", self.array.data_type()),
        }
    }
}

impl ValueRenderer<'_> {
    /// `infinity` / `-infinity` for the extreme dates and instants that
    /// stand for PostgreSQL's infinities (no calendar can print them).
    fn infinity(&self, row: usize) -> Option<&'static str> {
        let a = self.array;
        let (is_max, is_min) = match a.data_type() {
            DataType::Date32 => {
                let v = a.as_primitive::<Date32Type>().value(row);
                (v == i32::MAX, v == i32::MIN)
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                let v = a.as_primitive::<TimestampMicrosecondType>().value(row);
                (v == i64::MAX, v == i64::MIN)
            }
            _ => return None,
        };
        match (is_max, is_min) {
            (true, _) => Some("infinity"),
            (_, true) => Some("-infinity"),
            _ => None,
        }
    }
}

const FORMAT: FormatOptions<'static> = FormatOptions::new().with_display_error(true);

fn float_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

/// `{name: value}` for one row of the given columns.
pub fn row_object(
    names: &[&str],
    renderers: &[ValueRenderer<'_>],
    row: usize,
) -> Map<String, Value> {
    names
        .iter()
        .zip(renderers)
        .map(|(n, r)| (n.to_string(), r.json(row)))
        .collect()
}

/// Shown where a side has no row.
pub const ABSENT: &str = "—";

/// A compact one-line text of a JSON value, for tables.
pub fn short(value: &Value) -> String {
    match value {
        // Quoted where plain text could be mistaken for NULL or hide spaces.
        Value::String(s)
            if s.is_empty()
                || s == "NULL"
                || s == ABSENT
                || s.trim() != s
                || s.chars().any(char::is_control) =>
        {
            value.to_string()
        }
        Value::String(s) => s.clone(),
        Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}
