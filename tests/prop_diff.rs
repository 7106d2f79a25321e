//! The Merkle path against a brute-force oracle: random tables, random
//! inserts/deletes/updates, duplicates and NULL keys, random row order, random
//! partitioning and random leaf sizes. recon must report exactly what a
//! HashMap diff of the same rows reports.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use proptest::prelude::*;
use recon::compare::Status;
use recon::source::{MemorySource, Source, StagedSource};
use recon::{Selection, Spec};

#[derive(Debug, Clone, PartialEq)]
struct Row {
    k1: Option<i64>,
    k2: Option<String>,
    a: Option<i32>,
    b: Option<f64>,
    c: Option<String>,
}

/// What the oracle compares: floats with -0.0 = 0.0 and all NaNs equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum V {
    Null,
    Int(i64),
    Float(u64),
    Text(String),
}

fn float(x: Option<f64>) -> V {
    match x {
        None => V::Null,
        Some(x) if x.is_nan() => V::Float(f64::NAN.to_bits()),
        Some(x) => V::Float((x + 0.0).to_bits()),
    }
}

fn values(r: &Row) -> [V; 3] {
    [
        r.a.map_or(V::Null, |v| V::Int(v as i64)),
        float(r.b),
        r.c.clone().map_or(V::Null, V::Text),
    ]
}

type Key = (Option<i64>, Option<String>);

fn key(r: &Row, composite: bool) -> Key {
    (r.k1, if composite { r.k2.clone() } else { None })
}

fn has_null_key(r: &Row, composite: bool) -> bool {
    r.k1.is_none() || (composite && r.k2.is_none())
}

#[derive(Debug, Default, PartialEq)]
struct Outcome {
    only_left: BTreeSet<Key>,
    only_right: BTreeSet<Key>,
    changed: BTreeMap<Key, Vec<String>>,
    duplicates: BTreeSet<Key>,
    unchanged: u64,
    null_keys: u64,
}

const NAMES: [&str; 3] = ["a", "b", "c"];

fn oracle(left: &[Row], right: &[Row], composite: bool) -> Outcome {
    let mut out = Outcome::default();
    let mut by_key: BTreeMap<Key, (Vec<&Row>, Vec<&Row>)> = BTreeMap::new();
    for r in left {
        if has_null_key(r, composite) {
            out.null_keys += 1;
        } else {
            by_key.entry(key(r, composite)).or_default().0.push(r);
        }
    }
    for r in right {
        if has_null_key(r, composite) {
            out.null_keys += 1;
        } else {
            by_key.entry(key(r, composite)).or_default().1.push(r);
        }
    }
    for (k, (l, r)) in by_key {
        match (l.as_slice(), r.as_slice()) {
            ([_], []) => {
                out.only_left.insert(k);
            }
            ([], [_]) => {
                out.only_right.insert(k);
            }
            ([a], [b]) => {
                let (va, vb) = (values(a), values(b));
                let cols: Vec<String> = (0..3)
                    .filter(|&i| va[i] != vb[i])
                    .map(|i| NAMES[i].to_string())
                    .collect();
                if cols.is_empty() {
                    out.unchanged += 1;
                } else {
                    out.changed.insert(k, cols);
                }
            }
            _ => {
                out.duplicates.insert(k);
            }
        }
    }
    out
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k1", DataType::Int64, true),
        Field::new("k2", DataType::Utf8, true),
        Field::new("a", DataType::Int32, true),
        Field::new("b", DataType::Float64, true),
        Field::new("c", DataType::Utf8, true),
    ]))
}

fn batch(rows: &[Row]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.k1))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.k2.as_deref()))),
        Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.a))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.b))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.c.as_deref()))),
    ];
    RecordBatch::try_new(schema(), columns).unwrap()
}

/// Splits rows into `parts` partitions of batches of at most `batch_rows`,
/// each partition a run of consecutive rows (so a positional source keeps
/// the rows' order).
fn source(name: &str, rows: &[Row], parts: usize, batch_rows: usize) -> MemorySource {
    let mut partitions = vec![Vec::new(); parts];
    let chunks: Vec<&[Row]> = rows.chunks(batch_rows.max(1)).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        partitions[i * parts / chunks.len()].push(batch(chunk));
    }
    MemorySource::new(name, schema(), partitions).unwrap()
}

/// A positional source (each batch one part, as Parquet row groups are) or a streaming one.
fn any_source(
    name: &str,
    rows: &[Row],
    parts: usize,
    batch_rows: usize,
    positional: bool,
) -> MemorySource {
    let s = source(name, rows, parts, batch_rows);
    if positional { s.positional() } else { s }
}

/// A row as a CSV file can carry it: no NULL or empty value outside the
/// key (CSV cannot tell "" from NULL), text that cannot be read as a number
/// and holds no delimiter, finite floats.
fn csv_safe(r: Row) -> Row {
    Row {
        k1: Some(r.k1.unwrap_or(0)),
        k2: Some(format!("s{}", r.k2.unwrap_or_default())),
        a: Some(r.a.unwrap_or(7)),
        b: Some(r.b.filter(|b| b.is_finite()).unwrap_or(0.5)),
        c: Some(format!(
            "c{}",
            r.c.unwrap_or_default()
                .replace(|ch: char| !ch.is_alphanumeric(), "_")
        )),
    }
}

/// A streaming source (0), a positional one (1), or one staged in a
/// temporary file as a large CSV is (2): positional, one part per batch of
/// each partition.
fn side(name: &str, rows: &[Row], parts: usize, batch_rows: usize, kind: u8) -> Box<dyn Source> {
    match kind {
        0 | 1 => Box::new(any_source(name, rows, parts, batch_rows, kind == 1)),
        _ => Box::new(StagedSource::stage(&source(name, rows, parts, batch_rows)).unwrap()),
    }
}

