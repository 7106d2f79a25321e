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
    /// Floats widened to double precision (exactly), shortest round-trip
    /// text, `-0` as `0`. Both engines print a double's shortest digits;
    /// only their notation for very large or small magnitudes differs, which
    /// costs a fetch, never a missed difference.
    Float,
    /// UTF-8 text, prefixed with its UTF-8 byte length so no separator is
    /// ambiguous.
    Text,
    /// Days since 1970-01-01 (`infinity` as the largest 32-bit day, as it is
    /// read); a date the engine cannot count (MySQL's zero dates) as `!` and
    /// its own text, never as NULL.
    Date,
    /// Microseconds since 1970-01-01 UTC (naive timestamps read as UTC;
    /// `infinity` as the largest 64-bit value, as it is read).
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
            (Float32 | Float64, Float32 | Float64) => CanonicalForm::Float,
            (Text, Text) => CanonicalForm::Text,
            (Date, Date) => CanonicalForm::Date,
            (Timestamp, Timestamp) => CanonicalForm::Micros,
            (Binary, Binary) => CanonicalForm::Binary,
            _ => return None,
        })
    }
}

/// The SQL of one engine, and how its database stores text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub engine: Engine,
    /// Text is stored as UTF-8 (PostgreSQL: the server encoding). When not,
    /// text is converted to UTF-8 before it is measured or hashed, so a
    /// LATIN1 `Ã©` (bytes C3 A9) is never taken for a UTF-8 `é`.
    pub utf8: bool,
}

impl Dialect {
    /// An engine's SQL for a UTF-8 database.
    pub const fn new(engine: Engine) -> Dialect {
        Dialect { engine, utf8: true }
    }

    fn pg(self) -> bool {
        self.engine != Engine::MySql
    }

