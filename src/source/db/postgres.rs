//! PostgreSQL sessions: connect, snapshot, describe, query.

use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use futures::{StreamExt, pin_mut};
use postgres_native_tls::MakeTlsConnector;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{FromSql, Kind, ToSql, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::wire::{Cell, Columns};
use super::{
    BATCH_ROWS, DbColumn, Described, Dialect, Printed, TextRows, ValueKind, conform, unsupported,
};
use crate::error::one_line;
use crate::source::url::{DatabaseUrl, Engine};

type Res<T> = std::result::Result<T, String>;

fn message(e: tokio_postgres::Error) -> String {
    // The server's own message (with its detail) says more than the wrapper.
    if let Some(db) = e.as_db_error() {
        return one_line(db.message());
    }
    // Connection errors keep their cause (a refused port, a certificate) underneath.
    let mut text = one_line(&e);
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&one_line(c));
        cause = c.source();
    }
    text
}

/// TLS as libpq's `sslmode` asks: `disable`; `allow` / `prefer` (the
/// default) and `require` encrypt without checking the certificate;
/// `verify-ca` checks it against the system roots or `sslrootcert`;
/// `verify-full` checks the host name too.
fn tls(url: &DatabaseUrl) -> Res<Option<(SslMode, MakeTlsConnector)>> {
    let mode = url.params.get("sslmode").map_or("prefer", String::as_str);
    let (ssl_mode, verify_chain, verify_host) = match mode {
        "disable" => return Ok(None),
        "allow" | "prefer" => (SslMode::Prefer, false, false),
        "require" => (SslMode::Require, false, false),
        "verify-ca" => (SslMode::Require, true, false),
        "verify-full" => (SslMode::Require, true, true),
        other => {
            return Err(format!(
                "sslmode={other}: expected disable, allow, prefer, require, verify-ca or verify-full"
            ));
        }
    };
    let mut builder = native_tls::TlsConnector::builder();
    builder
        .danger_accept_invalid_certs(!verify_chain)
        .danger_accept_invalid_hostnames(!verify_host);
    if let Some(path) = url.params.get("sslrootcert") {
        let pem = std::fs::read(path).map_err(|e| format!("sslrootcert {path}: {e}"))?;
        let cert = native_tls::Certificate::from_pem(&pem)
            .map_err(|e| format!("sslrootcert {path}: {}", one_line(e)))?;
        builder.add_root_certificate(cert);
    }
    let connector = builder
        .build()
        .map_err(|e| format!("TLS: {}", one_line(e)))?;
    Ok(Some((ssl_mode, MakeTlsConnector::new(connector))))
}

pub(super) async fn connect(url: &DatabaseUrl) -> Res<Client> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&url.host)
        .port(url.port)
        .dbname(&url.database)
        .application_name("recon")
        .connect_timeout(Duration::from_secs(10));
    if let Some(user) = &url.user {
        config.user(user);
    }
    if let Some(password) = url.password() {
        config.password(password);
    }
    let failed = |e| {
        let note = url
            .credentials_note
            .as_ref()
            .map_or(String::new(), |n| format!(" ({n})"));
        format!(
            "cannot connect to {}:{}: {}{note}",
            url.host,
            url.port,
            message(e)
        )
    };
    // The connection task ends when the client is dropped; its errors
    // surface on the client.
    let client = match tls(url)? {
        Some((mode, connector)) => {
            config.ssl_mode(mode);
            let (client, connection) = config.connect(connector).await.map_err(failed)?;
            tokio::spawn(connection);
            client
        }
        None => {
            let (client, connection) = config.connect(NoTls).await.map_err(failed)?;
            tokio::spawn(connection);
            client
        }
    };
    client.batch_execute(SESSION_SETUP).await.map_err(message)?;
    Ok(client)
}

/// What every session runs on connect: UTC and fixed formats, so values
/// read alike in every session; no per-query workers or JIT (recon runs its
/// own parallel sessions, and JIT costs more than it saves on chunk
/// queries); a GROUP BY that does not spill to disk.
pub(super) const SESSION_SETUP: &str = "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; \
     SET extra_float_digits = 1; SET standard_conforming_strings = on; \
     SET IntervalStyle = 'iso_8601'; SET max_parallel_workers_per_gather = 0; SET jit = off; \
     SET work_mem = '64MB'";

