//! What a checksum run costs a busy server: `--max-load` pauses checksum
//! queries while the server runs more queries of others than allowed, and
//! `--explain` shows what would run without running it. Real servers from
//! `RECON_TEST_PG` / `RECON_TEST_MYSQL`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;

/// Holds `n` sessions busy for `seconds` while `run` executes.
fn while_busy<T>(busy: Vec<std::thread::JoinHandle<()>>, run: impl FnOnce() -> T) -> T {
    let out = run();
    for b in busy {
        b.join().unwrap();
    }
    out
}

fn paused(report: &serde_json::Value) -> f64 {
    let p = &report["stats"]["pushdown"];
    p["left_seconds_paused"].as_f64().unwrap() + p["right_seconds_paused"].as_f64().unwrap()
}

#[test]
fn checksums_wait_while_postgres_is_busy() {
    let Some(admin) = server("RECON_TEST_PG") else {
        return;
    };
    let pg = Pg::create(&admin, "load_pg");
    pg.run(
        "CREATE TABLE a AS SELECT g AS id, g * 3 AS v FROM generate_series(1, 20000) g; \
         ALTER TABLE a ADD PRIMARY KEY (id); CREATE TABLE b AS SELECT * FROM a; \
         ALTER TABLE b ADD PRIMARY KEY (id); UPDATE b SET v = 0 WHERE id = 5",
    );
    let busy: Vec<_> = (0..3)
        .map(|_| {
            let client = pg.connect();
            std::thread::spawn(move || {
                runtime()
                    .block_on(client.batch_execute("SELECT pg_sleep(3)"))
                    .unwrap();
            })
        })
        .collect();
    // Wait until the three are running.
    let started = Instant::now();
    while pg.column(
        "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(3)' AND state = 'active'",
    )[0]
    .as_deref()
        != Some("3")
    {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, report) = while_busy(busy, || {
        diff(&pg.url("a"), &pg.url("b"), "id", &["--max-load", "1"])
    });
    assert_eq!(code, 1);
    assert_eq!(report["summary"]["changed"], 1);
    let waited = paused(&report);
    assert!(
        waited > 1.0,
        "paused {waited} s while three queries ran 3 s"
    );
    // Idle, nothing waits.
    let (_, report) = diff(&pg.url("a"), &pg.url("b"), "id", &["--max-load", "1"]);
    assert!(paused(&report) < 0.5, "{}", paused(&report));
}

#[test]
fn checksums_wait_while_mariadb_is_busy() {
    let Some(admin) = server("RECON_TEST_MYSQL") else {
        return;
    };
    let my = My::create(&admin, "load_my");
    my.run(
        "CREATE TABLE a (id INT PRIMARY KEY, v BIGINT);\n\
         INSERT INTO a SELECT seq, seq * 3 FROM seq_1_to_20000;\n\
         CREATE TABLE b LIKE a;\n\
         INSERT INTO b SELECT * FROM a;\n\
         UPDATE b SET v = 0 WHERE id = 5",
    );
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let mut conn = my.connect();
            std::thread::spawn(move || {
                runtime()
                    .block_on(conn.query_drop("SELECT SLEEP(3)"))
                    .unwrap();
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (code, report) = while_busy(busy, || {
        diff(&my.url("a"), &my.url("b"), "id", &["--max-load", "3"])
    });
    assert_eq!(code, 1);
    assert_eq!(report["summary"]["changed"], 1);
    let waited = paused(&report);
    assert!(waited > 1.0, "paused {waited} s while four queries ran 3 s");
}

#[test]
fn explain_prints_what_each_server_would_run_and_runs_nothing() {
    let (Some(pg_admin), Some(my_admin)) = (server("RECON_TEST_PG"), server("RECON_TEST_MYSQL"))
    else {
        return;
    };
    let (pg, my) = (
        Pg::create(&pg_admin, "explain"),
        My::create(&my_admin, "explain"),
    );
    pg.run("CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a')");
    my.run("CREATE TABLE t (id INT PRIMARY KEY, v TEXT);\nINSERT INTO t VALUES (1, 'b')");
    // A writer holds the MariaDB table: a real run would wait for its lock.
    let mut writer = my.connect();
    runtime().block_on(async {
        writer.query_drop("START TRANSACTION").await.unwrap();
        writer.query_drop("UPDATE t SET v = 'c'").await.unwrap();
    });
    let started = Instant::now();
    let out = recon()
        .args([
            "diff",
            &pg.url("t"),
            &my.url("t"),
            "--key",
            "id",
            "--explain",
        ])
        .args(["--db-threads", "2", "--max-load", "8"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // It returns without taking the lock the writer blocks.
    assert!(started.elapsed() < Duration::from_secs(5));
    for expected in [
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
        "SELECT pg_export_snapshot();",
        "LOCK TABLES `t` READ;",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;",
        "pg_stat_activity",
        "THREADS_RUNNING",
        "GROUP BY 1;",
        "FROM \"t\" WHERE (\"id\" >= :from AND \"id\" < :to)",
        // Ordered leaf digests, per leaf (PostgreSQL: one LATERAL
        // subquery; MySQL: a UNION ALL) or grouped.
        "CROSS JOIN LATERAL (SELECT COUNT(*), md5(",
        "string_agg(concat_ws(",
        "';' ORDER BY \"id\"))",
        "/ :width, COUNT(*), md5(",
        " UNION ALL SELECT 1, COUNT(*), MD5(CONCAT(",
        " ORDER BY `id` SEPARATOR ';'",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    runtime().block_on(writer.query_drop("ROLLBACK")).unwrap();
}

/// A transaction holding a write on the table makes `LOCK TABLES` wait; the
/// wait is bounded to about a second (writers queue behind a waiting lock),
/// then recon runs on one session and says so.
#[test]
fn lock_tables_behind_a_writer_gives_up_within_a_second() {
    let Some(admin) = server("RECON_TEST_MYSQL") else {
        return;
    };
    let my = My::create(&admin, "lock_wait");
    my.run(
        "CREATE TABLE a (id INT PRIMARY KEY, v INT);\n\
         INSERT INTO a SELECT seq, seq FROM seq_1_to_5000;\n\
         CREATE TABLE b LIKE a;\n\
         INSERT INTO b SELECT * FROM a",
    );
    let mut writer = my.connect();
    runtime().block_on(async {
        writer.query_drop("START TRANSACTION").await.unwrap();
        writer
            .query_drop("UPDATE a SET v = v WHERE id = 1")
            .await
            .unwrap();
    });
    let started = Instant::now();
    let (code, report) = diff(&my.url("a"), &my.url("b"), "id", &["--db-threads", "4"]);
    let seconds = started.elapsed().as_secs_f64();
    runtime().block_on(writer.query_drop("ROLLBACK")).unwrap();
    assert_eq!(code, 0);
    let notes = report["schema"]["notes"].to_string();
    assert!(notes.contains("LOCK TABLES failed"), "{notes}");
    // The wait used to be lock_wait_timeout = 10 s.
    assert!(seconds < 6.0, "{seconds} s");
}
