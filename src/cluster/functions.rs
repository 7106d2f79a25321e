//! recon's functions for a DataFusion plan, so that any engine running the
//! plan (a Ballista executor, or a local session) hashes rows exactly as the
//! local path does:
//! - `recon_row_hash(key..., value...)`: a row's 128-bit hash
//!   (FixedSizeBinary(16), little-endian), canonical values under the run's
//!   rules and digest key;
//! - `recon_leaf(key...)`: the row's leaf among equal-width ranges of key
//!   hashes (UInt32; NULL for a NULL key);
//! - `recon_digest(row_hash)`: the wrapping sum of row hashes, an aggregate
//!   whose partial sums add up exactly (FixedSizeBinary(16)).
//!
//! The first two carry their state ([`HashingSpec`]: both sides' schemas,
//! the selection, the side, the leaf count, the digest key) as JSON, which a
//! codec can ship to executors.

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeBinaryArray, UInt32Array};
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
    /// Leaves of equal width over the keys' 64-bit hashes.
    pub leaves: u32,
    /// The run's digest key (hex, as `keyed::exported` writes it).
    pub digest_key: String,
}

fn schema_hex(schema: &Schema) -> Result<String> {
    let mut bytes = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut bytes, schema)?;
    writer.finish()?;
    drop(writer);
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn schema_of(hex: &str) -> Result<SchemaRef> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    let bytes =
        bytes.ok_or_else(|| Error::Internal("a damaged schema in a hashing spec".into()))?;
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
        leaves: u32,
    ) -> Result<HashingSpec> {
        let pair = |t: SideTraits| [t.distinguishes_empty_from_null, t.declares_nullability];
        Ok(HashingSpec {
            left_schema: schema_hex(left)?,
            right_schema: schema_hex(right)?,
            selection: selection.clone(),
            traits: traits.map(pair),
            side,
            leaves: leaves.max(1),
            digest_key: crate::canon::keyed::exported(),
        })
    }

    /// The comparison's plan, rebuilt where the function runs.
    pub fn plan(&self) -> Result<ComparePlan> {
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

/// A function's state: the spec as JSON (what makes two functions equal)
/// and the plan built from it once.
#[derive(Debug)]
struct State {
    json: String,
    spec: HashingSpec,
    plan: OnceLock<std::result::Result<ComparePlan, String>>,
    signature: Signature,
}

impl State {
    fn new(spec: HashingSpec) -> State {
        State {
            json: spec.to_json(),
            spec,
            plan: OnceLock::new(),
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    fn plan(&self) -> datafusion::common::Result<&ComparePlan> {
        self.plan
            .get_or_init(|| self.spec.plan().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|m| DataFusionError::Execution(m.clone()))
    }

    /// The arguments as one batch named as the plan names the side's columns.
    fn batch(
        &self,
        args: &ScalarFunctionArgs,
        columns: usize,
    ) -> datafusion::common::Result<RecordBatch> {
        let plan = self.plan()?;
        let names = plan.column_names(self.spec.side);
        if args.args.len() != columns {
            return Err(DataFusionError::Execution(format!(
                "recon function given {} columns where its plan has {columns}",
                args.args.len()
            )));
        }
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<datafusion::common::Result<_>>()?;
        let fields: Vec<Field> = names
            .iter()
            .zip(&arrays)
            .map(|(n, a)| Field::new(n, a.data_type().clone(), true))
            .collect();
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
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

/// `recon_row_hash(key..., value...)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RowHash(State);

impl RowHash {
    pub const NAME: &'static str = "recon_row_hash";

    pub fn new(spec: HashingSpec) -> RowHash {
        RowHash(State::new(spec))
    }

    pub fn spec_json(&self) -> &str {
        &self.0.json
    }
}

impl ScalarUDFImpl for RowHash {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::FixedSizeBinary(16))
    }

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

/// `recon_leaf(key...)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Leaf(State);

impl Leaf {
    pub const NAME: &'static str = "recon_leaf";

    pub fn new(spec: HashingSpec) -> Leaf {
        Leaf(State::new(spec))
    }

    pub fn spec_json(&self) -> &str {
        &self.0.json
    }
}

impl ScalarUDFImpl for Leaf {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::UInt32)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::common::Result<ColumnarValue> {
        let plan = self.0.plan()?;
        let batch = self.0.batch(&args, plan.key_columns().len())?;
        let boundaries = Boundaries::even_hashes(self.0.spec.leaves as usize);
        let leaves = self.0.keyed(|| {
            // Only the key columns are given: a plan of keys alone encodes them.
            let hasher = RowHasher::new(plan, self.0.spec.side)?;
            let encoded = hasher.encode_keys(&batch)?;
            Ok((0..batch.num_rows())
                .map(|i| {
                    let null = encoded.nulls.as_ref().is_some_and(|n| n[i]);
                    (!null).then(|| boundaries.leaf_of(encoded.keys.row(i).as_ref()) as u32)
                })
                .collect::<UInt32Array>())
        })?;
        Ok(ColumnarValue::Array(Arc::new(leaves)))
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
        let leaves = 16;
        let spec =
            HashingSpec::new(&schema, &schema, &selection, traits, Side::Left, leaves).unwrap();
        // Through JSON, as a codec would carry it.
        let spec = HashingSpec::from_json(&spec.to_json()).unwrap();

        // The local path.
        let plan = spec.plan().unwrap();
        let source =
            crate::source::MemorySource::new("t", schema.clone(), vec![vec![batch.clone()]])
                .unwrap();
        let boundaries = Boundaries::even_hashes(leaves as usize);
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
        ctx.register_udf(ScalarUDF::new_from_impl(Leaf::new(spec.clone())));
        ctx.register_udaf(AggregateUDF::new_from_impl(DigestSum::default()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let batches = runtime
            .block_on(async {
                ctx.sql(
                    "SELECT recon_leaf(id) AS leaf, count(*) AS n, \
                     recon_digest(recon_row_hash(id, name, amount)) AS d \
                     FROM t GROUP BY recon_leaf(id)",
                )
                .await?
                .collect()
                .await
            })
            .unwrap();
        let mut null_rows = 0;
        let mut seen = 0;
        for b in &batches {
            let leaf = b.column(0).as_primitive::<arrow::datatypes::UInt32Type>();
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
