//! Database sources against real servers: PostgreSQL from `RECON_TEST_PG`,
//! MariaDB/MySQL from `RECON_TEST_MYSQL` (admin URLs, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`). Without them each test
//! prints a notice and passes, so `cargo test` works on a laptop; `.ci/run`
//! sets them. Every test creates its own databases and drops them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mysql_async::prelude::Queryable;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

mod common;
use common::*;

/// One generated row of the `orders` table used across engines.
#[derive(Clone, Debug, PartialEq)]
struct Order {
    id: i64,
    name: String,
    /// Cents.
    amount: i64,
    price: Option<f64>,
    /// Microseconds since the epoch.
    at: i64,
    flag: bool,
    note: Option<String>,
}

const NAMES: &[&str] = &[
    "plain",
    "O'Brien",
    "back\\slash",
    "pipe|inside",
    "1:x|2:y",
    "café",
    "日本語",
    "emoji 🎉",
    "",
    "  spaced  ",
    "N",
];

/// `extremes`: floats whose text the engines write in different notations
/// (`1e+300` / `1e300`): equal, but only found so after a fetch.
fn random_order(rng: &mut SmallRng, id: i64, extremes: bool) -> Order {
    Order {
        id,
        name: format!(
            "{} {}",
            NAMES[rng.random_range(0..NAMES.len())],
            rng.random_range(0..50)
        ),
        amount: rng.random_range(-1_000_000..1_000_000),
        price: match rng.random_range(0..6) {
            0 => None,
            1 => Some(-0.0),
            2 => Some(0.1 + 0.2),
            3 if extremes => Some(1e300),
            4 if extremes => Some(1e-7),
            _ => Some(rng.random_range(0..100_000) as f64 / 8.0),
        },
        at: 1_700_000_000_000_000 + rng.random_range(0..1_000_000_000_000i64),
        flag: rng.random_bool(0.5),
        note: (rng.random_range(0..4) != 0)
            .then(|| NAMES[rng.random_range(0..NAMES.len())].to_string()),
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

fn values(o: &Order) -> String {
    format!(
        "({}, {}, {}.{:02}, {}, '{}', {}, {})",
        o.id,
        quote(&o.name),
        if o.amount < 0 { "-" } else { "" }.to_string() + &(o.amount.abs() / 100).to_string(),
        o.amount.abs() % 100,
        o.price.map_or("NULL".into(), |p| format!("{p:e}")),
        timestamp(o.at),
        if o.flag { "TRUE" } else { "FALSE" },
        o.note.as_deref().map_or("NULL".into(), quote),
    )
}

/// Inserts `rows` in batches (the same statement text for both engines).
fn insert(run: &dyn Fn(&str), table: &str, rows: &[Order]) {
    for chunk in rows.chunks(500) {
        let list: Vec<String> = chunk.iter().map(values).collect();
        run(&format!("INSERT INTO {table} VALUES {}", list.join(", ")));
    }
}

const PG_ORDERS: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, name text NOT NULL, \
    amount numeric(14,4), price double precision, at timestamptz, flag boolean, note varchar(200))";
const MY_ORDERS: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, name text NOT NULL, \
    amount decimal(12,2), price double, at datetime(6), flag tinyint(1), note varchar(200))";

/// Changes the right side's rows at random: updates of one column, deletes
/// and inserts; returns the right rows and the expected report.
fn mutate(rng: &mut SmallRng, left: &[Order], changes: usize) -> (Vec<Order>, Reported) {
    let mut right: BTreeMap<i64, Order> = left.iter().map(|o| (o.id, o.clone())).collect();
    let mut expected = BTreeMap::new();
    let ids: Vec<i64> = left.iter().map(|o| o.id).collect();
    let mut touched = BTreeSet::new();
    let changes = changes.min(ids.len());
    while expected.len() < changes {
        let id = ids[rng.random_range(0..ids.len())];
        if !touched.insert(id) {
            continue;
        }
        match rng.random_range(0..4) {
            0 => {
                right.remove(&id);
                expected.insert(("only_left".into(), id.to_string()), BTreeSet::new());
            }
            1 => {
                // An id between the left's (all even): only on the right.
                let new = id + 1;
                right.insert(new, random_order(rng, new, true));
                expected.insert(("only_right".into(), new.to_string()), BTreeSet::new());
            }
            _ => {
                let row = right.get_mut(&id).unwrap();
                let column = match rng.random_range(0..6) {
                    0 => {
                        row.name.push('!');
                        "name"
                    }
                    1 => {
                        row.amount += 1;
                        "amount"
                    }
                    2 => {
                        row.price = match row.price {
                            Some(_) => None,
                            None => Some(2.5),
                        };
                        "price"
                    }
                    3 => {
                        row.at += 1;
                        "at"
                    }
                    4 => {
                        row.flag = !row.flag;
                        "flag"
                    }
                    _ => {
                        row.note = match &row.note {
                            Some(n) if n.is_empty() => None,
                            Some(_) => Some(String::new()),
                            None => Some("N".into()),
                        };
                        "note"
                    }
                };
                expected.insert(
                    ("changed".into(), id.to_string()),
                    [column.to_string()].into(),
                );
            }
        }
    }
    (right.into_values().collect(), expected)
}

fn orders(rng: &mut SmallRng, count: i64, extremes: bool) -> Vec<Order> {
    (1..=count)
        .map(|i| random_order(rng, i * 2, extremes))
        .collect()
}

