//! Rule files and `recon check` / `recon validate` as a CI gate uses them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use assert_cmd::Command;
use serde_json::Value;

fn recon() -> Command {
    let mut cmd = Command::cargo_bin("recon").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Runs `recon check` with JSON output; the exit code and the parsed output.
fn check(args: &[&str]) -> (i32, Value) {
    let out = recon()
        .arg("check")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), value)
}

/// What a rule file's comment says it should do: `# Expected: PASS` etc.
fn expected_status(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("# Expected: "))
        .unwrap_or_else(|| panic!("{} has no `# Expected:` comment", path.display()));
    line.split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap()
        .to_lowercase()
}

fn example_rules() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "example rules missing");
    files
}

#[test]
fn example_rules_pass_and_fail_as_their_comments_say() {
    for path in example_rules() {
        let expected = expected_status(&path);
        let file = path.to_str().unwrap();
        let (code, out) = check(&[file]);
        assert_eq!(
            out["checks"][0]["status"],
            expected.as_str(),
            "{file}: {out}"
        );
        let exit = match expected.as_str() {
            "pass" | "warn" => 0,
            "fail" => 1,
            other => panic!("{file}: unexpected {other}"),
        };
        assert_eq!(code, exit, "{file}");
        if expected == "warn" {
            let (strict, _) = check(&[file, "--strict"]);
            assert_eq!(strict, 1, "{file} --strict");
        }
        // Valid without data, too.
        recon().args(["validate", file]).assert().success();
    }
}

#[test]
fn masked_columns_never_show_their_values() {
    let (_, out) = check(&["rules/orders_migration.toml"]);
    let text = out.to_string();
    assert!(text.contains("\"name\":\"***\""), "{text}");
    assert!(!text.contains("name-"), "a masked value leaked: {text}");
}

#[test]
fn all_rules_by_default_with_junit_and_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("checks.xml");
    let markdown = dir.path().join("checks.md");
    let (code, out) = check(&[
        "--junit",
        junit.to_str().unwrap(),
        "--markdown",
        markdown.to_str().unwrap(),
    ]);
    let examples = example_rules();
    assert_eq!(out["summary"]["checks"], examples.len());
    let failing = examples
        .iter()
        .filter(|p| expected_status(p) == "fail")
        .count();
    assert_eq!(out["summary"]["fail"], failing);
    assert_eq!(code, if failing > 0 { 1 } else { 0 });

    // The JUnit file is well-formed XML with one testcase per check and a
    // <failure> for each failed one.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut suites) = (0, 0, 0);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e)) | Ok(quick_xml::events::Event::Empty(e)) => {
                match e.name().as_ref() {
                    b"testcase" => cases += 1,
                    b"failure" => failures += 1,
                    b"testsuite" => suites += 1,
                    _ => {}
                }
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("JUnit XML does not parse: {e}\n{xml}"),
        }
    }
    assert_eq!(
        (suites, cases, failures),
        (1, examples.len(), failing),
        "{xml}"
    );
    let md = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        md.contains("| check | status |") && md.contains("**FAIL**"),
        "{md}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn malformed_rule_files_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let head = "name = \"t\"\nkey = [\"id\"]\n[left]\nsource = \"testdata/orders/left.parquet\"\n[right]\nsource = \"testdata/orders/right.parquet\"\n";
    let cases = [
        (
            "unknown_key.toml",
            format!("{head}[gate]\nmax_chnged = 1\n"),
            8,
        ),
        (
            "wrong_type.toml",
            format!("{head}[report]\nsample = \"ten\"\n"),
            8,
        ),
        (
            "bad_duration.toml",
            format!("{head}[compare.created_at]\ntime = \"soon\"\n"),
            8,
        ),
        (
            "bad_threshold.toml",
            format!("{head}[gate]\nmax_diff_ratio = {{ warn = 0.5, fail = 0.1 }}\n"),
            8,
        ),
        ("syntax.toml", format!("{head}[gate\n"), 7),
        (
            "key_after_table.toml",
            "[left]\nsource = \"a\"\nkey = [\"id\"]\n[right]\nsource = \"b\"\n".to_string(),
            3,
        ),
        (
            "negative.toml",
            format!("{head}[compare.price]\nabs = -0.5\n"),
            7,
        ),
        (
            "no_sessions.toml",
            format!("{head}[database]\nthreads = 0\n"),
            8,
        ),
    ];
    for (name, text, line) in cases {
        let path = write(dir.path(), name, &text);
        let file = path.to_str().unwrap();
        for command in ["validate", "check"] {
            let out = recon().args([command, file]).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{command} {name}");
            // The cause is on stderr, one line, for both commands.
            let text = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                text.trim_end().lines().count(),
                1,
                "{command} {name}: {text}"
            );
            let prefix = format!("{file}:{line}: ");
            assert!(
                text.contains(&prefix),
                "{command} {name}: {text:?} lacks {prefix:?}"
            );
            assert!(!text.contains("panicked"), "{text}");
        }
    }
    // A rule that does not fit the data's types is an error at run time.
    let path = write(
        dir.path(),
        "type.toml",
        &format!("{head}[compare.name]\nabs = 0.1\n"),
    );
    let (code, out) = check(&[path.to_str().unwrap()]);
    assert_eq!(code, 2);
    let reason = out["checks"][0]["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("name") && reason.contains("numbers"),
        "{reason}"
    );
    // A missing environment variable is named, never guessed.
    let path = write(
        dir.path(),
        "env.toml",
        "key = [\"id\"]\n[left]\nsource = \"${RECON_TEST_SURELY_UNSET}\"\n[right]\nsource = \"b\"\n",
    );
    let (code, out) = check(&[path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.to_string().contains("RECON_TEST_SURELY_UNSET"), "{out}");
}

