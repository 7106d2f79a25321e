//! Driver rows into Arrow columns.
//!
//! recon's fetch expressions leave only plain wire types: integers,
//! floats, booleans, text and bytes. Dates and timestamps arrive as epoch
//! integers or text and decimals as exact text; [`super::conform`] turns
//! those into their Arrow types afterwards. So one small builder per wire
//! type is all either driver needs, and a value that does not fit its
//! column is an error naming the column, never a silent NULL.

use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, ArrowPrimitiveType, BinaryBuilder, BooleanBuilder, PrimitiveBuilder, StringBuilder,
};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, SchemaRef,
    UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::record_batch::RecordBatch;

type Res<T> = std::result::Result<T, String>;

/// One value as a driver hands it over.
#[derive(Debug, Clone, Copy)]
pub(super) enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float32(f32),
    Float64(f64),
    /// A number or string in the server's text form (MySQL's text protocol).
    Text(&'a [u8]),
}

enum Builder {
    Boolean(BooleanBuilder),
    Int8(PrimitiveBuilder<Int8Type>),
    Int16(PrimitiveBuilder<Int16Type>),
    Int32(PrimitiveBuilder<Int32Type>),
    Int64(PrimitiveBuilder<Int64Type>),
    UInt8(PrimitiveBuilder<UInt8Type>),
    UInt16(PrimitiveBuilder<UInt16Type>),
    UInt32(PrimitiveBuilder<UInt32Type>),
    UInt64(PrimitiveBuilder<UInt64Type>),
    Float32(PrimitiveBuilder<Float32Type>),
    Float64(PrimitiveBuilder<Float64Type>),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
}

