//! The checksum pushdown against reading both sides whole, and both against
//! the truth: random table pairs over every supported type pair, on real
//! PostgreSQL and MariaDB servers, in every engine pairing. Each case writes
//! rows whose logical values the test chooses (so it knows which rows
//! differ), runs `recon diff` with and without `--no-pushdown`, and fails on
//! any disagreement between the three.
//!
//! `RECON_MODES_CASES` sets the number of cases (default 40, the quick run
//! CI does); `RECON_MODES_SEED` replays one run. A failure prints the seed,
//! the case number and the tables' SQL.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use common::*;
use mysql_async::prelude::Queryable;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

/// A value as the test means it, written alike into either engine.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Null,
    Int(i64),
    Bool(bool),
    /// Unscaled digits and scale; equal by number (`1.50` == `1.5`).
    Dec(i128, u32),
    F32(f32),
    F64(f64),
    Text(String),
    /// Days since 1970-01-01; `i32::MAX` / `i32::MIN` are the infinities.
    Date(i32),
    /// Microseconds since 1970-01-01 UTC; `i64::MAX` / `i64::MIN` infinities.
    Ts(i64),
    Bytes(Vec<u8>),
}

/// What kind of value a column holds, and how it is declared on each engine.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Int32,
    Int64,
    Bool,
    Dec {
        precision: u32,
        scale: u32,
        bare_pg: bool,
    },
    Real,
    /// PostgreSQL `real` / MariaDB `double`: a float against a double.
    RealDouble,
    Double,
    Text,
    /// Text under a case-folding collation (MariaDB) / a nondeterministic
    /// ICU one (PostgreSQL, UTF-8 databases only).
    TextFolding,
    /// MariaDB text stored as LATIN1.
    TextLatin1,
    Char,
    Date,
    Timestamp,
    TimestampTz,
    Bytes,
    Uuid,
    Enum,
}

const KINDS: &[Kind] = &[
    Kind::Int32,
    Kind::Int64,
    Kind::Bool,
    Kind::Dec {
        precision: 12,
        scale: 3,
        bare_pg: false,
    },
    Kind::Dec {
        precision: 38,
        scale: 10,
        bare_pg: false,
    },
    Kind::Dec {
        precision: 50,
        scale: 20,
        bare_pg: false,
    },
    Kind::Dec {
        precision: 40,
        scale: 15,
        bare_pg: true,
    },
    Kind::Real,
    Kind::RealDouble,
    Kind::Double,
    Kind::Text,
    Kind::TextFolding,
    Kind::TextLatin1,
    Kind::Char,
    Kind::Date,
    Kind::Timestamp,
    Kind::TimestampTz,
    Kind::Bytes,
    Kind::Uuid,
    Kind::Enum,
];

const MOODS: &[&str] = &["sad", "ok", "happy", "Ok"];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Engine {
    Pg,
    PgLatin1,
    My,
}

impl Engine {
    fn pg(self) -> bool {
        self != Engine::My
    }
}

/// What one side's engine can hold, so values stay writable on both sides.
#[derive(Clone, Copy)]
struct Limits {
    /// Both sides are PostgreSQL: BC dates, infinities, NaN.
    pg_only: bool,
    /// Some side stores text as LATIN1.
    latin1: bool,
    /// Text is ASCII but for an occasional 'é', so that a row's only
    /// non-ASCII text can be the one a change touches.
    sparse: bool,
}

