//! `--state`: incremental re-verification must give the answer a fresh full
//! run gives, whatever happened to the files between runs: files added,
//! deleted, rewritten under a new inode, or edited in place keeping their
//! size and modification time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use proptest::prelude::*;
use recon::source::{self, OpenOptions};
use recon::{Side, Spec};

#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: Option<i64>,
    a: i64,
    b: String,
}

/// Fixed-width layout (no compression, dictionary or statistics), so that a
/// file rewritten with other `a` values keeps its size exactly.
fn write_rows(path: &Path, rows: &[Row]) {
    write_rows_in_groups(path, rows, 64);
}

fn write_rows_in_groups(path: &Path, rows: &[Row], group_rows: usize) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("a", DataType::Int64, false),
        Field::new("b", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.a).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.b.as_str()).collect::<Vec<_>>(),
        )),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    let properties = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(group_rows))
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema, Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Overwrites `path` in place (same inode), then sets its modification time
/// back: only the inode change time and the content tell.
fn edit_in_place(path: &Path, rows: &[Row]) {
    let before = std::fs::metadata(path).unwrap();
    let scratch = path.with_extension("scratch");
    write_rows(&scratch, rows);
    let bytes = std::fs::read(&scratch).unwrap();
    std::fs::remove_file(&scratch).unwrap();
    assert_eq!(
        bytes.len() as u64,
        before.len(),
        "an in-place edit keeps the size"
    );
    use std::io::{Seek, Write};
    let mut file = std::fs::File::options().write(true).open(path).unwrap();
    file.seek(std::io::SeekFrom::Start(0)).unwrap();
    file.write_all(&bytes).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
}

#[derive(Debug, Clone)]
enum Step {
    /// A new file of `rows` rows from key `from` (may repeat keys).
    Add { side: usize, from: i64, rows: usize },
    /// Delete the n-th file (modulo) of a side.
    Delete { side: usize, file: usize },
    /// Rewrite the n-th file with changed `b` values, under a new inode.
    Rewrite { side: usize, file: usize, seed: u64 },
    /// Change `a` in some rows of the n-th file, in place, keeping size and mtime.
    EditInPlace { side: usize, file: usize, seed: u64 },
    /// Nothing: the run must reuse everything.
    Nothing,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..2usize, 0..400i64, 1..120usize).prop_map(|(side, from, rows)| Step::Add {
            side,
            from,
            rows
        }),
        (0..2usize, 0..8usize).prop_map(|(side, file)| Step::Delete { side, file }),
        (0..2usize, 0..8usize, any::<u64>()).prop_map(|(side, file, seed)| Step::Rewrite {
            side,
            file,
            seed
        }),
        (0..2usize, 0..8usize, any::<u64>()).prop_map(|(side, file, seed)| Step::EditInPlace {
            side,
            file,
            seed
        }),
        Just(Step::Nothing),
    ]
}

struct Sides {
    dirs: [PathBuf; 2],
    files: [BTreeMap<String, Vec<Row>>; 2],
    next: usize,
}

impl Sides {
    fn write(&mut self, side: usize, name: String, rows: Vec<Row>) {
        write_rows(&self.dirs[side].join(&name), &rows);
        self.files[side].insert(name, rows);
    }

    fn nth(&self, side: usize, n: usize) -> Option<String> {
        let names: Vec<&String> = self.files[side].keys().collect();
        (!names.is_empty()).then(|| names[n % names.len()].clone())
    }

    fn apply(&mut self, step: &Step) {
        match *step {
            Step::Add { side, from, rows } => {
                let name = format!("part-{:04}.parquet", self.next);
                self.next += 1;
                let rows = (0..rows as i64)
                    .map(|i| Row {
                        id: if (from + i) % 997 == 13 {
                            None
                        } else {
                            Some(from + i)
                        },
                        a: from + i,
                        b: format!("v{}", (from + i) % 7),
                    })
                    .collect();
                self.write(side, name, rows);
            }
            Step::Delete { side, file } => {
                if let Some(name) = self.nth(side, file) {
                    std::fs::remove_file(self.dirs[side].join(&name)).unwrap();
                    self.files[side].remove(&name);
                }
            }
            Step::Rewrite { side, file, seed } => {
                if let Some(name) = self.nth(side, file) {
                    let mut rows = self.files[side][&name].clone();
                    let n = rows.len();
                    rows[seed as usize % n].b.push('x');
                    let path = self.dirs[side].join(&name);
                    let scratch = path.with_extension("new");
                    write_rows(&scratch, &rows);
                    std::fs::rename(&scratch, &path).unwrap();
                    self.files[side].insert(name, rows);
                }
            }
            Step::EditInPlace { side, file, seed } => {
                if let Some(name) = self.nth(side, file) {
                    let mut rows = self.files[side][&name].clone();
                    let n = rows.len();
                    rows[seed as usize % n].a ^= 1 << (seed % 40);
                    edit_in_place(&self.dirs[side].join(&name), &rows);
                    self.files[side].insert(name, rows);
                }
            }
            Step::Nothing => {}
        }
    }
}