/// Rows in random order (0), in key order (1), in key order with the
/// halves swapped (2): sorted parts whose ranges do not follow each other,
/// or in key order but for two neighbours swapped (3), which a key sample
/// can miss.
fn arranged(mut rows: Vec<Row>, arrangement: u8, seed: u64) -> Vec<Row> {
    if arrangement == 0 {
        return shuffled(rows, seed);
    }
    rows.sort_by(|a, b| (a.k1, &a.k2).cmp(&(b.k1, &b.k2)));
    if arrangement == 2 {
        let half = rows.len() / 2;
        rows.rotate_left(half);
    }
    if arrangement == 3 && rows.len() > 1 {
        let at = (seed % (rows.len() as u64 - 1)) as usize;
        rows.swap(at, at + 1);
    }
    rows
}

fn recon_outcome(
    left: &MemorySource,
    right: &MemorySource,
    composite: bool,
    leaf_rows: usize,
    max_leaves: usize,
) -> Outcome {
    recon_outcome_with(left, right, composite, leaf_rows, max_leaves, Paths::ALL).0
}

/// Which comparison paths a run may take.
#[derive(Debug, Clone, Copy)]
struct Paths {
    merge_ordered: bool,
    unsorted_path: bool,
    /// Fingerprints go to disk from the first batch.
    spill: bool,
}

impl Paths {
    const ALL: Paths = Paths {
        merge_ordered: true,
        unsorted_path: true,
        spill: false,
    };
    /// Bit 0: no merged pass; bit 1: no fingerprints; bit 2: spill them.
    fn pick(n: u8) -> Paths {
        Paths {
            merge_ordered: n & 1 == 0,
            unsorted_path: n & 2 == 0,
            spill: n & 4 != 0,
        }
    }

    fn memory_limit(self) -> u64 {
        if self.spill { 0 } else { 1 << 30 }
    }
}

/// The outcome, and the strategy that ran.
fn recon_outcome_with(
    left: &dyn Source,
    right: &dyn Source,
    composite: bool,
    leaf_rows: usize,
    max_leaves: usize,
    paths: Paths,
) -> (Outcome, String) {
    let spec = Spec {
        selection: Selection {
            key: if composite {
                vec!["k1".into(), "k2".into()]
            } else {
                vec!["k1".into()]
            },
            columns: vec![],
            exclude: if composite { vec![] } else { vec!["k2".into()] },
            ..Selection::default()
        },
        leaf_rows,
        max_leaves,
        // Small groups, so that reading back in groups is exercised too.
        group_rows: 3 * leaf_rows as u64,
        merge_ordered: paths.merge_ordered,
        unsorted_path: paths.unsorted_path,
        memory_limit: paths.memory_limit(),
        threads: 2,
        ..Spec::default()
    };
    let result = recon::diff(left, right, &spec).unwrap();
    let report = result.report;
    let key_of = |m: &serde_json::Map<String, serde_json::Value>| -> Key {
        (
            m.get("k1").and_then(|v| v.as_i64()),
            if composite {
                m.get("k2").and_then(|v| v.as_str()).map(String::from)
            } else {
                None
            },
        )
    };
    let mut out = Outcome {
        unchanged: report.summary.unchanged,
        null_keys: report.summary.null_keys,
        ..Outcome::default()
    };
    for d in &report.diffs {
        let k = key_of(&d.key);
        match d.status {
            Status::OnlyLeft => assert!(out.only_left.insert(k)),
            Status::OnlyRight => assert!(out.only_right.insert(k)),
            Status::Changed => assert!(out.changed.insert(k, d.columns.clone()).is_none()),
        }
    }
    for d in &report.duplicates {
        assert!(out.duplicates.insert(key_of(&d.key)));
    }
    // The summary agrees with the listed records.
    assert_eq!(report.summary.only_left as usize, out.only_left.len());
    assert_eq!(report.summary.only_right as usize, out.only_right.len());
    assert_eq!(report.summary.changed as usize, out.changed.len());
    assert_eq!(report.summary.duplicate_keys as usize, out.duplicates.len());
    let strategy = serde_json::to_value(report.stats.strategy).unwrap();
    (out, strategy.as_str().unwrap_or_default().to_string())
}

fn float_value() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(0.0)),
        Just(Some(-0.0)),
        Just(Some(f64::NAN)),
        Just(Some(-f64::NAN)),
        Just(Some(f64::INFINITY)),
        Just(Some(1.5)),
        (-1000i32..1000).prop_map(|v| Some(v as f64 / 8.0)),
    ]
}

fn text_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        Just(Some("NULL".to_string())),
        Just(Some("1|".to_string())),
        Just(Some("|2".to_string())),
        Just(Some("ünïcödé ✓ 🦀".to_string())),
        "[a-c]{0,3}".prop_map(Some),
    ]
}

fn row(key_range: i64) -> impl Strategy<Value = Row> {
    (
        prop_oneof![9 => (0..key_range).prop_map(Some), 1 => Just(None)],
        prop_oneof![9 => "[xy]{0,2}".prop_map(Some), 1 => Just(None)],
        prop_oneof![Just(None), (-3i32..3).prop_map(Some)],
        float_value(),
        text_value(),
    )
        .prop_map(|(k1, k2, a, b, c)| Row { k1, k2, a, b, c })
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(Row),
    Update(usize, Row),
    Duplicate(usize),
}

fn edits(key_range: i64) -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        prop_oneof![
            3 => any::<usize>().prop_map(Edit::Delete),
            3 => row(key_range).prop_map(Edit::Insert),
            5 => (any::<usize>(), row(key_range)).prop_map(|(i, r)| Edit::Update(i, r)),
            1 => any::<usize>().prop_map(Edit::Duplicate),
        ],
        0..30,
    )
}