impl Kind {
    fn declare(self, engine: Engine) -> String {
        let pg = engine.pg();
        match self {
            Kind::Int32 => "int".into(),
            Kind::Int64 => "bigint".into(),
            Kind::Bool if pg => "boolean".into(),
            Kind::Bool => "tinyint(1)".into(),
            Kind::Dec { bare_pg: true, .. } if pg => "numeric".into(),
            Kind::Dec {
                precision, scale, ..
            } => format!("decimal({precision},{scale})"),
            Kind::Real if pg => "real".into(),
            Kind::Real => "float".into(),
            Kind::RealDouble if pg => "real".into(),
            Kind::RealDouble => "double".into(),
            Kind::Double if pg => "double precision".into(),
            Kind::Double => "double".into(),
            Kind::Text | Kind::TextLatin1 if pg => "text".into(),
            Kind::Text => "varchar(40) COLLATE utf8mb4_bin".into(),
            Kind::TextFolding if engine == Engine::Pg => "text COLLATE folding".into(),
            Kind::TextFolding if pg => "text".into(),
            Kind::TextFolding => "varchar(40) COLLATE utf8mb4_general_ci".into(),
            Kind::TextLatin1 => "varchar(40) CHARACTER SET latin1".into(),
            Kind::Char => "char(6)".into(),
            Kind::Date => "date".into(),
            Kind::Timestamp if pg => "timestamp(6)".into(),
            Kind::Timestamp => "datetime(6)".into(),
            Kind::TimestampTz if pg => "timestamptz".into(),
            Kind::TimestampTz => "timestamp(6) NULL".into(),
            Kind::Bytes if pg => "bytea".into(),
            Kind::Bytes => "varbinary(20)".into(),
            Kind::Uuid if pg => "uuid".into(),
            Kind::Uuid => "char(36)".into(),
            Kind::Enum if pg => "mood".into(),
            Kind::Enum => "enum('sad','ok','happy','Ok')".into(),
        }
    }

    fn latin1_text(self) -> bool {
        matches!(self, Kind::TextLatin1)
    }

    fn generate(self, rng: &mut SmallRng, limits: Limits) -> Val {
        if rng.random_ratio(1, 8) {
            return Val::Null;
        }
        match self {
            Kind::Int32 => Val::Int(edge_or(
                rng,
                &[0, 1, -1, i32::MIN as i64, i32::MAX as i64],
                |r| r.random_range(i32::MIN as i64..=i32::MAX as i64),
            )),
            Kind::Int64 => Val::Int(edge_or(rng, &[0, -1, i64::MIN, i64::MAX], |r| r.random())),
            Kind::Bool => Val::Bool(rng.random()),
            Kind::Dec {
                precision,
                scale,
                bare_pg,
            } => {
                // Bare PostgreSQL numerics are written with any scale up to
                // the other side's.
                let scale_used = if bare_pg {
                    rng.random_range(0..=scale)
                } else {
                    scale
                };
                let digits = rng.random_range(1..=precision.min(38) - (scale - scale_used));
                let max = 10i128.pow(digits) - 1;
                let v = edge_or(rng, &[0, max, -max, 1, -1], |r| r.random_range(-max..=max));
                Val::Dec(v, scale_used)
            }
            Kind::Real | Kind::RealDouble => Val::F32(float32(rng, limits)),
            Kind::Double => Val::F64(float64(rng, limits)),
            Kind::Text | Kind::TextFolding | Kind::TextLatin1 => Val::Text(text(
                rng,
                12,
                limits.latin1 || self.latin1_text(),
                limits.sparse,
            )),
            Kind::Char => {
                // Trailing spaces are padding: char(n) stores none of them.
                let t = text(rng, 6, limits.latin1, limits.sparse);
                Val::Text(t.trim_end_matches(' ').to_string())
            }
            Kind::Date => {
                if limits.pg_only && rng.random_ratio(1, 6) {
                    return Val::Date(
                        *[i32::MAX, i32::MIN, -800_000, -719_529]
                            .choose(rng)
                            .unwrap_or(&0),
                    );
                }
                // Years 1000 to 9999, which MariaDB holds.
                Val::Date(rng.random_range(-354_285..=2_932_896))
            }
            Kind::Timestamp => {
                if limits.pg_only && rng.random_ratio(1, 6) {
                    return Val::Ts(
                        *[i64::MAX, i64::MIN, -70_000_000_000_000_000]
                            .choose(rng)
                            .unwrap_or(&0),
                    );
                }
                Val::Ts(rng.random_range(-30_610_224_000_000_000..=253_402_300_799_999_999))
            }
            // MariaDB's TIMESTAMP: 1970 to 2038.
            Kind::TimestampTz => Val::Ts(rng.random_range(1_000_000..=2_147_483_647_000_000)),
            Kind::Bytes => {
                let n = rng.random_range(0..6);
                Val::Bytes(
                    (0..n)
                        .map(|_| *[0u8, b'|', b':', 0xff, 0x41].choose(rng).unwrap_or(&0))
                        .collect(),
                )
            }
            Kind::Uuid => Val::Text(format!(
                "{:08x}-0000-4000-8000-{:012x}",
                rng.random_range(0..4u32),
                rng.random_range(0..3u64)
            )),
            Kind::Enum => Val::Text(MOODS.choose(rng).unwrap_or(&"ok").to_string()),
        }
    }

