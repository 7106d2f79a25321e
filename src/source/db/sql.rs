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

/// How the engine's own output function prints a column's values in
/// recon's sessions (UTC, ISO dates, shortest floats), where another engine
/// may print the same values the same way. Two columns with the same
/// `Printed` and equal values print the same text, so a row hash can read
/// the column itself instead of building its canonical text (cheaper in
/// both engines); different text still means different values for every
/// pair that shares a `Printed` (where it may not, a notation difference
/// only costs a fetch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printed {
    /// Decimal digits behind an optional `-`.
    Integer,
    /// This many digits after the point, always (`1.50`).
    Fixed(i8),
    /// A double's shortest round-trip digits.
    Double,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DD HH:MM:SS`, and a fraction without trailing zeros only
    /// where one is stored (PostgreSQL's `timestamp`).
    DateTime,
    /// `YYYY-MM-DD HH:MM:SS`, then `.` and exactly this many fractional
    /// digits if there are any (MySQL's `DATETIME(n)`, `TIMESTAMP(n)`).
    DateTimeDigits(u8),
    /// PostgreSQL's `timestamptz`, with its `+00` offset.
    DateTimeOffset,
}

/// How one side of a column pair writes its values into a row hash's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintAs {
    /// The column itself, as its engine prints it.
    Itself,
    /// A PostgreSQL `timestamp` with its fraction padded to this many
    /// digits, as MySQL prints a `DATETIME(n)`.
    PaddedFraction(u8),
}

impl Printed {
    /// How each side prints a pair of columns so that equal values give
    /// equal text, or `None` when only canonical text can do that.
    pub fn alike(left: Printed, right: Printed) -> Option<[PrintAs; 2]> {
        use {PrintAs::*, Printed::*};
        match (left, right) {
            (l, r) if l == r => Some([Itself, Itself]),
            // A fraction stored in PostgreSQL, where MySQL can store none,
            // prints as the difference it is.
            (DateTime, DateTimeDigits(0)) | (DateTimeDigits(0), DateTime) => Some([Itself, Itself]),
            (DateTime, DateTimeDigits(n)) => Some([PaddedFraction(n), Itself]),
            (DateTimeDigits(n), DateTime) => Some([Itself, PaddedFraction(n)]),
            _ => None,
        }
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

    /// The condition on MySQL `information_schema`'s `TABLE_SCHEMA` and
    /// `TABLE_NAME` that picks `table` (`schema.name`, or a name in the
    /// current database), with `prefix` before each column (`s.`).
    pub fn schema_table_is(self, table: &str, prefix: &str) -> String {
        let (schema, name) = match table.split_once('.') {
            Some((s, t)) => (self.string(s), self.string(t)),
            None => ("DATABASE()".to_string(), self.string(table)),
        };
        format!("{prefix}TABLE_SCHEMA = {schema} AND {prefix}TABLE_NAME = {name}")
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
    pub fn canonical(self, value: &str, kind: ValueKind, form: CanonicalForm) -> String {
        format!(
            "COALESCE({}, 'N')",
            self.canonical_or_null(value, kind, form)
        )
    }

    /// The canonical text of `value`, NULL where the value is NULL: no
    /// branch turns NULL into a value (a `CASE` with an `ELSE` would).
    fn canonical_or_null(self, value: &str, kind: ValueKind, form: CanonicalForm) -> String {
        let pg = self.pg();
        match (form, kind) {
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
        }
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

    /// The keyed MD5 (32 hex digits) of a group's row texts joined with `;`
    /// in `order` (`None`: in the order the rows are read, for a scan known
    /// to follow the key). One MD5 per group instead of one per row: MD5's
    /// fixed cost per call (about 1 µs in both engines) was half of a
    /// row's checksum cost. Joined texts still read back one way: each text
    /// value is behind its length and no other part can hold a `;`.
    /// MySQL cuts a `GROUP_CONCAT` longer than `max_allowed_packet`, with a
    /// warning the caller must check ([`super::Session::digest_rows`]).
    pub fn ordered_digest(self, secret: &str, text: &str, order: Option<&str>) -> String {
        let order = order.map(|o| format!(" ORDER BY {o}")).unwrap_or_default();
        match self.engine {
            Engine::MySql => format!(
                "MD5({})",
                self.keyed(
                    secret,
                    &format!("GROUP_CONCAT({text}{order} SEPARATOR ';')")
                )
            ),
            _ => format!(
                "md5({})",
                self.keyed(secret, &format!("string_agg({text}, ';'{order})"))
            ),
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

    /// What a value adds to the text a row hash reads, NULL where the value
    /// is NULL (`CONCAT_WS` then skips it; the row's [`Self::null_mask`]
    /// says which values were NULL). Text is two parts, its UTF-8 byte length
    /// and its bytes, so a `|` inside it cannot shift the parts after it;
    /// a value both engines print alike (`printed_alike`) is the column
    /// itself, printed by the engine's own output function as the floor
    /// query does; anything else is its canonical text.
    ///
    /// Measured on 10M rows of seven columns, against `COALESCE` around each
    /// canonical text: 2.8 s less of MariaDB's CPU (19.3 s -> 16.5 s) and
    /// 0.6 s less of PostgreSQL's (13.6 s -> 13.0 s): MariaDB spends more on
    /// `COALESCE` and on its epoch arithmetic than on printing a `DATETIME`.
    pub fn row_part(
        self,
        value: &str,
        kind: ValueKind,
        form: CanonicalForm,
        print: Option<PrintAs>,
    ) -> String {
        match (form, print) {
            (CanonicalForm::Text, _) => format!("{}, {value}", self.utf8_length(value)),
            (_, Some(PrintAs::Itself)) => value.to_string(),
            (_, Some(PrintAs::PaddedFraction(digits))) => self.padded_fraction(value, digits),
            (_, None) => self.canonical_or_null(value, kind, form),
        }
    }

    /// A PostgreSQL `timestamp` printed as MySQL prints a `DATETIME(digits)`:
    /// `.` and zeros where it has no fraction, its fraction padded with
    /// zeros to `digits` otherwise. Never cut: a fraction of more digits
    /// (a value MySQL cannot store), a BC date or a five-digit year stays
    /// longer than any MySQL text, so it still differs. MariaDB would pay
    /// 1.3 s more CPU per 10M rows for epoch microseconds than for printing
    /// the column; this costs PostgreSQL what the microseconds did.
    fn padded_fraction(self, value: &str, digits: u8) -> String {
        let width = 20 + u32::from(digits);
        let zeros = "0".repeat(usize::from(digits));
        format!(
            "({value})::text || CASE WHEN {value} = date_trunc('second', {value}) THEN '.{zeros}' \
             ELSE repeat('0', {width} - octet_length(({value})::text)) END"
        )
    }

    /// An integer whose bit `i` is set when `nullable[i]` (a value
    /// expression, or `None` for a column the catalog proves NOT NULL) is
    /// NULL: with it in front, a row's text still reads back one way once
    /// `CONCAT_WS` has skipped its NULL parts. At most 62 bits.
    pub fn null_mask(self, nullable: &[(u32, &str)]) -> String {
        if nullable.is_empty() {
            return "0".into();
        }
        let terms: Vec<String> = nullable
            .iter()
            .map(|&(bit, value)| {
                let weight = 1u64 << bit;
                match self.engine {
                    Engine::MySql => format!("({value} IS NULL) * {weight}"),
                    _ => format!("CASE WHEN {value} IS NULL THEN {weight} ELSE 0 END"),
                }
            })
            .collect();
        match self.engine {
            Engine::MySql => format!("({})", terms.join(" + ")),
            _ => format!("(0::int8 + {})", terms.join(" + ")),
        }
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

    /// The text of a row: its parts joined with `|`. A key's canonical text
    /// has every part non-NULL (`N`, a form that cannot contain `|`, or
    /// `length:text`); a row hash's text starts with its NULL masks and has
    /// each text value behind its length as the part before.
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

    /// The lowest and highest value an integer key can hold (MySQL's
    /// `BIGINT UNSIGNED` reaches 2^64 - 1).
    pub fn int_bounds(self) -> (i128, i128) {
        match self.engine {
            Engine::MySql => (i128::from(i64::MIN), i128::from(u64::MAX)),
            _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
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

    #[test]
    fn only_formats_that_print_alike_are_hashed_as_printed() {
        use {PrintAs::*, Printed::*};
        assert_eq!(Printed::alike(Fixed(2), Fixed(2)), Some([Itself, Itself]));
        // `1.5` and `1.50` are equal values printed differently.
        assert_eq!(Printed::alike(Fixed(1), Fixed(2)), None);
        assert_eq!(Printed::alike(Integer, Fixed(0)), None);
        assert_eq!(
            Printed::alike(DateTime, DateTimeDigits(0)),
            Some([Itself, Itself])
        );
        assert_eq!(
            Printed::alike(DateTimeDigits(6), DateTime),
            Some([Itself, PaddedFraction(6)])
        );
        assert_eq!(Printed::alike(DateTimeDigits(3), DateTimeDigits(6)), None);
        assert_eq!(Printed::alike(DateTimeOffset, DateTimeDigits(6)), None);
        // The padding never cuts a longer text down to a MySQL one.
        let padded = Dialect::new(Engine::Postgres).padded_fraction("v", 6);
        assert!(
            padded.contains("repeat('0', 26 - octet_length((v)::text))"),
            "{padded}"
        );
        assert!(!padded.contains("rpad"), "{padded}");
    }
}
