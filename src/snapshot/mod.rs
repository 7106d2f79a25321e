//! Snapshots: one side's Merkle leaves kept in a file, so that a later run
//! can compare against them without the rows (drift over time, two parties
//! that may not share rows) or reuse them (`--state`).
//!
//! A snapshot is a Parquet file any Parquet tool can open: one row per leaf
//! (its row count, its digest and its lower bound as key values) and, for a
//! source of several files, one row per file and leaf it has rows in (that
//! file's contribution). The key-value metadata `recon.snapshot` holds, as
//! JSON, the format version, how the digests were computed ([`HashPlan`]),
//! the run's digest key, the source's redacted description, the files'
//! identities and the creation time. No row values other than the leaves'
//! lower bounds.

mod identity;
pub mod journal;
pub mod state;

use std::fs::File;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryArray, RecordBatch, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

pub use identity::FileIdentity;

use crate::canon::{self, ColumnPlan};
use crate::error::{Error, Result, Side, one_line};
use crate::merkle::{Boundaries, Digest, PartRecord, SideLeaves};
use crate::plan::ComparePlan;

/// The `format` a snapshot's metadata names.
pub const FORMAT: &str = "recon-snapshot";
/// The snapshot layout this build writes and reads.
pub const VERSION: u32 = 1;
/// The Parquet key-value metadata entry that holds [`SnapshotMeta`].
const METADATA_KEY: &str = "recon.snapshot";

/// How one column entered the digests: what a later run must hash alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashedColumn {
    /// The column's name in the source.
    pub name: String,
    /// Its type in the source, as Arrow writes it.
    pub source_type: String,
    pub nullable: bool,
    /// The type its values were compared as.
    pub compared_as: String,
    pub empty_is_null: bool,
    /// The comparison rule's effect on hashing ("" when none).
    pub rule: String,
}

impl HashedColumn {
    fn of(column: &ColumnPlan, side: Side, nullable: bool) -> Self {
        let r = &column.rule;
        let mut rule = Vec::new();
        if r.trim {
            rule.push("trim".to_string());
        }
        if r.case_insensitive {
            rule.push("ignore case".into());
        }
        if let Some(d) = r.digits {
            rule.push(format!("digits {d}"));
        }
        match r.tolerance {
            Some(canon::Tolerance::Numeric { abs, rel }) => {
                rule.push(format!("abs {abs:?} rel {rel:?}"))
            }
            Some(canon::Tolerance::Nanos(n)) => rule.push(format!("time {n} ns")),
            None => {}
        }
        HashedColumn {
            name: column.name(side).to_string(),
            source_type: column.source_type(side).to_string(),
            nullable,
            compared_as: column.canonical.to_string(),
            empty_is_null: column.empty_is_null,
            rule: rule.join(", "),
        }
    }

    /// How this column differs from `other` (the same column in another
    /// plan), for a message.
    fn difference(&self, other: &HashedColumn) -> Option<String> {
        let name = &self.name;
        if self.compared_as != other.compared_as {
            return Some(format!(
                "column {name:?} is compared as {} in the snapshot and as {} here",
                self.compared_as, other.compared_as
            ));
        }
        if self.rule != other.rule {
            let show = |r: &str| match r {
                "" => "no rule".to_string(),
                r => r.to_string(),
            };
            return Some(format!(
                "column {name:?} has rule {} in the snapshot and {} here",
                show(&self.rule),
                show(&other.rule)
            ));
        }
        if self.empty_is_null != other.empty_is_null {
            return Some(format!(
                "column {name:?}: empty text {} NULL in the snapshot but {} here \
                 (one side is CSV, or a rule says so)",
                if self.empty_is_null { "was" } else { "was not" },
                if other.empty_is_null { "is" } else { "is not" }
            ));
        }
        None
    }
}

/// What the digests were computed from: the key and the compared columns,
/// in order, each with its canonical type and rules. Two runs whose plans
/// are equal hash equal rows alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashPlan {
    pub keys: Vec<HashedColumn>,
    pub values: Vec<HashedColumn>,
}

impl HashPlan {
    /// How `side` of `plan` is hashed; `schema` is that side's (for nullability).
    pub fn of(plan: &ComparePlan, side: Side, schema: &Schema) -> Self {
        let column = |c: &ColumnPlan| {
            let nullable = schema
                .field_with_name(c.name(side))
                .map_or(true, |f| f.is_nullable());
            HashedColumn::of(c, side, nullable)
        };
        HashPlan {
            keys: plan.keys.iter().map(column).collect(),
            values: plan.values.iter().map(column).collect(),
        }
    }

