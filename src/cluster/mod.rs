//! The hashing pass on an Apache DataFusion Ballista cluster (cargo feature
//! `cluster`). The expensive work, canonical row hashes and per-leaf
//! digests, runs on the executors as a distributed aggregate over recon's
//! own functions (`functions.rs`); the tree compare and the row diff stay
//! local. Row hashes are the very ones the local path computes, so a
//! cluster side compares with a local side or a snapshot.
//!
//! Today: the functions (`functions.rs`), the codecs that carry their state
//! to the scheduler and executors (`codec.rs`), and `recon cluster
//! scheduler|executor` (`serve.rs`). Next: `--cluster` on `diff`.

pub mod client;
pub mod codec;
pub mod functions;
pub mod serve;