/// The pushdown path against the generator's truth on random tables: sizes
/// from empty up, dense and sparse keys (one leaf split in SQL, or many leaves
/// of one row), negative keys, random changes.
#[test]
fn pushdown_matches_the_truth_on_random_tables() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let Some((pg, my)) = both("random") else {
        return;
    };
    let next = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 16,
        ..Config::default()
    });
    let cases = (
        0i64..300,
        // Dense keys too: leaves of 64 rows or more are read one by one.
        prop_oneof![1i64..3, 1i64..3000],
        -5000i64..5000,
        0usize..25,
        any::<u64>(),
        (0usize..3, 0usize..3),
    );
    runner
        .run(
            &cases,
            |(rows, stride, start, changes, seed, (pg_index, my_index))| {
                let table = format!("r{}", next.fetch_add(1, Ordering::Relaxed));
                // Each side's key a primary key, a plain index, or no index:
                // leaf digests are read per leaf through an index, in key order
                // without being told by MySQL's primary key, or grouped.
                let keyed = |ddl: &str, index: usize| {
                    let ddl = ddl.replace("orders", &table);
                    match index {
                        0 => vec![ddl],
                        1 => vec![
                            ddl.replace("PRIMARY KEY", "NOT NULL"),
                            format!("CREATE INDEX {table}_id ON {table} (id)"),
                        ],
                        _ => vec![ddl.replace("PRIMARY KEY", "NOT NULL")],
                    }
                };
                keyed(PG_ORDERS, pg_index).iter().for_each(|s| pg.run(s));
                keyed(MY_ORDERS, my_index).iter().for_each(|s| my.run(s));
                let mut rng = SmallRng::seed_from_u64(seed);
                let left: Vec<Order> = (0..rows)
                    .map(|i| random_order(&mut rng, 2 * (start + i * stride), true))
                    .collect();
                let (right, expected) = mutate(&mut rng, &left, changes);
                insert(&|s| pg.run(s), &table, &left);
                insert(&|s| my.run(s), &table, &right);
                // The catalogs' row counts tell how dense the leaves are.
                pg.run(&format!("ANALYZE {table}"));
                my.run(&format!("ANALYZE TABLE {table}"));
                let (code, report) = diff(
                    &pg.url(&table),
                    &my.url(&table),
                    "id",
                    &["--db-threads", "2"],
                );
                prop_assert!(!report["stats"]["pushdown"].is_null());
                prop_assert_eq!(reported(&report), expected.clone());
                prop_assert_eq!(code, i32::from(!expected.is_empty()));
                prop_assert_eq!(
                    report["summary"]["left_rows"].as_u64(),
                    Some(left.len() as u64)
                );
                prop_assert_eq!(
                    report["summary"]["right_rows"].as_u64(),
                    Some(right.len() as u64)
                );
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn equal_tables_across_postgres_and_mariadb_report_equality() {
    let Some((pg, my)) = both("equal") else {
        return;
    };
    pg.run(PG_ORDERS);
    my.run(MY_ORDERS);
    let mut rng = SmallRng::seed_from_u64(5);
    for extremes in [false, true] {
        let rows = orders(&mut rng, 3000, extremes);
        pg.run("TRUNCATE orders");
        my.run("TRUNCATE orders");
        insert(&|s| pg.run(s), "orders", &rows);
        insert(&|s| my.run(s), "orders", &rows);
        for extra in [&[][..], &["--db-threads", "1"], &["--no-pushdown"]] {
            let (code, report) = diff(&pg.url("orders"), &my.url("orders"), "id", extra);
            assert_eq!(code, 0, "{extra:?}: {}", report["diffs"]);
            assert_eq!(report["summary"]["unchanged"], 3000);
            let pushdown = &report["stats"]["pushdown"];
            if extra.contains(&"--no-pushdown") {
                assert!(pushdown.is_null());
            } else if !extremes {
                // Every value written alike by both engines: digests agree,
                // nothing is fetched.
                assert_eq!(pushdown["left_rows_fetched"], 0, "{pushdown}");
                assert_eq!(pushdown["right_rows_fetched"], 0, "{pushdown}");
            }
        }
    }
}

#[test]
fn inserts_updates_and_deletes_are_found_across_engines() {
    let Some((pg, my)) = both("changes") else {
        return;
    };
    pg.run(PG_ORDERS);
    my.run(MY_ORDERS);
    let mut rng = SmallRng::seed_from_u64(7);
    let left = orders(&mut rng, 4000, true);
    let (right, expected) = mutate(&mut rng, &left, 60);
    insert(&|s| pg.run(s), "orders", &left);
    insert(&|s| my.run(s), "orders", &right);
    for extra in [&[][..], &["--db-threads", "1"], &["--no-pushdown"]] {
        let (code, report) = diff(&pg.url("orders"), &my.url("orders"), "id", extra);
        assert_eq!(code, 1);
        assert_eq!(reported(&report), expected, "{extra:?}");
        assert_eq!(report["summary"]["left_rows"], 4000);
        assert_eq!(report["summary"]["right_rows"], right.len());
    }
    // And the other way round, PostgreSQL on the right.
    let (_, report) = diff(&my.url("orders"), &pg.url("orders"), "id", &[]);
    let flipped: BTreeMap<_, _> = expected
        .iter()
        .map(|((status, key), columns)| {
            let status = match status.as_str() {
                "only_left" => "only_right",
                "only_right" => "only_left",
                s => s,
            };
            ((status.to_string(), key.clone()), columns.clone())
        })
        .collect();
    assert_eq!(reported(&report), flipped);
}

#[test]
fn composite_and_text_keys_work_across_engines() {
    let Some((pg, my)) = both("keys") else {
        return;
    };
    pg.run(
        "CREATE TABLE stock (region varchar(20), sku text, day date, qty int, \
         PRIMARY KEY (region, sku, day))",
    );
    my.run(
        "CREATE TABLE stock (region varchar(20), sku varchar(40), day date, qty int, \
         PRIMARY KEY (region, sku, day))",
    );
    let mut rows = Vec::new();
    for (r, region) in ["north", "Süd", "east|west"].iter().enumerate() {
        for s in 0..40 {
            for d in 1..=5 {
                rows.push((
                    region.to_string(),
                    format!("sku-{s}-é"),
                    format!("2024-02-0{d}"),
                    r * 1000 + s * 10 + d,
                ));
            }
        }
    }
    let sql = |rows: &[(String, String, String, usize)]| {
        let list: Vec<String> = rows
            .iter()
            .map(|(r, s, d, q)| format!("({}, {}, '{d}', {q})", quote(r), quote(s)))
            .collect();
        format!("INSERT INTO stock VALUES {}", list.join(", "))
    };
    pg.run(&sql(&rows));
    let mut right = rows.clone();
    right[17].3 += 1; // changed
    let gone = right.remove(300); // only left
    right.push(("west".into(), "new".into(), "2024-02-01".into(), 1)); // only right
    my.run(&sql(&right));
    let changed = &rows[17];
    let expected: BTreeMap<_, _> = [
        (
            (
                "changed".to_string(),
                format!("{},{},{}", changed.0, changed.1, changed.2),
            ),
            BTreeSet::from(["qty".to_string()]),
        ),
        (
            (
                "only_left".to_string(),
                format!("{},{},{}", gone.0, gone.1, gone.2),
            ),
            BTreeSet::new(),
        ),
        (
            ("only_right".to_string(), "west,new,2024-02-01".to_string()),
            BTreeSet::new(),
        ),
    ]
    .into();
    for extra in [&[][..], &["--no-pushdown"]] {
        let (code, report) = diff(&pg.url("stock"), &my.url("stock"), "region,sku,day", extra);
        assert_eq!(code, 1);
        assert_eq!(reported(&report), expected, "{extra:?}");
    }
    // A text key alone (duplicates of it are reported, not collapsed).
    let (_, report) = diff(&pg.url("stock"), &my.url("stock"), "sku", &[]);
    assert!(report["summary"]["duplicate_keys"].as_u64().unwrap() > 0);
}

#[test]
fn nulls_duplicates_and_queries_are_handled_in_the_databases() {
    let Some((pg, my)) = both("nulls") else {
        return;
    };
    // No primary key: NULL and repeated keys are possible, and equal on both
    // sides, so only recon's own checks can find them.
    let table = "CREATE TABLE t (id int, v varchar(10))";
    pg.run(table);
    my.run(table);
    let rows = "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (2, 'b'), (NULL, 'n'), (3, NULL)";
    pg.run(rows);
    my.run(rows);
    let (code, report) = diff(&pg.url("t"), &my.url("t"), "id", &[]);
    assert_eq!(code, 1, "duplicate and NULL keys fail the verdict");
    assert_eq!(report["summary"]["duplicate_keys"], 1);
    // One NULL-key row on each side.
    assert_eq!(report["summary"]["null_keys"], 2);
    // A query instead of a table, in each database's own SQL.
    let (code, report) = diff(
        &pg.url("t").replace("?table=t", ""),
        &my.url("t").replace("?table=t", ""),
        "id",
        &[
            "--left-query",
            "SELECT id, v FROM t WHERE id IS NOT NULL GROUP BY id, v",
            "--right-query",
            "SELECT DISTINCT id, v FROM t WHERE id IS NOT NULL",
        ],
    );
    assert_eq!(code, 0, "{}", report["diffs"]);
    assert_eq!(report["summary"]["unchanged"], 3);
}

/// While recon reads, a writer on each side keeps moving one row between
/// the two ends of the key range (delete id 1 and insert id `last + 1` in one
/// transaction, then back), so each side always holds exactly one of the two.
/// Read from one snapshot, each side shows one state: the comparison reports
/// nothing, or exactly the moved row on each side. Sessions on different
/// snapshots would count the row twice or not at all (exit 2) or report one
/// end only.
#[test]
fn a_table_written_during_the_comparison_gives_a_coherent_answer() {
    let Some((pg, my)) = both("writes") else {
        return;
    };
    let last = 200_000;
    pg.run(&format!(
        "CREATE TABLE t (id bigint PRIMARY KEY, pad text); \
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, {last}) g"
    ));
    my.run(&format!(
        "CREATE TABLE t (id bigint PRIMARY KEY, pad text);\n\
         INSERT INTO t SELECT seq, md5(seq) FROM seq_1_to_{last}"
    ));
    let moved = last + 1;
    // Both ways of the move, one transaction each.
    let steps = [
        [
            "DELETE FROM t WHERE id = 1".to_string(),
            format!("INSERT INTO t VALUES ({moved}, 'moved')"),
        ],
        [
            format!("DELETE FROM t WHERE id = {moved}"),
            "INSERT INTO t VALUES (1, 'c4ca4238a0b923820dcc509a6f75849b')".to_string(),
        ],
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let plain = |u: String| {
        let mut u = url::Url::parse(&u).unwrap();
        u.set_query(None);
        u
    };
    let writers: Vec<_> = [plain(pg.url("t")), plain(my.url("t"))]
        .into_iter()
        .map(|url| {
            let (stop, writes, steps) = (stop.clone(), writes.clone(), steps.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                if url.scheme() == "postgres" {
                    let client = pg_connect(&url);
                    while !stop.load(Ordering::Relaxed) {
                        let [a, b] = &steps[i % 2];
                        runtime()
                            .block_on(client.batch_execute(&format!("BEGIN; {a}; {b}; COMMIT")))
                            .unwrap();
                        writes.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                } else {
                    let mut conn = my_connect(&url);
                    while !stop.load(Ordering::Relaxed) {
                        let [a, b] = &steps[i % 2];
                        for sql in ["START TRANSACTION", a.as_str(), b.as_str(), "COMMIT"] {
                            runtime().block_on(conn.query_drop(sql)).unwrap();
                        }
                        writes.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                }
            })
        })
        .collect();
    let started = std::time::Instant::now();
    while writes.load(Ordering::Relaxed) < 20 {
        assert!(
            started.elapsed().as_secs() < 60,
            "the writers made no progress"
        );
        assert!(!writers.iter().any(|w| w.is_finished()), "a writer failed");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let runs: Vec<(&[&str], i32, Value)> =
        [&[][..], &[][..], &["--db-threads", "2"], &["--no-pushdown"]]
            .into_iter()
            .map(|extra| {
                let (code, report) = diff(&pg.url("t"), &my.url("t"), "id", extra);
                (extra, code, report)
            })
            .collect();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let (one, other) = (1.to_string(), moved.to_string());
    let empty = BTreeSet::new();
    let allowed = [
        BTreeMap::new(),
        BTreeMap::from([
            (("only_left".to_string(), one.clone()), empty.clone()),
            (("only_right".to_string(), other.clone()), empty.clone()),
        ]),
        BTreeMap::from([
            (("only_left".to_string(), other.clone()), empty.clone()),
            (("only_right".to_string(), one.clone()), empty.clone()),
        ]),
    ];
    for (extra, code, report) in runs {
        let found = reported(&report);
        assert!(allowed.contains(&found), "{extra:?}: {found:?}");
        assert_eq!(code, i32::from(!found.is_empty()));
        assert_eq!(report["summary"]["left_rows"], last);
        assert_eq!(report["summary"]["right_rows"], last);
    }
}

#[test]
fn a_million_rows_with_fifty_changes_fetch_a_small_fraction() {
    let Some((pg, my)) = both("million") else {
        return;
    };
    let rows = 1_000_000;
    pg.run(&format!(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, \
           amount numeric(12,2), created timestamp, note text); \
         INSERT INTO orders SELECT g, 'customer ' || (g % 9973), (g % 100000) / 100.0, \
           timestamp '2024-01-01' + g * interval '1 second', \
           CASE WHEN g % 11 = 0 THEN NULL ELSE 'note é€ ' || (g % 7) END \
         FROM generate_series(1, {rows}) g"
    ));
    my.run(&format!(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, \
           amount decimal(12,2), created datetime(6), note text);\n\
         INSERT INTO orders SELECT seq, CONCAT('customer ', seq % 9973), (seq % 100000) / 100, \
           TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND, \
           CASE WHEN seq % 11 = 0 THEN NULL ELSE CONCAT('note é€ ', seq % 7) END \
         FROM seq_1_to_{rows}"
    ));
    // 50 changed rows spread over the table.
    let changed: Vec<i64> = (0..50).map(|i| i * 19_997 + 11).collect();
    let list: Vec<String> = changed.iter().map(i64::to_string).collect();
    my.run(&format!(
        "UPDATE orders SET amount = amount + 0.01 WHERE id IN ({})",
        list.join(",")
    ));
    let (code, report) = diff(&pg.url("orders"), &my.url("orders"), "id", &[]);
    assert_eq!(code, 1);
    let expected: BTreeMap<_, _> = changed
        .iter()
        .map(|id| {
            (
                ("changed".to_string(), id.to_string()),
                BTreeSet::from(["amount".to_string()]),
            )
        })
        .collect();
    assert_eq!(reported(&report), expected);
    assert_eq!(report["summary"]["unchanged"], rows - 50);
    let stats = &report["stats"]["pushdown"];
    let fetched = rows_fetched(stats);
    assert!(
        fetched > 0 && fetched < 2 * rows as u64 / 100,
        "fetched {fetched}: {stats}"
    );
    eprintln!("1M rows, 50 changes: {stats}");
}

/// Rows fetched from both databases (`stats.pushdown`).
fn rows_fetched(pushdown: &Value) -> u64 {
    pushdown["left_rows_fetched"].as_u64().unwrap()
        + pushdown["right_rows_fetched"].as_u64().unwrap()
}

/// `recon check FILE`'s report of its first check, which must differ (exit 1).
fn differing_check(file: &std::path::Path) -> Value {
    let out = recon()
        .args(["check", file.to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["checks"][0]["report"].clone()
}

/// The differences a report should list: status, key as text, changed columns.
fn differences(list: &[(&str, &str, &[&str])]) -> Reported {
    list.iter()
        .map(|(status, key, columns)| {
            (
                (status.to_string(), key.to_string()),
                columns.iter().map(|c| c.to_string()).collect(),
            )
        })
        .collect()
}

/// A composite primary key led by an integer (order, line) is cut into
/// ranges of its first column, as an integer key is: the report names those
/// ranges, and only the rows of the few that differ are fetched.
#[test]
fn a_composite_key_led_by_an_integer_is_checksummed_in_ranges() {
    let Some((pg, my)) = both("lines") else {
        return;
    };
    let orders = 60_000;
    pg.run(&format!(
        "CREATE TABLE order_lines (order_id bigint, line int, qty numeric(9,2), item text, \
           PRIMARY KEY (order_id, line)); \
         INSERT INTO order_lines SELECT o, l, (o * l % 1000) / 10.0, 'item ' || (o % 97) \
         FROM generate_series(1, {orders}) o, generate_series(1, 1 + o % 5) l"
    ));
    my.run(&format!(
        "CREATE TABLE order_lines (order_id bigint, line int, qty decimal(9,2), item text, \
           PRIMARY KEY (order_id, line));\n\
         INSERT INTO order_lines SELECT o.seq, l.seq, (o.seq * l.seq % 1000) / 10, \
           CONCAT('item ', o.seq % 97) \
         FROM seq_1_to_{orders} o JOIN seq_1_to_5 l ON l.seq <= 1 + o.seq % 5"
    ));
    let rows: u64 = (1..=orders).map(|o| 1 + o % 5).sum();
    my.run(
        "UPDATE order_lines SET qty = qty + 1 WHERE order_id IN (7, 30001) AND line = 1;\n\
         DELETE FROM order_lines WHERE order_id = 45000 AND line = 1;\n\
         INSERT INTO order_lines VALUES (59999, 9, 1.00, 'extra')",
    );
    let expected = differences(&[
        ("changed", "7,1", &["qty"]),
        ("changed", "30001,1", &["qty"]),
        ("only_left", "45000,1", &[]),
        ("only_right", "59999,9", &[]),
    ]);
    let (code, report) = diff(
        &pg.url("order_lines"),
        &my.url("order_lines"),
        "order_id,line",
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(reported(&report), expected);
    assert_eq!(report["summary"]["unchanged"], rows - 3);
    let stats = &report["stats"]["pushdown"];
    let fetched = rows_fetched(stats);
    assert!(
        fetched > 0 && fetched < 2 * rows / 100,
        "fetched {fetched}: {stats}"
    );
    // Ranges of order_id, not hash buckets.
    assert_eq!(report["stats"]["pushdown"]["method"], "ranges");
    let ranges = report["ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 4, "{ranges:?}");
    let mut last_end = 0.0;
    for (range, order) in ranges.iter().zip([7, 30001, 45000, 59999]) {
        let (from, to) = (&range["from"]["order_id"], &range["to"]["order_id"]);
        assert!(
            from.as_i64().unwrap() <= order && order < to.as_i64().unwrap(),
            "{range}"
        );
        // Placed in the key space by key value, in key order.
        let span: Vec<f64> = range["span"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_f64().unwrap())
            .collect();
        assert!(
            last_end <= span[0] && span[0] < span[1] && span[1] <= 1.0,
            "{range}"
        );
        last_end = span[1];
    }
    assert!(
        last_end > 0.99,
        "the last range ends at the last key: {ranges:?}"
    );
    // A NULL-able later key column keeps the hashed buckets (no ranges), same answer.
    pg.run(
        "ALTER TABLE order_lines DROP CONSTRAINT order_lines_pkey; \
         ALTER TABLE order_lines ALTER COLUMN line DROP NOT NULL",
    );
    let (code, report) = diff(
        &pg.url("order_lines"),
        &my.url("order_lines"),
        "order_id,line",
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(reported(&report), expected);
    assert_eq!(report["stats"]["pushdown"]["method"], "buckets");
    // Hash buckets have no key order: no place in the key space is claimed.
    let ranges = report["ranges"].as_array().unwrap();
    assert!(ranges.iter().all(|r| r.get("span").is_none()), "{ranges:?}");
}

/// A table and its copy in one PostgreSQL database are compared by one join
/// inside it: same answer as the checksums and as reading both whole,
/// including values equal by recon's rules but not byte for byte (`1.80`
/// and `1.8`, `-0` and `0`), a case-only change in a text key, a NULL key
/// and a duplicated key.
#[test]
fn two_tables_of_one_postgres_database_are_joined_in_it() {
    let Some((pg, _my)) = both("joined") else {
        return;
    };
    pg.run(
        "CREATE TABLE a (id bigint, code text, amount numeric(10,2), ratio float8, seen timestamptz); \
         CREATE TABLE b (id bigint, code text, amount numeric(12,3), ratio float8, seen timestamptz); \
         INSERT INTO a SELECT g, 'c' || g, g / 8.0, g * 0.5, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' \
           FROM generate_series(1, 5000) g; \
         INSERT INTO b SELECT * FROM a; \
         UPDATE b SET amount = amount + 0.001 WHERE id = 10; \
         UPDATE b SET code = 'C20' WHERE id = 20; \
         UPDATE a SET ratio = 0 WHERE id = 30; UPDATE b SET ratio = '-0' WHERE id = 30; \
         UPDATE b SET seen = seen + interval '1 microsecond' WHERE id = 40; \
         DELETE FROM b WHERE id = 50; \
         INSERT INTO b VALUES (6000, 'new', 1, 1, NULL), (NULL, 'nokey', 1, 1, NULL); \
         INSERT INTO a SELECT * FROM a WHERE id = 60",
    );
    let expected = differences(&[
        ("changed", "10", &["amount"]),
        ("changed", "20", &["code"]),
        ("changed", "40", &["seen"]),
        ("only_left", "50", &[]),
        ("only_right", "6000", &[]),
    ]);
    let mut answers = Vec::new();
    for extra in [&[][..], &["--no-join"], &["--no-pushdown"]] {
        let (code, report) = diff(&pg.url("a"), &pg.url("b"), "id", extra);
        assert_eq!(code, 1, "{extra:?}");
        assert_eq!(reported(&report), expected, "{extra:?}");
        assert_eq!(report["summary"]["duplicate_keys"], 1, "{extra:?}");
        assert_eq!(report["summary"]["null_keys"], 1, "{extra:?}");
        assert_eq!(report["summary"]["unchanged"], 5000 - 5, "{extra:?}");
        answers.push(report["stats"]["pushdown"]["method"].clone());
        if extra.is_empty() {
            let stats = &report["stats"]["pushdown"];
            let fetched = rows_fetched(stats);
            assert!(fetched <= 20, "fetched {fetched}: {stats}");
        }
    }
    assert_eq!(answers[0], "join");
    assert_eq!(answers[1], "ranges");
    // The rule file's `[database] join` says the same as `--no-join`.
    let dir = tempfile::tempdir().unwrap();
    for (join, method) in [("true", "join"), ("false", "ranges")] {
        let file = dir.path().join(format!("join_{join}.toml"));
        let rules = format!(
            "key = [\"id\"]\n[left]\nsource = \"{}\"\n[right]\nsource = \"{}\"\n\
             [database]\njoin = {join}\n",
            pg.url("a"),
            pg.url("b")
        );
        std::fs::write(&file, rules).unwrap();
        let report = &differing_check(&file);
        assert_eq!(report["stats"]["pushdown"]["method"], method);
        assert_eq!(reported(report), expected);
    }
    // A composite text key, joined byte by byte: `x`/`X` are two keys.
    pg.run(
        "CREATE TABLE c (k1 text, k2 int, v int, PRIMARY KEY (k1, k2)); \
         CREATE TABLE d (k1 text, k2 int, v int, PRIMARY KEY (k1, k2)); \
         INSERT INTO c VALUES ('x', 1, 1), ('y', 1, 1), ('z''q', 2, 2); \
         INSERT INTO d VALUES ('X', 1, 1), ('y', 1, 2), ('z''q', 2, 2)",
    );
    // Decimal keys of two scales (`5.00` against `5.000`), more differing keys
    // than one fetch query lists, a NULL part in a composite key: each row
    // is fetched once, so no key looks duplicated.
    pg.run(
        "CREATE TABLE e (k numeric(10,2), n int, v int); \
         CREATE TABLE f (k numeric(12,3), n int, v int); \
         INSERT INTO e SELECT g / 4.0, g % 3, g FROM generate_series(1, 1500) g; \
         INSERT INTO e VALUES (NULL, 1, 1), (7.5, NULL, 1); \
         INSERT INTO f SELECT k, n, CASE WHEN v % 2 = 0 THEN v + 1 ELSE v END FROM e",
    );
    // Key `k`: 7.5 occurs twice (one real duplicate), a NULL key a side;
    // `k,n`: no duplicate, two rows a side with a NULL part.
    for (key, duplicates, null_keys) in [("k", 1, 2), ("k,n", 0, 4)] {
        let (code, report) = diff(&pg.url("e"), &pg.url("f"), key, &[]);
        assert_eq!(code, 1, "{key}");
        assert_eq!(report["stats"]["pushdown"]["method"], "join", "{key}");
        let (_, whole) = diff(&pg.url("e"), &pg.url("f"), key, &["--no-pushdown"]);
        assert_eq!(report["summary"], whole["summary"], "{key}");
        assert_eq!(report["summary"]["duplicate_keys"], duplicates, "{key}");
        assert_eq!(report["summary"]["null_keys"], null_keys, "{key}");
        assert!(
            report["summary"]["changed"].as_u64().unwrap() >= 749,
            "{key}"
        );
    }
    let (code, report) = diff(&pg.url("c"), &pg.url("d"), "k1,k2", &[]);
    assert_eq!(code, 1);
    assert_eq!(report["stats"]["pushdown"]["method"], "join");
    let expected = differences(&[
        ("changed", "y,1", &["v"]),
        ("only_left", "x,1", &[]),
        ("only_right", "X,1", &[]),
    ]);
    assert_eq!(reported(&report), expected);
}

#[test]
fn sqlite_files_compare_with_postgres_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, name TEXT, amount DECIMAL(12,2), \
           at DATETIME, flag BOOLEAN); \
         INSERT INTO orders VALUES (1, 'a', 1.5, '2024-01-01 10:00:00', 1), \
           (2, 'b|c', 2.25, '2024-01-02 10:00:00.5', 0), (3, NULL, NULL, NULL, NULL);",
    )
    .unwrap();
    drop(conn);
    let sqlite = format!("sqlite://{}?table=orders", path.display());
    // Against a CSV file with the same rows but one changed.
    let csv = dir.path().join("orders.csv");
    std::fs::write(
        &csv,
        "id,name,amount,at,flag\n1,a,1.50,2024-01-01T10:00:00,1\n2,b|c,2.26,2024-01-02T10:00:00.5,0\n3,,,,\n",
    )
    .unwrap();
    let (code, report) = diff(&sqlite, csv.to_str().unwrap(), "id", &[]);
    assert_eq!(code, 1);
    let expected: BTreeMap<_, _> = [(
        ("changed".to_string(), "2".to_string()),
        BTreeSet::from(["amount".to_string()]),
    )]
    .into();
    assert_eq!(reported(&report), expected);
    // A value that does not fit its declared type is an error, not a guess.
    let bad = dir.path().join("bad.db");
    let conn = rusqlite::Connection::open(&bad).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (id INTEGER, n INTEGER); INSERT INTO t VALUES (1, 'seven');",
    )
    .unwrap();
    drop(conn);
    let out = recon()
        .args([
            "diff",
            &format!("sqlite://{}?table=t", bad.display()),
            csv.to_str().unwrap(),
            "--key",
            "id",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("column n") && stderr.lines().count() == 1,
        "{stderr}"
    );

    let Some(pg_admin) = server("RECON_TEST_PG") else {
        return;
    };
    let pg = Pg::create(&pg_admin, "sqlite");
    pg.run(
        "CREATE TABLE orders (id int PRIMARY KEY, name text, amount numeric(12,2), at timestamp, \
           flag boolean); \
         INSERT INTO orders VALUES (1, 'a', 1.5, '2024-01-01 10:00:00', true), \
           (2, 'b|c', 2.25, '2024-01-02 10:00:00.5', false), (3, NULL, NULL, NULL, NULL)",
    );
    let (code, report) = diff(&sqlite, &pg.url("orders"), "id", &[]);
    assert_eq!(code, 0, "{}", report["diffs"]);
}

#[test]
fn bad_credentials_and_hosts_exit_two_without_the_password() {
    let secret = "Wr0ng-pass-XYZ";
    let mut cases = vec![
        // Nothing listens on port 1.
        format!("postgres://postgres:{secret}@127.0.0.1:1/postgres?table=t"),
        format!("mysql://root:{secret}@127.0.0.1:1/mysql?table=t"),
    ];
    if let Some(my_admin) = server("RECON_TEST_MYSQL") {
        let mut url = my_admin.clone();
        url.set_password(Some(secret)).unwrap();
        url.set_username("recon_no_such_user").unwrap();
        url.set_query(Some("table=t"));
        cases.push(url.to_string());
    }
    if let Some(pg_admin) = server("RECON_TEST_PG") {
        // Trust authentication accepts any password; a missing database does not.
        let mut url = pg_admin.clone();
        url.set_password(Some(secret)).unwrap();
        url.set_path("recon_no_such_database");
        url.set_query(Some("table=t"));
        cases.push(url.to_string());
        // A missing table in a database that exists.
        let mut url = pg_admin.clone();
        url.set_password(Some(secret)).unwrap();
        url.set_query(Some("table=recon_no_such_table"));
        cases.push(url.to_string());
    }
    for source in cases {
        let out = recon()
            .args(["diff", &source, &source, "--key", "id"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{source}: {stderr}");
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("***"), "{stderr}");
    }
}

#[test]
fn types_recon_cannot_compare_are_named() {
    let Some(pg_admin) = server("RECON_TEST_PG") else {
        return;
    };
    let pg = Pg::create(&pg_admin, "types");
    pg.run("CREATE TABLE t (id int PRIMARY KEY, span interval)");
    let out = recon()
        .args(["diff", &pg.url("t"), &pg.url("t"), "--key", "id"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("column span has type interval"), "{stderr}");
    // The way out the message names: a query casting it to text.
    let (code, _) = diff(
        &pg.url("t").replace("?table=t", ""),
        &pg.url("t").replace("?table=t", ""),
        "id",
        &[
            "--left-query",
            "SELECT id, span::text AS span FROM t",
            "--right-query",
            "SELECT id, span::text AS span FROM t",
        ],
    );
    assert_eq!(code, 0);
}

/// Both databases with `orders`: random rows on the left (PostgreSQL) and
/// the same with `changes` random changes on the right (MariaDB).
fn orders_pair(
    test: &str,
    seed: u64,
    rows: i64,
    changes: usize,
) -> Option<(Pg, My, Vec<Order>, Reported)> {
    let (pg, my) = both(test)?;
    pg.run(PG_ORDERS);
    my.run(MY_ORDERS);
    let mut rng = SmallRng::seed_from_u64(seed);
    let left = orders(&mut rng, rows, true);
    let (right, expected) = mutate(&mut rng, &left, changes);
    insert(&|s| pg.run(s), "orders", &left);
    insert(&|s| my.run(s), "orders", &right);
    Some((pg, my, left, expected))
}

#[test]
fn rule_files_name_database_sources_and_options() {
    let Some((pg, my, _, expected)) = orders_pair("rules", 11, 500, 5) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for pushdown in [true, false] {
        let file = dir.path().join(format!("db_{pushdown}.toml"));
        std::fs::write(
            &file,
            format!(
                "key = [\"id\"]\n[left]\nsource = \"{}\"\n[right]\nsource = \"{}\"\n\
                 [database]\nthreads = 2\npushdown = {pushdown}\n",
                pg.url("orders"),
                my.url("orders")
            ),
        )
        .unwrap();
        let report = &differing_check(&file);
        assert_eq!(reported(report), expected);
        assert_eq!(report["stats"]["pushdown"].is_null(), !pushdown);
    }
}

#[test]
fn tls_modes_follow_each_engines_client() {
    let Some(pg_admin) = server("RECON_TEST_PG") else {
        return;
    };
    let pg = Pg::create(&pg_admin, "tls");
    pg.run("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')");
    let with = |mode: &str| format!("{}&sslmode={mode}", pg.url("t"));
    let ssl_on = runtime()
        .block_on(pg.client.simple_query("SHOW ssl"))
        .unwrap()
        .iter()
        .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("on")));
    // Encrypted when the server offers it (psql's default), or not at all.
    for mode in ["prefer", "disable"] {
        let (code, _) = diff(&with(mode), &pg.url("t"), "id", &[]);
        assert_eq!(code, 0, "sslmode={mode}");
    }
    let out = recon()
        .args([
            "diff",
            &with("require"),
            &pg.url("t"),
            "--key",
            "id",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(if ssl_on { 0 } else { 2 }));
    let mut bad = vec![with("sometimes")];
    if ssl_on {
        // A server certificate no system root vouches for (Debian's snakeoil):
        // verify-full refuses it.
        bad.push(with("verify-full"));
    }
    if let Some(my_admin) = server("RECON_TEST_MYSQL") {
        let mut url = my_admin.clone();
        url.set_query(Some("table=t&ssl-mode=sometimes"));
        bad.push(url.to_string());
    }
    for source in bad {
        let out = recon()
            .args(["diff", &source, &source, "--key", "id"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{source}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// A MariaDB server of a test's own, with TLS (the shared server has none):
/// its data directory, port and self-signed certificate in a temporary
/// directory; stopped when dropped.
struct TlsMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    server: std::process::Child,
}

impl TlsMariaDb {
    fn start() -> TlsMariaDb {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
        let run = |program: &str, args: &[&str]| {
            let out = std::process::Command::new(program)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{program}: {e}"));
            assert!(
                out.status.success(),
                "{program}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=recon-test.invalid",
                "-keyout",
                &path("key.pem"),
                "-out",
                &path("cert.pem"),
            ],
        );
        run(
            "mariadb-install-db",
            &[
                "--no-defaults",
                "--user=root",
                &format!("--datadir={}", path("data")),
                "--auth-root-authentication-method=normal",
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = std::process::Command::new("mariadbd")
            .args([
                "--no-defaults".to_string(),
                "--user=root".into(),
                format!("--datadir={}", path("data")),
                format!("--port={port}"),
                "--bind-address=127.0.0.1".into(),
                format!("--socket={}", path("sock")),
                format!("--pid-file={}", path("pid")),
                format!("--ssl-cert={}", path("cert.pem")),
                format!("--ssl-key={}", path("key.pem")),
                "--skip-log-bin".into(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let db = TlsMariaDb { dir, port, server };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while db.sql("SELECT 1").is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the TLS MariaDB did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        db
    }

    fn sql(&self, sql: &str) -> Result<String, String> {
        let out = std::process::Command::new("mariadb")
            .args(["--no-defaults", "-h", "127.0.0.1", "-u", "root", "-N", "-B"])
            .arg(format!("-P{}", self.port))
            .args(["-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
        }
    }
}

impl Drop for TlsMariaDb {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// MySQL's `ssl-mode` against a server that offers TLS: `required` and
/// `verify_ca` (the test's own certificate as `ssl-ca`) encrypt the session,
/// as the server's own `Ssl_cipher` says; `disabled` does not; and
/// `verify_identity` refuses a certificate issued for another name (exit 2,
/// one line). Without a TLS feature in the driver, recon failed here.
#[test]
fn mysql_ssl_modes_encrypt_the_session_or_refuse() {
    let Some(shared) = server("RECON_TEST_MYSQL") else {
        return;
    };
    let db = TlsMariaDb::start();
    db.sql("CREATE DATABASE t; CREATE TABLE t.t (id int PRIMARY KEY, v text); INSERT INTO t.t VALUES (1, 'a')")
        .unwrap();
    let url = |params: &str| format!("mysql://root@127.0.0.1:{}/t?{params}", db.port);
    let ca = db.dir.path().join("cert.pem");
    let cipher = |params: &str| -> String {
        let cipher_query = "SELECT 1 AS id, VARIABLE_VALUE AS v FROM information_schema.SESSION_STATUS \
                            WHERE VARIABLE_NAME = 'Ssl_cipher'";
        let (code, report) = diff(
            &url(params),
            &url("table=t"),
            "id",
            &[
                "--left-query",
                cipher_query,
                "--right-query",
                "SELECT 1 AS id, 'x' AS v",
            ],
        );
        assert_eq!(code, 1, "{params}");
        report["diffs"][0]["left"]["v"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(!cipher("ssl-mode=required").is_empty());
    assert!(!cipher("ssl-mode=preferred").is_empty());
    assert!(!cipher(&format!("ssl-mode=verify_ca&ssl-ca={}", ca.display())).is_empty());
    assert_eq!(cipher("ssl-mode=disabled"), "");
    let (code, _, stderr) = run_diff(
        &url(&format!(
            "table=t&ssl-mode=verify_identity&ssl-ca={}",
            ca.display()
        )),
        &url("table=t"),
        "id",
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // The shared server offers no TLS: `preferred` falls back to a plain
    // session, as the MySQL client does; `required` fails.
    let plain = |mode: &str| {
        let mut url = shared.clone();
        url.set_query(Some(&format!("ssl-mode={mode}")));
        run_diff(
            url.as_str(),
            url.as_str(),
            "id",
            &[
                "--left-query",
                "SELECT 1 AS id",
                "--right-query",
                "SELECT 1 AS id",
            ],
        )
    };
    assert_eq!(plain("preferred").0, 0, "{}", plain("preferred").2);
    let (code, _, stderr) = plain("required");
    assert_eq!((code, stderr.lines().count()), (2, 1), "{stderr}");
}

/// `recon repair --sql` against both engines as target: the patch makes the
/// target equal, a second run of it changes nothing, and hostile values
/// round-trip.
#[test]
fn repair_patches_make_the_target_agree() {
    let Some((pg, my)) = both("repair") else {
        return;
    };
    pg.run(PG_ORDERS);
    my.run(MY_ORDERS);
    let mut rng = SmallRng::seed_from_u64(13);
    let mut left = orders(&mut rng, 400, true);
    let hostile = [
        "'; DROP TABLE orders; --",
        "O'Brien",
        "back\\slash\\",
        "emoji 🎉 日本語",
        "",
    ];
    for (i, name) in hostile.iter().enumerate() {
        left[i].name = name.to_string();
        left[i].note = Some("x".repeat(190));
    }
    let mut extreme = random_order(&mut rng, i64::MAX - 1, false);
    extreme.name = "max".into();
    left.push(extreme);
    let (mut right, _) = mutate(&mut rng, &left, 40);
    right.retain(|o| o.id != i64::MAX - 1);
    let mut lowest = random_order(&mut rng, i64::MIN, false);
    lowest.name = "min".into();
    right.insert(0, lowest);
    let dir = tempfile::tempdir().unwrap();
    // PostgreSQL holds the truth and MariaDB is repaired, then the other way.
    for (truth_is_pg, round) in [(true, "a"), (false, "b")] {
        let table = format!("orders_{round}");
        pg.run(&PG_ORDERS.replace("orders", &table));
        my.run(&MY_ORDERS.replace("orders", &table));
        let (truth_rows, target_rows) = (&left, &right);
        if truth_is_pg {
            insert(&|s| pg.run(s), &table, truth_rows);
            insert(&|s| my.run(s), &table, target_rows);
        } else {
            insert(&|s| my.run(s), &table, truth_rows);
            insert(&|s| pg.run(s), &table, target_rows);
        }
        let (truth_url, target_url) = if truth_is_pg {
            (pg.url(&table), my.url(&table))
        } else {
            (my.url(&table), pg.url(&table))
        };
        let patch = dir.path().join(format!("{round}.sql"));
        let out = recon()
            .args(["repair", &truth_url, &target_url, "--key", "id", "--sql"])
            .arg(&patch)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sql = std::fs::read_to_string(&patch).unwrap();
        assert!(sql.starts_with("-- recon"), "{sql}");
        for _ in 0..2 {
            if truth_is_pg {
                my.run(&sql);
            } else {
                pg.run(&sql);
            }
            let (code, report) = diff(&truth_url, &target_url, "id", &[]);
            assert_eq!(code, 0, "{round}: {}", report["diffs"]);
            assert_eq!(
                report["summary"]["right_rows"].as_u64(),
                Some(left.len() as u64)
            );
        }
        // Nothing left to repair: an empty patch, exit 0.
        let out = recon()
            .args(["repair", &truth_url, &target_url, "--key", "id", "--sql"])
            .arg(&patch)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    }
    // The row cap refuses, unless forced; a file target is refused.
    let (truth_url, target_url) = (pg.url("orders"), my.url("orders"));
    insert(&|s| pg.run(s), "orders", &left);
    insert(&|s| my.run(s), "orders", &right);
    let patch = dir.path().join("capped.sql");
    let repair = |target: &str, extra: &[&str]| {
        recon()
            .args([
                "repair",
                &truth_url,
                target,
                "--key",
                "id",
                "--max-rows",
                "5",
            ])
            .args(extra)
            .arg("--sql")
            .arg(&patch)
            .output()
            .unwrap()
    };
    let out = repair(&target_url, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_rows"));
    assert!(!patch.exists());
    assert_eq!(repair(&target_url, &["--force"]).status.code(), Some(1));
    let csv = dir.path().join("target.csv");
    std::fs::write(&csv, "id,name\n1,a\n").unwrap();
    let out = repair(csv.to_str().unwrap(), &["--force"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a database table"));
}

/// Repair of a SQLite table (no server needed): from another SQLite file.
#[test]
fn repair_patches_sqlite_targets() {
    let dir = tempfile::tempdir().unwrap();
    let create = "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount DECIMAL(12,2), \
                  price REAL, at DATETIME, flag BOOLEAN, raw BLOB);";
    let open = |name: &str, rows: &str| {
        let path = dir.path().join(name);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!("{create} INSERT INTO t VALUES {rows};"))
            .unwrap();
        path
    };
    let truth = open(
        "truth.db",
        "(1, 'O''Brien', 1.50, 0.1, '2024-01-01 10:00:00.123456', 1, X'00ff'), \
         (2, ''';DROP TABLE t;--', 2.25, -2.5, NULL, 0, NULL), \
         (3, 'émoji 🎉', NULL, 1e300, '2024-03-01 00:00:00', NULL, X''), \
         (-9223372036854775808, 'min', 0.01, 0, '1999-12-31 23:59:59', 1, NULL)",
    );
    let target = open(
        "target.db",
        "(1, 'OBrien', 1.5, 0.1, '2024-01-01 10:00:00.123456', 1, X'00ff'), \
         (3, 'émoji 🎉', 9.99, 1e300, '2024-03-01 00:00:00', NULL, X''), \
         (4, 'extra', 1, 1, NULL, 0, NULL)",
    );
    let url = |p: &std::path::Path| format!("sqlite://{}?table=t", p.display());
    let patch = dir.path().join("fix.sql");
    let out = recon()
        .args([
            "repair",
            &url(&truth),
            &url(&target),
            "--key",
            "id",
            "--sql",
        ])
        .arg(&patch)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sql = std::fs::read_to_string(&patch).unwrap();
    for _ in 0..2 {
        rusqlite::Connection::open(&target)
            .unwrap()
            .execute_batch(&sql)
            .unwrap();
        let (code, report) = diff(&url(&truth), &url(&target), "id", &[]);
        assert_eq!(code, 0, "{}\n{sql}", report["diffs"]);
    }
    // --apply on a fresh copy of the target: verified and committed.
    let fresh = open(
        "fresh.db",
        "(1, 'x', 1, 1, NULL, 0, NULL), (9, 'gone', 1, 1, NULL, 0, NULL)",
    );
    let out = recon()
        .args([
            "repair",
            &url(&truth),
            &url(&fresh),
            "--key",
            "id",
            "--apply",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(diff(&url(&truth), &url(&fresh), "id", &[]).0, 0);
    // A CHECK constraint the truth breaks: rolled back, the file as it was.
    let guarded = dir.path().join("guarded.db");
    rusqlite::Connection::open(&guarded)
        .unwrap()
        .execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount DECIMAL(12,2) \
               CHECK (amount < 2), price REAL, at DATETIME, flag BOOLEAN, raw BLOB); \
             INSERT INTO t VALUES (1, 'x', 1, 1, NULL, 0, NULL);",
        )
        .unwrap();
    let before = std::fs::read(&guarded).unwrap();
    let out = recon()
        .args([
            "repair",
            &url(&truth),
            &url(&guarded),
            "--key",
            "id",
            "--apply",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("rolled back"), "{stderr}");
    assert_eq!(std::fs::read(&guarded).unwrap(), before);
}

/// Repairs `target` from `truth` with `--apply`, expecting a refusal that
/// says `why` and leaves the target as it was.
fn refused_and_unchanged(truth: &str, target: &str, why: &str) {
    let before = reported(&diff(truth, target, "id", &[]).1);
    let out = recon()
        .args(["repair", truth, target, "--key", "id", "--apply"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(why), "{stderr}");
    assert_eq!(reported(&diff(truth, target, "id", &[]).1), before);
}

/// `--apply`: the patch runs in one transaction, is checked inside it and
/// committed; a patch that fails half-way leaves the target exactly as it was.
#[test]
fn repair_apply_commits_only_a_verified_patch() {
    let Some((pg, my, _, expected)) = orders_pair("apply", 17, 300, 30) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.parquet");
    let (truth, target) = (pg.url("orders"), my.url("orders"));
    let out = recon()
        .args([
            "repair", &truth, &target, "--key", "id", "--apply", "--backup",
        ])
        .arg(&backup)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, report) = diff(&truth, &target, "id", &[]);
    assert_eq!(code, 0, "{}", report["diffs"]);
    // The backup holds every changed or deleted target row.
    let changed_or_deleted = expected.keys().filter(|(s, _)| s != "only_left").count();
    let file = std::fs::File::open(&backup).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(
        reader.metadata().file_metadata().num_rows() as usize,
        changed_or_deleted
    );

    // PostgreSQL as the target, with a constraint the truth breaks for one
    // row: the patch fails part-way and nothing of it stays.
    pg.run("CREATE TABLE guarded (id bigint PRIMARY KEY, qty int CHECK (qty < 100))");
    my.run("CREATE TABLE guarded (id bigint PRIMARY KEY, qty int)");
    pg.run("INSERT INTO guarded VALUES (1, 1), (2, 2), (3, 3)");
    my.run("INSERT INTO guarded VALUES (1, 1), (2, 500), (4, 4)");
    refused_and_unchanged(&my.url("guarded"), &pg.url("guarded"), "rolled back");

    // A trigger that rewrites what the patch writes: the statements succeed,
    // the check inside the transaction sees the wrong values, nothing stays.
    pg.run(
        "CREATE TABLE bent (id bigint PRIMARY KEY, qty int); \
         INSERT INTO bent VALUES (1, 1), (2, 2); \
         CREATE FUNCTION bend() RETURNS trigger AS $$ BEGIN NEW.qty := NEW.qty + 1000; \
           RETURN NEW; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER bent_update BEFORE UPDATE ON bent FOR EACH ROW EXECUTE FUNCTION bend()",
    );
    my.run("CREATE TABLE bent (id bigint PRIMARY KEY, qty int)");
    my.run("INSERT INTO bent VALUES (1, 1), (2, 20)");
    refused_and_unchanged(&my.url("bent"), &pg.url("bent"), "still differ");
}

/// Values only some engines have (NaN, -0.0, 38-digit decimals, NUL bytes in
/// binary) round-trip through a repair of PostgreSQL from PostgreSQL, and a
/// MariaDB target is left unchanged when its patch fails half-way.
#[test]
fn repair_round_trips_extreme_values() {
    let Some((pg, my)) = both("extreme") else {
        return;
    };
    let table = "CREATE TABLE x (id bigint PRIMARY KEY, f double precision, r real, \
                 d numeric(38,18), b bytea, t text, ts timestamptz)";
    pg.run(&table.replace(" x ", " truth "));
    pg.run(&table.replace(" x ", " target "));
    pg.run(
        "INSERT INTO truth VALUES \
         (-9223372036854775808, 'NaN', '-0', 12345678901234567890.123456789012345678, \
           '\\x00ff00'::bytea, repeat('é', 5000), '0001-01-01 00:00:00+00'), \
         (9223372036854775807, '-Infinity', 'Infinity', -0.000000000000000001, '\\x'::bytea, \
           E'tab\\there\\nnewline ''quote'' \\\\ backslash', '9999-12-31 23:59:59.999999+00'), \
         (0, -0.0, 1.5, 0, NULL, '', NULL)",
    );
    pg.run("INSERT INTO target VALUES (0, 1, 1, 1, '\\x01'::bytea, 'x', now()), (5, 1, 1, 1, NULL, NULL, NULL)");
    let (truth, target) = (pg.url("truth"), pg.url("target"));
    // Different table names: compare the two tables of one database.
    let out = recon()
        .args(["repair", &truth, &target, "--key", "id", "--apply"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, report) = diff(&truth, &target, "id", &["--no-pushdown"]);
    assert_eq!(code, 0, "{}", report["diffs"]);

    // MariaDB: a CHECK constraint fails on the last statement; nothing stays.
    my.run("CREATE TABLE g (id bigint PRIMARY KEY, qty int, CHECK (qty < 100))");
    my.run("INSERT INTO g VALUES (1, 1), (2, 2), (3, 3)");
    pg.run("CREATE TABLE g (id bigint PRIMARY KEY, qty int); INSERT INTO g VALUES (2, 20), (3, 3), (4, 400)");
    refused_and_unchanged(&pg.url("g"), &my.url("g"), "rolled back");
}

/// MySQL cuts a `GROUP_CONCAT` at `max_allowed_packet` (16 MiB by
/// default) with only a warning, and its `CONCAT` of a text longer than
/// that is NULL: two tables alike in their first 16 MiB would have equal
/// leaf digests. The cut is found and the leaf compared row by row, so a
/// change past it is still reported. Through queries (no catalog estimate
/// of the rows' width: leaf digests are the MD5 of their texts) and
/// through the tables (whose wide rows the catalog may report: sums).
#[test]
fn a_leaf_longer_than_mysql_can_concatenate_is_compared_row_by_row() {
    let Some(my) = server("RECON_TEST_MYSQL").map(|admin| My::create(&admin, "cut")) else {
        return;
    };
    let packet: u64 = my.column("SELECT @@max_allowed_packet")[0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    // Rows of 1 MiB, enough of them to pass the limit by 4 MiB: one leaf.
    let rows = packet / (1 << 20) + 4;
    for table in ["a", "b"] {
        my.run(&format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, v longtext)"
        ));
        for id in 1..=rows {
            my.run(&format!(
                "INSERT INTO {table} VALUES ({id}, REPEAT('x', 1048576))"
            ));
        }
    }
    // The last row differs in its last character, far past the cut.
    my.run(&format!(
        "UPDATE b SET v = CONCAT(REPEAT('x', 1048575), 'y') WHERE id = {rows}"
    ));
    let database = my.url("a").replace("?table=a", "");
    let queries = [
        "--left-query",
        "SELECT id, v FROM a",
        "--right-query",
        "SELECT id, v FROM b",
    ];
    for (left, right, extra) in [
        (database.clone(), database.clone(), &queries[..]),
        (my.url("a"), my.url("b"), &["--db-threads", "2"][..]),
    ] {
        let (code, report) = diff(&left, &right, "id", extra);
        assert_eq!(report["stats"]["pushdown"]["method"], "ranges", "{report}");
        assert_eq!(code, 1, "{}", report["summary"]);
        assert_eq!(
            reported(&report),
            differences(&[("changed", &rows.to_string(), &["v"])])
        );
        assert_eq!(rows_fetched(&report["stats"]["pushdown"]), 2 * rows);
    }
    // Alike, they are found equal all the same.
    my.run(&format!(
        "UPDATE b SET v = REPEAT('x', 1048576) WHERE id = {rows}"
    ));
    let (code, report) = diff(&database, &database, "id", &queries);
    assert_eq!(code, 0, "{}", report["summary"]);
}

#[test]
fn a_side_on_fewer_sessions_than_asked_says_why() {
    let Some((pg, my)) = both("fallback_note") else {
        return;
    };
    let ddl = "CREATE TABLE t (id int PRIMARY KEY, v int)";
    let rows = "INSERT INTO t VALUES (1, 1), (2, 2)";
    pg.run(&format!("{ddl};\n{rows};"));
    my.run(&format!("{ddl};\n{rows}"));
    // A MySQL query cannot be locked for a shared start: one session.
    let mut url = url::Url::parse(&my.url("t")).unwrap();
    url.set_query(None);
    let (code, report) = diff(
        url.as_str(),
        &pg.url("t"),
        "id",
        &["--left-query", "SELECT * FROM t", "--db-threads", "3"],
    );
    assert_eq!(code, 0, "{report}");
    let notes = report["schema"]["notes"].to_string();
    assert!(notes.contains("left: one session instead of 3"), "{notes}");
    // A table shares its start under LOCK TABLES: no note.
    let (_, report) = diff(&my.url("t"), &pg.url("t"), "id", &["--db-threads", "3"]);
    let notes = report["schema"]["notes"].to_string();
    assert!(!notes.contains("one session"), "{notes}");
}

/// Values both engines print alike are hashed as printed, with a mask of the
/// row's NULLs in front: equal tables fetch nothing, and a NULL that moves
/// between two columns of one print format (which `CONCAT_WS` alone, skipping
/// NULLs, would write alike) is still a difference; so is a NULL in a column
/// the other side declares NOT NULL.
#[test]
fn nulls_moving_between_columns_printed_alike_are_found() {
    let Some((pg, my)) = both("printed") else {
        return;
    };
    pg.run(
        "CREATE TABLE p (id bigint PRIMARY KEY, a int, b int, d numeric(10,2),
           x double precision, dt date, ts timestamp(0), ts6 timestamp(6), t text,
           n bigint NOT NULL)",
    );
    my.run(
        "CREATE TABLE p (id bigint PRIMARY KEY, a int, b int, d decimal(10,2), x double,
           dt date, ts datetime, ts6 datetime(6), t text, n bigint)",
    );
    // NULLs in every nullable column, in patterns that overlap.
    let rows = |changes: &[(i64, &str)]| -> String {
        let values: Vec<String> = (1..=3000i64)
            .map(|i| {
                let or_null = |m: i64, v: String| if i % m == 0 { "NULL".into() } else { v };
                let row = vec![
                    i.to_string(),
                    or_null(7, (i * 37 % 2001 - 1000).to_string()),
                    or_null(11, (i * 53 % 2001 - 1000).to_string()),
                    or_null(13, format!("{}.{:02}", i % 500 - 250, i % 100)),
                    or_null(17, format!("{}", i as f64 * 0.1)),
                    or_null(19, format!("'{}'", date_text(i))),
                    or_null(
                        23,
                        format!("'{} 10:{:02}:{:02}'", date_text(i), i % 60, i % 59),
                    ),
                    or_null(
                        29,
                        format!("'{} 10:00:{:02}.{:06}'", date_text(i), i % 60, micros(i)),
                    ),
                    or_null(31, format!("'{}|{}'", "x".repeat((i % 4) as usize), i % 3)),
                    i.to_string(),
                ];
                let row = changes
                    .iter()
                    .filter(|(id, _)| *id == i)
                    .fold(row.join(", "), |_, (_, changed)| changed.to_string());
                format!("({row})")
            })
            .collect();
        format!("INSERT INTO p VALUES {}", values.join(", "))
    };
    pg.run(&rows(&[]));
    my.run(&rows(&[]));
    let (code, report) = diff(&pg.url("p"), &my.url("p"), "id", &[]);
    assert_eq!(code, 0, "{}", report["diffs"]);
    assert_eq!(report["summary"]["unchanged"], 3000);
    assert_eq!(
        rows_fetched(&report["stats"]["pushdown"]),
        0,
        "{}",
        report["stats"]
    );

    my.run("TRUNCATE p");
    my.run(&rows(&[
        // a and b swap a NULL: `5` alone either way without the mask (in a
        // leaf of its own: no other difference gets its rows fetched).
        (
            2900,
            "2900, 5, NULL, 1.00, 1, '2001-01-01', NULL, NULL, NULL, 2900",
        ),
        // The same values with the NULL in the other text-free column pair.
        (
            20,
            "20, 1, 2, NULL, 3, '2001-01-01', '2001-01-01 10:00:00', NULL, NULL, 20",
        ),
        // NULL where the left side declares NOT NULL.
        (
            30,
            "30, 1, 2, 1.00, 3, '2001-01-01', '2001-01-01 10:00:00', NULL, NULL, NULL",
        ),
    ]));
    pg.run("DELETE FROM p WHERE id IN (2900, 20, 30)");
    pg.run(
        "INSERT INTO p VALUES
           (2900, NULL, 5, 1.00, 1, '2001-01-01', NULL, NULL, NULL, 2900),
           (20, 1, 2, 3, NULL, '2001-01-01', '2001-01-01 10:00:00', NULL, NULL, 20),
           (30, 1, 2, 1.00, 3, '2001-01-01', '2001-01-01 10:00:00', NULL, NULL, 30)",
    );
    let (code, report) = diff(&pg.url("p"), &my.url("p"), "id", &[]);
    assert_eq!(code, 1, "{}", report["diffs"]);
    assert_eq!(
        reported(&report),
        differences(&[
            ("changed", "2900", &["a", "b"]),
            ("changed", "20", &["d", "x"]),
            ("changed", "30", &["n"]),
        ])
    );
    assert_eq!(report["summary"]["unchanged"], 2997);
}

/// A fraction of a second for row `i`: none, one with trailing zeros, or
/// six digits of its own.
fn micros(i: i64) -> i64 {
    match i % 5 {
        0 => 0,
        1 => 500_000,
        _ => i * 7919 % 1_000_000,
    }
}

/// `2000-01-01` plus `days` days, as `YYYY-MM-DD`.
fn date_text(days: i64) -> String {
    (chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// `--state` with two databases: a run killed part-way is continued from the
/// checksums it had journaled, and gives the uninterrupted run's answer.
#[test]
fn a_killed_run_resumes_from_its_journal() {
    let Some((pg, my)) = both("resume") else {
        return;
    };
    let rows = 1_000_000;
    pg.run(&format!(
        "CREATE TABLE t (id bigint PRIMARY KEY, v text, n numeric(12,2)); \
         INSERT INTO t SELECT g, md5(g::text), (g % 100000) / 100.0 FROM generate_series(1, {rows}) g"
    ));
    my.run(&format!(
        "CREATE TABLE t (id bigint PRIMARY KEY, v text, n decimal(12,2));\n\
         INSERT INTO t SELECT seq, md5(seq), (seq % 100000) / 100 FROM seq_1_to_{rows}"
    ));
    let changed: Vec<i64> = (0..30).map(|i| i * 33_331 + 7).collect();
    let list: Vec<String> = changed.iter().map(i64::to_string).collect();
    my.run(&format!(
        "UPDATE t SET n = n + 1 WHERE id IN ({})",
        list.join(",")
    ));
    let (left, right) = (pg.url("t"), my.url("t"));
    let (code, whole) = diff(&left, &right, "id", &["--db-threads", "1"]);
    assert_eq!(code, 1);

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let journal = state.join("databases.journal");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("recon"))
        .args([
            "diff",
            &left,
            &right,
            "--key",
            "id",
            "--format",
            "json",
            "--db-threads",
            "1",
            "--state",
        ])
        .arg(&state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once a few chunks of checksums are journaled.
    let started = std::time::Instant::now();
    loop {
        let lines = std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count());
        if lines >= 2 + 4 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed part-way"
        );
        assert!(started.elapsed().as_secs() < 60);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(journal.exists());

    let state_arg = state.to_string_lossy().into_owned();
    let (code, resumed) = diff(
        &left,
        &right,
        "id",
        &["--db-threads", "1", "--state", &state_arg],
    );
    assert_eq!(code, 1);
    assert_same_answer(&resumed, &whole, "resumed run");
    let kept = &resumed["stats"]["state"];
    let taken = kept["left_leaves_resumed"].as_u64().unwrap()
        + kept["right_leaves_resumed"].as_u64().unwrap();
    assert!(taken > 0, "{kept}");
    assert!(
        resumed["schema"]["notes"]
            .to_string()
            .contains("mixes two moments"),
        "{}",
        resumed["schema"]["notes"]
    );
    // A finished run leaves nothing to resume.
    assert!(!journal.exists());
    // --resume=no starts afresh even from a journal.
    std::fs::write(&journal, "{}\n").unwrap();
    let (code, fresh) = diff(
        &left,
        &right,
        "id",
        &["--db-threads", "1", "--state", &state_arg, "--resume", "no"],
    );
    assert_eq!(code, 1);
    assert_same_answer(&fresh, &whole, "--resume=no");
    assert_eq!(fresh["stats"]["state"]["left_leaves_resumed"], 0);
}