    /// A short hash of the plan, to tell plans apart at a glance.
    pub fn fingerprint(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }

    /// The source's columns as a schema, to plan a comparison against the snapshot.
    pub fn schema(&self) -> Result<SchemaRef> {
        let fields = self
            .keys
            .iter()
            .chain(&self.values)
            .map(|c| {
                let data_type: DataType = c.source_type.parse().map_err(|e| {
                    Error::Schema(format!(
                        "snapshot column {:?}: unknown type {:?} ({})",
                        c.name,
                        c.source_type,
                        one_line(e)
                    ))
                })?;
                Ok(Field::new(&c.name, data_type, c.nullable))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(Schema::new(fields)))
    }

    /// What differs between this plan (a snapshot's) and `here` (the plan of
    /// this run), or `None` when they hash alike.
    pub fn mismatch(&self, here: &HashPlan) -> Option<String> {
        let names = |cols: &[HashedColumn]| -> Vec<String> {
            cols.iter().map(|c| c.name.clone()).collect()
        };
        if names(&self.keys) != names(&here.keys) {
            return Some(format!(
                "the snapshot's key is {} and this comparison's is {}",
                names(&self.keys).join(","),
                names(&here.keys).join(",")
            ));
        }
        if names(&self.values) != names(&here.values) {
            let missing: Vec<String> = names(&self.values)
                .into_iter()
                .filter(|n| !here.values.iter().any(|c| &c.name == n))
                .collect();
            let extra: Vec<String> = names(&here.values)
                .into_iter()
                .filter(|n| !self.values.iter().any(|c| &c.name == n))
                .collect();
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!(
                    "the snapshot hashed {} that this comparison does not",
                    missing.join(", ")
                ));
            }
            if !extra.is_empty() {
                parts.push(format!(
                    "this comparison hashes {} that the snapshot did not",
                    extra.join(", ")
                ));
            }
            if parts.is_empty() {
                parts.push("the compared columns are in another order".into());
            }
            return Some(parts.join("; "));
        }
        self.keys
            .iter()
            .chain(&self.values)
            .zip(here.keys.iter().chain(&here.values))
            .find_map(|(a, b)| a.difference(b))
    }
}

/// The snapshot's description of itself (the `recon.snapshot` metadata).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub format: String,
    pub version: u32,
    /// The recon version that wrote it.
    pub recon: String,
    /// When it was written (RFC 3339, UTC).
    pub created: String,
    /// The source, as described in reports (passwords removed).
    pub source: String,
    pub plan: HashPlan,
    pub fingerprint: String,
    /// The digest key (hex): digests compare only under the same key.
    pub digest_key: String,
    /// The target rows per leaf the boundaries were planned for.
    pub leaf_rows: usize,
    pub leaves: usize,
    pub rows: u64,
    pub null_key_rows: u64,
    /// Whether the source's format tells an empty string from NULL and
    /// can declare a column NOT NULL.
    pub distinguishes_empty_from_null: bool,
    pub declares_nullability: bool,
    /// The source's files, for a source read from files.
    pub files: Vec<FileEntry>,
    /// Leaves cut the keys' keyed hashes: the bounds are hashes, and the
    /// snapshot holds no key value (`--hash-keys`).
    #[serde(default)]
    pub hashed_keys: bool,
    /// Kept part-way through a run (`--state`): the files it lists are done,
    /// the leaves are not; the next run continues from it. Not a snapshot
    /// to compare with.
    #[serde(default)]
    pub partial: bool,
}

/// One file of a snapshot's source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    pub identity: FileIdentity,
    pub rows: u64,
    pub null_key_rows: u64,
}

/// A side's leaves, their boundaries and where they came from.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    /// The lower bounds of leaves 1.., decoded from the key row format:
    /// one array per sort field of the key.
    pub bounds: Vec<ArrayRef>,
    pub leaves: Vec<Digest>,
    /// Per file of `meta.files`, when there are several: its rows'
    /// contribution to each leaf it has rows in.
    pub per_file: Vec<Vec<(u32, Digest)>>,
}

