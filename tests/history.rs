//! Run history (`--history`, `recon history`) in a SQLite file and in
//! PostgreSQL, overlapping writers, and the `--metrics` file read back by an
//! OpenMetrics parser.

mod common;

use std::path::Path;

use common::recon;
use serde_json::Value;

/// The right side of the three runs: run 1 differs at ids 2 and 3, run 2
/// at 3 (persisting) and 4 (new; 2 resolved), run 3 nowhere.
fn write_pair(dir: &Path, run: usize) -> (String, String) {
    let left = dir.join("left.csv");
    let right = dir.join("right.csv");
    let rows: Vec<(i64, &str)> = (1..=6).map(|id| (id, "a")).collect();
    let write = |path: &Path, rows: &[(i64, &str)]| {
        let mut text = String::from("id,value\n");
        for (id, v) in rows {
            text.push_str(&format!("{id},{v}\n"));
        }
        std::fs::write(path, text).unwrap();
    };
    write(&left, &rows);
    let changed: &[i64] = match run {
        1 => &[2, 3],
        2 => &[3, 4],
        _ => &[],
    };
    let right_rows: Vec<(i64, &str)> = rows
        .iter()
        .map(|&(id, v)| (id, if changed.contains(&id) { "b" } else { v }))
        .collect();
    write(&right, &right_rows);
    (left.display().to_string(), right.display().to_string())
}

