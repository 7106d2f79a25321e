//! The binary as a user runs it: exit codes, outputs, and one-line errors.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn recon() -> Command {
    Command::cargo_bin("recon").unwrap()
}

fn generate(dir: &Path, format: &str, extra: &[&str]) -> Value {
    recon()
        .args(["gen", "--out"])
        .arg(dir)
        .args(["--format", format])
        .args(extra)
        .assert()
        .success();
    serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap()
}

fn diff_json(left: &Path, right: &Path, extra: &[&str]) -> (i32, Value) {
    let out = recon()
        .arg("diff")
        .arg(left)
        .arg(right)
        .args(["--key", "id", "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, serde_json::from_slice(&out.stdout).unwrap())
}

/// Runs recon expecting exit 2 and returns its single stderr line.
fn error_line(args: &[&str]) -> String {
    let out = recon().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "args {args:?}: stderr {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    stderr
}

/// With TMPDIR missing, a run that needs a temporary file under this
/// memory limit is exit 2, one line naming the temporary file and where.
fn assert_temp_dir_failure(left: &Path, right: &Path, memory_limit: &str) {
    let missing = left.with_file_name("missing");
    let out = recon()
        .env("TMPDIR", &missing)
        .arg("diff")
        .arg(left)
        .arg(right)
        .args(["--key", "id", "--memory-limit", memory_limit])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("temporary file") && stderr.contains("missing"),
        "{stderr}"
    );
}

fn ids(v: &Value) -> Vec<i64> {
    let mut out: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    out.sort();
    out
}

fn reported(report: &Value, status: &str) -> Vec<i64> {
    let mut out: Vec<i64> = report["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == status)
        .map(|d| d["key"]["id"].as_i64().unwrap())
        .collect();
    out.sort();
    out
}

/// The report lists exactly the generator's differences: the keys only on
/// each side, and each changed key with its changed columns.
fn assert_truth(report: &Value, truth: &Value) {
    assert_eq!(reported(report, "only_left"), ids(&truth["only_left"]));
    assert_eq!(reported(report, "only_right"), ids(&truth["only_right"]));
    let mut changed: Vec<(i64, Vec<String>)> = report["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "changed")
        .map(|d| {
            (
                d["key"]["id"].as_i64().unwrap(),
                serde_json::from_value(d["columns"].clone()).unwrap(),
            )
        })
        .collect();
    changed.sort();
    let mut expected: Vec<(i64, Vec<String>)> = truth["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                serde_json::from_value(c["columns"].clone()).unwrap(),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(changed, expected);
}

#[test]
fn finds_the_generated_differences_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(
        dir.path(),
        "parquet",
        &[
            "--rows",
            "20000",
            "--inserts",
            "7",
            "--deletes",
            "5",
            "--updates",
            "11",
            "--shuffle",
        ],
    );
    let (code, report) = diff_json(
        &dir.path().join("left.parquet"),
        &dir.path().join("right.parquet"),
        &["--leaf-rows", "64"],
    );
    assert_eq!(code, 1);
    assert_truth(&report, &truth);
    let s = &report["summary"];
    assert_eq!(s["left_rows"], 20000);
    assert_eq!(s["right_rows"], 20000 - 5 + 7);
    assert_eq!(s["unchanged"], 20000 - 5 - 11);
    // Only divergent ranges were re-read.
    let reread = report["stats"]["left_rows_reread"].as_u64().unwrap()
        + report["stats"]["right_rows_reread"].as_u64().unwrap();
    // 23 differences touch at most 23 leaves of about 64 rows per side.
    assert!(reread < 40_000 / 8, "re-read {reread} rows");
    assert!(!report["ranges"].as_array().unwrap().is_empty());
}

/// A row group of 600,000 rows is read in parts of 256Ki rows; the merged
/// pass reads each of its windows across the parts of a row group with one
/// reader (the windows' edges fall inside parts), and walks the integer key
/// as integers. Its answer is the generator's truth, on one thread or two.
#[test]
fn merged_windows_read_across_the_parts_of_a_row_group() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(
        dir.path(),
        "parquet",
        &[
            "--rows",
            "600000",
            "--inserts",
            "15",
            "--deletes",
            "15",
            "--updates",
            "40",
        ],
    );
    for threads in ["1", "2"] {
        let (code, report) = diff_json(
            &dir.path().join("left.parquet"),
            &dir.path().join("right.parquet"),
            &["--threads", threads],
        );
        assert_eq!(code, 1);
        assert_eq!(report["stats"]["strategy"], "merged");
        assert_truth(&report, &truth);
        assert_eq!(report["summary"]["unchanged"], 600_000 - 15 - 40);
    }
}

#[test]
fn equal_files_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "parquet", &["--rows", "3000"]);
    let (code, report) = diff_json(
        &dir.path().join("left.parquet"),
        &dir.path().join("right.parquet"),
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(report["verdict"], "equal");
    assert_eq!(report["summary"]["unchanged"], 3000);
    assert_eq!(report["stats"]["left_rows_reread"], 0);
}

fn same_data_in(a: &str, b: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    generate(&da, a, &["--rows", "4000", "--seed", "9"]);
    generate(&db, b, &["--rows", "4000", "--seed", "9"]);
    let ext = |f: &str| {
        if f == "ndjson" {
            "ndjson".to_string()
        } else {
            f.to_string()
        }
    };
    let (code, report) = diff_json(
        &da.join(format!("left.{}", ext(a))),
        &db.join(format!("right.{}", ext(b))),
        &[],
    );
    assert_eq!(
        code,
        0,
        "{a} vs {b}: {}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    assert_eq!(report["summary"]["unchanged"], 4000);
}

#[test]
fn csv_equals_parquet_of_the_same_data() {
    same_data_in("csv", "parquet");
}

#[test]
fn ndjson_equals_arrow_ipc_of_the_same_data() {
    same_data_in("ndjson", "arrow");
}

#[test]
fn output_diffs_file_holds_every_difference() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        "parquet",
        &[
            "--rows",
            "5000",
            "--inserts",
            "3",
            "--deletes",
            "4",
            "--updates",
            "30",
        ],
    );
    let out = dir.path().join("diffs.csv");
    let (code, report) = diff_json(
        &dir.path().join("left.parquet"),
        &dir.path().join("right.parquet"),
        &["--max-diffs", "2", "--output-diffs", out.to_str().unwrap()],
    );
    assert_eq!(code, 1);
    assert_eq!(report["diffs"].as_array().unwrap().len(), 2);
    assert_eq!(report["diffs_truncated"], true);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("status,id,left_qty,right_qty"),
        "{header}"
    );
    assert_eq!(lines.count(), 37);
}