/// What must not depend on how the run was made: counts and every
/// difference, duplicate and NULL key.
fn answer(report: &recon::Report) -> String {
    let mut value = serde_json::to_value(report).unwrap();
    let obj = value.as_object_mut().unwrap();
    for volatile in ["stats", "ranges", "schema", "left", "right"] {
        obj.remove(volatile);
    }
    // NULL-key examples are a sample: their count is in the summary.
    obj.remove("null_key_samples");
    serde_json::to_string(&value).unwrap()
}

fn compare(dirs: &[PathBuf; 2], state: Option<&Path>) -> recon::Comparison {
    compare_with(dirs, state, false)
}

fn compare_with(dirs: &[PathBuf; 2], state: Option<&Path>, full: bool) -> recon::Comparison {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let options = OpenOptions::default();
    let open = |dir: &Path, side| {
        source::open(
            &dir.to_string_lossy(),
            None,
            side,
            &options,
            runtime.handle(),
        )
        .unwrap()
    };
    let (left, right) = (open(&dirs[0], Side::Left), open(&dirs[1], Side::Right));
    let mut spec = Spec::default();
    spec.selection.key = vec!["id".into()];
    spec.leaf_rows = 16;
    spec.state = state.map(Path::to_path_buf);
    spec.full_rehash = full;
    recon::diff(left.as_ref(), right.as_ref(), &spec).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn incremental_runs_answer_as_fresh_runs_do(
        initial in 1..4usize,
        steps in proptest::collection::vec(step(), 1..7),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let dirs = [dir.path().join("left"), dir.path().join("right")];
        for d in &dirs {
            std::fs::create_dir_all(d).unwrap();
        }
        let state = dir.path().join("state");
        let mut sides = Sides { dirs: dirs.clone(), files: [BTreeMap::new(), BTreeMap::new()], next: 0 };
        // The same rows on both sides to begin with, cut into files alike.
        for f in 0..initial {
            let from = f as i64 * 150;
            for side in 0..2 {
                sides.next = f;
                sides.apply(&Step::Add { side, from, rows: 150 });
            }
        }
        sides.next = initial;
        let first = compare(&dirs, Some(&state));
        prop_assert_eq!(answer(&first.report), answer(&compare(&dirs, None).report));
        for step in &steps {
            sides.apply(step);
            // Both sides must keep at least one file to be a source.
            for side in 0..2 {
                if sides.files[side].is_empty() {
                    sides.apply(&Step::Add { side, from: 0, rows: 10 });
                }
            }
            let incremental = compare(&dirs, Some(&state));
            let fresh = compare(&dirs, None);
            prop_assert_eq!(
                answer(&incremental.report),
                answer(&fresh.report),
                "after {:?}", step
            );
            let stats = incremental.report.stats.state.clone().unwrap();
            if matches!(step, Step::Nothing) && stats.reused {
                // Nothing changed: nothing but files with NULL keys is read.
                let with_null_keys = |side: usize| sides.files[side]
                    .values()
                    .filter(|rows| rows.iter().any(|r| r.id.is_none()))
                    .count() as u64;
                prop_assert_eq!(stats.left_files_hashed, with_null_keys(0));
                prop_assert_eq!(stats.right_files_hashed, with_null_keys(1));
            }
        }
    }
}

