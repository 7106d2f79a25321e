//! Where runs are kept: a SQLite file (the default) or a PostgreSQL
//! database shared by a team. recon creates the tables and migrates them
//! itself (`recon_history_schema` holds the version). A run is written in
//! one transaction, taken under a lock (SQLite's write lock, a PostgreSQL
//! advisory lock), so runs that overlap each land whole, one after the other.

use super::{Run, StoredCheck, StoredKey};
use crate::error::{Error, Result};
use crate::source::url::{DatabaseUrl, Engine};

/// The schema version this recon writes.
pub const VERSION: i64 = 1;

/// Statements that bring a store from version `i` to `i + 1`
/// (`MIGRATIONS[0]` creates it), with `{id}`, `{int}`, `{real}` and `{time}`
/// standing for each engine's types ([`ddl`]).
const MIGRATIONS: [&str; 1] = ["CREATE TABLE recon_runs (
        id {id},
        job TEXT NOT NULL,
        started_at {time} NOT NULL,
        finished_at {time} NOT NULL,
        command TEXT NOT NULL,
        host TEXT NOT NULL,
        recon_version TEXT NOT NULL,
        seconds {real} NOT NULL,
        status TEXT NOT NULL,
        exit_code {int} NOT NULL);
      CREATE TABLE recon_checks (
        run_id {int} NOT NULL REFERENCES recon_runs (id),
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        left_rows {int}, right_rows {int},
        only_left {int}, only_right {int}, changed {int}, unchanged {int},
        duplicate_keys {int}, null_keys {int}, transient {int},
        divergent_ranges {int},
        keys_complete {int} NOT NULL,
        ranges TEXT, schema_findings TEXT, reasons TEXT, notes TEXT,
        seconds {real} NOT NULL,
        PRIMARY KEY (run_id, name));
      CREATE TABLE recon_diff_keys (
        run_id {int} NOT NULL,
        check_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        columns TEXT,
        PRIMARY KEY (run_id, check_name, key));
      CREATE INDEX recon_checks_name ON recon_checks (name, run_id);"];

/// A migration in an engine's types: SQLite's, or PostgreSQL's (timestamps
/// as `TIMESTAMPTZ`, for teams that query the store).
fn ddl(migration: &str, postgres: bool) -> String {
    let types = if postgres {
        [
            ("{id}", "BIGSERIAL PRIMARY KEY"),
            ("{int}", "BIGINT"),
            ("{real}", "DOUBLE PRECISION"),
            ("{time}", "TIMESTAMPTZ"),
        ]
    } else {
        [
            ("{id}", "INTEGER PRIMARY KEY AUTOINCREMENT"),
            ("{int}", "INTEGER"),
            ("{real}", "REAL"),
            ("{time}", "TEXT"),
        ]
    };
    types.iter().fold(migration.to_string(), |sql, (name, ty)| {
        sql.replace(name, ty)
    })
}

/// An opened store.
pub enum Store {
    Sqlite {
        path: String,
        conn: rusqlite::Connection,
    },
    Postgres {
        shown: String,
        client: tokio_postgres::Client,
        runtime: tokio::runtime::Runtime,
    },
}

/// The PostgreSQL advisory lock every writer takes (a fixed number: "recon").
const LOCK: i64 = 0x0072_6563_6f6e;