#[test]
fn table_and_markdown_show_the_differences() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        "parquet",
        &["--rows", "1000", "--updates", "1", "--seed", "3"],
    );
    let run = |format: &str| {
        let out = recon()
            .arg("diff")
            .arg(dir.path().join("left.parquet"))
            .arg(dir.path().join("right.parquet"))
            .args(["--key", "id", "--format", format])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run("table");
    assert!(
        table.contains("DIFFERENT: 0 only in left, 0 only in right, 1 changed, 999 unchanged"),
        "{table}"
    );
    assert!(table.contains("Divergent key ranges"), "{table}");
    let md = run("markdown");
    assert!(md.starts_with("## recon: DIFFERENT"), "{md}");
    assert!(md.contains("| status"), "{md}");
    let nd = run("ndjson");
    let lines: Vec<Value> = nd
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["summary"]["changed"], 1);
    assert_eq!(lines[1]["status"], "changed");
}

/// Outputs that show a sample build only that many difference records;
/// the counts, the full listings (NDJSON) and the history's keys stay whole.
#[test]
fn many_differences_keep_exact_counts_in_every_output() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        "parquet",
        &[
            "--rows",
            "3000",
            "--updates",
            "500",
            "--inserts",
            "30",
            "--deletes",
            "20",
            "--seed",
            "5",
        ],
    );
    let store = dir.path().join("history.sqlite");
    let run = |format: &str, extra: &[&str]| {
        let out = recon()
            .arg("diff")
            .arg(dir.path().join("left.parquet"))
            .arg(dir.path().join("right.parquet"))
            .args(["--key", "id", "--format", format])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run("table", &["--history", store.to_str().unwrap()]);
    assert!(
        table
            .contains("DIFFERENT: 20 only in left, 30 only in right, 500 changed, 2,480 unchanged"),
        "{table}"
    );
    assert!(table.contains("Differences (first 20 of 550)"), "{table}");
    let conn = rusqlite::Connection::open(&store).unwrap();
    let (keys, complete): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM recon_diff_keys), keys_complete FROM recon_checks",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((keys, complete), (550, 1));
    let html = run("html", &[]);
    assert!(html.contains("550"), "the HTML names the count");
    let nd = run("ndjson", &[]);
    assert_eq!(nd.lines().count(), 1 + 550);
    let (_, json) = diff_json(
        &dir.path().join("left.parquet"),
        &dir.path().join("right.parquet"),
        &["--max-diffs", "7"],
    );
    assert_eq!(json["diffs"].as_array().unwrap().len(), 7);
    assert_eq!(json["diffs_truncated"], true);
    assert_eq!(json["summary"]["changed"], 500);
}

#[test]
fn queries_filter_each_side() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        "parquet",
        &["--rows", "2000", "--updates", "50", "--seed", "5"],
    );
    let (code, report) = diff_json(
        &dir.path().join("left.parquet"),
        &dir.path().join("right.parquet"),
        &[
            "--left-query",
            "SELECT id, qty FROM t WHERE id < 10",
            "--right-query",
            "SELECT id, qty FROM t WHERE id < 10",
        ],
    );
    // Whatever the updates touched, only ids below 10 and one column are compared.
    assert!(code == 0 || code == 1);
    assert_eq!(report["summary"]["left_rows"], 5);
    assert_eq!(
        report["schema"]["compared_columns"],
        serde_json::json!(["qty"])
    );
}

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn bad_inputs_exit_two_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = write(d, "good.csv", b"id,v\n1,a\n2,b\n");
    let good_s = good.to_str().unwrap();
    let missing = d.join("missing.parquet");
    let corrupt = write(
        d,
        "corrupt.parquet",
        b"PAR1 this is not parquet at all PAR1",
    );
    let malformed = write(d, "malformed.csv", b"id,v\n1,a\n2,b,c,d\n3\n");
    let strkey = write(d, "strkey.csv", b"id,v\nx,a\ny,b\n");

    let e = error_line(&["diff", missing.to_str().unwrap(), good_s, "--key", "id"]);
    assert!(e.contains("no such file"), "{e}");
    let e = error_line(&["diff", good_s, corrupt.to_str().unwrap(), "--key", "id"]);
    assert!(e.contains("right source"), "{e}");
    let e = error_line(&["diff", malformed.to_str().unwrap(), good_s, "--key", "id"]);
    assert!(e.contains("left source"), "{e}");
    let e = error_line(&["diff", good_s, good_s, "--key", "nope"]);
    assert!(e.contains("nope"), "{e}");
    let e = error_line(&["diff", good_s, strkey.to_str().unwrap(), "--key", "id"]);
    assert!(e.contains("key"), "{e}");
    let e = error_line(&["diff", good_s, good_s, "--key", "id", "--columns", "zzz"]);
    assert!(e.contains("zzz"), "{e}");
    let e = error_line(&[
        "diff",
        good_s,
        good_s,
        "--key",
        "id",
        "--output-diffs",
        "x.txt",
    ]);
    assert!(e.contains(".parquet or .csv"), "{e}");
    let e = error_line(&["diff", "nosuchformat:x", good_s, "--key", "id"]);
    assert!(e.contains("no such file"), "{e}");
    let e = error_line(&[
        "diff",
        &format!("{}/*.nothing", d.display()),
        good_s,
        "--key",
        "id",
    ]);
    assert!(e.contains("no files match"), "{e}");
    let e = error_line(&[
        "diff",
        good_s,
        good_s,
        "--key",
        "id",
        "--left-query",
        "SELEC nonsense",
    ]);
    assert!(e.contains("left source"), "{e}");
    let e = error_line(&["diff", good_s, good_s, "--key", "id,id"]);
    assert!(e.contains("twice"), "{e}");
    let e = error_line(&["diff", good_s, good_s, "--key", "id", "--exclude", "nope"]);
    assert!(e.contains("--exclude") && e.contains("nope"), "{e}");
    // Usage errors from the argument parser: exit 2, one line too.
    for args in [
        vec!["diff", good_s],
        vec!["diff", good_s, good_s, "--key", "id", "--format", "bogus"],
        vec!["diff", good_s, good_s, "--key", "id", "--max-diffs", "-1"],
        vec!["diff", good_s, good_s, "--key", "id", "--threads", "0"],
    ] {
        error_line(&args);
    }
}

#[test]
fn duplicate_and_null_keys_fail_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let left = write(dir.path(), "l.csv", b"id,v\n1,a\n2,b\n2,b\n,z\n");
    let right = write(dir.path(), "r.csv", b"id,v\n1,a\n2,b\n2,b\n,z\n");
    let (code, report) = diff_json(&left, &right, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["summary"]["duplicate_keys"], 1);
    assert_eq!(report["summary"]["null_keys"], 2);
    assert_eq!(report["duplicates"][0]["key"]["id"], 2);
    assert_eq!(report["duplicates"][0]["left_count"], 2);
}

