//! Database sources: PostgreSQL, MySQL/MariaDB and SQLite, named by URL.
//!
//! Every read of a side happens inside one snapshot transaction of a UTC
//! session (PostgreSQL: `REPEATABLE READ READ ONLY`, with the snapshot
//! exported to any parallel session; MySQL: `START TRANSACTION WITH
//! CONSISTENT SNAPSHOT`), so a table written to during the comparison gives
//! the answer of one moment. A side is used in one of two ways:
//! - read whole into memory ([`DatabaseSource::load`]), for mixed pairs
//!   (a database against a file) and for SQLite, which runs in-process;
//! - asked for checksums of key ranges computed inside the database
//!   (the comparison's checksum pushdown), so only digests cross the network until a range
//!   is known to differ.
//!
//! The sessions, the SQL, the type mapping and the rows' conversion to
//! Arrow ([`wire`]) are ours; the drivers (tokio-postgres, mysql_async)
//! carry the bytes.

pub mod catalog;
pub mod decimal_text;
mod mysql;
mod postgres;
pub mod sql;
mod sqlite;
mod wire;

use std::sync::{Arc, OnceLock};

use arrow::array::ArrayRef;
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::url::{DatabaseUrl, Engine};
use super::{BatchStream, KeyRangeHint, MemorySource, Positional, Source};
use crate::error::{Error, Result, Side, one_line};

pub use sql::{CanonicalForm, Dialect, PrintAs, Printed, comment_text};

/// What describing a table or query finds.
pub struct Described {
    pub columns: Vec<DbColumn>,
    /// Text is stored as UTF-8.
    pub utf8: bool,
}

/// A query's rows, every value as text (`None` for NULL).
pub type TextRows = Vec<Vec<Option<String>>>;

/// Rows per fetched Arrow batch.
const BATCH_ROWS: usize = 65_536;

/// What kind of value a database column holds, as far as comparing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Int,
    /// `None`: a scale of each value's own (PostgreSQL's bare `numeric`).
    Decimal {
        scale: Option<i8>,
    },
    Float32,
    Float64,
    Bool,
    Text,
    Date,
    Timestamp,
    Binary,
}

/// One column of a database source.
#[derive(Debug, Clone)]
pub struct DbColumn {
    pub name: String,
    /// The type as the database names it, for messages.
    pub db_type: String,
    pub kind: ValueKind,
    pub data_type: DataType,
    /// The SQL expression whose value, read by the driver, becomes the Arrow
    /// column (`"c"`, or a cast where the driver's own reading would lose
    /// information: timestamps as epoch microseconds, decimals as their exact
    /// text, MariaDB's FLOAT as the double it widens to exactly).
    pub fetch: String,
    /// The Arrow type the driver delivers `fetch` as; [`conform`] turns it
    /// into `data_type` exactly or fails.
    pub driver_type: DataType,
    /// The SQL expression of the column's value, for canonical text.
    pub value: String,
    /// How the engine prints the column itself, where another engine may
    /// print alike (`None`: only its canonical text is comparable).
    pub printed: Option<Printed>,
    /// The catalog proves the column of a table NOT NULL (never for a
    /// query's columns).
    pub not_null: bool,
}

/// A table or query in a database, with its columns described.
pub struct DatabaseSource {
    url: DatabaseUrl,
    describe: String,
    side: Side,
    /// The FROM item: a quoted table, or `(query) AS q`.
    relation: String,
    /// The table's name when the source is a table (catalog look-ups).
    table: Option<String>,
    columns: Vec<DbColumn>,
    /// Text is stored as UTF-8 (see [`Dialect::utf8`]).
    utf8: bool,
    schema: SchemaRef,
    runtime: tokio::runtime::Handle,
    threads: usize,
    loaded: OnceLock<std::result::Result<MemorySource, String>>,
}

