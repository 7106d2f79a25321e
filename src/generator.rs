//! Test-data generator: a pair of files of N rows where the right side has a
//! known set of inserted, deleted and updated rows, and the ground truth of
//! those changes. Every base row is a pure function of (seed, id), so files of
//! any size are written batch by batch in constant memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{Error, Result};
use crate::source::FileFormat;

const BATCH_ROWS: usize = 65_536;
/// 2024-01-01T00:00:00Z in microseconds.
const EPOCH_2024_US: i64 = 1_704_067_200_000_000;
const CATEGORIES: [&str; 6] = ["alpha", "beta", "gamma", "delta", "", "ünïcödé ✓"];
/// Columns an update may change (all but the key).
pub const VALUE_COLUMNS: [&str; 9] = [
    "qty",
    "price",
    "score",
    "name",
    "category",
    "created_at",
    "active",
    "note",
    "amount_cents",
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenSpec {
    pub rows: u64,
    pub inserts: u64,
    pub deletes: u64,
    pub updates: u64,
    pub seed: u64,
    pub format: FileFormat,
    /// Write rows in random order instead of key order.
    pub shuffle: bool,
}

/// The changes the right file holds relative to the left one.
#[derive(Debug, Clone, Serialize)]
pub struct GroundTruth {
    pub left_rows: u64,
    pub right_rows: u64,
    pub only_left: Vec<i64>,
    pub only_right: Vec<i64>,
    pub changed: Vec<ChangedRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangedRow {
    pub id: i64,
    pub columns: Vec<String>,
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("qty", DataType::Int32, false),
        Field::new("price", DataType::Decimal128(12, 2), false),
        Field::new("score", DataType::Float64, true),
        Field::new("name", DataType::Utf8, false),
        Field::new("category", DataType::Utf8, false),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("active", DataType::Boolean, false),
        Field::new("note", DataType::Utf8, true),
        Field::new("amount_cents", DataType::Int64, false),
    ]))
}

/// One row's values; `changed` is a bit set over [`VALUE_COLUMNS`].
struct Row {
    id: i64,
    qty: i32,
    price: i128,
    score: Option<f64>,
    name: String,
    category: &'static str,
    created_at: i64,
    active: bool,
    note: Option<String>,
    amount_cents: i64,
}

fn base_row(seed: u64, id: i64) -> Row {
    let h = |salt: u64| {
        xxh3_64_with_seed(
            &id.to_le_bytes(),
            seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        )
    };
    let note = match h(8) % 10 {
        0..=2 => None,
        3 => Some(String::new()),
        4 => Some("O'Brien said \"hi\", then left; \\ ok".to_string()),
        _ => Some(format!("note {}", h(9) % 100_000)),
    };
    Row {
        id,
        qty: (h(1) % 1000) as i32,
        price: (h(2) % 10_000_000) as i128,
        score: (h(3) % 50 != 0).then(|| (h(4) % 1_000_000) as f64 / 1000.0),
        name: if h(5) % 100 == 0 {
            format!("naïve café {}", h(6) % 1000)
        } else {
            format!("name-{:05x}", h(6) % 1_048_576)
        },
        category: CATEGORIES[(h(7) % CATEGORIES.len() as u64) as usize],
        created_at: EPOCH_2024_US + (h(10) % (3 * 365 * 86_400 * 1_000_000)) as i64,
        active: h(11) % 2 == 0,
        note,
        amount_cents: (h(12) % 100_000_000) as i64 - 50_000_000,
    }
}