/// A run that reuses the state reads only the changed file, and finds the
/// planted change in it.
#[test]
fn only_the_changed_file_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = [dir.path().join("left"), dir.path().join("right")];
    let mut sides = Sides {
        dirs: dirs.clone(),
        files: [BTreeMap::new(), BTreeMap::new()],
        next: 0,
    };
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    for f in 0..6 {
        for side in 0..2 {
            sides.next = f;
            // Every key set: no NULL keys.
            let rows = (0..200)
                .map(|i| Row {
                    id: Some(f as i64 * 1000 + i),
                    a: i,
                    b: "x".into(),
                })
                .collect();
            sides.write(side, format!("part-{f}.parquet"), rows);
        }
    }
    let state = dir.path().join("state");
    let first = compare(&dirs, Some(&state));
    assert_eq!(first.report.verdict, recon::Verdict::Equal);
    let stats = first.report.stats.state.clone().unwrap();
    assert!(!stats.reused);
    assert_eq!(stats.left_files_hashed, 6);
    sides.apply(&Step::EditInPlace {
        side: 1,
        file: 2,
        seed: 7,
    });
    let second = compare(&dirs, Some(&state));
    let stats = second.report.stats.state.clone().unwrap();
    assert!(stats.reused, "{:?}", second.report.schema.notes);
    assert_eq!((stats.left_files_reused, stats.left_files_hashed), (6, 0));
    assert_eq!((stats.right_files_reused, stats.right_files_hashed), (5, 1));
    assert_eq!(second.report.summary.changed, 1);
    assert_eq!(second.report.diffs[0].columns, vec!["a".to_string()]);
    assert_eq!(second.report.stats.left_rows_hashed, 0);
    assert_eq!(second.report.stats.right_rows_hashed, 200);
    // --full reads everything again and agrees.
    let mut spec_full = compare_with(&dirs, Some(&state), true);
    assert_eq!(answer(&spec_full.report), answer(&second.report));
    let stats = spec_full.report.stats.state.take().unwrap();
    assert_eq!(stats.right_files_hashed, 6);
}

/// A run killed part-way keeps the files it had finished in the state; the
/// run started again reads only the others and answers as a fresh run.
#[test]
fn a_killed_file_run_continues_from_the_files_it_finished() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = [dir.path().join("left"), dir.path().join("right")];
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    let files = 24;
    let per_file = 100_000i64;
    for f in 0..files {
        let rows: Vec<Row> = (0..per_file)
            .map(|i| Row {
                id: Some(f * per_file + i),
                a: i,
                b: format!("r{}", i % 13),
            })
            .collect();
        write_rows_in_groups(&dirs[0].join(format!("p{f:03}.parquet")), &rows, 32_768);
        let mut changed = rows;
        changed[(f * 7919 % per_file) as usize].a += 1;
        write_rows_in_groups(&dirs[1].join(format!("p{f:03}.parquet")), &changed, 32_768);
    }
    let state = dir.path().join("state");
    let recon = assert_cmd::cargo::cargo_bin("recon");
    let args = |extra: &[&std::ffi::OsStr]| {
        let mut a: Vec<std::ffi::OsString> = vec![
            "diff".into(),
            dirs[0].clone().into(),
            dirs[1].clone().into(),
            "--key".into(),
            "id".into(),
            "--format".into(),
            "json".into(),
            "--threads".into(),
            "1".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_os_string()));
        a
    };
    let mut child = std::process::Command::new(&recon)
        .args(args(&["--state".as_ref(), state.as_os_str()]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let kept = state.join("right.snapshot.parquet");
    let started = std::time::Instant::now();
    while !kept.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it saved its progress"
        );
        assert!(started.elapsed().as_secs() < 120);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let meta = recon::snapshot::Snapshot::sniff(&kept.to_string_lossy()).unwrap();
    assert!(meta.partial, "the run was killed before it finished");
    // A partial state is no snapshot to compare with.
    let out = std::process::Command::new(&recon)
        .args([
            "diff".as_ref(),
            kept.as_os_str(),
            dirs[1].as_os_str(),
            "--key".as_ref(),
            "id".as_ref(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = std::process::Command::new(&recon)
        .args(args(&["--state".as_ref(), state.as_os_str()]))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fresh = std::process::Command::new(&recon)
        .args(args(&[]))
        .output()
        .unwrap();
    let fresh: serde_json::Value = serde_json::from_slice(&fresh.stdout).unwrap();
    for field in ["diffs", "summary", "duplicates"] {
        assert_eq!(resumed[field], fresh[field], "{field}");
    }
    assert_eq!(resumed["summary"]["changed"], files);
    let stats = &resumed["stats"]["state"];
    assert_eq!(stats["reused"], true, "{}", resumed["schema"]["notes"]);
    let reused = stats["left_files_reused"].as_u64().unwrap()
        + stats["right_files_reused"].as_u64().unwrap();
    assert!(reused > 0 && reused < 2 * files as u64, "{stats}");
    assert!(
        resumed["schema"]["notes"]
            .to_string()
            .contains("unfinished run")
    );
}
