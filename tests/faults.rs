//! Faults a run must survive: a full device under an output, a source file
//! truncated while it is read, a database connection killed in the middle
//! of a checksum or of a repair. Each ends with exit 2 and one line naming
//! the cause, never a hang, a panic or a half-written file; a repair leaves
//! its target unchanged. Databases from `RECON_TEST_PG` / `RECON_TEST_MYSQL`.

mod common;

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn spawn(args: &[&str]) -> Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("recon"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The run's output, or a failure if it has not ended within `limit`.
fn finish_within(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("recon did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn one_line_error(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("recon: error: ") && !stderr.contains("internal error"),
        "{stderr}"
    );
    stderr
}

fn csv_pair(dir: &Path) -> (String, String) {
    let (left, right) = (dir.join("left.csv"), dir.join("right.csv"));
    std::fs::write(&left, "id,v\n1,a\n2,b\n").unwrap();
    std::fs::write(&right, "id,v\n1,a\n2,c\n").unwrap();
    (left.display().to_string(), right.display().to_string())
}

#[test]
fn a_full_device_under_any_output_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (left, right) = csv_pair(dir.path());
    std::fs::write(
        dir.path().join("full.toml"),
        format!(
            "key = [\"id\"]\n[left]\nsource = \"{left}\"\n[right]\nsource = \"{right}\"\n\
             [report]\njson = \"/dev/full\"\n"
        ),
    )
    .unwrap();
    let rules = dir.path().join("full.toml").display().to_string();
    let db = dir.path().join("target.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a')",
        )
        .unwrap();
    let target = format!("sqlite://{}?table=t", db.display());
    let stdout_full = std::fs::File::create("/dev/full").unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("recon"))
        .args(["diff", &left, &right, "--key", "id", "--format", "json"])
        .stdout(stdout_full)
        .output()
        .unwrap();
    let stderr = one_line_error(&out);
    assert!(stderr.contains("standard output"), "{stderr}");
    for args in [
        vec!["check", &rules, "--format", "json"],
        vec!["check", &rules, "--junit", "/dev/full"],
        vec![
            "repair",
            &left,
            &target,
            "--key",
            "id",
            "--sql",
            "/dev/full",
        ],
    ] {
        let out = recon().args(&args).output().unwrap();
        if args[0] == "check" && args.len() == 4 {
            // The report file fails inside the check: an error status.
            assert_eq!(out.status.code(), Some(2), "{out:?}");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("/dev/full"), "{stdout}");
            continue;
        }
        let stderr = one_line_error(&out);
        assert!(stderr.contains("/dev/full"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_failed_run_leaves_no_output_file_under_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let (left, right) = csv_pair(dir.path());
    let diffs = dir.path().join("diffs.csv");
    let out = recon()
        .args(["diff", &left, &right, "--key", "nope", "--output-diffs"])
        .arg(&diffs)
        .output()
        .unwrap();
    one_line_error(&out);
    let left_over: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("diffs"))
        .collect();
    assert!(left_over.is_empty(), "{left_over:?}");
}

#[test]
fn a_source_truncated_while_it_is_read_never_gives_a_false_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,v,w\n");
    // Over 10 MB, so DataFusion splits it into byte ranges read in parallel.
    for i in 0..600_000 {
        text.push_str(&format!("{i},value-{i},{}\n", i * 7));
    }
    let copy = dir.path().join("copy.csv");
    std::fs::write(&copy, &text).unwrap();
    for delay in [0u64, 30, 100, 250, 600] {
        let big = dir.path().join("big.csv");
        std::fs::write(&big, &text).unwrap();
        let child = spawn(&[
            "diff",
            big.to_str().unwrap(),
            copy.to_str().unwrap(),
            "--key",
            "id",
            "--format",
            "json",
        ]);
        std::thread::sleep(Duration::from_millis(delay));
        let file = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
        file.set_len(text.len() as u64 / 3).unwrap();
        drop(file);
        let out = finish_within(child, Duration::from_secs(120));
        let code = out.status.code();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Rows were lost: the run reports them (1, when the file was cut
        // before it was first read) or names the change (2); it never says
        // equal, never panics, never hangs.
        assert!(
            code == Some(1) || code == Some(2),
            "delay {delay} ms: {code:?} {stderr}"
        );
        if code == Some(2) {
            let stderr = one_line_error(&out);
            assert!(stderr.contains("big.csv"), "{stderr}");
        }
    }
}