impl DatabaseSource {
    /// Connects once to describe the table or query: fails early, with the
    /// URL redacted, on a wrong password, an unreachable host, an unknown
    /// table or a column type recon cannot compare.
    pub fn open(
        url: DatabaseUrl,
        query: Option<&str>,
        side: Side,
        threads: usize,
        runtime: tokio::runtime::Handle,
    ) -> Result<DatabaseSource> {
        let dialect = Dialect::new(url.engine);
        let what = match (query, &url.table) {
            (Some(_), _) => "query".to_string(),
            (None, Some(table)) => format!("table {table}"),
            (None, None) => String::new(),
        };
        let describe = if what.is_empty() {
            url.to_string()
        } else {
            format!("{url} ({what})")
        };
        let fail = |message: String| Error::Source {
            side,
            source_name: url.to_string(),
            message,
        };
        let (relation, table) = match (query, &url.table) {
            (Some(q), _) => (
                format!("({}) AS recon_q", q.trim().trim_end_matches(';')),
                None,
            ),
            // `?schema=` names the schema of a table given without one.
            (None, Some(t)) => {
                let t = match (url.engine, url.params.get("schema")) {
                    (Engine::Postgres, Some(schema)) if !t.contains('.') => {
                        format!("{schema}.{t}")
                    }
                    _ => t.clone(),
                };
                (dialect.table(&t), Some(t))
            }
            (None, None) => {
                return Err(fail(
                    "name a table (?table=NAME in the URL) or give a query".into(),
                ));
            }
        };
        let described = match url.engine {
            Engine::Sqlite => sqlite::describe(&url, &relation).map(|columns| Described {
                columns,
                utf8: true,
            }),
            _ => runtime.block_on(async {
                let mut session = Session::connect(&url).await?;
                session.describe(&relation, table.as_deref()).await
            }),
        }
        .map_err(|m| fail(scrub(&m, &url)))?;
        let Described { columns, utf8 } = described;
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.data_type.clone(), true))
                .collect::<Vec<_>>(),
        ));
        Ok(DatabaseSource {
            url,
            describe,
            side,
            relation,
            table,
            columns,
            utf8,
            schema,
            runtime,
            threads: threads.max(1),
            loaded: OnceLock::new(),
        })
    }

    pub fn engine(&self) -> Engine {
        self.url.engine
    }

    pub fn dialect(&self) -> Dialect {
        Dialect {
            engine: self.url.engine,
            utf8: self.utf8,
        }
    }

    pub fn relation(&self) -> &str {
        &self.relation
    }

    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }

    pub fn column(&self, name: &str) -> Option<&DbColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// An error about this source, with any password scrubbed.
    pub fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Read {
            side: self.side,
            source_name: self.url.to_string(),
            message: scrub(&one_line(message), &self.url),
        }
    }

    /// Whether `other` lives in the same database of the same server, reached
    /// as the same user: then one query can read both.
    pub fn same_database(&self, other: &DatabaseSource) -> bool {
        let (a, b) = (&self.url, &other.url);
        a.engine == b.engine
            && a.host == b.host
            && a.port == b.port
            && a.database == b.database
            && a.user == b.user
            // `schema` only picks tables for a run over a whole database.
            && a.params.iter().filter(|(k, _)| *k != "schema").eq(b
                .params
                .iter()
                .filter(|(k, _)| *k != "schema"))
    }

    /// Opens a session in a UTC snapshot transaction.
    pub async fn session(&self) -> Result<Session> {
        let mut session = Session::connect(&self.url)
            .await
            .map_err(|m| self.error(m))?;
        session.begin_snapshot().await.map_err(|m| self.error(m))?;
        Ok(session)
    }

    /// Runs one repair transaction on the target: reads and locks the rows
    /// about to change (`check` must accept them as the comparison saw them),
    /// runs the statements (each must affect exactly its expected row count),
    /// reads the touched rows back (`verify` must accept them), and commits.
    /// Anything else rolls the whole transaction back.
    pub fn write_transaction(
        &self,
        write: &WriteTransaction<'_>,
        columns: &[&DbColumn],
        check: impl FnOnce(Vec<RecordBatch>) -> Result<()>,
        verify: impl FnOnce(Vec<RecordBatch>) -> Result<()>,
    ) -> Result<()> {
        if self.url.engine == Engine::Sqlite {
            let owned: Vec<DbColumn> = columns.iter().map(|c| (*c).clone()).collect();
            let schema = columns_schema(columns);
            let fail = |m: String| self.error(m);
            return sqlite::apply(&self.url, write, &schema, &owned, &fail, check, verify);
        }
        let runtime = self.runtime().clone();
        runtime.block_on(async {
            let mut session = self.write_session().await?;
            let outcome = self
                .write_in(&mut session, write, columns, check, verify)
                .await;
            match outcome {
                Ok(()) => session
                    .text_rows("COMMIT")
                    .await
                    .map(|_| ())
                    .map_err(|m| self.error(format!("COMMIT failed: {m}"))),
                Err(e) => {
                    let _ = session.text_rows("ROLLBACK").await;
                    Err(e)
                }
            }
        })
    }

    async fn write_in(
        &self,
        session: &mut Session,
        write: &WriteTransaction<'_>,
        columns: &[&DbColumn],
        check: impl FnOnce(Vec<RecordBatch>) -> Result<()>,
        verify: impl FnOnce(Vec<RecordBatch>) -> Result<()>,
    ) -> Result<()> {
        let mut before = Vec::new();
        for sql in write.lock_reads {
            before.extend(self.fetch(session, sql, columns).await?);
        }
        check(before)?;
        for (n, (statement, &expected)) in write.statements.iter().zip(write.affects).enumerate() {
            let affected = session.execute(statement).await.map_err(|m| {
                self.error(format!(
                    "the patch failed and was rolled back, the target is unchanged: {m}"
                ))
            })?;
            write.check_affected(n, affected, expected)?;
        }
        let mut after = Vec::new();
        for sql in write.reads {
            after.extend(self.fetch(session, sql, columns).await?);
        }
        verify(after)
    }

    /// A session in a read-write transaction, for applying a repair.
    pub async fn write_session(&self) -> Result<Session> {
        let mut session = Session::connect(&self.url)
            .await
            .map_err(|m| self.error(m))?;
        // Read committed on PostgreSQL: a row locked by `FOR UPDATE` is read
        // as it now is (after a concurrent commit), so repair can see that
        // it changed and stop, instead of failing to serialize.
        let begin = match self.url.engine {
            Engine::MySql => "START TRANSACTION",
            _ => "BEGIN ISOLATION LEVEL READ COMMITTED",
        };
        session.text_rows(begin).await.map_err(|m| self.error(m))?;
        Ok(session)
    }

    /// Up to `n` sessions reading one snapshot. PostgreSQL exports the first
    /// session's snapshot to the others. MySQL/MariaDB cannot share one, so
    /// its sessions all start while a `LOCK TABLES ... READ` keeps writers
    /// off the table: no commit to it can fall between their starts. Where
    /// neither works (a query source on MySQL, no LOCK TABLES privilege, a
    /// server that cannot export snapshots), one session does all the work,
    /// and the second value says why, for the report's notes.
    pub async fn snapshot_sessions(&self, n: usize) -> Result<(Vec<Session>, Option<String>)> {
        if n <= 1 {
            return Ok((vec![self.session().await?], None));
        }
        let alone = |why: String| Some(format!("{}: one session instead of {n}: {why}", self.side));
        match self.url.engine {
            Engine::MySql => {
                let Some(table) = &self.table else {
                    let why = "a query's tables cannot be locked for a shared start".to_string();
                    return Ok((vec![self.session().await?], alone(why)));
                };
                // Connections are made before the lock, so the lock is held
                // only while the transactions start; its wait is bounded to
                // about a second, as writers queue behind a waiting lock.
                let mut sessions = Vec::with_capacity(n);
                for _ in 0..n {
                    sessions.push(
                        Session::connect(&self.url)
                            .await
                            .map_err(|m| self.error(m))?,
                    );
                }
                let mut lock = Session::connect(&self.url)
                    .await
                    .map_err(|m| self.error(m))?;
                let locked = lock.text_rows(&self.lock_sql(table)).await;
                if locked.is_err() {
                    sessions.truncate(1);
                }
                for session in &mut sessions {
                    session.begin_snapshot().await.map_err(|m| self.error(m))?;
                }
                if locked.is_ok() {
                    lock.text_rows("UNLOCK TABLES")
                        .await
                        .map_err(|m| self.error(m))?;
                }
                let note = locked
                    .err()
                    .and_then(|e| alone(format!("LOCK TABLES failed ({})", scrub(&e, &self.url))));
                Ok((sessions, note))
            }
            _ => {
                let mut first = self.session().await?;
                let snapshot = first.export_snapshot().await;
                let mut sessions = vec![first];
                let note = match snapshot {
                    Some(id) => {
                        for _ in 1..n {
                            sessions.push(Session::join_snapshot(self, &id).await?);
                        }
                        None
                    }
                    None => alone("the server could not export its snapshot".into()),
                };
                Ok((sessions, note))
            }
        }
    }

    /// The lock under which MySQL sessions start their snapshots.
    fn lock_sql(&self, table: &str) -> String {
        format!(
            "SET SESSION lock_wait_timeout = 1; LOCK TABLES {} READ",
            self.dialect().table(table)
        )
    }

    /// The statements `snapshot_sessions(n)` sends, for `--explain`.
    pub fn session_sql(&self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        match self.url.engine {
            Engine::Postgres => {
                out.push(format!("-- each of {n} session(s), on connect:"));
                out.push(format!("{};", postgres::SESSION_SETUP));
                out.push(format!("{};", postgres::BEGIN));
                if n > 1 {
                    out.push("-- session 1 shares its snapshot with the others:".into());
                    out.push("SELECT pg_export_snapshot();".into());
                    out.push(format!(
                        "-- sessions 2 to {n}: {}; SET TRANSACTION SNAPSHOT ':snapshot';",
                        postgres::BEGIN
                    ));
                }
            }
            Engine::MySql => {
                out.push(format!("-- each of {n} session(s), on connect:"));
                out.extend(mysql::SESSION_SETUP.iter().map(|s| format!("{s};")));
                match (&self.table, n > 1) {
                    (Some(table), true) => {
                        out.push(
                            "-- one more session holds writers off while the others start \
                             (at most 1 s of waiting; one session otherwise):"
                                .into(),
                        );
                        out.push(format!("{};", self.lock_sql(table)));
                        out.push(format!("-- each session: {};", mysql::BEGIN));
                        out.push("UNLOCK TABLES;".into());
                    }
                    _ => out.push(format!("{};", mysql::BEGIN)),
                }
            }
            Engine::Sqlite => out.push("-- SQLite: read in-process, one read transaction".into()),
        }
        out
    }

    /// The query that reads the whole source once, ordered by `order_by`.
    pub fn read_all_sql(&self, order_by: &[String]) -> String {
        let columns: Vec<&DbColumn> = self.columns.iter().collect();
        let d = self.dialect();
        let order: Vec<String> = order_by
            .iter()
            .filter(|k| self.column(k).is_some())
            .map(|k| d.quote(k))
            .collect();
        format!(
            "SELECT {} FROM {}{}",
            self.select_list(&columns),
            self.relation,
            if order.is_empty() {
                String::new()
            } else {
                format!(" ORDER BY {}", order.join(", "))
            }
        )
    }

    /// The SELECT list that fetches `columns` under their own names.
    pub fn select_list(&self, columns: &[&DbColumn]) -> String {
        let d = self.dialect();
        columns
            .iter()
            .map(|c| format!("{} AS {}", c.fetch, d.quote(&c.name)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Runs a SELECT of `columns` and returns its rows as Arrow batches of
    /// the source's types.
    pub async fn fetch(
        &self,
        session: &mut Session,
        sql: &str,
        columns: &[&DbColumn],
    ) -> Result<Vec<RecordBatch>> {
        let schema = columns_schema(columns);
        let driver = driver_schema(columns);
        session
            .arrow(sql, &driver, &schema)
            .await
            .map_err(|m| self.error(m))
    }

    /// Reads the whole table or query once, in one snapshot, ordered by
    /// `order_by` (the comparison key, so the merged pass applies), into a
    /// positional in-memory source. Later reads reuse it.
    pub fn load(&self, order_by: &[String]) -> Result<&MemorySource> {
        let loaded = self.loaded.get_or_init(|| {
            self.read_all(order_by)
                .map_err(|e| match e {
                    Error::Read { message, .. } | Error::Source { message, .. } => message,
                    other => other.to_string(),
                })
                .and_then(|batches| {
                    let mut partitions = vec![Vec::new(); self.threads.min(batches.len()).max(1)];
                    let per = batches.len().div_ceil(partitions.len()).max(1);
                    for (i, batch) in batches.into_iter().enumerate() {
                        partitions[i / per].push(batch);
                    }
                    MemorySource::new(self.describe.clone(), self.schema.clone(), partitions)
                        .map(|m| m.positional().without_declared_nullability())
                        .map_err(|e| e.to_string())
                })
        });
        loaded.as_ref().map_err(|m| Error::Read {
            side: self.side,
            source_name: self.url.to_string(),
            message: m.clone(),
        })
    }

    fn read_all(&self, order_by: &[String]) -> Result<Vec<RecordBatch>> {
        let columns: Vec<&DbColumn> = self.columns.iter().collect();
        let sql = self.read_all_sql(order_by);
        if self.url.engine == Engine::Sqlite {
            return sqlite::read(&self.url, &sql, &self.schema, &self.columns)
                .map_err(|m| self.error(m));
        }
        self.runtime.block_on(async {
            let mut session = self.session().await?;
            self.fetch(&mut session, &sql, &columns).await
        })
    }
}

impl Source for DatabaseSource {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn declares_nullability(&self) -> bool {
        false
    }

    fn scan(&self, columns: &[String], hint: Option<&KeyRangeHint>) -> Result<Vec<BatchStream>> {
        self.load(&[])?.scan(columns, hint)
    }

    fn positional(&self) -> Option<&dyn Positional> {
        self.loaded.get()?.as_ref().ok()?.positional()
    }

    fn as_database(&self) -> Option<&DatabaseSource> {
        Some(self)
    }
}

/// The query `--max-load` reads a server's load with: PostgreSQL's client
/// sessions running a query, other than recon's; MySQL/MariaDB's
/// `Threads_running` less this one and recon's own queries of this run
/// (those holding `marker`, the run's digest key), which its user can see.
pub fn load_sql(engine: Engine, marker: &str) -> String {
    match engine {
        // Activity is cached per transaction unless the cache is cleared.
        Engine::Postgres => {
            "SELECT pg_stat_clear_snapshot(); SELECT count(*) FROM pg_stat_activity \
                             WHERE state = 'active' AND backend_type = 'client backend' \
                             AND application_name <> 'recon'"
                .to_string()
        }
        _ => format!(
            "SELECT CAST(VARIABLE_VALUE AS SIGNED) - 1 - (SELECT COUNT(*) FROM \
             information_schema.PROCESSLIST WHERE INFO LIKE '%{marker}%' \
             AND ID <> CONNECTION_ID()) FROM information_schema.GLOBAL_STATUS \
             WHERE VARIABLE_NAME = 'THREADS_RUNNING'"
        ),
    }
}

/// A PostgreSQL connection as recon's sources make them (credentials,
/// TLS, UTC session), for other uses of a server (the run history).
pub async fn connect_postgres(
    url: &DatabaseUrl,
) -> std::result::Result<tokio_postgres::Client, String> {
    postgres::connect(url).await.map_err(|m| scrub(&m, url))
}

/// A query's rows on an open SQLite connection, every value as text.
pub fn sqlite_text_rows(
    conn: &rusqlite::Connection,
    sql: &str,
) -> std::result::Result<TextRows, String> {
    sqlite::text_rows_on(conn, sql)
}

/// The parts of one repair transaction, in the order they run.
pub struct WriteTransaction<'a> {
    /// SELECTs that read and lock the rows the statements will change.
    pub lock_reads: &'a [String],
    pub statements: &'a [String],
    /// The rows each statement must affect.
    pub affects: &'a [u64],
    /// SELECTs that read the touched rows back after the statements.
    pub reads: &'a [String],
}

impl WriteTransaction<'_> {
    fn check_affected(&self, statement: usize, affected: u64, expected: u64) -> Result<()> {
        if affected == expected {
            return Ok(());
        }
        Err(Error::Unstable(format!(
            "statement {} of the patch changed {affected} row(s) where {expected} were expected: \
             the target changed since it was compared; rolled back, the target is unchanged",
            statement + 1
        )))
    }
}