#[test]
fn default_value_semantics_hold_across_files() {
    let dir = tempfile::tempdir().unwrap();
    // Number formatting (1.80 vs 1.8, 3 vs 3.0), -0.0, NULL vs "NULL", column order.
    let left = write(
        dir.path(),
        "l.csv",
        b"id,price,f,s,n\n1,1.80,-0.0,x,5\n2,2.5,2,y,6\n3,3,1.5,NULL,7\n",
    );
    let right = write(
        dir.path(),
        "r.ndjson",
        b"{\"n\":5,\"s\":\"x\",\"f\":0.0,\"price\":1.8,\"id\":1}\n{\"n\":6,\"s\":\"y\",\"f\":2.0,\"price\":2.50,\"id\":2}\n{\"n\":7,\"s\":null,\"f\":1.5,\"price\":3.0,\"id\":3}\n",
    );
    let (code, report) = diff_json(&left, &right, &[]);
    assert_eq!(code, 1, "{report}");
    // Only row 3's "NULL" text against a real NULL differs.
    assert_eq!(report["summary"]["changed"], 1, "{report}");
    assert_eq!(report["diffs"][0]["key"]["id"], 3);
    assert_eq!(report["diffs"][0]["columns"], serde_json::json!(["s"]));
}

#[test]
fn empty_sources_compare_equal() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.csv", b"id,v\n");
    let b = write(dir.path(), "b.csv", b"id,v\n");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["left_rows"], 0);
}

#[test]
fn all_null_columns_render_as_null() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.ndjson", b"{\"id\":1,\"v\":null}\n");
    let b = write(dir.path(), "b.ndjson", b"{\"id\":1,\"v\":\"\"}\n");
    let (code, report) = diff_json(&a, &b, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["diffs"][0]["left"]["v"], Value::Null);
    assert_eq!(report["diffs"][0]["right"]["v"], "");
}

#[test]
fn generated_csv_pairs_match_their_truth() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(
        dir.path(),
        "csv",
        &[
            "--rows",
            "3000",
            "--inserts",
            "5",
            "--deletes",
            "5",
            "--updates",
            "60",
            "--seed",
            "123",
            "--shuffle",
        ],
    );
    let (code, report) = diff_json(
        &dir.path().join("left.csv"),
        &dir.path().join("right.csv"),
        &[],
    );
    assert_eq!(code, 1);
    assert_truth(&report, &truth);
}

#[test]
fn a_key_named_status_keeps_the_diffs_file_readable() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.csv", b"status,v\n1,a\n2,b\n");
    let b = write(dir.path(), "b.csv", b"status,v\n1,a\n2,c\n");
    let out = dir.path().join("d.parquet");
    let out_s = out.to_str().unwrap();
    let run = recon()
        .arg("diff")
        .arg(&a)
        .arg(&b)
        .args([
            "--key",
            "status",
            "--format",
            "json",
            "--output-diffs",
            out_s,
        ])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    // The file reads back as a source: one changed row.
    let (code, report) = {
        let o = recon()
            .arg("diff")
            .arg(&out)
            .arg(&out)
            .args(["--key", "status", "--format", "json"])
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        )
    };
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["left_rows"], 1);
}

#[test]
fn markdown_escapes_pipes_in_values() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.csv", b"id,v\n1,a|b\n");
    let b = write(dir.path(), "b.csv", b"id,v\n1,a|c\n");
    let out = recon()
        .arg("diff")
        .arg(&a)
        .arg(&b)
        .args(["--key", "id", "--format", "markdown"])
        .output()
        .unwrap();
    let md = String::from_utf8(out.stdout).unwrap();
    let row = md.lines().rfind(|l| l.starts_with("| changed")).unwrap();
    // status, key, column, left, right: five cells, six unescaped pipes.
    assert_eq!(
        row.matches('|').count() - row.matches("\\|").count(),
        6,
        "{row}"
    );
}

#[test]
fn scan_reads_every_row_or_fails_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        "parquet",
        &["--rows", "700", "--inserts", "9", "--deletes", "4"],
    );
    let out = recon()
        .arg("scan")
        .arg(dir.path().join("left.parquet"))
        .arg(dir.path().join("right.parquet"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("left.parquet: 700 rows, 10 columns"),
        "{stdout}"
    );
    assert!(
        stdout.contains("right.parquet: 705 rows, 10 columns"),
        "{stdout}"
    );
    let bad = write(dir.path(), "bad.parquet", b"not parquet at all");
    let line = error_line(&["scan", bad.to_str().unwrap()]);
    assert!(line.contains("bad.parquet"), "{line}");
}