fn apply(left: &[Row], edits: &[Edit], composite: bool) -> Vec<Row> {
    let mut right = left.to_vec();
    for e in edits {
        let n = right.len();
        match e {
            Edit::Delete(i) if n > 0 => {
                right.remove(i % n);
            }
            Edit::Insert(r) => right.push(r.clone()),
            Edit::Update(i, r) if n > 0 => {
                let target = &mut right[i % n];
                let (k1, k2) = (target.k1, target.k2.clone());
                *target = Row {
                    k1,
                    k2: if composite { k2 } else { r.k2.clone() },
                    ..r.clone()
                };
            }
            Edit::Duplicate(i) if n > 0 => {
                let copy = right[i % n].clone();
                right.push(copy);
            }
            _ => {}
        }
    }
    right
}

/// The edits with their rows made fit for a format by `fit` (which need
/// not be idempotent: the rows already on the left are not passed again).
fn fitted(edits: Vec<Edit>, fit: impl Fn(Row) -> Row) -> Vec<Edit> {
    edits
        .into_iter()
        .filter_map(|e| match e {
            Edit::Insert(r) => Some(Edit::Insert(fit(r))),
            Edit::Update(i, r) => Some(Edit::Update(i, fit(r))),
            Edit::Duplicate(_) => None,
            other => Some(other),
        })
        .collect()
}

/// The first row of each key (NULL keys are not keys: all are kept).
fn unique_keys(rows: Vec<Row>, composite: bool) -> Vec<Row> {
    let mut seen = BTreeSet::new();
    rows.into_iter()
        .filter(|r| has_null_key(r, composite) || seen.insert(key(r, composite)))
        .collect()
}

