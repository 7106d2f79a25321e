//! SQLite files, read in-process (no network to spare, so no pushdown): one
//! read-only connection and one read transaction per read. SQLite types are
//! affinities, not rules, so each value is checked against the column's
//! declared type as it is read, and a value that does not fit is an error
//! naming the column, never a silent conversion.

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::{BATCH_ROWS, DbColumn, Dialect, ValueKind, WriteTransaction};
use crate::error::one_line;
use crate::source::url::{DatabaseUrl, Engine};

type Res<T> = std::result::Result<T, String>;

fn open(url: &DatabaseUrl) -> Res<Connection> {
    open_with(url, OpenFlags::SQLITE_OPEN_READ_ONLY)
}

fn open_with(url: &DatabaseUrl, mode: OpenFlags) -> Res<Connection> {
    let path = &url.database;
    if !std::path::Path::new(path).is_file() {
        return Err(format!("{path}: no such database file"));
    }
    Connection::open_with_flags(path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| format!("{path}: {}", one_line(e)))
}

/// Runs a repair transaction (see `DatabaseSource::write_transaction`) on
/// a SQLite file; the write lock is taken first, so nothing changes between
/// the check of the rows and the statements.
pub(super) fn apply(
    url: &DatabaseUrl,
    write: &WriteTransaction<'_>,
    schema: &SchemaRef,
    columns: &[DbColumn],
    fail: &dyn Fn(String) -> crate::error::Error,
    check: impl FnOnce(Vec<RecordBatch>) -> Result<(), crate::error::Error>,
    verify: impl FnOnce(Vec<RecordBatch>) -> Result<(), crate::error::Error>,
) -> Result<(), crate::error::Error> {
    let mut conn = open_with(url, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(fail)?;
    // Dropping the transaction on an error rolls it back.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| fail(one_line(e)))?;
    let read_all = |sqls: &[String]| -> Result<Vec<RecordBatch>, crate::error::Error> {
        let mut batches = Vec::new();
        for sql in sqls {
            batches.extend(read_with(&tx, sql, schema, columns).map_err(fail)?);
        }
        Ok(batches)
    };
    check(read_all(write.lock_reads)?)?;
    for (n, (statement, &expected)) in write.statements.iter().zip(write.affects).enumerate() {
        let affected = tx.execute(statement, []).map_err(|e| {
            fail(format!(
                "the patch failed and was rolled back, the target is unchanged: {}",
                one_line(e)
            ))
        })?;
        write.check_affected(n, affected as u64, expected)?;
    }
    verify(read_all(write.reads)?)?;
    tx.commit()
        .map_err(|e| fail(format!("COMMIT failed: {}", one_line(e))))
}

/// How a declared type is read.
fn column_for(name: &str, declared: Option<&str>) -> DbColumn {
    let d = Dialect::new(Engine::Sqlite);
    let upper = declared.unwrap_or("").to_ascii_uppercase();
    let numbers = |text: &str| -> Option<(u8, i8)> {
        let inside = text.split_once('(')?.1.trim_end_matches(')');
        let mut parts = inside.split(',').map(|p| p.trim().parse::<i64>().ok());
        let precision = parts.next()??;
        let scale = parts.next().flatten().unwrap_or(0);
        ((1..=38).contains(&precision) && (0..=precision).contains(&scale))
            .then_some((precision as u8, scale as i8))
    };
    let (kind, data_type) = if upper.contains("INT") || upper.starts_with("BOOL") {
        (ValueKind::Int, DataType::Int64)
    } else if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") {
        (ValueKind::Text, DataType::Utf8)
    } else if upper.contains("BLOB") {
        (ValueKind::Binary, DataType::Binary)
    } else if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") {
        (ValueKind::Float64, DataType::Float64)
    } else if (upper.starts_with("DECIMAL") || upper.starts_with("NUMERIC"))
        && let Some((p, s)) = numbers(&upper)
    {
        (
            ValueKind::Decimal { scale: Some(s) },
            DataType::Decimal128(p, s),
        )
    } else if upper == "DATE" {
        (ValueKind::Date, DataType::Date32)
    } else if upper.starts_with("DATETIME") || upper.starts_with("TIMESTAMP") {
        (
            ValueKind::Timestamp,
            DataType::Timestamp(TimeUnit::Microsecond, None),
        )
    } else {
        // No declared type (an expression), or one without a fixed reading:
        // every value as its text.
        (ValueKind::Text, DataType::Utf8)
    };
    DbColumn {
        name: name.to_string(),
        db_type: declared.unwrap_or("(none)").to_string(),
        kind,
        driver_type: data_type.clone(),
        data_type,
        fetch: d.quote(name),
        value: d.quote(name),
        printed: None,
        not_null: false,
    }
}

pub(super) fn describe(url: &DatabaseUrl, relation: &str) -> Res<Vec<DbColumn>> {
    let conn = open(url)?;
    let statement = conn
        .prepare(&format!("SELECT * FROM {relation} LIMIT 0"))
        .map_err(one_line)?;
    Ok(statement
        .columns()
        .iter()
        .map(|c| column_for(c.name(), c.decl_type()))
        .collect())
}

/// Per-column collector for one batch.
enum Collector {
    Int(Int64Builder),
    Float(Float64Builder),
    Text(StringBuilder),
    Binary(BinaryBuilder),
    /// Read as text, then parsed to the column's type.
    Parsed(StringBuilder),
}

impl Collector {
    fn new(data_type: &DataType) -> Collector {
        match data_type {
            DataType::Int64 => Collector::Int(Int64Builder::new()),
            DataType::Float64 => Collector::Float(Float64Builder::new()),
            DataType::Utf8 => Collector::Text(StringBuilder::new()),
            DataType::Binary => Collector::Binary(BinaryBuilder::new()),
            _ => Collector::Parsed(StringBuilder::new()),
        }
    }