/// One connection, PostgreSQL or MySQL.
pub enum Session {
    Postgres(tokio_postgres::Client),
    MySql(mysql_async::Conn),
}

impl Session {
    async fn connect(url: &DatabaseUrl) -> std::result::Result<Session, String> {
        match url.engine {
            Engine::Postgres => postgres::connect(url).await.map(Session::Postgres),
            Engine::MySql => mysql::connect(url).await.map(Session::MySql),
            Engine::Sqlite => Err("SQLite is read in-process, not through a session".into()),
        }
    }

    /// Starts the snapshot transaction (UTC session settings are set on connect).
    async fn begin_snapshot(&mut self) -> std::result::Result<(), String> {
        match self {
            Session::Postgres(c) => postgres::begin(c, None).await,
            Session::MySql(c) => mysql::begin(c).await,
        }
    }

    /// Exports this session's snapshot so others can share it (PostgreSQL only).
    pub async fn export_snapshot(&mut self) -> Option<String> {
        match self {
            Session::Postgres(c) => postgres::export_snapshot(c).await,
            Session::MySql(_) => None,
        }
    }

    /// Opens another session on the same snapshot, where the engine can.
    pub async fn join_snapshot(source: &DatabaseSource, snapshot: &str) -> Result<Session> {
        let mut session = Session::connect(&source.url)
            .await
            .map_err(|m| source.error(m))?;
        match &mut session {
            Session::Postgres(c) => postgres::begin(c, Some(snapshot))
                .await
                .map_err(|m| source.error(m))?,
            Session::MySql(_) => {
                return Err(Error::Internal(
                    "MySQL sessions cannot share a snapshot".into(),
                ));
            }
        }
        Ok(session)
    }

