//! recon's functions for a DataFusion plan, so that any engine running the
//! plan (a Ballista executor, or a local session) hashes rows exactly as the
//! local path does:
//! - `recon_row_hash(key..., value...)`: a row's 128-bit hash
//!   (FixedSizeBinary(16), little-endian), canonical values under the run's
//!   rules and digest key;
//! - `recon_digest(row_hash)`: the wrapping sum of row hashes, an aggregate
//!   whose partial sums add up exactly (FixedSizeBinary(16));
//! - `recon_key_hash(key...)`: the key's keyed 64-bit hash, as the local
//!   path finds duplicate-key candidates by (UInt64; NULL for a NULL key);
//! - `recon_bucket(key...)`: the key's leaf and a sub-bucket within it by
//!   key hash, as `leaf * sub_buckets + sub` (UInt64; NULL for a NULL key):
//!   digests per sub-bucket let only the rows of divergent sub-buckets come
//!   back;
//! - `recon_selected(key...)`: the row lies in a chosen leaf or sub-bucket,
//!   or has a chosen key hash (the rows the row phase reads back).
//!
//! All but the aggregate carry their state ([`HashingSpec`]: both sides'
//! schemas, the selection, the side, the leaf bounds, the digest key, the
//! version) as JSON, which a codec ships to executors.

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, FixedSizeBinaryArray, UInt64Array};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::error::{Error, Result, Side};
use crate::merkle::{Boundaries, RowHasher};
use crate::plan::{ComparePlan, Selection, SideTraits};

/// Everything a function needs to hash one side as the local path would.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HashingSpec {
    /// Both sides' schemas, as Arrow IPC (hex): the canonical type of each
    /// column depends on the pair.
    pub left_schema: String,
    pub right_schema: String,
    pub selection: Selection,
    /// Per side: distinguishes '' from NULL, declares nullability.
    pub traits: [[bool; 2]; 2],
    pub side: Side,
    /// The leaf bounds (functions that find leaves only).
    pub bounds: Option<Bounds>,
    /// The run's digest key (hex, as `keyed::exported` writes it).
    pub digest_key: String,
    /// recon's version: hashes from another version may differ, so an
    /// executor of another version refuses the work.
    pub version: String,
}

/// [`Boundaries`] in a form JSON carries.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Bounds {
    pub hashed: bool,
    /// Each bound's encoded key (or key hash), hex.
    pub keys: Vec<String>,
    /// Sub-buckets per leaf (`recon_bucket`), by key hash.
    pub sub_buckets: u32,
}

impl Bounds {
    pub fn of(boundaries: &Boundaries, sub_buckets: u32) -> Bounds {
        Bounds {
            hashed: boundaries.is_hashed(),
            keys: boundaries.raw_bounds().map(crate::canon::to_hex).collect(),
            sub_buckets: sub_buckets.max(1),
        }
    }

    fn boundaries(&self) -> Result<Boundaries> {
        let keys: Vec<Box<[u8]>> = self
            .keys
            .iter()
            .map(|k| crate::canon::from_hex(k).map(Vec::into_boxed_slice))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::Internal("damaged leaf bounds in a hashing spec".into()))?;
        Ok(Boundaries::from_raw(self.hashed, keys))
    }
}

fn schema_hex(schema: &Schema) -> Result<String> {
    let mut bytes = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut bytes, schema)?;
    writer.finish()?;
    drop(writer);
    Ok(crate::canon::to_hex(&bytes))
}

fn schema_of(text: &str) -> Result<SchemaRef> {
    let bytes = crate::canon::from_hex(text)
        .ok_or_else(|| Error::Internal("a damaged schema in a hashing spec".into()))?;
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    Ok(reader.schema())
}