    fn push(&mut self, value: ValueRef<'_>) -> Res<()> {
        let text = |bytes: &[u8]| {
            std::str::from_utf8(bytes)
                .map(str::to_string)
                .map_err(|_| "text that is not UTF-8".to_string())
        };
        match (self, value) {
            (Collector::Int(b), ValueRef::Null) => b.append_null(),
            (Collector::Float(b), ValueRef::Null) => b.append_null(),
            (Collector::Text(b) | Collector::Parsed(b), ValueRef::Null) => b.append_null(),
            (Collector::Binary(b), ValueRef::Null) => b.append_null(),
            (Collector::Int(b), ValueRef::Integer(i)) => b.append_value(i),
            (Collector::Float(b), ValueRef::Integer(i)) => b.append_value(i as f64),
            (Collector::Float(b), ValueRef::Real(f)) => b.append_value(f),
            (Collector::Text(b) | Collector::Parsed(b), ValueRef::Text(t)) => {
                b.append_value(text(t)?)
            }
            (Collector::Text(b) | Collector::Parsed(b), ValueRef::Integer(i)) => {
                b.append_value(i.to_string())
            }
            (Collector::Text(b) | Collector::Parsed(b), ValueRef::Real(f)) => {
                b.append_value(f.to_string())
            }
            (Collector::Binary(b), ValueRef::Blob(v) | ValueRef::Text(v)) => b.append_value(v),
            (_, ValueRef::Integer(i)) => return Err(format!("the integer {i}")),
            (_, ValueRef::Real(f)) => return Err(format!("the number {f}")),
            (_, ValueRef::Text(t)) => {
                return Err(format!("the text {:?}", String::from_utf8_lossy(t)));
            }
            (_, ValueRef::Blob(_)) => return Err("a blob".into()),
        }
        Ok(())
    }

    fn finish(
        self,
        data_type: &DataType,
    ) -> std::result::Result<ArrayRef, arrow::error::ArrowError> {
        Ok(match self {
            Collector::Int(mut b) => Arc::new(b.finish()),
            Collector::Float(mut b) => Arc::new(b.finish()),
            Collector::Text(mut b) => Arc::new(b.finish()),
            Collector::Binary(mut b) => Arc::new(b.finish()),
            Collector::Parsed(mut b) => {
                let text: ArrayRef = Arc::new(b.finish());
                let options = CastOptions {
                    safe: false,
                    ..Default::default()
                };
                cast_with_options(&text, data_type, &options)?
            }
        })
    }
}

pub(super) fn read(
    url: &DatabaseUrl,
    sql: &str,
    schema: &SchemaRef,
    columns: &[DbColumn],
) -> Res<Vec<RecordBatch>> {
    let mut conn = open(url)?;
    // One read transaction: every row from one state of the file.
    let tx = conn.transaction().map_err(one_line)?;
    read_with(&tx, sql, schema, columns)
}

fn read_with(
    conn: &Connection,
    sql: &str,
    schema: &SchemaRef,
    columns: &[DbColumn],
) -> Res<Vec<RecordBatch>> {
    let mut statement = conn.prepare(sql).map_err(one_line)?;
    let mut rows = statement.query([]).map_err(one_line)?;
    let new_collectors = || -> Vec<Collector> {
        columns
            .iter()
            .map(|c| Collector::new(&c.data_type))
            .collect()
    };
    let finish = |collectors: Vec<Collector>| -> Res<RecordBatch> {
        let arrays = collectors
            .into_iter()
            .zip(columns)
            .map(|(c, column)| {
                c.finish(&column.data_type)
                    .map_err(|e| format!("column {}: {}", column.name, one_line(e)))
            })
            .collect::<Res<Vec<_>>>()?;
        RecordBatch::try_new(schema.clone(), arrays).map_err(one_line)
    };
    let mut batches = Vec::new();
    let mut collectors = new_collectors();
    let mut in_batch = 0;
    while let Some(row) = rows.next().map_err(one_line)? {
        for (i, (collector, column)) in collectors.iter_mut().zip(columns).enumerate() {
            let value = row.get_ref(i).map_err(one_line)?;
            collector.push(value).map_err(|found| {
                format!(
                    "column {} (declared {}) holds {found}, which does not fit its type",
                    column.name, column.db_type
                )
            })?;
        }
        in_batch += 1;
        if in_batch == BATCH_ROWS {
            batches.push(finish(std::mem::replace(
                &mut collectors,
                new_collectors(),
            ))?);
            in_batch = 0;
        }
    }
    if in_batch > 0 {
        batches.push(finish(collectors)?);
    }
    Ok(batches)
}

/// Runs a catalog query and returns every value as text (`None` for NULL).
pub(super) fn text_rows(url: &DatabaseUrl, sql: &str) -> Res<super::TextRows> {
    text_rows_on(&open(url)?, sql)
}

/// Runs a query on an open connection; every value as text (`None` for NULL).
pub fn text_rows_on(conn: &Connection, sql: &str) -> Res<super::TextRows> {
    let mut statement = conn.prepare(sql).map_err(one_line)?;
    let width = statement.column_count();
    let mut rows = statement.query([]).map_err(one_line)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(one_line)? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(match row.get_ref(i).map_err(one_line)? {
                ValueRef::Null => None,
                ValueRef::Integer(n) => Some(n.to_string()),
                ValueRef::Real(f) => Some(f.to_string()),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Some(String::from_utf8_lossy(t).into_owned())
                }
            });
        }
        out.push(values);
    }
    Ok(out)
}
