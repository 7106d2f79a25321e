//! recon's functions carry their state ([`HashingSpec`] as JSON) from the
//! client to the scheduler and from the scheduler to the executors: codecs
//! around Ballista's own that write it into a plan's function definition
//! and read it back. Every other node and function is Ballista's (and
//! functions without state travel by name).

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference, not_impl_err};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use super::functions::{Bucket, DigestSum, HashingSpec, KeyHash, RowHash, Selected};

/// What `recon_digest` writes as its definition: it has no state, but
/// travelling in the plan it needs no registry on the other side.
const DIGEST: &[u8] = b"recon_digest";

fn encode_udaf(node: &AggregateUDF, buf: &mut Vec<u8>) {
    if node.inner().downcast_ref::<DigestSum>().is_some() {
        buf.extend_from_slice(DIGEST);
    }
}

fn decode_udaf(name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
    match (name, buf) {
        (DigestSum::NAME, DIGEST) => {
            Ok(Arc::new(AggregateUDF::new_from_impl(DigestSum::default())))
        }
        _ => not_impl_err!(
            "aggregate {name} is not known here: is this a recon executor (recon cluster executor)?"
        ),
    }
}

/// Writes a recon function's state (its spec as JSON); nothing for others.
fn encode_udf(node: &ScalarUDF, buf: &mut Vec<u8>) {
    let inner = node.inner();
    let state = if let Some(f) = inner.downcast_ref::<RowHash>() {
        f.state_json()
    } else if let Some(f) = inner.downcast_ref::<Bucket>() {
        f.state_json()
    } else if let Some(f) = inner.downcast_ref::<KeyHash>() {
        f.state_json()
    } else if let Some(f) = inner.downcast_ref::<Selected>() {
        f.state_json()
    } else {
        return;
    };
    buf.extend_from_slice(state.as_bytes());
}

/// A recon function from its name and state.
fn decode_udf(name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
    let external = |e: crate::error::Error| DataFusionError::External(Box::new(e));
    let text = || std::str::from_utf8(buf).map_err(|e| DataFusionError::External(Box::new(e)));
    let spec = || HashingSpec::from_json(text()?).map_err(external);
    let udf = |f: Arc<dyn datafusion::logical_expr::ScalarUDFImpl>| {
        Arc::new(ScalarUDF::new_from_shared_impl(f))
    };
    match name {
        RowHash::NAME => Ok(udf(Arc::new(RowHash::new(spec()?)))),
        Bucket::NAME => Ok(udf(Arc::new(Bucket::new(spec()?)))),
        KeyHash::NAME => Ok(udf(Arc::new(KeyHash::new(spec()?)))),
        Selected::NAME => Ok(udf(Arc::new(
            Selected::from_json(text()?).map_err(external)?,
        ))),
        _ => not_impl_err!(
            "function {name} is not known here: is this a recon executor (recon cluster executor)?"
        ),
    }
}

/// The methods both codecs share: recon's functions in, and out.
macro_rules! recon_functions {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
            decode_udf(name, buf)
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
            encode_udf(node, buf);
            Ok(())
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
            decode_udaf(name, buf)
        }

        fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
            encode_udaf(node, buf);
            Ok(())
        }
    };
}

/// Ballista's logical codec, with recon's functions.
#[derive(Debug, Default)]
pub struct LogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: arrow::datatypes::SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.inner
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    recon_functions!();
}

/// Ballista's physical codec, with recon's functions.
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    recon_functions!();
}
