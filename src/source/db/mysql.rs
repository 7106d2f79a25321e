//! MySQL / MariaDB sessions: connect, snapshot, describe, query.

use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, Value};

use super::wire::{Cell, Columns};
use super::{
    BATCH_ROWS, DbColumn, Described, Dialect, Printed, TextRows, ValueKind, conform, unsupported,
};
use crate::error::one_line;
use crate::source::url::{DatabaseUrl, Engine};

type Res<T> = std::result::Result<T, String>;

/// The character set number MySQL gives binary strings.
const BINARY_CHARSET: u16 = 63;

fn message(e: mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => one_line(s.message),
        other => one_line(other),
    }
}

/// TLS as the MySQL client's `ssl-mode` asks (`sslmode` also accepted):
/// `disabled` (the default); `preferred` encrypts when the server offers
/// TLS and falls back to a plain session when it does not (the second
/// value); `required` encrypts or fails; neither checks the certificate;
/// `verify_ca` checks it against the system roots or `ssl-ca`;
/// `verify_identity` checks the host name too.
fn tls(url: &DatabaseUrl) -> Res<(Option<mysql_async::SslOpts>, bool)> {
    let mode = url
        .params
        .get("ssl-mode")
        .or_else(|| url.params.get("sslmode"))
        .map(|m| m.to_ascii_lowercase().replace('-', "_"));
    let (verify_chain, verify_host) = match mode.as_deref() {
        None | Some("disabled" | "disable") => return Ok((None, false)),
        Some("preferred" | "prefer" | "required" | "require") => (false, false),
        Some("verify_ca") => (true, false),
        Some("verify_identity" | "verify_full") => (true, true),
        Some(other) => {
            return Err(format!(
                "ssl-mode={other}: expected disabled, preferred, required, verify_ca or \
                 verify_identity"
            ));
        }
    };
    let mut opts = mysql_async::SslOpts::default()
        .with_danger_accept_invalid_certs(!verify_chain)
        .with_danger_skip_domain_validation(!verify_host);
    if let Some(path) = url.params.get("ssl-ca") {
        opts = opts.with_root_certs(vec![std::path::PathBuf::from(path).into()]);
    }
    let fallback = matches!(mode.as_deref(), Some("preferred" | "prefer"));
    Ok((Some(opts), fallback))
}

/// What every session runs on connect.
pub(super) const SESSION_SETUP: [&str; 5] = [
    "SET NAMES utf8mb4",
    "SET time_zone = '+00:00'",
    // A leaf digest joins its rows' texts with GROUP_CONCAT: cut only at
    // max_allowed_packet then (which a session cannot raise), and a cut is
    // found by its warning.
    "SET SESSION group_concat_max_len = 4294967295",
    // CHAR(n) values are read without their padding, as by default.
    "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'PAD_CHAR_TO_FULL_LENGTH', '')",
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
];

/// The `decimals` a column's metadata gives a floating-point type declared
/// without a fixed number of digits.
const NOT_FIXED_DEC: u8 = 31;

pub(super) const BEGIN: &str = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";

pub(super) async fn connect(url: &DatabaseUrl) -> Res<Conn> {
    let (ssl, fallback) = tls(url)?;
    match connect_with(url, ssl).await {
        Err(Some(mysql_async::Error::Driver(
            mysql_async::DriverError::NoClientSslFlagFromServer,
        ))) if fallback => connect_with(url, None).await,
        other => other,
    }
    .map_err(|e| {
        let why = e.map_or_else(|| "no answer within 10 s".to_string(), message);
        format!("cannot connect to {}:{}: {why}", url.host, url.port)
    })
}

/// One attempt to connect; `Err(None)` when the server did not answer in time.
async fn connect_with(
    url: &DatabaseUrl,
    ssl: Option<mysql_async::SslOpts>,
) -> std::result::Result<Conn, Option<mysql_async::Error>> {
    let opts = OptsBuilder::default()
        .ssl_opts(ssl)
        .ip_or_hostname(url.host.clone())
        .tcp_port(url.port)
        .user(url.user.clone())
        .pass(url.password().map(str::to_string))
        .db_name(Some(url.database.clone()).filter(|d| !d.is_empty()))
        .prefer_socket(false)
        // An UPDATE reports the rows it matched, not only those it changed,
        // so repair can check each statement touched the rows it meant to.
        .client_found_rows(true)
        .setup(SESSION_SETUP.to_vec());
    let connecting = Conn::new(opts);
    match tokio::time::timeout(Duration::from_secs(10), connecting).await {
        Ok(connected) => connected.map_err(Some),
        Err(_) => Err(None),
    }
}

