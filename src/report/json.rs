//! JSON (one object, the contract) and NDJSON (a header line without the
//! differences, then one line per difference).

use std::io::Write;

use super::Report;
use crate::error::{Error, Result};

pub fn write_json(report: &Report, out: &mut dyn Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(io_error)?;
    writeln!(out).map_err(io_error)
}

pub fn write_ndjson(report: &Report, out: &mut dyn Write) -> Result<()> {
    let mut header = serde_json::to_value(report).map_err(io_error)?;
    if let Some(object) = header.as_object_mut() {
        object.remove("diffs");
    }
    serde_json::to_writer(&mut *out, &header).map_err(io_error)?;
    writeln!(out).map_err(io_error)?;
    for diff in &report.diffs {
        serde_json::to_writer(&mut *out, diff).map_err(io_error)?;
        writeln!(out).map_err(io_error)?;
    }
    Ok(())
}

fn io_error(e: impl std::fmt::Display) -> Error {
    Error::Output {
        path: "standard output".into(),
        message: e.to_string(),
    }
}
