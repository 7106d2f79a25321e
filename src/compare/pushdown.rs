//! Checksum pushdown: two database sides compared by digests computed inside
//! each database, so only digests cross the network until a key range is
//! known to differ.
//!
//! Every row is written as text that both engines agree on
//! ([`crate::source::db::sql`]): a mask of its NULL values, then each value
//! as both engines print it where they print alike, else as its canonical
//! text. A leaf's digest is its row count and either
//! - the MD5 of the run's secret key and its rows' texts joined in key
//!   order, when every key column is an integer on both sides (both engines
//!   sort the rows alike): one MD5 per leaf, not per row, which halved the
//!   servers' work; a text MySQL cut short (past `max_allowed_packet`)
//!   makes its leaf divergent, never equal. Each leaf is read on its own
//!   through the key's index where one leads with it and leaves are dense;
//!   or
//! - the exact sum of the 60-bit numbers the MD5 of the secret and each
//!   row's text starts with ([`crate::canon::keyed`]): a multiset digest
//!   (row order does not matter, duplicates count), for other keys and for
//!   wide rows.
//!
//! Leaves are
//! - key ranges of equal width when the key is led by an integer column: each
//!   side's digests come from queries over chunks of the key
//!   range, run in parallel sessions sharing one snapshot, each query using
//!   the key index; a chunk that took longer than [`CHUNK_SECONDS`] shrinks
//!   the next one (pt-table-checksum's chunk-time idea). A divergent leaf is
//!   split again in SQL until it holds few rows;
//! - buckets of a hash of the key otherwise (composite, text, date keys):
//!   collation-proof, one query per side.
//!
//! The rows of divergent leaves (plus NULL and duplicated keys, which equal
//! digests could hide) are then fetched as Arrow from both sides with the
//! same predicates and compared by the normal row diff; every row not
//! fetched lies in a leaf whose digests agree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use futures::future::try_join_all;

use super::{Comparison, Spec};
use crate::error::{Error, Result, Side};
use crate::plan::{ComparePlan, SideTraits};
use crate::report::{PushdownMethod, PushdownStats};
use crate::snapshot::journal::{Finished, Journal};
use crate::source::db::{
    CanonicalForm, DatabaseSource, DbColumn, Dialect, Printed, Session, TextRows, ValueKind,
    comment_text,
};
use crate::source::url::Engine;
use crate::source::{MemorySource, Source};

/// A chunk query should take about this long; slower ones shrink the next.
pub const CHUNK_SECONDS: f64 = 0.25;
/// Keys per first-level leaf of an integer key (dense keys: rows per leaf).
const LEAF_KEYS: i128 = 1024;
/// At most this many first-level leaves.
const MAX_LEAVES: i128 = 1 << 20;
/// A divergent leaf with more rows than this is split again before fetching.
const FETCH_ROWS: u64 = 64;
/// Parts a divergent leaf is split into.
const SPLIT: i128 = 32;
/// Rows wider than this on average (the catalog's estimate) are digested
/// as sums of row hashes, not by the MD5 of a leaf's texts.
const WIDE_ROW_BYTES: u64 = 8192;
/// Rows per leaf, on average, from which leaves are read one by one.
const DENSE_LEAF_ROWS: u64 = 64;
/// At most this many leaves in one per-leaf digest statement.
const LEAVES_PER_STATEMENT: i128 = 256;
/// About the most bytes of SQL in one per-leaf digest statement.
const STATEMENT_BYTES: usize = 1 << 20;
/// Rows per hash bucket aimed at.
const BUCKET_ROWS: u64 = 64;
/// Ranges of an integer key per session, for a join in one database.
const JOIN_RANGES_PER_SESSION: usize = 4;
/// Key ranges per fetch query.
const RANGES_PER_FETCH: usize = 512;
/// Columns per NULL mask in a row hash's text (bits of a positive 64-bit
/// integer in both engines).
const MASK_BITS: usize = 62;

/// Why the two sides cannot be compared by checksums in the databases, or
/// how they can.
enum Layout {
    /// Ranges of the first key column; `ordered` when every key column is
    /// an integer on both sides, so both engines sort a leaf's rows alike
    /// and its digest can be the MD5 of its row texts in key order.
    IntegerKey {
        ordered: bool,
    },
    HashedKey,
    /// Both sides in one PostgreSQL database: one join finds the keys; cut
    /// into ranges of the first key column, joined in parallel, when that is
    /// an integer.
    Joined {
        ranged: bool,
    },
}

/// A side's part of the work: its source, sessions and SQL.
struct SideWork<'a> {
    db: &'a DatabaseSource,
    dialect: Dialect,
    sessions: Vec<Session>,
    /// A row's canonical text.
    row_text: String,
    /// The hash of a row's canonical text.
    row_hash: String,
    /// Leaf digests as the MD5 of the rows' texts in key order, not the sum
    /// of their hashes (set once the sides are open).
    ordered: Option<Ordered>,
    /// The canonical text of the key (hashed buckets).
    key_text: String,
    /// The key columns' SQL values.
    keys: Vec<String>,
    /// Per compared column (keys first), what the in-database join compares
    /// (the joined layout only).
    join_values: Vec<String>,
    /// The columns fetched (every column of the source).
    columns: Vec<&'a DbColumn>,
    queries: AtomicU64,
    /// The canonical text of the key, compared byte by byte (duplicates).
    key_bytes: String,
    /// Rows whose key is NULL (integer key: outside every leaf).
    null_rows: u64,
    /// The key is proved unique by a valid unique index over a table with no
    /// inheritance children (no duplicate query needed).
    unique: bool,
    /// Every key column is declared NOT NULL (no NULL query needed).
    no_nulls: bool,
    /// A B-tree index leads with the first key column, so a range of it is
    /// read through the index, not by a scan of the whole relation.
    range_index: bool,
    /// The primary key's columns, in order, lead the key: MySQL reads a
    /// key range in key order without being told (InnoDB keeps rows in
    /// primary-key order).
    primary_leads: bool,
    /// Why the side runs on fewer sessions than asked, for the report.
    note: Option<String>,
    /// Pause while the server runs more queries than this (`--max-load`).
    max_load: Option<u64>,
    /// Milliseconds spent paused for load.
    paused_ms: AtomicU64,
}

/// A side's ordered leaf digests (see [`Layout::IntegerKey`]).
struct Ordered {
    /// The aggregate: the keyed MD5 of a leaf's row texts in key order.
    aggregate: String,
    /// One query per leaf, each reading its key range through the index
    /// in key order (a `GROUP BY` of the leaves otherwise).
    per_leaf: bool,
}