/// 1M rows, a 0.004 difference and a 0.02 difference under abs = 0.01:
/// only the second is reported, and the unchanged ranges are read once.
#[test]
fn tolerance_on_a_million_rows() {
    const ROWS: i64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let write_parquet = |name: &str, ids: &[i64], bump: &dyn Fn(i64) -> f64| {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).unwrap();
        for chunk in ids.chunks(100_000) {
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(chunk.to_vec())),
                Arc::new(Float64Array::from_iter_values(
                    chunk.iter().map(|&i| (i % 1000) as f64 * 0.25 + bump(i)),
                )),
            ];
            writer
                .write(&RecordBatch::try_new(schema.clone(), columns).unwrap())
                .unwrap();
        }
        writer.close().unwrap();
        path
    };
    let bump = |i: i64| match i {
        123_456 => 0.004,
        777_777 => 0.02,
        _ => 0.0,
    };
    let sorted: Vec<i64> = (0..ROWS).collect();
    // The same ids in another order: the fingerprint path.
    let mut scattered: Vec<i64> = (0..ROWS).map(|i| (i * 7_919) % ROWS).collect();
    scattered.rotate_left(12_345);
    let left = write_parquet("left.parquet", &sorted, &|_| 0.0);
    for (name, ids, merged) in [
        ("sorted.parquet", &sorted, true),
        ("scattered.parquet", &scattered, false),
    ] {
        let right = write_parquet(name, ids, &bump);
        let rule = write(
            dir.path(),
            "amount.toml",
            &format!(
                "key = [\"id\"]\n[left]\nsource = \"{}\"\n[right]\nsource = \"{}\"\n[compare.amount]\nabs = 0.01\n",
                left.display(),
                right.display()
            ),
        );
        let (code, out) = check(&[rule.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        let report = &out["checks"][0]["report"];
        assert_eq!(report["summary"]["changed"], 1, "{name}");
        assert_eq!(report["diffs"][0]["key"]["id"], 777_777, "{name}");
        assert_eq!(report["summary"]["unchanged"], ROWS - 1, "{name}");
        let stats = &report["stats"];
        assert_eq!(stats["merged_pass"], merged, "{name}");
        let strategy = if merged { "merged" } else { "fingerprints" };
        assert_eq!(stats["strategy"], strategy, "{name}");
        // The merged pass reads nothing twice; on ids scattered like these
        // the fingerprint path reads back only the rows whose hashes differ
        // (the two bumped ones), where the leaf path read every row again.
        let sum = |field: &str| {
            stats[format!("left_{field}")].as_u64().unwrap()
                + stats[format!("right_{field}")].as_u64().unwrap()
        };
        if merged {
            assert_eq!(sum("rows_rescanned"), 0, "{name}");
        } else {
            assert!(sum("rows_rescanned") <= 4, "{name}: {stats}");
        }
        assert!(
            sum("rows_reread") < (2 * ROWS / 100) as u64,
            "{name}: {stats}"
        );
    }
}

/// Per category: rows, sum and max of qty, distinct names, read straight
/// from the Parquet file (the oracle for the aggregate check).
fn category_totals(path: &str) -> std::collections::BTreeMap<String, (u64, i64, i64, usize)> {
    use arrow::array::{Array, AsArray};
    let file = std::fs::File::open(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024).unwrap();
    let mut out: std::collections::BTreeMap<String, (u64, i64, i64, HashSetOfNames)> =
        Default::default();
    type HashSetOfNames = std::collections::BTreeSet<Option<String>>;
    for batch in reader {
        let batch = batch.unwrap();
        let text = |name: &str| {
            arrow::compute::cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap()
        };
        let (category, name) = (text("category"), text("name"));
        let qty =
            arrow::compute::cast(batch.column_by_name("qty").unwrap(), &DataType::Int64).unwrap();
        let (category, name, qty) = (
            category.as_string::<i32>(),
            name.as_string::<i32>(),
            qty.as_primitive::<arrow::datatypes::Int64Type>(),
        );
        for i in 0..batch.num_rows() {
            let group = if category.is_null(i) {
                "null".to_string()
            } else {
                format!("{:?}", category.value(i))
            };
            let entry = out
                .entry(group)
                .or_insert((0, 0, i64::MIN, Default::default()));
            entry.0 += 1;
            if !qty.is_null(i) {
                entry.1 += qty.value(i);
                entry.2 = entry.2.max(qty.value(i));
            }
            entry
                .3
                .insert((!name.is_null(i)).then(|| name.value(i).to_string()));
        }
    }
    out.into_iter()
        .map(|(k, (n, s, m, names))| (k, (n, s, m, names.into_iter().flatten().count())))
        .collect()
}

#[test]
fn aggregates_match_a_direct_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "totals.toml",
        "[left]\nsource = \"testdata/orders/left.parquet\"\n[right]\nsource = \"testdata/orders/right.parquet\"\n\
         [aggregates]\ncolumns = [\"qty\", \"name\"]\nmetrics = [\"count\", \"sum\", \"max\", \"count_distinct\"]\ngroup_by = \"category\"\n",
    );
    let (code, out) = check(&[path.to_str().unwrap()]);
    let findings = out["checks"][0]["aggregates"].as_array().unwrap().clone();
    let left = category_totals("testdata/orders/left.parquet");
    let right = category_totals("testdata/orders/right.parquet");
    let mut any_differ = false;
    for f in &findings {
        let group = f["group"].to_string();
        let pick = |t: &std::collections::BTreeMap<String, (u64, i64, i64, usize)>| -> Value {
            let Some(&(n, sum, max, distinct)) = t.get(&group) else {
                return Value::Null;
            };
            match (f["metric"].as_str().unwrap(), f["column"].as_str()) {
                ("count", None) => n.into(),
                ("sum", Some("qty")) => sum.into(),
                ("max", Some("qty")) => max.into(),
                ("count_distinct", Some("name")) => (distinct as u64).into(),
                _ => Value::Null,
            }
        };
        let (l, r) = (pick(&left), pick(&right));
        if l.is_null() || r.is_null() {
            continue; // metrics the oracle does not compute (max of a name, distinct qty)
        }
        assert_eq!(f["left"], l, "{f}");
        assert_eq!(f["right"], r, "{f}");
        assert_eq!(f["equal"], l == r, "{f}");
        any_differ |= l != r;
    }
    assert!(findings.len() >= 4 * left.len(), "{findings:?}");
    assert!(
        any_differ,
        "the fixture's categories differ between the sides"
    );
    assert_eq!(code, 1);
}

