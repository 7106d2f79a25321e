//! The hashing pass on an Apache DataFusion Ballista cluster (cargo feature
//! `cluster`). The expensive work, canonical row hashes and per-leaf
//! digests, runs on the executors as a distributed aggregate over recon's
//! own functions (`functions.rs`); the tree compare and the row diff stay
//! local. Row hashes are the very ones the local path computes, so a
//! cluster side compares with a local side or a snapshot.
//!
//! Today: the functions and their proof of equality with the local path.
//! Next: `recon cluster scheduler|executor` (Ballista with these functions
//! registered, a codec carrying their state) and `--cluster` on `diff`.

pub mod functions;
