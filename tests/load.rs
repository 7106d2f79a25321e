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