/// Waits, before a checksum query, until the server's load is at most
/// `max` (re-read every quarter second); the time waited is added to `paused_ms`.
async fn throttle(
    session: &mut Session,
    db: &DatabaseSource,
    max: Option<u64>,
    paused_ms: &AtomicU64,
) -> Result<()> {
    let Some(max) = max else {
        return Ok(());
    };
    let started = Instant::now();
    let marker = crate::canon::keyed::sql_secret();
    while session.server_load(marker).await.map_err(|m| db.error(m))? > max {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    paused_ms.fetch_add(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    Ok(())
}

/// One leaf's digest: row count and sum of row hashes.
type Digest = (u64, u128);

/// The comparison plan and each side's SQL, or why checksums cannot run in
/// the databases.
#[allow(clippy::type_complexity)]
fn plan<'a>(
    left: &'a DatabaseSource,
    right: &'a DatabaseSource,
    spec: &Spec,
) -> Result<std::result::Result<(ComparePlan, Layout, [SideWork<'a>; 2]), String>> {
    if left.engine() == Engine::Sqlite || right.engine() == Engine::Sqlite {
        return Ok(Err("SQLite is read in-process".into()));
    }
    let traits = SideTraits {
        distinguishes_empty_from_null: true,
        declares_nullability: false,
    };
    let plan = ComparePlan::with_traits(
        &left.schema(),
        &right.schema(),
        &spec.selection,
        [traits, traits],
    )?;
    Ok(prepare(&plan, left, right, spec).map(|(layout, sides)| (plan, layout, sides)))
}

/// An integer key's MIN and MAX + 1 over both sides.
type KeySpace = (i128, i128);

/// Integer key ranges and the rows fetched from each, per side, in the key space.
type RangeRows = (Vec<(i128, i128)>, [Vec<u64>; 2], KeySpace);

/// What the checksums inside the databases leave to recon: the rows of the
/// divergent ranges, as two in-memory sources, and what the comparison of
/// those rows must be completed with ([`FetchedRows::complete`]).
pub struct FetchedRows {
    pub left: MemorySource,
    pub right: MemorySource,
    plan: ComparePlan,
    stats: PushdownStats,
    notes: Vec<String>,
    totals: [u64; 2],
    unfetched: u64,
    ranges: Option<RangeRows>,
    resumed: Option<Resumed>,
    /// The run keeps state (`--state`).
    state: bool,
    started: Instant,
    checksummed: Instant,
}

impl FetchedRows {
    /// The comparison of the fetched rows, completed to cover the whole
    /// tables: their row counts, the unfetched rows as unchanged, the key
    /// ranges, the notes and the statistics of the checksums.
    pub fn complete(self, mut comparison: Comparison) -> Result<Comparison> {
        match &self.ranges {
            Some((ranges, rows, key_space)) => {
                comparison.report.ranges = key_ranges(
                    ranges,
                    rows.clone(),
                    *key_space,
                    &comparison.rows,
                    &self.plan,
                )?;
            }
            // The row diff placed its ranges among the fetched rows only,
            // not in the whole key space.
            None => comparison
                .report
                .ranges
                .iter_mut()
                .for_each(|r| r.span = None),
        }
        let [left_total, right_total] = self.totals;
        let report = &mut comparison.report;
        report.schema.notes.extend(self.notes);
        report.summary.left_rows = left_total;
        report.summary.right_rows = right_total;
        report.summary.unchanged += self.unfetched;
        report.left.rows = left_total;
        report.right.rows = right_total;
        if let Some(resumed) = &self.resumed {
            report.schema.notes.push(format!(
                "resumed an unfinished run begun {}: the digests of {} of {} key ranges on the \
                 left and {} on the right are from then, the rest from now, so the result \
                 mixes two moments of the sources (--resume=no starts afresh)",
                resumed.since, resumed.leaves[0], resumed.of, resumed.leaves[1]
            ));
        }
        report.stats.state = Some(crate::report::StateStats {
            reused: self.resumed.is_some(),
            left_leaves_resumed: self.resumed.as_ref().map_or(0, |r| r.leaves[0]),
            right_leaves_resumed: self.resumed.as_ref().map_or(0, |r| r.leaves[1]),
            resumed_since: self.resumed.as_ref().map(|r| r.since.clone()),
            ..Default::default()
        })
        .filter(|_| self.state);
        let mut stats = self.stats;
        stats.seconds_compare = self.checksummed.elapsed().as_secs_f64();
        report.stats.seconds_total = self.started.elapsed().as_secs_f64();
        report.stats.pushdown = Some(stats);
        Ok(comparison)
    }
}

/// Runs the checksums inside both databases and fetches the rows of the
/// ranges that differ; `Err(reason)` when they cannot run there (rules or
/// types SQL cannot reproduce exactly), so the caller reads both sides
/// whole instead.
pub fn fetch(
    left: &DatabaseSource,
    right: &DatabaseSource,
    spec: &Spec,
) -> Result<std::result::Result<FetchedRows, String>> {
    let (plan, layout, mut sides) = match plan(left, right, spec)? {
        Ok(planned) => planned,
        Err(reason) => return Ok(Err(reason)),
    };
    let started = Instant::now();
    let threads = spec.db_threads.max(1);
    let runtime = left.runtime().clone();
    let (method, fetched) = runtime.block_on(async {
        if let Layout::Joined { ranged } = layout {
            return Ok((
                PushdownMethod::Join,
                joined(&mut sides, threads, ranged).await?,
            ));
        }
        let [l, r] = &mut sides;
        futures::try_join!(l.open(threads), r.open(threads))?;
        // A row whose later key column is NULL would lie in a range of the
        // first, where equal digests could hide it from the NULL-key count.
        let ranged = l.keys.len() == 1 || (l.no_nulls && r.no_nulls);
        Ok::<_, Error>(match layout {
            Layout::IntegerKey { ordered } if ranged => {
                let state = spec.state.as_deref().map(|dir| (dir, spec.resume));
                (
                    PushdownMethod::Ranges,
                    integer_key(&mut sides, state, ordered).await?,
                )
            }
            _ => (PushdownMethod::Buckets, hashed_key(&mut sides).await?),
        })
    })?;
    let checksummed = Instant::now();
    let Fetched {
        batches,
        leaves,
        divergent,
        totals,
        ranges,
        resumed,
    } = fetched;
    let mut stats = PushdownStats {
        method,
        leaves,
        divergent_leaves: divergent,
        left_queries: sides[0].queries.load(Ordering::Relaxed),
        right_queries: sides[1].queries.load(Ordering::Relaxed),
        seconds_in_databases: (checksummed - started).as_secs_f64(),
        left_seconds_paused: sides[0].paused_ms.load(Ordering::Relaxed) as f64 / 1e3,
        right_seconds_paused: sides[1].paused_ms.load(Ordering::Relaxed) as f64 / 1e3,
        ..PushdownStats::default()
    };
    let mut notes: Vec<String> = sides.iter_mut().filter_map(|s| s.note.take()).collect();
    if spec.state.is_some() && method != PushdownMethod::Ranges {
        notes.push(
            "--state: database runs resume by ranges of an integer key; this one cannot \
             (it compared by hash buckets or by a join)"
                .into(),
        );
    }
    drop(sides);
    let [left_batches, right_batches] = batches;
    let fetched_rows = |b: &[RecordBatch]| b.iter().map(|b| b.num_rows() as u64).sum::<u64>();
    let fetched_bytes = |b: &[RecordBatch]| {
        b.iter()
            .map(|b| b.get_array_memory_size() as u64)
            .sum::<u64>()
    };
    stats.left_rows_fetched = fetched_rows(&left_batches);
    stats.right_rows_fetched = fetched_rows(&right_batches);
    stats.left_bytes_fetched = fetched_bytes(&left_batches);
    stats.right_bytes_fetched = fetched_bytes(&right_batches);
    let [left_total, right_total] = totals;
    let unfetched = left_total.checked_sub(stats.left_rows_fetched);
    if unfetched.is_none() || unfetched != right_total.checked_sub(stats.right_rows_fetched) {
        return Err(Error::Unstable(format!(
            "the databases' checksums and the rows fetched disagree (left {left_total} rows, \
             {} fetched; right {right_total} rows, {} fetched): is a side changing outside \
             its snapshot?",
            stats.left_rows_fetched, stats.right_rows_fetched
        )));
    }
    let unfetched = unfetched.unwrap_or(0);
    let memory = |db: &DatabaseSource, batches: Vec<RecordBatch>| {
        MemorySource::new(db.describe(), db.schema(), vec![batches])
            .map(|m| m.positional().without_declared_nullability())
    };
    // Rows fetched per key range, counted before the batches move.
    let range_rows = ranges.as_ref().map(|(ranges, _)| {
        let key = &plan.keys[0];
        [
            rows_per_range(ranges, &left_batches, &key.left_name),
            rows_per_range(ranges, &right_batches, &key.right_name),
        ]
    });
    let ranges = match (ranges, range_rows) {
        (Some((ranges, key_space)), Some([left_rows, right_rows])) => {
            Some((ranges, [left_rows?, right_rows?], key_space))
        }
        _ => None,
    };
    Ok(Ok(FetchedRows {
        left: memory(left, left_batches)?,
        right: memory(right, right_batches)?,
        plan,
        stats,
        notes,
        totals,
        unfetched,
        ranges,
        resumed,
        state: spec.state.is_some(),
        started,
        checksummed,
    }))
}

/// Rows of `batches` in each range, by their `key` column.
fn rows_per_range(ranges: &[(i128, i128)], batches: &[RecordBatch], key: &str) -> Result<Vec<u64>> {
    let mut counts = vec![0u64; ranges.len()];
    for batch in batches {
        let Some(column) = batch.column_by_name(key) else {
            continue;
        };
        for k in int_keys(column)?.into_iter().flatten() {
            if let Some(i) = range_of(ranges, k) {
                counts[i] += 1;
            }
        }
    }
    Ok(counts)
}

/// An integer key column's values (NULL as `None`).
fn int_keys(column: &arrow::array::ArrayRef) -> Result<Vec<Option<i128>>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Decimal128Type;
    let wide = arrow::compute::cast(column, &arrow::datatypes::DataType::Decimal128(38, 0))?;
    let values = wide.as_primitive::<Decimal128Type>();
    Ok((0..values.len())
        .map(|i| values.is_valid(i).then(|| values.value(i)))
        .collect())
}

/// The range holding `k`, if any.
fn range_of(ranges: &[(i128, i128)], k: i128) -> Option<usize> {
    let i = ranges.partition_point(|r| r.1 <= k);
    (i < ranges.len() && ranges[i].0 <= k).then_some(i)
}

/// The fetched key ranges that hold differences, as the report's divergent
/// ranges (the row diff's own ranges would span the gaps between fetches).
fn key_ranges(
    ranges: &[(i128, i128)],
    [left_rows, right_rows]: [Vec<u64>; 2],
    (first, end): KeySpace,
    rows: &crate::compare::rows::RowDiff,
    plan: &ComparePlan,
) -> Result<Vec<crate::report::DivergentRange>> {
    let keys = [
        int_keys(rows.left.batch.column(0))?,
        int_keys(rows.right.batch.column(0))?,
    ];
    let mut differences = vec![0u64; ranges.len()];
    let key_of = |left: Option<usize>, right: Option<usize>| {
        left.and_then(|i| keys[0].get(i).copied().flatten())
            .or_else(|| right.and_then(|i| keys[1].get(i).copied().flatten()))
    };
    let found = rows.diffs.iter().map(|d| key_of(d.left, d.right)).chain(
        rows.duplicates
            .iter()
            .map(|d| key_of(d.left.first().copied(), d.right.first().copied())),
    );
    for k in found.flatten() {
        if let Some(i) = range_of(ranges, k) {
            differences[i] += 1;
        }
    }
    let name = plan.keys[0].left_name.clone();
    let width = (end - first).max(1) as f64;
    let fraction = |v: i128| ((v - first) as f64 / width).clamp(0.0, 1.0);
    let bound = |v: i128| {
        let number = serde_json::Number::from_i128(v).map(serde_json::Value::Number);
        number.map(|n| serde_json::Map::from_iter([(name.clone(), n)]))
    };
    Ok(ranges
        .iter()
        .enumerate()
        .filter(|&(i, _)| differences[i] > 0)
        .map(|(i, &(a, b))| crate::report::DivergentRange {
            span: Some([fraction(a), fraction(b)]),
            from: bound(a),
            to: bound(b),
            left_rows: left_rows[i],
            right_rows: right_rows[i],
            differences: differences[i],
        })
        .collect())
}

/// Checks that every compared column can be written alike by both engines,
/// and builds each side's SQL.
fn prepare<'a>(
    plan: &ComparePlan,
    left: &'a DatabaseSource,
    right: &'a DatabaseSource,
    spec: &Spec,
) -> std::result::Result<(Layout, [SideWork<'a>; 2]), String> {
    let max_load = spec.max_load;
    let joined =
        spec.join_in_database && left.engine() == Engine::Postgres && left.same_database(right);
    let mut join_values: [Vec<String>; 2] = Default::default();
    let mut parts: [Vec<String>; 2] = Default::default();
    let mut key_parts: [Vec<String>; 2] = Default::default();
    let mut keys: [Vec<String>; 2] = Default::default();
    let mut key_kinds = Vec::new();
    // Per side, the mask bit of each column that side can hold NULL in.
    let mut nulls: [Vec<(usize, String)>; 2] = Default::default();
    let mut nullable_columns = 0usize;
    for (i, column) in plan.keys.iter().chain(&plan.values).enumerate() {
        let is_key = i < plan.keys.len();
        let name = column.display_name();
        if column.rule != Default::default() || column.empty_is_null {
            return Err(format!(
                "column {name} has a comparison rule SQL cannot apply exactly"
            ));
        }
        let (Some(l), Some(r)) = (
            left.column(&column.left_name),
            right.column(&column.right_name),
        ) else {
            return Err(format!("column {name} is not a plain column"));
        };
        let Some(form) = CanonicalForm::for_pair(l.kind, r.kind) else {
            return Err(format!(
                "column {name} is {} on the left and {} on the right",
                l.db_type, r.db_type
            ));
        };
        let print = match (l.printed, r.printed) {
            (Some(lp), Some(rp)) => Printed::alike(lp, rp),
            _ => None,
        };
        // A NULL either side can hold needs a bit of the NULL mask.
        let mask_bit = (!(l.not_null && r.not_null)).then(|| {
            nullable_columns += 1;
            nullable_columns - 1
        });
        for (s, (db, c)) in [(left, l), (right, r)].into_iter().enumerate() {
            let text = db.dialect().canonical(&c.value, c.kind, form);
            if joined {
                let other = if s == 0 { r } else { l };
                join_values[s].push(join_value(c, other, &text, is_key));
            }
            let side_print = print.map(|p| p[s]);
            parts[s].push(db.dialect().row_part(&c.value, c.kind, form, side_print));
            if let Some(bit) = mask_bit.filter(|_| !c.not_null) {
                nulls[s].push((bit, c.value.clone()));
            }
            if is_key {
                key_parts[s].push(text);
                keys[s].push(c.value.clone());
            }
        }
        if is_key {
            key_kinds.push((l.kind, r.kind));
        }
    }
    // A composite key led by an integer column is cut into ranges of that
    // column (its index prefix), when no key column can be NULL (checked
    // once the sides are open: see `fetch`).
    let int_first = matches!(key_kinds.first(), Some((ValueKind::Int, ValueKind::Int)));
    let layout = match key_kinds.first() {
        _ if joined => Layout::Joined { ranged: int_first },
        Some((ValueKind::Int, ValueKind::Int)) => Layout::IntegerKey {
            ordered: key_kinds
                .iter()
                .all(|k| matches!(k, (ValueKind::Int, ValueKind::Int))),
        },
        _ => Layout::HashedKey,
    };
    // The NULL masks (62 columns each, alike on both sides: a column one
    // side proves NOT NULL adds nothing there, as its bit is always 0),
    // then the values.
    let row_parts = |s: usize| -> Vec<String> {
        let dialect = [left, right][s].dialect();
        let mut all: Vec<String> = (0..nullable_columns.div_ceil(MASK_BITS))
            .map(|chunk| {
                let bits: Vec<(u32, &str)> = nulls[s]
                    .iter()
                    .filter(|(bit, _)| bit / MASK_BITS == chunk)
                    .map(|(bit, value)| ((bit % MASK_BITS) as u32, value.as_str()))
                    .collect();
                dialect.null_mask(&bits)
            })
            .collect();
        all.extend(parts[s].iter().cloned());
        all
    };
    let work = |db: &'a DatabaseSource, s: usize| {
        let dialect = db.dialect();
        let secret = crate::canon::keyed::sql_secret();
        let key_text = dialect.row_text(&key_parts[s]);
        let row_text = dialect.row_text(&row_parts(s));
        SideWork {
            db,
            dialect,
            sessions: Vec::new(),
            row_hash: dialect.hash60(secret, &row_text),
            row_text,
            ordered: None,
            key_bytes: dialect.bytewise(&key_text),
            key_text,
            keys: keys[s].clone(),
            join_values: join_values[s].clone(),
            columns: db
                .schema()
                .fields()
                .iter()
                .filter_map(|f| db.column(f.name()))
                .collect(),
            queries: AtomicU64::new(0),
            null_rows: 0,
            unique: false,
            no_nulls: false,
            range_index: false,
            primary_leads: false,
            note: None,
            max_load,
            paused_ms: AtomicU64::new(0),
        }
    };
    Ok((layout, [work(left, 0), work(right, 1)]))
}