impl HashingSpec {
    pub fn new(
        left: &Schema,
        right: &Schema,
        selection: &Selection,
        traits: [SideTraits; 2],
        side: Side,
    ) -> Result<HashingSpec> {
        let pair = |t: SideTraits| [t.distinguishes_empty_from_null, t.declares_nullability];
        Ok(HashingSpec {
            left_schema: schema_hex(left)?,
            right_schema: schema_hex(right)?,
            selection: selection.clone(),
            traits: traits.map(pair),
            side,
            bounds: None,
            digest_key: crate::canon::keyed::exported(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
    }

    /// The same spec for the other side.
    pub fn for_side(&self, side: Side) -> HashingSpec {
        HashingSpec {
            side,
            ..self.clone()
        }
    }

    /// The same spec with leaf bounds (and `sub_buckets` per leaf), for
    /// the functions that find leaves.
    pub fn with_bounds(&self, boundaries: &Boundaries, sub_buckets: u32) -> HashingSpec {
        HashingSpec {
            bounds: Some(Bounds::of(boundaries, sub_buckets)),
            ..self.clone()
        }
    }

    /// The comparison's plan, rebuilt where the function runs.
    pub fn plan(&self) -> Result<ComparePlan> {
        let here = env!("CARGO_PKG_VERSION");
        if self.version != here {
            return Err(Error::Usage(format!(
                "this executor runs recon {here} and the client recon {}: row hashes must \
                 come from one version (run the same recon on the client and the cluster)",
                self.version
            )));
        }
        let traits = self.traits.map(|[e, n]| SideTraits {
            distinguishes_empty_from_null: e,
            declares_nullability: n,
        });
        ComparePlan::with_traits(
            &*schema_of(&self.left_schema)?,
            &*schema_of(&self.right_schema)?,
            &self.selection,
            traits,
        )
    }

    /// The columns a function takes, in order: the side's key columns,
    /// then (for the row hash) its compared columns.
    pub fn arguments(&self, with_values: bool) -> Result<Vec<String>> {
        let plan = self.plan()?;
        let mut names = plan.column_names(self.side);
        if !with_values {
            names.truncate(plan.key_columns().len());
        }
        Ok(names)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<HashingSpec> {
        serde_json::from_str(text)
            .map_err(|e| Error::Internal(format!("a damaged hashing spec: {e}")))
    }
}

/// A function's state: its JSON (what makes two functions equal), the spec
/// and what is built from it once where the function runs.
#[derive(Debug)]
struct State {
    json: String,
    spec: HashingSpec,
    built: OnceLock<std::result::Result<Built, String>>,
    signature: Signature,
}

/// The plan and leaf bounds, rebuilt from a spec.
#[derive(Debug)]
struct Built {
    plan: ComparePlan,
    boundaries: Option<Boundaries>,
}

impl State {
    fn new(spec: HashingSpec, json: String) -> State {
        State {
            json,
            spec,
            built: OnceLock::new(),
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    fn built(&self) -> datafusion::common::Result<&Built> {
        self.built
            .get_or_init(|| {
                let plan = self.spec.plan().map_err(|e| e.to_string())?;
                let boundaries = match &self.spec.bounds {
                    Some(b) => Some(b.boundaries().map_err(|e| e.to_string())?),
                    None => None,
                };
                Ok(Built { plan, boundaries })
            })
            .as_ref()
            .map_err(|m| DataFusionError::Execution(m.clone()))
    }

    fn plan(&self) -> datafusion::common::Result<&ComparePlan> {
        Ok(&self.built()?.plan)
    }

    fn sub_buckets(&self) -> u32 {
        self.spec
            .bounds
            .as_ref()
            .map_or(1, |b| b.sub_buckets.max(1))
    }

    fn boundaries(&self) -> datafusion::common::Result<&Boundaries> {
        self.built()?.boundaries.as_ref().ok_or_else(|| {
            DataFusionError::Execution("a recon leaf function without leaf bounds".into())
        })
    }

    /// The arguments as one batch named and typed as the plan has the
    /// side's columns (an engine may read strings as views, for one).
    fn batch(
        &self,
        args: &ScalarFunctionArgs,
        columns: usize,
    ) -> datafusion::common::Result<RecordBatch> {
        let plan = self.plan()?;
        let side = self.spec.side;
        if args.args.len() != columns {
            return Err(DataFusionError::Execution(format!(
                "recon function given {} columns where its plan has {columns}",
                args.args.len()
            )));
        }
        let mut fields = Vec::with_capacity(columns);
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns);
        for (arg, column) in args.args.iter().zip(plan.columns()) {
            let (name, data_type) = match side {
                Side::Left => (&column.left_name, &column.left_type),
                Side::Right => (&column.right_name, &column.right_type),
            };
            let mut array = arg.to_array(args.number_rows)?;
            if array.data_type() != data_type {
                array = arrow::compute::cast(&array, data_type)?;
            }
            fields.push(Field::new(name, data_type.clone(), true));
            arrays.push(array);
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
    }

    /// The keys of the arguments (key columns only), encoded under the
    /// spec's digest key, with their 64-bit hashes when asked for.
    fn keys<T>(
        &self,
        args: &ScalarFunctionArgs,
        each: impl Fn(Option<&[u8]>) -> T,
    ) -> datafusion::common::Result<Vec<T>> {
        let plan = self.plan()?;
        let batch = self.batch(args, plan.key_columns().len())?;
        self.keyed(|| {
            // Only the key columns are given: a plan of keys alone encodes them.
            let hasher = RowHasher::new(plan, self.spec.side)?;
            let encoded = hasher.encode_keys(&batch)?;
            Ok((0..batch.num_rows())
                .map(|i| {
                    let null = encoded.nulls.as_ref().is_some_and(|n| n[i]);
                    each(
                        (!null)
                            .then(|| encoded.keys.row(i))
                            .as_ref()
                            .map(|r| r.as_ref()),
                    )
                })
                .collect())
        })
    }

    /// Runs `work` under the spec's digest key.
    fn keyed<T>(&self, work: impl FnOnce() -> Result<T>) -> datafusion::common::Result<T> {
        crate::canon::keyed::with_key(&self.spec.digest_key, work)
            .map_err(DataFusionError::Execution)?
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}
impl Eq for State {}
impl std::hash::Hash for State {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.json.hash(h);
    }
}

/// Declares a scalar function of recon's: a name and a [`State`].
macro_rules! scalar_function {
    ($name:ident, $sql:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $name(State);

        impl $name {
            pub const NAME: &'static str = $sql;

            pub fn new(spec: HashingSpec) -> $name {
                let json = spec.to_json();
                $name(State::new(spec, json))
            }

            /// The function's state, as a codec writes it.
            pub fn state_json(&self) -> &str {
                &self.0.json
            }
        }
    };
}

scalar_function!(
    RowHash,
    "recon_row_hash",
    "`recon_row_hash(key..., value...)`: the row's 128-bit hash."
);
scalar_function!(
    Bucket,
    "recon_bucket",
    "`recon_bucket(key...)`: the key's leaf and sub-bucket (the spec must hold bounds)."
);
scalar_function!(
    KeyHash,
    "recon_key_hash",
    "`recon_key_hash(key...)`: the key's 64-bit hash."
);

/// The bucket of a key: its leaf, and a sub-bucket by its hash.
fn bucket(boundaries: &Boundaries, sub_buckets: u32, key: &[u8]) -> u64 {
    let leaf = boundaries.leaf_of(key) as u64;
    let sub_buckets = u64::from(sub_buckets.max(1));
    leaf * sub_buckets + crate::canon::key_hash(key) % sub_buckets
}

/// The rows `recon_selected` keeps: those of some leaves and some buckets
/// (`recon_bucket`), and those whose key has one of some hashes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChosenRows {
    /// With leaf bounds.
    pub spec: HashingSpec,
    pub leaves: Vec<u32>,
    pub buckets: Vec<u64>,
    pub key_hashes: Vec<u64>,
}

/// `recon_selected(key...)`: whether the row is one of [`ChosenRows`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Selected {
    state: State,
    /// Each ascending.
    leaves: Vec<u32>,
    buckets: Vec<u64>,
    key_hashes: Vec<u64>,
}

impl Selected {
    pub const NAME: &'static str = "recon_selected";

    pub fn new(mut chosen: ChosenRows) -> Selected {
        chosen.leaves.sort_unstable();
        chosen.leaves.dedup();
        chosen.buckets.sort_unstable();
        chosen.buckets.dedup();
        chosen.key_hashes.sort_unstable();
        chosen.key_hashes.dedup();
        let json = serde_json::to_string(&chosen).unwrap_or_default();
        Selected {
            state: State::new(chosen.spec, json),
            leaves: chosen.leaves,
            buckets: chosen.buckets,
            key_hashes: chosen.key_hashes,
        }
    }

    pub fn from_json(text: &str) -> Result<Selected> {
        serde_json::from_str(text)
            .map(Selected::new)
            .map_err(|e| Error::Internal(format!("a damaged row selection: {e}")))
    }

    pub fn state_json(&self) -> &str {
        &self.state.json
    }
}

/// The parts of `ScalarUDFImpl` every recon function shares.
macro_rules! common_parts {
    ($state:tt, $returns:expr) => {
        fn name(&self) -> &str {
            Self::NAME
        }

        fn signature(&self) -> &Signature {
            &self.$state.signature
        }

        fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
            Ok($returns)
        }
    };
}

impl ScalarUDFImpl for RowHash {
    common_parts!(0, DataType::FixedSizeBinary(16));

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let plan = self.0.plan()?;
        let batch = self.0.batch(&args, plan.columns().len())?;
        let hashes = self.0.keyed(|| {
            let hasher = RowHasher::new(plan, self.0.spec.side)?;
            Ok(hasher.encode(&batch)?.hashes)
        })?;
        let array = FixedSizeBinaryArray::try_from_iter(hashes.iter().map(|h| h.to_le_bytes()))?;
        Ok(ColumnarValue::Array(Arc::new(array)))
    }
}

impl ScalarUDFImpl for Bucket {
    common_parts!(0, DataType::UInt64);

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let boundaries = self.0.boundaries()?;
        let sub_buckets = self.0.sub_buckets();
        let buckets = self
            .0
            .keys(&args, |key| key.map(|k| bucket(boundaries, sub_buckets, k)))?;
        Ok(ColumnarValue::Array(Arc::new(UInt64Array::from(buckets))))
    }
}

impl ScalarUDFImpl for KeyHash {
    common_parts!(0, DataType::UInt64);

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let hashes = self.0.keys(&args, |key| key.map(crate::canon::key_hash))?;
        Ok(ColumnarValue::Array(Arc::new(UInt64Array::from(hashes))))
    }
}

