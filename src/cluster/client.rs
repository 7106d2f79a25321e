//! The client side of `--cluster`: the queries a run sends a Ballista
//! scheduler for one file side, and what comes back.
//!
//! Per side, three jobs: the digests (`GROUP BY recon_bucket(key)` of
//! `count(*)` and `recon_digest(recon_row_hash(...))`, partial sums on each
//! executor: per leaf, and per sub-bucket of a leaf by key hash), the key
//! hashes met more than once (duplicate-key candidates, over the key columns
//! alone), and, once the trees are compared here, the rows of divergent
//! sub-buckets and candidate keys (`WHERE recon_selected(key)`). Only
//! digests, key hashes and those rows cross the network.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, Schema, SchemaRef, UInt64Type};
use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::common::Column;
use datafusion::datasource::file_format::arrow::ArrowFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SessionStateBuilder;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{AggregateUDF, Expr, ScalarUDF, lit};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

use super::codec::{LogicalCodec, PhysicalCodec};
use super::functions::{Bucket, ChosenRows, DigestSum, HashingSpec, KeyHash, RowHash, Selected};
use crate::error::{Error, Result};
use crate::merkle::Digest;
use crate::source::{ClusterTable, FileFormat};

/// How long a job may take to be accepted (not to run): a scheduler that
/// does not answer within it is reported, not waited on forever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A Ballista scheduler, reached over gRPC.
pub struct Cluster {
    url: String,
    /// How long a job of one row may wait for an executor before the run
    /// stops (a cluster busy with other jobs can make it wait too).
    executor_wait: Duration,
    runtime: tokio::runtime::Runtime,
}

/// One side's hashing pass, as the cluster computed it.
#[derive(Debug, Default)]
pub struct ClusterDigests {
    /// Per leaf.
    pub leaves: Vec<Digest>,
    /// Per sub-bucket that holds rows (`leaf * sub_buckets + sub`), ascending.
    pub buckets: Vec<(u64, Digest)>,
    pub rows: u64,
    pub null_key_rows: u64,
    /// Key hashes met more than once, ascending.
    pub repeated_key_hashes: Vec<u64>,
    /// Arrow IPC bytes returned: digests, and repeated key hashes.
    pub digest_bytes: u64,
    pub key_hash_bytes: u64,
}

/// Rows fetched from the cluster.
pub struct ClusterRows {
    pub batches: Vec<RecordBatch>,
    pub bytes: u64,
}

/// One side as a table on the cluster.
pub struct ClusterSide<'a> {
    pub table: &'a ClusterTable,
    /// The side's schema as read here: the cluster reads the files under
    /// it, and rows come back in it.
    pub schema: SchemaRef,
    /// The side's spec (without bounds).
    pub spec: HashingSpec,
}

impl ClusterSide<'_> {
    /// The schema of the rows fetched: the side's scan columns (keys, then
    /// compared values) as read here.
    pub fn fetched_schema(&self) -> Result<SchemaRef> {
        let fields = self
            .spec
            .arguments(true)?
            .iter()
            .map(|n| self.schema.field_with_name(n).cloned())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Arc::new(Schema::new(fields)))
    }
}

/// The "cluster" that runs the same queries in this process's DataFusion:
/// the functions, plans and the row phase exactly as on a cluster, without
/// one (the property tests compare it with the local paths case by case).
pub const IN_PROCESS: &str = "in-process";

