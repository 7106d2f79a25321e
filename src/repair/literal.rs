//! One Arrow value as a SQL literal of the target's dialect, exactly: a value
//! that a literal cannot carry without change (a NUL in PostgreSQL text, NaN
//! in MySQL, nanoseconds) is an error naming the column, never an
//! approximation.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Decimal256Type, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};

use crate::source::db::Dialect;
use crate::source::url::Engine;

/// `array[row]` written for `dialect`; `column` names it in errors.
pub fn literal(
    array: &ArrayRef,
    row: usize,
    dialect: Dialect,
    column: &str,
) -> Result<String, String> {
    if array.is_null(row) {
        return Ok("NULL".into());
    }
    let engine = dialect.engine;
    let pg = engine == Engine::Postgres;
    let fail = |why: &str| Err(format!("column {column}: {why}"));
    Ok(match array.data_type() {
        DataType::Boolean => {
            let v = array.as_boolean().value(row);
            match (engine, v) {
                (Engine::Sqlite, v) => u8::from(v).to_string(),
                (_, true) => "TRUE".into(),
                (_, false) => "FALSE".into(),
            }
        }
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row).to_string(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row).to_string(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row).to_string(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row).to_string(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).to_string(),
        DataType::Float32 => {
            let v = array.as_primitive::<Float32Type>().value(row);
            float(f64::from(v), format!("{v:?}"), engine, "float4").or_else(|e| fail(&e))?
        }
        DataType::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            float(v, format!("{v:?}"), engine, "float8").or_else(|e| fail(&e))?
        }
        DataType::Decimal128(_, scale) => {
            let v = array.as_primitive::<Decimal128Type>().value(row);
            decimal(&v.to_string(), *scale)
        }
        DataType::Decimal256(_, scale) => {
            let v = array.as_primitive::<Decimal256Type>().value(row);
            decimal(&v.to_string(), *scale)
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = match array.data_type() {
                DataType::Utf8 => array.as_string::<i32>().value(row),
                DataType::LargeUtf8 => array.as_string::<i64>().value(row),
                _ => array.as_string_view().value(row),
            };
            if pg && text.contains('\0') {
                return fail("PostgreSQL text cannot hold a NUL character");
            }
            dialect.string(text)
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            let bytes = match array.data_type() {
                DataType::Binary => array.as_binary::<i32>().value(row),
                DataType::LargeBinary => array.as_binary::<i64>().value(row),
                _ => array.as_binary_view().value(row),
            };
            let hex = crate::canon::to_hex(bytes);
            if pg {
                format!("'\\x{hex}'::bytea")
            } else {
                format!("X'{hex}'")
            }
        }
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            // PostgreSQL's infinities are read as the extreme days.
            match days {
                i32::MAX if pg => return Ok("DATE 'infinity'".into()),
                i32::MIN if pg => return Ok("DATE '-infinity'".into()),
                _ => {}
            }
            let date = chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
                .ok_or_else(|| format!("column {column}: date out of range"))?;
            typed(
                engine,
                "DATE",
                &era_text(engine, date, "%m-%d").or_else(|e| fail(&e))?,
            )
        }
        DataType::Date64 => {
            let ms = array.as_primitive::<Date64Type>().value(row);
            let date = chrono::DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| format!("column {column}: date out of range"))?;
            typed(engine, "DATE", &date.format("%Y-%m-%d").to_string())
        }
        DataType::Timestamp(unit, zone) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            if pg && *unit == TimeUnit::Microsecond && (v == i64::MAX || v == i64::MIN) {
                let sign = if v == i64::MIN { "-" } else { "" };
                let name = if zone.is_some() {
                    "TIMESTAMPTZ"
                } else {
                    "TIMESTAMP"
                };
                return Ok(format!("{name} '{sign}infinity'"));
            }
            let micros = match unit {
                TimeUnit::Second => v.checked_mul(1_000_000),
                TimeUnit::Millisecond => v.checked_mul(1_000),
                TimeUnit::Microsecond => Some(v),
                TimeUnit::Nanosecond if v % 1_000 == 0 => Some(v / 1_000),
                TimeUnit::Nanosecond => {
                    return fail("nanoseconds do not fit a database timestamp (microseconds)");
                }
            };
            let at = micros
                .and_then(chrono::DateTime::from_timestamp_micros)
                .ok_or_else(|| format!("column {column}: timestamp out of range"))?;
            let text = era_text(engine, at, "%m-%d %H:%M:%S%.6f").or_else(|e| fail(&e))?;
            match (engine, zone) {
                (Engine::Postgres, Some(_)) => format!("TIMESTAMPTZ '{text}+00'"),
                _ => typed(engine, "TIMESTAMP", &text),
            }
        }
        other => return fail(&format!("cannot write a {other} value as SQL")),
    })
}