impl ScalarUDFImpl for Selected {
    common_parts!(state, DataType::Boolean);

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let boundaries = self.state.boundaries()?;
        let sub_buckets = self.state.sub_buckets();
        let chosen = self.state.keys(&args, |key| {
            key.is_some_and(|k| {
                let has = |list: &[u64], value: u64| list.binary_search(&value).is_ok();
                let leaf = boundaries.leaf_of(k) as u32;
                self.leaves.binary_search(&leaf).is_ok()
                    || (!self.buckets.is_empty()
                        && has(&self.buckets, bucket(boundaries, sub_buckets, k)))
                    || (!self.key_hashes.is_empty()
                        && has(&self.key_hashes, crate::canon::key_hash(k)))
            })
        })?;
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(chosen))))
    }
}

/// `recon_digest(row_hash)`: the wrapping sum of 128-bit row hashes.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DigestSum {
    signature: Signature,
}

impl DigestSum {
    pub const NAME: &'static str = "recon_digest";
}

impl Default for DigestSum {
    fn default() -> Self {
        DigestSum {
            signature: Signature::exact(vec![DataType::FixedSizeBinary(16)], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for DigestSum {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::FixedSizeBinary(16))
    }

    fn accumulator(&self, _: AccumulatorArgs) -> datafusion::common::Result<Box<dyn Accumulator>> {
        Ok(Box::new(SumAccumulator(0)))
    }

    fn state_fields(&self, _: StateFieldsArgs) -> datafusion::common::Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            "recon_digest_sum",
            DataType::FixedSizeBinary(16),
            true,
        ))])
    }
}