impl Cluster {
    /// A client of the scheduler at `url` (`df://HOST:PORT`, or [`IN_PROCESS`]).
    pub fn new(url: &str, executor_wait: Duration) -> Result<Cluster> {
        if !url.starts_with("df://") && url != IN_PROCESS {
            return Err(Error::Usage(format!(
                "--cluster {}: expected df://HOST:PORT (a Ballista scheduler, `recon cluster scheduler`)",
                crate::source::url::redact(url)
            )));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cluster runtime: {e}")))?;
        Ok(Cluster {
            url: url.to_string(),
            executor_wait,
            runtime,
        })
    }

    fn fail(&self, message: impl Into<String>) -> Error {
        Error::Cluster {
            url: crate::source::url::redact(&self.url),
            message: message.into(),
        }
    }

    /// A job's failure, with the cause Ballista leaves out where recon knows it.
    fn job_failed(&self, what: &str, e: datafusion::error::DataFusionError) -> Error {
        let text = crate::error::one_line(e.find_root());
        if text.contains("rejected by executor") || text.contains("is not known here") {
            return self.fail(format!(
                "{what}: an executor refused the job; it does not know recon's functions \
                 ({}, {}, {}, {}, {}): run `recon cluster executor` (built with the cluster \
                 feature, the same recon version) on every executor",
                RowHash::NAME,
                Bucket::NAME,
                DigestSum::NAME,
                KeyHash::NAME,
                Selected::NAME
            ));
        }
        if text.contains("ConnectError") || text.contains("tcp connect error") {
            // tonic's debug form: keep the operating system's own words.
            let reason = text
                .split("message: \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("no connection");
            return self.fail(format!(
                "cannot reach the scheduler: {}",
                reason.to_lowercase()
            ));
        }
        let text = text.trim_start_matches("Execution error: ");
        self.fail(format!("{what}: {text}"))
    }

    /// A session on the scheduler, with recon's codecs.
    async fn remote(&self) -> Result<SessionContext> {
        let config = without_file_statistics(
            SessionConfig::new_with_ballista()
                .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
                .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default())),
        );
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .build();
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            SessionContext::remote_with_state(&self.url, state),
        )
        .await
        .map_err(|_| self.fail("the scheduler did not answer within 30 s"))?
        .map_err(|e| {
            self.fail(format!(
                "cannot reach the scheduler: {}",
                crate::error::one_line(e)
            ))
        })
    }

    /// A session on the scheduler with the side's files as `t` and the
    /// side as a frame (its query, or all of `t`).
    async fn frame(&self, side: &ClusterSide<'_>) -> Result<DataFrame> {
        let ctx = if self.url == IN_PROCESS {
            // Several partitions, so partial sums are merged as on executors.
            let config = without_file_statistics(SessionConfig::new().with_target_partitions(3));
            SessionContext::new_with_config(config)
        } else {
            self.remote().await?
        };
        let table = side.table;
        let urls = table
            .files
            .iter()
            .map(|f| ListingTableUrl::parse(f.to_string_lossy()))
            .collect::<datafusion::error::Result<Vec<_>>>()
            .map_err(|e| self.fail(crate::error::one_line(e)))?;
        let format: Arc<dyn datafusion::datasource::file_format::FileFormat> = match table.format {
            FileFormat::Parquet => Arc::new(ParquetFormat::default()),
            FileFormat::Csv | FileFormat::Tsv => Arc::new(
                CsvFormat::default()
                    .with_has_header(table.has_header)
                    .with_delimiter(table.delimiter),
            ),
            FileFormat::NdJson => Arc::new(JsonFormat::default()),
            FileFormat::ArrowIpc => Arc::new(ArrowFormat),
        };
        let options = ListingOptions::new(format).with_file_extension("");
        let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options);
        // Without a query the side is the files: read them under the schema
        // they have here. A query's own schema is not the files'.
        let config = match table.query {
            None => config.with_schema(side.schema.clone()),
            Some(_) => config
                .infer_schema(&ctx.state())
                .await
                .map_err(|e| self.fail(crate::error::one_line(e)))?,
        };
        let listing =
            ListingTable::try_new(config).map_err(|e| self.fail(crate::error::one_line(e)))?;
        ctx.register_table("t", Arc::new(listing))
            .map_err(|e| self.fail(crate::error::one_line(e)))?;
        match &table.query {
            Some(q) => ctx.sql(q).await,
            None => ctx.table("t").await,
        }
        .map_err(|e| self.fail(crate::error::one_line(e)))
    }

    /// Each given side's digests and repeated key hashes, all jobs at once.
    pub fn digests(
        &self,
        sides: [Option<&ClusterSide<'_>>; 2],
        boundaries: &crate::merkle::Boundaries,
        sub_buckets: u32,
    ) -> Result<[Option<ClusterDigests>; 2]> {
        self.runtime.block_on(async {
            let [l, r] = sides;
            let work = async {
                futures::try_join!(
                    self.maybe_digests(l, boundaries, sub_buckets),
                    self.maybe_digests(r, boundaries, sub_buckets)
                )
            };
            // A scheduler without executors queues jobs for ever: a run must
            // not wait on it unnoticed.
            let (l, r) = tokio::select! {
                done = work => done?,
                failed = self.watch_for_executors() => return Err(failed),
            };
            Ok([l, r])
        })
    }

    /// Runs a job of one row beside the real ones; returns (an error) only
    /// if no executor runs it within the executor wait.
    async fn watch_for_executors(&self) -> Error {
        if self.url == IN_PROCESS {
            return std::future::pending().await;
        }
        let probe = async {
            let ctx = self.remote().await?;
            ctx.sql("SELECT 1")
                .await
                .map_err(|e| self.job_failed("a job of one row", e))?
                .collect()
                .await
                .map_err(|e| self.job_failed("a job of one row", e))
        };
        match tokio::time::timeout(self.executor_wait, probe).await {
            Ok(Ok(_)) => std::future::pending().await,
            Ok(Err(e)) => e,
            Err(_) => self.fail(format!(
                "no executor ran a task within {} s (--cluster-wait): are executors registered with the \
                 scheduler (recon cluster executor --scheduler HOST:PORT), and free?",
                self.executor_wait.as_secs_f64()
            )),
        }
    }

    async fn maybe_digests(
        &self,
        side: Option<&ClusterSide<'_>>,
        boundaries: &crate::merkle::Boundaries,
        sub_buckets: u32,
    ) -> Result<Option<ClusterDigests>> {
        match side {
            Some(side) => self
                .side_digests(side, boundaries, sub_buckets)
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    async fn side_digests(
        &self,
        side: &ClusterSide<'_>,
        boundaries: &crate::merkle::Boundaries,
        sub_buckets: u32,
    ) -> Result<ClusterDigests> {
        let spec = &side.spec;
        let keys = columns(&spec.arguments(false)?);
        let all = columns(&spec.arguments(true)?);
        let bucket = call(
            Bucket::new(spec.with_bounds(boundaries, sub_buckets)),
            keys.clone(),
        );
        let row_hash = call(RowHash::new(spec.clone()), all);
        let digest = AggregateUDF::new_from_impl(DigestSum::default()).call(vec![row_hash]);
        let key_hash = call(KeyHash::new(spec.clone()), keys);

        let frame = self.frame(side).await?;
        let digests = frame
            .clone()
            .aggregate(
                vec![bucket.alias("bucket")],
                vec![count(lit(1)).alias("n"), digest.alias("d")],
            )
            .map_err(|e| self.job_failed("leaf digests", e))?;
        let repeated = frame
            .select(vec![key_hash.alias("h")])
            .and_then(|f| f.filter(col("h").is_not_null()))
            .and_then(|f| f.aggregate(vec![col("h")], vec![count(lit(1)).alias("n")]))
            .and_then(|f| f.filter(col("n").gt(lit(1i64))))
            .and_then(|f| f.select(vec![col("h")]))
            .map_err(|e| self.job_failed("repeated keys", e))?;
        let (digests, repeated) = futures::try_join!(
            async {
                digests
                    .collect()
                    .await
                    .map_err(|e| self.job_failed("leaf digests", e))
            },
            async {
                repeated
                    .collect()
                    .await
                    .map_err(|e| self.job_failed("repeated keys", e))
            }
        )?;

        let sub_buckets = u64::from(sub_buckets.max(1));
        let mut out = ClusterDigests {
            leaves: vec![Digest::default(); boundaries.leaf_count()],
            digest_bytes: bytes(&digests),
            key_hash_bytes: bytes(&repeated),
            ..ClusterDigests::default()
        };
        for batch in &digests {
            let bucket = batch.column(0).as_primitive::<UInt64Type>();
            let rows = batch.column(1).as_primitive::<Int64Type>();
            let sums = batch.column(2).as_fixed_size_binary();
            for i in 0..batch.num_rows() {
                let n = rows.value(i) as u64;
                out.rows += n;
                if bucket.is_null(i) {
                    out.null_key_rows += n;
                    continue;
                }
                let sum: [u8; 16] = sums
                    .value(i)
                    .try_into()
                    .map_err(|_| self.fail("a digest of the wrong width"))?;
                let digest = Digest {
                    rows: n,
                    sum: u128::from_le_bytes(sum),
                };
                let leaf = out
                    .leaves
                    .get_mut((bucket.value(i) / sub_buckets) as usize)
                    .ok_or_else(|| self.fail("a leaf beyond the bounds sent"))?;
                leaf.merge(&digest);
                if sub_buckets > 1 {
                    out.buckets.push((bucket.value(i), digest));
                }
            }
        }
        out.buckets.sort_unstable_by_key(|b| b.0);
        for batch in &repeated {
            let h = batch.column(0).as_primitive::<UInt64Type>();
            out.repeated_key_hashes.extend(h.iter().flatten());
        }
        out.repeated_key_hashes.sort_unstable();
        out.repeated_key_hashes.dedup();
        Ok(out)
    }

    /// Both sides' rows in `chosen` leaves or with `chosen` key hashes, in
    /// the side's scan columns and types; a side without a choice is skipped.
    pub fn rows(
        &self,
        sides: [Option<(&ClusterSide<'_>, ChosenRows)>; 2],
    ) -> Result<[ClusterRows; 2]> {
        self.runtime.block_on(async {
            let [l, r] = sides;
            let (l, r) = futures::try_join!(self.side_rows(l), self.side_rows(r))?;
            Ok([l, r])
        })
    }

    async fn side_rows(&self, side: Option<(&ClusterSide<'_>, ChosenRows)>) -> Result<ClusterRows> {
        let Some((side, chosen)) = side else {
            return Ok(ClusterRows {
                batches: Vec::new(),
                bytes: 0,
            });
        };
        let names = side.spec.arguments(true)?;
        let keys = columns(&side.spec.arguments(false)?);
        let selected = call(Selected::new(chosen), keys);
        let frame = self.frame(side).await?;
        let batches = frame
            .filter(selected)
            .and_then(|f| f.select(columns(&names)))
            .map_err(|e| self.job_failed("rows of divergent leaves", e))?
            .collect()
            .await
            .map_err(|e| self.job_failed("rows of divergent leaves", e))?;
        let bytes = bytes(&batches);
        // In the types read here (an engine may read strings as views).
        let schema = side.fetched_schema()?;
        let batches = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                let arrays: Vec<ArrayRef> = b
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(a, f)| {
                        if a.data_type() == f.data_type() {
                            Ok(a.clone())
                        } else {
                            arrow::compute::cast(a, f.data_type())
                        }
                    })
                    .collect::<std::result::Result<_, _>>()?;
                Ok(RecordBatch::try_new(schema.clone(), arrays)?)
            })
            .collect::<Result<_>>()?;
        Ok(ClusterRows { batches, bytes })
    }
}

/// A session that reads files without gathering their statistics. DataFusion
/// 55 takes a Parquet column whose statistics say min = max with no NULLs
/// for a constant, but NaN is left out of a float column's statistics: its
/// NaNs were read as that one value (a wrong answer). The row groups are
/// still pruned by their own statistics.
pub fn without_file_statistics(config: SessionConfig) -> SessionConfig {
    config.set_bool("datafusion.execution.collect_statistics", false)
}

fn col(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

fn columns(names: &[String]) -> Vec<Expr> {
    names.iter().map(|n| col(n)).collect()
}

fn call(f: impl datafusion::logical_expr::ScalarUDFImpl + 'static, args: Vec<Expr>) -> Expr {
    ScalarUDF::new_from_impl(f).call(args)
}

/// The batches' size in Arrow IPC, the form they travel in (Flight).
fn bytes(batches: &[RecordBatch]) -> u64 {
    /// Counts what is written to it.
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let Some(first) = batches.first() else {
        return 0;
    };
    let mut count = Count(0);
    let written =
        arrow::ipc::writer::StreamWriter::try_new(&mut count, &first.schema()).and_then(|mut w| {
            batches.iter().try_for_each(|b| w.write(b))?;
            w.finish()
        });
    match written {
        Ok(()) => count.0,
        // Not a figure to fail a run over: the memory they hold instead.
        Err(_) => batches
            .iter()
            .map(|b| b.get_array_memory_size() as u64)
            .sum(),
    }
}