/// Changes one to three columns of a row; returns their names.
fn update_row(row: &mut Row, rng: &mut SmallRng) -> Vec<String> {
    let count = rng.random_range(1..=3);
    let mut picked: Vec<usize> = (0..VALUE_COLUMNS.len()).collect();
    picked.shuffle(rng);
    picked.truncate(count);
    picked.sort_unstable();
    for &c in &picked {
        match c {
            0 => row.qty += 1,
            1 => row.price += 1,
            2 => row.score = Some(row.score.map_or(0.5, |s| s + 0.25)),
            3 => row.name.push('*'),
            4 => {
                row.category = if row.category == "alpha" {
                    "beta"
                } else {
                    "alpha"
                }
            }
            5 => row.created_at += 1_000,
            6 => row.active = !row.active,
            // Never "" <-> NULL: a CSV could not show that change.
            7 => {
                row.note = match &row.note {
                    Some(s) if !s.is_empty() => None,
                    _ => Some("added".into()),
                }
            }
            _ => row.amount_cents -= 1,
        }
    }
    picked
        .into_iter()
        .map(|c| VALUE_COLUMNS[c].to_string())
        .collect()
}

/// The base rows (unchanged, as in the left file) of the given ids: for
/// benchmarks and tests that want realistic batches without files.
pub fn base_batch(seed: u64, ids: impl Iterator<Item = i64>) -> Result<RecordBatch> {
    let rows: Vec<Row> = ids.map(|id| base_row(seed, id)).collect();
    to_batch(&rows)
}

fn to_batch(rows: &[Row]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.qty))),
        Arc::new(
            Decimal128Array::from_iter_values(rows.iter().map(|r| r.price))
                .with_precision_and_scale(12, 2)?,
        ),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.score))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.name.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.category),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.created_at))
                .with_timezone("UTC"),
        ),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.active)))),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.note.as_deref()),
        )),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.amount_cents),
        )),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// Writes `left.EXT`, `right.EXT` and `truth.json` into `dir`.
