//! Snapshots through the CLI: taking one, comparing a live source against
//! it, refusing one taken under another plan or of an unknown version, and
//! the two-party exchange (ranges out, extract, row diff) end to end.

mod common;

use common::{diff, recon, reported};
use serde_json::Value;

fn generate(dir: &std::path::Path, rows: &str, extra: &[&str]) {
    let out = recon()
        .args(["gen", "--out"])
        .arg(dir)
        .args(["--rows", rows])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn snapshot(source: &str, output: &str, extra: &[&str]) -> std::process::Output {
    recon()
        .args(["snapshot", source, "--key", "id", "-o", output])
        .args(extra)
        .output()
        .unwrap()
}

fn path(dir: &std::path::Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

#[test]
fn a_snapshot_stands_for_its_source() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        "20000",
        &["--updates", "7", "--inserts", "3", "--deletes", "2"],
    );
    let (left, right) = (
        path(dir.path(), "left.parquet"),
        path(dir.path(), "right.parquet"),
    );
    let snap = path(dir.path(), "left.snapshot.parquet");
    // Small leaves, so that the rows of the divergent ranges are all listed.
    let out = snapshot(&left, &snap, &["--leaf-rows", "32"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Against its own source: equal, exit 0.
    let (code, report) = diff(&snap, &left, "id", &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ranges"].as_array().unwrap().len(), 0);

    // Against the changed copy: exit 1, and every planted difference lies
    // in a divergent range that holds the right side's row of that key.
    let (code, against) = diff(&snap, &right, "id", &[]);
    assert_eq!(code, 1);
    let (_, direct) = diff(&left, &right, "id", &[]);
    let listed: Vec<i64> = against["snapshot"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        against["snapshot"]["live_rows_in_ranges"].as_u64().unwrap() as usize,
        listed.len()
    );
    assert_eq!(against["snapshot"]["rows_truncated"], false);
    for ((status, key), _) in reported(&direct) {
        let key: i64 = key.parse().unwrap();
        if status != "only_left" {
            assert!(listed.contains(&key), "{status} {key} not in the ranges");
        }
    }
    assert_eq!(
        against["summary"]["left_rows"],
        direct["summary"]["left_rows"]
    );
    // Few rows read back: the ranges, not the table (12 differences, 32-row leaves).
    assert!(listed.len() <= 12 * 64, "{}", listed.len());
}

#[test]
fn a_snapshot_of_another_plan_or_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "2000", &[]);
    let left = path(dir.path(), "left.parquet");
    let snap = path(dir.path(), "s.parquet");
    assert!(
        snapshot(&left, &snap, &["--exclude", "note"])
            .status
            .success()
    );
    let out = recon()
        .args(["diff", &snap, &left, "--key", "id"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another plan") && stderr.contains("note"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // The same exclusion: accepted.
    let out = recon()
        .args([
            "diff",
            &snap,
            &left,
            "--key",
            "id",
            "--exclude",
            "note",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A snapshot whose version this build does not know.
    let text = std::fs::read(&snap).unwrap();
    let needle = b"\"version\":1";
    let at = text
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the version in the footer");
    let mut changed = text.clone();
    changed[at + needle.len() - 1] = b'9';
    let future = path(dir.path(), "future.parquet");
    std::fs::write(&future, changed).unwrap();
    let out = recon()
        .args(["diff", &future, &left, "--key", "id", "--exclude", "note"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("version 9"), "{stderr}");
}

#[test]
fn two_parties_exchange_only_the_rows_of_divergent_ranges() {
    two_parties(&[]);
}

/// With `--hash-keys` the snapshot holds no key value: its leaves cut the
/// keys' keyed hashes, and the exchange still gives the direct answer.
#[test]
fn two_parties_exchange_without_revealing_keys() {
    two_parties(&["--hash-keys"]);
}

fn two_parties(snapshot_options: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        "30000",
        &["--updates", "5", "--inserts", "4", "--deletes", "3"],
    );
    // Party A holds left.parquet, party B right.parquet.
    let (a, b) = (
        path(dir.path(), "left.parquet"),
        path(dir.path(), "right.parquet"),
    );
    let snap = path(dir.path(), "a.snapshot.parquet");
    let ranges = path(dir.path(), "ranges.parquet");
    let rows = path(dir.path(), "a-rows.parquet");
    let mut options = vec!["--leaf-rows", "64"];
    options.extend_from_slice(snapshot_options);
    assert!(snapshot(&a, &snap, &options).status.success());
    // Hashed: not one key value in the file (only hashes, counts and digests).
    if snapshot_options.contains(&"--hash-keys") {
        let file = std::fs::File::open(&snap).unwrap();
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(file).unwrap();
        let schema = parquet::file::reader::FileReader::metadata(&reader)
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect::<Vec<_>>();
        assert_eq!(
            schema,
            ["leaf", "file", "rows", "digest", "lower_bound_hash"]
        );
    }
    // B compares against A's snapshot and sends back the ranges.
    let out = recon()
        .args([
            "diff",
            &snap,
            &b,
            "--key",
            "id",
            "--format",
            "json",
            "--ranges-out",
            &ranges,
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let against: Value = serde_json::from_slice(&out.stdout).unwrap();
    // A extracts its rows in those ranges.
    let out = recon()
        .args(["extract", &a, "--ranges", &ranges, "-o", &rows])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "FILE: N rows"
    let crossed: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .rsplit(": ")
        .next()
        .and_then(|t| t.trim_end_matches(" rows").parse().ok())
        .expect("a row count");
    // B diffs A's rows against its own, both restricted to the ranges.
    let (code, restricted) = diff(&rows, &b, "id", &["--ranges", &ranges]);
    let (direct_code, direct) = diff(&a, &b, "id", &[]);
    assert_eq!(code, direct_code);
    assert_eq!(reported(&restricted), reported(&direct));
    for field in ["only_left", "only_right", "changed"] {
        assert_eq!(
            restricted["summary"][field], direct["summary"][field],
            "{field}"
        );
    }
    // Only rows of divergent ranges crossed: as many as the ranges hold on A's side.
    let in_ranges: u64 = against["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["left_rows"].as_u64().unwrap())
        .sum();
    assert_eq!(crossed, in_ranges);
    // 12 differences in 64-row leaves (at most two leaves' worth of a range each way).
    assert!(in_ranges <= 12 * 2 * 64, "{in_ranges}");
}

/// A snapshot an earlier build wrote (kept in testdata) is read by this one
/// and still stands for its source: neither the format nor the hashing may
/// change without a new snapshot version.
#[test]
fn a_snapshot_from_an_earlier_build_still_stands_for_its_source() {
    let snap = "testdata/snapshots/orders-left.snapshot.parquet";
    let (code, report) = diff(snap, "testdata/orders/left.parquet", "id", &[]);
    assert_eq!(code, 0, "{report}");
    let (code, report) = diff(snap, "testdata/orders/right.parquet", "id", &[]);
    assert_eq!(code, 1);
    let listed: Vec<i64> = report["snapshot"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string("testdata/orders/truth.json").unwrap())
            .unwrap();
    let mut planted = 0;
    for field in ["only_right", "changed"] {
        for key in truth[field].as_array().unwrap() {
            let key = key.as_i64().or_else(|| key["id"].as_i64()).unwrap();
            assert!(listed.contains(&key), "{field} {key}");
            planted += 1;
        }
    }
    assert!(planted > 0);
}

/// Two snapshots compare when the second was cut like the first; masks hide
/// the live rows' values; a rule file may name a snapshot as a side; and
/// `recon check --state` keeps each check's state.
#[test]
fn snapshots_compare_with_each_other_and_serve_rule_files() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "5000", &["--updates", "4"]);
    let (left, right) = (
        path(dir.path(), "left.parquet"),
        path(dir.path(), "right.parquet"),
    );
    let (a, b, c) = (
        path(dir.path(), "a.parquet"),
        path(dir.path(), "b.parquet"),
        path(dir.path(), "c.parquet"),
    );
    assert!(snapshot(&left, &a, &[]).status.success());
    assert!(snapshot(&right, &b, &["--like", &a]).status.success());
    assert!(snapshot(&left, &c, &["--like", &a]).status.success());
    let (code, report) = diff(&a, &b, "id", &[]);
    assert_eq!(code, 1);
    assert!(!report["ranges"].as_array().unwrap().is_empty());
    assert_eq!(diff(&a, &c, "id", &[]).0, 0);
    // Cut on its own (another key, other leaves): refused.
    let alone = path(dir.path(), "alone.parquet");
    assert!(
        snapshot(&right, &alone, &["--leaf-rows", "100"])
            .status
            .success()
    );
    let out = recon()
        .args(["diff", &a, &alone, "--key", "id"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--like"));

    // Masks hide the live rows' values.
    let (_, masked) = diff(&a, &right, "id", &["--mask", "name"]);
    let rows = masked["snapshot"]["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["name"] == "***"), "{rows:?}");

    // A rule file with a snapshot side, and --state on check.
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("snap.toml"),
        format!("key = [\"id\"]\n[left]\nsource = {a:?}\n[right]\nsource = {right:?}\n"),
    )
    .unwrap();
    std::fs::write(
        rules.join("files.toml"),
        format!("key = [\"id\"]\n[left]\nsource = {left:?}\n[right]\nsource = {right:?}\n"),
    )
    .unwrap();
    let state = dir.path().join("state");
    let check = || {
        let out = recon()
            .args(["check", "--dir"])
            .arg(&rules)
            .args(["--format", "json", "--state"])
            .arg(&state)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let first = check();
    let second = check();
    for run in [&first, &second] {
        let checks = run["checks"].as_array().unwrap();
        let by_name = |n: &str| checks.iter().find(|c| c["name"] == n).unwrap().clone();
        assert_eq!(by_name("snap")["status"], "fail");
        assert!(by_name("snap")["report"]["snapshot"].is_object());
        assert_eq!(by_name("files")["report"]["summary"]["changed"], 4);
    }
    let files = |run: &Value| {
        run["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "files")
            .unwrap()["report"]["stats"]["state"]["reused"]
            .clone()
    };
    assert_eq!(files(&first), false);
    assert_eq!(files(&second), true);
    assert!(state.join("files").join("left.snapshot.parquet").exists());
}