/// Files too large to compare in memory are streamed through DataFusion;
/// the library is driven directly here so that small files take that path.
#[test]
fn streamed_csv_matches_its_truth() {
    use recon::source::{FileSource, FileSpec, OpenOptions};
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(
        dir.path(),
        "csv",
        &[
            "--rows",
            "2000",
            "--inserts",
            "7",
            "--deletes",
            "6",
            "--updates",
            "30",
            "--shuffle",
        ],
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let open = |name: &str, side| {
        let path = dir.path().join(name);
        let spec = FileSpec::parse(path.to_str().unwrap(), side).unwrap();
        let options = OpenOptions::default();
        FileSource::open(spec, None, side, &options, runtime.handle().clone()).unwrap()
    };
    let left = open("left.csv", recon::Side::Left);
    let right = open("right.csv", recon::Side::Right);
    let mut spec = recon::Spec::default();
    spec.selection.key = vec!["id".into()];
    let outcome = recon::diff(&left, &right, &spec).unwrap();
    let summary = &outcome.report.summary;
    assert_eq!(summary.only_left, 6);
    assert_eq!(summary.only_right, 7);
    assert_eq!(
        summary.changed as usize,
        truth["changed"].as_array().unwrap().len()
    );
}

#[test]
fn map_compares_columns_named_differently() {
    let dir = tempfile::tempdir().unwrap();
    let left = write(
        dir.path(),
        "left.csv",
        b"id,amount,note\n1,10,a\n2,20,b\n3,30,c\n",
    );
    let right = write(
        dir.path(),
        "right.csv",
        b"order_id,amount_usd,note\n1,10,a\n2,21,b\n3,30,c\n",
    );
    let left_s = left.to_str().unwrap();
    let right_s = right.to_str().unwrap();
    let (code, report) = diff_json(&left, &right, &["--map", "id=order_id,amount=amount_usd"]);
    assert_eq!(code, 1);
    assert_eq!(reported(&report, "changed"), vec![2]);
    // Shown as `left→right`.
    assert_eq!(report["diffs"][0]["columns"][0], "amount→amount_usd");
    assert!(report["schema"]["left_only"].as_array().unwrap().is_empty());
    assert!(
        report["schema"]["right_only"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Without the map the key is missing on the right.
    let line = error_line(&["diff", left_s, right_s, "--key", "id"]);
    assert!(line.contains("order_id"), "{line}");
    // A map to a column that does not exist names it.
    let line = error_line(&[
        "diff",
        left_s,
        right_s,
        "--key",
        "id",
        "--map",
        "id=order_id,amount=amt",
    ]);
    assert!(line.contains("amt"), "{line}");
    let line = error_line(&["diff", left_s, right_s, "--key", "id", "--map", "amount"]);
    assert!(line.contains("LEFT=RIGHT"), "{line}");
}

#[test]
fn tolerance_and_text_flags_decide_what_is_equal() {
    let dir = tempfile::tempdir().unwrap();
    let left = write(
        dir.path(),
        "left.csv",
        b"id,price,at,name\n1,10.000,2025-01-01T00:00:00.000,Alice\n2,20.000,2025-01-01T00:00:01.000,bob\n3,30.000,2025-01-01T00:00:02.000,Carol\n",
    );
    let right = write(
        dir.path(),
        "right.csv",
        b"id,price,at,name\n1,10.004,2025-01-01T00:00:00.001,alice\n2,20.020,2025-01-01T00:00:01.000, bob \n3,30.000,2025-01-01T00:00:02.500,Carol\n",
    );
    let changed = |extra: &[&str]| {
        let (_, report) = diff_json(&left, &right, extra);
        let mut out: Vec<(i64, String)> = Vec::new();
        for d in report["diffs"].as_array().unwrap() {
            for c in d["columns"].as_array().unwrap() {
                out.push((
                    d["key"]["id"].as_i64().unwrap(),
                    c.as_str().unwrap().to_string(),
                ));
            }
        }
        out.sort();
        out
    };
    let pairs = |v: &[(i64, &str)]| -> Vec<(i64, String)> {
        v.iter().map(|(k, c)| (*k, c.to_string())).collect()
    };
    // Exact: every difference shows.
    assert_eq!(
        changed(&[]),
        pairs(&[
            (1, "at"),
            (1, "name"),
            (1, "price"),
            (2, "name"),
            (2, "price"),
            (3, "at")
        ])
    );
    // 0.004 passes at abs 0.01, 0.02 does not; 1 ms passes at 2 ms, 500 ms does not;
    // case and surrounding spaces stop counting.
    assert_eq!(
        changed(&[
            "--abs-tol",
            "price=0.01",
            "--time-tol",
            "at=2ms",
            "--trim",
            "--ignore-case"
        ]),
        pairs(&[(2, "price"), (3, "at")])
    );
    // Only the named column is trimmed: "bob" vs " bob " passes, "Alice" vs "alice" does not.
    assert_eq!(
        changed(&[
            "--abs-tol",
            "price=0.05",
            "--time-tol",
            "at=1s",
            "--trim",
            "name"
        ]),
        pairs(&[(1, "name")])
    );
    let l = left.to_str().unwrap();
    let r = right.to_str().unwrap();
    let line = error_line(&["diff", l, r, "--key", "id", "--abs-tol", "name=0.1"]);
    assert!(line.contains("name") && line.contains("numbers"), "{line}");
    let line = error_line(&["diff", l, r, "--key", "id", "--abs-tol", "price=-1"]);
    assert!(line.contains("0 or more"), "{line}");
    let line = error_line(&["diff", l, r, "--key", "id", "--time-tol", "at=soon"]);
    assert!(line.contains("duration"), "{line}");
}

#[test]
fn passwords_in_urls_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    // Plain, and with the characters that end a URL's parts when unencoded.
    let secrets = ["hunter2-secret", "se/cr#et-x9", "p?w@d:q-x9", "sp ace/x9"];
    let sources = secrets.iter().flat_map(|secret| {
        [
            format!("postgres://app:{secret}@127.0.0.1:1/db?table=t"),
            format!("mysql://root:{secret}@127.0.0.1:1/db?table=t"),
            format!("s3://key:{secret}@bucket/data.parquet"),
        ]
        .map(|source| (*secret, source))
    });
    for (secret, source) in sources {
        let out = recon()
            .args([
                "diff",
                &source,
                "testdata/orders/left.parquet",
                "--key",
                "id",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(secret), "{all}");
        assert!(all.contains("***"), "{all}");
        // The same through a rule file, in every output of recon check.
        let rules = write(
            dir.path(),
            "secret.toml",
            format!(
                "key = [\"id\"]\n[left]\nsource = \"{source}\"\n[right]\nsource = \"testdata/orders/left.parquet\"\n"
            )
            .as_bytes(),
        );
        let junit = dir.path().join("j.xml");
        let out = recon()
            .arg("check")
            .arg(&rules)
            .args(["--format", "json", "--junit"])
            .arg(&junit)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let all = format!(
            "{}{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&junit).unwrap()
        );
        assert!(!all.contains(secret), "{all}");
    }
}

#[test]
fn repair_writes_a_repaired_copy_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(
        dir.path(),
        "parquet",
        &[
            "--rows",
            "3000",
            "--inserts",
            "20",
            "--deletes",
            "15",
            "--updates",
            "25",
        ],
    );
    let expected = truth["only_left"].as_array().unwrap().len()
        + truth["only_right"].as_array().unwrap().len()
        + truth["changed"].as_array().unwrap().len();
    let (left, right) = (
        dir.path().join("left.parquet"),
        dir.path().join("right.parquet"),
    );
    let (code, before) = diff_json(&left, &right, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        before["summary"]["only_left"].as_u64().unwrap()
            + before["summary"]["only_right"].as_u64().unwrap()
            + before["summary"]["changed"].as_u64().unwrap(),
        expected as u64
    );
    // A repaired copy of the right file (left is the truth), then in place.
    let copy = dir.path().join("repaired.parquet");
    recon()
        .arg("repair")
        .args([&left, &right])
        .args(["--key", "id", "--write"])
        .arg(&copy)
        .assert()
        .code(0);
    assert_eq!(diff_json(&left, &copy, &[]).0, 0);
    assert_eq!(diff_json(&left, &right, &[]).0, 1, "the input is untouched");
    // Only some actions: with deletes off, the right-only rows stay.
    let partial = dir.path().join("partial.parquet");
    recon()
        .arg("repair")
        .args([&left, &right])
        .args(["--key", "id", "--no-delete", "--write"])
        .arg(&partial)
        .assert()
        .code(0);
    let (_, report) = diff_json(&left, &partial, &[]);
    assert_eq!(
        report["summary"]["only_right"],
        before["summary"]["only_right"]
    );
    assert_eq!(report["summary"]["only_left"], 0);
    assert_eq!(report["summary"]["changed"], 0);
    // The same from a rule file's [repair] section; its row cap refuses.
    let rules = write(
        dir.path(),
        "repair.toml",
        format!(
            "key = [\"id\"]\n[left]\nsource = \"{}\"\n[right]\nsource = \"{}\"\n\
             [repair]\ndelete = false\nmax_rows = {}\n",
            left.display(),
            right.display(),
            expected
        )
        .as_bytes(),
    );
    let from_rules = dir.path().join("from_rules.parquet");
    recon()
        .arg("repair")
        .args([&left, &right])
        .arg("--rules")
        .arg(&rules)
        .arg("--write")
        .arg(&from_rules)
        .assert()
        .code(0);
    assert_eq!(diff_json(&partial, &from_rules, &[]).0, 0);
    let out = recon()
        .arg("repair")
        .args([&left, &right])
        .arg("--rules")
        .arg(&rules)
        .args(["--max-rows", "3", "--write"])
        .arg(dir.path().join("refused.parquet"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_rows"));
    recon()
        .arg("repair")
        .args([&left, &right])
        .args(["--key", "id", "--in-place"])
        .assert()
        .code(0);
    assert_eq!(diff_json(&left, &right, &[]).0, 0);
}

#[test]
fn repair_follows_the_rules_exclusions_maps_and_tolerances() {
    let dir = tempfile::tempdir().unwrap();
    let truth = write(
        dir.path(),
        "truth.csv",
        b"id,a,note,price\n1,x,keep me,10.00\n2,y,n2,20.00\n",
    );
    let target = write(
        dir.path(),
        "target.csv",
        b"id,alpha,note,price\n1,x,other,10.004\n2,z,n2,20.00\n",
    );
    let repaired = dir.path().join("repaired.parquet");
    recon()
        .arg("repair")
        .args([&truth, &target])
        .args([
            "--key",
            "id",
            "--exclude",
            "note",
            "--map",
            "a=alpha",
            "--abs-tol",
            "price=0.01",
            "--write",
        ])
        .arg(&repaired)
        .assert()
        .code(0);
    // Against the original target, only the mapped column of row 2 moved:
    // the excluded note and the price within tolerance kept the target's values.
    let (code, report) = diff_json(&target, &repaired, &[]);
    assert_eq!(code, 1);
    let diffs = report["diffs"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert_eq!(diffs[0]["key"]["id"], 2);
    assert_eq!(diffs[0]["columns"], serde_json::json!(["alpha"]));
    assert_eq!(diffs[0]["right"]["alpha"], "y");
}

/// Writes one Parquet file of an `id` (Int64) and a `v` column.
fn parquet_with(path: &std::path::Path, ids: Vec<i64>, v: arrow::array::ArrayRef) {
    use arrow::datatypes::{DataType, Field, Schema};
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", v.data_type().clone(), true),
    ]));
    let ids: arrow::array::ArrayRef = std::sync::Arc::new(arrow::array::Int64Array::from(ids));
    let batch = arrow::record_batch::RecordBatch::try_new(schema.clone(), vec![ids, v]).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn repair_never_writes_a_value_the_target_column_cannot_hold() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.parquet");
    let target = dir.path().join("target.parquet");
    // Row 2 changed to a value past Int32, row 3 missing, row 4 only in the target.
    parquet_with(
        &truth,
        vec![1, 2, 3],
        Arc::new(arrow::array::Int64Array::from(vec![10, 5_000_000_000, 7])),
    );
    parquet_with(
        &target,
        vec![1, 2, 4],
        Arc::new(arrow::array::Int32Array::from(vec![10, 20, 9])),
    );
    for policy in [&[][..], &["--no-delete"][..], &["--no-insert"][..]] {
        let fixed = dir.path().join("fixed.parquet");
        let out = recon()
            .arg("repair")
            .arg(&truth)
            .arg(&target)
            .args(["--key", "id", "--write"])
            .arg(&fixed)
            .args(policy)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{policy:?}: {stderr}");
        assert!(
            stderr.contains("column v") && stderr.contains("5000000000"),
            "{stderr}"
        );
        assert!(!fixed.exists(), "{policy:?}: a copy was written");
    }
    // A value that fits is written, and a partial policy leaves exactly its rows.
    parquet_with(
        &truth,
        vec![1, 2, 3],
        Arc::new(arrow::array::Int64Array::from(vec![10, 50, 7])),
    );
    let fixed = dir.path().join("fixed.parquet");
    let out = recon()
        .arg("repair")
        .arg(&truth)
        .arg(&target)
        .args(["--key", "id", "--no-delete", "--write"])
        .arg(&fixed)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = recon()
        .arg("diff")
        .arg(&truth)
        .arg(&fixed)
        .args(["--key", "id", "--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["changed"], 0);
    assert_eq!(report["summary"]["only_left"], 0);
    assert_eq!(
        report["summary"]["only_right"], 1,
        "row 4 kept under --no-delete"
    );
}

#[test]
fn an_entry_a_directory_or_glob_cannot_read_is_an_error_not_a_skip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/orders/left.parquet"),
        data.join("part-0.parquet"),
    )
    .unwrap();
    // A part whose file is gone: its rows must not vanish in silence.
    std::os::unix::fs::symlink(
        dir.path().join("missing.parquet"),
        data.join("part-1.parquet"),
    )
    .unwrap();
    let glob = format!("{}/*.parquet", data.display());
    for source in [data.to_string_lossy().into_owned(), glob] {
        let out = recon()
            .args(["diff", &source, &source, "--key", "id"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{source}: {stderr}");
        assert!(stderr.contains("part-1.parquet"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn a_source_that_reads_differently_twice_is_an_error_with_a_tolerance_too() {
    // ORDER BY random() LIMIT: each read returns another 150 of the 200 rows.
    let query = "SELECT * FROM t ORDER BY random() LIMIT 150";
    for extra in [&[][..], &["--abs-tol", "price=0.01"][..]] {
        let out = recon()
            .args([
                "diff",
                "testdata/orders/left.parquet",
                "testdata/orders/left.parquet",
                "--key",
                "id",
                "--left-query",
                query,
            ])
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains("read a second time"), "{stderr}");
    }
}

#[test]
fn a_source_name_cannot_inject_sql_into_a_patch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("target.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    // A table name holding a newline and a statement (it lands in the
    // patch's header comment).
    conn.execute_batch(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO orders VALUES (1, 1);
         CREATE TABLE \"o\nDROP TABLE orders; --\" (id INTEGER PRIMARY KEY, v INTEGER);
         INSERT INTO \"o\nDROP TABLE orders; --\" VALUES (1, 1);",
    )
    .unwrap();
    drop(conn);
    let truth = dir.path().join("truth.csv");
    std::fs::write(&truth, "id,v\n1,2\n").unwrap();
    let target = format!(
        "sqlite://{}?table=o%0ADROP%20TABLE%20orders%3B%20--",
        db.display()
    );
    let out = recon()
        .arg("repair")
        .arg(&truth)
        .arg(&target)
        .args(["--key", "id", "--sql", "-"])
        .output()
        .unwrap();
    let patch = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(patch.contains("UPDATE"), "{patch}");
    // The header stays comments, and running the patch drops nothing.
    for line in patch.lines().take_while(|l| *l != "BEGIN;") {
        assert!(line.starts_with("-- "), "{patch}");
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(&patch).unwrap();
    let v: i64 = conn
        .query_row("SELECT v FROM orders WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 1, "orders is untouched");
}

/// Flags and rule files go through one settings builder: the same values
/// are accepted and refused with the same words either way.
#[test]
fn flags_and_rule_files_accept_and_refuse_the_same_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (left, right) = (dir.path().join("l.tsv"), dir.path().join("r.tsv"));
    std::fs::write(&left, "id\tprice\n1\t10.0\n2\t20.0\n").unwrap();
    std::fs::write(&right, "id\tprice\n1\t10.5\n2\t20.0\n").unwrap();
    let rules = dir.path().join("r.toml");
    let write_rules = |extra: &str, delimiter: &str| {
        std::fs::write(
            &rules,
            format!(
                "key = [\"id\"]\n[left]\nsource = \"csv:{}\"\ndelimiter = \"{delimiter}\"\n\
                 [right]\nsource = \"csv:{}\"\ndelimiter = \"{delimiter}\"\n{extra}",
                left.display(),
                right.display()
            ),
        )
        .unwrap();
    };
    let run = |args: &[&str]| {
        let out = recon().args(args).output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (l, r) = (
        format!("csv:{}", left.display()),
        format!("csv:{}", right.display()),
    );
    // `tab` is a tab in both.
    let (code, _, stderr) = run(&["diff", &l, &r, "--key", "id", "--delimiter", "tab"]);
    assert_eq!(code, 1, "{stderr}");
    write_rules("", "tab");
    let (code, _, stderr) = run(&["check", rules.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1, "{stderr}");
    // A two-byte delimiter is refused by both, in the same words.
    let (code, _, flag) = run(&["diff", &l, &r, "--key", "id", "--delimiter", "§"]);
    assert_eq!(code, 2);
    write_rules("", "§");
    let (code, _, file) = run(&["validate", rules.to_str().unwrap()]);
    assert_eq!(code, 2, "{file}");
    let words = "\"§\" must be one ASCII character";
    assert!(
        flag.contains(words) && file.contains(words),
        "{flag}\n{file}"
    );
    // A negative tolerance likewise.
    let (code, _, flag) = run(&[
        "diff",
        &l,
        &r,
        "--key",
        "id",
        "--delimiter",
        "tab",
        "--abs-tol",
        "price=-1",
    ]);
    assert_eq!(code, 2);
    write_rules("[compare.price]\nabs = -1\n", "tab");
    let (code, _, file) = run(&["validate", rules.to_str().unwrap()]);
    assert_eq!(code, 2);
    let words = "column price: abs = -1: expected a number, 0 or more";
    assert!(
        flag.contains(words) && file.contains(words),
        "{flag}\n{file}"
    );
    // The rule file's tolerance applies through `diff --rules` as through `check`.
    write_rules("[compare.price]\nabs = 1\n", "tab");
    let (code, _, stderr) = run(&[
        "diff",
        &l,
        &r,
        "--rules",
        rules.to_str().unwrap(),
        "--delimiter",
        "tab",
    ]);
    assert_eq!(code, 0, "{stderr}");
}

/// A column name with a newline or a control character (found by fuzzing
/// CSV headers) is quoted in an error, which stays one line.
#[test]
fn hostile_column_names_are_quoted_in_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.csv");
    std::fs::write(&path, "\",\u{7f}length\ny\",v\n1,2\n").unwrap();
    let out = recon()
        .arg("diff")
        .arg(&path)
        .arg(&path)
        .args(["--key", "zz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(r#"",\u{7f}length\ny""#), "{stderr}");
}

/// Files in random order take the fingerprint path; spilled to disk past
/// `--memory-limit`, they give the same answer; a temporary directory that
/// cannot be written, or a size that means nothing, is exit 2 in one line.
#[test]
fn unsorted_files_are_matched_by_fingerprints_in_memory_or_spilled() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(
        dir.path(),
        "parquet",
        &[
            "--rows",
            "30000",
            "--inserts",
            "9",
            "--deletes",
            "8",
            "--updates",
            "13",
            "--shuffle",
        ],
    );
    let (left, right) = (
        dir.path().join("left.parquet"),
        dir.path().join("right.parquet"),
    );
    let mut spilled = Vec::new();
    for limit in [None, Some("0"), Some("100K")] {
        let extra: Vec<&str> = limit.map_or(vec![], |l| vec!["--memory-limit", l]);
        let (code, report) = diff_json(&left, &right, &extra);
        assert_eq!(code, 1);
        assert_eq!(report["stats"]["strategy"], "fingerprints", "{limit:?}");
        assert_eq!(ids(&truth["only_left"]), reported(&report, "only_left"));
        assert_eq!(ids(&truth["only_right"]), reported(&report, "only_right"));
        assert_eq!(reported(&report, "changed").len(), 13);
        // Only the differing rows come back: 9 + 8 + 13 at most per side.
        assert!(report["stats"]["left_rows_rescanned"].as_u64().unwrap() <= 30);
        spilled.push(report["stats"]["bytes_spilled"].as_u64().unwrap());
    }
    assert_eq!(spilled[0], 0);
    assert!(spilled[1] > 0 && spilled[2] > 0, "{spilled:?}");

    assert_temp_dir_failure(&left, &right, "0");

    let line = error_line(&[
        "diff",
        left.to_str().unwrap(),
        right.to_str().unwrap(),
        "--key",
        "id",
        "--memory-limit",
        "lots",
    ]);
    assert!(line.contains("--memory-limit"), "{line}");
}

/// NDJSON files too large to hold in memory (here: past a quarter of a small
/// `--memory-limit`) are decoded once into a temporary file, CSV files are
/// read in place; both are then read by position: files in key order take
/// the merged pass, shuffled ones the fingerprint path, and either way only
/// differing rows come back.
#[test]
fn large_text_files_are_decoded_once_and_compared_by_position() {
    for (format, shuffle, strategy) in [
        ("csv", false, "merged"),
        ("ndjson", true, "fingerprints"),
        ("csv", true, "fingerprints"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--rows",
            "30000",
            "--inserts",
            "9",
            "--deletes",
            "8",
            "--updates",
            "13",
        ];
        if shuffle {
            args.push("--shuffle");
        }
        let truth = generate(dir.path(), format, &args);
        let (left, right) = (
            dir.path().join(format!("left.{format}")),
            dir.path().join(format!("right.{format}")),
        );
        let (code, report) = diff_json(&left, &right, &["--memory-limit", "64K"]);
        assert_eq!(code, 1);
        assert_eq!(report["stats"]["strategy"], strategy, "{format} {shuffle}");
        assert_eq!(ids(&truth["only_left"]), reported(&report, "only_left"));
        assert_eq!(ids(&truth["only_right"]), reported(&report, "only_right"));
        assert_eq!(reported(&report, "changed").len(), 13);
        // The same answer as held in memory.
        let (_, in_memory) = diff_json(&left, &right, &[]);
        assert_eq!(report["summary"], in_memory["summary"]);
        assert_eq!(report["diffs"], in_memory["diffs"]);

        if format == "csv" && !shuffle {
            // CSV is read in place and the merged pass keeps nothing per
            // row: no temporary file at all.
            let out = recon()
                .env("TMPDIR", left.with_file_name("missing"))
                .arg("diff")
                .arg(&left)
                .arg(&right)
                .args(["--key", "id", "--memory-limit", "64K"])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{out:?}");
        } else {
            // Staging or spilling needs its temporary directory.
            assert_temp_dir_failure(&left, &right, "64K");
        }
    }
}

/// A CSV in key order stays in key order when staged, however many byte
/// ranges decode it: with DataFusion's work stealing, a range that finished
/// early read a sibling's ranges, and the staged rows came out of order (the
/// merged pass then gave way to the fingerprint path; here every time).
#[test]
fn a_csv_in_key_order_decoded_by_many_ranges_takes_the_merged_pass() {
    let dir = tempfile::tempdir().unwrap();
    // Over 10 MB, so that DataFusion splits it into byte ranges.
    let truth = generate(
        dir.path(),
        "csv",
        &[
            "--rows",
            "150000",
            "--inserts",
            "4",
            "--deletes",
            "5",
            "--updates",
            "6",
        ],
    );
    let (left, right) = (dir.path().join("left.csv"), dir.path().join("right.csv"));
    for threads in ["3", "4"] {
        let (code, report) = diff_json(
            &left,
            &right,
            &[
                "--memory-limit",
                "64K",
                "--threads",
                threads,
                "--max-diffs",
                "20",
            ],
        );
        assert_eq!(code, 1);
        assert_eq!(report["stats"]["strategy"], "merged", "{threads} threads");
        assert_eq!(ids(&truth["only_left"]), reported(&report, "only_left"));
        assert_eq!(ids(&truth["only_right"]), reported(&report, "only_right"));
        assert_eq!(reported(&report, "changed").len(), 6);
    }
}

/// A malformed line far into a large CSV (past the rows schema inference
/// reads) is exit 2 with one line, not a partial answer.
#[test]
fn a_malformed_line_deep_in_a_large_csv_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), "csv", &["--rows", "30000", "--updates", "3"]);
    let left = dir.path().join("left.csv");
    let mut text = std::fs::read_to_string(&left).unwrap();
    let at = text.len() * 3 / 4;
    let line_end = at + text[at..].find('\n').unwrap();
    text.insert_str(
        line_end + 1,
        "1,2,3,not,the,right,number,of,fields,at,all,here\n",
    );
    std::fs::write(&left, text).unwrap();
    let right = dir.path().join("right.csv");
    for limit in ["64K", "1G"] {
        let line = error_line(&[
            "diff",
            left.to_str().unwrap(),
            right.to_str().unwrap(),
            "--key",
            "id",
            "--memory-limit",
            limit,
        ]);
        assert!(line.contains("left"), "{line}");
    }
}

/// CSV read in place: the same rows spelled differently (quotes, `\r\n`,
/// blank lines, `1.50` for `1.5`, no newline at the end) are equal; a quote
/// the CSV parser reads literally (`b"x`) sends the file the general way,
/// with the same answer; rows with a field too many are an error.
#[test]
fn csv_spelled_differently_or_quoted_literally_gives_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = write(d, "plain.csv", b"id,v,w\n1,a,1.5\n2,b,2.0\n3,c,3.25\n");
    let spelled = write(
        d,
        "spelled.csv",
        b"id,v,w\r\n1,\"a\",1.50\r\n\r\n\"2\",b,2\r\n3,\"c\",3.25",
    );
    let (code, report) = diff_json(&plain, &spelled, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["summary"]["unchanged"], 3);
    assert_eq!(report["stats"]["strategy"], "merged");

    let literal = write(d, "literal.csv", b"id,v,w\n1,a,1.5\n2,b\"x,2.0\n3,c,3.25\n");
    for (left, right) in [(&plain, &literal), (&literal, &plain)] {
        let (code, report) = diff_json(left, right, &[]);
        assert_eq!(code, 1);
        assert_eq!(reported(&report, "changed"), vec![2]);
        assert_eq!(report["diffs"][0]["columns"], serde_json::json!(["v"]));
    }

    // A quote left open at the end of the file: csv-core would end the
    // field there, DataFusion refuses the file; the in-place reader leaves
    // it to DataFusion (read back with a line end added, the field would
    // have taken the line end in): one-line exit 2, never a difference.
    let open_quote = write(d, "open_quote.csv", b"id,v,w\n1,a,1.5\n2,b,2.0\n3,c,\"3.25");
    let e = error_line(&[
        "diff",
        open_quote.to_str().unwrap(),
        plain.to_str().unwrap(),
        "--key",
        "id",
    ]);
    assert!(
        e.contains("left source") && e.contains("unterminated"),
        "{e}"
    );

    let ragged = write(d, "ragged.csv", b"id,v,w\n1,a,1.5\n2,b,2.0,9\n3,c,3.25\n");
    let e = error_line(&[
        "diff",
        plain.to_str().unwrap(),
        ragged.to_str().unwrap(),
        "--key",
        "id",
    ]);
    assert!(e.contains("right source"), "{e}");
}

/// CSV compared as text when the files are laid out differently: columns in
/// another order, a column only on one side, a column left out; only the
/// row whose compared values differ is reported.
#[test]
fn csv_laid_out_differently_is_compared_by_the_fields_it_shares() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let left = write(
        d,
        "left.csv",
        b"id,name,price,note\n1,a,1.5,x\n2,b,2.25,y\n3,c,3,z\n4,d,4,w\n",
    );
    let right = write(
        d,
        "right.csv",
        b"price,extra,id,note,name\n1.50,e1,1,x2,a\n2.25,e2,2,y2,b\n3,e3,3,z2,C\n4,e4,4,w2,d\n",
    );
    let (code, report) = diff_json(&left, &right, &["--exclude", "note"]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["stats"]["strategy"], "merged");
    assert_eq!(reported(&report, "changed"), vec![3]);
    assert_eq!(report["diffs"][0]["columns"], serde_json::json!(["name"]));
    assert_eq!(report["summary"]["unchanged"], 3);
}

/// A directory of more CSV files than the process may hold open: files are
/// opened for each read, not held (600 files a side under a limit of 256
/// descriptors).
#[test]
fn csv_directories_of_many_files_stay_within_the_descriptor_limit() {
    let dir = tempfile::tempdir().unwrap();
    for side in ["l", "r"] {
        let d = dir.path().join(side);
        std::fs::create_dir(&d).unwrap();
        for i in 0..600 {
            let mut text = String::from("id,v\n");
            for k in i * 5..i * 5 + 5 {
                let v = if side == "r" && k == 1234 { "x" } else { "a" };
                text.push_str(&format!("{k},{v}\n"));
            }
            std::fs::write(d.join(format!("part-{i:04}.csv")), text).unwrap();
        }
    }
    let bin = assert_cmd::cargo::cargo_bin("recon");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" diff \"$1\" \"$2\" --key id --format json -q")
        .arg(&bin)
        .arg(dir.path().join("l"))
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reported(&report, "changed"), vec![1234]);
    assert_eq!(report["summary"]["unchanged"], 2999);
}

/// Output files get the mode `File::create` gives (0666 less the umask),
/// not the private mode of the temporary file they are written in.
#[cfg(unix)]
#[test]
fn output_files_take_the_umask_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/orders");
    let recon = assert_cmd::cargo::cargo_bin("recon");
    for (umask, mode) in [("022", 0o644), ("077", 0o600), ("002", 0o664)] {
        let html = dir.path().join(format!("report-{umask}.html"));
        let diffs = dir.path().join(format!("diffs-{umask}.csv"));
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask {umask} && exec \"$0\" diff \"$1\" \"$2\" --key id --format json \
                 --html \"$3\" --output-diffs \"$4\" > /dev/null"
            ))
            .arg(&recon)
            .arg(root.join("left.parquet"))
            .arg(root.join("right.parquet"))
            .arg(&html)
            .arg(&diffs)
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(1));
        for file in [&html, &diffs] {
            let got = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            assert_eq!(got, mode, "{} under umask {umask}", file.display());
        }
    }
}

