//! CSV and TSV files read in place, as records of text. Opening a source
//! indexes its files in parallel chunks (where records start, see
//! [`super::csv_scan`]): a part is the records that start in one chunk, so
//! any row can be read back by position without a copy of the file. Reads
//! decode with arrow-csv, the parser DataFusion uses, under the schema
//! DataFusion inferred, so values are the ones the general path reads.
//!
//! The merged pass reads these sources as text ([`TextRecords`]): each
//! row's key fields decoded and its compared fields as bytes (the record
//! itself when they are all its fields, in order). Equal text holds equal
//! values under one dialect and one schema, so rows paired by key are
//! compared by their bytes and only the rows that differ are decoded: most
//! of a large export is never parsed into values.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder};
use arrow::csv::ReaderBuilder;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;

use super::csv_scan::{ChunkIndex, QUOTE, Structure, index_chunk, unquote};
use super::{BatchStream, KeyRangeHint, Positional, Source, TextRecords};
use crate::error::{Error, Result, Side, one_line};

/// Bytes per chunk of the index, and so per part: a 64th of the file,
/// within these bounds (many parts for parallel reads of a middling file,
/// reads of a few megabytes for a large one).
const CHUNK_BYTES: std::ops::RangeInclusive<u64> = 512..=8 << 20;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;

/// A header longer than this is not looked for (the source is then read
/// the general way).
const MAX_HEADER_BYTES: u64 = 1 << 20;

/// An indexed file's parts, as (byte range, records).
type IndexedFile = Vec<(Range<u64>, u64)>;

/// The records that start in one chunk of one file.
#[derive(Debug, Clone)]
struct TextPart {
    file: usize,
    bytes: Range<u64>,
}

/// CSV files read in place, by record position.
pub struct CsvTextSource {
    files: Arc<TextFiles>,
}

/// The indexed files, shared with the streams that read them lazily.
struct TextFiles {
    describe: String,
    side: Side,
    schema: SchemaRef,
    delimiter: u8,
    /// Opened for each read, not held: a directory of many files must not
    /// use up the process's file descriptors.
    files: Vec<PathBuf>,
    parts: Vec<TextPart>,
    part_rows: Vec<u64>,
}

impl CsvTextSource {
    /// Indexes `paths` (in order) under `schema`; `None` when they cannot be
    /// read as text records: a header that does not name the schema's
    /// columns in order, or a quote where the CSV parser reads it literally.
    /// The caller then decodes the files the general way.
    pub fn open(
        describe: &str,
        side: Side,
        paths: &[PathBuf],
        schema: SchemaRef,
        delimiter: u8,
        has_header: bool,
    ) -> Result<Option<Self>> {
        if matches!(delimiter, QUOTE | b'\n' | b'\r') {
            return Ok(None);
        }
        let indexed: Vec<Option<IndexedFile>> = paths
            .par_iter()
            .map(|path| {
                index_file(path, &schema, delimiter, has_header).map_err(|message| Error::Read {
                    side,
                    source_name: describe.to_string(),
                    message: format!("{}: {message}", path.display()),
                })
            })
            .collect::<Result<_>>()?;
        let mut files = Vec::with_capacity(paths.len());
        let (mut parts, mut part_rows) = (Vec::new(), Vec::new());
        for (path, index) in paths.iter().zip(indexed) {
            let Some(file_parts) = index else {
                return Ok(None);
            };
            for (bytes, rows) in file_parts {
                parts.push(TextPart {
                    file: files.len(),
                    bytes,
                });
                part_rows.push(rows);
            }
            files.push(path.clone());
        }
        Ok(Some(CsvTextSource {
            files: Arc::new(TextFiles {
                describe: describe.to_string(),
                side,
                schema,
                delimiter,
                files,
                parts,
                part_rows,
            }),
        }))
    }
}

impl TextFiles {
    /// A read failure, named by the file and where the failing records start.
    fn read_error(&self, part: Option<&TextPart>, message: impl std::fmt::Display) -> Error {
        let message = match part {
            Some(part) => format!(
                "{}: {message} (in the records from byte {})",
                self.files[part.file].display(),
                part.bytes.start
            ),
            None => message.to_string(),
        };
        Error::Read {
            side: self.side,
            source_name: self.describe.clone(),
            message,
        }
    }