fn shuffled(mut rows: Vec<Row>, seed: u64) -> Vec<Row> {
    use rand::{SeedableRng, seq::SliceRandom};
    rows.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(seed));
    rows
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn merkle_diff_matches_brute_force(
        composite in any::<bool>(),
        key_range in prop_oneof![Just(4i64), Just(60), Just(1_000_000)],
        left in prop::collection::vec(row(1_000_000), 0..120),
        edit_list in edits(1_000_000),
        left_dups in prop::collection::vec(any::<usize>(), 0..2),
        seed in any::<u64>(),
        leaf_rows in 1usize..40,
        max_leaves in prop_oneof![Just(1usize), Just(3), Just(64), Just(65_536)],
        parts in 1usize..4,
        batch_rows in 1usize..50,
        arrangement in 0u8..4,
        (left_kind, right_kind) in (0u8..3, 0u8..3),
        paths in 0u8..8,
    ) {
        // Narrow keys make collisions (and so duplicates) likely.
        let mut left: Vec<Row> = left.into_iter().map(|mut r| { r.k1 = r.k1.map(|k| k % key_range); r }).collect();
        for d in left_dups {
            if !left.is_empty() {
                let copy = left[d % left.len()].clone();
                left.push(copy);
            }
        }
        let right = apply(&left, &edit_list, composite);
        let left = arranged(left, arrangement, seed);
        let right = arranged(right, arrangement, seed ^ 1);
        let expected = oracle(&left, &right, composite);
        let (got, strategy) = recon_outcome_with(
            side("left", &left, parts, batch_rows, left_kind).as_ref(),
            side("right", &right, parts, batch_rows, right_kind).as_ref(),
            composite, leaf_rows, max_leaves, Paths::pick(paths),
        );
        prop_assert_eq!(got, expected);
        // Unsorted positional sides are matched by fingerprints when allowed.
        if left_kind > 0 && right_kind > 0 && strategy != "merged" {
            let fingerprints = Paths::pick(paths).unsorted_path;
            prop_assert_eq!(strategy == "fingerprints", fingerprints, "{}", strategy);
        }
    }

    /// Sides stored in key order take the merged pass (held in memory, or
    /// staged as a large CSV is); it must agree with the oracle, and rows
    /// out of order between sampled ones must send the comparison to the
    /// general path, never to a wrong answer.
    #[test]
    fn merged_pass_matches_brute_force(
        composite in any::<bool>(),
        left in prop::collection::vec(row(1_000_000), 0..150),
        edit_list in edits(1_000_000),
        seed in any::<u64>(),
        leaf_rows in 1usize..40,
        max_leaves in prop_oneof![Just(1usize), Just(3), Just(64), Just(65_536)],
        parts in (1usize..4, 1usize..4),
        batch_rows in (1usize..50, 1usize..50),
        swapped in any::<(bool, bool)>(),
        staged in any::<(bool, bool)>(),
    ) {
        let left = unique_keys(left, composite);
        let edit_list: Vec<Edit> = edit_list.into_iter().filter(|e| !matches!(e, Edit::Duplicate(_))).collect();
        let right = unique_keys(apply(&left, &edit_list, composite), composite);
        let left = arranged(left, if swapped.0 { 3 } else { 1 }, seed);
        let right = arranged(right, if swapped.1 { 3 } else { 1 }, seed ^ 1);
        let expected = oracle(&left, &right, composite);
        let (got, strategy) = recon_outcome_with(
            side("left", &left, parts.0, batch_rows.0, if staged.0 { 2 } else { 1 }).as_ref(),
            side("right", &right, parts.1, batch_rows.1, if staged.1 { 2 } else { 1 }).as_ref(),
            composite, leaf_rows, max_leaves, Paths::ALL,
        );
        prop_assert_eq!(got, expected);
        if !swapped.0 && !swapped.1 {
            prop_assert_eq!(strategy, "merged", "sides in key order were not merged");
        }
    }

    /// Real CSV files, parsed by the file connector, held in memory or
    /// staged in a temporary file as a large one is: in key order they take
    /// the merged pass, shuffled the fingerprint path, and both agree with
    /// the oracle.
    #[test]
    fn csv_files_agree_with_the_oracle_in_memory_or_staged(
        composite in any::<bool>(),
        left in prop::collection::vec(row(1_000_000), 0..120),
        edit_list in edits(1_000_000),
        seed in any::<u64>(),
        leaf_rows in 1usize..40,
        sorted in any::<bool>(),
        staged in any::<bool>(),
    ) {
        let left: Vec<Row> = left.into_iter().map(csv_safe).collect();
        let left = unique_keys(left, composite);
        let right = unique_keys(apply(&left, &fitted(edit_list, csv_safe), composite), composite);
        let arrangement = if sorted { 1 } else { 0 };
        let (left, right) = (arranged(left, arrangement, seed), arranged(right, arrangement, seed ^ 1));
        let expected = oracle(&left, &right, composite);
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let options = recon::source::OpenOptions {
            threads: 2,
            in_memory_bytes: if staged { 0 } else { recon::source::IN_MEMORY_BYTES },
            ..recon::source::OpenOptions::default()
        };
        let open = |name: &str, rows: &[Row], side: recon::Side| {
            let path = dir.path().join(format!("{name}.csv"));
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(std::fs::File::create(&path).unwrap());
            writer.write(&batch(rows)).unwrap();
            drop(writer);
            recon::source::open(path.to_str().unwrap(), None, side, &options, runtime.handle()).unwrap()
        };
        let (l, r) = (open("left", &left, recon::Side::Left), open("right", &right, recon::Side::Right));
        let (got, strategy) = recon_outcome_with(
            l.as_ref(), r.as_ref(), composite, leaf_rows, 65_536, Paths::ALL,
        );
        prop_assert_eq!(got, expected);
        let expected_strategy = if sorted { "merged" } else { "fingerprints" };
        // A file too short for a sample to tell its order may go either way.
        if left.len() > 8 && right.len() > 8 {
            prop_assert_eq!(strategy, expected_strategy);
        }
    }

    /// The paths against each other, beyond the oracle: on unsorted
    /// positional sides the fingerprint path (in memory or spilled) and the
    /// leaf path give the same differences, counts and divergent ranges.
    #[test]
    fn fingerprints_and_leaves_give_the_same_report(
        composite in any::<bool>(),
        left in prop::collection::vec(row(60), 0..120),
        edit_list in edits(60),
        seed in any::<u64>(),
        leaf_rows in 1usize..20,
        parts in 1usize..4,
        batch_rows in 1usize..50,
    ) {
        let right = apply(&left, &edit_list, composite);
        let (left, right) = (shuffled(left, seed), shuffled(right, seed ^ 1));
        let (l, r) = (
            any_source("left", &left, parts, batch_rows, true),
            any_source("right", &right, parts, batch_rows, true),
        );
        let report = |paths: u8| {
            let p = Paths::pick(paths);
            let spec = Spec {
                selection: Selection {
                    key: if composite { vec!["k1".into(), "k2".into()] } else { vec!["k1".into()] },
                    exclude: if composite { vec![] } else { vec!["k2".into()] },
                    ..Selection::default()
                },
                leaf_rows,
                merge_ordered: p.merge_ordered,
                unsorted_path: p.unsorted_path,
                memory_limit: p.memory_limit(),
                threads: 2,
                ..Spec::default()
            };
            let report = recon::diff(&l, &r, &spec).unwrap().report;
            let json = serde_json::to_value(&report).unwrap();
            (
                json["stats"]["strategy"].clone(),
                [json["summary"].clone(), json["diffs"].clone(), json["duplicates"].clone(), json["ranges"].clone()],
            )
        };
        let (fingerprints, spilled, leaves) = (report(1), report(5), report(3));
        prop_assert_eq!(&fingerprints.0, "fingerprints");
        prop_assert_eq!(&spilled.0, "fingerprints");
        prop_assert_eq!(&leaves.0, "leaves");
        prop_assert_eq!(&fingerprints.1, &leaves.1);
        prop_assert_eq!(&spilled.1, &leaves.1);
    }

    #[test]
    fn every_row_different_and_empty_sides(n in 0usize..80, leaf_rows in 1usize..10) {
        let left: Vec<Row> = (0..n as i64).map(|i| Row { k1: Some(i), k2: None, a: Some(1), b: Some(0.0), c: None }).collect();
        let right: Vec<Row> = left.iter().map(|r| Row { a: Some(2), ..r.clone() }).collect();
        let empty: Vec<Row> = Vec::new();
        for (l, r) in [(&left, &right), (&left, &empty), (&empty, &right), (&empty, &empty)] {
            let expected = oracle(l, r, false);
            let got = recon_outcome(
                &any_source("l", l, 2, 7, n % 2 == 0),
                &any_source("r", r, 3, 5, n % 3 == 0),
                false, leaf_rows, 1 << 16,
            );
            prop_assert_eq!(got, expected);
        }
    }
}