impl Snapshot {
    /// The snapshot of one side hashed by this run: `files` and
    /// `parts` (each file's part records) for a source read from files,
    /// both empty otherwise.
    pub fn of_side(
        source: &dyn crate::source::Source,
        plan: HashPlan,
        leaf_rows: usize,
        leaves: &SideLeaves,
        bounds: Vec<ArrayRef>,
        files: Vec<FileIdentity>,
        parts: &[Vec<PartRecord>],
    ) -> Snapshot {
        let files: Vec<FileEntry> = files
            .into_iter()
            .zip(parts)
            .map(|(identity, parts)| FileEntry {
                identity,
                rows: parts.iter().map(|p| p.rows).sum(),
                null_key_rows: parts.iter().map(|p| p.null_key_rows).sum(),
            })
            .collect();
        let per_file = match files.len() {
            0 | 1 => Vec::new(),
            _ => parts.iter().map(|p| file_contribution(p)).collect(),
        };
        Snapshot {
            meta: SnapshotMeta {
                format: FORMAT.into(),
                version: VERSION,
                recon: env!("CARGO_PKG_VERSION").into(),
                created: now_text(),
                source: source.describe().to_string(),
                fingerprint: plan.fingerprint(),
                plan,
                digest_key: crate::canon::keyed::exported(),
                leaf_rows,
                leaves: leaves.leaves.len(),
                rows: leaves.rows,
                null_key_rows: leaves.null_key_rows,
                distinguishes_empty_from_null: source.distinguishes_empty_from_null(),
                declares_nullability: source.declares_nullability(),
                files,
                hashed_keys: false,
                partial: false,
            },
            bounds,
            leaves: leaves.leaves.clone(),
            per_file,
        }
    }

    /// The key-value metadata of `path` if it is a recon snapshot, read from
    /// the footer only.
    pub fn sniff(path: &str) -> Option<SnapshotMeta> {
        let file = File::open(path).ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(file).ok()?;
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        let text = meta
            .file_metadata()
            .key_value_metadata()?
            .iter()
            .find(|kv| kv.key == METADATA_KEY)?
            .value
            .clone()?;
        serde_json::from_str(&text).ok()
    }

    /// The boundaries the leaves were cut by, encoded for `keys` (which
    /// must hash as the snapshot's plan says).
    pub fn boundaries(&self, keys: &[&ColumnPlan]) -> Result<Boundaries> {
        if self.meta.hashed_keys {
            let hashes = self
                .bounds
                .first()
                .and_then(|a| a.as_primitive_opt::<UInt64Type>())
                .map(|a| a.values().to_vec())
                .unwrap_or_default();
            if hashes.windows(2).any(|w| w[0] >= w[1]) {
                return Err(Error::Schema(
                    "the stored leaf bounds are not in order (damaged)".into(),
                ));
            }
            return Ok(Boundaries::from_hashes(hashes));
        }
        encode_bounds(keys, &self.bounds)
    }

    /// Writes the snapshot to `path` (whole or not at all).
    pub fn write(&self, path: &str) -> Result<()> {
        let batch = self.to_batch()?;
        let meta = serde_json::to_string(&self.meta).map_err(|e| Error::Output {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        let properties = WriterProperties::builder()
            .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
            .set_key_value_metadata(Some(vec![KeyValue::new(METADATA_KEY.to_string(), meta)]))
            .build();
        crate::output::write_parquet(path, batch.schema(), [Ok(batch)], Some(properties))?;
        Ok(())
    }

    /// Reads a snapshot, refusing another format or version with the reason.
    pub fn read(path: &str) -> Result<Snapshot> {
        let fail = |message: String| Error::Snapshot {
            path: path.to_string(),
            message,
        };
        let file = File::open(path).map_err(|e| fail(one_line(e)))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| fail(format!("not a snapshot: {}", one_line(e))))?;
        let text = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kvs| kvs.iter().find(|kv| kv.key == METADATA_KEY))
            .and_then(|kv| kv.value.clone())
            .ok_or_else(|| fail("a Parquet file, but not a recon snapshot".into()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| fail(format!("damaged metadata: {e}")))?;
        let version = value.get("version").and_then(serde_json::Value::as_u64);
        if value.get("format").and_then(serde_json::Value::as_str) != Some(FORMAT) {
            return Err(fail("not a recon snapshot (unknown format)".into()));
        }
        if version != Some(u64::from(VERSION)) {
            return Err(fail(format!(
                "snapshot version {} is not one this recon reads (it reads version {VERSION})",
                version.map_or("unknown".to_string(), |v| v.to_string())
            )));
        }
        let meta: SnapshotMeta =
            serde_json::from_value(value).map_err(|e| fail(format!("damaged metadata: {e}")))?;
        let reader = builder.build().map_err(|e| fail(one_line(e)))?;
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| fail(one_line(e)))?;
        let schema = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        let batch =
            arrow::compute::concat_batches(&schema, &batches).map_err(|e| fail(one_line(e)))?;
        Self::from_batch(meta, &batch).map_err(fail)
    }