impl Store {
    /// Opens the store at `location`: a PostgreSQL URL, or a SQLite file
    /// (path or `sqlite://` URL). `create`: a SQLite file that does not exist
    /// yet is made (writers); readers are told there is no history.
    pub fn open(location: &str, create: bool) -> Result<Store> {
        let fail = |message: String| Error::History {
            store: crate::source::url::redact(location),
            message,
        };
        let url = DatabaseUrl::parse(location, crate::Side::Left)
            .map_err(|e| fail(crate::error::one_line(e)))?;
        let path = match &url {
            Some(url) if url.engine == Engine::Postgres => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| fail(e.to_string()))?;
                let client = runtime
                    .block_on(crate::source::db::connect_postgres(url))
                    .map_err(fail)?;
                return Ok(Store::Postgres {
                    shown: url.to_string(),
                    client,
                    runtime,
                });
            }
            Some(url) if url.engine == Engine::Sqlite => url.database.clone(),
            Some(_) => {
                return Err(fail(
                    "a history store is a SQLite file or a PostgreSQL database".into(),
                ));
            }
            None => location.to_string(),
        };
        if !create && !std::path::Path::new(&path).is_file() {
            return Err(fail("no such file: no run has been recorded there".into()));
        }
        let conn =
            rusqlite::Connection::open(&path).map_err(|e| fail(crate::error::one_line(e)))?;
        // Writers wait for each other (a run is one short transaction);
        // readers are not blocked by a writer.
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(|e| fail(crate::error::one_line(e)))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| fail(crate::error::one_line(e)))?;
        Ok(Store::Sqlite { path, conn })
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::History {
            store: match self {
                Store::Sqlite { path, .. } => path.clone(),
                Store::Postgres { shown, .. } => shown.clone(),
            },
            message: crate::error::one_line(message),
        }
    }

    /// Appends a run (its checks and their difference keys) in one
    /// transaction; creates or migrates the tables first. Returns its id.
    pub fn append(&mut self, run: &Run<'_>) -> Result<i64> {
        let rows = super::rows_of(run);
        let outcome = match self {
            Store::Sqlite { conn, .. } => append_sqlite(conn, &rows),
            Store::Postgres {
                client, runtime, ..
            } => runtime.block_on(append_postgres(client, &rows)),
        };
        outcome.map_err(|m| self.error(m))
    }

    /// The checks recorded for `check` (all when `None`), the last `last`
    /// runs of each, oldest first.
    pub fn checks(&mut self, check: Option<&str>, last: usize) -> Result<Vec<StoredCheck>> {
        let name = check.map(literal);
        let sql = format!(
            "SELECT c.run_id, r.started_at, r.host, c.name, c.status, c.left_rows, c.right_rows, \
               c.only_left, c.only_right, c.changed, c.duplicate_keys, c.null_keys, \
               c.transient, c.divergent_ranges, c.keys_complete, c.reasons \
             FROM recon_checks c JOIN recon_runs r ON r.id = c.run_id \
             WHERE (SELECT COUNT(*) FROM recon_checks n \
                    JOIN recon_runs nr ON nr.id = n.run_id \
                    WHERE n.name = c.name AND (nr.started_at > r.started_at \
                      OR (nr.started_at = r.started_at AND n.run_id > c.run_id))) < {last} {} \
             ORDER BY c.name, r.started_at, c.run_id",
            name.map_or(String::new(), |n| format!("AND c.name = {n}"))
        );
        let rows = self.text_rows(&sql)?;
        let int = |v: &Option<String>| v.as_deref().and_then(|v| v.parse::<u64>().ok());
        Ok(rows
            .into_iter()
            .map(|r| StoredCheck {
                run_id: r[0].as_deref().and_then(|v| v.parse().ok()).unwrap_or(0),
                started_at: r[1].clone().unwrap_or_default(),
                host: r[2].clone().unwrap_or_default(),
                name: r[3].clone().unwrap_or_default(),
                status: r[4].clone().unwrap_or_default(),
                left_rows: int(&r[5]),
                right_rows: int(&r[6]),
                only_left: int(&r[7]),
                only_right: int(&r[8]),
                changed: int(&r[9]),
                duplicate_keys: int(&r[10]),
                null_keys: int(&r[11]),
                transient: int(&r[12]),
                divergent_ranges: int(&r[13]),
                keys_complete: int(&r[14]) == Some(1),
                reasons: r[15]
                    .as_deref()
                    .and_then(|v| serde_json::from_str(v).ok())
                    .unwrap_or_default(),
            })
            .collect())
    }

    /// The difference keys recorded for one check of one run.
    pub fn keys(&mut self, run_id: i64, check: &str) -> Result<Vec<StoredKey>> {
        let sql = format!(
            "SELECT kind, key FROM recon_diff_keys WHERE run_id = {run_id} AND check_name = {} \
             ORDER BY key",
            literal(check)
        );
        Ok(self
            .text_rows(&sql)?
            .into_iter()
            .map(|r| StoredKey {
                kind: r[0].clone().unwrap_or_default(),
                key: r[1].clone().unwrap_or_default(),
            })
            .collect())
    }

    /// The store's schema version (0 when it has none yet).
    pub fn version(&mut self) -> Result<i64> {
        let exists = match self {
            Store::Sqlite { .. } => {
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'recon_history_schema'"
            }
            Store::Postgres { .. } => {
                "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'recon_history_schema' \
                 AND schemaname = ANY (current_schemas(false))"
            }
        };
        if self.text_rows(exists)?[0][0].as_deref() == Some("0") {
            return Ok(0);
        }
        let rows = self.text_rows("SELECT MAX(version) FROM recon_history_schema")?;
        Ok(rows[0][0]
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    fn text_rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        let rows = match self {
            Store::Sqlite { conn, .. } => crate::source::db::sqlite_text_rows(conn, sql),
            Store::Postgres {
                client, runtime, ..
            } => runtime.block_on(async {
                let messages = client.simple_query(sql).await.map_err(|e| e.to_string())?;
                Ok(messages
                    .into_iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_string))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect())
            }),
        };
        rows.map_err(|m: String| self.error(m))
    }
}

