//! SQL text per engine: identifiers, literals, and the canonical text of a
//! value. Two engines holding the same value must write the same text, so
//! that an MD5 of a row computed inside PostgreSQL equals the one computed
//! inside MariaDB. Every form is lossless for the values it is used on, so
//! equal text always means equal values under recon's rules (a difference in
//! notation only costs a fetch, never a missed difference).

use super::ValueKind;
use crate::source::url::Engine;

/// How a compared column is written before hashing, agreed for both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanonicalForm {
    /// The value's own text, where both sides print it alike: integers, and
    /// decimals of one fixed scale on both sides (`12.30` and `12.30`).
    Exact,
    /// Integers, decimals and booleans as their exact decimal value with no
    /// trailing fractional zeros (`1.80` → `1.8`, `true` → `1`).
    Number,
    /// Single-precision floats, shortest round-trip text, `-0` as `0`.
    Float32,
    /// Double-precision floats, shortest round-trip text, `-0` as `0`.
    Float64,
    /// UTF-8 text, prefixed with its byte length so no separator is ambiguous.
    Text,
    /// `YYYY-MM-DD`.
    Date,
    /// Microseconds since 1970-01-01 UTC (naive timestamps read as UTC).
    Micros,
    /// Lower-case hex.
    Binary,
}

impl CanonicalForm {
    /// The form both sides can agree on, or `None` when the kinds differ too
    /// much to write the same text (the comparison then runs in recon).
    pub fn for_pair(left: ValueKind, right: ValueKind) -> Option<CanonicalForm> {
        use ValueKind::*;
        let number = |k: ValueKind| matches!(k, Int | Decimal { .. } | Bool);
        let exact = |k: ValueKind| match k {
            Int => Some(0),
            Decimal { scale } => scale,
            _ => None,
        };
        Some(match (left, right) {
            (l, r) if exact(l).is_some() && exact(l) == exact(r) => CanonicalForm::Exact,
            (l, r) if number(l) && number(r) => CanonicalForm::Number,
            (Float32, Float32) => CanonicalForm::Float32,
            (Float32 | Float64, Float32 | Float64) => CanonicalForm::Float64,
            (Text, Text) => CanonicalForm::Text,
            (Date, Date) => CanonicalForm::Date,
            (Timestamp, Timestamp) => CanonicalForm::Micros,
            (Binary, Binary) => CanonicalForm::Binary,
            _ => return None,
        })
    }
}

/// The SQL of one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect(pub Engine);