/// Polls `find` until it names a session to kill, then kills it.
fn kill_when(child: &mut Child, mut find: impl FnMut() -> Option<String>, kill: impl Fn(&str)) {
    let started = Instant::now();
    loop {
        if let Some(id) = find() {
            kill(&id);
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "recon ended before its session could be killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no session to kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two tables of one PostgreSQL database: a session killed in the middle of
/// a checksum query (`--no-join`) or of the join is exit 2, never an answer.
#[test]
fn a_postgres_connection_killed_mid_checksum_is_exit_2() {
    let Some(admin) = server("RECON_TEST_PG") else {
        return;
    };
    let pg = Pg::create(&admin, "fault_checksum");
    pg.run(
        "CREATE TABLE a AS SELECT g AS id, md5(g::text) AS v, g * 2 AS w \
         FROM generate_series(1, 1500000) g; ALTER TABLE a ADD PRIMARY KEY (id); \
         CREATE TABLE b AS SELECT * FROM a; ALTER TABLE b ADD PRIMARY KEY (id); \
         UPDATE b SET w = 0 WHERE id = 777",
    );
    // pg_stat_activity keeps the first 1,024 bytes of a query: a per-leaf
    // digest statement shows its list of leaves there, not its md5.
    for (mode, marker) in [("--no-join", "md5\\(|recon_leaf"), ("--quiet", "FULL JOIN")] {
        let mut child = spawn(&[
            "diff",
            &pg.url("a"),
            &pg.url("b"),
            "--key",
            "id",
            "--db-threads",
            "1",
            mode,
            "--format",
            "json",
        ]);
        // Only a comparison query that has run for a while: a session caught
        // as its last query ends (a schema probe, the snapshot export) may
        // never be used again, and killing it would test nothing.
        let sql = format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'recon' AND state = 'active' \
             AND query ~ '{marker}' AND now() - query_start > interval '100 ms' LIMIT 1"
        );
        kill_when(
            &mut child,
            || pg.column(&sql).into_iter().flatten().next(),
            |pid| pg.run(&format!("SELECT pg_terminate_backend({pid})")),
        );
        let out = finish_within(child, Duration::from_secs(60));
        let stderr = one_line_error(&out);
        assert!(stderr.contains("terminat"), "{mode}: {stderr}");
    }
}

#[test]
fn a_mariadb_connection_killed_mid_checksum_is_exit_2() {
    let Some(admin) = server("RECON_TEST_MYSQL") else {
        return;
    };
    let my = My::create(&admin, "fault_checksum");
    my.run(
        "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(40), w BIGINT);\n\
         INSERT INTO a SELECT seq, MD5(seq), seq * 2 FROM seq_1_to_1500000;\n\
         CREATE TABLE b LIKE a;\n\
         INSERT INTO b SELECT * FROM a;\n\
         UPDATE b SET w = 0 WHERE id = 777",
    );
    let mut child = spawn(&[
        "diff",
        &my.url("a"),
        &my.url("b"),
        "--key",
        "id",
        "--db-threads",
        "1",
        "--format",
        "json",
    ]);
    let sql = format!(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{}' AND COMMAND = 'Query' \
         AND ID <> CONNECTION_ID() AND INFO NOT LIKE '%PROCESSLIST%' \
         AND INFO LIKE '%MD5(%' AND TIME_MS > 100 LIMIT 1",
        my.name
    );
    kill_when(
        &mut child,
        || my.column(&sql).into_iter().flatten().next(),
        |id| my.run(&format!("KILL CONNECTION {id}")),
    );
    let out = finish_within(child, Duration::from_secs(60));
    one_line_error(&out);
}

#[test]
fn a_connection_killed_mid_repair_leaves_the_target_unchanged() {
    let Some(admin) = server("RECON_TEST_PG") else {
        return;
    };
    let pg = Pg::create(&admin, "fault_apply");
    pg.run(
        "CREATE TABLE t AS SELECT g AS id, 'old' AS v FROM generate_series(1, 30000) g; \
         ALTER TABLE t ADD PRIMARY KEY (id)",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut truth = String::from("id,v\n");
    for i in 1..=30000 {
        truth.push_str(&format!("{i},new\n"));
    }
    let truth_path = dir.path().join("truth.csv");
    std::fs::write(&truth_path, truth).unwrap();
    let before = pg.column("SELECT md5(string_agg(id || v, ',' ORDER BY id)) FROM t");
    let mut child = spawn(&[
        "repair",
        truth_path.to_str().unwrap(),
        &pg.url("t"),
        "--key",
        "id",
        "--apply",
    ]);
    let sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
               AND application_name = 'recon' AND query LIKE 'UPDATE%' LIMIT 1";
    kill_when(
        &mut child,
        || pg.column(sql).into_iter().flatten().next(),
        |pid| pg.run(&format!("SELECT pg_terminate_backend({pid})")),
    );
    let out = finish_within(child, Duration::from_secs(60));
    one_line_error(&out);
    let after = pg.column("SELECT md5(string_agg(id || v, ',' ORDER BY id)) FROM t");
    assert_eq!(before, after, "the target changed");
}