    /// One part's text.
    fn read_bytes(&self, part: usize) -> Result<(TextPart, Vec<u8>)> {
        let p = self
            .parts
            .get(part)
            .ok_or_else(|| Error::Internal(format!("no text part {part}")))?
            .clone();
        // A batch's texts are addressed by 32-bit offsets; checked before
        // the part is read into memory.
        let len = p.bytes.end - p.bytes.start;
        if len > i32::MAX as u64 {
            return Err(self.read_error(Some(&p), "a record longer than 2 GiB"));
        }
        let mut bytes = vec![0u8; len as usize];
        File::open(&self.files[p.file])
            .and_then(|file| file.read_exact_at(&mut bytes, p.bytes.start))
            .map_err(|e| self.read_error(Some(&p), one_line(e)))?;
        Ok((p, bytes))
    }

    /// Decodes CSV text (whole records) into the columns at `indexes` of
    /// `schema`, as one batch per [`BATCH_ROWS`] rows.
    fn decode_text(
        &self,
        part: Option<&TextPart>,
        schema: &SchemaRef,
        text: &[u8],
        indexes: &[usize],
    ) -> Result<Vec<RecordBatch>> {
        let fail = |e: arrow::error::ArrowError| self.read_error(part, one_line(e));
        let mut decoder = ReaderBuilder::new(Arc::clone(schema))
            .with_header(false)
            .with_delimiter(self.delimiter)
            .with_batch_size(BATCH_ROWS)
            .with_projection(indexes.to_vec())
            .build_decoder();
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let read = decoder.decode(&text[at..]).map_err(fail)?;
            at += read;
            if read == 0 || decoder.capacity() == 0 {
                match decoder.flush().map_err(fail)? {
                    Some(batch) => out.push(batch),
                    None if at >= text.len() => break,
                    None => {}
                }
            }
        }
        Ok(out)
    }

    /// The selected records of a part, each ended by a newline, for the
    /// decoder.
    fn select(
        &self,
        part: usize,
        p: &TextPart,
        bytes: &[u8],
        ranges: &[Range<u64>],
    ) -> Result<Vec<u8>> {
        let structure = Structure::scan(bytes, self.delimiter);
        let mut records = structure.records(0);
        let mut out = Vec::new();
        let (mut row, mut walk) = (0u64, RangeWalk { ranges, at: 0 });
        while let Some(wanted) = walk.wants(row) {
            let Some(record) = records.next_record() else {
                self.check_rows(part, p, row)?;
                break;
            };
            if wanted {
                out.extend_from_slice(&bytes[record.span]);
                out.push(b'\n');
            }
            row += 1;
        }
        Ok(out)
    }

    /// A part read to its end holds the records the index counted, or the
    /// file changed since it was indexed.
    fn check_rows(&self, part: usize, p: &TextPart, rows: u64) -> Result<()> {
        match rows == self.part_rows[part] {
            true => Ok(()),
            false => Err(self.read_error(
                Some(p),
                format!(
                    "{rows} records where the index found {} (did the file change?)",
                    self.part_rows[part]
                ),
            )),
        }
    }

    fn indexes(&self, columns: &[String]) -> Result<Vec<usize>> {
        super::column_indexes(&self.schema, &self.describe, columns)
    }

    fn read_columns(
        &self,
        part: usize,
        indexes: &[usize],
        ranges: Option<&[Range<u64>]>,
    ) -> Result<Vec<RecordBatch>> {
        let (p, bytes) = self.read_bytes(part)?;
        let Some(ranges) = ranges else {
            let batches = self.decode_text(Some(&p), &self.schema, &bytes, indexes)?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            if rows as u64 != self.part_rows[part] {
                return Err(self.read_error(
                    Some(&p),
                    format!(
                        "the CSV parser read {rows} records where recon found {}",
                        self.part_rows[part]
                    ),
                ));
            }
            return Ok(batches);
        };
        let text = self.select(part, &p, &bytes, ranges)?;
        self.decode_text(Some(&p), &self.schema, &text, indexes)
    }

    /// Keys decoded and the text of `fields` as bytes, for [`TextRecords`].
    fn read_text(
        &self,
        part: usize,
        keys: &[usize],
        fields: &[usize],
        ranges: Option<&[Range<u64>]>,
    ) -> Result<Vec<RecordBatch>> {
        let (p, bytes) = self.read_bytes(part)?;
        let columns = self.schema.fields().len();
        // Every field in file order: the record as it stands.
        let whole = fields.iter().copied().eq(0..columns);
        // Keys are decoded from lines of their own fields, with an empty
        // field after them (a line of one empty key would be skipped as an
        // empty line).
        let mut key_fields: Vec<Field> =
            keys.iter().map(|&k| self.schema.field(k).clone()).collect();
        key_fields.push(Field::new("", DataType::Utf8, true));
        let key_schema = Arc::new(Schema::new(key_fields));
        let key_indexes: Vec<usize> = (0..keys.len()).collect();
        let mut out_fields: Vec<Field> = key_schema.fields()[..keys.len()]
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        out_fields.push(Field::new("record", DataType::Binary, false));
        let out_schema = Arc::new(Schema::new(out_fields));

        let structure = Structure::scan(&bytes, self.delimiter);
        let lead = match whole {
            true => keys.iter().max().map_or(0, |&k| k + 1),
            false => keys.iter().chain(fields).max().map_or(0, |&k| k + 1),
        };
        let mut records = structure.records(lead);
        let mut out = Vec::new();
        let mut key_text = Vec::new();
        let mut texts = BinaryBuilder::with_capacity(BATCH_ROWS, bytes.len().min(1 << 20));
        let mut pending = 0usize;
        let mut row = 0u64;
        let mut walk = ranges.map(|ranges| RangeWalk { ranges, at: 0 });
        let mut flush = |key_text: &mut Vec<u8>, texts: &mut BinaryBuilder| -> Result<()> {
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(keys.len() + 1);
            let decoded = self.decode_text(Some(&p), &key_schema, key_text, &key_indexes)?;
            let decoded = arrow::compute::concat_batches(
                &Arc::new(key_schema.project(&key_indexes)?),
                &decoded,
            )?;
            columns.extend(decoded.columns().iter().cloned());
            let texts = texts.finish();
            if decoded.num_rows() != texts.len() {
                return Err(self.read_error(
                    Some(&p),
                    format!(
                        "the CSV parser read {} keys of {} records",
                        decoded.num_rows(),
                        texts.len()
                    ),
                ));
            }
            columns.push(Arc::new(texts));
            out.push(RecordBatch::try_new(Arc::clone(&out_schema), columns)?);
            key_text.clear();
            Ok(())
        };
        let mut stopped_early = false;
        while let Some(record) = records.next_record() {
            match walk.as_mut().map(|w| w.wants(row)) {
                Some(None) => {
                    stopped_early = true;
                    break;
                }
                Some(Some(false)) => {
                    row += 1;
                    continue;
                }
                _ => {}
            }
            row += 1;
            if record.field_count != columns {
                return Err(self.read_error(
                    Some(&p),
                    format!(
                        "a record has {} fields where the file has {columns} columns",
                        record.field_count
                    ),
                ));
            }
            for &k in keys {
                key_text.extend_from_slice(&bytes[record.fields[k].clone()]);
                key_text.push(self.delimiter);
            }
            key_text.push(b'\n');
            if whole {
                texts.append_value(&bytes[record.span]);
            } else {
                // The fields joined as the record joins them: a record of
                // these fields alone.
                let mut text = Vec::with_capacity(record.span.len());
                for (i, &f) in fields.iter().enumerate() {
                    if i > 0 {
                        text.push(self.delimiter);
                    }
                    text.extend_from_slice(&bytes[record.fields[f].clone()]);
                }
                texts.append_value(&text);
            }
            pending += 1;
            if pending == BATCH_ROWS {
                flush(&mut key_text, &mut texts)?;
                pending = 0;
            }
        }
        if !stopped_early {
            self.check_rows(part, &p, row)?;
        }
        if pending > 0 {
            flush(&mut key_text, &mut texts)?;
        }
        Ok(out)
    }
}