    /// A value close to `v` where a sloppy comparison goes wrong.
    fn nudge(self, v: &Val, rng: &mut SmallRng, limits: Limits) -> Val {
        match (self, v) {
            (_, Val::Null) => self.generate(rng, limits),
            (Kind::Bool, Val::Bool(b)) if rng.random() => Val::Bool(!b),
            (_, _) if rng.random_ratio(1, 4) => Val::Null,
            (_, Val::Int(i)) => {
                let max = if self == Kind::Int32 {
                    i64::from(i32::MAX)
                } else {
                    i64::MAX
                };
                Val::Int(if *i < max { i + 1 } else { i - 1 })
            }
            (
                Kind::Dec {
                    precision, scale, ..
                },
                Val::Dec(d, s),
            ) => {
                // One unit in the last place, within what both sides hold.
                let max = 10i128.pow(precision.min(38) - (scale - s)) - 1;
                Val::Dec(if *d < max { d + 1 } else { d - 1 }, *s)
            }
            (_, Val::F32(f)) => Val::F32(if *f == 0.0 { 1e-45 } else { next_f32(*f) }),
            (_, Val::F64(f)) => Val::F64(if *f == 0.0 { 5e-324 } else { next_f64(*f) }),
            (Kind::Enum, Val::Text(t)) => {
                Val::Text(if t == "ok" { "Ok".into() } else { "ok".into() })
            }
            (Kind::Uuid, Val::Text(_)) => self.generate(rng, limits),
            (_, Val::Text(t)) => {
                let latin1 = limits.latin1 || self.latin1_text();
                let max = if self == Kind::Char { 6 } else { 12 };
                // Double-encoded UTF-8 (mojibake): 'Ã©' is the bytes of a
                // UTF-8 'é' read as LATIN1.
                let mojibake = limits.sparse || rng.random();
                if t.contains("Ã©") && mojibake && rng.random() {
                    return Val::Text(t.replacen("Ã©", "é", 1));
                }
                if t.contains('é') && t.chars().count() < max && mojibake {
                    return Val::Text(t.replacen('é', "Ã©", 1));
                }
                let mut chars: Vec<char> = t.chars().collect();
                let flip = chars.iter().position(|c| {
                    let other: Vec<char> = if c.is_uppercase() {
                        c.to_lowercase().collect()
                    } else {
                        c.to_uppercase().collect()
                    };
                    other.len() == 1 && other[0] != *c && (!latin1 || u32::from(other[0]) <= 0xff)
                });
                match flip {
                    // Case alone: a folding collation must not hide it.
                    Some(i) if rng.random() => {
                        let c = chars[i];
                        chars[i] = if c.is_uppercase() {
                            c.to_lowercase().next().unwrap_or(c)
                        } else {
                            c.to_uppercase().next().unwrap_or(c)
                        };
                    }
                    // A trailing space is data in text, padding in char(n).
                    _ if self != Kind::Char && chars.len() < max => chars.push(' '),
                    _ if chars.len() < max => chars.push('|'),
                    _ => {
                        let last = chars.len() - 1;
                        chars[last] = if chars[last] == 'a' { 'b' } else { 'a' };
                    }
                }
                Val::Text(chars.into_iter().collect())
            }
            (_, Val::Date(d)) => Val::Date(match *d {
                i32::MAX | i32::MIN => 0,
                // Same day and month, other era (1 BC is year 0).
                d if limits.pg_only && d < -719_162 => d + 2 * 365,
                d => d + 1,
            }),
            (_, Val::Ts(t)) => Val::Ts(match *t {
                i64::MAX | i64::MIN => 0,
                t if self == Kind::TimestampTz => t + 1,
                t => t.saturating_add(1),
            }),
            (_, Val::Bytes(b)) => {
                let mut b = b.clone();
                b.push(0);
                Val::Bytes(b)
            }
            _ => self.generate(rng, limits),
        }
    }
}