/// The SQL a checksum comparison sends each server, in order, for a DBA to
/// review before it runs on a primary. Nothing here runs (opening the
/// sources read their catalogs already); values only a run finds (the key's
/// range, which leaves differ) are written `:name`. `None` with the reason
/// when the comparison cannot run in the databases.
pub fn explain(
    left: &DatabaseSource,
    right: &DatabaseSource,
    spec: &Spec,
) -> Result<std::result::Result<String, String>> {
    let (_, layout, sides) = match plan(left, right, spec)? {
        Ok(planned) => planned,
        Err(reason) => return Ok(Err(reason)),
    };
    let threads = spec.db_threads.max(1);
    let mut out = Vec::new();
    for (name, side) in ["left", "right"].into_iter().zip(&sides) {
        out.push(format!("-- {name}: {}", comment_text(side.db.describe())));
        out.extend(side.db.session_sql(threads));
        if let Some(unique) = side.key_facts_sql() {
            out.push(
                "-- the key's indexes: whether one proves it unique (NOT NULL columns were \
                 read with the columns), leads with its first column, is the primary key:"
                    .into(),
            );
            out.push(format!("{unique};"));
        }
        if let Some(max) = spec.max_load {
            out.push(format!(
                "-- before each query below, until it reads at most {max} (every 0.25 s):"
            ));
            out.push(format!(
                "{};",
                crate::source::db::load_sql(side.db.engine(), crate::canon::keyed::sql_secret())
            ));
        }
        let relation = side.db.relation();
        if side.keys.len() > 1 {
            let how = match layout {
                Layout::IntegerKey { .. } => {
                    "ranges of its first column if the catalog proves every key column NOT NULL \
                     on both sides (shown below), hashed buckets otherwise"
                }
                Layout::HashedKey => "hashed buckets",
                Layout::Joined { .. } => "a join on all its columns",
            };
            out.push(format!("-- a composite key, cut into {how}"));
        }
        match layout {
            Layout::IntegerKey { ordered } => {
                let k = &side.keys[0];
                // As a side with an index leading with the key runs it.
                let shown = ordered.then(|| side.ordered_with(true, false));
                if let Some(estimate) = side.row_estimate_sql().filter(|_| ordered) {
                    out.push(format!(
                        "-- the catalog's estimates of the rows (are leaves dense?) and of a \
                         row's bytes (over {WIDE_ROW_BYTES} on either side: sums of row hashes \
                         instead of ordered digests):"
                    ));
                    out.push(format!("{estimate};"));
                }
                let view = RangeSql {
                    ordered: shown.as_ref(),
                    ..side.range_sql()
                };
                out.push("-- the key's range and NULL keys:".into());
                out.push(format!(
                    "SELECT MIN({k}), MAX({k}), SUM(CASE WHEN {k} IS NULL THEN 1 ELSE 0 END) \
                     FROM {relation};"
                ));
                out.push(format!(
                    "-- digests of leaves of :width (about {LEAF_KEYS}) keys from :lo, in \
                     chunks sized to {CHUNK_SECONDS} s, spread over the sessions; a divergent \
                     leaf again in {SPLIT} parts, until it holds at most {FETCH_ROWS} rows:"
                ));
                if ordered {
                    out.push(format!(
                        "-- (each the MD5 of the leaf's row texts in key order; one query per \
                         leaf, up to {LEAVES_PER_STATEMENT} a statement, where an index leads \
                         with the key and the last chunk's leaves held {DENSE_LEAF_ROWS} rows \
                         on average{}):",
                        if side.dialect.engine == Engine::MySql {
                            ", without ORDER BY where the primary key leads it"
                        } else {
                            ""
                        }
                    ));
                    let leaf = |i: usize| (i as i128, format!(":lo_{i}"), format!(":hi_{i}"));
                    out.push(format!("{};", view.per_leaf(&[leaf(0), leaf(1)])));
                    out.push("-- (else one GROUP BY of the leaves):".into());
                }
                out.push(format!(
                    "{};",
                    view.grouped(&view.leaf(":lo", ":width"), ":from", ":to")
                ));
                out.push("-- keys that occur twice (unless a unique index rules them out):".into());
                out.push(format!("{};", duplicates_sql(side)));
                out.push(format!(
                    "-- the rows of divergent leaves, {RANGES_PER_FETCH} ranges per query:"
                ));
                out.push(format!(
                    "SELECT {} FROM {relation} WHERE ({k} >= :from AND {k} < :to) OR ...;",
                    side.db.select_list(&side.columns)
                ));
            }
            Layout::Joined { ranged } => {
                out.push(
                    "-- both sides in one database: the left's sessions and snapshot run \
                     everything below for both"
                        .into(),
                );
                out.push(format!("SELECT COUNT(*) FROM {relation};"));
                if name == "left" {
                    let (how, range) = if ranged {
                        (
                            format!(
                                "in {} ranges of the first key column between its MIN and MAX, \
                                 spread over the sessions",
                                threads * JOIN_RANGES_PER_SESSION
                            ),
                            Some((":from", ":to")),
                        )
                    } else {
                        ("one query".to_string(), None)
                    };
                    out.push(format!(
                        "-- keys on one side only or with differing values (a full join, {how}):"
                    ));
                    out.push(format!("{};", join_sql(&sides[0], &sides[1], range)));
                }
                out.push("-- keys that occur twice (unless a unique index rules them out):".into());
                out.push(format!("{};", joined_duplicates_sql(side)));
                out.push(format!(
                    "-- the rows of those keys, {RANGES_PER_FETCH} keys per query:"
                ));
                out.push(format!(
                    "SELECT {} FROM {relation} WHERE {} IN (:keys);",
                    side.db.select_list(&side.columns),
                    sql_tuple(&side.join_values[..side.keys.len()])
                ));
            }
            Layout::HashedKey => {
                let secret = crate::canon::keyed::sql_secret();
                let bucket = side.dialect.bucket(secret, &side.key_text, 1024);
                out.push("-- the row count (sets the number of buckets):".into());
                out.push(format!("SELECT COUNT(*) FROM {relation};"));
                out.push(format!(
                    "-- digests per bucket of a keyed hash of the key (a power of two, about \
                     one per {BUCKET_ROWS} rows; 1024 shown, with this run's key):"
                ));
                out.push(format!(
                    "SELECT {bucket}, COUNT(*), SUM({}) FROM {relation} GROUP BY 1;",
                    side.row_hash
                ));
                out.push(
                    "-- buckets holding NULL keys, and duplicated keys (byte by byte), unless \
                     the catalog rules them out:"
                        .into(),
                );
                out.push(format!(
                    "SELECT MIN({bucket}) FROM {relation} GROUP BY {} HAVING COUNT(*) > 1;",
                    side.key_bytes
                ));
                out.push("-- the rows of divergent buckets:".into());
                out.push(format!(
                    "SELECT {} FROM {relation} WHERE {bucket} IN (:buckets);",
                    side.db.select_list(&side.columns)
                ));
            }
        }
        out.push(String::new());
    }
    Ok(Ok(out.join("\n")))
}