#[test]
fn schema_policy_widening_added_columns_and_nullability() {
    use arrow::array::{Float32Array, Int32Array, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let parquet_file = |name: &str, schema: Schema, columns: Vec<ArrayRef>| {
        let path = dir.path().join(name);
        let schema = Arc::new(schema);
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            schema.clone(),
            None,
        )
        .unwrap();
        w.write(&RecordBatch::try_new(schema, columns).unwrap())
            .unwrap();
        w.close().unwrap();
        path
    };
    // The old table: INT, FLOAT, a nullable note.
    let old = parquet_file(
        "old.parquet",
        Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("amount", DataType::Float32, true),
            Field::new("note", DataType::Utf8, true),
        ]),
        vec![
            Arc::new(Int32Array::from(vec![1, 2, 3])),
            Arc::new(Float32Array::from(vec![1.5, 2.5, 3.5])),
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
        ],
    );
    // The migrated table: BIGINT, DOUBLE, the note NOT NULL, a new column.
    let new = parquet_file(
        "new.parquet",
        Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Float64, true),
            Field::new("note", DataType::Utf8, false),
            Field::new("extra", DataType::Utf8, true),
        ]),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(Float64Array::from(vec![1.5, 2.5, 3.5])),
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
            Arc::new(StringArray::from(vec![Some("x"), None, None])),
        ],
    );
    let run = |left: &Path, right: &Path, gate: &str| {
        let path = write(
            dir.path(),
            "schema.toml",
            &format!(
                "key = [\"id\"]\n[left]\nsource = \"{}\"\n[right]\nsource = \"{}\"\n[gate]\n{gate}",
                left.display(),
                right.display()
            ),
        );
        let (code, out) = check(&[path.to_str().unwrap()]);
        let reasons: Vec<String> = out["checks"][0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        (code, reasons)
    };
    let (code, reasons) = run(&old, &new, "");
    assert_eq!(code, 1);
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].contains("extra") && reasons[0].contains("added"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("note") && reasons[1].contains("NOT NULL"),
        "{reasons:?}"
    );
    let (code, reasons) = run(
        &old,
        &new,
        "allow_added_columns = true\nallow_nullability_changes = true\n",
    );
    assert_eq!((code, reasons.len()), (0, 0), "{reasons:?}");
    let (code, reasons) = run(
        &old,
        &new,
        "allow_added_columns = true\nallow_nullability_changes = true\nallow_type_widening = false\n",
    );
    assert_eq!(code, 1);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("amount") && r.contains("widening")),
        "{reasons:?}"
    );
    // The other way round the types narrow: a change, not a widening.
    let (code, reasons) = run(&new, &old, "allow_nullability_changes = true\n");
    assert_eq!(code, 1);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("extra") && r.contains("missing")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("amount") && r.contains("Float64 -> Float32")),
        "{reasons:?}"
    );
    let (code, _) = run(
        &new,
        &old,
        "allow_nullability_changes = true\nallow_type_changes = true\n",
    );
    assert_eq!(code, 1, "a column missing on the right still fails");
}

