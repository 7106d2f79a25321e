//! The cluster path in a build without the `cluster` feature: a run that
//! asks for it stops with how to build it.

use super::{Comparison, Spec};
use crate::error::{Error, Result, Side};
use crate::merkle::{Boundaries, SideLeaves};
use crate::plan::ComparePlan;
use crate::source::{MemorySource, Source};

fn not_built() -> Error {
    Error::Usage(
        "--cluster: this recon was built without the cluster feature \
         (cargo build --release --features cluster)"
            .into(),
    )
}

pub(super) fn compare(_: &dyn Source, _: &dyn Source, _: &Spec) -> Result<Comparison> {
    Err(not_built())
}

/// Never made: [`LiveSide::new`] refuses a cluster and finds none otherwise.
pub(super) enum LiveSide {}

impl LiveSide {
    pub(super) fn new(
        spec: &Spec,
        _: &dyn Source,
        _: [arrow::datatypes::SchemaRef; 2],
        _: [crate::plan::SideTraits; 2],
        _: Side,
    ) -> Result<Option<LiveSide>> {
        match spec.cluster {
            Some(_) => Err(not_built()),
            None => Ok(None),
        }
    }

    pub(super) fn leaves(&self, _: &ComparePlan, _: &Boundaries) -> Result<SideLeaves> {
        match *self {}
    }

    pub(super) fn rows(&self, _: &Boundaries, _: &[usize]) -> Result<MemorySource> {
        match *self {}
    }
}