    async fn describe(
        &mut self,
        relation: &str,
        table: Option<&str>,
    ) -> std::result::Result<Described, String> {
        match self {
            Session::Postgres(c) => postgres::describe(c, relation, table).await,
            Session::MySql(c) => mysql::describe(c, relation, table).await,
        }
    }

    /// Runs a query and returns every value as text (`None` for NULL).
    pub async fn text_rows(&mut self, sql: &str) -> std::result::Result<TextRows, String> {
        match self {
            Session::Postgres(c) => postgres::text_rows(c, sql).await,
            Session::MySql(c) => mysql::text_rows(c, sql).await,
        }
    }

    /// [`Self::text_rows`] of a statement computing
    /// [`Dialect::ordered_digest`]s, and whether one of them may have been
    /// cut short (MySQL), so its digest cannot vouch for its rows.
    pub async fn digest_rows(
        &mut self,
        sql: &str,
    ) -> std::result::Result<(TextRows, bool), String> {
        match self {
            Session::Postgres(c) => Ok((postgres::text_rows(c, sql).await?, false)),
            Session::MySql(c) => mysql::digest_rows(c, sql).await,
        }
    }

    /// How busy the server is, as [`load_sql`] reads it.
    pub async fn server_load(&mut self, marker: &str) -> std::result::Result<u64, String> {
        let sql = load_sql(
            match self {
                Session::Postgres(_) => Engine::Postgres,
                Session::MySql(_) => Engine::MySql,
            },
            marker,
        );
        let sql = sql.as_str();
        let rows = self.text_rows(sql).await?;
        rows.last()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|n| n.max(0) as u64)
            .ok_or_else(|| format!("the server's load could not be read ({sql})"))
    }

    /// Runs one statement; returns the rows it affected (for an UPDATE on
    /// MySQL, the rows it matched: sessions ask for found rows).
    pub async fn execute(&mut self, sql: &str) -> std::result::Result<u64, String> {
        match self {
            Session::Postgres(c) => postgres::execute(c, sql).await,
            Session::MySql(c) => mysql::execute(c, sql).await,
        }
    }

    /// Runs a query; the driver converts its rows as `driver`, then they
    /// are conformed to `schema`.
    async fn arrow(
        &mut self,
        sql: &str,
        driver: &SchemaRef,
        schema: &SchemaRef,
    ) -> std::result::Result<Vec<RecordBatch>, String> {
        match self {
            Session::Postgres(c) => postgres::arrow(c, sql, driver, schema).await,
            Session::MySql(c) => mysql::arrow(c, sql, driver, schema).await,
        }
    }
}