fn edge_or<T: Copy>(rng: &mut SmallRng, edges: &[T], any: impl Fn(&mut SmallRng) -> T) -> T {
    if rng.random_ratio(1, 5) {
        *edges.choose(rng).unwrap_or(&edges[0])
    } else {
        any(rng)
    }
}

fn float32(rng: &mut SmallRng, limits: Limits) -> f32 {
    let edges = [
        0.0f32,
        -0.0,
        16_777_216.0,
        0.1,
        f32::MAX,
        f32::MIN_POSITIVE,
        1e-45,
        -1.5,
    ];
    let mut f = edge_or(rng, &edges, |r| f32::from_bits(r.random()));
    if !f.is_finite() {
        f = if limits.pg_only && rng.random() {
            f32::NAN
        } else {
            1.25
        };
    }
    f
}

fn float64(rng: &mut SmallRng, limits: Limits) -> f64 {
    let edges = [
        0.0,
        -0.0,
        0.1,
        1e300,
        5e-324,
        f64::MAX,
        1e15,
        1e-5,
        123_456_789.0,
    ];
    let mut f = edge_or(rng, &edges, |r| f64::from_bits(r.random()));
    if !f.is_finite() {
        f = if limits.pg_only && rng.random() {
            f64::INFINITY
        } else {
            2.5
        };
    }
    f
}

fn next_f32(f: f32) -> f32 {
    let n = f32::from_bits(f.to_bits() + 1);
    if n.is_finite() {
        n
    } else {
        f32::from_bits(f.to_bits() - 1)
    }
}

fn next_f64(f: f64) -> f64 {
    let n = f64::from_bits(f.to_bits() + 1);
    if n.is_finite() {
        n
    } else {
        f64::from_bits(f.to_bits() - 1)
    }
}

/// Key text: letters that differ by case alone, separators, no spaces (a
/// pad-space collation ignores trailing ones) and nothing an accent- or
/// width-insensitive collation would fold.
fn key_text_value(rng: &mut SmallRng) -> String {
    const KEY: &[char] = &['a', 'A', 'b', 'K', 'k', '1', '|', ':', '_'];
    let n = rng.random_range(1..=5);
    (0..n).map(|_| *KEY.choose(rng).unwrap_or(&'a')).collect()
}

/// Text of up to `max` characters with separators, spaces, case pairs and
/// non-ASCII letters (only Latin-1 ones when `latin1`; only a rare 'é'
/// when `sparse`).
fn text(rng: &mut SmallRng, max: usize, latin1: bool, sparse: bool) -> String {
    const ASCII: &[char] = &['a', 'A', 'k', 'K', '|', ':', ' ', '1', '\'', 'N', 'ß'];
    const WIDE: &[char] = &['é', 'Ã', '©', '€', '😀', 'ÿ', 'Ÿ'];
    let n = rng.random_range(0..=max);
    if sparse {
        // ASCII, an occasional 'é', or its double-encoded form 'Ã©'.
        let mut t = String::new();
        while t.chars().count() + 1 < n {
            match rng.random_range(0..12) {
                0 => t.push('é'),
                1 => t.push_str("Ã©"),
                _ => t.push(*ASCII[..10].choose(rng).unwrap_or(&'a')),
            }
        }
        return t;
    }
    (0..n)
        .map(|_| {
            let c = if rng.random_ratio(1, 4) {
                *WIDE.choose(rng).unwrap_or(&'e')
            } else {
                *ASCII.choose(rng).unwrap_or(&'a')
            };
            if latin1 && u32::from(c) > 0xff {
                'e'
            } else {
                c
            }
        })
        .collect()
}

