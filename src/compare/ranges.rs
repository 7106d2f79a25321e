//! Ranges of a comparison with a snapshot, and the rows in them: what the
//! two-party exchange moves (`--ranges-out`, `recon extract`, `--ranges`).
//! Only the rows of divergent ranges cross from one party to the other.

use arrow::array::ArrayRef;

use super::rows;
use crate::error::{Error, Result, Side};
use crate::merkle::Boundaries;
use crate::plan::ComparePlan;
use crate::snapshot::HashPlan;
use crate::source::Source;

/// The divergent ranges of a comparison with a snapshot, as written by
/// `--ranges-out`: what the party holding the snapshot's source extracts.
#[derive(Debug, Clone)]
pub struct RangeSet {
    /// How the key was hashed and ordered (the snapshot's key columns).
    pub keys: Vec<crate::snapshot::HashedColumn>,
    /// Per range, its inclusive lower and exclusive upper bound, encoded
    /// as the key (or its hash) is for leaf lookup (`None`: unbounded).
    bounds: Vec<KeyRange>,
    /// The bounds as key arrays, `from` and `to` per sort field, for the file.
    arrays: Vec<ArrayRef>,
    /// The ranges are of key hashes (a snapshot taken with `--hash-keys`).
    hashed: bool,
}

/// A key range: inclusive lower and exclusive upper bound, encoded (`None`: unbounded).
type KeyRange = (Option<Box<[u8]>>, Option<Box<[u8]>>);

const RANGES_FORMAT: &str = "recon-ranges";
const RANGES_KEY: &str = "recon.ranges";

#[derive(serde::Serialize, serde::Deserialize)]
struct RangesMeta {
    format: String,
    version: u32,
    keys: Vec<crate::snapshot::HashedColumn>,
    ranges: usize,
    #[serde(default)]
    hashed_keys: bool,
    /// Ranges of key hashes hold only under the snapshot's digest key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest_key: Option<String>,
}