/// One CSV field as a writer may spell it: quoted when it must be, and at
/// random otherwise; a float's fraction may carry a trailing zero.
fn spelled(field: &str, rng: &mut Option<rand::rngs::SmallRng>) -> String {
    use rand::Rng;
    let mut text = field.to_string();
    let special = text.contains([',', '"', '\n', '\r']);
    let mut quote = special;
    if let Some(rng) = rng {
        if text.contains('.') && rng.random_bool(0.3) {
            text.push('0');
        }
        quote |= !text.is_empty() && rng.random_bool(0.3);
    }
    if quote {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Writes rows as CSV text: plainly without `seed`; with one, each field
/// spelled at random (see [`spelled`]), lines ended by `\n` or `\r\n`,
/// blank lines here and there, and maybe no newline after the last.
fn write_csv(path: &std::path::Path, rows: &[Row], seed: Option<u64>) {
    use rand::{Rng, SeedableRng};
    let mut rng = seed.map(rand::rngs::SmallRng::seed_from_u64);
    let mut out = String::from("k1,k2,a,b,c\n");
    for (i, r) in rows.iter().enumerate() {
        let fields = [
            r.k1.map(|v| v.to_string()).unwrap_or_default(),
            r.k2.clone().unwrap_or_default(),
            r.a.map(|v| v.to_string()).unwrap_or_default(),
            r.b.map(|v| format!("{v:?}")).unwrap_or_default(),
            r.c.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| spelled(f, &mut rng)).collect();
        out.push_str(&line.join(","));
        let last = i + 1 == rows.len();
        match &mut rng {
            Some(rng) => {
                if !(last && rng.random_bool(0.5)) {
                    out.push_str(if rng.random_bool(0.5) { "\r\n" } else { "\n" });
                }
                if !last && rng.random_bool(0.1) {
                    out.push('\n');
                }
            }
            None => out.push('\n'),
        }
    }
    std::fs::write(path, out).unwrap();
}

/// A row CSV text can carry with quotes: text with delimiters, quotes and
/// line breaks; finite floats; NULL numbers and keys as empty fields.
fn csv_text_row(r: Row) -> Row {
    Row {
        k2: Some(format!("s{}", r.k2.unwrap_or_default())),
        b: r.b.filter(|b| b.is_finite()),
        c: Some(format!("c{}", r.c.unwrap_or_default())),
        ..r
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// CSV read in place as text records, spelled differently on the two
    /// sides (quotes, trailing zeros, `\r\n`, blank lines, `-0.0`) and with
    /// quoted delimiters and line breaks across the index's chunk edges:
    /// records with other bytes but equal values are unchanged, and every
    /// arrangement agrees with the oracle.
    #[test]
    fn csv_text_in_any_spelling_agrees_with_the_oracle(
        composite in any::<bool>(),
        left in prop::collection::vec(row(1_000_000), 0..150),
        texts in prop::collection::vec("[ab,\"\n\r ]{0,6}", 150),
        edit_list in edits(1_000_000),
        seed in any::<u64>(),
        leaf_rows in 1usize..40,
        sorted in any::<bool>(),
        spell_left in any::<bool>(),
    ) {
        let left: Vec<Row> = left
            .into_iter()
            .zip(&texts)
            .map(|(r, t)| csv_text_row(Row { c: Some(t.clone()), ..r }))
            .collect();
        let left = unique_keys(left, composite);
        let right = unique_keys(apply(&left, &fitted(edit_list, csv_text_row), composite), composite);
        let arrangement = if sorted { 1 } else { 0 };
        let (left, right) = (arranged(left, arrangement, seed), arranged(right, arrangement, seed ^ 1));
        let expected = oracle(&left, &right, composite);
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let options = recon::source::OpenOptions { threads: 2, ..recon::source::OpenOptions::default() };
        let open = |name: &str, rows: &[Row], spell: Option<u64>, side: recon::Side| {
            let path = dir.path().join(format!("{name}.csv"));
            write_csv(&path, rows, spell);
            recon::source::open(path.to_str().unwrap(), None, side, &options, runtime.handle()).unwrap()
        };
        let l = open("left", &left, spell_left.then_some(seed ^ 2), recon::Side::Left);
        let r = open("right", &right, Some(seed ^ 3), recon::Side::Right);
        prop_assert!(l.positional().is_some_and(|p| p.text_records().is_some()));
        let (got, strategy) = recon_outcome_with(
            l.as_ref(), r.as_ref(), composite, leaf_rows, 65_536, Paths::ALL,
        );
        prop_assert_eq!(got, expected);
        if left.len() > 8 && right.len() > 8 {
            prop_assert_eq!(strategy, if sorted { "merged" } else { "fingerprints" });
        }
    }
}

/// Rows with distinct keys 0, 2, 4, ... and values from `seed`.
fn sorted_rows(n: i64, seed: i32) -> Vec<Row> {
    (0..n)
        .map(|i| Row {
            k1: Some(2 * i),
            k2: None,
            a: Some((i as i32).wrapping_mul(seed) % 7),
            b: Some(i as f64),
            c: Some(format!("v{i}")),
        })
        .collect()
}

#[test]
fn sorted_sides_take_the_merged_pass_and_agree_with_the_oracle() {
    let left = sorted_rows(5_000, 1);
    let mut right = left.clone();
    right[17].a = Some(99); // changed
    right.remove(2_500); // only left
    right.push(Row {
        k1: Some(7_999),
        ..left[0].clone()
    }); // only right
    right.sort_by_key(|r| r.k1);
    right.push(Row {
        k1: None,
        ..left[1].clone()
    }); // NULL key at the end
    let expected = oracle(&left, &right, false);
    for (parts, batch_rows, leaf_rows) in [(1, 5_000, 256), (3, 97, 8), (2, 1_000, 1)] {
        let (got, strategy) = recon_outcome_with(
            &any_source("l", &left, parts, batch_rows, true),
            &any_source("r", &right, parts, batch_rows, true),
            false,
            leaf_rows,
            1 << 16,
            Paths::ALL,
        );
        assert_eq!(
            strategy, "merged",
            "sorted positional sides should be merged in one pass"
        );
        assert_eq!(got, expected);
    }
}

/// The merged pass dismisses pairs stored alike; pairs stored differently
/// but equal by the value rules (`-0.0` and `0.0`, two NaNs) must count as
/// unchanged and mark no range, while a real change in the same run is found.
#[test]
fn merged_pass_counts_pairs_equal_by_rule_as_unchanged() {
    let mut left = sorted_rows(4_000, 5);
    for (i, row) in left.iter_mut().enumerate() {
        row.b = match i % 3 {
            0 => Some(0.0),
            1 => Some(f64::NAN),
            _ => row.b,
        };
    }
    let mut right = left.clone();
    for (i, row) in right.iter_mut().enumerate() {
        row.b = match i % 3 {
            0 => Some(-0.0),
            1 => Some(-f64::NAN),
            _ => row.b,
        };
    }
    right[1_234].c = Some("changed".into());
    let expected = oracle(&left, &right, false);
    assert_eq!(expected.changed.len(), 1);
    let (got, strategy) = recon_outcome_with(
        &any_source("l", &left, 2, 300, true),
        &any_source("r", &right, 2, 300, true),
        false,
        64,
        1 << 16,
        Paths::ALL,
    );
    assert_eq!(strategy, "merged");
    assert_eq!(got, expected);
    let spec = Spec {
        selection: Selection {
            key: vec!["k1".into()],
            exclude: vec!["k2".into()],
            ..Selection::default()
        },
        leaf_rows: 64,
        threads: 2,
        ..Spec::default()
    };
    let report = recon::diff(
        &any_source("l", &left, 2, 300, true),
        &any_source("r", &right, 2, 300, true),
        &spec,
    )
    .unwrap()
    .report;
    assert_eq!(
        report.ranges.len(),
        1,
        "only the changed row's range diverges"
    );
    assert_eq!(report.stats.divergent_leaves, 1);
}

#[test]
fn rows_out_of_order_between_samples_fall_back_to_the_general_path() {
    let left = sorted_rows(5_000, 3);
    let mut right = left.clone();
    right[100].c = None;
    // Neighbours swapped: sampled keys still increase, the rows do not.
    for at in [1_001, 3_333] {
        right.swap(at, at + 1);
    }
    let expected = oracle(&left, &right, false);
    let (got, strategy) = recon_outcome_with(
        &any_source("l", &left, 1, 512, true),
        &any_source("r", &right, 1, 512, true),
        false,
        256,
        1 << 16,
        Paths::ALL,
    );
    assert_eq!(
        strategy, "fingerprints",
        "rows out of order must not be merged"
    );
    assert_eq!(got, expected);
}

#[test]
fn fingerprints_spilled_past_the_memory_limit_give_the_same_answer() {
    let left = shuffled(sorted_rows(3_000, 5), 7);
    let mut right = left.clone();
    right[10].a = Some(1_000);
    right.remove(20);
    right.push(right[30].clone()); // a duplicated key
    let right = shuffled(right, 8);
    let spec_with = |memory_limit: u64| Spec {
        selection: Selection {
            key: vec!["k1".into()],
            exclude: vec!["k2".into()],
            ..Selection::default()
        },
        memory_limit,
        threads: 2,
        ..Spec::default()
    };
    let (l, r) = (
        any_source("l", &left, 3, 500, true),
        any_source("r", &right, 2, 700, true),
    );
    // 0 spills every batch; 50 KB about half of the 144 KB of fingerprints.
    for (limit, spills) in [(0, true), (50_000, true), (1 << 30, false)] {
        let report = recon::diff(&l, &r, &spec_with(limit)).unwrap().report;
        let ran = serde_json::to_value(report.stats.strategy).unwrap();
        assert_eq!(ran, "fingerprints", "limit {limit}");
        assert_eq!(report.stats.bytes_spilled > 0, spills, "limit {limit}");
        assert_eq!(report.summary.changed, 1);
        assert_eq!(report.summary.only_left, 1);
        assert_eq!(report.summary.duplicate_keys, 1);
        assert_eq!(report.summary.unchanged, 2_997);
    }
}

/// The oracle's tolerance: datacompy's `|l - r| <= abs + rel * |r|`, NULL
/// equal only to NULL, NaN to NaN, infinities to themselves.
fn within(l: Option<f64>, r: Option<f64>, abs: f64, rel: f64) -> bool {
    match (l, r) {
        (None, None) => true,
        (Some(x), Some(y)) if x.is_nan() || y.is_nan() => x.is_nan() && y.is_nan(),
        (Some(x), Some(y)) if x.is_infinite() || y.is_infinite() => x == y,
        (Some(x), Some(y)) => (x - y).abs() <= abs + rel * y.abs(),
        _ => false,
    }
}

fn delta() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(0.004),
        Just(-0.004),
        Just(0.0099),
        Just(0.01),
        Just(0.0101),
        Just(0.02),
        Just(-0.02),
        Just(1.0),
        (-3.0f64..3.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Under a tolerance no difference beyond it is missed and none within
    /// it is reported, on every path (merged pass or not, any leaf size).
    #[test]
    fn tolerance_matches_brute_force(
        values in prop::collection::vec((prop_oneof![Just(None), (-1e4f64..1e4).prop_map(Some), Just(Some(1e300)), Just(Some(0.0))], delta(), any::<bool>(), (-1000i32..1000, -4i32..4)), 0..150),
        tolerance in prop_oneof![Just((0.01, 0.0)), Just((0.0, 1e-3)), Just((0.0, 1e-9)), Just((0.01, 0.5)), Just((1e-300, 0.0))],
        int_abs in prop_oneof![Just(0.0), Just(1.0), Just(2.5), Just(0.5)],
        leaf_rows in 1usize..40,
        parts in 1usize..4,
        batch_rows in 1usize..50,
        (positional, shuffle) in any::<(bool, bool)>(),
        paths in 0u8..8,
    ) {
        let (abs, rel) = tolerance;
        // b (float) within abs/rel; a (Int32) within int_abs.
        let row = |i: usize, a: i32, b: Option<f64>| Row { k1: Some(i as i64), k2: None, a: Some(a), b, c: None };
        let left: Vec<Row> = values.iter().enumerate().map(|(i, (v, _, _, (a, _)))| row(i, *a, *v)).collect();
        let right: Vec<Row> = values
            .iter()
            .enumerate()
            .map(|(i, (v, d, null, (a, da)))| row(i, a + da, if *null && *d == 1.0 { None } else { v.map(|x| x + d) }))
            .collect();
        let int_within = |l: &Row, r: &Row| {
            (f64::from(l.a.unwrap_or(0)) - f64::from(r.a.unwrap_or(0))).abs() <= int_abs
        };
        let expected: BTreeSet<i64> = left
            .iter()
            .zip(&right)
            .filter(|(l, r)| !within(l.b, r.b, abs, rel) || !int_within(l, r))
            .map(|(l, _)| l.k1.unwrap())
            .collect();
        let (left, right) = if shuffle {
            (shuffled(left, 1), shuffled(right, 2))
        } else {
            (left, right)
        };
        let mut selection = Selection {
            key: vec!["k1".into()],
            exclude: vec!["k2".into()],
            ..Selection::default()
        };
        selection.rules.insert(
            "b".into(),
            recon::rules::ColumnRule { abs: Some(abs), rel: Some(rel), ..Default::default() },
        );
        selection.rules.insert(
            "a".into(),
            recon::rules::ColumnRule { abs: Some(int_abs), ..Default::default() },
        );
        let spec = Spec {
            selection,
            leaf_rows,
            group_rows: 3 * leaf_rows as u64,
            merge_ordered: Paths::pick(paths).merge_ordered,
            unsorted_path: Paths::pick(paths).unsorted_path,
            memory_limit: Paths::pick(paths).memory_limit(),
            threads: 2,
            ..Spec::default()
        };
        let report = recon::diff(
            &any_source("l", &left, parts, batch_rows, positional),
            &any_source("r", &right, parts, batch_rows, positional),
            &spec,
        )
        .unwrap()
        .report;
        let got: BTreeSet<i64> = report
            .diffs
            .iter()
            .map(|d| d.key["k1"].as_i64().unwrap())
            .collect();
        prop_assert!(report.diffs.iter().all(|d| d.status == Status::Changed));
        prop_assert_eq!(got, expected);
        prop_assert_eq!(report.summary.unchanged as usize, left.len() - report.diffs.len());
    }
}

/// Writes rows as `parts` Parquet files (row groups of `batch_rows`) in
/// `dir`, and returns the directory as a side argument.
fn parquet_side(dir: &std::path::Path, rows: &[Row], parts: usize, batch_rows: usize) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let per_file = rows.len().div_ceil(parts.max(1)).max(1);
    let chunks: Vec<&[Row]> = if rows.is_empty() {
        vec![&[]]
    } else {
        rows.chunks(per_file).collect()
    };
    for (n, chunk) in chunks.into_iter().enumerate() {
        let file = std::fs::File::create(dir.join(format!("part-{n}.parquet"))).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(batch_rows.max(1)))
            .build();
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema(), Some(props)).unwrap();
        writer.write(&batch(chunk)).unwrap();
        writer.close().unwrap();
    }
    format!("parquet:{}", dir.display())
}