impl Dialect {
    pub fn quote(self, ident: &str) -> String {
        match self.0 {
            Engine::MySql => format!("`{}`", ident.replace('`', "``")),
            _ => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }

    /// A table name, `schema.table` quoted part by part.
    pub fn table(self, name: &str) -> String {
        name.split('.')
            .map(|part| self.quote(part))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// A string literal that means the same whatever the session's escaping
    /// mode: MySQL text holding a backslash or a control character is written
    /// as a hex literal, which no escaping mode reads differently.
    pub fn string(self, text: &str) -> String {
        let plain = !text.chars().any(|c| c == '\\' || c.is_control());
        match self.0 {
            Engine::MySql if plain => format!("'{}'", text.replace('\'', "''")),
            Engine::MySql => {
                let hex: String = text.bytes().map(|b| format!("{b:02X}")).collect();
                format!("_utf8mb4 X'{hex}'")
            }
            _ => format!("'{}'", text.replace('\'', "''")),
        }
    }

    /// The canonical text of `value` (an expression of kind `kind`), never
    /// NULL: NULL is written `N`, which no non-NULL canonical text equals.
    pub fn canonical(self, value: &str, kind: ValueKind, form: CanonicalForm) -> String {
        let pg = self.0 == Engine::Postgres;
        let text = match (form, kind) {
            (CanonicalForm::Number, ValueKind::Bool) if pg => {
                format!("CASE WHEN {value} THEN '1' ELSE '0' END")
            }
            (CanonicalForm::Number, ValueKind::Bool) => {
                format!("CASE WHEN {value} <> 0 THEN '1' ELSE '0' END")
            }
            (CanonicalForm::Exact, _) if pg => format!("({value})::text"),
            (CanonicalForm::Exact, _) => format!("CAST({value} AS CHAR)"),
            (CanonicalForm::Number, ValueKind::Decimal { scale }) if scale != Some(0) => {
                if pg {
                    format!("trim_scale({value})::text")
                } else {
                    format!("TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({value} AS CHAR)))")
                }
            }
            (CanonicalForm::Number, _) if pg => format!("({value})::text"),
            (CanonicalForm::Number, _) => format!("CAST({value} AS CHAR)"),
            (CanonicalForm::Float32, _) if pg => {
                format!("CASE WHEN {value} = 0 THEN '0' ELSE ({value})::float4::text END")
            }
            (CanonicalForm::Float64, _) if pg => {
                format!("CASE WHEN {value} = 0 THEN '0' ELSE ({value})::float8::text END")
            }
            (CanonicalForm::Float64, ValueKind::Float32) => {
                format!(
                    "CASE WHEN {value} = 0 THEN '0' ELSE CAST(CAST({value} AS DOUBLE) AS CHAR) END"
                )
            }
            (CanonicalForm::Float32 | CanonicalForm::Float64, _) => {
                format!("CASE WHEN {value} = 0 THEN '0' ELSE CAST({value} AS CHAR) END")
            }
            (CanonicalForm::Text, _) if pg => {
                format!("octet_length({value})::text || ':' || {value}")
            }
            // MySQL text values arrive as UTF-8 (the column's `value`
            // converts those stored in another character set).
            (CanonicalForm::Text, _) => format!("CONCAT(OCTET_LENGTH({value}), ':', {value})"),
            (CanonicalForm::Date, _) if pg => format!("to_char({value}, 'YYYY-MM-DD')"),
            (CanonicalForm::Date, _) => format!("DATE_FORMAT({value}, '%Y-%m-%d')"),
            (CanonicalForm::Micros, _) => {
                let micros = self.epoch_micros(value);
                if pg {
                    format!("({micros})::text")
                } else {
                    format!("CAST({micros} AS CHAR)")
                }
            }
            (CanonicalForm::Binary, _) if pg => format!("encode({value}, 'hex')"),
            (CanonicalForm::Binary, _) => format!("LOWER(HEX({value}))"),
        };
        format!("COALESCE({text}, 'N')")
    }

    /// Microseconds since the epoch of a timestamp expression, as a 64-bit
    /// integer (exact; a naive timestamp is read as UTC, the session's zone).
    pub fn epoch_micros(self, value: &str) -> String {
        match self.0 {
            Engine::MySql => format!("TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {value})"),
            _ => format!("(extract(epoch from {value}) * 1000000)::int8"),
        }
    }

    /// A 60-bit unsigned integer from the MD5 of `text`: positive in both
    /// engines, and summable without overflow as NUMERIC / DECIMAL.
    pub fn hash60(self, text: &str) -> String {
        match self.0 {
            Engine::MySql => {
                format!("CAST(CONV(SUBSTRING(MD5({text}), 1, 15), 16, 10) AS UNSIGNED)")
            }
            _ => format!("('x' || substr(md5({text}), 1, 15))::bit(60)::int8"),
        }
    }

    /// The canonical text of a row: its parts joined with `|` (each part is
    /// length-prefixed text, `N`, or a form that cannot contain `|`).
    pub fn row_text(self, parts: &[String]) -> String {
        match self.0 {
            Engine::MySql => format!("CONCAT_WS('|', {})", parts.join(", ")),
            _ => format!("concat_ws('|', {})", parts.join(", ")),
        }
    }

    /// Integer division of `a` by `b`.
    pub fn div(self, a: &str, b: &str) -> String {
        match self.0 {
            Engine::MySql => format!("({a}) DIV {b}"),
            _ => format!("({a}) / {b}"),
        }
    }

    /// `(value - base) / width` in exact decimal arithmetic, for key ranges
    /// wider than 64-bit integers can span.
    pub fn wide_leaf(self, value: &str, base: i128, width: i128) -> String {
        match self.0 {
            Engine::MySql => format!("(CAST({value} AS DECIMAL(20,0)) - {base}) DIV {width}"),
            _ => format!("div(({value})::numeric - {base}, {width})"),
        }
    }

    /// `value` as a 64-bit signed integer (so arithmetic on narrow columns
    /// cannot overflow).
    pub fn as_bigint(self, value: &str) -> String {
        match self.0 {
            Engine::MySql => value.to_string(),
            _ => format!("({value})::int8"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers_cannot_break_out() {
        let pg = Dialect(Engine::Postgres);
        let my = Dialect(Engine::MySql);
        assert_eq!(pg.string("O'Brien"), "'O''Brien'");
        assert_eq!(my.string("a\\'"), "_utf8mb4 X'615C27'");
        assert_eq!(my.string("O'Brien"), "'O''Brien'");
        assert_eq!(my.string("tab\there"), "_utf8mb4 X'7461620968657265'");
        assert_eq!(pg.quote("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(my.quote("we`ird"), "`we``ird`");
        assert_eq!(pg.table("s.t"), "\"s\".\"t\"");
    }

    #[test]
    fn forms_need_comparable_kinds() {
        use ValueKind::*;
        assert_eq!(
            CanonicalForm::for_pair(Int, Decimal { scale: Some(2) }),
            Some(CanonicalForm::Number)
        );
        assert_eq!(
            CanonicalForm::for_pair(Decimal { scale: Some(2) }, Decimal { scale: Some(2) }),
            Some(CanonicalForm::Exact)
        );
        assert_eq!(
            CanonicalForm::for_pair(Decimal { scale: None }, Decimal { scale: None }),
            Some(CanonicalForm::Number)
        );
        assert_eq!(
            CanonicalForm::for_pair(Int, Int),
            Some(CanonicalForm::Exact)
        );
        assert_eq!(
            CanonicalForm::for_pair(Float32, Float64),
            Some(CanonicalForm::Float64)
        );
        assert_eq!(CanonicalForm::for_pair(Int, Text), None);
        assert_eq!(CanonicalForm::for_pair(Date, Timestamp), None);
    }
}