/// What the checksum phase found and fetched.
struct Fetched {
    batches: [Vec<RecordBatch>; 2],
    leaves: u64,
    divergent: u64,
    /// Rows per side, from the digests.
    totals: [u64; 2],
    /// The key ranges fetched, with an integer key, and the key's MIN and
    /// MAX + 1 over both sides.
    ranges: Option<(Vec<(i128, i128)>, KeySpace)>,
    /// First-level chunks taken from an unfinished run's journal (left,
    /// right), and when that run began.
    resumed: Option<Resumed>,
}

/// What a run took from an earlier, unfinished one.
#[derive(Debug, Clone)]
struct Resumed {
    /// First-level leaves whose digests were taken, per side.
    leaves: [u64; 2],
    /// First-level leaves in all.
    of: u64,
    /// When the earlier run began.
    since: String,
}

impl SideWork<'_> {
    /// Opens the side's sessions, all on one snapshot.
    async fn open(&mut self, threads: usize) -> Result<()> {
        (self.sessions, self.note) = self.db.snapshot_sessions(threads).await?;
        self.key_facts().await?;
        Ok(())
    }

    async fn query(&mut self, sql: &str) -> Result<TextRows> {
        let db = self.db;
        throttle(&mut self.sessions[0], db, self.max_load, &self.paused_ms).await?;
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.sessions[0]
            .text_rows(sql)
            .await
            .map_err(|m| db.error(format!("{m} (in: {})", short(sql))))
    }

    /// Runs queries over all sessions at once; results in query order.
    async fn query_all(&mut self, sqls: &[String]) -> Result<Vec<TextRows>> {
        Ok(self
            .run_all(sqls)
            .await?
            .into_iter()
            .map(|(rows, _)| rows)
            .collect())
    }

    /// [`Self::query_all`] of digest statements, each with whether a digest
    /// in it was cut ([`Session::digest_rows`]).
    async fn run_all(&mut self, sqls: &[String]) -> Result<Vec<(TextRows, bool)>> {
        let next = Mutex::new(0usize);
        let results: Vec<Mutex<Option<(TextRows, bool)>>> =
            sqls.iter().map(|_| Mutex::new(None)).collect();
        let db = self.db;
        let queries = &self.queries;
        let (max_load, paused_ms) = (self.max_load, &self.paused_ms);
        let workers = self.sessions.iter_mut().map(|session| {
            let (next, results) = (&next, &results);
            async move {
                loop {
                    let i = {
                        let mut n = next.lock().map_err(|_| poisoned())?;
                        *n += 1;
                        *n - 1
                    };
                    let Some(sql) = sqls.get(i) else {
                        return Ok::<(), Error>(());
                    };
                    throttle(session, db, max_load, paused_ms).await?;
                    queries.fetch_add(1, Ordering::Relaxed);
                    let rows = session
                        .digest_rows(sql)
                        .await
                        .map_err(|m| db.error(format!("{m} (in: {})", short(sql))))?;
                    *results[i].lock().map_err(|_| poisoned())? = Some(rows);
                }
            }
        });
        try_join_all(workers).await?;
        results
            .into_iter()
            .map(|r| {
                r.into_inner()
                    .map_err(|_| poisoned())?
                    .ok_or_else(|| Error::Internal("a checksum query did not run".into()))
            })
            .collect()
    }

    /// The catalog query behind [`Self::key_facts`]: per index (none for
    /// a query source), its key columns in order, and whether it is unique
    /// in a way that proves the key unique, the primary key, a B-tree.
    fn key_facts_sql(&self) -> Option<String> {
        let table = self.db.table()?;
        let d = self.dialect;
        Some(match self.db.engine() {
            Engine::Postgres => {
                let relation = format!("to_regclass({})", d.string(&d.table(table)));
                format!(
                    "SELECT (SELECT string_agg(a.attname, ',' ORDER BY k.n) \
                       FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
                       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                       WHERE k.n <= i.indnkeyatts), \
                     CASE WHEN i.indisunique AND NOT EXISTS \
                       (SELECT 1 FROM pg_inherits h WHERE h.inhparent = {relation}) \
                       THEN 1 ELSE 0 END, \
                     CASE WHEN i.indisprimary THEN 1 ELSE 0 END, \
                     CASE WHEN am.amname = 'btree' THEN 1 ELSE 0 END \
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     JOIN pg_am am ON am.oid = c.relam \
                     WHERE i.indrelid = {relation} AND i.indisvalid \
                       AND i.indisready AND i.indislive \
                       AND i.indpred IS NULL AND i.indexprs IS NULL"
                )
            }
            _ => format!(
                "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR ','), \
                 MAX(NON_UNIQUE) = 0, INDEX_NAME = 'PRIMARY', MAX(INDEX_TYPE) = 'BTREE' \
                 FROM information_schema.STATISTICS WHERE {} GROUP BY INDEX_NAME",
                d.schema_table_is(table, "")
            ),
        })
    }

    /// What the catalog guarantees about the key: whether a unique index
    /// covers it (no duplicates possible), whether every key column is
    /// declared NOT NULL (no NULL keys), whether a B-tree index leads with
    /// its first column, whether the primary key leads it. An index that is
    /// not valid (a failed `CREATE UNIQUE INDEX CONCURRENTLY`), partial or
    /// on expressions proves nothing, nor does a unique index of a
    /// PostgreSQL table with inheritance children (reading it reads theirs,
    /// which its constraints do not cover). Unknown for queries.
    async fn key_facts(&mut self) -> Result<()> {
        // Whether each key column is NOT NULL was read with the columns.
        let key_columns: Vec<&DbColumn> = self
            .keys
            .iter()
            .filter_map(|k| self.columns.iter().copied().find(|c| &c.value == k))
            .collect();
        let whole = key_columns.len() == self.keys.len();
        self.no_nulls = whole && key_columns.iter().all(|c| c.not_null);
        let Some(sql) = self.key_facts_sql() else {
            return Ok(());
        };
        let key_names: Vec<String> = key_columns.iter().map(|c| c.name.clone()).collect();
        let key_set: BTreeSet<&String> = key_names.iter().collect();
        for row in self.query(&sql).await? {
            let get = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
            let flag = |i: usize| get(i) == "1";
            let names = get(0);
            let columns: Vec<String> = names.split(',').map(str::to_string).collect();
            if names.is_empty() {
                continue;
            }
            self.unique |= flag(1) && columns.iter().all(|c| key_set.contains(c));
            self.range_index |= whole && flag(3) && key_names.first() == columns.first();
            self.primary_leads |= whole && flag(2) && key_names.starts_with(&columns);
        }
        Ok(())
    }

    /// The catalog's estimates of the rows and of the average row's bytes,
    /// when it has them (a table analyzed at least once, not a query).
    fn row_estimate_sql(&self) -> Option<String> {
        let table = self.db.table()?;
        let d = self.dialect;
        Some(match self.db.engine() {
            Engine::Postgres => format!(
                "SELECT c.reltuples::int8, (pg_table_size(c.oid) / c.reltuples)::int8 \
                 FROM pg_class c WHERE c.oid = to_regclass({}) AND c.reltuples > 0",
                d.string(&d.table(table))
            ),
            _ => format!(
                "SELECT TABLE_ROWS, AVG_ROW_LENGTH FROM information_schema.TABLES \
                 WHERE {} AND TABLE_ROWS > 0",
                d.schema_table_is(table, "")
            ),
        })
    }

    /// [`Self::row_estimate_sql`]'s `(rows, bytes per row)`.
    async fn row_estimate(&mut self) -> Result<Option<(u64, u64)>> {
        let Some(sql) = self.row_estimate_sql() else {
            return Ok(None);
        };
        let rows = self.query(&sql).await?;
        let row = rows.first().cloned().unwrap_or_default();
        let get = |i: usize| row.get(i).cloned().flatten().and_then(|v| v.parse().ok());
        Ok(get(0).zip(get(1)))
    }

    /// Fetches the rows matching each predicate (none: the whole relation).
    async fn fetch(&mut self, predicates: &[String]) -> Result<Vec<RecordBatch>> {
        let select = format!(
            "SELECT {} FROM {}",
            self.db.select_list(&self.columns),
            self.db.relation()
        );
        let mut batches = Vec::new();
        for predicate in predicates {
            self.queries.fetch_add(1, Ordering::Relaxed);
            let sql = format!("{select} WHERE {predicate}");
            let session = &mut self.sessions[0];
            batches.extend(self.db.fetch(session, &sql, &self.columns).await?);
        }
        Ok(batches)
    }
}

fn poisoned() -> Error {
    Error::Internal("a lock was poisoned".into())
}