/// A float column whose values are one number and NaN: Parquet statistics
/// leave NaN out (min = max), and DataFusion 55 then read the column as that
/// constant, NaN rows included. The same file read by recon's own reader and
/// through DataFusion (a query) must agree.
#[test]
fn nan_beside_one_value_survives_a_read_through_datafusion() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<Row> = [1.5, f64::NAN, 1.5]
        .into_iter()
        .enumerate()
        .map(|(i, b)| Row {
            k1: Some(i as i64),
            k2: None,
            a: Some(1),
            b: Some(b),
            c: None,
        })
        .collect();
    let side = parquet_side(&dir.path().join("t"), &rows, 1, 10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let options = recon::source::OpenOptions {
        threads: 2,
        ..Default::default()
    };
    let direct =
        recon::source::open(&side, None, recon::Side::Left, &options, runtime.handle()).unwrap();
    let queried = recon::source::open(
        &side,
        Some("SELECT * FROM t"),
        recon::Side::Right,
        &options,
        runtime.handle(),
    )
    .unwrap();
    let spec = Spec {
        selection: Selection {
            key: vec!["k1".into()],
            ..Selection::default()
        },
        threads: 2,
        ..Spec::default()
    };
    let report = recon::diff(direct.as_ref(), queried.as_ref(), &spec)
        .unwrap()
        .report;
    assert_eq!(report.summary.changed, 0, "{:?}", report.diffs);
    assert_eq!(report.summary.unchanged, 3);
}