/// Sorted, disjoint row ranges, walked alongside the rows in order.
struct RangeWalk<'a> {
    ranges: &'a [Range<u64>],
    at: usize,
}

impl RangeWalk<'_> {
    /// Whether `row` is wanted; `None` once every range lies behind it.
    fn wants(&mut self, row: u64) -> Option<bool> {
        while self.ranges.get(self.at).is_some_and(|r| r.end <= row) {
            self.at += 1;
        }
        self.ranges.get(self.at).map(|r| r.start <= row)
    }
}

/// Finds where a file's records start, chunk by chunk in parallel: its
/// parts as (byte range, records). `Ok(None)`: the file is not one to read
/// as text records (see [`CsvTextSource::open`]).
fn index_file(
    path: &Path,
    schema: &Schema,
    delimiter: u8,
    has_header: bool,
) -> std::result::Result<Option<IndexedFile>, String> {
    let file = File::open(path).map_err(one_line)?;
    let len = file.metadata().map_err(one_line)?.len();
    let read = |range: Range<u64>| -> std::result::Result<Vec<u8>, String> {
        let mut bytes = vec![0u8; (range.end - range.start) as usize];
        file.read_exact_at(&mut bytes, range.start)
            .map_err(one_line)?;
        Ok(bytes)
    };
    let data_start = if has_header {
        let head = read(0..len.min(MAX_HEADER_BYTES))?;
        match header_end(&head, schema, delimiter) {
            Some(end) => end as u64,
            None => return Ok(None),
        }
    } else {
        0
    };
    let chunk_bytes = (len / 64).clamp(*CHUNK_BYTES.start(), *CHUNK_BYTES.end());
    let chunks: Vec<Range<u64>> = (data_start..len)
        .step_by(chunk_bytes as usize)
        .map(|lo| lo..(lo + chunk_bytes).min(len))
        .collect();
    let indexes: Vec<ChunkIndex> = chunks
        .par_iter()
        .map(|chunk| {
            let lo = chunk.start.saturating_sub(1);
            let hi = (chunk.end + 1).min(len);
            let bytes = read(lo..hi)?;
            let before = (chunk.start > 0).then(|| bytes[0]);
            let body = &bytes[(chunk.start - lo) as usize..(chunk.end - lo) as usize];
            let after = (chunk.end < len).then(|| bytes[bytes.len() - 1]);
            let after_term = chunk.start == data_start || matches!(before, Some(b'\n' | b'\r'));
            Ok(index_chunk(before, body, after, delimiter, after_term))
        })
        .collect::<std::result::Result<_, String>>()?;
    let mut starts: Vec<(u64, u64)> = Vec::new();
    let mut state = 0usize;
    for (chunk, index) in chunks.iter().zip(&indexes) {
        if !index.valid[state] {
            return Ok(None);
        }
        if let Some(first) = index.first[state] {
            starts.push((chunk.start + first as u64, index.starts[state]));
        }
        state ^= index.flips as usize;
    }
    // A quote still open at the end of the file: csv-core ends the field
    // there, but a record read back with a line end after it would take
    // the line end into the field. Read such a file the general way.
    if state == 1 {
        return Ok(None);
    }
    let parts = starts
        .iter()
        .enumerate()
        .map(|(i, &(start, rows))| {
            let end = starts.get(i + 1).map_or(len, |next| next.0);
            (start..end, rows)
        })
        .collect();
    Ok(Some(parts))
}

