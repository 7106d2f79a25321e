//! Helpers shared by the tests against real database servers: PostgreSQL
//! from `RECON_TEST_PG`, MariaDB/MySQL from `RECON_TEST_MYSQL` (admin URLs).
//! Without them a test prints a notice and passes, unless
//! `RECON_TEST_REQUIRE_DB` is set (CI sets it): then a missing server fails.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use assert_cmd::Command;
use mysql_async::prelude::Queryable;
use serde_json::Value;

pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

pub fn server(variable: &str) -> Option<url::Url> {
    match std::env::var(variable) {
        Ok(v) if !v.is_empty() => Some(url::Url::parse(&v).expect("a URL in {variable}")),
        _ if required() => {
            panic!("{variable} is not set, and RECON_TEST_REQUIRE_DB says database tests must run")
        }
        _ => {
            eprintln!("skipped: {variable} is not set (no database server to test against)");
            None
        }
    }
}

/// Whether database tests must run (CI): a test that cannot reach its
/// server then fails instead of skipping.
pub fn required() -> bool {
    std::env::var_os("RECON_TEST_REQUIRE_DB").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A unique database name for one test.
pub fn unique(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "recon_t{}_{}_{test}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A PostgreSQL and a MariaDB database for one test, when both servers are set.
pub fn both(test: &str) -> Option<(Pg, My)> {
    let (pg, my) = (server("RECON_TEST_PG")?, server("RECON_TEST_MYSQL")?);
    Some((Pg::create(&pg, test), My::create(&my, test)))
}

/// A PostgreSQL database created for one test, dropped afterwards.
pub struct Pg {
    pub admin: url::Url,
    pub name: String,
    pub client: tokio_postgres::Client,
}

impl Pg {
    pub fn create(admin: &url::Url, test: &str) -> Pg {
        Pg::create_with(admin, test, "")
    }

    /// A database created with `options` (e.g. an encoding).
    pub fn create_with(admin: &url::Url, test: &str, options: &str) -> Pg {
        let name = unique(test);
        let admin_client = pg_connect(admin);
        runtime()
            .block_on(admin_client.batch_execute(&format!("CREATE DATABASE {name} {options}")))
            .unwrap();
        let mut url = admin.clone();
        url.set_path(&name);
        let client = pg_connect(&url);
        Pg {
            admin: admin.clone(),
            name,
            client,
        }
    }

    pub fn url(&self, table: &str) -> String {
        let mut url = self.admin.clone();
        url.set_path(&self.name);
        url.set_query(Some(&format!("table={table}")));
        url.to_string()
    }

    pub fn run(&self, sql: &str) {
        runtime()
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{e:?}: {sql}"));
    }

    /// The first column of every row of a query, as text.
    pub fn column(&self, sql: &str) -> Vec<Option<String>> {
        let messages = runtime()
            .block_on(self.client.simple_query(sql))
            .unwrap_or_else(|e| panic!("{e:?}: {sql}"));
        messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
                _ => None,
            })
            .collect()
    }
}

pub fn pg_connect(url: &url::Url) -> tokio_postgres::Client {
    runtime().block_on(async {
        let (client, connection) = tokio_postgres::connect(url.as_str(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        // Timestamps below are written as UTC.
        client.batch_execute("SET TIME ZONE 'UTC'").await.unwrap();
        client
    })
}

impl Drop for Pg {
    fn drop(&mut self) {
        let admin = pg_connect(&self.admin);
        let _ = runtime().block_on(admin.batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )));
    }
}

/// A MariaDB/MySQL database created for one test, dropped afterwards.
pub struct My {
    pub admin: url::Url,
    pub name: String,
    pub conn: std::sync::Mutex<mysql_async::Conn>,
}