#[cfg(feature = "cluster")]
proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The cluster path's queries (run by this process's DataFusion, as
    /// executors run them) against the oracle and against the local run:
    /// the same report but for its statistics, whatever the order, the
    /// files and row groups, the leaf size; with one side on the cluster
    /// and the other hashed here too.
    #[test]
    fn cluster_queries_give_the_local_report(
        composite in any::<bool>(),
        key_range in prop_oneof![Just(4i64), Just(60), Just(1_000_000)],
        left in prop::collection::vec(row(1_000_000), 0..150),
        edit_list in edits(1_000_000),
        seed in any::<u64>(),
        leaf_rows in 1usize..40,
        parts in 1usize..4,
        batch_rows in 1usize..50,
        arrangement in 0u8..4,
        on_cluster in 0u8..3,
    ) {
        let left: Vec<Row> = left.into_iter().map(|mut r| { r.k1 = r.k1.map(|k| k % key_range); r }).collect();
        let right = apply(&left, &edit_list, composite);
        let left = arranged(left, arrangement, seed);
        let right = arranged(right, arrangement, seed ^ 1);
        let expected = oracle(&left, &right, composite);

        let dir = tempfile::tempdir().unwrap();
        let texts = [
            parquet_side(&dir.path().join("left"), &left, parts, batch_rows),
            parquet_side(&dir.path().join("right"), &right, parts, batch_rows),
        ];
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let options = recon::source::OpenOptions { threads: 2, ..Default::default() };
        let open = |s: usize| {
            recon::source::open(&texts[s], None, recon::Side::BOTH[s], &options, runtime.handle()).unwrap()
        };
        let (l, r) = (open(0), open(1));
        let mut spec = Spec {
            selection: Selection {
                key: if composite { vec!["k1".into(), "k2".into()] } else { vec!["k1".into()] },
                exclude: if composite { vec![] } else { vec!["k2".into()] },
                ..Selection::default()
            },
            leaf_rows,
            group_rows: 3 * leaf_rows as u64,
            threads: 2,
            ..Spec::default()
        };
        let local = recon::diff(l.as_ref(), r.as_ref(), &spec).unwrap().report;
        // Both sides on the cluster, or only the left, or only the right.
        let table = |s: usize| {
            recon::source::ClusterTable::for_side(&texts[s], None, recon::Side::BOTH[s], &options).unwrap()
        };
        let tables = match on_cluster {
            0 => [table(0), table(1)],
            1 => [table(0), None],
            _ => [None, table(1)],
        };
        spec.cluster = Some(recon::compare::ClusterRun {
            url: recon::cluster::client::IN_PROCESS.into(),
            tables,
            executor_wait: recon::compare::EXECUTOR_WAIT,
        });
        let remote = recon::diff(l.as_ref(), r.as_ref(), &spec).unwrap().report;
        prop_assert_eq!(serde_json::to_value(remote.stats.strategy).unwrap(), "cluster");

        // The oracle's view of the cluster's report.
        let key_of = |m: &serde_json::Map<String, serde_json::Value>| -> Key {
            (
                m.get("k1").and_then(|v| v.as_i64()),
                if composite { m.get("k2").and_then(|v| v.as_str()).map(String::from) } else { None },
            )
        };
        let mut got = Outcome {
            unchanged: remote.summary.unchanged,
            null_keys: remote.summary.null_keys,
            ..Outcome::default()
        };
        for d in &remote.diffs {
            let k = key_of(&d.key);
            match d.status {
                Status::OnlyLeft => { got.only_left.insert(k); }
                Status::OnlyRight => { got.only_right.insert(k); }
                Status::Changed => { got.changed.insert(k, d.columns.clone()); }
            }
        }
        for d in &remote.duplicates {
            got.duplicates.insert(key_of(&d.key));
        }
                prop_assert_eq!(got, expected);

        // And the local run's report, byte for byte but for the statistics.
        let answer = |report: &recon::report::Report| {
            let mut json = serde_json::to_value(report).unwrap();
            json.as_object_mut().unwrap().remove("stats");
            serde_json::to_string(&json).unwrap()
        };
        prop_assert_eq!(answer(&remote), answer(&local));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// JSON and NDJSON written a record at a time from the rows are, byte
    /// for byte, those of the report holding every record: any order, masks,
    /// composite keys, limits.
    #[test]
    fn a_listing_from_the_rows_writes_the_report_it_replaces(
        composite in any::<bool>(),
        left in prop::collection::vec(row(60), 0..80),
        edit_list in edits(60),
        seed in any::<u64>(),
        leaf_rows in 1usize..20,
        limit in prop_oneof![Just(None), (0usize..30).prop_map(Some)],
        mask in prop_oneof![Just(vec![]), Just(vec!["b".to_string()]), Just(vec!["k1".to_string(), "c".to_string()])],
    ) {
        let right = apply(&left, &edit_list, composite);
        let left = arranged(left, 1, seed);
        let right = arranged(right, 1, seed ^ 1);
        let spec = Spec {
            selection: Selection {
                key: if composite { vec!["k1".into(), "k2".into()] } else { vec!["k1".into()] },
                exclude: if composite { vec![] } else { vec!["k2".into()] },
                ..Selection::default()
            },
            leaf_rows,
            mask: mask.clone(),
            threads: 2,
            ..Spec::default()
        };
        let (l, r) = (source("left", &left, 2, 7), source("right", &right, 2, 7));
        let outcome = recon::diff(&l, &r, &spec).unwrap();
        let mut whole = outcome.report.clone();
        if let Some(n) = limit {
            whole.diffs_truncated = whole.diffs.len() > n;
            whole.diffs.truncate(n);
        }
        let listing = recon::report::Listing {
            records: recon::report::DiffRecords::new(&outcome.plan, &outcome.rows),
            diffs: &outcome.rows.diffs,
            limit,
            mask: &outcome.mask,
        };
        // The listing ignores the report's own records: give it none.
        let mut sample = outcome.report.clone();
        sample.diffs.clear();
        let written = |json: bool, listed: bool| {
            let mut out = Vec::new();
            match (json, listed) {
                (true, false) => recon::report::write_json(&whole, &mut out),
                (true, true) => recon::report::write_json_listing(&sample, &listing, &mut out),
                (false, false) => recon::report::write_ndjson(&whole, &mut out),
                (false, true) => recon::report::write_ndjson_listing(&sample, &listing, &mut out),
            }
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        prop_assert_eq!(written(true, true), written(true, false));
        prop_assert_eq!(written(false, true), written(false, false));
    }
}