/// The schema of rows read as `columns`, in the source's types.
pub fn columns_schema(columns: &[&DbColumn]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, c.data_type.clone(), true))
            .collect::<Vec<_>>(),
    ))
}

/// The schema handed to a driver's converter: each column as the driver
/// delivers its `fetch` expression.
fn driver_schema(columns: &[&DbColumn]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, c.driver_type.clone(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Gives a converted batch exactly `schema`: columns by name, turned into
/// the declared types without loss (a value that would change fails).
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> std::result::Result<RecordBatch, String> {
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch
                .column_by_name(field.name())
                .ok_or_else(|| format!("the result has no column {}", field.name()))?;
            let target = field.data_type();
            if column.data_type() == target {
                return Ok(column.clone());
            }
            let failed = |e: String| {
                format!(
                    "column {}: cannot read {} as {}: {e}",
                    field.name(),
                    column.data_type(),
                    target,
                )
            };
            match target {
                DataType::Decimal128(..) | DataType::Decimal256(..)
                    if matches!(column.data_type(), DataType::Utf8 | DataType::LargeUtf8) =>
                {
                    decimal_text::parse_column(column, target).map_err(failed)
                }
                _ => cast_with_options(column, target, &options).map_err(|e| failed(one_line(e))),
            }
        })
        .collect::<std::result::Result<Vec<ArrayRef>, String>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(one_line)
}

/// Removes the password from a driver's message, should it ever echo it.
fn scrub(message: &str, url: &DatabaseUrl) -> String {
    let message = super::url::redact(message);
    match url.password() {
        Some(p) if !p.is_empty() => message.replace(p, "***"),
        _ => message,
    }
}

/// Names a column type recon cannot compare, with the way out.
fn unsupported(column: &str, db_type: &str) -> String {
    format!(
        "column {column} has type {db_type}, which recon cannot compare; select it cast to \
         text in a query (--left-query / --right-query, or query = in a rule file), or exclude it"
    )
}