pub fn my_connect(url: &url::Url) -> mysql_async::Conn {
    runtime().block_on(async {
        let mut conn = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
        // Literals below escape quotes only, as standard SQL does.
        conn.query_drop("SET sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
            .await
            .unwrap();
        conn
    })
}

impl My {
    pub fn create(admin: &url::Url, test: &str) -> My {
        let name = unique(test);
        let mut conn = my_connect(admin);
        runtime()
            .block_on(conn.query_drop(format!("CREATE DATABASE {name} CHARACTER SET utf8mb4")))
            .unwrap();
        runtime()
            .block_on(conn.query_drop(format!("USE {name}")))
            .unwrap();
        My {
            admin: admin.clone(),
            name,
            conn: std::sync::Mutex::new(conn),
        }
    }

    pub fn url(&self, table: &str) -> String {
        let mut url = self.admin.clone();
        url.set_path(&self.name);
        url.set_query(Some(&format!("table={table}")));
        url.to_string()
    }

    pub fn run(&self, sql: &str) {
        let mut conn = self.conn.lock().unwrap();
        for statement in sql.split(";\n").filter(|s| !s.trim().is_empty()) {
            runtime()
                .block_on(conn.query_drop(statement))
                .unwrap_or_else(|e| panic!("{e:?}: {statement}"));
        }
    }
}

impl My {
    /// The first column of every row of a query, as text.
    pub fn column(&self, sql: &str) -> Vec<Option<String>> {
        let mut conn = self.conn.lock().unwrap();
        let rows: Vec<mysql_async::Row> = runtime()
            .block_on(conn.query(sql))
            .unwrap_or_else(|e| panic!("{e:?}: {sql}"));
        rows.into_iter()
            .map(|row| match row.as_ref(0) {
                Some(mysql_async::Value::NULL) | None => None,
                Some(mysql_async::Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                Some(v) => Some(v.as_sql(true).trim_matches('\'').to_string()),
            })
            .collect()
    }

    /// Another connection to this test's database.
    pub fn connect(&self) -> mysql_async::Conn {
        let mut url = self.admin.clone();
        url.set_path(&self.name);
        my_connect(&url)
    }
}

impl Pg {
    /// Another connection to this test's database.
    pub fn connect(&self) -> tokio_postgres::Client {
        let mut url = self.admin.clone();
        url.set_path(&self.name);
        pg_connect(&url)
    }
}

impl Drop for My {
    fn drop(&mut self) {
        let mut conn = my_connect(&self.admin);
        let _ =
            runtime().block_on(conn.query_drop(format!("DROP DATABASE IF EXISTS {}", self.name)));
    }
}

pub fn recon() -> Command {
    Command::cargo_bin("recon").unwrap()
}

/// Runs `recon diff` and returns the exit code, standard output and error.
pub fn run_diff(left: &str, right: &str, key: &str, extra: &[&str]) -> (i32, String, String) {
    let out = recon()
        .args(["diff", left, right, "--key", key, "--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `recon diff` and returns the exit code and the JSON report.
pub fn diff(left: &str, right: &str, key: &str, extra: &[&str]) -> (i32, Value) {
    let out = recon()
        .args(["diff", left, right, "--key", key, "--format", "json"])
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

/// Differences: (status, key as text) → changed columns.
pub type Reported = BTreeMap<(String, String), BTreeSet<String>>;

/// The differences a report lists.
pub fn reported(report: &Value) -> Reported {
    report["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let key: Vec<String> = d["key"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let columns = d["columns"]
                .as_array()
                .map(|c| c.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            (
                (d["status"].as_str().unwrap().to_string(), key.join(",")),
                columns,
            )
        })
        .collect()
}

/// Asserts that two reports of one comparison (the checksum pushdown and
/// `--no-pushdown`) list the same differences and the same summary counts.
pub fn assert_same_answer(pushed: &Value, whole: &Value, context: &str) {
    assert_eq!(
        reported(pushed),
        reported(whole),
        "pushdown (left) vs --no-pushdown (right): {context}"
    );
    for field in [
        "left_rows",
        "right_rows",
        "only_left",
        "only_right",
        "changed",
        "duplicate_keys",
        "null_keys",
    ] {
        assert_eq!(
            pushed["summary"][field], whole["summary"][field],
            "{field} differs between the modes: {context}"
        );
    }
}