#[test]
fn rechecking_files_that_do_not_change_keeps_every_difference() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        dir.path(),
        "parquet",
        &[
            "--rows",
            "5000",
            "--inserts",
            "3",
            "--deletes",
            "2",
            "--updates",
            "20",
        ],
    );
    let (left, right) = (
        dir.path().join("left.parquet"),
        dir.path().join("right.parquet"),
    );
    let (code, plain) = diff_json(&left, &right, &[]);
    assert_eq!(code, 1);
    let (code, rechecked) = diff_json(
        &left,
        &right,
        &[
            "--recheck",
            "2",
            "--recheck-delay",
            "10ms",
            "--max-diffs",
            "5",
        ],
    );
    assert_eq!(code, 1);
    // Nothing went away: the same counts, every difference still counted,
    // five listed (the limit applies after the rechecks).
    assert_eq!(rechecked["summary"], plain["summary"]);
    assert_eq!(rechecked["transient"]["rechecks"], 2);
    assert_eq!(rechecked["transient"]["keys"], serde_json::json!([]));
    assert_eq!(rechecked["diffs"].as_array().unwrap().len(), 5);
    assert_eq!(rechecked["diffs_truncated"], true);
    // A masked key cannot be read again by value: refused.
    let line = error_line(&[
        "diff",
        left.to_str().unwrap(),
        right.to_str().unwrap(),
        "--key",
        "id",
        "--mask",
        "id",
        "--recheck",
        "1",
    ]);
    assert!(line.contains("masked key"), "{line}");
    let line = error_line(&[
        "diff",
        left.to_str().unwrap(),
        right.to_str().unwrap(),
        "--key",
        "id",
        "--ignore-younger",
        "updated_at",
    ]);
    assert!(line.contains("COLUMN=DURATION"), "{line}");
}