#[test]
fn diff_takes_its_settings_from_a_rule_file() {
    let out = recon()
        .args([
            "diff",
            "testdata/orders/left.parquet",
            "testdata/orders/right.parquet",
            "--rules",
            "rules/orders_migration.toml",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The price within its tolerance is not a change; names are masked.
    assert_eq!(report["summary"]["changed"], 3, "{report}");
    let text = report.to_string();
    assert!(!text.contains("name-"), "a masked value leaked");
    // A rule file without a key needs --key.
    let out = recon()
        .args([
            "diff",
            "testdata/orders/right.parquet",
            "testdata/orders/right.csv",
            "--rules",
            "rules/orders_totals.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key"));
}

#[test]
fn report_files_are_written_masked() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out/orders.json");
    let md = dir.path().join("out/orders.md");
    let path = write(
        dir.path(),
        "files.toml",
        &format!(
            "key = [\"id\"]\n[left]\nsource = \"testdata/orders/left.parquet\"\n[right]\nsource = \"testdata/orders/right.parquet\"\n\
             [report]\nmask = [\"name\"]\njson = \"{}\"\nmarkdown = \"{}\"\n",
            json.display(),
            md.display()
        ),
    );
    let (code, _) = check(&[path.to_str().unwrap()]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["summary"]["changed"], 4);
    let text = report.to_string() + &std::fs::read_to_string(&md).unwrap();
    assert!(
        text.contains("***") && !text.contains("name-"),
        "masked values leaked"
    );
}