impl RangeSet {
    /// The divergent ranges of `comparison` (a comparison with a snapshot).
    pub fn of(
        plan: &ComparePlan,
        boundaries: &Boundaries,
        divergent: &[usize],
        key_plan: Vec<crate::snapshot::HashedColumn>,
    ) -> Result<Self> {
        let mut selected = vec![false; boundaries.leaf_count()];
        for &l in divergent {
            selected[l] = true;
        }
        let runs = rows::leaf_runs(&selected, usize::MAX);
        let bounds: Vec<KeyRange> = runs
            .iter()
            .map(|&(a, b)| {
                (
                    boundaries.lower(a).map(Into::into),
                    boundaries.upper(b).map(Into::into),
                )
            })
            .collect();
        let keys = plan.key_columns();
        let converter = crate::canon::row_converter(&keys)?;
        // Unbounded ends are stored as NULL: each bound column is the
        // from-bounds then the to-bounds, with nulls where unbounded.
        let present: Vec<&[u8]> = bounds
            .iter()
            .flat_map(|(f, t)| [f.as_deref(), t.as_deref()])
            .flatten()
            .collect();
        let decoded: Vec<ArrayRef> = if boundaries.is_hashed() {
            let hashes: Vec<u64> = present
                .iter()
                .map(|b| u64::from_be_bytes(b[..8].try_into().unwrap_or_default()))
                .collect();
            vec![std::sync::Arc::new(arrow::array::UInt64Array::from(hashes))]
        } else if present.is_empty() {
            converter.convert_rows(std::iter::empty())?
        } else {
            Boundaries::decode(&converter, &present)?
        };
        let mut index: Vec<Option<u32>> = Vec::new();
        let mut next = 0u32;
        for (f, t) in &bounds {
            for b in [f, t] {
                index.push(b.as_ref().map(|_| {
                    next += 1;
                    next - 1
                }));
            }
        }
        let take = arrow::array::UInt32Array::from(index);
        let arrays = decoded
            .iter()
            .map(|a| arrow::compute::take(a, &take, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(RangeSet {
            keys: key_plan,
            bounds,
            arrays,
            hashed: boundaries.is_hashed(),
        })
    }

    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Writes the ranges as a Parquet file: two rows per range (from, to),
    /// a column per key sort field, NULL where a range is unbounded.
    pub fn write(&self, path: &str) -> Result<()> {
        let fail = |e: String| Error::Output {
            path: path.to_string(),
            message: e,
        };
        let fields: Vec<arrow::datatypes::Field> = self
            .arrays
            .iter()
            .enumerate()
            .map(|(i, a)| {
                arrow::datatypes::Field::new(format!("bound_{i}"), a.data_type().clone(), true)
            })
            .collect();
        let ends = arrow::array::StringArray::from_iter_values(
            (0..self.bounds.len()).flat_map(|_| ["from", "to"]),
        );
        let mut columns: Vec<ArrayRef> = vec![std::sync::Arc::new(ends)];
        columns.extend(self.arrays.iter().cloned());
        let mut all_fields = vec![arrow::datatypes::Field::new(
            "end",
            arrow::datatypes::DataType::Utf8,
            false,
        )];
        all_fields.extend(fields);
        let batch = arrow::record_batch::RecordBatch::try_new(
            std::sync::Arc::new(arrow::datatypes::Schema::new(all_fields)),
            columns,
        )?;
        let meta = serde_json::to_string(&RangesMeta {
            format: RANGES_FORMAT.into(),
            version: crate::snapshot::VERSION,
            keys: self.keys.clone(),
            ranges: self.bounds.len(),
            hashed_keys: self.hashed,
            digest_key: self.hashed.then(crate::canon::keyed::exported),
        })
        .map_err(|e| fail(e.to_string()))?;
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
                RANGES_KEY.to_string(),
                meta,
            )]))
            .build();
        crate::output::write_parquet(path, batch.schema(), [Ok(batch)], Some(properties))?;
        Ok(())
    }

    /// Reads a ranges file for a source whose key is hashed as `plan`'s.
    pub fn read(
        path: &str,
        plan: &ComparePlan,
        side: Side,
        schema: &arrow::datatypes::Schema,
    ) -> Result<Self> {
        let fail = |message: String| Error::Snapshot {
            path: path.to_string(),
            message,
        };
        let (meta, builder) = open_ranges(path)?;
        let here = HashPlan::of(plan, side, schema);
        let stored = HashPlan {
            keys: meta.keys.clone(),
            values: Vec::new(),
        };
        let mine = HashPlan {
            keys: here.keys.clone(),
            values: Vec::new(),
        };
        if let Some(why) = stored.mismatch(&mine) {
            return Err(fail(format!("written for another key: {why}")));
        }
        let batches = builder
            .build()
            .map_err(|e| fail(crate::error::one_line(e)))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| fail(crate::error::one_line(e)))?;
        let schema = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| std::sync::Arc::new(arrow::datatypes::Schema::empty()));
        let batch = arrow::compute::concat_batches(&schema, &batches)?;
        if batch.num_rows() != 2 * meta.ranges {
            return Err(fail("damaged: range count".into()));
        }
        let arrays: Vec<ArrayRef> = batch.columns()[1..].to_vec();
        if meta.hashed_keys {
            crate::canon::keyed::adopt(meta.digest_key.as_deref().unwrap_or_default())
                .map_err(|why| fail(format!("ranges of key hashes: {why}")))?;
            let hashes = arrays
                .first()
                .and_then(|a| a.as_any().downcast_ref::<arrow::array::UInt64Array>())
                .ok_or_else(|| fail("damaged: hash bounds".into()))?;
            let bound = |i: usize| {
                (!arrow::array::Array::is_null(hashes, i))
                    .then(|| hashes.value(i).to_be_bytes().to_vec().into())
            };
            let bounds = (0..meta.ranges)
                .map(|r| (bound(2 * r), bound(2 * r + 1)))
                .collect();
            return Ok(RangeSet {
                keys: meta.keys,
                bounds,
                arrays,
                hashed: true,
            });
        }
        let keys = plan.key_columns();
        let converter = crate::canon::row_converter(&keys)?;
        let expected: Vec<arrow::datatypes::DataType> = converter
            .convert_rows(std::iter::empty())?
            .iter()
            .map(|a| a.data_type().clone())
            .collect();
        if expected.len() != arrays.len() {
            return Err(fail("damaged: key fields".into()));
        }
        let cast = arrays
            .iter()
            .zip(&expected)
            .map(|(a, t)| arrow::compute::cast(a, t).map_err(Error::Data))
            .collect::<Result<Vec<_>>>()?;
        let rows = converter.convert_columns(&cast)?;
        let nulls = cast.first().and_then(|a| a.logical_nulls());
        let bound = |i: usize| -> Option<Box<[u8]>> {
            if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                None
            } else {
                Some(rows.row(i).as_ref().into())
            }
        };
        let bounds = (0..meta.ranges)
            .map(|r| (bound(2 * r), bound(2 * r + 1)))
            .collect();
        Ok(RangeSet {
            keys: meta.keys,
            bounds,
            arrays: cast,
            hashed: false,
        })
    }

    /// Whether an encoded key lies in one of the ranges.
    fn contains(&self, key: &[u8]) -> bool {
        if self.hashed {
            return self.contains_bytes(&crate::canon::key_hash(key).to_be_bytes());
        }
        self.contains_bytes(key)
    }

    fn contains_bytes(&self, key: &[u8]) -> bool {
        // Ranges are sorted and disjoint: the last one starting at or below the key.
        let after = self
            .bounds
            .partition_point(|(from, _)| from.as_deref().is_none_or(|f| f <= key));
        after > 0
            && self.bounds[after - 1]
                .1
                .as_deref()
                .is_none_or(|to| key < to)
    }
}