/// Whether two values are equal under recon's default semantics.
fn same(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Dec(x, s), Val::Dec(y, t)) => {
            let (x, y) = if s > t {
                (*x, y * 10i128.pow(s - t))
            } else {
                (x * 10i128.pow(t - s), *y)
            };
            x == y
        }
        (Val::F32(x), Val::F32(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Val::F64(x), Val::F64(y)) => x == y || (x.is_nan() && y.is_nan()),
        _ => a == b,
    }
}

/// `v` as a SQL literal for a column of `kind` in `engine`.
fn literal(v: &Val, kind: Kind, engine: Engine) -> String {
    let pg = engine.pg();
    let quote = |t: &str| format!("'{}'", t.replace('\'', "''"));
    match v {
        Val::Null => "NULL".into(),
        Val::Int(i) => i.to_string(),
        Val::Bool(b) if pg => b.to_string(),
        Val::Bool(b) => u8::from(*b).to_string(),
        Val::Dec(d, s) => {
            let digits = format!("{:0>width$}", d.unsigned_abs(), width = *s as usize + 1);
            let (whole, frac) = digits.split_at(digits.len() - *s as usize);
            let sign = if *d < 0 { "-" } else { "" };
            if frac.is_empty() {
                format!("{sign}{whole}")
            } else {
                format!("{sign}{whole}.{frac}")
            }
        }
        Val::F32(f) if pg => format!("'{}'::real", pg_float(f64::from(*f), &format!("{f:?}"))),
        Val::F64(f) if pg => format!("'{}'::float8", pg_float(*f, &format!("{f:?}"))),
        Val::F32(f) => format!("{:e}", f64::from(*f)),
        Val::F64(f) => format!("{f:e}"),
        Val::Text(t) if kind == Kind::Enum && pg => format!("{}::mood", quote(t)),
        Val::Text(t) => quote(t),
        Val::Date(i32::MAX) => "'infinity'".into(),
        Val::Date(i32::MIN) => "'-infinity'".into(),
        Val::Date(d) => quote(&era(i64::from(*d) * 86_400_000_000, "%m-%d")),
        Val::Ts(i64::MAX) => "'infinity'".into(),
        Val::Ts(i64::MIN) => "'-infinity'".into(),
        Val::Ts(t) => {
            let zone = if kind == Kind::TimestampTz && pg {
                "+00"
            } else {
                ""
            };
            quote(&format!("{}{zone}", era(*t, "%m-%d %H:%M:%S%.6f")))
        }
        Val::Bytes(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            if pg {
                format!("'\\x{hex}'::bytea")
            } else {
                format!("X'{hex}'")
            }
        }
    }
}

fn pg_float(f: f64, text: &str) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        text.to_string()
    }
}

/// `YYYY-` then `rest` of a UTC instant, with `BC` before year 1.
fn era(micros: i64, rest: &str) -> String {
    use chrono::Datelike;
    let at = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
    let tail = at.format(rest);
    match at.year() {
        y @ 1.. => format!("{y:04}-{tail}"),
        y => format!("{:04}-{tail} BC", 1 - y),
    }
}

/// One generated table pair.
struct Case {
    engines: [Engine; 2],
    key: Vec<Kind>,
    /// Declared primary key (no duplicate or NULL keys generated).
    primary: bool,
    columns: Vec<Kind>,
    rows: [Vec<Vec<Val>>; 2],
}