/// The start of a query, for error messages.
fn short(sql: &str) -> String {
    let mut s: String = sql.chars().take(160).collect();
    if s.len() < sql.len() {
        s.push('…');
    }
    s
}

/// One SQL value alone, several as a row value `(a, b)`.
fn sql_tuple(parts: &[String]) -> String {
    match parts {
        [one] => one.clone(),
        many => format!("({})", many.join(", ")),
    }
}

/// The count a `SELECT COUNT(*)` returned.
fn count_of(rows: &TextRows) -> Result<u64> {
    parse_u64(&rows.first().and_then(|r| r.first()).cloned().flatten())
}

fn parse_u64(v: &Option<String>) -> Result<u64> {
    v.as_deref()
        .unwrap_or("0")
        .parse()
        .map_err(|_| Error::Internal(format!("a count came back as {v:?}")))
}

fn parse_u128(v: &Option<String>) -> Result<u128> {
    v.as_deref()
        .unwrap_or("0")
        .parse()
        .map_err(|_| Error::Internal(format!("a checksum came back as {v:?}")))
}

/// A digest given as hex digits (an MD5).
fn parse_hex(v: &Option<String>) -> Result<u128> {
    v.as_deref()
        .and_then(|t| u128::from_str_radix(t, 16).ok())
        .ok_or_else(|| Error::Internal(format!("a checksum came back as {v:?}")))
}

fn parse_i128(v: &Option<String>) -> Result<Option<i128>> {
    v.as_deref()
        .map(|t| {
            t.parse()
                .map_err(|_| Error::Internal(format!("a key came back as {t:?}")))
        })
        .transpose()
}

/// Integer keys: equal-width key ranges, bisected in SQL.
async fn integer_key(
    sides: &mut [SideWork<'_>; 2],
    state: Option<(&Path, bool)>,
    ordered: bool,
) -> Result<Fetched> {
    // Wide rows gain little from one MD5 per leaf, and a leaf of them
    // could pass what one text can hold (PostgreSQL: 1 GB, an error).
    let estimates = if ordered {
        [
            sides[0].row_estimate().await?,
            sides[1].row_estimate().await?,
        ]
    } else {
        [None, None]
    };
    let ordered = ordered
        && estimates
            .iter()
            .all(|e| e.is_none_or(|(_, bytes)| bytes <= WIDE_ROW_BYTES));
    if ordered {
        for side in sides.iter_mut() {
            side.ordered = Some(side.ordered_digest());
        }
    }
    // The key's range and its NULLs, on both sides.
    let bounds = |side: &SideWork<'_>| {
        let k = &side.keys[0];
        let nulls = if side.no_nulls {
            "0".to_string()
        } else {
            format!("SUM(CASE WHEN {k} IS NULL THEN 1 ELSE 0 END)")
        };
        format!(
            "SELECT MIN({k}), MAX({k}), {nulls} FROM {}",
            side.db.relation()
        )
    };
    let (lb, rb) = (bounds(&sides[0]), bounds(&sides[1]));
    let [l, r] = sides;
    let (lrows, rrows) = futures::try_join!(l.query(&lb), r.query(&rb))?;
    let mut lo: Option<i128> = None;
    let mut hi: Option<i128> = None;
    for (side, rows) in [(&mut *l, &lrows), (&mut *r, &rrows)] {
        let row = rows.first().cloned().unwrap_or_default();
        let get = |i: usize| row.get(i).cloned().flatten();
        if let Some(min) = parse_i128(&get(0))? {
            lo = Some(lo.map_or(min, |x| x.min(min)));
        }
        if let Some(max) = parse_i128(&get(1))? {
            hi = Some(hi.map_or(max, |x| x.max(max)));
        }
        side.null_rows = parse_u64(&get(2))?;
    }

    let mut ranges: Vec<(i128, i128)> = Vec::new();
    let mut leaves = 0u64;
    let mut resumed = None;
    let mut totals = [l.null_rows, r.null_rows];
    if let (Some(lo), Some(hi)) = (lo, hi) {
        let span = hi - lo + 1;
        let count = (span / LEAF_KEYS).clamp(1, MAX_LEAVES);
        let width = (span + count - 1) / count;
        let count = (span + width - 1) / width;
        leaves = count as u64;
        // With a state directory, each chunk of first-level digests is
        // journaled, and an unfinished run's chunks of the same work are
        // taken instead of being computed again.
        let digest_of = |s: &SideWork<'_>| s.ordered.as_ref().map(|o| o.aggregate.clone());
        let work = format!(
            "{lo} {width} {count}|{}|{}|{:?}|{}|{}|{:?}",
            l.db.relation(),
            l.row_hash,
            digest_of(l),
            r.db.relation(),
            r.row_hash,
            digest_of(r),
        );
        let work = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(work.as_bytes()));
        let journal = state
            .map(|(dir, resume)| Journal::open(dir, &work, resume))
            .transpose()?;
        let none = Finished::default();
        let finished = |side: usize| journal.as_ref().map_or(&none, |j| &j.finished[side]);
        // Leaves dense enough to be read one by one from the start, by
        // the catalog's count of rows.
        let dense =
            |s: usize| estimates[s].is_some_and(|(rows, _)| rows >= DENSE_LEAF_ROWS * count as u64);
        let leaves_at = Leaves { lo, width, count };
        let (ld, rd) = futures::try_join!(
            first_level(
                l,
                leaves_at,
                dense(0),
                finished(0),
                journal.as_ref().map(|j| (j, Side::Left))
            ),
            first_level(
                r,
                leaves_at,
                dense(1),
                finished(1),
                journal.as_ref().map(|j| (j, Side::Right))
            )
        )?;
        if let Some(journal) = journal {
            let leaves_resumed = [0, 1].map(|s| {
                journal.finished[s]
                    .chunks
                    .iter()
                    .map(|c| (c.1 - c.0) as u64)
                    .sum::<u64>()
            });
            if let Some(since) = journal
                .resumed_from
                .clone()
                .filter(|_| leaves_resumed.iter().any(|&c| c > 0))
            {
                resumed = Some(Resumed {
                    leaves: leaves_resumed,
                    of: count as u64,
                    since,
                });
            }
            journal.finish()?;
        }
        totals[0] += ld.leaves.values().map(|d| d.0).sum::<u64>();
        totals[1] += rd.leaves.values().map(|d| d.0).sum::<u64>();
        let mut todo: Vec<(i128, i128, u64)> = divergent(&ld, &rd)
            .map(|(start, rows)| (start, width, rows))
            .collect();
        // Split divergent leaves until each holds few rows.
        while !todo.is_empty() {
            let (small, large): (Vec<_>, Vec<_>) = todo
                .into_iter()
                .partition(|&(_, w, rows)| rows <= FETCH_ROWS || w == 1);
            ranges.extend(small.iter().map(|&(s, w, _)| (s, s + w)));
            if large.is_empty() {
                break;
            }
            let sqls = |side: &SideWork<'_>| -> Vec<String> {
                large
                    .iter()
                    .map(|&(start, w, _)| {
                        let sub = (w + SPLIT - 1) / SPLIT;
                        range_digest_sql(side, start, sub, start, start + w)
                    })
                    .collect()
            };
            let (lq, rq) = (sqls(l), sqls(r));
            let (lres, rres) = futures::try_join!(l.run_all(&lq), r.run_all(&rq))?;
            todo = Vec::new();
            let (lo, ro) = (l.ordered.is_some(), r.ordered.is_some());
            for (i, &(start, w, _)) in large.iter().enumerate() {
                let sub = (w + SPLIT - 1) / SPLIT;
                let ld = Digests::parse(&lres[i].0, start, sub, lo, lres[i].1)?;
                let rd = Digests::parse(&rres[i].0, start, sub, ro, rres[i].1)?;
                todo.extend(divergent(&ld, &rd).map(|(s, rows)| (s, sub.min(start + w - s), rows)));
            }
        }
    }

    // Duplicated keys: equal digests would hide them, so fetch them too.
    for side in [&mut *l, &mut *r] {
        if !side.unique {
            let sql = duplicates_sql(side);
            for row in side.query(&sql).await? {
                if let Some(key) = parse_i128(&row.first().cloned().flatten())? {
                    ranges.push((key, key + 1));
                }
            }
        }
    }
    let divergent_count = ranges.len() as u64;
    let ranges = merge_ranges(ranges);
    let ranges = &ranges;
    let nulls = l.null_rows + r.null_rows > 0;
    let make = |side: &SideWork<'_>| -> Vec<String> {
        let k = &side.keys[0];
        let mut p: Vec<String> = ranges
            .chunks(RANGES_PER_FETCH)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|&(a, b)| {
                        if b - a == 1 {
                            format!("{k} = {a}")
                        } else {
                            format!("({k} >= {a} AND {k} < {b})")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" OR ")
            })
            .collect();
        if nulls {
            p.push(format!("{k} IS NULL"));
        }
        p
    };
    let (lp, rp) = (make(l), make(r));
    let (lb, rb) = futures::try_join!(l.fetch(&lp), r.fetch(&rp))?;
    Ok(Fetched {
        batches: [lb, rb],
        leaves,
        divergent: divergent_count,
        totals,
        // Without a key value no range holds a difference to place.
        ranges: Some((
            ranges.clone(),
            lo.zip(hi).map_or((0, 1), |(lo, hi)| (lo, hi + 1)),
        )),
        resumed,
    })
}

/// The first key column of keys that occur more than once: grouped on the
/// column itself for a one-column key, byte by byte on the whole key's
/// canonical text for a composite one.
fn duplicates_sql(side: &SideWork<'_>) -> String {
    let k = &side.keys[0];
    let relation = side.db.relation();
    if side.keys.len() == 1 {
        format!("SELECT {k} FROM {relation} WHERE {k} IS NOT NULL GROUP BY {k} HAVING COUNT(*) > 1")
    } else {
        format!(
            "SELECT MIN({k}) FROM {relation} WHERE {k} IS NOT NULL GROUP BY {} HAVING COUNT(*) > 1",
            side.key_bytes
        )
    }
}