pub fn generate(dir: &Path, spec: &GenSpec) -> Result<GroundTruth> {
    let fail = |path: &Path, e: String| Error::Output {
        path: path.display().to_string(),
        message: e,
    };
    if spec.deletes + spec.updates > spec.rows {
        return Err(Error::Usage(format!(
            "--deletes plus --updates ({}) exceed --rows ({})",
            spec.deletes + spec.updates,
            spec.rows
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e.to_string()))?;
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let n = spec.rows as usize;

    // Per base row: 0 kept, 1 deleted, 2 updated. Inserted keys are odd ids 2j+1.
    let mut fate = vec![0u8; n];
    let touched = rand::seq::index::sample(&mut rng, n, (spec.deletes + spec.updates) as usize);
    for (i, index) in touched.iter().enumerate() {
        fate[index] = if (i as u64) < spec.deletes { 1 } else { 2 };
    }
    let insert_slots = n.max(spec.inserts as usize);
    let mut inserted = vec![false; insert_slots];
    for j in rand::seq::index::sample(&mut rng, insert_slots, spec.inserts as usize) {
        inserted[j] = true;
    }

    let ext = match spec.format {
        FileFormat::Parquet => "parquet",
        FileFormat::Csv => "csv",
        FileFormat::Tsv => "tsv",
        FileFormat::NdJson => "ndjson",
        FileFormat::ArrowIpc => "arrow",
    };
    let left_path = dir.join(format!("left.{ext}"));
    let right_path = dir.join(format!("right.{ext}"));
    let mut left = BatchWriter::create(&left_path, spec.format)?;
    let mut right = BatchWriter::create(&right_path, spec.format)?;
    let mut truth = GroundTruth {
        left_rows: spec.rows,
        right_rows: spec.rows - spec.deletes + spec.inserts,
        only_left: Vec::new(),
        only_right: Vec::new(),
        changed: Vec::new(),
    };
    let mut order_rng = SmallRng::seed_from_u64(spec.seed ^ 0x0dd_0dd);
    let mut start = 0usize;
    while start < insert_slots {
        let end = (start + BATCH_ROWS).min(insert_slots);
        let mut left_rows = Vec::with_capacity(end - start);
        let mut right_rows = Vec::with_capacity(end - start);
        for i in start..end {
            if i < n {
                let id = 2 * i as i64;
                left_rows.push(base_row(spec.seed, id));
                match fate[i] {
                    1 => truth.only_left.push(id),
                    2 => {
                        let mut row = base_row(spec.seed, id);
                        let columns = update_row(&mut row, &mut rng);
                        truth.changed.push(ChangedRow { id, columns });
                        right_rows.push(row);
                    }
                    _ => right_rows.push(base_row(spec.seed, id)),
                }
            }
            if inserted[i] {
                let id = 2 * i as i64 + 1;
                truth.only_right.push(id);
                right_rows.push(base_row(spec.seed, id));
            }
        }
        if spec.shuffle {
            left_rows.shuffle(&mut order_rng);
            right_rows.shuffle(&mut order_rng);
        }
        left.write(&to_batch(&left_rows)?)?;
        right.write(&to_batch(&right_rows)?)?;
        start = end;
    }
    left.finish()?;
    right.finish()?;
    let truth_path = dir.join("truth.json");
    let file = File::create(&truth_path).map_err(|e| fail(&truth_path, e.to_string()))?;
    let mut out = BufWriter::new(file);
    serde_json::to_writer(&mut out, &truth).map_err(|e| fail(&truth_path, e.to_string()))?;
    out.flush().map_err(|e| fail(&truth_path, e.to_string()))?;
    Ok(truth)
}

/// Writes batches in one of the supported file formats.
pub enum BatchWriter {
    Parquet(parquet::arrow::ArrowWriter<File>, PathBuf),
    Csv(arrow::csv::Writer<BufWriter<File>>, PathBuf),
    NdJson(arrow::json::LineDelimitedWriter<BufWriter<File>>, PathBuf),
    Ipc(arrow::ipc::writer::FileWriter<BufWriter<File>>, PathBuf),
}

impl BatchWriter {
    pub fn create(path: &Path, format: FileFormat) -> Result<Self> {
        let fail = |e: String| Error::Output {
            path: path.display().to_string(),
            message: e,
        };
        let file = File::create(path).map_err(|e| fail(e.to_string()))?;
        let p = path.to_path_buf();
        Ok(match format {
            FileFormat::Parquet => BatchWriter::Parquet(
                parquet::arrow::ArrowWriter::try_new(file, schema(), None)
                    .map_err(|e| fail(e.to_string()))?,
                p,
            ),
            FileFormat::Csv => BatchWriter::Csv(arrow::csv::Writer::new(BufWriter::new(file)), p),
            FileFormat::Tsv => BatchWriter::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_delimiter(b'\t')
                    .build(BufWriter::new(file)),
                p,
            ),
            FileFormat::NdJson => BatchWriter::NdJson(
                arrow::json::LineDelimitedWriter::new(BufWriter::new(file)),
                p,
            ),
            FileFormat::ArrowIpc => BatchWriter::Ipc(
                arrow::ipc::writer::FileWriter::try_new(BufWriter::new(file), &schema())
                    .map_err(|e| fail(e.to_string()))?,
                p,
            ),
        })
    }

    fn path(&self) -> &Path {
        match self {
            BatchWriter::Parquet(_, p)
            | BatchWriter::Csv(_, p)
            | BatchWriter::NdJson(_, p)
            | BatchWriter::Ipc(_, p) => p,
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let result = match self {
            BatchWriter::Parquet(w, _) => w.write(batch).map_err(|e| e.to_string()),
            BatchWriter::Csv(w, _) => w.write(batch).map_err(|e| e.to_string()),
            BatchWriter::NdJson(w, _) => w.write(batch).map_err(|e| e.to_string()),
            BatchWriter::Ipc(w, _) => w.write(batch).map_err(|e| e.to_string()),
        };
        result.map_err(|message| Error::Output {
            path: self.path().display().to_string(),
            message,
        })
    }

    pub fn finish(self) -> Result<()> {
        let path = self.path().display().to_string();
        let result = match self {
            BatchWriter::Parquet(w, _) => w.close().map(|_| ()).map_err(|e| e.to_string()),
            BatchWriter::Csv(w, _) => w.into_inner().flush().map_err(|e| e.to_string()),
            BatchWriter::NdJson(mut w, _) => w.finish().map_err(|e| e.to_string()),
            BatchWriter::Ipc(mut w, _) => w.finish().map_err(|e| e.to_string()),
        };
        result.map_err(|message| Error::Output { path, message })
    }
}