fn generate(rng: &mut SmallRng) -> Case {
    let engines = *[
        [Engine::Pg, Engine::My],
        [Engine::My, Engine::Pg],
        [Engine::Pg, Engine::Pg],
        [Engine::My, Engine::My],
        [Engine::PgLatin1, Engine::Pg],
        [Engine::My, Engine::PgLatin1],
    ]
    .choose(rng)
    .unwrap_or(&[Engine::Pg, Engine::My]);
    let latin1 = engines.contains(&Engine::PgLatin1);
    let limits = Limits {
        pg_only: engines.iter().all(|e| e.pg()),
        latin1,
        sparse: latin1 || rng.random_ratio(1, 4),
    };
    let key = match rng.random_range(0..5) {
        0 => vec![Kind::Int64],
        1 => vec![Kind::Int32],
        2 => vec![
            *[Kind::Text, Kind::TextFolding, Kind::Char]
                .choose(rng)
                .unwrap_or(&Kind::Text),
        ],
        3 => vec![Kind::Int32, Kind::TextFolding],
        _ => vec![Kind::Int64, Kind::Int32],
    };
    let primary = rng.random_ratio(2, 3);
    let n_columns = rng.random_range(1..=5);
    let columns: Vec<Kind> = (0..n_columns)
        .map(|_| *KINDS.choose(rng).unwrap_or(&Kind::Int32))
        .collect();
    let n_rows = *[0usize, 1, 3, 20, 60, 300].choose(rng).unwrap_or(&3);
    let mut seen = BTreeSet::new();
    let mut left = Vec::new();
    for _ in 0..n_rows * 2 {
        if left.len() == n_rows {
            break;
        }
        let k: Vec<Val> = key
            .iter()
            .map(|k| match k {
                Kind::Int64 | Kind::Int32 => Val::Int(if rng.random_ratio(1, 3) {
                    rng.random_range(-5..400)
                } else {
                    rng.random_range(i32::MIN as i64 + 1000..=i32::MAX as i64)
                }),
                _ => Val::Text(key_text_value(rng)),
            })
            .collect();
        // Keys unique byte by byte (and, under a primary key, under the
        // collations too: no case-only pairs there).
        let id = format!("{k:?}");
        let folded = if primary {
            id.to_lowercase().trim_end().to_string()
        } else {
            id
        };
        if !seen.insert(folded) {
            continue;
        }
        let mut row = k;
        row.extend(columns.iter().map(|c| c.generate(rng, limits)));
        left.push(row);
    }
    if !primary && !left.is_empty() {
        // A duplicated key, and a NULL one, on some cases.
        if rng.random_ratio(1, 3) {
            let copy = left[rng.random_range(0..left.len())].clone();
            left.push(copy);
        }
        if rng.random_ratio(1, 3) {
            let mut row = left[0].clone();
            row[rng.random_range(0..key.len())] = Val::Null;
            left.push(row);
        }
    }
    let mut right = Vec::new();
    let mut fresh = 0i64;
    for row in &left {
        match rng.random_range(0..10) {
            0 => {} // deleted
            1 | 2 => {
                let mut row = row.clone();
                let c = rng.random_range(0..columns.len());
                row[key.len() + c] = columns[c].nudge(&row[key.len() + c], rng, limits);
                right.push(row);
            }
            3 => {
                let mut row = row.clone();
                let c = rng.random_range(0..columns.len());
                row[key.len() + c] = columns[c].generate(rng, limits);
                right.push(row);
            }
            _ => {
                // Unchanged, though a bare numeric may be written with
                // another scale (1.5 and 1.50 are equal).
                let mut row = row.clone();
                for (c, kind) in columns.iter().enumerate() {
                    if let (
                        Kind::Dec {
                            precision,
                            scale,
                            bare_pg: true,
                        },
                        Val::Dec(d, s),
                    ) = (kind, &row[key.len() + c])
                        && *s < *scale
                        && d.abs() < 10i128.pow(precision.min(&38) - 1 - (scale - s))
                    {
                        row[key.len() + c] = Val::Dec(d * 10, s + 1);
                    }
                }
                right.push(row);
            }
        }
        if rng.random_ratio(1, 10) {
            // A key no left row has: below the generated integers, or text
            // of letters the generated keys never use.
            fresh += 1;
            let mut row = row.clone();
            row[0] = match key[0] {
                Kind::Int64 | Kind::Int32 => Val::Int(i64::from(i32::MIN) + fresh),
                _ => Val::Text(format!("new{fresh}")),
            };
            right.push(row);
        }
    }
    // Rows in another order than the left's.
    if rng.random() {
        right.reverse();
    }
    Case {
        engines,
        key,
        primary,
        columns,
        rows: [left, right],
    }
}

/// The servers and databases every case writes its tables into.
struct Servers {
    pg: Pg,
    latin1: Pg,
    my: My,
}

