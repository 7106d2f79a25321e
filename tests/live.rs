//! A live replica: a writer updates PostgreSQL while a replicator applies
//! each change to MariaDB a second later (a replication lag made by the
//! test). recon with `--recheck` must report the lagging rows as transient
//! and the one planted real difference as a difference; `--ignore-younger`
//! must leave the lagging rows out.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{My, Pg, recon, runtime, server};
use mysql_async::prelude::Queryable;
use serde_json::Value;

const ROWS: i64 = 1000;
/// The planted difference, never written by the writer.
const PLANTED: i64 = 7;
const LAG: Duration = Duration::from_secs(1);

struct Replication {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Replication {
    /// Starts the writer (about 25 updates a second on PostgreSQL) and the
    /// replicator (each applied to MariaDB `LAG` after it was made).
    fn start(pg: &Pg, my: &My) -> Replication {
        let stop = Arc::new(AtomicBool::new(false));
        let (send, receive) = std::sync::mpsc::channel::<(Instant, i64, i64, String)>();
        let writer = {
            let stop = stop.clone();
            let client = pg.connect();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let id = 1 + (n as i64 * 37) % ROWS;
                    if id == PLANTED {
                        continue;
                    }
                    let balance = 10_000 + n as i64;
                    let at = chrono::Utc::now()
                        .naive_utc()
                        .format("%Y-%m-%d %H:%M:%S%.6f")
                        .to_string();
                    runtime()
                        .block_on(client.execute(
                            &format!(
                                "UPDATE accounts SET balance = {balance}, \
                                 updated_at = '{at}' WHERE id = {id}"
                            ),
                            &[],
                        ))
                        .unwrap();
                    send.send((Instant::now(), id, balance, at)).unwrap();
                    std::thread::sleep(Duration::from_millis(40));
                }
                n
            })
        };
        let replicator = {
            let mut conn = my.connect();
            std::thread::spawn(move || {
                let mut applied = 0;
                for (made, id, balance, at) in receive {
                    let due = made + LAG;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    runtime()
                        .block_on(conn.query_drop(format!(
                            "UPDATE accounts SET balance = {balance}, updated_at = '{at}' \
                             WHERE id = {id}"
                        )))
                        .unwrap();
                    applied += 1;
                }
                applied
            })
        };
        Replication {
            stop,
            threads: vec![writer, replicator],
        }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.threads.into_iter().map(|t| t.join().unwrap()).sum()
    }
}

fn setup() -> Option<(Pg, My)> {
    let (pg, my) = (server("RECON_TEST_PG")?, server("RECON_TEST_MYSQL")?);
    let (pg, my) = (Pg::create(&pg, "live"), My::create(&my, "live"));
    pg.run(&format!(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, \
           updated_at timestamp NOT NULL);
         INSERT INTO accounts SELECT g, g * 10, timestamp '2024-01-01' \
           FROM generate_series(1, {ROWS}) g"
    ));
    my.run(&format!(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, \
           updated_at datetime(6) NOT NULL);\n\
         INSERT INTO accounts SELECT seq, seq * 10, TIMESTAMP '2024-01-01 00:00:00' \
           FROM seq_1_to_{ROWS};\n\
         UPDATE accounts SET balance = -1 WHERE id = {PLANTED}"
    ));
    Some((pg, my))
}

fn diff_while_replicating(pg: &Pg, my: &My, extra: &[&str]) -> (i32, Value) {
    let (left, right) = (pg.url("accounts"), my.url("accounts"));
    let args = ["diff", &left, &right, "--format", "json"];
    run_while_replicating(pg, my, &[&args[..], extra].concat())
}

fn run_while_replicating(pg: &Pg, my: &My, args: &[&str]) -> (i32, Value) {
    let replication = Replication::start(pg, my);
    // Let the lag build up: about 25 rows are in flight at any moment.
    std::thread::sleep(Duration::from_millis(1500));
    let out = recon().args(args).output().unwrap();
    let written = replication.stop();
    assert!(written > 20, "the writer made {written} changes");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), report)
}

fn listed_ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"]["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn lagging_rows_are_transient_and_a_real_difference_stays() {
    let Some((pg, my)) = setup() else {
        return;
    };
    let (code, report) =
        diff_while_replicating(&pg, &my, &["--recheck", "3", "--recheck-delay", "2s"]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(listed_ids(&report["diffs"]), [PLANTED], "{report:#}");
    assert_eq!(report["summary"]["changed"], 1);
    let transient = &report["transient"];
    let gone = listed_ids(&transient["keys"]);
    assert!(!gone.is_empty(), "no lagging row was seen: {report:#}");
    assert!(!gone.contains(&PLANTED));
    assert!(transient["rechecks"].as_u64().unwrap() >= 1);
    assert_eq!(
        report["summary"]["unchanged"].as_i64().unwrap(),
        ROWS - 1,
        "{report:#}"
    );
    eprintln!("{} lagging rows were transient", gone.len());

    // Without --recheck, the same lag shows as differences.
    let (code, report) = diff_while_replicating(&pg, &my, &[]);
    assert_eq!(code, 1);
    assert!(
        report["summary"]["changed"].as_i64().unwrap() > 1,
        "no lag seen without --recheck: {report:#}"
    );

    // --ignore-younger leaves the rows just written out (PostgreSQL's side
    // holds a fresh updated_at); the planted row is old and stays.
    let (code, report) = diff_while_replicating(&pg, &my, &["--ignore-younger", "updated_at=1m"]);
    assert_eq!(code, 1);
    assert_eq!(listed_ids(&report["diffs"]), [PLANTED], "{report:#}");
    assert!(
        report["transient"]["young"].as_u64().unwrap() > 0,
        "{report:#}"
    );
}

#[test]
fn a_scheduled_check_over_a_whole_database_rechecks_per_table() {
    let Some((pg, my)) = setup() else {
        return;
    };
    let database = |admin: &url::Url, name: &str| {
        let mut url = admin.clone();
        url.set_path(name);
        url.to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("replica.toml");
    std::fs::write(
        &rules,
        format!(
            "[left]\nsource = \"{}\"\n[right]\nsource = \"{}\"\n\n\
             [live]\nrecheck = 3\nrecheck_delay = \"2s\"\n",
            database(&pg.admin, &pg.name),
            database(&my.admin, &my.name)
        ),
    )
    .unwrap();
    let rules = rules.display().to_string();
    let (code, run) = run_while_replicating(&pg, &my, &["check", "--format", "json", &rules]);
    assert_eq!(code, 1, "{run:#}");
    let accounts = &run["checks"][0];
    assert_eq!(accounts["name"], "replica/public.accounts", "{run:#}");
    assert_eq!(accounts["status"], "fail");
    let report = &accounts["report"];
    assert_eq!(listed_ids(&report["diffs"]), [PLANTED], "{run:#}");
    assert!(
        !listed_ids(&report["transient"]["keys"]).is_empty(),
        "{run:#}"
    );
    // The gate says what went away (a warning; the planted row fails it).
    let reasons = accounts["reasons"].to_string();
    assert!(reasons.contains("transient differences"), "{reasons}");
}
