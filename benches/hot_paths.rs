//! Micro-benchmarks of the hot paths, one thread each (per-core figures):
//! canonical row hashing, the leaf-digest pass, the tree compare and the row
//! diff. Run with `cargo bench --bench hot_paths`.

use std::hint::black_box;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use indicatif::ProgressBar;
use recon::Side;
use recon::canon;
use recon::compare::rows::{Reread, diff_rows};
use recon::merkle::{self, Boundaries, Digest, MerkleTree};
use recon::plan::{ComparePlan, Selection};
use recon::source::{MemorySource, Source};

const ROWS: i64 = 100_000;
const BATCH: i64 = 8192;

/// The generator's ten columns, in batches, ids 0, 2, 4, ...
fn batches(seed: u64) -> Vec<RecordBatch> {
    (0..ROWS)
        .step_by(BATCH as usize)
        .map(|start| {
            let ids = (start..(start + BATCH).min(ROWS)).map(|i| 2 * i);
            recon::generator::base_batch(seed, ids).expect("batch")
        })
        .collect()
}

fn source(name: &str, batches: Vec<RecordBatch>, positional: bool) -> MemorySource {
    let schema = batches[0].schema();
    let s = MemorySource::new(name, schema, vec![batches]).expect("source");
    if positional { s.positional() } else { s }
}

fn plan(source: &MemorySource) -> ComparePlan {
    let selection = Selection {
        key: vec!["id".into()],
        ..Selection::default()
    };
    ComparePlan::new(&source.schema(), &source.schema(), &selection).expect("plan")
}

fn single_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
        .install(f)
}

fn boundaries(source: &MemorySource, plan: &ComparePlan) -> Boundaries {
    let sample = merkle::sample_keys(source, &plan.key_columns(), Side::Left, ROWS as usize / 16)
        .expect("sample");
    Boundaries::from_samples(&[&sample], ROWS as usize / 256)
}

/// Canonical conversion and the 128-bit hash of every row.
fn row_hashing(c: &mut Criterion) {
    let batches = batches(1);
    let src = source("l", batches.clone(), false);
    let plan = plan(&src);
    let columns = plan.columns();
    // Bytes in: the Arrow buffers of the batches hashed.
    let bytes: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
    let hash_all = || {
        let mut sum = 0u128;
        for b in &batches {
            let canonical = canon::canonical_arrays(&columns, b.columns(), Side::Left).expect("c");
            for h in canon::row_hashes(&canonical).expect("hashes") {
                sum = sum.wrapping_add(h);
            }
        }
        sum
    };
    let mut group = c.benchmark_group("canonical_row_hash");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("rows", |b| b.iter(|| black_box(hash_all())));
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("bytes", |b| b.iter(|| black_box(hash_all())));
    group.finish();
}

/// The whole hashing pass over in-memory batches: encode, find the leaf, add to its digest.
fn leaf_digests(c: &mut Criterion) {
    let mut group = c.benchmark_group("leaf_digests");
    group.throughput(Throughput::Elements(ROWS as u64));
    for positional in [false, true] {
        let src = source("l", batches(1), positional);
        let plan = plan(&src);
        let bounds = boundaries(&src, &plan);
        let name = if positional {
            "positional"
        } else {
            "streaming"
        };
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                single_thread(|| {
                    merkle::hash_side(&src, &plan, Side::Left, &bounds, &ProgressBar::hidden())
                        .expect("hash")
                })
            })
        });
    }
    group.finish();
}

/// Building two trees of 65,536 leaves and comparing them, 1,000 leaves apart.
fn tree_compare(c: &mut Criterion) {
    let leaves: Vec<Digest> = (0..65_536u128)
        .map(|i| Digest {
            rows: 256,
            sum: i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        })
        .collect();
    let mut other = leaves.clone();
    for i in (0..other.len()).step_by(65) {
        other[i].sum ^= 1;
    }
    c.bench_function("tree_build_and_compare_65536_leaves", |b| {
        b.iter(|| {
            single_thread(|| {
                let (l, r) = (
                    MerkleTree::new(leaves.clone()),
                    MerkleTree::new(other.clone()),
                );
                black_box(merkle::compare(&l, &r).divergent_leaves.len())
            })
        })
    });
}

/// The row phase: read back the rows of 100 divergent leaves and diff them by key.
fn row_diff(c: &mut Criterion) {
    let left = batches(1);
    // The right side: the same rows with one value changed in every 1,000th row.
    let right: Vec<RecordBatch> = left
        .iter()
        .map(|b| {
            let mut columns = b.columns().to_vec();
            let qty = arrow::compute::cast(&columns[1], &arrow::datatypes::DataType::Int64)
                .expect("cast");
            let qty = qty
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .expect("int64");
            let changed: arrow::array::Int32Array = qty
                .iter()
                .enumerate()
                .map(|(i, v)| v.map(|v| if i % 1000 == 0 { v + 1 } else { v } as i32))
                .collect();
            columns[1] = Arc::new(changed);
            RecordBatch::try_new(b.schema(), columns).expect("batch")
        })
        .collect();
    let (l, r) = (source("l", left, true), source("r", right, true));
    let plan = plan(&l);
    let bounds = boundaries(&l, &plan);
    let hashed = |s: &MemorySource| {
        merkle::hash_side(s, &plan, Side::Left, &bounds, &ProgressBar::hidden()).expect("hash")
    };
    let (lh, rh) = (hashed(&l), hashed(&r));
    let cmp = merkle::compare(
        &MerkleTree::new(lh.leaves.clone()),
        &MerkleTree::new(rh.leaves.clone()),
    );
    let mut selected = vec![false; bounds.leaf_count()];
    for &leaf in &cmp.divergent_leaves {
        selected[leaf] = true;
    }
    let leaf_rows: Vec<u64> = lh.leaves.iter().map(|d| d.rows).collect();
    let mut group = c.benchmark_group("row_diff");
    group.throughput(Throughput::Elements(cmp.divergent_leaves.len() as u64));
    group.bench_function("divergent_leaves", |b| {
        b.iter(|| {
            single_thread(|| {
                let reread = Reread {
                    boundaries: &bounds,
                    leaves: &selected,
                    key_hashes: &[],
                    positions: [lh.positions.as_ref(), rh.positions.as_ref()],
                    leaf_rows: &leaf_rows,
                    group_rows: 1 << 20,
                };
                black_box(diff_rows(&l, &r, &plan, &reread).expect("diff").diffs.len())
            })
        })
    });
    group.finish();
}

criterion_group!(benches, row_hashing, leaf_digests, tree_compare, row_diff);
criterion_main!(benches);