/// Where the data starts after the header, if the header names the
/// schema's columns in order.
fn header_end(head: &[u8], schema: &Schema, delimiter: u8) -> Option<usize> {
    let index = index_chunk(None, head, None, delimiter, true);
    let structure = Structure::scan(head, delimiter);
    let columns = schema.fields().len();
    let mut records = structure.records(columns + 1);
    let record = records.next_record()?;
    // The header must end inside the bytes read, and its quotes must be
    // ones the parser reads as quotes.
    if record.span.end >= head.len() || !index.valid[0] || record.span.start != 0 {
        return None;
    }
    let names_match = record.field_count == columns
        && record
            .fields
            .iter()
            .zip(schema.fields())
            .all(|(span, field)| unquote(&head[span.clone()]) == field.name().as_bytes());
    names_match.then_some(record.span.end + 1)
}

impl Source for CsvTextSource {
    fn describe(&self) -> &str {
        &self.files.describe
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.files.schema)
    }

    fn distinguishes_empty_from_null(&self) -> bool {
        false
    }

    fn declares_nullability(&self) -> bool {
        false
    }

    fn scan(&self, columns: &[String], _hint: Option<&KeyRangeHint>) -> Result<Vec<BatchStream>> {
        super::scan_by_part(self, columns)
    }

    fn positional(&self) -> Option<&dyn Positional> {
        Some(self)
    }
}