/// The rows of `source` whose key lies in `ranges`, every column, as an
/// in-memory positional source (what `recon extract` writes, and what a
/// diff restricted by `--ranges` compares).
pub fn rows_in_ranges(
    source: &dyn Source,
    key: &[String],
    side: Side,
    ranges_path: &str,
) -> Result<crate::source::MemorySource> {
    use rayon::prelude::*;
    let source: &dyn Source = match source.as_database() {
        Some(db) => db.load(key)?,
        None => source,
    };
    let schema = source.schema();
    let selection = crate::plan::Selection {
        key: key.to_vec(),
        ..Default::default()
    };
    let plan = ComparePlan::new(&schema, &schema, &selection)?;
    let ranges = RangeSet::read(ranges_path, &plan, side, &schema)?;
    let keys = plan.key_columns();
    let converter = crate::canon::row_converter(&keys)?;
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let key_index: Vec<usize> = keys
        .iter()
        .map(|k| schema.index_of(k.name(side)))
        .collect::<std::result::Result<_, _>>()?;
    let partitions: Vec<Vec<arrow::record_batch::RecordBatch>> = source
        .scan(&names, None)?
        .into_par_iter()
        .map(|stream| {
            let mut kept = Vec::new();
            for batch in stream {
                let batch = batch?;
                let key_arrays: Vec<ArrayRef> =
                    key_index.iter().map(|&i| batch.column(i).clone()).collect();
                let encoded = crate::canon::encode(
                    &converter,
                    &crate::canon::canonical_arrays(&keys, &key_arrays, side)?,
                )?;
                let nulls = crate::canon::null_rows(&key_arrays);
                let mask: arrow::array::BooleanArray = (0..batch.num_rows())
                    .map(|i| {
                        Some(
                            !nulls.as_ref().is_some_and(|n| n[i])
                                && ranges.contains(encoded.row(i).as_ref()),
                        )
                    })
                    .collect();
                let filtered = arrow::compute::filter_record_batch(&batch, &mask)?;
                if filtered.num_rows() > 0 {
                    kept.push(filtered);
                }
            }
            Ok(kept)
        })
        .collect::<Result<_>>()?;
    let memory = crate::source::MemorySource::new(
        format!(
            "{} (in {} ranges of {ranges_path})",
            source.describe(),
            ranges.len()
        ),
        schema,
        partitions,
    )?;
    Ok(memory.positional())
}

/// The key names a ranges file was written for (the snapshot's).
pub fn ranges_key(path: &str) -> Result<Vec<String>> {
    let (meta, _) = open_ranges(path)?;
    Ok(meta.keys.into_iter().map(|k| k.name).collect())
}

/// A ranges file's metadata, checked, and a reader of its rows.
fn open_ranges(
    path: &str,
) -> Result<(
    RangesMeta,
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<std::fs::File>,
)> {
    let fail = |message: String| Error::Snapshot {
        path: path.to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(crate::error::one_line(e)))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| fail(format!("not a ranges file: {}", crate::error::one_line(e))))?;
    let meta: RangesMeta = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kvs| kvs.iter().find(|kv| kv.key == RANGES_KEY))
        .and_then(|kv| kv.value.as_deref())
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| fail("not a recon ranges file".into()))?;
    if meta.format != RANGES_FORMAT || meta.version != crate::snapshot::VERSION {
        return Err(fail(format!(
            "ranges file version {} is not one this recon reads",
            meta.version
        )));
    }
    Ok((meta, builder))
}

/// Writes the rows of `source` in the ranges of `ranges_path` to a Parquet
/// file (`recon extract`); returns how many.
pub fn extract(
    source: &dyn Source,
    key: &[String],
    ranges_path: &str,
    out_path: &str,
) -> Result<u64> {
    let rows = rows_in_ranges(source, key, Side::Left, ranges_path)?;
    let schema = rows.schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let batches = rows.scan(&names, None)?.into_iter().flatten();
    crate::output::write_parquet(out_path, schema, batches, None)
}