pub(super) async fn begin(conn: &mut Conn) -> Res<()> {
    conn.query_drop(BEGIN).await.map_err(message)
}

/// Columns of `table` whose text is stored in a character set other than
/// UTF-8 (or ASCII): their values are converted before hashing. For a query,
/// every text column is converted, as its sources are unknown.
async fn non_utf8_columns(conn: &mut Conn, table: Option<&str>) -> Res<Option<Vec<String>>> {
    let Some(table) = table else {
        return Ok(None);
    };
    let d = Dialect::new(Engine::MySql);
    let rows: Vec<(String, Option<String>)> = conn
        .query(format!(
            "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE {}",
            d.schema_table_is(table, "")
        ))
        .await
        .map_err(message)?;
    Ok(Some(
        rows.into_iter()
            .filter(|(_, charset)| {
                charset
                    .as_deref()
                    .is_some_and(|c| !matches!(c, "utf8mb4" | "utf8mb3" | "utf8" | "ascii"))
            })
            .map(|(column, _)| column)
            .collect(),
    ))
}

pub(super) async fn describe(
    conn: &mut Conn,
    relation: &str,
    table: Option<&str>,
) -> Res<Described> {
    let non_utf8 = non_utf8_columns(conn, table).await?;
    let result = conn
        .query_iter(format!("SELECT * FROM {relation} LIMIT 0"))
        .await
        .map_err(message)?;
    let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
    result.drop_result().await.map_err(message)?;
    let d = Dialect::new(Engine::MySql);
    let columns = columns
        .iter()
        .map(|c| {
            let name = c.name_str().to_string();
            let quoted = d.quote(&name);
            let flags = c.flags();
            let unsigned = flags.contains(ColumnFlags::UNSIGNED_FLAG);
            // ZEROFILL pads the printed value; a query's columns are not
            // the catalog's word.
            let plain = !flags.contains(ColumnFlags::ZEROFILL_FLAG);
            let not_null = table.is_some() && flags.contains(ColumnFlags::NOT_NULL_FLAG);
            let binary = c.character_set() == BINARY_CHARSET;
            let db_type = format!("{:?}", c.column_type())
                .trim_start_matches("MYSQL_TYPE_")
                .to_ascii_lowercase();
            let as_text = format!("CAST({quoted} AS CHAR)");
            let mut fetch = quoted.clone();
            let mut value = quoted.clone();
            let int = |signed: DataType, unsigned_type: DataType| {
                let t = if unsigned { unsigned_type } else { signed };
                (ValueKind::Int, t.clone(), t)
            };
            let (kind, data_type, driver_type) = match c.column_type() {
                ColumnType::MYSQL_TYPE_TINY => int(DataType::Int8, DataType::UInt8),
                ColumnType::MYSQL_TYPE_SHORT | ColumnType::MYSQL_TYPE_YEAR => {
                    int(DataType::Int16, DataType::UInt16)
                }
                ColumnType::MYSQL_TYPE_INT24 | ColumnType::MYSQL_TYPE_LONG => {
                    int(DataType::Int32, DataType::UInt32)
                }
                ColumnType::MYSQL_TYPE_LONGLONG => int(DataType::Int64, DataType::UInt64),
                ColumnType::MYSQL_TYPE_FLOAT => {
                    // The text protocol prints a FLOAT with 6 digits; widened
                    // to DOUBLE it is exact, and narrows back without loss.
                    fetch = format!("CAST({quoted} AS DOUBLE)");
                    (ValueKind::Float32, DataType::Float32, DataType::Float64)
                }
                ColumnType::MYSQL_TYPE_DOUBLE => {
                    (ValueKind::Float64, DataType::Float64, DataType::Float64)
                }
                ColumnType::MYSQL_TYPE_DECIMAL | ColumnType::MYSQL_TYPE_NEWDECIMAL => {
                    let scale = c.decimals();
                    // The display length counts the sign and the point.
                    let precision =
                        c.column_length() as i64 - i64::from(scale > 0) - i64::from(!unsigned);
                    if !(1..=76).contains(&precision) {
                        return Err(unsupported(&name, &format!("decimal({precision},{scale})")));
                    }
                    // Read as exact text and parsed digit for digit.
                    fetch = as_text.clone();
                    let (p, s) = (precision as u8, scale as i8);
                    (
                        ValueKind::Decimal { scale: Some(s) },
                        if p > 38 {
                            DataType::Decimal256(p, s)
                        } else {
                            DataType::Decimal128(p, s)
                        },
                        DataType::Utf8,
                    )
                }
                ColumnType::MYSQL_TYPE_DATE => {
                    // As text, which a zero date ('0000-00-00') fails to parse
                    // from (the driver's own reading turns it into NULL).
                    fetch = as_text.clone();
                    (ValueKind::Date, DataType::Date32, DataType::Utf8)
                }
                ColumnType::MYSQL_TYPE_DATETIME | ColumnType::MYSQL_TYPE_TIMESTAMP => {
                    // As text in the UTC session, for the same reason.
                    fetch = as_text.clone();
                    let zone =
                        (c.column_type() == ColumnType::MYSQL_TYPE_TIMESTAMP).then(|| "UTC".into());
                    (
                        ValueKind::Timestamp,
                        DataType::Timestamp(TimeUnit::Microsecond, zone),
                        DataType::Utf8,
                    )
                }
                ColumnType::MYSQL_TYPE_VARCHAR
                | ColumnType::MYSQL_TYPE_VAR_STRING
                | ColumnType::MYSQL_TYPE_STRING
                | ColumnType::MYSQL_TYPE_BLOB
                | ColumnType::MYSQL_TYPE_TINY_BLOB
                | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
                | ColumnType::MYSQL_TYPE_LONG_BLOB
                | ColumnType::MYSQL_TYPE_JSON
                | ColumnType::MYSQL_TYPE_ENUM
                | ColumnType::MYSQL_TYPE_SET => {
                    if binary {
                        (ValueKind::Binary, DataType::Binary, DataType::Binary)
                    } else {
                        // ENUM and SET values are read as their text.
                        if flags.intersects(ColumnFlags::ENUM_FLAG | ColumnFlags::SET_FLAG) {
                            fetch = as_text.clone();
                        }
                        if non_utf8.as_ref().is_none_or(|n| n.contains(&name)) {
                            value = format!("CONVERT({quoted} USING utf8mb4)");
                        }
                        (ValueKind::Text, DataType::Utf8, DataType::Utf8)
                    }
                }
                _ => return Err(unsupported(&name, &db_type)),
            };
            let printed = match c.column_type() {
                _ if !plain => None,
                ColumnType::MYSQL_TYPE_TINY
                | ColumnType::MYSQL_TYPE_SHORT
                | ColumnType::MYSQL_TYPE_INT24
                | ColumnType::MYSQL_TYPE_LONG
                | ColumnType::MYSQL_TYPE_LONGLONG => Some(Printed::Integer),
                ColumnType::MYSQL_TYPE_DECIMAL | ColumnType::MYSQL_TYPE_NEWDECIMAL => {
                    Some(Printed::Fixed(c.decimals() as i8))
                }
                // DOUBLE(m,d) prints d digits; a plain DOUBLE its shortest.
                ColumnType::MYSQL_TYPE_DOUBLE if c.decimals() >= NOT_FIXED_DEC => {
                    Some(Printed::Double)
                }
                ColumnType::MYSQL_TYPE_DATE => Some(Printed::Date),
                ColumnType::MYSQL_TYPE_DATETIME | ColumnType::MYSQL_TYPE_TIMESTAMP => {
                    match c.decimals() {
                        n @ 0..=6 => Some(Printed::DateTimeDigits(n)),
                        _ => None,
                    }
                }
                _ => None,
            };
            Ok(DbColumn {
                name,
                db_type,
                kind,
                data_type,
                fetch,
                driver_type,
                value,
                printed,
                not_null,
            })
        })
        .collect::<Res<Vec<_>>>()?;
    Ok(Described {
        columns,
        utf8: true,
    })
}