/// A part's batches, read when first polled (a scan opens every part's
/// stream at once).
fn lazily(read: impl FnOnce() -> Result<Vec<RecordBatch>> + Send + 'static) -> BatchStream {
    Box::new(
        std::iter::once_with(read).flat_map(|batches| match batches {
            Ok(batches) => batches.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        }),
    )
}

impl Positional for CsvTextSource {
    fn part_rows(&self) -> &[u64] {
        &self.files.part_rows
    }

    fn files(&self) -> &[PathBuf] {
        &self.files.files
    }

    fn part_file(&self, part: usize) -> Option<usize> {
        self.files.parts.get(part).map(|p| p.file)
    }

    fn read_part(
        &self,
        part: usize,
        columns: &[String],
        ranges: Option<&[Range<u64>]>,
    ) -> Result<BatchStream> {
        let indexes = self.files.indexes(columns)?;
        let (files, ranges) = (Arc::clone(&self.files), ranges.map(<[_]>::to_vec));
        Ok(lazily(move || {
            files.read_columns(part, &indexes, ranges.as_deref())
        }))
    }

    fn sparse_reads(&self) -> bool {
        true
    }

    fn text_records(&self) -> Option<&dyn TextRecords> {
        Some(self)
    }
}

impl TextRecords for CsvTextSource {
    fn delimiter(&self) -> u8 {
        self.files.delimiter
    }

    fn read_part_text(
        &self,
        part: usize,
        keys: &[String],
        fields: &[String],
        ranges: Option<&[Range<u64>]>,
    ) -> Result<BatchStream> {
        let keys = self.files.indexes(keys)?;
        let fields = self.files.indexes(fields)?;
        let (files, ranges) = (Arc::clone(&self.files), ranges.map(<[_]>::to_vec));
        Ok(lazily(move || {
            files.read_text(part, &keys, &fields, ranges.as_deref())
        }))
    }

    fn decode(&self, records: &ArrayRef, fields: &[String]) -> Result<RecordBatch> {
        let files = &self.files;
        let schema = Arc::new(files.schema.project(&files.indexes(fields)?)?);
        // Each text ends with an empty field of its own, so that a text of
        // one empty field is not taken for an empty line.
        let mut padded: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        padded.push(Field::new("", DataType::Utf8, true));
        let padded = Arc::new(Schema::new(padded));
        let records = records.as_binary::<i32>();
        let mut text = Vec::with_capacity(records.values().len() + 2 * records.len());
        for record in records.iter().flatten() {
            text.extend_from_slice(record);
            text.push(files.delimiter);
            text.push(b'\n');
        }
        let all: Vec<usize> = (0..fields.len()).collect();
        let batches = files.decode_text(None, &padded, &text, &all)?;
        let batch = arrow::compute::concat_batches(&schema, &batches)?;
        if batch.num_rows() != records.len() {
            return Err(Error::Internal(format!(
                "{} records decoded as {} rows",
                records.len(),
                batch.num_rows()
            )));
        }
        Ok(batch)
    }
}