impl Servers {
    fn create_table(&self, engine: Engine, name: &str, case: &Case, side: usize) -> String {
        let columns: Vec<String> = case
            .key
            .iter()
            .chain(&case.columns)
            .enumerate()
            .map(|(i, k)| {
                let not_null = if i < case.key.len() && case.primary {
                    " NOT NULL"
                } else {
                    ""
                };
                format!("c{i} {}{not_null}", k.declare(engine))
            })
            .collect();
        let key_names: Vec<String> = (0..case.key.len()).map(|i| format!("c{i}")).collect();
        let primary = if case.primary {
            format!(", PRIMARY KEY ({})", key_names.join(", "))
        } else {
            String::new()
        };
        let mut sql = format!("CREATE TABLE {name} ({}{primary})", columns.join(", "));
        if engine == Engine::My {
            sql.push_str(" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
        }
        let kinds: Vec<Kind> = case.key.iter().chain(&case.columns).copied().collect();
        let mut statements = vec![sql];
        for chunk in case.rows[side].chunks(100) {
            let mut values = String::new();
            for (r, row) in chunk.iter().enumerate() {
                let literals: Vec<String> = row
                    .iter()
                    .zip(&kinds)
                    .map(|(v, k)| literal(v, *k, engine))
                    .collect();
                let _ = write!(
                    values,
                    "{}({})",
                    if r == 0 { "" } else { ", " },
                    literals.join(", ")
                );
            }
            statements.push(format!("INSERT INTO {name} VALUES {values}"));
        }
        let script = statements.join(";\n");
        match engine {
            Engine::Pg => self.pg.run(&script),
            Engine::PgLatin1 => self.latin1.run(&script),
            Engine::My => self.my.run(&script),
        }
        script
    }

    fn url(&self, engine: Engine, table: &str) -> String {
        match engine {
            Engine::Pg => self.pg.url(table),
            Engine::PgLatin1 => self.latin1.url(table),
            Engine::My => self.my.url(table),
        }
    }

    fn drop_table(&self, engine: Engine, name: &str) {
        let sql = format!("DROP TABLE IF EXISTS {name}");
        match engine {
            Engine::Pg => self.pg.run(&sql),
            Engine::PgLatin1 => self.latin1.run(&sql),
            Engine::My => self.my.run(&sql),
        }
    }
}

/// The key as the JSON report shows it, joined with commas.
fn key_text(row: &[Val], key: usize) -> String {
    row[..key]
        .iter()
        .map(|v| match v {
            Val::Int(i) => i.to_string(),
            Val::Text(t) => t.clone(),
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The true differences of a case, over keys that are neither NULL nor
/// duplicated on either side; and those left-out keys.
fn truth(case: &Case) -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let k = case.key.len();
    let mut sides: [BTreeMap<String, Vec<&Vec<Val>>>; 2] = Default::default();
    let mut skipped = BTreeSet::new();
    for (s, rows) in case.rows.iter().enumerate() {
        for row in rows {
            if row[..k].contains(&Val::Null) {
                continue;
            }
            sides[s].entry(key_text(row, k)).or_default().push(row);
        }
        for (key, rows) in &sides[s] {
            if rows.len() > 1 {
                skipped.insert(key.clone());
            }
        }
    }
    let keys: BTreeSet<&String> = sides[0].keys().chain(sides[1].keys()).collect();
    let mut out = BTreeSet::new();
    for key in keys {
        if skipped.contains(key) {
            continue;
        }
        let status = match (sides[0].get(key), sides[1].get(key)) {
            (Some(_), None) => "only_left",
            (None, Some(_)) => "only_right",
            (Some(l), Some(r)) if l[0][k..].iter().zip(&r[0][k..]).all(|(a, b)| same(a, b)) => {
                continue;
            }
            _ => "changed",
        };
        out.insert((status.to_string(), key.clone()));
    }
    (out, skipped)
}

#[test]
fn pushdown_read_whole_and_the_truth_agree_on_random_tables() {
    let (Some(pg_admin), Some(my_admin)) = (server("RECON_TEST_PG"), server("RECON_TEST_MYSQL"))
    else {
        return;
    };
    let cases: u64 = std::env::var("RECON_MODES_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let seed: u64 = std::env::var("RECON_MODES_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    let servers = Servers {
        pg: Pg::create(&pg_admin, "modes"),
        latin1: Pg::create_with(
            &pg_admin,
            "modes_latin1",
            "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
        ),
        my: My::create(&my_admin, "modes"),
    };
    for pg in [&servers.pg, &servers.latin1] {
        pg.run("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'Ok')");
    }
    servers.pg.run(
        "CREATE COLLATION folding (provider = icu, locale = 'und-u-ks-level2', \
         deterministic = false)",
    );
    {
        let mut conn = servers.my.conn.lock().unwrap();
        runtime()
            .block_on(conn.query_drop("SET time_zone = '+00:00'"))
            .unwrap();
    }
    let mut fetched_cases = 0;
    let mut differing_cases = 0;
    let mut joined_cases = 0;
    for n in 0..cases {
        let mut rng = SmallRng::seed_from_u64(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let case = generate(&mut rng);
        let names = [format!("m{n}_l"), format!("m{n}_r")];
        let scripts: Vec<String> = (0..2)
            .map(|s| servers.create_table(case.engines[s], &names[s], &case, s))
            .collect();
        let urls: Vec<String> = (0..2)
            .map(|s| servers.url(case.engines[s], &names[s]))
            .collect();
        let key: Vec<String> = (0..case.key.len()).map(|i| format!("c{i}")).collect();
        let key = key.join(",");
        let context = || {
            format!(
                "seed {seed} case {n} ({:?}; replay with RECON_MODES_SEED={seed})\n{}\n{}",
                case.engines, scripts[0], scripts[1]
            )
        };
        let threads = if rng.random() { "1" } else { "3" };
        let (code, pushed) = diff(&urls[0], &urls[1], &key, &["--db-threads", threads]);
        let (whole_code, whole) = diff(&urls[0], &urls[1], &key, &["--no-pushdown"]);
        let (expected, skipped) = truth(&case);
        let drop_skipped = |r: Reported| -> BTreeSet<(String, String)> {
            r.into_keys()
                .filter(|(_, k)| !skipped.contains(k))
                .collect()
        };
        assert_same_answer(&pushed, &whole, &context());
        assert_eq!(code, whole_code, "{}", context());
        // Two tables of one PostgreSQL database: joined in it, and the
        // checksums give the same answer.
        if case.engines == [Engine::Pg, Engine::Pg] {
            let method = &pushed["stats"]["pushdown"]["method"];
            assert!(
                method == "join" || pushed["stats"]["pushdown"].is_null(),
                "{method}: {}",
                context()
            );
            let (sums_code, sums) = diff(&urls[0], &urls[1], &key, &["--no-join"]);
            assert_same_answer(&sums, &whole, &context());
            assert_eq!(sums_code, whole_code, "{}", context());
            joined_cases += u64::from(method == "join");
        }
        let null_keys = case
            .rows
            .iter()
            .flatten()
            .any(|row| row[..case.key.len()].contains(&Val::Null));
        let differ = !expected.is_empty() || !skipped.is_empty() || null_keys;
        assert_eq!(code, i32::from(differ), "exit code: {}", context());
        assert_eq!(
            drop_skipped(reported(&pushed)),
            expected,
            "against the truth: {}",
            context()
        );
        let truth_rows = |s: usize| case.rows[s].len() as u64;
        assert_eq!(
            (
                pushed["summary"]["left_rows"].as_u64(),
                pushed["summary"]["right_rows"].as_u64()
            ),
            (Some(truth_rows(0)), Some(truth_rows(1))),
            "{}",
            context()
        );
        if pushed["stats"]["pushdown"].is_object() {
            fetched_cases += 1;
        }
        differing_cases += u64::from(code == 1);
        for (engine, name) in case.engines.iter().zip(&names) {
            servers.drop_table(*engine, name);
        }
    }
    eprintln!(
        "{cases} cases (seed {seed}): {fetched_cases} compared by pushdown \
         ({joined_cases} by a join), {differing_cases} differing"
    );
    assert!(
        cases < 20 || fetched_cases * 2 > cases,
        "the pushdown ran in only {fetched_cases} of {cases} cases"
    );
}