    pub fn quote(self, ident: &str) -> String {
        match self.engine {
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
        match self.engine {
            Engine::MySql if plain => format!("'{}'", text.replace('\'', "''")),
            Engine::MySql => {
                let hex: String = text.bytes().map(|b| format!("{b:02X}")).collect();
                format!("_utf8mb4 X'{hex}'")
            }
            _ => format!("'{}'", text.replace('\'', "''")),
        }
    }

    /// `column` holds exactly the text of literal `text`, byte for byte:
    /// `=` under a case-, accent- or pad-insensitive collation also matches
    /// other keys, so repair adds this to the `=` it addresses a row by.
    pub fn same_text(self, column: &str, text: &str) -> String {
        match self.engine {
            Engine::Postgres => {
                format!("convert_to({column}::text, 'UTF8') = convert_to({text}, 'UTF8')")
            }
            Engine::MySql => format!(
                "CAST(CONVERT({column} USING utf8mb4) AS BINARY) = \
                 CAST(CONVERT({text} USING utf8mb4) AS BINARY)"
            ),
            Engine::Sqlite => format!("CAST({column} AS BLOB) = CAST({text} AS BLOB)"),
        }
    }

    /// The canonical text of `value` (an expression of kind `kind`), never
    /// NULL: NULL is written `N`, which no non-NULL canonical text equals.
    /// Every branch keeps NULL as NULL until that last step (a `CASE` with
    /// an `ELSE` would turn it into a value).
    pub fn canonical(self, value: &str, kind: ValueKind, form: CanonicalForm) -> String {
        let pg = self.pg();
        let text = match (form, kind) {
            (CanonicalForm::Number, ValueKind::Bool) if pg => {
                format!("CASE WHEN {value} THEN '1' WHEN NOT {value} THEN '0' END")
            }
            (CanonicalForm::Number, ValueKind::Bool) => {
                format!("CASE WHEN {value} <> 0 THEN '1' WHEN {value} = 0 THEN '0' END")
            }
            (CanonicalForm::Exact, _) => self.as_text(value),
            (CanonicalForm::Number, ValueKind::Decimal { scale }) if scale != Some(0) => {
                if pg {
                    format!("trim_scale({value})::text")
                } else {
                    format!("TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({value} AS CHAR)))")
                }
            }
            (CanonicalForm::Number, _) => self.as_text(value),
            (CanonicalForm::Float, _) if pg => {
                format!("CASE WHEN {value} = 0 THEN '0' ELSE ({value})::float8::text END")
            }
            (CanonicalForm::Float, _) => format!(
                "CASE WHEN {value} = 0 THEN '0' ELSE CAST(CAST({value} AS DOUBLE) AS CHAR) END"
            ),
            (CanonicalForm::Text, _) if pg => {
                format!("{}::text || ':' || {value}", self.utf8_length(value))
            }
            (CanonicalForm::Text, _) => {
                format!("CONCAT({}, ':', {value})", self.utf8_length(value))
            }
            (CanonicalForm::Date, _) if pg => format!("({})::text", self.epoch_days(value)),
            (CanonicalForm::Date, _) => format!(
                "COALESCE(CAST(DATEDIFF({value}, '1970-01-01') AS CHAR), \
                 CONCAT('!', CAST({value} AS CHAR)))"
            ),
            (CanonicalForm::Micros, _) if pg => format!("({})::text", self.epoch_micros(value)),
            (CanonicalForm::Micros, _) => format!(
                "COALESCE(CAST({} AS CHAR), CONCAT('!', CAST({value} AS CHAR)))",
                self.epoch_micros(value)
            ),
            (CanonicalForm::Binary, _) if pg => format!("encode({value}, 'hex')"),
            (CanonicalForm::Binary, _) => format!("LOWER(HEX({value}))"),
        };
        format!("COALESCE({text}, 'N')")
    }

    fn as_text(self, value: &str) -> String {
        if self.pg() {
            format!("({value})::text")
        } else {
            format!("CAST({value} AS CHAR)")
        }
    }

    /// Days since the epoch of a PostgreSQL date, as a 32-bit integer;
    /// `infinity` / `-infinity` as the largest / smallest one (no real date
    /// is that far), so they stay values distinct from each date and NULL.
    pub fn epoch_days(self, value: &str) -> String {
        format!(
            "CASE WHEN isfinite({value}) THEN {value} - DATE '1970-01-01' \
             WHEN {value} > 'epoch' THEN 2147483647 WHEN {value} < 'epoch' THEN (-2147483647 - 1) END"
        )
    }

    /// Microseconds since the epoch of a timestamp expression, as a 64-bit
    /// integer (exact; a naive timestamp is read as UTC, the session's zone).
    /// PostgreSQL's `infinity` / `-infinity` become the largest / smallest
    /// 64-bit values; MySQL gives NULL for a zero date, which callers check.
    ///
    /// Both are whole days (or seconds) plus the rest, in integer
    /// arithmetic, measured on 10M rows: PostgreSQL's `extract(epoch ...)`
    /// is NUMERIC arithmetic (2.2 s of CPU, against 1.3 s here; the time of
    /// day's float seconds, below 86,400, round back to exact microseconds),
    /// and MySQL's `TO_SECONDS` takes 1.0 s less than `TIMESTAMPDIFF` in a
    /// row's text. Both give what the old forms gave, NULL for a zero date.
    pub fn epoch_micros(self, value: &str) -> String {
        match self.engine {
            Engine::MySql => {
                format!("((TO_SECONDS({value}) - 62167219200) * 1000000 + MICROSECOND({value}))")
            }
            _ => format!(
                "CASE WHEN isfinite({value}) THEN (({value})::date - DATE '1970-01-01')::int8 \
                 * 86400000000 + round(date_part('epoch', ({value})::time) * 1000000)::int8 \
                 WHEN {value} > 'epoch' THEN 9223372036854775807 \
                 WHEN {value} < 'epoch' THEN (-9223372036854775807 - 1) END"
            ),
        }
    }

    /// A 60-bit unsigned integer from the MD5 of the run's `secret` and
    /// `text`: positive in both engines, and summable without overflow as
    /// NUMERIC / DECIMAL. The secret is drawn anew for each run, so nobody
    /// who writes the data can prepare rows whose digests collide.
    pub fn hash60(self, secret: &str, text: &str) -> String {
        let keyed = self.keyed(secret, text);
        match self.engine {
            Engine::MySql => {
                format!("CAST(CONV(SUBSTRING(MD5({keyed}), 1, 15), 16, 10) AS UNSIGNED)")
            }
            _ => format!("('x' || substr(md5({keyed}), 1, 15))::bit(60)::int8"),
        }
    }

    /// A 32-bit bucket number from the keyed MD5 of `text`, modulo `buckets`.
    pub fn bucket(self, secret: &str, text: &str, buckets: u64) -> String {
        let keyed = self.keyed(secret, text);
        match self.engine {
            Engine::MySql => format!(
                "(CAST(CONV(SUBSTRING(MD5({keyed}), 1, 8), 16, 10) AS UNSIGNED) % {buckets})"
            ),
            _ => format!("((('x' || substr(md5({keyed}), 1, 8))::bit(32)::int8) % {buckets})"),
        }
    }

    /// The bytes MD5 reads: the secret, then the text in UTF-8.
    fn keyed(self, secret: &str, text: &str) -> String {
        let secret = self.string(secret);
        match self.engine {
            Engine::MySql => format!("CONCAT({secret}, {text})"),
            _ if self.utf8 => format!("{secret} || {text}"),
            _ => format!("convert_to({secret} || {text}, 'UTF8')"),
        }
    }

    /// `text` in a form that groups and compares byte by byte, whatever the
    /// collation of the columns it came from (a case-folding, pad-space or
    /// nondeterministic collation would merge distinct keys).
    pub fn bytewise(self, text: &str) -> String {
        match self.engine {
            Engine::MySql => format!("CAST({text} AS BINARY)"),
            _ => format!("convert_to({text}, 'UTF8')"),
        }
    }

    /// What a value adds to the text a row hash reads: its canonical text,
    /// except that text is written as two parts, its byte length (`N` for
    /// NULL) and its bytes, so no concatenation builds `length:text` first
    /// (0.35 s of PostgreSQL's and 0.3 s of MariaDB's CPU per 10M rows with
    /// three text columns). The length says where the bytes end, so the row's
    /// text still reads back one way: `N|` is NULL, `0|` the empty string.
    pub fn hashed_parts(self, value: &str, kind: ValueKind, form: CanonicalForm) -> String {
        if form != CanonicalForm::Text {
            return self.canonical(value, kind, form);
        }
        let length = match self.pg() {
            true => format!("{}::text", self.utf8_length(value)),
            false => self.utf8_length(value),
        };
        format!("COALESCE({length}, 'N'), COALESCE({value}, '')")
    }

    /// The byte length of a text value in UTF-8. MySQL text values arrive
    /// as UTF-8 (the column's `value` converts those stored in another
    /// character set); a PostgreSQL database in another encoding converts.
    fn utf8_length(self, value: &str) -> String {
        match self.engine {
            Engine::MySql => format!("OCTET_LENGTH({value})"),
            _ if self.utf8 => format!("octet_length({value})"),
            _ => format!("octet_length(convert_to({value}, 'UTF8'))"),
        }
    }

    /// The canonical text of a row: its parts joined with `|` (each part is
    /// `N`, a form that cannot contain `|`, or text behind its byte length:
    /// `length:text` in one part, or, in a row hash's text, the length as
    /// the part before).
    pub fn row_text(self, parts: &[String]) -> String {
        match self.engine {
            Engine::MySql => format!("CONCAT_WS('|', {})", parts.join(", ")),
            _ => format!("concat_ws('|', {})", parts.join(", ")),
        }
    }

    /// Integer division of `a` by `b`.
    pub fn div(self, a: &str, b: &str) -> String {
        match self.engine {
            Engine::MySql => format!("({a}) DIV {b}"),
            _ => format!("({a}) / {b}"),
        }
    }

    /// `(value - base) / width` in exact decimal arithmetic, for key ranges
    /// wider than 64-bit integers can span.
    pub fn wide_leaf(self, value: &str, base: i128, width: i128) -> String {
        match self.engine {
            Engine::MySql => format!("(CAST({value} AS DECIMAL(20,0)) - {base}) DIV {width}"),
            _ => format!("div(({value})::numeric - {base}, {width})"),
        }
    }

    /// `value` as a 64-bit signed integer (so arithmetic on narrow columns
    /// cannot overflow).
    pub fn as_bigint(self, value: &str) -> String {
        match self.engine {
            Engine::MySql => value.to_string(),
            _ => format!("({value})::int8"),
        }
    }
}

/// `text` made safe inside a `--` comment line: a newline (or any control
/// character) in a source's name would end the comment and let the rest of
/// the name run as SQL, so each is written as an escape instead.
pub fn comment_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers_cannot_break_out() {
        let pg = Dialect::new(Engine::Postgres);
        let my = Dialect::new(Engine::MySql);
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
            Some(CanonicalForm::Float)
        );
        assert_eq!(CanonicalForm::for_pair(Int, Text), None);
        assert_eq!(CanonicalForm::for_pair(Date, Timestamp), None);
    }

    #[test]
    fn names_cannot_leave_their_comment_line() {
        let hostile = "/tmp/x\nDROP TABLE orders; --\r\u{b}.parquet";
        let safe = comment_text(hostile);
        assert!(!safe.chars().any(char::is_control), "{safe:?}");
        assert_eq!(safe, "/tmp/x\\nDROP TABLE orders; --\\r\\u{b}.parquet");
        assert_eq!(comment_text("plain é name"), "plain é name");
    }
}