/// A running wrapping sum; partial sums add up to the whole exactly.
#[derive(Debug)]
struct SumAccumulator(u128);

impl SumAccumulator {
    fn add_all(&mut self, array: &ArrayRef) -> datafusion::common::Result<()> {
        let hashes = array.as_fixed_size_binary();
        for i in 0..hashes.len() {
            if hashes.is_null(i) {
                continue;
            }
            let bytes: [u8; 16] = hashes.value(i).try_into().map_err(|_| {
                DataFusionError::Execution("recon_digest takes 16-byte row hashes".into())
            })?;
            self.0 = self.0.wrapping_add(u128::from_le_bytes(bytes));
        }
        Ok(())
    }

    fn value(&self) -> ScalarValue {
        ScalarValue::FixedSizeBinary(16, Some(self.0.to_le_bytes().to_vec()))
    }
}

impl Accumulator for SumAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        values.first().map_or(Ok(()), |a| self.add_all(a))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::common::Result<()> {
        states.first().map_or(Ok(()), |a| self.add_all(a))
    }

    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        Ok(vec![self.value()])
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        Ok(self.value())
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
    use datafusion::prelude::SessionContext;

    /// A side with an integer key, a text and a float column, NULLs and a NULL key.
    fn batch() -> RecordBatch {
        let n = 5_000;
        RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(Int64Array::from_iter(
                    (0..n).map(|i| (i % 997 != 5).then_some(i * 7 + 1)),
                )) as ArrayRef,
            ),
            (
                "name",
                Arc::new(StringArray::from_iter(
                    (0..n).map(|i| (i % 13 != 0).then(|| format!("n{}", i % 101))),
                )) as ArrayRef,
            ),
            (
                "amount",
                Arc::new(Float64Array::from_iter(
                    (0..n).map(|i| (i % 17 != 0).then_some(i as f64 / 8.0)),
                )) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn leaf_digests_computed_by_sql_equal_the_local_hashing_pass() {
        let batch = batch();
        let schema = batch.schema();
        let selection = Selection {
            key: vec!["id".into()],
            ..Selection::default()
        };
        let traits = [SideTraits {
            distinguishes_empty_from_null: true,
            declares_nullability: true,
        }; 2];
        let boundaries = Boundaries::even_hashes(16);
        let spec = HashingSpec::new(&schema, &schema, &selection, traits, Side::Left)
            .unwrap()
            .with_bounds(&boundaries, 1);
        // Through JSON, as a codec would carry it.
        let spec = HashingSpec::from_json(&spec.to_json()).unwrap();

        // The local path.
        let plan = spec.plan().unwrap();
        let source =
            crate::source::MemorySource::new("t", schema.clone(), vec![vec![batch.clone()]])
                .unwrap();
        let local = crate::merkle::hash_side(
            &source,
            &plan,
            Side::Left,
            &boundaries,
            &indicatif::ProgressBar::hidden(),
        )
        .unwrap();

        // The same through DataFusion SQL and recon's functions.
        let ctx = SessionContext::new();
        ctx.register_batch("t", batch).unwrap();
        ctx.register_udf(ScalarUDF::new_from_impl(RowHash::new(spec.clone())));
        ctx.register_udf(ScalarUDF::new_from_impl(Bucket::new(spec.clone())));
        ctx.register_udaf(AggregateUDF::new_from_impl(DigestSum::default()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let batches = runtime
            .block_on(async {
                ctx.sql(
                    "SELECT recon_bucket(id) AS leaf, count(*) AS n, \
                     recon_digest(recon_row_hash(id, name, amount)) AS d \
                     FROM t GROUP BY recon_bucket(id)",
                )
                .await?
                .collect()
                .await
            })
            .unwrap();
        let mut null_rows = 0;
        let mut seen = 0;
        for b in &batches {
            let leaf = b.column(0).as_primitive::<arrow::datatypes::UInt64Type>();
            let n = b.column(1).as_primitive::<arrow::datatypes::Int64Type>();
            let d = b.column(2).as_fixed_size_binary();
            for i in 0..b.num_rows() {
                if leaf.is_null(i) {
                    null_rows += n.value(i) as u64;
                    continue;
                }
                let expected = local.leaves[leaf.value(i) as usize];
                let sum = u128::from_le_bytes(d.value(i).try_into().unwrap());
                assert_eq!((n.value(i) as u64, sum), (expected.rows, expected.sum));
                seen += 1;
            }
        }
        assert_eq!(seen, local.leaves.iter().filter(|d| d.rows > 0).count());
        assert_eq!(null_rows, local.null_key_rows);
        assert!(null_rows > 0 && seen > 1);

        // Under another run's key the same rows hash otherwise: the key travels.
        let mut other = spec.clone();
        other.digest_key = other.digest_key.chars().rev().collect();
        let hash = |spec: HashingSpec| {
            let f = RowHash::new(spec);
            let args = ScalarFunctionArgs {
                args: vec![
                    ColumnarValue::Array(Arc::new(Int64Array::from(vec![1]))),
                    ColumnarValue::Array(Arc::new(StringArray::from(vec!["x"]))),
                    ColumnarValue::Array(Arc::new(Float64Array::from(vec![1.5]))),
                ],
                arg_fields: vec![],
                number_rows: 1,
                return_field: Arc::new(Field::new("h", DataType::FixedSizeBinary(16), true)),
                config_options: Arc::new(Default::default()),
            };
            match f.invoke_with_args(args).unwrap() {
                ColumnarValue::Array(a) => a.as_fixed_size_binary().value(0).to_vec(),
                ColumnarValue::Scalar(_) => unreachable!(),
            }
        };
        assert_ne!(hash(spec.clone()), hash(other));
        assert_eq!(hash(spec.clone()), hash(spec));
    }
}
