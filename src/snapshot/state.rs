//! A state directory (`--state DIR`): each side's snapshot, and beside it
//! what the hashing pass learned about each part of each file (its
//! contribution to every leaf, its chunk map and key order), so that the
//! next run reads only the files that changed.
//!
//! `DIR/left.snapshot.parquet` and `DIR/right.snapshot.parquet` are plain
//! snapshots (usable as a side of `recon diff`); `DIR/left.parts.arrow` and
//! `DIR/right.parts.arrow` (Arrow IPC) hold the parts. Both are replaced
//! whole at the end of a successful run, never left half-written.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, RecordBatch, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, UInt32Type, UInt64Type};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;

use super::Snapshot;
use crate::error::{Error, Result, Side, one_line};
use crate::merkle::{Digest, PartRecord};

/// One side's state: its snapshot, and per file of the snapshot, the
/// records of its parts in order.
#[derive(Debug, Clone)]
pub struct SideState {
    pub snapshot: Snapshot,
    pub parts: Vec<Vec<PartRecord>>,
}

/// A directory that keeps state between runs.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn snapshot_path(&self, side: Side) -> PathBuf {
        self.path.join(format!("{}.snapshot.parquet", side.name()))
    }

    fn parts_path(&self, side: Side) -> PathBuf {
        self.path.join(format!("{}.parts.arrow", side.name()))
    }

    /// The state a run left for `side`: `Ok(None)` when there is none yet,
    /// `Err(reason)` when there is one this run cannot use (damaged,
    /// another version): the caller starts afresh and says why.
    pub fn load(&self, side: Side) -> std::result::Result<Option<SideState>, String> {
        let snapshot_path = self.snapshot_path(side);
        if !snapshot_path.exists() {
            return Ok(None);
        }
        let snapshot = Snapshot::read(&snapshot_path.to_string_lossy()).map_err(one_line)?;
        if snapshot.meta.recon != env!("CARGO_PKG_VERSION") {
            return Err(format!(
                "the {} state was written by recon {}",
                side.name(),
                snapshot.meta.recon
            ));
        }
        let parts = read_parts(&self.parts_path(side), snapshot.meta.files.len())
            .map_err(|e| format!("{}: {e}", self.parts_path(side).display()))?;
        Ok(Some(SideState { snapshot, parts }))
    }

    /// Replaces `side`'s state.
    pub fn save(&self, side: Side, state: &SideState) -> Result<()> {
        std::fs::create_dir_all(&self.path).map_err(|e| Error::Output {
            path: self.path.display().to_string(),
            message: one_line(e),
        })?;
        let parts_path = self.parts_path(side).to_string_lossy().into_owned();
        let mut out = crate::output::OutputFile::create(&parts_path)?;
        let fail = |e: String| Error::Output {
            path: parts_path.clone(),
            message: e,
        };
        let batch = parts_batch(&state.parts)?;
        let file = out.file().try_clone().map_err(|e| fail(one_line(e)))?;
        let mut writer =
            FileWriter::try_new(file, &batch.schema()).map_err(|e| fail(one_line(e)))?;
        writer.write(&batch).map_err(|e| fail(one_line(e)))?;
        writer.finish().map_err(|e| fail(one_line(e)))?;
        drop(writer);
        out.commit()?;
        state
            .snapshot
            .write(&self.snapshot_path(side).to_string_lossy())
    }
}

fn parts_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("file", DataType::UInt32, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("null_key_rows", DataType::UInt64, false),
        Field::new("increasing", DataType::Boolean, false),
        Field::new("low", DataType::Binary, true),
        Field::new("high", DataType::Binary, true),
        // Per chunk, its smallest and largest leaf: little-endian u32 pairs.
        Field::new("chunks", DataType::Binary, false),
        // Per leaf with rows: leaf u32, rows u64, digest u128, little-endian.
        Field::new("leaves", DataType::Binary, false),
    ]))
}

/// Bytes per leaf entry in the `leaves` column.
const LEAF_ENTRY: usize = 4 + 8 + 16;