#[test]
fn young_rows_left_out_do_not_hide_a_schema_difference() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let left = write(
        dir.path(),
        "left.csv",
        format!("id,v,ts,extra\n1,a,2020-01-01T00:00:00,x\n2,b,{now},y\n").as_bytes(),
    );
    let right = write(
        dir.path(),
        "right.csv",
        b"id,v,ts\n1,a,2020-01-01T00:00:00\n2,old,2020-01-01T00:00:00\n",
    );
    let (code, report) = diff_json(&left, &right, &["--ignore-younger", "ts=1h"]);
    // The only differing row is young, but a column is missing on the right.
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["transient"]["young"], 1);
    assert_eq!(report["summary"]["changed"], 0);
    assert_eq!(report["verdict"], "different");
    // Without the extra column: equal once the young row is left out.
    let left = write(
        dir.path(),
        "left2.csv",
        format!("id,v,ts\n1,a,2020-01-01T00:00:00\n2,b,{now}\n").as_bytes(),
    );
    let (code, report) = diff_json(&left, &right, &["--ignore-younger", "ts=1h"]);
    assert_eq!(code, 0, "{report:#}");
    // An age on a column the comparison does not read is refused.
    let line = error_line(&[
        "diff",
        left.to_str().unwrap(),
        right.to_str().unwrap(),
        "--key",
        "id",
        "--exclude",
        "ts",
        "--ignore-younger",
        "ts=1h",
    ]);
    assert!(line.contains("not compared"), "{line}");
}

/// `--cluster` misused, or asked of a build without the feature: exit 2, one line.
#[test]
fn cluster_flag_errors_are_one_line() {
    let (l, r) = (
        "testdata/orders/left.parquet",
        "testdata/orders/right.parquet",
    );
    let line = error_line(&["diff", l, r, "--key", "id", "--cluster", "http://x"]);
    let expected = if cfg!(feature = "cluster") {
        "expected df://HOST:PORT"
    } else {
        "built without the cluster feature"
    };
    assert!(line.contains(expected), "{line}");
    if cfg!(feature = "cluster") {
        // Nothing listens on port 1 of this machine.
        let line = error_line(&["diff", l, r, "--key", "id", "--cluster", "df://127.0.0.1:1"]);
        assert!(line.contains("cannot reach the scheduler"), "{line}");
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_str().unwrap();
        let line = error_line(&[
            "diff",
            l,
            r,
            "--key",
            "id",
            "--cluster",
            "df://127.0.0.1:1",
            "--state",
            state,
        ]);
        assert!(line.contains("--state"), "{line}");
    }
}
