//! JSON (one object, the contract) and NDJSON (a header line without the
//! differences, then one line per difference).

use std::io::Write;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct, Serializer};
use serde_json::{Map, Value};

use super::{DiffRecords, Mask, Report, RowAt};
use crate::compare::rows::KeyDiff;
use crate::error::{Error, Result, Side};

/// Every difference of a comparison, to be listed in JSON or NDJSON one
/// record at a time, where the report itself holds only a sample of them.
pub struct Listing<'a> {
    pub records: DiffRecords<'a>,
    /// The comparison's differences, ordered by key.
    pub diffs: &'a [KeyDiff],
    /// List at most this many (`--max-diffs`).
    pub limit: Option<usize>,
    pub mask: &'a Mask,
}

impl Listing<'_> {
    fn listed(&self) -> usize {
        self.diffs.len().min(self.limit.unwrap_or(usize::MAX))
    }

    /// The report as JSON values, its `diffs_truncated` as the listing has it.
    fn head(&self, report: &Report) -> Result<Map<String, Value>> {
        let mut head = match serde_json::to_value(report).map_err(io_error)? {
            Value::Object(map) => map,
            _ => return Err(io_error("the report is not a JSON object")),
        };
        head.insert(
            "diffs_truncated".into(),
            Value::Bool(self.diffs.len() > self.listed()),
        );
        Ok(head)
    }

    /// The differences listed, each written straight from the rows.
    fn records(&self) -> impl Iterator<Item = RecordView<'_>> + '_ {
        self.diffs[..self.listed()]
            .iter()
            .map(move |diff| RecordView {
                listing: self,
                diff,
            })
    }
}

/// One difference serialized as its [`super::DiffRecord`] would be (the
/// same fields, values and masks) without building the record's maps.
struct RecordView<'a> {
    listing: &'a Listing<'a>,
    diff: &'a KeyDiff,
}

impl Serialize for RecordView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let r = &self.listing.records;
        let d = self.diff;
        let masked = |at| RowView {
            at,
            mask: self.listing.mask,
        };
        let mut record = s.serialize_struct("DiffRecord", 5)?;
        record.serialize_field("status", &d.status)?;
        match r.key_at(d.left, d.right) {
            Some(key) => record.serialize_field("key", &masked(key))?,
            None => record.serialize_field("key", &Map::new())?,
        }
        record.serialize_field("columns", &r.changed_columns(d))?;
        let left = d.left.map(|l| masked(r.values_at(Side::Left, l)));
        record.serialize_field("left", &left)?;
        let right = d.right.map(|k| masked(r.values_at(Side::Right, k)));
        record.serialize_field("right", &right)?;
        record.end()
    }
}

/// A row's named values as a JSON object, masked columns hidden.
struct RowView<'r, 'a> {
    at: RowAt<'r, 'a>,
    mask: &'r Mask,
}

impl Serialize for RowView<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let at = &self.at;
        let mut map = s.serialize_map(Some(at.names.len()))?;
        for (name, renderer) in at.names.iter().zip(at.renderers) {
            if self.mask.hides(name) {
                map.serialize_entry(name, super::MASKED)?;
            } else {
                map.serialize_entry(name, &renderer.json(at.row))?;
            }
        }
        map.end()
    }
}

/// The report's fields in order, `diffs` written from the listing.
struct Listed<'a> {
    head: Map<String, Value>,
    listing: &'a Listing<'a>,
}

impl Serialize for Listed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.head.len()))?;
        for (name, value) in &self.head {
            if name == "diffs" {
                map.serialize_entry(name, &Records(self.listing))?;
            } else {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

struct Records<'a>(&'a Listing<'a>);

impl Serialize for Records<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.listed()))?;
        for record in self.0.records() {
            seq.serialize_element(&record)?;
        }
        seq.end()
    }
}

/// [`write_json`] of `report` listing every difference of `listing`: byte
/// for byte the JSON of a report that holds them all, without holding them.
pub fn write_json_listing(
    report: &Report,
    listing: &Listing<'_>,
    out: &mut dyn Write,
) -> Result<()> {
    let listed = Listed {
        head: listing.head(report)?,
        listing,
    };
    serde_json::to_writer_pretty(&mut *out, &listed).map_err(io_error)?;
    writeln!(out).map_err(io_error)
}

/// [`write_ndjson`] of `report` listing every difference of `listing`.
pub fn write_ndjson_listing(
    report: &Report,
    listing: &Listing<'_>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut header = listing.head(report)?;
    header.remove("diffs");
    serde_json::to_writer(&mut *out, &header).map_err(io_error)?;
    writeln!(out).map_err(io_error)?;
    for record in listing.records() {
        serde_json::to_writer(&mut *out, &record).map_err(io_error)?;
        writeln!(out).map_err(io_error)?;
    }
    Ok(())
}

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