/// The digests of the leaves of `width` starting at `base` in `[from, to)`.
fn range_digest_sql(side: &SideWork<'_>, base: i128, width: i128, from: i128, to: i128) -> String {
    side.range_sql().sql(base, width, from, to)
}

/// A side's leaf digests, by each leaf's first key.
#[derive(Default)]
struct Digests {
    leaves: BTreeMap<i128, Digest>,
    /// Leaves whose digest may not cover all their rows (a MySQL
    /// `GROUP_CONCAT` cut at `max_allowed_packet`): divergent whatever the
    /// other side holds.
    cut: BTreeSet<i128>,
}

impl Digests {
    /// Parses `(leaf, count, digest)` rows: the digest is a decimal sum, or
    /// the hex MD5 of an ordered leaf, NULL when MySQL found the leaf's text
    /// longer than `max_allowed_packet` (cut, then). Empty leaves are left
    /// out, as a sum query leaves them out.
    fn parse(
        rows: &[Vec<Option<String>>],
        base: i128,
        width: i128,
        ordered: bool,
        cut: bool,
    ) -> Result<Digests> {
        let mut out = Digests::default();
        for row in rows {
            let get = |i: usize| row.get(i).cloned().flatten();
            let Some(leaf) = parse_i128(&get(0))? else {
                continue;
            };
            let count = parse_u64(&get(1))?;
            if count == 0 {
                continue;
            }
            let start = base + leaf * width;
            let digest = match get(2) {
                None if ordered => {
                    out.cut.insert(start);
                    0
                }
                hex if ordered => parse_hex(&hex)?,
                sum => parse_u128(&sum)?,
            };
            out.leaves.insert(start, (count, digest));
            if cut {
                out.cut.insert(start);
            }
        }
        Ok(out)
    }

    fn extend(&mut self, other: Digests) {
        self.leaves.extend(other.leaves);
        self.cut.extend(other.cut);
    }
}

/// Leaves whose digests differ (or were cut), with the larger side's row
/// count.
fn divergent<'m>(left: &'m Digests, right: &'m Digests) -> impl Iterator<Item = (i128, u64)> + 'm {
    let starts: BTreeSet<i128> = left
        .leaves
        .keys()
        .chain(right.leaves.keys())
        .copied()
        .collect();
    starts.into_iter().filter_map(move |s| {
        let (l, r) = (left.leaves.get(&s), right.leaves.get(&s));
        let cut = left.cut.contains(&s) || right.cut.contains(&s);
        (cut || l != r).then(|| (s, l.map_or(0, |d| d.0).max(r.map_or(0, |d| d.0))))
    })
}

/// Sorted, overlapping or touching ranges merged.
fn merge_ranges(mut ranges: Vec<(i128, i128)>) -> Vec<(i128, i128)> {
    ranges.sort_unstable();
    let mut out: Vec<(i128, i128)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `count` leaves of `width` keys from `lo`.
#[derive(Clone, Copy)]
struct Leaves {
    lo: i128,
    width: i128,
    count: i128,
}

/// First-level digests of one side: chunks of leaves, pulled by each
/// session in turn; each chunk's time sets the next one's size.
async fn first_level(
    side: &mut SideWork<'_>,
    Leaves { lo, width, count }: Leaves,
    dense: bool,
    finished: &Finished,
    journal: Option<(&Journal, Side)>,
) -> Result<Digests> {
    struct Schedule {
        next: i128,
        chunk: i128,
        /// The last chunk's leaves were dense enough to be read one by one
        /// (sparse keys leave most leaves empty: one probe each would cost
        /// more than the grouping).
        dense: bool,
    }
    let schedule = Mutex::new(Schedule {
        next: 0,
        chunk: 64,
        dense,
    });
    // Leaf ranges an earlier run finished, by first leaf.
    let mut done: Vec<(i128, i128)> = finished.chunks.iter().map(|c| (c.0, c.1)).collect();
    done.sort_unstable();
    let done = &done;
    let found = Mutex::new(Digests {
        leaves: finished
            .chunks
            .iter()
            .flat_map(|c| c.2.iter().map(|(k, d)| (*k, *d)))
            .collect(),
        cut: BTreeSet::new(),
    });

    let db = side.db;
    let queries = &side.queries;
    let (max_load, paused_ms) = (side.max_load, &side.paused_ms);
    // Borrowed field by field: the sessions are borrowed apart.
    let view = RangeSql {
        dialect: side.dialect,
        key: &side.keys[0],
        row_hash: &side.row_hash,
        ordered: side.ordered.as_ref(),
        relation: db.relation(),
    };
    let view = &view;
    let ordered = view.ordered.is_some();
    let per_leaf_possible = view.ordered.is_some_and(|o| o.per_leaf);
    let per_statement = view.leaves_per_statement();
    let workers = side.sessions.iter_mut().map(|session| {
        let (schedule, found) = (&schedule, &found);
        async move {
            loop {
                let (first, last, per_leaf) = {
                    let mut s = schedule.lock().map_err(|_| poisoned())?;
                    // Past the leaves an earlier run finished.
                    while let Some(&(_, end)) =
                        done.iter().find(|&&(a, b)| a <= s.next && s.next < b)
                    {
                        s.next = end;
                    }
                    if s.next >= count {
                        return Ok::<(), Error>(());
                    }
                    let first = s.next;
                    let before_done = done
                        .iter()
                        .map(|&(a, _)| a)
                        .find(|&a| a > first)
                        .unwrap_or(count);
                    let per_leaf = per_leaf_possible && s.dense;
                    let most = if per_leaf { per_statement } else { i128::MAX };
                    s.next = (first + s.chunk.min(most)).min(count).min(before_done);
                    (first, s.next, per_leaf)
                };
                let sql = view.shaped(lo, width, lo + first * width, lo + last * width, per_leaf);
                throttle(session, db, max_load, paused_ms).await?;
                let started = Instant::now();
                queries.fetch_add(1, Ordering::Relaxed);
                let (rows, cut) = session
                    .digest_rows(&sql)
                    .await
                    .map_err(|m| db.error(format!("{m} (in: {})", short(&sql))))?;
                let seconds = started.elapsed().as_secs_f64().max(1e-3);
                let parsed = Digests::parse(&rows, lo, width, ordered, cut)?;
                {
                    let mut s = schedule.lock().map_err(|_| poisoned())?;
                    let factor = (CHUNK_SECONDS / seconds).clamp(0.5, 2.0);
                    let done = last - first;
                    s.chunk = ((done as f64 * factor) as i128).max(1);
                    let rows: u64 = parsed.leaves.values().map(|d| d.0).sum();
                    s.dense = rows >= DENSE_LEAF_ROWS * done as u64;
                }
                // A chunk with a cut leaf is left to a resumed run to redo.
                if let Some((journal, side)) = journal.filter(|_| !cut) {
                    journal.record(side, first, last, &parsed.leaves)?;
                }
                found.lock().map_err(|_| poisoned())?.extend(parsed);
            }
        }
    });
    try_join_all(workers).await?;
    found.into_inner().map_err(|_| poisoned())
}

/// The pieces of a range digest query, borrowed apart from the sessions.
struct RangeSql<'s> {
    dialect: Dialect,
    key: &'s str,
    row_hash: &'s str,
    ordered: Option<&'s Ordered>,
    relation: &'s str,
}

impl SideWork<'_> {
    /// The side's ordered leaf digest, once its key facts are read: per
    /// leaf through the key's index where there is one; MySQL is not told
    /// the order where the primary key gives it.
    fn ordered_digest(&self) -> Ordered {
        let per_leaf = self.range_index;
        let implied = per_leaf && self.primary_leads && self.dialect.engine == Engine::MySql;
        self.ordered_with(per_leaf, implied)
    }

    fn ordered_with(&self, per_leaf: bool, order_implied: bool) -> Ordered {
        let order = (!order_implied).then(|| self.keys.join(", "));
        Ordered {
            aggregate: self.dialect.ordered_digest(
                crate::canon::keyed::sql_secret(),
                &self.row_text,
                order.as_deref(),
            ),
            per_leaf,
        }
    }

    fn range_sql(&self) -> RangeSql<'_> {
        RangeSql {
            dialect: self.dialect,
            key: &self.keys[0],
            row_hash: &self.row_hash,
            ordered: self.ordered.as_ref(),
            relation: self.db.relation(),
        }
    }
}

