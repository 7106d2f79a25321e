//! recon: find where two data sources disagree.
//!
//! Sources are snapshotted as Arrow record batches ([`source`]), values are
//! brought to a canonical form ([`canon`]), both sides are hashed into the
//! same key-range leaves and compared as Merkle trees ([`merkle`]), only the
//! divergent leaves are compared row by row ([`compare`], which holds every
//! comparison strategy), and the outcome is one [`report::Report`] with
//! several renderers. `ARCHITECTURE.md` describes the data flow.
//!
//! ```no_run
//! # fn main() -> recon::Result<()> {
//! let runtime = tokio::runtime::Runtime::new().unwrap();
//! let options = recon::source::OpenOptions::default();
//! let left = recon::source::open("old.parquet", None, recon::Side::Left, &options, runtime.handle())?;
//! let right = recon::source::open("new.parquet", None, recon::Side::Right, &options, runtime.handle())?;
//! let mut spec = recon::Spec::default();
//! spec.selection.key = vec!["id".into()];
//! let outcome = recon::diff(left.as_ref(), right.as_ref(), &spec)?;
//! println!("{} changed", outcome.report.summary.changed);
//! # Ok(()) }
//! ```

pub mod aggregate;
pub mod canon;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod compare;
pub mod error;
pub mod generator;
pub mod history;
pub mod merkle;
pub mod output;
pub mod plan;
pub mod repair;
pub mod report;
pub mod rules;
pub mod snapshot;
pub mod source;

pub use compare::{Comparison, Spec, diff, explain};
pub use error::{Error, Result, Side};
pub use plan::Selection;
pub use report::{Report, Verdict};