    fn to_batch(&self) -> Result<RecordBatch> {
        let leaf_count = self.leaves.len();
        let mut leaf = Vec::new();
        let mut file = Vec::new();
        let mut rows = Vec::new();
        let mut digest = Vec::new();
        let mut bound_index: Vec<Option<u32>> = Vec::new();
        for (i, d) in self.leaves.iter().enumerate() {
            leaf.push(i as u32);
            file.push(None);
            rows.push(d.rows);
            digest.push(d.sum.to_le_bytes());
            bound_index.push(i.checked_sub(1).map(|b| b as u32));
        }
        for (f, contribution) in self.per_file.iter().enumerate() {
            for (l, d) in contribution {
                leaf.push(*l);
                file.push(Some(f as u32));
                rows.push(d.rows);
                digest.push(d.sum.to_le_bytes());
                bound_index.push(None);
            }
        }
        let mut fields = vec![
            Field::new("leaf", DataType::UInt32, false),
            Field::new("file", DataType::UInt32, true),
            Field::new("rows", DataType::UInt64, false),
            Field::new("digest", DataType::FixedSizeBinary(16), false),
        ];
        let digests = FixedSizeBinaryArray::try_from_iter(digest.into_iter())?;
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(leaf)),
            Arc::new(UInt32Array::from(file)),
            Arc::new(UInt64Array::from(rows)),
            Arc::new(digests),
        ];
        if leaf_count > 1 {
            let take = UInt32Array::from(bound_index);
            for (i, bound) in self.bounds.iter().enumerate() {
                let name = match self.meta.hashed_keys {
                    true => "lower_bound_hash".to_string(),
                    false => format!("lower_bound_{i}"),
                };
                fields.push(Field::new(name, bound.data_type().clone(), true));
                columns.push(arrow::compute::take(bound, &take, None)?);
            }
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    fn from_batch(meta: SnapshotMeta, batch: &RecordBatch) -> std::result::Result<Self, String> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("damaged: no column {name:?}"))
        };
        let leaf = column("leaf")?
            .as_primitive_opt::<UInt32Type>()
            .ok_or("damaged: column \"leaf\"")?;
        let file = column("file")?
            .as_primitive_opt::<UInt32Type>()
            .ok_or("damaged: column \"file\"")?;
        let rows = column("rows")?
            .as_primitive_opt::<UInt64Type>()
            .ok_or("damaged: column \"rows\"")?;
        let digest = column("digest")?
            .as_fixed_size_binary_opt()
            .filter(|d| d.value_length() == 16)
            .ok_or("damaged: column \"digest\"")?;
        let leaf_count = meta.leaves;
        let mut leaves = vec![Digest::default(); leaf_count];
        let mut per_file = vec![
            Vec::new();
            if meta.files.len() > 1 {
                meta.files.len()
            } else {
                0
            }
        ];
        let mut total_rows = Vec::new();
        for i in 0..batch.num_rows() {
            let l = leaf.value(i);
            if l as usize >= leaf_count {
                return Err(format!("damaged: leaf {l} of {leaf_count}"));
            }
            let bytes: [u8; 16] = digest.value(i).try_into().map_err(|_| "damaged digest")?;
            let d = Digest {
                rows: rows.value(i),
                sum: u128::from_le_bytes(bytes),
            };
            if file.is_null(i) {
                leaves[l as usize] = d;
                total_rows.push(i as u32);
            } else {
                let f = file.value(i) as usize;
                per_file
                    .get_mut(f)
                    .ok_or_else(|| format!("damaged: file {f}"))?
                    .push((l, d));
            }
        }
        if total_rows.len() != leaf_count {
            return Err(format!(
                "damaged: {} leaves listed, {leaf_count} expected",
                total_rows.len()
            ));
        }
        // The bounds of leaves 1.. in leaf order (leaf 0 has none).
        let mut bounds = Vec::new();
        if leaf_count > 1 {
            let mut order: Vec<(u32, u32)> = total_rows
                .iter()
                .map(|&i| (leaf.value(i as usize), i))
                .collect();
            order.sort_unstable();
            let take = UInt32Array::from(order[1..].iter().map(|o| o.1).collect::<Vec<_>>());
            let mut i = 0;
            let name = |i: usize| match meta.hashed_keys {
                true if i == 0 => "lower_bound_hash".to_string(),
                true => String::new(),
                false => format!("lower_bound_{i}"),
            };
            while let Some(b) = batch.column_by_name(&name(i)) {
                let values = arrow::compute::take(b, &take, None).map_err(one_line)?;
                if values.null_count() > 0 {
                    return Err("damaged: a leaf without its lower bound".into());
                }
                bounds.push(values);
                i += 1;
            }
            if bounds.is_empty() {
                return Err("damaged: no leaf bounds".into());
            }
        }
        Ok(Snapshot {
            meta,
            bounds,
            leaves,
            per_file,
        })
    }
}