impl RangeSql<'_> {
    fn sql(&self, base: i128, width: i128, from: i128, to: i128) -> String {
        let per_leaf = self.ordered.is_some_and(|o| o.per_leaf);
        self.shaped(base, width, from, to, per_leaf)
    }

    /// Leaves one per-leaf statement may hold: MySQL's repeats the row
    /// text for each leaf, and a statement must stay well under
    /// `max_allowed_packet` (a table of hundreds of columns has a long text).
    fn leaves_per_statement(&self) -> i128 {
        match self.dialect.engine {
            Engine::MySql => {
                let one = self.per_leaf(&[(0, String::new(), String::new())]).len() + 40;
                ((STATEMENT_BYTES / one) as i128).clamp(1, LEAVES_PER_STATEMENT)
            }
            _ => LEAVES_PER_STATEMENT,
        }
    }

    /// [`Self::sql`], one query per leaf or not (the digests are the same).
    fn shaped(&self, base: i128, width: i128, from: i128, to: i128, per_leaf: bool) -> String {
        if per_leaf && self.ordered.is_some() {
            let first = (from - base).div_euclid(width);
            let last = (to - 1 - base).div_euclid(width);
            let (lowest, highest) = self.dialect.int_bounds();
            let leaves: Vec<(i128, String, String)> = (first..=last)
                .map(|i| {
                    let lo = (base + i * width).max(from).max(lowest);
                    let hi = (base + (i + 1) * width)
                        .min(to)
                        .saturating_sub(1)
                        .min(highest);
                    (i, lo.to_string(), hi.to_string())
                })
                .collect();
            return self.per_leaf(&leaves);
        }
        let d = self.dialect;
        // Past 2^63 - 1 the subtraction would overflow 64-bit arithmetic.
        let leaf = if to - 1 - base > i128::from(i64::MAX) {
            d.wide_leaf(self.key, base, width)
        } else {
            self.leaf(&base.to_string(), &width.to_string())
        };
        self.grouped(&leaf, &from.to_string(), &to.to_string())
    }

    fn leaf(&self, base: &str, width: &str) -> String {
        let d = self.dialect;
        d.div(&format!("{} - {base}", d.as_bigint(self.key)), width)
    }

    /// The digest of each row group, as a `SELECT` column.
    fn digest(&self) -> String {
        match self.ordered {
            Some(o) => o.aggregate.clone(),
            None => format!("SUM({})", self.row_hash),
        }
    }

    /// One `GROUP BY` of the leaves of `[from, to)`.
    fn grouped(&self, leaf: &str, from: &str, to: &str) -> String {
        let k = self.key;
        // MySQL sorts a GROUP BY's groups unless told not to: a filesort
        // that cost 0.3 s of its CPU per 10M rows, for digests kept unordered.
        let unsorted = match self.dialect.engine {
            Engine::MySql => " ORDER BY NULL",
            _ => "",
        };
        format!(
            "SELECT {leaf}, COUNT(*), {digest} FROM {rel} WHERE {k} >= {from} AND {k} < {to} \
             GROUP BY 1{unsorted}",
            digest = self.digest(),
            rel = self.relation
        )
    }

    /// One aggregate per leaf `(number, lowest key, highest key)`, each
    /// over its key range alone, read through the index in key order:
    /// PostgreSQL plans a `LATERAL` subquery once for all leaves; MySQL,
    /// which has no `LATERAL`, gets a `UNION ALL` (a `GROUP BY` with
    /// `GROUP_CONCAT` costs it a temporary table of every row).
    fn per_leaf(&self, leaves: &[(i128, String, String)]) -> String {
        let (k, rel, digest) = (self.key, self.relation, self.digest());
        match self.dialect.engine {
            Engine::MySql => leaves
                .iter()
                .map(|(i, lo, hi)| {
                    format!("SELECT {i}, COUNT(*), {digest} FROM {rel} WHERE {k} >= {lo} AND {k} <= {hi}")
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL "),
            _ => {
                let values: Vec<String> = leaves
                    .iter()
                    .map(|(i, lo, hi)| format!("({i}::int8, ({lo})::int8, ({hi})::int8)"))
                    .collect();
                format!(
                    "SELECT recon_leaf.n, recon_digest.* FROM (VALUES {}) AS recon_leaf(n, lo, hi) \
                     CROSS JOIN LATERAL (SELECT COUNT(*), {digest} FROM {rel} \
                     WHERE {k} >= recon_leaf.lo AND {k} <= recon_leaf.hi) AS recon_digest",
                    values.join(", ")
                )
            }
        }
    }
}

/// Other keys: buckets of a hash of the key's canonical text.
async fn hashed_key(sides: &mut [SideWork<'_>; 2]) -> Result<Fetched> {
    let [l, r] = sides;
    let count_sql = |s: &SideWork<'_>| format!("SELECT COUNT(*) FROM {}", s.db.relation());
    let (lc, rc) = (count_sql(l), count_sql(r));
    let (lrows, rrows) = futures::try_join!(l.query(&lc), r.query(&rc))?;
    let rows = count_of(&lrows)?.max(count_of(&rrows)?);
    let buckets = (rows / BUCKET_ROWS).max(1).next_power_of_two().min(1 << 22);
    let secret = crate::canon::keyed::sql_secret();
    let bucket = |s: &SideWork<'_>| s.dialect.bucket(secret, &s.key_text, buckets);
    let digest_sql = |s: &SideWork<'_>| {
        format!(
            "SELECT {}, COUNT(*), SUM({}) FROM {} GROUP BY 1",
            bucket(s),
            s.row_hash,
            s.db.relation()
        )
    };
    let (ls, rs) = (digest_sql(l), digest_sql(r));
    let (lres, rres) = futures::try_join!(l.query(&ls), r.query(&rs))?;
    let parse = |rows: &TextRows| Digests::parse(rows, 0, 1, false, false);
    let (ld, rd) = (parse(&lres)?, parse(&rres)?);
    let totals = [
        ld.leaves.values().map(|d| d.0).sum::<u64>(),
        rd.leaves.values().map(|d| d.0).sum::<u64>(),
    ];
    let mut fetch: BTreeSet<i128> = divergent(&ld, &rd).map(|(b, _)| b).collect();
    // NULL and duplicated keys: equal digests would hide them.
    for side in [&mut *l, &mut *r] {
        let mut sqls = Vec::new();
        if !side.no_nulls {
            let any_null = side
                .keys
                .iter()
                .map(|k| format!("{k} IS NULL"))
                .collect::<Vec<_>>()
                .join(" OR ");
            sqls.push(format!(
                "SELECT DISTINCT {} FROM {} WHERE {any_null}",
                bucket(side),
                side.db.relation()
            ));
        }
        if !side.unique {
            // Grouped byte by byte: a collation that folds case or pads
            // would merge distinct keys and hide real duplicates.
            sqls.push(format!(
                "SELECT MIN({}) FROM {} GROUP BY {} HAVING COUNT(*) > 1",
                bucket(side),
                side.db.relation(),
                side.key_bytes
            ));
        }
        for sql in sqls {
            for row in side.query(&sql).await? {
                if let Some(b) = parse_i128(&row.first().cloned().flatten())? {
                    fetch.insert(b);
                }
            }
        }
    }
    let predicates = |s: &SideWork<'_>| -> Vec<String> {
        if fetch.is_empty() {
            return Vec::new();
        }
        let list: Vec<String> = fetch.iter().map(i128::to_string).collect();
        vec![format!("{} IN ({})", bucket(s), list.join(", "))]
    };
    let (lp, rp) = (predicates(l), predicates(r));
    let (lb, rb) = futures::try_join!(l.fetch(&lp), r.fetch(&rp))?;
    Ok(Fetched {
        batches: [lb, rb],
        leaves: buckets,
        divergent: fetch.len() as u64,
        totals,
        ranges: None,
        resumed: None,
    })
}

/// What the in-database join compares for one column of a pair in one
/// PostgreSQL database: the value itself where the engine's equality is
/// recon's (numbers by value, so `1.80` equals `1.8`; floats with `-0 = 0`
/// and NaN equal to NaN; dates; timestamps of one type; bytes), text byte
/// by byte (`COLLATE "C"`, whatever the column's collation), and the
/// canonical text (as the checksums hash it) for pairs of different kinds.
/// A key column's expression must also write each key one way only, as
/// its rows are fetched by that text: decimals and floats (`5.00` and
/// `5.000`, `0` and `-0`) are keyed by their canonical text.
fn join_value(column: &DbColumn, other: &DbColumn, canonical: &str, is_key: bool) -> String {
    let value = &column.value;
    match (column.kind, other.kind) {
        (ValueKind::Int, ValueKind::Int)
        | (ValueKind::Bool, ValueKind::Bool)
        | (ValueKind::Date, ValueKind::Date)
        | (ValueKind::Binary, ValueKind::Binary) => format!("({value})"),
        (ValueKind::Decimal { .. }, ValueKind::Decimal { .. })
        | (ValueKind::Float64, ValueKind::Float64)
        | (ValueKind::Float32, ValueKind::Float32)
            if !is_key =>
        {
            format!("({value})")
        }
        (ValueKind::Timestamp, ValueKind::Timestamp) if column.db_type == other.db_type => {
            format!("({value})")
        }
        (ValueKind::Text, ValueKind::Text) => format!("(({value})::text COLLATE \"C\")"),
        _ => format!("(({canonical}) COLLATE \"C\")"),
    }
}

/// The join behind [`joined`]: per key present on one side only, or whose
/// compared values differ, each side's key as text (its join expressions,
/// which write each key one way).
fn join_sql(l: &SideWork<'_>, r: &SideWork<'_>, range: Option<(&str, &str)>) -> String {
    let keys = l.keys.len();
    let inner = |s: &SideWork<'_>| {
        let compared: Vec<String> = s
            .join_values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{v} AS j{i}"))
            .collect();
        let within = range.map_or(String::new(), |(from, to)| {
            let k = &s.keys[0];
            format!(" WHERE {k} >= {from} AND {k} < {to}")
        });
        format!(
            "SELECT 1 AS p, {} FROM {}{within}",
            compared.join(", "),
            s.db.relation()
        )
    };
    let on: Vec<String> = (0..keys).map(|i| format!("l.j{i} = r.j{i}")).collect();
    let mut differs = vec!["l.p IS NULL".to_string(), "r.p IS NULL".to_string()];
    differs.extend((keys..l.join_values.len()).map(|i| format!("l.j{i} IS DISTINCT FROM r.j{i}")));
    let out: Vec<String> = ["l", "r"]
        .iter()
        .flat_map(|side| (0..keys).map(move |i| format!("{side}.j{i}::text")))
        .collect();
    format!(
        "SELECT {} FROM ({}) l FULL JOIN ({}) r ON {} WHERE {}",
        out.join(", "),
        inner(l),
        inner(r),
        on.join(" AND "),
        differs.join(" OR ")
    )
}

/// Keys that occur more than once on a side, as the join writes them: a
/// join pairs equal duplicates with each other and would hide them.
fn joined_duplicates_sql(side: &SideWork<'_>) -> String {
    let keys = &side.join_values[..side.keys.len()];
    let text: Vec<String> = keys.iter().map(|k| format!("({k})::text")).collect();
    format!(
        "SELECT {} FROM {} GROUP BY {} HAVING COUNT(*) > 1",
        text.join(", "),
        side.db.relation(),
        keys.join(", ")
    )
}