/// `array[row]` written for a target column of type `target`: an integer
/// going into a boolean column (MySQL's TINYINT(1) repairing PostgreSQL)
/// becomes TRUE or FALSE, and only 0 and 1 may; anything else as [`literal`].
pub fn literal_for(
    array: &ArrayRef,
    row: usize,
    target: &DataType,
    dialect: Dialect,
    column: &str,
) -> Result<String, String> {
    if *target == DataType::Boolean && array.data_type().is_integer() && !array.is_null(row) {
        let wide = arrow::compute::cast(array, &DataType::Int64).map_err(|e| e.to_string())?;
        return match wide.as_primitive::<Int64Type>().value(row) {
            0 => Ok("FALSE".into()),
            1 => Ok("TRUE".into()),
            v => Err(format!("column {column}: {v} is not a boolean")),
        };
    }
    literal(array, row, dialect, column)
}

/// A typed literal where the engine has the syntax (PostgreSQL), else text.
fn typed(engine: Engine, type_name: &str, text: &str) -> String {
    match engine {
        Engine::Postgres => format!("{type_name} '{text}'"),
        _ => format!("'{text}'"),
    }
}

/// A float, exactly: the shortest text that reads back as the same value.
fn float(v: f64, text: String, engine: Engine, pg_type: &str) -> Result<String, String> {
    match engine {
        Engine::Postgres => {
            let text = match text.as_str() {
                "inf" => "Infinity".to_string(),
                "-inf" => "-Infinity".to_string(),
                _ => text,
            };
            Ok(format!("'{text}'::{pg_type}"))
        }
        _ if !v.is_finite() => Err(format!("{text} cannot be stored in this database")),
        // As a float literal (an exponent), so MySQL reads a double, not a decimal.
        _ if v == 0.0 && v.is_sign_negative() => Ok("-0e0".into()),
        _ => Ok(format!("{v:e}")),
    }
}

/// `at` as `YYYY-` and `rest`, in the engine's notation for years before
/// 1 AD: PostgreSQL counts them as `BC` (year 0 is 1 BC); elsewhere they are
/// refused, as no other target holds them.
fn era_text(
    engine: Engine,
    at: chrono::DateTime<chrono::Utc>,
    rest: &str,
) -> Result<String, String> {
    use chrono::Datelike;
    let year = at.year();
    let rest = at.format(rest).to_string();
    match (engine, year) {
        (_, 1..) => Ok(format!("{year:04}-{rest}")),
        (Engine::Postgres, _) => Ok(format!("{:04}-{rest} BC", 1 - year)),
        _ => Err(format!("the year {year} cannot be stored in this database")),
    }
}