pub(super) const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Starts a `REPEATABLE READ READ ONLY` transaction, on `snapshot` if given.
pub(super) async fn begin(client: &mut Client, snapshot: Option<&str>) -> Res<()> {
    let mut sql = BEGIN.to_string();
    if let Some(id) = snapshot {
        sql.push_str(&format!(
            "; SET TRANSACTION SNAPSHOT {}",
            Dialect::new(Engine::Postgres).string(id)
        ));
    }
    client.batch_execute(&sql).await.map_err(message)
}

pub(super) async fn export_snapshot(client: &mut Client) -> Option<String> {
    let rows = text_rows(client, "SELECT pg_export_snapshot()")
        .await
        .ok()?;
    rows.into_iter().next()?.into_iter().next()?
}

/// The widest decimal recon holds (Decimal256).
const MAX_PRECISION: i32 = 76;

/// Columns of `table` its catalog declares NOT NULL. A table with
/// inheritance children proves nothing: before PostgreSQL 18 a child may
/// drop a NOT NULL its parent declares, and reading the parent reads it.
async fn not_null_columns(client: &mut Client, table: Option<&str>) -> Res<Vec<String>> {
    let Some(table) = table else {
        return Ok(Vec::new());
    };
    let d = Dialect::new(Engine::Postgres);
    let sql = format!(
        "SELECT a.attname FROM pg_attribute a \
         WHERE a.attrelid = to_regclass({}) AND a.attnum > 0 AND NOT a.attisdropped \
           AND a.attnotnull \
           AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhparent = a.attrelid)",
        d.string(&d.table(table))
    );
    Ok(text_rows(client, &sql)
        .await?
        .into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
        .collect())
}