impl Builder {
    fn append_null(&mut self) {
        match self {
            Builder::Boolean(b) => b.append_null(),
            Builder::Int8(b) => b.append_null(),
            Builder::Int16(b) => b.append_null(),
            Builder::Int32(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::UInt8(b) => b.append_null(),
            Builder::UInt16(b) => b.append_null(),
            Builder::UInt32(b) => b.append_null(),
            Builder::UInt64(b) => b.append_null(),
            Builder::Float32(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Utf8(b) => b.append_null(),
            Builder::Binary(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Boolean(b) => Arc::new(b.finish()),
            Builder::Int8(b) => Arc::new(b.finish()),
            Builder::Int16(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::UInt8(b) => Arc::new(b.finish()),
            Builder::UInt16(b) => Arc::new(b.finish()),
            Builder::UInt32(b) => Arc::new(b.finish()),
            Builder::UInt64(b) => Arc::new(b.finish()),
            Builder::Float32(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
        }
    }
}

/// The columns of one batch, built value by value in row order.
pub(super) struct Columns {
    schema: SchemaRef,
    builders: Vec<Builder>,
}

impl Columns {
    /// Builders for `schema`'s wire types (the driver schema of the fetch).
    pub(super) fn new(schema: &SchemaRef, rows: usize) -> Res<Columns> {
        let builders = schema
            .fields()
            .iter()
            .map(|f| {
                Ok(match f.data_type() {
                    DataType::Boolean => Builder::Boolean(BooleanBuilder::with_capacity(rows)),
                    DataType::Int8 => Builder::Int8(PrimitiveBuilder::with_capacity(rows)),
                    DataType::Int16 => Builder::Int16(PrimitiveBuilder::with_capacity(rows)),
                    DataType::Int32 => Builder::Int32(PrimitiveBuilder::with_capacity(rows)),
                    DataType::Int64 => Builder::Int64(PrimitiveBuilder::with_capacity(rows)),
                    DataType::UInt8 => Builder::UInt8(PrimitiveBuilder::with_capacity(rows)),
                    DataType::UInt16 => Builder::UInt16(PrimitiveBuilder::with_capacity(rows)),
                    DataType::UInt32 => Builder::UInt32(PrimitiveBuilder::with_capacity(rows)),
                    DataType::UInt64 => Builder::UInt64(PrimitiveBuilder::with_capacity(rows)),
                    DataType::Float32 => Builder::Float32(PrimitiveBuilder::with_capacity(rows)),
                    DataType::Float64 => Builder::Float64(PrimitiveBuilder::with_capacity(rows)),
                    DataType::Utf8 => Builder::Utf8(StringBuilder::with_capacity(rows, rows * 8)),
                    DataType::Binary => {
                        Builder::Binary(BinaryBuilder::with_capacity(rows, rows * 8))
                    }
                    other => {
                        return Err(format!(
                            "column {}: no reader for the wire type {other}",
                            f.name()
                        ));
                    }
                })
            })
            .collect::<Res<Vec<_>>>()?;
        Ok(Columns {
            schema: schema.clone(),
            builders,
        })
    }

    /// Where each result column goes, by name: the driver's columns may
    /// come in another order or include some the schema does not read.
    pub(super) fn positions<'n>(&self, names: impl Iterator<Item = &'n str>) -> Vec<Option<usize>> {
        names.map(|n| self.schema.index_of(n).ok()).collect()
    }

    /// Appends the value of column `index` of the current row.
    pub(super) fn push(&mut self, index: usize, cell: Cell<'_>) -> Res<()> {
        let fits = match (&mut self.builders[index], cell) {
            (builder, Cell::Null) => {
                builder.append_null();
                true
            }
            (Builder::Boolean(b), Cell::Bool(v)) => {
                b.append_value(v);
                true
            }
            (Builder::Int8(b), cell) => integer(b, cell),
            (Builder::Int16(b), cell) => integer(b, cell),
            (Builder::Int32(b), cell) => integer(b, cell),
            (Builder::Int64(b), cell) => integer(b, cell),
            (Builder::UInt8(b), cell) => integer(b, cell),
            (Builder::UInt16(b), cell) => integer(b, cell),
            (Builder::UInt32(b), cell) => integer(b, cell),
            (Builder::UInt64(b), cell) => integer(b, cell),
            (Builder::Float32(b), Cell::Float32(v)) => {
                b.append_value(v);
                true
            }
            (Builder::Float64(b), Cell::Float64(v)) => {
                b.append_value(v);
                true
            }
            (Builder::Float64(b), Cell::Float32(v)) => {
                b.append_value(f64::from(v));
                true
            }
            (Builder::Float32(b), Cell::Text(t)) => parsed(b, t),
            (Builder::Float64(b), Cell::Text(t)) => parsed(b, t),
            (Builder::Utf8(b), Cell::Text(t)) => match std::str::from_utf8(t) {
                Ok(text) => {
                    b.append_value(text);
                    true
                }
                Err(_) => false,
            },
            (Builder::Binary(b), Cell::Text(t)) => {
                b.append_value(t);
                true
            }
            _ => false,
        };
        if fits {
            return Ok(());
        }
        let field = self.schema.field(index);
        Err(format!(
            "column {}: the driver's value {} does not fit {}",
            field.name(),
            shown(cell),
            field.data_type()
        ))
    }

    pub(super) fn finish(mut self) -> Res<RecordBatch> {
        let columns = self.builders.iter_mut().map(Builder::finish).collect();
        RecordBatch::try_new(self.schema, columns).map_err(crate::error::one_line)
    }
}

/// An integer column takes integers that fit it exactly, or their text.
fn integer<T>(b: &mut PrimitiveBuilder<T>, cell: Cell<'_>) -> bool
where
    T: ArrowPrimitiveType,
    T::Native: TryFrom<i64> + TryFrom<u64> + FromStr,
{
    let value = match cell {
        Cell::Int(v) => T::Native::try_from(v).ok(),
        Cell::UInt(v) => T::Native::try_from(v).ok(),
        Cell::Text(t) => return parsed(b, t),
        _ => None,
    };
    value.map(|v| b.append_value(v)).is_some()
}

/// A number in the server's text form, parsed exactly (floats correctly rounded).
fn parsed<T>(b: &mut PrimitiveBuilder<T>, text: &[u8]) -> bool
where
    T: ArrowPrimitiveType,
    T::Native: FromStr,
{
    let value = std::str::from_utf8(text).ok().and_then(|t| t.parse().ok());
    value.map(|v| b.append_value(v)).is_some()
}

/// A value for an error message: its text cut short, bytes as their count.
fn shown(cell: Cell<'_>) -> String {
    match cell {
        Cell::Null => "NULL".into(),
        Cell::Bool(v) => v.to_string(),
        Cell::Int(v) => v.to_string(),
        Cell::UInt(v) => v.to_string(),
        Cell::Float32(v) => v.to_string(),
        Cell::Float64(v) => v.to_string(),
        Cell::Text(t) => match std::str::from_utf8(t) {
            Ok(s) if s.chars().count() <= 40 => format!("{s:?}"),
            Ok(s) => format!("{:?}...", s.chars().take(40).collect::<String>()),
            Err(_) => format!("of {} bytes (not UTF-8)", t.len()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Field, Schema};

    fn columns(types: &[DataType]) -> Columns {
        let schema = Schema::new(
            types
                .iter()
                .enumerate()
                .map(|(i, t)| Field::new(format!("c{i}"), t.clone(), true))
                .collect::<Vec<_>>(),
        );
        Columns::new(&Arc::new(schema), 4).unwrap()
    }

    #[test]
    fn text_and_typed_values_land_in_their_columns() {
        let mut c = columns(&[
            DataType::Int8,
            DataType::UInt64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Binary,
        ]);
        let rows: [[Cell; 5]; 3] = [
            [
                Cell::Text(b"-128"),
                Cell::Text(b"18446744073709551615"),
                Cell::Text(b"1e-7"),
                Cell::Text("é".as_bytes()),
                Cell::Text(&[0, 255]),
            ],
            [
                Cell::Int(127),
                Cell::UInt(0),
                Cell::Float64(-0.0),
                Cell::Text(b""),
                Cell::Text(b""),
            ],
            [Cell::Null; 5],
        ];
        for row in rows {
            for (i, cell) in row.into_iter().enumerate() {
                c.push(i, cell).unwrap();
            }
        }
        let batch = c.finish().unwrap();
        assert_eq!(batch.num_rows(), 3);
        let i8s = batch.column(0).as_primitive::<Int8Type>();
        assert_eq!((i8s.value(0), i8s.value(1)), (-128, 127));
        let u64s = batch.column(1).as_primitive::<UInt64Type>();
        assert_eq!(u64s.value(0), u64::MAX);
        let f64s = batch.column(2).as_primitive::<Float64Type>();
        assert_eq!(f64s.value(0), 1e-7);
        assert!(f64s.value(1).is_sign_negative());
        assert_eq!(batch.column(3).as_string::<i32>().value(0), "é");
        assert_eq!(batch.column(4).as_binary::<i32>().value(0), &[0, 255]);
        for column in batch.columns() {
            assert!(column.is_null(2) && !column.is_null(1));
        }
    }

    #[test]
    fn a_value_that_does_not_fit_is_an_error_naming_the_column() {
        let mut c = columns(&[DataType::Int8, DataType::Utf8, DataType::Int32]);
        let e = c.push(0, Cell::Int(128)).unwrap_err();
        assert_eq!(e, "column c0: the driver's value 128 does not fit Int8");
        let e = c.push(1, Cell::Text(&[0xff, 0xfe])).unwrap_err();
        assert!(e.contains("column c1") && e.contains("not UTF-8"), "{e}");
        let e = c.push(2, Cell::Text(b"12.5")).unwrap_err();
        assert!(e.contains("\"12.5\" does not fit Int32"), "{e}");
        assert!(c.push(2, Cell::Float64(1.0)).is_err());
    }

    #[test]
    fn a_wire_type_without_a_reader_is_refused() {
        let schema = Arc::new(Schema::new(vec![Field::new("d", DataType::Date32, true)]));
        let e = Columns::new(&schema, 1).err().unwrap();
        assert_eq!(e, "column d: no reader for the wire type Date32");
    }
}