/// Three runs with changes in between, recorded in `store`; returns the
/// JSON of `recon history`.
fn three_runs(dir: &Path, store: &str) -> Value {
    for (run, expected) in [(1, 1), (2, 1), (3, 0)] {
        let (left, right) = write_pair(dir, run);
        let out = recon()
            .args(["diff", &left, &right, "--key", "id", "--format", "json"])
            .args(["--name", "orders", "--history", store])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(expected),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = recon()
        .args(["history", "--history", store, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What `recon history` must say about the three runs.
fn assert_trend(trend: &Value) {
    let checks = trend["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 1, "{trend:#}");
    let orders = &checks[0];
    assert_eq!(orders["check"], "orders");
    let runs = orders["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{trend:#}");
    let column = |field: &str| -> Vec<Value> { runs.iter().map(|r| r[field].clone()).collect() };
    assert_eq!(column("status"), ["fail", "fail", "pass"]);
    assert_eq!(column("changed"), [2, 2, 0]);
    assert_eq!(column("left_rows"), [6, 6, 6]);
    assert_eq!(column("new"), [Value::Null, 1.into(), 0.into()]);
    assert_eq!(column("persisting"), [Value::Null, 1.into(), 0.into()]);
    assert_eq!(column("resolved"), [Value::Null, 1.into(), 2.into()]);
    // The last run against the one before: both keys of run 2 resolved.
    assert_eq!(orders["new_keys"], serde_json::json!([]));
    assert_eq!(
        orders["resolved_keys"],
        serde_json::json!([{"id": 3}, {"id": 4}])
    );
}

#[test]
fn runs_are_recorded_in_sqlite_and_their_trend_shown() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("history.db").display().to_string();
    let trend = three_runs(dir.path(), &store);
    assert_trend(&trend);

    // The rows in the store.
    let conn = rusqlite::Connection::open(&store).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT COUNT(*) FROM recon_runs"), 3);
    assert_eq!(count("SELECT MAX(version) FROM recon_history_schema"), 1);
    assert_eq!(
        count("SELECT COUNT(*) FROM recon_checks WHERE name = 'orders' AND status = 'fail'"),
        2
    );
    let keys: Vec<(i64, String, String)> = conn
        .prepare("SELECT run_id, kind, key FROM recon_diff_keys ORDER BY run_id, key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        keys,
        [
            (1, "changed".into(), "{\"id\":2}".into()),
            (1, "changed".into(), "{\"id\":3}".into()),
            (2, "changed".into(), "{\"id\":3}".into()),
            (2, "changed".into(), "{\"id\":4}".into()),
        ]
    );
    let (command, exit_code): (String, i64) = conn
        .query_row(
            "SELECT command, exit_code FROM recon_runs WHERE id = 3",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        command.contains("diff") && command.contains("--history"),
        "{command}"
    );
    assert_eq!(exit_code, 0);

    // --last 2: runs 2 and 3, the first still compared with run 1.
    let out = recon()
        .args([
            "history",
            "--history",
            &store,
            "--last",
            "2",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let trend: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = trend["checks"][0]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["new"], 1);
    // The table view names the check and its keys.
    let out = recon()
        .args(["history", "--history", &store, "--check", "orders"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("check orders (3 runs)"), "{text}");
    assert!(
        text.contains("resolved in the last run: {\"id\":3}, {\"id\":4}"),
        "{text}"
    );
    // A store no run wrote to yet (an empty file): nothing recorded, exit 0.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let out = recon()
        .args(["history", "--history"])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no runs recorded"));
    // An unknown check, and a store that does not exist: exit 2.
    for args in [
        vec!["history", "--history", store.as_str(), "--check", "nope"],
        vec!["history", "--history", "/nonexistent/h.db"],
    ] {
        let out = recon().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn a_failed_run_is_recorded_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("h.db").display().to_string();
    let metrics = dir.path().join("recon.prom").display().to_string();
    let out = recon()
        .args([
            "diff",
            "/nonexistent/a.parquet",
            "/nonexistent/b.parquet",
            "--key",
            "id",
        ])
        .args([
            "--name",
            "broken",
            "--history",
            &store,
            "--metrics",
            &metrics,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let conn = rusqlite::Connection::open(&store).unwrap();
    let (status, exit): (String, i64) = conn
        .query_row(
            "SELECT c.status, r.exit_code FROM recon_checks c JOIN recon_runs r ON r.id = c.run_id \
             WHERE c.name = 'broken'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), exit), ("error", 2));
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("recon_run_exit_code{recon_job=\"recon diff\"} 2"),
        "{text}"
    );
}

#[test]
fn overlapping_runs_each_land_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (left, right) = write_pair(dir.path(), 1);
    let store = dir.path().join("shared.db").display().to_string();
    overlapping(&left, &right, &store);
    let conn = rusqlite::Connection::open(&store).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT COUNT(*) FROM recon_runs"), 8);
    assert_eq!(count("SELECT COUNT(*) FROM recon_history_schema"), 1);
    // Every run has its check and both of its keys, none mixed up.
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM recon_runs r WHERE (SELECT COUNT(*) FROM recon_diff_keys k \
               WHERE k.run_id = r.id) = 2 AND (SELECT COUNT(*) FROM recon_checks c \
               WHERE c.run_id = r.id) = 1"
        ),
        8
    );
}

/// Eight runs of the same check at once, all writing to `store`.
fn overlapping(left: &str, right: &str, store: &str) {
    let children: Vec<std::process::Child> = (0..8)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("recon"))
                .args(["diff", left, right, "--key", "id", "--format", "json"])
                .args(["--name", "orders", "--history", store, "--threads", "1"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn runs_are_recorded_in_postgres() {
    let Some(admin) = common::server("RECON_TEST_PG") else {
        return;
    };
    let pg = common::Pg::create(&admin, "history");
    let mut url = pg.admin.clone();
    url.set_path(&pg.name);
    let store = url.to_string();
    let dir = tempfile::tempdir().unwrap();
    let trend = three_runs(dir.path(), &store);
    assert_trend(&trend);
    let one = |sql: &str| pg.column(sql)[0].clone().unwrap();
    assert_eq!(one("SELECT COUNT(*) FROM recon_runs"), "3");
    assert_eq!(one("SELECT MAX(version) FROM recon_history_schema"), "1");
    assert_eq!(
        one("SELECT string_agg(key, ' ' ORDER BY run_id, key) FROM recon_diff_keys"),
        "{\"id\":2} {\"id\":3} {\"id\":3} {\"id\":4}"
    );
    assert_eq!(
        one(
            "SELECT string_agg(only_left || '/' || changed, ' ' ORDER BY run_id) FROM recon_checks"
        ),
        "0/2 0/2 0/0"
    );
    // Overlapping writers, then every run whole.
    let (left, right) = write_pair(dir.path(), 1);
    overlapping(&left, &right, &store);
    assert_eq!(one("SELECT COUNT(*) FROM recon_runs"), "11");
    assert_eq!(
        one(
            "SELECT COUNT(*) FROM recon_runs r WHERE (SELECT COUNT(*) FROM recon_diff_keys k \
             WHERE k.run_id = r.id) = 2"
        ),
        "10"
    );
}

#[test]
fn the_metrics_file_is_openmetrics() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("recon.prom").display().to_string();
    let (left, right) = write_pair(dir.path(), 3);
    let run = |left: &str, right: &str| {
        recon()
            .args(["diff", left, right, "--key", "id", "--format", "json"])
            .args([
                "--name",
                "orders \"eu\"",
                "--metrics",
                &metrics,
                "--job",
                "nightly",
            ])
            .output()
            .unwrap()
    };
    assert_eq!(run(&left, &right).status.code(), Some(0));
    let first = std::fs::read_to_string(&metrics).unwrap();
    // Label values as written (escaped); the parser keeps them so.
    let check = r#"orders \"eu\""#;
    let passed = value(
        &first,
        "recon_check_last_success_timestamp_seconds",
        &[check],
    );
    // A failing run keeps the last success of the run before.
    let (left, right) = write_pair(dir.path(), 1);
    assert_eq!(run(&left, &right).status.code(), Some(1));
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(value(&text, "recon_run_exit_code", &["nightly"]), 1.0);
    assert_eq!(value(&text, "recon_check_status", &[check]), 2.0);
    assert_eq!(value(&text, "recon_rows", &[check, "left"]), 6.0);
    assert_eq!(value(&text, "recon_differences", &[check, "changed"]), 2.0);
    assert_eq!(
        value(&text, "recon_differences", &[check, "only_left"]),
        0.0
    );
    assert_eq!(
        value(
            &text,
            "recon_check_last_success_timestamp_seconds",
            &[check]
        ),
        passed
    );
    assert!(value(&text, "recon_run_timestamp_seconds", &["nightly"]) > passed);
    // No temporary file is left beside it.
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(entries, 3, "left.csv, right.csv, recon.prom");
}

/// A sample's value, through the OpenMetrics parser.
fn value(text: &str, family: &str, labels: &[&str]) -> f64 {
    use openmetrics_parser::OpenMetricsValue;
    let parsed = openmetrics_parser::openmetrics::parse_openmetrics(text)
        .unwrap_or_else(|e| panic!("not OpenMetrics: {e:?}\n{text}"));
    let family = parsed
        .families
        .get(family)
        .unwrap_or_else(|| panic!("no family {family}"));
    let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
    let sample = family
        .get_sample_by_label_values(&labels)
        .unwrap_or_else(|| panic!("no sample {labels:?} of {}", family.family_name));
    match &sample.value {
        OpenMetricsValue::Gauge(n) => n.as_f64(),
        other => panic!("not a gauge: {other:?}"),
    }
}

#[test]
fn two_checks_of_one_name_and_a_failed_run_keep_the_trend() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("h.db").display().to_string();
    let (left, right) = write_pair(dir.path(), 1);
    let rule = |file: &str| {
        let path = dir.path().join(file);
        std::fs::write(
            &path,
            format!(
                "name = \"orders\"\nkey = [\"id\"]\n[left]\nsource = \"{left}\"\n\
                 [right]\nsource = \"{right}\"\n"
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let (a, b) = (rule("a.toml"), rule("b.toml"));
    let out = recon()
        .args(["check", &a, &b, "--format", "json", "--history", &store])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A failed run between two good ones: shown, not taken as "no keys".
    let failed = recon()
        .args(["diff", "/nonexistent.csv", &right, "--key", "id"])
        .args(["--name", "orders", "--history", &store])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(2));
    let out = recon()
        .args(["check", &a, "--format", "json", "--history", &store])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = recon()
        .args([
            "history",
            "--history",
            &store,
            "--check",
            "orders",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let trend: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = trend["checks"][0]["runs"].as_array().unwrap();
    let column = |field: &str| -> Vec<Value> { runs.iter().map(|r| r[field].clone()).collect() };
    assert_eq!(column("status"), ["fail", "error", "fail"], "{trend:#}");
    // The third run compared with the first: the same two keys persist.
    assert_eq!(
        column("persisting"),
        [Value::Null, Value::Null, 2.into()],
        "{trend:#}"
    );
    assert_eq!(
        column("new"),
        [Value::Null, Value::Null, 0.into()],
        "{trend:#}"
    );
    let out = recon()
        .args(["history", "--history", &store, "--format", "json"])
        .output()
        .unwrap();
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = all["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"orders (2)"), "{names:?}");
}
