//! Nothing recon writes shows a password or a masked value: every command,
//! every output format, every file it writes, and its errors.

use std::path::Path;

use assert_cmd::Command;

fn recon(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("recon").unwrap();
    cmd.current_dir(dir);
    cmd
}

/// Every text a run left: stdout, stderr, and each file it wrote (Parquet
/// files decoded, so compressed pages cannot hide a value from the search).
fn everything(out: &std::process::Output, files: &[&Path]) -> String {
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    for path in files {
        if !path.exists() {
            continue;
        }
        if path.extension().is_some_and(|e| e == "parquet") {
            all.push_str(&parquet_text(path));
        } else {
            // Binary files too (a SQLite history store holds its text as UTF-8).
            all.push_str(&String::from_utf8_lossy(&std::fs::read(path).unwrap()));
        }
    }
    all
}

fn parquet_text(path: &Path) -> String {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut text = String::new();
    for batch in reader {
        let batch = batch.unwrap();
        text.push_str(
            &arrow::util::pretty::pretty_format_batches(&[batch])
                .unwrap()
                .to_string(),
        );
    }
    text
}

/// Two CSV files whose `ssn` (`social` on the right) and key `acct` are
/// secret: a change in each, a row only on each side.
fn write_sides(dir: &Path) {
    std::fs::write(
        dir.join("left.csv"),
        "acct,ssn,amount,note\n\
         ACCT-SEC-01,SSN-AAA-0001,10,x\n\
         ACCT-SEC-02,SSN-AAA-0002,20,y\n\
         ACCT-SEC-03,SSN-AAA-0003,30,z\n\
         ACCT-SEC-04,SSN-AAA-0004,40,w\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("right.csv"),
        "acct,social,amount,note\n\
         ACCT-SEC-01,SSN-AAA-0001,10,x\n\
         ACCT-SEC-02,SSN-BBB-0002,20,y\n\
         ACCT-SEC-03,SSN-AAA-0003,31,z\n\
         ACCT-SEC-05,SSN-CCC-0005,50,v\n",
    )
    .unwrap();
}

const SECRETS: [&str; 2] = ["SSN-", "ACCT-SEC"];

fn assert_hidden(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{what}: a masked value ({secret}...) is shown:\n{text}"
        );
    }
}

#[test]
fn masked_values_appear_in_no_diff_output() {
    let dir = tempfile::tempdir().unwrap();
    write_sides(dir.path());
    // The mask by flag, or by a rule file's `[report] mask`.
    std::fs::write(
        dir.path().join("mask.toml"),
        "key = [\"acct\"]\n[left]\nsource = \"left.csv\"\n[right]\nsource = \"right.csv\"\n\
         [columns]\nmap = { ssn = \"social\" }\n[report]\nmask = [\"acct\", \"ssn\"]\n",
    )
    .unwrap();
    let masks: [&[&str]; 2] = [
        &["--rules", "mask.toml"],
        &[
            "--key",
            "acct",
            "--map",
            "ssn=social",
            "--mask",
            "acct,social",
        ],
    ];
    for (format, mask) in ["table", "json", "ndjson", "markdown", "html"]
        .into_iter()
        .flat_map(|f| masks.map(|m| (f, m)))
    {
        for diffs in ["diffs.csv", "diffs.parquet"] {
            let path = dir.path().join(diffs);
            let _ = std::fs::remove_file(&path);
            let out = recon(dir.path())
                .args(["diff", "left.csv", "right.csv"])
                .args(mask)
                .args(["--format", format, "--output-diffs", diffs])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{out:?}");
            let text = everything(&out, &[&path]);
            // The run did report the differences, only not their values.
            assert!(text.contains("amount"), "{format}: {text}");
            assert!(text.contains("***"), "{format}: {text}");
            assert_hidden(
                &format!("diff {mask:?} --format {format} with {diffs}"),
                &text,
            );
        }
    }
    // Without the mask the same run shows them: the search above can fail.
    let out = recon(dir.path())
        .args(["diff", "left.csv", "right.csv", "--key", "acct"])
        .args(["--map", "ssn=social", "--format", "json"])
        .output()
        .unwrap();
    let text = everything(&out, &[]);
    assert!(text.contains("SSN-BBB-0002") && text.contains("ACCT-SEC-05"));
}