pub(super) async fn describe(
    client: &mut Client,
    relation: &str,
    table: Option<&str>,
) -> Res<Described> {
    let encoding = text_rows(client, "SHOW server_encoding").await?;
    let utf8 = matches!(
        encoding
            .first()
            .and_then(|r| r.first())
            .cloned()
            .flatten()
            .as_deref(),
        Some("UTF8")
    );
    let statement = client
        .prepare(&format!("SELECT * FROM {relation} LIMIT 0"))
        .await
        .map_err(message)?;
    let not_null = not_null_columns(client, table).await?;
    let d = Dialect::new(Engine::Postgres);
    let mut columns = Vec::new();
    for c in statement.columns() {
        let name = c.name().to_string();
        let quoted = d.quote(&name);
        // A domain is read as the type it is based on.
        let mut ty = c.type_();
        while let Kind::Domain(base) = ty.kind() {
            ty = base;
        }
        let db_type = c.type_().name().to_string();
        let as_text = format!("{quoted}::text");
        let mut column = DbColumn {
            name: name.clone(),
            db_type: db_type.clone(),
            kind: ValueKind::Text,
            data_type: DataType::Utf8,
            fetch: quoted.clone(),
            driver_type: DataType::Utf8,
            value: quoted.clone(),
            printed: None,
            not_null: not_null.contains(&name),
        };
        let typed = |kind, data_type: DataType| (kind, data_type.clone(), data_type);
        let (kind, data_type, driver_type) = match *ty {
            Type::INT2 => typed(ValueKind::Int, DataType::Int16),
            Type::INT4 => typed(ValueKind::Int, DataType::Int32),
            Type::INT8 => typed(ValueKind::Int, DataType::Int64),
            Type::FLOAT4 => typed(ValueKind::Float32, DataType::Float32),
            Type::FLOAT8 => typed(ValueKind::Float64, DataType::Float64),
            Type::NUMERIC => {
                // typmod = ((precision << 16) | scale) + 4; -1 when unconstrained.
                let typmod = c.type_modifier();
                let (precision, scale, fixed) = if typmod >= 4 {
                    (((typmod - 4) >> 16) & 0xffff, (typmod - 4) & 0xffff, true)
                } else {
                    let (p, s) = numeric_extent(client, relation, &quoted).await?;
                    (p, s, false)
                };
                if precision > MAX_PRECISION || scale > precision {
                    let shape = if fixed {
                        format!("numeric({precision},{scale})")
                    } else {
                        format!(
                            "numeric holding values of {precision} digits, {scale} after the point"
                        )
                    };
                    columns.push(Err(unsupported(&name, &shape)));
                    continue;
                }
                let (p, s) = (precision as u8, scale as i8);
                // The exact text: the driver's decimal type holds 28 digits.
                column.fetch = as_text.clone();
                (
                    ValueKind::Decimal {
                        scale: fixed.then_some(s),
                    },
                    if p > 38 {
                        DataType::Decimal256(p, s)
                    } else {
                        DataType::Decimal128(p, s)
                    },
                    DataType::Utf8,
                )
            }
            Type::BOOL => typed(ValueKind::Bool, DataType::Boolean),
            Type::TEXT | Type::VARCHAR | Type::NAME => typed(ValueKind::Text, DataType::Utf8),
            Type::BPCHAR => {
                // char(n) is compared without its padding, as PostgreSQL's
                // own cast to text does (MySQL strips it when read, too).
                column.fetch = as_text.clone();
                column.value = as_text.clone();
                typed(ValueKind::Text, DataType::Utf8)
            }
            Type::UUID | Type::JSON | Type::JSONB | Type::XML => {
                column.fetch = as_text.clone();
                column.value = as_text.clone();
                typed(ValueKind::Text, DataType::Utf8)
            }
            _ if matches!(ty.kind(), Kind::Enum(_)) => {
                column.fetch = as_text.clone();
                column.value = as_text.clone();
                typed(ValueKind::Text, DataType::Utf8)
            }
            Type::BYTEA => typed(ValueKind::Binary, DataType::Binary),
            Type::DATE => {
                // Days since the epoch: exact for BC dates and the years
                // beyond chrono's range, with infinities kept apart.
                column.fetch = d.epoch_days(&quoted);
                (ValueKind::Date, DataType::Date32, DataType::Int32)
            }
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                // The driver's conversion cannot hold every year in
                // nanoseconds; epoch microseconds are exact for all of them.
                column.fetch = d.epoch_micros(&quoted);
                let zone = (*ty == Type::TIMESTAMPTZ).then(|| "UTC".into());
                (
                    ValueKind::Timestamp,
                    DataType::Timestamp(TimeUnit::Microsecond, zone),
                    DataType::Int64,
                )
            }
            _ => {
                columns.push(Err(unsupported(&name, &db_type)));
                continue;
            }
        };
        column.printed = match *ty {
            Type::INT2 | Type::INT4 | Type::INT8 => Some(Printed::Integer),
            Type::NUMERIC => match kind {
                ValueKind::Decimal { scale: Some(s) } => Some(Printed::Fixed(s)),
                _ => None,
            },
            Type::FLOAT8 => Some(Printed::Double),
            Type::DATE => Some(Printed::Date),
            Type::TIMESTAMP => Some(Printed::DateTime),
            Type::TIMESTAMPTZ => Some(Printed::DateTimeOffset),
            _ => None,
        };
        column.kind = kind;
        column.data_type = data_type;
        column.driver_type = driver_type;
        columns.push(Ok(column));
    }
    Ok(Described {
        columns: columns.into_iter().collect::<Res<Vec<_>>>()?,
        utf8,
    })
}

/// The precision and scale that hold every value of an unconstrained
/// NUMERIC column, from the data: the most digits before the point and the
/// most after it (at least `numeric(1,0)`). `NaN` and infinities are left to
/// the read, which refuses them by name.
async fn numeric_extent(client: &mut Client, relation: &str, column: &str) -> Res<(i32, i32)> {
    let finite = format!("{column}::text NOT IN ('NaN', 'Infinity', '-Infinity')");
    let sql = format!(
        "SELECT COALESCE(MAX(length(trunc(abs({column}))::text)) FILTER (WHERE {finite}), 1), \
                COALESCE(MAX(scale({column})) FILTER (WHERE {finite}), 0) \
         FROM {relation}"
    );
    let rows = text_rows(client, &sql).await?;
    let row = rows.into_iter().next().unwrap_or_default();
    let number = |i: usize| -> Res<i32> {
        let text = row.get(i).cloned().flatten().unwrap_or_else(|| "0".into());
        text.parse()
            .map_err(|_| format!("the extent of {column} came back as {text:?}"))
    };
    let (integer, scale) = (number(0)?, number(1)?);
    Ok(((integer + scale).max(1), scale))
}