/// Boundaries decoded into key arrays (one per sort field), to be stored.
pub fn decode_bounds(keys: &[&ColumnPlan], boundaries: &Boundaries) -> Result<Vec<ArrayRef>> {
    if boundaries.is_hashed() {
        return Ok(vec![Arc::new(UInt64Array::from(boundaries.hashes()))]);
    }
    let converter = canon::row_converter(keys)?;
    let bounds: Vec<&[u8]> = (1..boundaries.leaf_count())
        .filter_map(|leaf| boundaries.lower(leaf))
        .collect();
    if bounds.is_empty() {
        return Ok(Vec::new());
    }
    Boundaries::decode(&converter, &bounds)
}

/// Stored key arrays encoded back into boundaries for `keys`; each array is
/// cast to the type its sort field takes (Parquet may hand back a wider one).
pub fn encode_bounds(keys: &[&ColumnPlan], bounds: &[ArrayRef]) -> Result<Boundaries> {
    if bounds.first().is_none_or(|b| b.is_empty()) {
        return Ok(Boundaries::default());
    }
    let converter = canon::row_converter(keys)?;
    // The types the key's sort fields take: those of no rows decoded.
    let fields: Vec<DataType> = converter
        .convert_rows(std::iter::empty())?
        .iter()
        .map(|a| a.data_type().clone())
        .collect();
    if fields.len() != bounds.len() {
        return Err(Error::Schema(format!(
            "the stored leaf bounds have {} key fields, the key has {}",
            bounds.len(),
            fields.len()
        )));
    }
    let arrays = bounds
        .iter()
        .zip(&fields)
        .map(|(b, f)| {
            if b.data_type() == f {
                Ok(Arc::clone(b))
            } else {
                arrow::compute::cast(b, f).map_err(Error::Data)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let rows = converter.convert_columns(&arrays)?;
    let mut sorted: Vec<Box<[u8]>> = Vec::with_capacity(rows.num_rows());
    for row in rows.iter() {
        let bytes: Box<[u8]> = row.as_ref().into();
        if sorted
            .last()
            .is_some_and(|last| last.as_ref() >= bytes.as_ref())
        {
            return Err(Error::Schema(
                "the stored leaf bounds are not in key order (damaged, or another key encoding)"
                    .into(),
            ));
        }
        sorted.push(bytes);
    }
    Ok(Boundaries::from_sorted(sorted))
}

/// A file's contribution to each leaf: its parts' summed.
pub fn file_contribution(parts: &[PartRecord]) -> Vec<(u32, Digest)> {
    let mut all: Vec<(u32, Digest)> = parts
        .iter()
        .flat_map(|p| p.leaves.iter().copied())
        .collect();
    all.sort_unstable_by_key(|e| e.0);
    let mut out: Vec<(u32, Digest)> = Vec::with_capacity(all.len());
    for (leaf, d) in all {
        match out.last_mut() {
            Some((l, total)) if *l == leaf => total.merge(&d),
            _ => out.push((leaf, d)),
        }
    }
    out
}

/// Now, as RFC 3339 in UTC.
pub fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
