//! PostgreSQL sessions: connect, snapshot, describe, query.

use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion_table_providers::sql::arrow_sql_gen::postgres::rows_to_arrow;
use futures::{StreamExt, pin_mut};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::{
    BATCH_ROWS, DbColumn, Dialect, TextRows, ValueKind, conform, driver_schema, unsupported,
};
use crate::error::one_line;
use crate::source::url::{DatabaseUrl, Engine};

type Res<T> = std::result::Result<T, String>;

fn message(e: tokio_postgres::Error) -> String {
    // The server's own message (with its detail) says more than the wrapper.
    match e.as_db_error() {
        Some(db) => one_line(db.message()),
        None => one_line(e),
    }
}

pub(super) async fn connect(url: &DatabaseUrl) -> Res<Client> {
    if let Some(mode) = url.params.get("sslmode")
        && !matches!(mode.as_str(), "disable" | "allow" | "prefer")
    {
        return Err(format!(
            "sslmode={mode}: TLS connections are not supported yet (use sslmode=disable \
             or a local tunnel)"
        ));
    }
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
    let (client, connection) = config.connect(NoTls).await.map_err(|e| {
        format!(
            "cannot connect to {}:{}: {}",
            url.host,
            url.port,
            message(e)
        )
    })?;
    tokio::spawn(async move {
        // Ends when the client is dropped; its errors surface on the client.
        let _ = connection.await;
    });
    // UTC and fixed formats, so values read alike in every session. recon
    // runs its own parallel sessions, so the server's per-query workers would
    // only compete with them; JIT costs more than it saves on chunk queries;
    // the checksum GROUP BY should not spill to disk.
    client
        .batch_execute(
            "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1; \
             SET standard_conforming_strings = on; SET IntervalStyle = 'iso_8601'; \
             SET max_parallel_workers_per_gather = 0; SET jit = off; SET work_mem = '64MB'",
        )
        .await
        .map_err(message)?;
    Ok(client)
}

/// Starts a `REPEATABLE READ READ ONLY` transaction, on `snapshot` if given.
pub(super) async fn begin(client: &mut Client, snapshot: Option<&str>) -> Res<()> {
    let mut sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".to_string();
    if let Some(id) = snapshot {
        sql.push_str(&format!(
            "; SET TRANSACTION SNAPSHOT {}",
            Dialect(Engine::Postgres).string(id)
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

pub(super) async fn describe(client: &mut Client, relation: &str) -> Res<Vec<DbColumn>> {
    let statement = client
        .prepare(&format!("SELECT * FROM {relation} LIMIT 0"))
        .await
        .map_err(message)?;
    let d = Dialect(Engine::Postgres);
    statement
        .columns()
        .iter()
        .map(|c| {
            let name = c.name().to_string();
            let quoted = d.quote(&name);
            let ty = c.type_();
            let db_type = ty.name().to_string();
            let mut fetch = quoted.clone();
            let mut value = quoted.clone();
            let (kind, data_type) = match *ty {
                Type::INT2 => (ValueKind::Int, DataType::Int16),
                Type::INT4 => (ValueKind::Int, DataType::Int32),
                Type::INT8 => (ValueKind::Int, DataType::Int64),
                Type::FLOAT4 => (ValueKind::Float32, DataType::Float32),
                Type::FLOAT8 => (ValueKind::Float64, DataType::Float64),
                Type::NUMERIC => {
                    // typmod = ((precision << 16) | scale) + 4; -1 when unconstrained.
                    let typmod = c.type_modifier();
                    let (precision, scale, fixed) = if typmod >= 4 {
                        (((typmod - 4) >> 16) & 0xffff, (typmod - 4) & 0xffff, true)
                    } else {
                        (38, 20, false)
                    };
                    if precision > 38 {
                        return Err(unsupported(&name, &format!("numeric({precision},{scale})")));
                    }
                    (
                        ValueKind::Decimal {
                            scale: fixed.then_some(scale as i8),
                        },
                        DataType::Decimal128(precision as u8, scale as i8),
                    )
                }
                Type::BOOL => (ValueKind::Bool, DataType::Boolean),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    (ValueKind::Text, DataType::Utf8)
                }
                Type::UUID | Type::JSON | Type::JSONB | Type::XML => {
                    fetch = format!("{quoted}::text");
                    value = fetch.clone();
                    (ValueKind::Text, DataType::Utf8)
                }
                Type::BYTEA => (ValueKind::Binary, DataType::Binary),
                Type::DATE => (ValueKind::Date, DataType::Date32),
                Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                    // The driver's conversion cannot hold every year in
                    // nanoseconds; epoch microseconds are exact for all of them.
                    fetch = d.epoch_micros(&quoted);
                    let zone = (*ty == Type::TIMESTAMPTZ).then(|| "UTC".into());
                    (
                        ValueKind::Timestamp,
                        DataType::Timestamp(TimeUnit::Microsecond, zone),
                    )
                }
                _ => return Err(unsupported(&name, &db_type)),
            };
            Ok(DbColumn {
                name,
                db_type,
                kind,
                data_type,
                fetch,
                value,
            })
        })
        .collect()
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

pub(super) async fn arrow(
    client: &mut Client,
    sql: &str,
    schema: &SchemaRef,
) -> Res<Vec<RecordBatch>> {
    // The driver's schema for Decimal columns comes from this one; timestamps
    // arrive as epoch microseconds (Int64) and are cast afterwards.
    let driver_schema = driver_schema(schema);
    let params: [&(dyn ToSql + Sync); 0] = [];
    let stream = client.query_raw(sql, params).await.map_err(message)?;
    pin_mut!(stream);
    let mut batches = Vec::new();
    let mut rows = Vec::with_capacity(BATCH_ROWS);
    let convert = |rows: &[tokio_postgres::Row]| -> Res<RecordBatch> {
        let batch = rows_to_arrow(rows, &Some(driver_schema.clone())).map_err(one_line)?;
        conform(&batch, schema)
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