fn parts_batch(files: &[Vec<PartRecord>]) -> Result<RecordBatch> {
    let records: Vec<(u32, &PartRecord)> = files
        .iter()
        .enumerate()
        .flat_map(|(f, parts)| parts.iter().map(move |p| (f as u32, p)))
        .collect();
    let chunks: Vec<Vec<u8>> = records
        .iter()
        .map(|(_, p)| {
            p.chunks
                .iter()
                .flat_map(|&(l, h)| l.to_le_bytes().into_iter().chain(h.to_le_bytes()))
                .collect()
        })
        .collect();
    let leaves: Vec<Vec<u8>> = records
        .iter()
        .map(|(_, p)| {
            let mut out = Vec::with_capacity(p.leaves.len() * LEAF_ENTRY);
            for (leaf, d) in &p.leaves {
                out.extend_from_slice(&leaf.to_le_bytes());
                out.extend_from_slice(&d.rows.to_le_bytes());
                out.extend_from_slice(&d.sum.to_le_bytes());
            }
            out
        })
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(records.iter().map(|r| r.0))),
        Arc::new(UInt64Array::from_iter_values(
            records.iter().map(|r| r.1.rows),
        )),
        Arc::new(UInt64Array::from_iter_values(
            records.iter().map(|r| r.1.null_key_rows),
        )),
        Arc::new(BooleanArray::from_iter(
            records.iter().map(|r| Some(r.1.increasing)),
        )),
        Arc::new(BinaryArray::from_iter(
            records.iter().map(|r| r.1.low.as_deref()),
        )),
        Arc::new(BinaryArray::from_iter(
            records.iter().map(|r| r.1.high.as_deref()),
        )),
        Arc::new(BinaryArray::from_iter_values(chunks.iter())),
        Arc::new(BinaryArray::from_iter_values(leaves.iter())),
    ];
    Ok(RecordBatch::try_new(parts_schema(), columns)?)
}

fn read_parts(path: &Path, files: usize) -> std::result::Result<Vec<Vec<PartRecord>>, String> {
    let file = File::open(path).map_err(one_line)?;
    let reader = FileReader::try_new(file, None).map_err(one_line)?;
    let mut out: Vec<Vec<PartRecord>> = vec![Vec::new(); files];
    for batch in reader {
        let batch = batch.map_err(one_line)?;
        if batch.schema().fields() != parts_schema().fields() {
            return Err("damaged: unexpected columns".into());
        }
        let c = batch.columns();
        let file = c[0].as_primitive::<UInt32Type>();
        let rows = c[1].as_primitive::<UInt64Type>();
        let null_key_rows = c[2].as_primitive::<UInt64Type>();
        let increasing = c[3].as_boolean();
        let (low, high) = (c[4].as_binary::<i32>(), c[5].as_binary::<i32>());
        let (chunks, leaves) = (c[6].as_binary::<i32>(), c[7].as_binary::<i32>());
        for i in 0..batch.num_rows() {
            let key = |a: &BinaryArray| (!a.is_null(i)).then(|| a.value(i).into());
            let chunk_bytes = chunks.value(i);
            let leaf_bytes = leaves.value(i);
            if chunk_bytes.len() % 8 != 0 || leaf_bytes.len() % LEAF_ENTRY != 0 {
                return Err("damaged: a part's chunk map or leaves".into());
            }
            let word = |b: &[u8], at: usize| {
                u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
            };
            let record = PartRecord {
                rows: rows.value(i),
                null_key_rows: null_key_rows.value(i),
                leaves: leaf_bytes
                    .chunks_exact(LEAF_ENTRY)
                    .map(|e| {
                        let mut rows = [0u8; 8];
                        rows.copy_from_slice(&e[4..12]);
                        let mut sum = [0u8; 16];
                        sum.copy_from_slice(&e[12..28]);
                        (
                            word(e, 0),
                            Digest {
                                rows: u64::from_le_bytes(rows),
                                sum: u128::from_le_bytes(sum),
                            },
                        )
                    })
                    .collect(),
                chunks: chunk_bytes
                    .chunks_exact(8)
                    .map(|c| (word(c, 0), word(c, 4)))
                    .collect(),
                increasing: increasing.value(i),
                low: key(low),
                high: key(high),
            };
            out.get_mut(file.value(i) as usize)
                .ok_or("damaged: a part of an unknown file")?
                .push(record);
        }
    }
    Ok(out)
}
