//! Decimals read from their exact text. Drivers decode NUMERIC / DECIMAL
//! through types narrower than the column (a 28-digit decimal, a double), so
//! recon fetches the engine's own text and parses it here, digit for digit.
//! Unlike Arrow's string cast, which rounds surplus fractional digits, a
//! value that does not fit the declared precision and scale is an error.

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Builder, Decimal256Builder};
use arrow::datatypes::{DataType, i256};

/// A text column as the decimal type `target` (Decimal128 or Decimal256).
pub fn parse_column(column: &ArrayRef, target: &DataType) -> Result<ArrayRef, String> {
    let texts: Vec<Option<&str>> = match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().iter().collect(),
        DataType::LargeUtf8 => column.as_string::<i64>().iter().collect(),
        other => return Err(format!("{other} is not text")),
    };
    match *target {
        DataType::Decimal128(precision, scale) => {
            let mut out = Decimal128Builder::with_capacity(texts.len());
            for text in texts {
                match text {
                    None => out.append_null(),
                    Some(t) => {
                        let v = parse(t, precision, scale)?;
                        let narrow = v.to_i128().ok_or_else(|| too_wide(t, precision))?;
                        out.append_value(narrow);
                    }
                }
            }
            let array = out
                .finish()
                .with_precision_and_scale(precision, scale)
                .map_err(|e| e.to_string())?;
            Ok(std::sync::Arc::new(array))
        }
        DataType::Decimal256(precision, scale) => {
            let mut out = Decimal256Builder::with_capacity(texts.len());
            for text in texts {
                match text {
                    None => out.append_null(),
                    Some(t) => out.append_value(parse(t, precision, scale)?),
                }
            }
            let array = out
                .finish()
                .with_precision_and_scale(precision, scale)
                .map_err(|e| e.to_string())?;
            Ok(std::sync::Arc::new(array))
        }
        ref other => Err(format!("{other} is not a decimal type")),
    }
}

fn too_wide(text: &str, precision: u8) -> String {
    format!("{text:?} has more than {precision} digits")
}

/// `text` (`-12.340`, `7`, `.5`) as an unscaled integer of `scale`
/// fractional digits. Fractional digits beyond the scale are accepted only
/// when they are zeros; a value needing more than `precision` digits, or
/// anything that is not a plain decimal number (`NaN`, `Infinity`, an
/// exponent), is an error.
pub fn parse(text: &str, precision: u8, scale: i8) -> Result<i256, String> {
    let bad = || format!("{text:?} is not a decimal number recon can hold exactly");
    if scale < 0 {
        return Err(format!("a negative scale ({scale}) is not supported"));
    }
    let scale = scale as usize;
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (integer, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (integer.is_empty() && fraction.is_empty()) || !all_digits(integer) || !all_digits(fraction)
    {
        return Err(bad());
    }
    let (kept, dropped) = fraction.split_at(fraction.len().min(scale));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(format!(
            "{text:?} has more than {scale} fractional digits; reading it would round it"
        ));
    }
    let integer = integer.trim_start_matches('0');
    if integer.len() + scale > usize::from(precision) {
        return Err(too_wide(text, precision));
    }
    let ten = i256::from_i128(10);
    let mut value = i256::ZERO;
    let padding = std::iter::repeat_n(b'0', scale - kept.len());
    for b in integer.bytes().chain(kept.bytes()).chain(padding) {
        value = value
            .checked_mul(ten)
            .and_then(|v| v.checked_add(i256::from_i128(i128::from(b - b'0'))))
            .ok_or_else(bad)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unscaled(text: &str, precision: u8, scale: i8) -> Result<String, String> {
        parse(text, precision, scale).map(|v| v.to_string())
    }

    #[test]
    fn every_digit_is_kept_and_nothing_is_rounded() {
        let max38 = "9".repeat(38);
        assert_eq!(unscaled(&max38, 38, 0), Ok(max38.clone()));
        assert_eq!(
            unscaled("-12345678901234567890.123456789012345678", 38, 18),
            Ok("-12345678901234567890123456789012345678".into())
        );
        assert_eq!(unscaled("1.5", 10, 3), Ok("1500".into()));
        assert_eq!(unscaled(".5", 10, 1), Ok("5".into()));
        assert_eq!(unscaled("1.500", 10, 1), Ok("15".into()));
        assert_eq!(unscaled("0.00", 3, 2), Ok("0".into()));
        let wide = format!("{}.{}", "9".repeat(40), "1".repeat(20));
        assert_eq!(
            unscaled(&wide, 76, 20),
            Ok(format!("{}{}", "9".repeat(40), "1".repeat(20)))
        );
        assert!(unscaled("1.25", 10, 1).is_err(), "rounding must fail");
        assert!(unscaled(&"9".repeat(39), 38, 0).is_err());
        assert!(unscaled("100", 4, 2).is_err());
        for bad in ["NaN", "Infinity", "-", "", ".", "1e5", "1.2.3", " 1", "--1"] {
            assert!(unscaled(bad, 38, 2).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn columns_become_decimal_arrays_of_either_width() {
        let texts: ArrayRef = std::sync::Arc::new(arrow::array::StringArray::from(vec![
            Some("1.25"),
            None,
            Some("-0.50"),
        ]));
        let narrow = parse_column(&texts, &DataType::Decimal128(5, 2)).unwrap();
        let values = narrow.as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!(values.value(0), 125);
        assert!(values.is_null(1));
        assert_eq!(values.value(2), -50);
        let wide = parse_column(&texts, &DataType::Decimal256(60, 2)).unwrap();
        assert_eq!(wide.data_type(), &DataType::Decimal256(60, 2));
        assert!(parse_column(&texts, &DataType::Decimal128(5, 1)).is_err());
    }
}