#[test]
fn a_mask_naming_no_column_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_sides(dir.path());
    let out = recon(dir.path())
        .args(["diff", "left.csv", "right.csv", "--key", "acct"])
        .args(["--map", "ssn=social", "--mask", "sn"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"sn\""), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn masked_values_appear_in_no_check_output() {
    let dir = tempfile::tempdir().unwrap();
    write_sides(dir.path());
    std::fs::write(
        dir.path().join("masked.toml"),
        "key = [\"acct\"]\n\
         [left]\nsource = \"left.csv\"\n\
         [right]\nsource = \"right.csv\"\n\
         [columns]\nmap = { ssn = \"social\" }\n\
         [aggregates]\ncolumns = [\"ssn\", \"amount\", \"acct\"]\n\
         metrics = [\"count\", \"min\", \"max\", \"count_distinct\"]\n\
         [report]\nmask = [\"ssn\", \"acct\"]\n\
         json = \"out/report.json\"\nmarkdown = \"out/report.md\"\ntable = \"out/report.txt\"\n",
    )
    .unwrap();
    let files = ["out/report.json", "out/report.md", "out/report.txt"].map(|f| dir.path().join(f));
    for format in ["table", "json"] {
        let (junit, markdown) = (dir.path().join("junit.xml"), dir.path().join("summary.md"));
        let out = recon(dir.path())
            .args([
                "check",
                "masked.toml",
                "--format",
                format,
                "--junit",
                "junit.xml",
            ])
            .args(["--markdown", "summary.md"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let mut paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
        paths.extend([junit.as_path(), markdown.as_path()]);
        let text = everything(&out, &paths);
        assert!(text.contains("max(") || text.contains("\"max\""), "{text}");
        assert_hidden(&format!("check --format {format}"), &text);
    }
}

#[test]
fn masked_values_appear_in_no_repair_backup() {
    let dir = tempfile::tempdir().unwrap();
    write_sides(dir.path());
    let db = dir.path().join("target.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (acct TEXT PRIMARY KEY, social TEXT, amount INTEGER, note TEXT);
         INSERT INTO t VALUES ('ACCT-SEC-01','SSN-AAA-0001',10,'x'),
           ('ACCT-SEC-02','SSN-BBB-0002',20,'y'), ('ACCT-SEC-03','SSN-AAA-0003',31,'z'),
           ('ACCT-SEC-05','SSN-CCC-0005',50,'v');",
    )
    .unwrap();
    drop(conn);
    let target = format!("sqlite://{}?table=t", db.display());
    let out = recon(dir.path())
        .args([
            "repair",
            "left.csv",
            &target,
            "--key",
            "acct",
            "--map",
            "ssn=social",
        ])
        .args([
            "--mask",
            "ssn,acct",
            "--apply",
            "--backup",
            "backup.parquet",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let backup = dir.path().join("backup.parquet");
    let text = everything(&out, &[&backup]);
    assert!(text.contains("***"), "{text}");
    assert_hidden("repair --apply --backup", &text);
    // The repair itself wrote the true values.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let social: String = conn
        .query_row("SELECT social FROM t WHERE acct = 'ACCT-SEC-02'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(social, "SSN-AAA-0002");
}

/// A password holding every character that breaks a URL, and quotes.
const PASSWORD: &str = "pw/#?@:%'Zq9";

#[test]
fn a_password_appears_in_no_output_or_error() {
    let dir = tempfile::tempdir().unwrap();
    write_sides(dir.path());
    // Unencoded (not a valid URL) and percent-encoded (valid, server down).
    let encoded: String = PASSWORD
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let urls = [
        format!("postgres://alice:{PASSWORD}@127.0.0.1:1/db?table=t"),
        format!("postgres://alice:{encoded}@127.0.0.1:1/db?table=t"),
        format!("mysql://alice:{PASSWORD}@127.0.0.1:1/db?table=t"),
        format!("mysql://alice:{encoded}@127.0.0.1:1/db?table=t"),
    ];
    for url in &urls {
        let whole = url.replace("?table=t", "");
        let rules = dir.path().join("db.toml");
        std::fs::write(
            &rules,
            format!(
                "key = [\"acct\"]\n[left]\nsource = {url:?}\n[right]\nsource = \"right.csv\"\n"
            ),
        )
        .unwrap();
        let runs: Vec<Vec<&str>> = vec![
            vec![
                "diff",
                url,
                "right.csv",
                "--key",
                "acct",
                "--format",
                "json",
            ],
            vec![
                "diff", "left.csv", url, "--key", "acct", "--format", "table",
            ],
            vec![
                "diff",
                url,
                "right.csv",
                "--key",
                "acct",
                "--format",
                "markdown",
            ],
            vec!["repair", "left.csv", url, "--key", "acct", "--sql", "-"],
            vec!["check", "db.toml", "--format", "json", "--junit", "j.xml"],
            vec![
                "check",
                "db.toml",
                "--format",
                "table",
                "--markdown",
                "m.md",
            ],
            vec!["check", "db.toml", "--format", "html", "--html", "h.html"],
            vec!["validate", "db.toml"],
            // A failed run is still recorded: history, metrics and JUnit.
            vec![
                "diff",
                url,
                "right.csv",
                "--key",
                "acct",
                "--history",
                "hist.db",
                "--metrics",
                "m.prom",
                "--junit",
                "d.xml",
            ],
            // Both sides a whole database (no table).
            vec![
                "diff",
                &whole,
                &whole,
                "--format",
                "json",
                "--history",
                "hist.db",
                "--metrics",
                "m.prom",
            ],
            vec!["history", "--history", "hist.db", "--format", "json"],
        ];
        for args in runs {
            let out = recon(dir.path()).args(&args).output().unwrap();
            let files = [
                "j.xml",
                "m.md",
                "h.html",
                "hist.db",
                "hist.db-wal",
                "m.prom",
                "d.xml",
            ]
            .map(|f| dir.path().join(f));
            let text = everything(&out, &files.iter().map(|p| p.as_path()).collect::<Vec<_>>());
            assert!(
                out.status.code() == Some(2) || args[0] != "diff",
                "{args:?}: {out:?}"
            );
            if args[0] == "history" {
                // The failed runs were recorded, under their hidden names.
                assert!(out.status.success(), "{out:?}");
                assert!(text.contains("alice:***@"), "{text}");
            }
            for shown in [PASSWORD, encoded.as_str(), "Zq9"] {
                assert!(
                    !text.contains(shown),
                    "{args:?} shows the password:\n{text}"
                );
            }
        }
    }
}