fn value_text(value: Value) -> Option<String> {
    match value {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(f) => Some(f.to_string()),
        other => Some(other.as_sql(true)),
    }
}

pub(super) async fn text_rows(conn: &mut Conn, sql: &str) -> Res<TextRows> {
    let rows: Vec<Row> = conn.query(sql).await.map_err(message)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            row.unwrap_raw()
                .into_iter()
                .map(|v| v.and_then(value_text))
                .collect()
        })
        .collect())
}

/// MySQL's warning that a `GROUP_CONCAT` was cut to its maximum length.
const GROUP_CONCAT_CUT: u16 = 1260;

/// [`text_rows`], and whether a `GROUP_CONCAT` in the statement was cut
/// (or may have been: warnings beyond those the server keeps are unknown).
pub(super) async fn digest_rows(conn: &mut Conn, sql: &str) -> Res<(TextRows, bool)> {
    let rows = text_rows(conn, sql).await?;
    let warnings = conn.get_warnings();
    if warnings == 0 {
        return Ok((rows, false));
    }
    let listed: Vec<Row> = conn.query("SHOW WARNINGS").await.map_err(message)?;
    let cut = listed.len() < usize::from(warnings)
        || listed
            .iter()
            .any(|w| w.get::<u16, _>(1) == Some(GROUP_CONCAT_CUT));
    Ok((rows, cut))
}