/// Both sides in one PostgreSQL database: one session, one snapshot; a
/// full outer join on the key finds the keys present on one side only or
/// whose values differ, and only the rows of those keys (and of NULL and
/// duplicated keys, which a join cannot pair) are fetched. No checksums:
/// the database compares the values itself.
async fn joined(sides: &mut [SideWork<'_>; 2], threads: usize, ranged: bool) -> Result<Fetched> {
    let [l, r] = sides;
    l.open(threads).await?;
    // The left's sessions serve both sides in turn.
    let swap = |l: &mut SideWork<'_>, r: &mut SideWork<'_>| {
        std::mem::swap(&mut l.sessions, &mut r.sessions);
        std::mem::swap(&mut l.note, &mut r.note);
    };
    swap(l, r);
    r.key_facts().await?;
    // Counts, duplicated keys (which the join pairs with each other, so
    // they are fetched from both sides) and the join, all in one batch over
    // the sessions.
    let count = |s: &SideWork<'_>| format!("SELECT COUNT(*) FROM {}", s.db.relation());
    let mut sqls = vec![count(l), count(r)];
    sqls.extend(
        [&*l, &*r]
            .into_iter()
            .filter(|s| !s.unique)
            .map(joined_duplicates_sql),
    );
    if ranged {
        let bounds = |s: &SideWork<'_>| {
            let k = &s.keys[0];
            format!("SELECT MIN({k}), MAX({k}) FROM {}", s.db.relation())
        };
        let (mut lo, mut hi) = (None::<i128>, None::<i128>);
        for row in r.query_all(&[bounds(l), bounds(r)]).await? {
            let row = row.into_iter().next().unwrap_or_default();
            let get = |i: usize| row.get(i).cloned().flatten();
            if let (Some(min), Some(max)) = (parse_i128(&get(0))?, parse_i128(&get(1))?) {
                lo = Some(lo.map_or(min, |x| x.min(min)));
                hi = Some(hi.map_or(max, |x| x.max(max)));
            }
        }
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let parts = (threads * JOIN_RANGES_PER_SESSION) as i128;
            let width = ((hi - lo + 1) + parts - 1) / parts;
            let mut from = lo;
            while from <= hi {
                let to = from + width;
                sqls.push(join_sql(l, r, Some((&from.to_string(), &to.to_string()))));
                from = to;
            }
        }
    } else {
        sqls.push(join_sql(l, r, None));
    }
    let results = r.query_all(&sqls).await?;
    let totals = [count_of(&results[0])?, count_of(&results[1])?];
    // The keys to fetch: a duplicate query's row is one key, a join's row
    // each side's key (present on one side only, or values that differ); a
    // key with a NULL part (absent on that side, or a NULL key) adds nothing.
    let keys = l.keys.len();
    let mut all: BTreeSet<Vec<String>> = BTreeSet::new();
    for row in results[2..].iter().flatten() {
        for values in row.chunks(keys).take(2) {
            if let Some(key) = values.iter().cloned().collect::<Option<Vec<String>>>() {
                all.insert(key);
            }
        }
    }
    // NULL keys: fetched by a query of their own wherever the catalog
    // allows them (a join may or may not pair them; they are reported apart).
    let nulls = !(l.no_nulls && r.no_nulls);
    let predicates = |s: &SideWork<'_>| -> Vec<String> {
        let d = s.dialect;
        // The key as the join wrote it: each key one way, so that no row
        // matches two of the listed keys (and two queries).
        let target = sql_tuple(&s.join_values[..s.keys.len()]);
        // NULL keys come with the query after these, and only there.
        let not_null: String = if nulls {
            let parts: Vec<String> = s
                .keys
                .iter()
                .map(|k| format!(" AND {k} IS NOT NULL"))
                .collect();
            parts.concat()
        } else {
            String::new()
        };
        let literal =
            |key: &Vec<String>| sql_tuple(&key.iter().map(|v| d.string(v)).collect::<Vec<_>>());
        let list: Vec<&Vec<String>> = all.iter().collect();
        let mut out: Vec<String> = list
            .chunks(RANGES_PER_FETCH)
            .map(|chunk| {
                let values: Vec<String> = chunk.iter().map(|k| literal(k)).collect();
                format!("{target} IN ({}){not_null}", values.join(", "))
            })
            .collect();
        if nulls {
            let any_null: Vec<String> = s.keys.iter().map(|k| format!("{k} IS NULL")).collect();
            out.push(any_null.join(" OR "));
        }
        out
    };
    let rb = r.fetch(&predicates(r)).await?;
    swap(l, r);
    let lb = l.fetch(&predicates(l)).await?;
    Ok(Fetched {
        batches: [lb, rb],
        leaves: 1,
        divergent: all.len() as u64,
        totals,
        ranges: None,
        resumed: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_when_they_touch_or_overlap() {
        assert_eq!(
            merge_ranges(vec![(5, 6), (0, 3), (3, 4), (10, 20), (12, 15)]),
            vec![(0, 4), (5, 6), (10, 20)]
        );
    }

    #[test]
    fn divergent_leaves_include_one_sided_and_cut_ones() {
        let digests = |leaves: &[(i128, Digest)], cut: &[i128]| Digests {
            leaves: leaves.iter().copied().collect(),
            cut: cut.iter().copied().collect(),
        };
        let l = digests(&[(0, (2, 10)), (10, (1, 5)), (20, (3, 9))], &[]);
        let r = digests(&[(0, (2, 10)), (10, (1, 6)), (30, (4, 1))], &[]);
        let d: Vec<_> = divergent(&l, &r).collect();
        assert_eq!(d, vec![(10, 1), (20, 3), (30, 4)]);
        // Equal digests of a leaf cut on either side still differ.
        let cut = digests(&[(0, (2, 10)), (10, (1, 5)), (20, (3, 9))], &[0]);
        let d: Vec<_> = divergent(&cut, &l).collect();
        assert_eq!(d, vec![(0, 2)]);
        let d: Vec<_> = divergent(&l, &cut).collect();
        assert_eq!(d, vec![(0, 2)]);
    }

    #[test]
    fn ordered_digests_parse_as_hex_and_skip_empty_leaves() {
        let row = |cells: [&str; 3]| cells.map(|c| Some(c.to_string())).to_vec();
        let rows = vec![
            row(["0", "3", "ffffffffffffffffffffffffffffffff"]),
            vec![Some("1".into()), Some("0".into()), None],
            row(["2", "1", "0123456789abcdef0123456789abcdef"]),
        ];
        let parsed = Digests::parse(&rows, 100, 10, true, true).unwrap();
        assert_eq!(
            parsed.leaves,
            [
                (100, (3, u128::MAX)),
                (120, (1, 0x0123456789abcdef0123456789abcdef))
            ]
            .into()
        );
        assert_eq!(parsed.cut, [100, 120].into());
        assert!(Digests::parse(&[row(["0", "1", "xyz"])], 0, 1, true, false).is_err());
        // MySQL's NULL for a text past max_allowed_packet: cut.
        let null = vec![Some("7".into()), Some("2".into()), None];
        let parsed = Digests::parse(&[null], 0, 1, true, false).unwrap();
        assert_eq!(parsed.cut, [7].into());
        // A sum is decimal.
        let sums = Digests::parse(&[row(["4", "2", "12345"])], 0, 1, false, false).unwrap();
        assert_eq!(sums.leaves, [(4, (2, 12345))].into());
    }

    #[test]
    fn a_long_row_text_puts_fewer_leaves_in_a_mysql_statement() {
        let long = Ordered {
            aggregate: format!("MD5({})", "x".repeat(20_000)),
            per_leaf: true,
        };
        let view = |engine, ordered| RangeSql {
            dialect: Dialect { engine, utf8: true },
            key: "k",
            row_hash: "H",
            ordered: Some(ordered),
            relation: "t",
        };
        let short = Ordered {
            aggregate: "D".into(),
            per_leaf: true,
        };
        assert_eq!(view(Engine::MySql, &short).leaves_per_statement(), 256);
        assert_eq!(view(Engine::Postgres, &long).leaves_per_statement(), 256);
        let mysql = view(Engine::MySql, &long);
        let n = mysql.leaves_per_statement();
        assert!((40..=60).contains(&n), "{n}");
        // A statement of that many leaves stays near the budget.
        let sql = mysql.shaped(0, 10, 0, 10 * n, true);
        assert!(sql.len() <= STATEMENT_BYTES, "{}", sql.len());
    }

    #[test]
    fn per_leaf_statements_cover_the_range_in_leaves_within_the_key_type() {
        let ordered = Ordered {
            aggregate: "D".into(),
            per_leaf: true,
        };
        for (engine, highest) in [
            (Engine::Postgres, i128::from(i64::MAX)),
            (Engine::MySql, i128::from(u64::MAX)),
        ] {
            let view = RangeSql {
                dialect: Dialect { engine, utf8: true },
                key: "k",
                row_hash: "H",
                ordered: Some(&ordered),
                relation: "t",
            };
            // Leaves of 10 from -15: [-15, -5), [-5, 5), [5, 15); asked for
            // [-7, 12): parts of leaves 0 to 2, numbered from the base.
            let sql = view.sql(-15, 10, -7, 12);
            for (i, lo, hi) in [(0, -7, -6), (1, -5, 4), (2, 5, 11)] {
                let bounds = match engine {
                    Engine::MySql => {
                        format!("SELECT {i}, COUNT(*), D FROM t WHERE k >= {lo} AND k <= {hi}")
                    }
                    _ => format!("({i}::int8, ({lo})::int8, ({hi})::int8)"),
                };
                assert!(sql.contains(&bounds), "{sql}");
            }
            // Three leaves, no more.
            let joints = match engine {
                Engine::MySql => sql.matches(" UNION ALL ").count(),
                _ => sql.matches("), (").count(),
            };
            assert_eq!(joints, 2, "{sql}");
            // The last leaf past the type's range ends at its highest value.
            let sql = view.sql(highest - 5, 10, highest - 5, highest + 5);
            assert!(sql.contains(&format!("{highest}")), "{sql}");
            assert!(!sql.contains(&format!("{}", highest + 1)), "{sql}");
        }
    }
}