/// A decimal's exact text from its unscaled value's decimal digits.
fn decimal(unscaled: &str, scale: i8) -> String {
    if scale <= 0 {
        // An exponent, so no multiplication can overflow.
        return format!("{unscaled}E{}", scale.unsigned_abs());
    }
    let (sign, digits) = match unscaled.strip_prefix('-') {
        Some(digits) => ("-", digits),
        None => ("", unscaled),
    };
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BinaryArray, Decimal128Array, Float64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn values_are_written_exactly() {
        let pg = Dialect::new(Engine::Postgres);
        let my = Dialect::new(Engine::MySql);
        let d: ArrayRef = Arc::new(
            Decimal128Array::from(vec![-5, 12345, 0])
                .with_precision_and_scale(10, 3)
                .unwrap(),
        );
        assert_eq!(literal(&d, 0, pg, "d").unwrap(), "-0.005");
        assert_eq!(literal(&d, 1, pg, "d").unwrap(), "12.345");
        assert_eq!(literal(&d, 2, pg, "d").unwrap(), "0.000");
        let f: ArrayRef = Arc::new(Float64Array::from(vec![0.1 + 0.2, -0.0, f64::NAN]));
        assert_eq!(
            literal(&f, 0, pg, "f").unwrap(),
            "'0.30000000000000004'::float8"
        );
        assert_eq!(literal(&f, 1, pg, "f").unwrap(), "'-0.0'::float8");
        assert_eq!(literal(&f, 2, pg, "f").unwrap(), "'NaN'::float8");
        assert_eq!(literal(&f, 0, my, "f").unwrap(), "3.0000000000000004e-1");
        assert!(literal(&f, 2, my, "f").unwrap_err().contains("column f"));
        let s: ArrayRef = Arc::new(StringArray::from(vec!["O'Brien \\", "a\0b"]));
        assert_eq!(literal(&s, 0, pg, "s").unwrap(), "'O''Brien \\'");
        assert_eq!(
            literal(&s, 0, my, "s").unwrap(),
            "_utf8mb4 X'4F27427269656E205C'"
        );
        assert!(literal(&s, 1, pg, "s").is_err());
        let b: ArrayRef = Arc::new(BinaryArray::from(vec![&b"\x00\xff"[..]]));
        assert_eq!(literal(&b, 0, pg, "b").unwrap(), "'\\x00ff'::bytea");
        assert_eq!(literal(&b, 0, my, "b").unwrap(), "X'00ff'");
    }

    #[test]
    fn wide_decimals_eras_and_infinities_are_written_as_each_engine_reads_them() {
        use arrow::array::{Date32Array, Decimal256Array, TimestampMicrosecondArray};
        use arrow::datatypes::i256;
        let pg = Dialect::new(Engine::Postgres);
        let my = Dialect::new(Engine::MySql);
        let wide = i256::from_string(&format!("-{}", "9".repeat(60))).unwrap();
        let d: ArrayRef = Arc::new(
            Decimal256Array::from(vec![wide])
                .with_precision_and_scale(60, 20)
                .unwrap(),
        );
        assert_eq!(
            literal(&d, 0, my, "d").unwrap(),
            format!("-{}.{}", "9".repeat(40), "9".repeat(20))
        );
        // 44 BC is the astronomical year -43; day -735160 is 0044-03-15 BC.
        let dates: ArrayRef = Arc::new(Date32Array::from(vec![-735_160, i32::MAX, i32::MIN]));
        assert_eq!(literal(&dates, 0, pg, "d").unwrap(), "DATE '0044-03-15 BC'");
        assert!(
            literal(&dates, 0, my, "d")
                .unwrap_err()
                .contains("column d")
        );
        assert_eq!(literal(&dates, 1, pg, "d").unwrap(), "DATE 'infinity'");
        assert_eq!(literal(&dates, 2, pg, "d").unwrap(), "DATE '-infinity'");
        assert!(literal(&dates, 1, my, "d").is_err());
        let at: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![i64::MAX, -62_167_219_200_000_000])
                .with_timezone("UTC"),
        );
        assert_eq!(literal(&at, 0, pg, "t").unwrap(), "TIMESTAMPTZ 'infinity'");
        assert_eq!(
            literal(&at, 1, pg, "t").unwrap(),
            "TIMESTAMPTZ '0001-01-01 00:00:00.000000 BC+00'"
        );
    }
}