pub(super) async fn execute(conn: &mut Conn, sql: &str) -> Res<u64> {
    conn.query_drop(sql).await.map_err(message)?;
    Ok(conn.affected_rows())
}

pub(super) async fn arrow(
    conn: &mut Conn,
    sql: &str,
    driver_schema: &SchemaRef,
    schema: &SchemaRef,
) -> Res<Vec<RecordBatch>> {
    let convert =
        |rows: &[Row]| -> Res<RecordBatch> { conform(&to_batch(rows, driver_schema)?, schema) };
    let mut result = conn.query_iter(sql).await.map_err(message)?;
    let mut batches = Vec::new();
    let mut rows = Vec::with_capacity(BATCH_ROWS);
    let mut failure = None;
    result
        .for_each(|row| {
            if failure.is_some() {
                return;
            }
            rows.push(row);
            if rows.len() == BATCH_ROWS {
                match convert(&rows) {
                    Ok(batch) => batches.push(batch),
                    Err(e) => failure = Some(e),
                }
                rows.clear();
            }
        })
        .await
        .map_err(message)?;
    result.drop_result().await.map_err(message)?;
    if let Some(e) = failure {
        return Err(e);
    }
    if !rows.is_empty() {
        batches.push(convert(&rows)?);
    }
    Ok(batches)
}

/// Rows of one fetch as a batch of `driver_schema`'s wire types. The text
/// protocol sends every value as text, which the column's type parses.
fn to_batch(rows: &[Row], driver_schema: &SchemaRef) -> Res<RecordBatch> {
    let mut columns = Columns::new(driver_schema, rows.len())?;
    let Some(first) = rows.first() else {
        return columns.finish();
    };
    let names: Vec<String> = first
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    let targets = columns.positions(names.iter().map(String::as_str));
    for row in rows {
        for (i, target) in targets.iter().enumerate() {
            let Some(target) = *target else { continue };
            let cell = match row.as_ref(i) {
                None | Some(Value::NULL) => Cell::Null,
                Some(Value::Bytes(b)) => Cell::Text(b),
                Some(Value::Int(v)) => Cell::Int(*v),
                Some(Value::UInt(v)) => Cell::UInt(*v),
                Some(Value::Float(v)) => Cell::Float32(*v),
                Some(Value::Double(v)) => Cell::Float64(*v),
                Some(other) => {
                    return Err(format!(
                        "column {}: the driver's value {} is not read as it comes",
                        names[i],
                        other.as_sql(true)
                    ));
                }
            };
            columns.push(target, cell)?;
        }
    }
    columns.finish()
}