/// A string literal in either engine (standard SQL quoting).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A run as rows: the run's values, then per check its values and its keys.
pub(super) struct RunRows {
    pub run: Vec<ValueOf>,
    pub checks: Vec<(Vec<ValueOf>, Vec<[String; 3]>)>,
}

/// A value of a row to insert.
#[derive(Debug, Clone)]
pub(super) enum ValueOf {
    Int(i64),
    Real(f64),
    Text(String),
    Null,
}

const RUN_COLUMNS: &str =
    "job, started_at, finished_at, command, host, recon_version, seconds, status, exit_code";
const CHECK_COLUMNS: &str = "run_id, name, status, left_rows, right_rows, only_left, only_right, \
     changed, unchanged, duplicate_keys, null_keys, transient, divergent_ranges, keys_complete, \
     ranges, schema_findings, reasons, notes, seconds";

/// `$1, $2, ...`; a run's timestamps (its 2nd and 3rd values) cast on PostgreSQL.
fn placeholders(n: usize, timestamps: bool) -> String {
    (1..=n)
        .map(|i| {
            if timestamps && (i == 2 || i == 3) {
                format!("CAST(CAST(${i} AS TEXT) AS TIMESTAMPTZ)")
            } else {
                format!("${i}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn migrate_sqlite(tx: &rusqlite::Transaction<'_>) -> std::result::Result<(), String> {
    tx.execute_batch("CREATE TABLE IF NOT EXISTS recon_history_schema (version INTEGER NOT NULL)")
        .map_err(|e| e.to_string())?;
    let version: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM recon_history_schema",
            [],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    check_version(version)?;
    for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(&ddl(m, false))
            .map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO recon_history_schema (version) VALUES (?1)",
            [i as i64 + 1],
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn check_version(version: i64) -> std::result::Result<(), String> {
    if version > VERSION {
        return Err(format!(
            "the store has schema version {version}, newer than this recon's ({VERSION}): \
             use a newer recon"
        ));
    }
    Ok(())
}

fn sqlite_value(v: &ValueOf) -> rusqlite::types::Value {
    match v {
        ValueOf::Int(n) => rusqlite::types::Value::Integer(*n),
        ValueOf::Real(f) => rusqlite::types::Value::Real(*f),
        ValueOf::Text(t) => rusqlite::types::Value::Text(t.clone()),
        ValueOf::Null => rusqlite::types::Value::Null,
    }
}

fn append_sqlite(
    conn: &mut rusqlite::Connection,
    rows: &RunRows,
) -> std::result::Result<i64, String> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    migrate_sqlite(&tx)?;
    let values = |row: &[ValueOf]| row.iter().map(sqlite_value).collect::<Vec<_>>();
    let id: i64 = tx
        .query_row(
            &format!(
                "INSERT INTO recon_runs ({RUN_COLUMNS}) VALUES ({}) RETURNING id",
                placeholders(9, false)
            ),
            rusqlite::params_from_iter(values(&rows.run)),
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    {
        let mut check = tx
            .prepare(&format!(
                "INSERT INTO recon_checks ({CHECK_COLUMNS}) VALUES ({})",
                placeholders(19, false)
            ))
            .map_err(|e| e.to_string())?;
        let mut key = tx
            .prepare(
                "INSERT OR IGNORE INTO recon_diff_keys (run_id, check_name, kind, key, columns) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .map_err(|e| e.to_string())?;
        for (row, keys) in &rows.checks {
            let mut bound = vec![rusqlite::types::Value::Integer(id)];
            bound.extend(values(row));
            check
                .execute(rusqlite::params_from_iter(bound))
                .map_err(|e| e.to_string())?;
            let name = match &row[0] {
                ValueOf::Text(t) => t.clone(),
                _ => String::new(),
            };
            for [kind, k, columns] in keys {
                key.execute(rusqlite::params![id, name, kind, k, columns])
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    tx.commit().map_err(|e| e.to_string())?;
    Ok(id)
}

type PgParam = Box<dyn tokio_postgres::types::ToSql + Sync + Send>;

fn pg_value(v: &ValueOf) -> PgParam {
    match v {
        ValueOf::Int(n) => Box::new(*n),
        ValueOf::Real(f) => Box::new(*f),
        ValueOf::Text(t) => Box::new(t.clone()),
        ValueOf::Null => Box::new(None::<i64>),
    }
}

async fn append_postgres(
    client: &mut tokio_postgres::Client,
    rows: &RunRows,
) -> std::result::Result<i64, String> {
    let e = |e: tokio_postgres::Error| crate::error::one_line(e);
    let tx = client.transaction().await.map_err(e)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await
        .map_err(e)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS recon_history_schema (version BIGINT NOT NULL)")
        .await
        .map_err(e)?;
    let version: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::bigint FROM recon_history_schema",
            &[],
        )
        .await
        .map_err(e)?
        .get(0);
    check_version(version)?;
    for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(&ddl(m, true)).await.map_err(e)?;
        tx.execute(
            "INSERT INTO recon_history_schema (version) VALUES ($1)",
            &[&(i as i64 + 1)],
        )
        .await
        .map_err(e)?;
    }
    let params = |row: &[ValueOf]| row.iter().map(pg_value).collect::<Vec<_>>();
    fn refs(p: &[PgParam]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
        p.iter()
            .map(|b| b.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect()
    }
    let run = params(&rows.run);
    let id: i64 = tx
        .query_one(
            &format!(
                "INSERT INTO recon_runs ({RUN_COLUMNS}) VALUES ({}) RETURNING id",
                placeholders(9, true)
            ),
            &refs(&run),
        )
        .await
        .map_err(e)?
        .get(0);
    let check = tx
        .prepare(&format!(
            "INSERT INTO recon_checks ({CHECK_COLUMNS}) VALUES ({})",
            placeholders(19, false)
        ))
        .await
        .map_err(e)?;
    let key = tx
        .prepare(
            "INSERT INTO recon_diff_keys (run_id, check_name, kind, key, columns) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .await
        .map_err(e)?;
    for (row, keys) in &rows.checks {
        let mut bound: Vec<PgParam> = vec![Box::new(id)];
        bound.extend(params(row));
        tx.execute(&check, &refs(&bound)).await.map_err(e)?;
        let name = match &row[0] {
            ValueOf::Text(t) => t.clone(),
            _ => String::new(),
        };
        for [kind, k, columns] in keys {
            tx.execute(&key, &[&id, &name, kind, k, columns])
                .await
                .map_err(e)?;
        }
    }
    tx.commit().await.map_err(e)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Run<'static> {
        Run {
            job: "test".into(),
            started: chrono::Utc::now(),
            finished: chrono::Utc::now(),
            command: "recon diff a b".into(),
            host: "here".into(),
            exit_code: 0,
            results: &[],
        }
    }

    #[test]
    fn a_store_is_created_once_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db").display().to_string();
        assert!(Store::open(&path, false).is_err(), "readers do not create");
        let mut store = Store::open(&path, true).unwrap();
        assert_eq!(store.version().unwrap(), 0);
        assert_eq!(store.append(&run()).unwrap(), 1);
        assert_eq!(store.append(&run()).unwrap(), 2);
        assert_eq!(store.version().unwrap(), VERSION);
        // A store a later recon migrated further is not written to.
        if let Store::Sqlite { conn, .. } = &store {
            conn.execute(
                "INSERT INTO recon_history_schema (version) VALUES (?1)",
                [VERSION + 1],
            )
            .unwrap();
        }
        let e = store.append(&run()).unwrap_err().to_string();
        assert!(e.contains("newer than this recon"), "{e}");
        let runs: i64 = match &store {
            Store::Sqlite { conn, .. } => conn
                .query_row("SELECT COUNT(*) FROM recon_runs", [], |r| r.get(0))
                .unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(runs, 2);
    }

    #[test]
    fn each_engine_gets_its_types() {
        let sqlite = ddl(MIGRATIONS[0], false);
        let postgres = ddl(MIGRATIONS[0], true);
        assert!(sqlite.contains("AUTOINCREMENT") && !sqlite.contains('{'));
        assert!(postgres.contains("BIGSERIAL") && postgres.contains("TIMESTAMPTZ"));
        assert!(!postgres.contains('{'));
    }
}