pub(super) async fn text_rows(client: &mut Client, sql: &str) -> Res<TextRows> {
    let messages = client.simple_query(sql).await.map_err(message)?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

pub(super) async fn execute(client: &mut Client, sql: &str) -> Res<u64> {
    let messages = client.simple_query(sql).await.map_err(message)?;
    Ok(messages
        .iter()
        .map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => *n,
            _ => 0,
        })
        .sum())
}

pub(super) async fn arrow(
    client: &mut Client,
    sql: &str,
    driver_schema: &SchemaRef,
    schema: &SchemaRef,
) -> Res<Vec<RecordBatch>> {
    let params: [&(dyn ToSql + Sync); 0] = [];
    let stream = client.query_raw(sql, params).await.map_err(message)?;
    pin_mut!(stream);
    let mut batches = Vec::new();
    let mut rows = Vec::with_capacity(BATCH_ROWS);
    let convert = |rows: &[tokio_postgres::Row]| -> Res<RecordBatch> {
        conform(&to_batch(rows, driver_schema)?, schema)
    };
    while let Some(row) = stream.next().await {
        rows.push(row.map_err(message)?);
        if rows.len() == BATCH_ROWS {
            batches.push(convert(&rows)?);
            rows.clear();
        }
    }
    if !rows.is_empty() {
        batches.push(convert(&rows)?);
    }
    Ok(batches)
}

/// A value as PostgreSQL's binary format sends it; [`cell`] reads it by the
/// column's type (the fetch expressions leave only plain ones).
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Rows of one fetch as a batch of `driver_schema`'s wire types.
fn to_batch(rows: &[tokio_postgres::Row], driver_schema: &SchemaRef) -> Res<RecordBatch> {
    let mut columns = Columns::new(driver_schema, rows.len())?;
    let Some(first) = rows.first() else {
        return columns.finish();
    };
    let targets = columns.positions(first.columns().iter().map(|c| c.name()));
    let types: Vec<&Type> = first
        .columns()
        .iter()
        .map(|c| base_type(c.type_()))
        .collect();
    for row in rows {
        for (i, target) in targets.iter().enumerate() {
            let Some(target) = *target else { continue };
            let Raw(raw) = row.try_get(i).map_err(message)?;
            columns.push(
                target,
                cell(types[i], raw)
                    .map_err(|e| format!("column {}: {e}", first.columns()[i].name()))?,
            )?;
        }
    }
    columns.finish()
}

/// A domain's values travel as its base type's.
fn base_type(mut ty: &Type) -> &Type {
    while let Kind::Domain(base) = ty.kind() {
        ty = base;
    }
    ty
}

/// One value of PostgreSQL's binary format, read as the wire type it is.
fn cell<'a>(ty: &Type, raw: Option<&'a [u8]>) -> Res<Cell<'a>> {
    let Some(raw) = raw else {
        return Ok(Cell::Null);
    };
    Ok(match *ty {
        Type::BOOL => Cell::Bool(fixed::<1>(ty, raw)?[0] != 0),
        Type::INT2 => Cell::Int(i16::from_be_bytes(fixed(ty, raw)?).into()),
        Type::INT4 => Cell::Int(i32::from_be_bytes(fixed(ty, raw)?).into()),
        Type::INT8 => Cell::Int(i64::from_be_bytes(fixed(ty, raw)?)),
        Type::FLOAT4 => Cell::Float32(f32::from_be_bytes(fixed(ty, raw)?)),
        Type::FLOAT8 => Cell::Float64(f64::from_be_bytes(fixed(ty, raw)?)),
        // Text travels as its UTF-8 bytes (the session's client encoding),
        // and an enum as its label; bytea as the bytes themselves.
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::BYTEA => {
            Cell::Text(raw)
        }
        _ if matches!(ty.kind(), Kind::Enum(_)) => Cell::Text(raw),
        _ => return Err(format!("values of type {ty} are not read as they come")),
    })
}

/// A fixed-width value's bytes, refused when the server sent another width.
fn fixed<const N: usize>(ty: &Type, raw: &[u8]) -> Res<[u8; N]> {
    raw.try_into()
        .map_err(|_| format!("{} bytes for a {ty} value", raw.len()))
}
