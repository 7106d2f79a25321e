//! What a comparison is asked to do ([`Spec`]) and what it gives back
//! ([`Comparison`]), whichever strategy ran.

use super::rows::RowDiff;
use crate::error::Result;
use crate::plan::{ComparePlan, Selection};
use crate::report::{Mask, Report};

/// How to compare.
#[derive(Debug, Clone)]
pub struct Spec {
    pub selection: Selection,
    /// List at most this many differences in the report (all are counted).
    pub max_diffs: Option<usize>,
    /// Target rows per leaf: smaller leaves re-read less around each difference.
    pub leaf_rows: usize,
    /// Upper bound on leaves (memory is O(leaves)).
    pub max_leaves: usize,
    /// When many leaves diverge, their rows are read back and compared in
    /// groups of about this many rows, so memory holds one group at a time.
    pub group_rows: u64,
    /// Compare sources stored in key order in one merged pass (checked as
    /// it reads; off only to exercise the general path).
    pub merge_ordered: bool,
    /// Match unsorted positional sources by row fingerprints (off only to
    /// exercise the leaf path).
    pub unsorted_path: bool,
    /// Bytes a comparison may hold for per-row state (fingerprints); beyond
    /// it they go to a temporary file.
    pub memory_limit: u64,
    /// Worker threads for hashing and comparing.
    pub threads: usize,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Compare two database sides by checksums computed inside them (off:
    /// read both whole, e.g. to measure the difference).
    pub pushdown: bool,
    /// Compare two tables (or queries) of one PostgreSQL database with one
    /// join inside it instead of checksums (off: checksums, e.g. to compare
    /// the two).
    pub join_in_database: bool,
    /// Sessions per database for checksum queries (PostgreSQL; MySQL cannot
    /// share a snapshot between sessions and uses one).
    pub db_threads: usize,
    /// Columns (left or right names) whose values no output shows.
    pub mask: Vec<String>,
    /// Pause checksum queries while a server runs more than this many
    /// queries of others (`--max-load`).
    pub max_load: Option<u64>,
    /// Keep each side's leaves here between runs and re-hash only the
    /// files that changed (`--state`).
    pub state: Option<std::path::PathBuf>,
    /// With `state`: hash every file again (`--full`).
    pub full_rehash: bool,
    /// With `state` and two databases: take the chunks an unfinished run
    /// finished (`--resume=no`: start afresh).
    pub resume: bool,
    /// Hash file sides on a Ballista cluster (`--cluster`).
    pub cluster: Option<ClusterRun>,
}

/// A run whose file sides a cluster hashes.
#[derive(Debug, Clone)]
pub struct ClusterRun {
    /// The scheduler, `df://HOST:PORT`.
    pub url: String,
    /// Per side, the files the executors read (`None`: hashed here).
    pub tables: [Option<crate::source::ClusterTable>; 2],
    /// How long a job may wait for a free executor before the run fails.
    pub executor_wait: std::time::Duration,
}

impl ClusterRun {
    /// A run with at least one side of files (databases compute their
    /// checksums themselves, snapshots hold theirs).
    pub fn new(
        url: String,
        tables: [Option<crate::source::ClusterTable>; 2],
        executor_wait: std::time::Duration,
    ) -> crate::error::Result<ClusterRun> {
        if tables.iter().all(Option::is_none) {
            return Err(crate::error::Error::Usage(
                "--cluster hashes file sides: no side is files (databases compute their \
                 checksums themselves, snapshots hold theirs)"
                    .into(),
            ));
        }
        Ok(ClusterRun {
            url,
            tables,
            executor_wait,
        })
    }
}

/// [`ClusterRun::executor_wait`] unless told otherwise.
pub const EXECUTOR_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

impl Default for Spec {
    fn default() -> Self {
        Spec {
            selection: Selection::default(),
            max_diffs: None,
            leaf_rows: 256,
            max_leaves: 1 << 16,
            group_rows: 1 << 20,
            merge_ordered: true,
            unsorted_path: true,
            memory_limit: default_memory_limit(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            progress: false,
            join_in_database: true,
            pushdown: true,
            db_threads: 4,
            mask: Vec::new(),
            max_load: None,
            state: None,
            full_rehash: false,
            resume: true,
            cluster: None,
        }
    }
}

/// A finished comparison: the report, and the rows behind its differences.
pub struct Comparison {
    /// The report, masked columns already hidden.
    pub report: Report,
    pub plan: ComparePlan,
    /// The rows behind the differences, as read (unmasked: repair needs them).
    pub rows: RowDiff,
    /// The columns every output of this comparison hides.
    pub mask: Mask,
}

impl Comparison {
    /// Writes every differing row to a Parquet or CSV file.
    pub fn write_diffs(&self, path: &str) -> Result<u64> {
        crate::report::write_diffs(path, &self.plan, &self.rows, &self.mask)
    }

    /// Writes every differing row to a file opened earlier.
    pub fn write_diffs_to(&self, file: crate::report::DiffsFile) -> Result<u64> {
        file.write(&self.plan, &self.rows, &self.mask)
    }
}

/// A quarter of the machine's memory (Linux), at most 1 GiB: a 50M-row
/// pair in random order then spills 1.8 GB and peaks near 1.8 GB instead
/// of 2.7 GB (measured), for 2 to 12% more time than holding it all.
pub fn default_memory_limit() -> u64 {
    const CAP: u64 = 1 << 30;
    let total_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        });
    total_kib.map_or(CAP, |kib| (kib * 1024 / 4).min(CAP))
}
