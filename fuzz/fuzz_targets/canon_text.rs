//! Text compared with typed values: each line of the input parsed as a
//! number, decimal, date or timestamp by the canonical forms, and as a
//! database decimal's text; errors are fine, panics are not.
#![no_main]

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, TimeUnit};
use libfuzzer_sys::fuzz_target;
use recon::Side;
use recon::canon::ColumnPlan;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let values: ArrayRef = Arc::new(StringArray::from_iter(
        text.split('\n').map(|l| (l != "\\N").then_some(l)),
    ));
    for target in [
        DataType::Int64,
        DataType::Float64,
        DataType::Decimal128(38, 10),
        DataType::Decimal128(10, 0),
        DataType::Date32,
        DataType::Timestamp(TimeUnit::Microsecond, None),
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        DataType::Boolean,
    ] {
        if let Ok(plan) = ColumnPlan::new("c", "c", &DataType::Utf8, &target) {
            let _ = plan.canonicalize(&values, Side::Left);
        }
    }
    for line in text.split('\n') {
        let _ = recon::source::db::decimal_text::parse(line, 76, 10);
        let _ = recon::source::db::decimal_text::parse(line, 38, 0);
    }
});
