//! Snapshots as a side: taking one (`recon snapshot`), and comparing a live
//! source against one (`recon diff SNAPSHOT RIGHT`). The live side is hashed
//! into the snapshot's leaves, under the snapshot's digest key; the trees
//! are compared; the live rows of divergent leaves are read back. The
//! snapshot holds no rows, so those rows cannot be matched: the report
//! names the divergent ranges and the live rows in them.

use std::time::Instant;

use indicatif::ProgressBar;

use super::Spec;
use super::rows::{self, KeptRows, Reread, RowDiff};
use crate::canon::keyed;
use crate::error::{Error, Result, Side};
use crate::merkle::{self, Boundaries, SideLeaves, TreeComparison};
use crate::plan::{ComparePlan, SideTraits};
use crate::report::{Report, ReportInput, SnapshotComparison, Stats, Strategy, values};
use crate::snapshot::{self, FileIdentity, HashPlan, Snapshot};
use crate::source::Source;

/// A snapshot keeps each file's part records but needs telling of none.
const NOTHING: merkle::OnPart<'static> = &|_, _| {};

/// Rows of the live side listed in the report (all are counted).
const LISTED_ROWS: usize = 1000;

/// Takes a snapshot of `source`: its leaves under `spec`'s key and columns,
/// cut like `like`'s when given (so that two snapshots compare).
pub fn take_snapshot(
    source: &dyn Source,
    spec: &Spec,
    like: Option<&Snapshot>,
    hash_keys: bool,
) -> Result<Snapshot> {
    crate::source::in_pool(spec.threads, || {
        let source: &dyn Source = match source.as_database() {
            Some(db) => db.load(&spec.selection.key)?,
            None => source,
        };
        let schema = source.schema();
        let traits = SideTraits {
            distinguishes_empty_from_null: source.distinguishes_empty_from_null(),
            declares_nullability: source.declares_nullability(),
        };
        let mut selection = spec.selection.clone();
        selection.map.clear();
        let plan = ComparePlan::with_traits(&schema, &schema, &selection, [traits, traits])?;
        let keys = plan.key_columns();
        let hash_plan = HashPlan::of(&plan, Side::Left, &schema);
        let boundaries = match like {
            Some(like) => {
                if let Some(why) = like.meta.plan.mismatch(&hash_plan) {
                    return Err(Error::Usage(format!(
                        "--like: the snapshot was taken under another plan: {why}"
                    )));
                }
                keyed::adopt(&like.meta.digest_key)
                    .map_err(|why| Error::Usage(format!("--like: {why}")))?;
                like.boundaries(&keys)?
            }
            None if hash_keys => {
                // Hashes spread evenly: equal widths need only the row count.
                let rows = match source.positional() {
                    Some(p) => p.part_rows().iter().sum::<u64>(),
                    None => crate::source::read_all(&[source], spec.threads)?[0],
                };
                Boundaries::even_hashes(super::leaves_for(spec, rows as usize))
            }
            None => {
                let rows = source
                    .positional()
                    .map(|p| p.part_rows().iter().sum::<u64>());
                let target = rows.map_or(usize::MAX, |r| {
                    super::leaves_for(spec, r as usize) * super::SAMPLES_PER_LEAF
                });
                let sample = merkle::sample_keys(source, &keys, Side::Left, target)?;
                let leaves = super::leaves_for(spec, sample.rows as usize);
                Boundaries::from_samples(&[&sample], leaves)
            }
        };
        let files = source.positional().map_or(&[][..], |p| p.files());
        let (leaves, records) = merkle::hash_side_keeping(
            source,
            &plan,
            Side::Left,
            &boundaries,
            &[],
            (!files.is_empty()).then_some(NOTHING),
            &ProgressBar::hidden(),
        )?;
        let start = std::time::SystemTime::now();
        let identities = files
            .iter()
            .map(|path| {
                FileIdentity::read(path, start, None).map_err(|message| Error::Source {
                    side: Side::Left,
                    source_name: source.describe().to_string(),
                    message: format!("{}: {message}", path.display()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut parts: Vec<Vec<merkle::PartRecord>> = vec![Vec::new(); files.len()];
        if let Some(positional) = source.positional() {
            for (part, record) in records {
                if let Some(f) = positional.part_file(part) {
                    parts[f].push(record);
                }
            }
        }
        let mut taken = Snapshot::of_side(
            source,
            hash_plan,
            spec.leaf_rows,
            &leaves,
            snapshot::decode_bounds(&keys, &boundaries)?,
            identities,
            &parts,
        );
        taken.meta.hashed_keys = boundaries.is_hashed();
        Ok(taken)
    })
}

/// One side of a comparison with a snapshot: the snapshot, or a live source.
pub enum SideInput<'a> {
    Snapshot {
        snapshot: &'a Snapshot,
        path: &'a str,
    },
    Live(&'a dyn Source),
}

/// Compares two sides of which at least one is a snapshot.
pub fn diff_with_snapshot(
    left: SideInput<'_>,
    right: SideInput<'_>,
    spec: &Spec,
    ranges_out: Option<&str>,
) -> Result<super::Comparison> {
    crate::source::in_pool(spec.threads, || {
        let started = Instant::now();
        let right_keys: Vec<String> = spec
            .selection
            .key
            .iter()
            .map(|k| spec.selection.right_name(k).to_string())
            .collect();
        // Each side's schema and traits; a database side is read whole.
        struct Opened<'a> {
            snapshot: Option<(&'a Snapshot, &'a str)>,
            live: Option<&'a dyn Source>,
            schema: arrow::datatypes::SchemaRef,
            traits: SideTraits,
        }
        let mut opened = Vec::new();
        for (input, keys) in [(left, &spec.selection.key), (right, &right_keys)] {
            opened.push(match input {
                SideInput::Snapshot { snapshot, path } => Opened {
                    schema: snapshot.meta.plan.schema()?,
                    traits: SideTraits {
                        distinguishes_empty_from_null: snapshot.meta.distinguishes_empty_from_null,
                        declares_nullability: snapshot.meta.declares_nullability,
                    },
                    snapshot: Some((snapshot, path)),
                    live: None,
                },
                SideInput::Live(source) => {
                    let source: &dyn Source = match source.as_database() {
                        Some(db) => db.load(keys)?,
                        None => source,
                    };
                    Opened {
                        schema: source.schema(),
                        traits: SideTraits {
                            distinguishes_empty_from_null: source.distinguishes_empty_from_null(),
                            declares_nullability: source.declares_nullability(),
                        },
                        snapshot: None,
                        live: Some(source),
                    }
                }
            });
        }
        let [l, r]: [Opened<'_>; 2] = opened
            .try_into()
            .map_err(|_| Error::Internal("two sides".into()))?;
        let plan =
            ComparePlan::with_traits(&l.schema, &r.schema, &spec.selection, [l.traits, r.traits])?;
        let keys = plan.key_columns();
        // Every snapshot must have been taken under this plan, with one key
        // and one cut of the key space.
        let mut boundaries: Option<(Boundaries, &Snapshot)> = None;
        for (side, o) in [(Side::Left, &l), (Side::Right, &r)] {
            let Some((snapshot, path)) = o.snapshot else {
                continue;
            };
            let fail = |message: String| Error::Snapshot {
                path: path.to_string(),
                message,
            };
            if snapshot.meta.partial {
                return Err(fail(
                    "the state of an unfinished run, not a snapshot: its leaves are incomplete"
                        .into(),
                ));
            }
            let here = HashPlan::of(&plan, side, &o.schema);
            if let Some(why) = snapshot.meta.plan.mismatch(&here) {
                return Err(fail(format!("taken under another plan: {why}")));
            }
            // Columns of the other side that the snapshot did not hash would
            // be compared against nothing.
            let unhashed = match side {
                Side::Left => &plan.right_only,
                Side::Right => &plan.left_only,
            };
            if !unhashed.is_empty() {
                let names: Vec<&str> = unhashed.iter().map(|c| c.name.as_str()).collect();
                return Err(fail(format!(
                    "taken under another plan: this comparison hashes {} that the snapshot \
                     did not (--exclude them, or take the snapshot with them)",
                    names.join(", ")
                )));
            }
            keyed::adopt(&snapshot.meta.digest_key).map_err(|why| {
                fail(format!(
                    "cannot be compared here: {why} (take both snapshots with --like)"
                ))
            })?;
            match &boundaries {
                None => boundaries = Some((snapshot.boundaries(&keys)?, snapshot)),
                Some((_, first)) => {
                    let same = first.bounds.len() == snapshot.bounds.len()
                        && first
                            .bounds
                            .iter()
                            .zip(&snapshot.bounds)
                            .all(|(a, b)| a.as_ref() == b.as_ref());
                    if !same {
                        return Err(fail(
                            "its leaves are cut differently from the other snapshot's \
                             (take it with `recon snapshot --like` the other)"
                                .into(),
                        ));
                    }
                }
            }
        }
        let Some((boundaries, first)) = boundaries else {
            return Err(Error::Internal("no snapshot side".into()));
        };
        let snapshot_keys = first.meta.plan.keys.clone();
        let sampled = Instant::now();
        let leaves_of = |side: Side, o: &Opened<'_>| -> Result<SideLeaves> {
            match (o.snapshot, o.live) {
                (Some((s, _)), _) => Ok(SideLeaves {
                    leaves: s.leaves.clone(),
                    rows: s.meta.rows,
                    null_key_rows: s.meta.null_key_rows,
                    ..SideLeaves::default()
                }),
                (None, Some(live)) => {
                    merkle::hash_side(live, &plan, side, &boundaries, &ProgressBar::hidden())
                }
                (None, None) => Err(Error::Internal("a side with no input".into())),
            }
        };
        let (left_leaves, right_leaves) = (leaves_of(Side::Left, &l)?, leaves_of(Side::Right, &r)?);
        let trees = merkle::compare_leaves(&left_leaves, &right_leaves);
        if let Some(path) = ranges_out {
            RangeSet::of(&plan, &boundaries, &trees.divergent_leaves, snapshot_keys)?
                .write(path)?;
        }
        let hashed = Instant::now();
        // The live rows of divergent leaves.
        let mut selected = vec![false; boundaries.leaf_count()];
        for &leaf in &trees.divergent_leaves {
            selected[leaf] = true;
        }
        let leaf_rows: Vec<u64> = left_leaves
            .leaves
            .iter()
            .zip(&right_leaves.leaves)
            .map(|(a, b)| a.rows.max(b.rows))
            .collect();
        let kept = |side: Side, o: &Opened<'_>, leaves: &SideLeaves| -> Result<Option<KeptRows>> {
            let Some(live) = o.live else {
                return Ok(None);
            };
            let reread = Reread {
                boundaries: &boundaries,
                leaves: &selected,
                key_hashes: &[],
                positions: [leaves.positions.as_ref(), leaves.positions.as_ref()],
                leaf_rows: &leaf_rows,
                group_rows: spec.group_rows,
            };
            Ok(Some(rows::rows_in(live, &plan, side, &reread)?))
        };
        let left_kept = kept(Side::Left, &l, &left_leaves)?;
        let right_kept = kept(Side::Right, &r, &right_leaves)?;
        let finished = Instant::now();
        let empty = |side: Side| KeptRows {
            batch: arrow::record_batch::RecordBatch::new_empty(std::sync::Arc::new(
                rows::scan_schema(&plan.columns(), side),
            )),
            rescanned: 0,
            reread: 0,
        };
        let row_diff = RowDiff {
            left: left_kept.clone().unwrap_or_else(|| empty(Side::Left)),
            right: right_kept.clone().unwrap_or_else(|| empty(Side::Right)),
            diffs: Vec::new(),
            duplicates: Vec::new(),
            unchanged: 0,
            column_mismatches: vec![0; plan.values.len()],
            tolerated_leaves: Vec::new(),
        };
        let stats = Stats {
            threads: spec.threads,
            strategy: Strategy::Leaves,
            leaves: boundaries.leaf_count(),
            divergent_leaves: trees.divergent_leaves.len(),
            tree_nodes_compared: trees.nodes_compared,
            left_rows_hashed: if l.live.is_some() {
                left_leaves.rows
            } else {
                0
            },
            right_rows_hashed: if r.live.is_some() {
                right_leaves.rows
            } else {
                0
            },
            left_rows_rescanned: row_diff.left.rescanned,
            right_rows_rescanned: row_diff.right.rescanned,
            left_rows_reread: row_diff.left.reread,
            right_rows_reread: row_diff.right.reread,
            seconds_sample: (sampled - started).as_secs_f64(),
            seconds_hash: (hashed - sampled).as_secs_f64(),
            seconds_rows: (finished - hashed).as_secs_f64(),
            seconds_total: (finished - started).as_secs_f64(),
            ..Stats::default()
        };
        let describe = |o: &Opened<'_>| match (o.snapshot, o.live) {
            (Some((s, path)), _) => {
                format!("snapshot {path} of {} ({})", s.meta.source, s.meta.created)
            }
            (None, Some(live)) => live.describe().to_string(),
            (None, None) => String::new(),
        };
        let (left_name, right_name) = (describe(&l), describe(&r));
        let mut report = Report::build(ReportInput {
            left_name: &left_name,
            right_name: &right_name,
            plan: &plan,
            boundaries: &boundaries,
            left_leaves: &left_leaves,
            right_leaves: &right_leaves,
            comparison: &trees,
            rows: &row_diff,
            max_diffs: spec.max_diffs,
            stats,
        })?;
        let live = [(Side::Left, &left_kept), (Side::Right, &right_kept)]
            .into_iter()
            .find_map(|(side, kept)| kept.as_ref().map(|k| (side, k)));
        finish_report(
            &mut report,
            &plan,
            [&left_leaves, &right_leaves],
            &trees,
            live,
            boundaries.is_hashed(),
        );
        let names = |schema: &arrow::datatypes::SchemaRef| -> Vec<String> {
            schema.fields().iter().map(|f| f.name().clone()).collect()
        };
        let mask = crate::report::Mask::resolve(
            &spec.mask,
            &spec.selection.map,
            &names(&l.schema),
            &names(&r.schema),
        )?;
        mask.apply_to_report(&mut report);
        Ok(super::Comparison {
            report,
            plan,
            rows: row_diff,
            mask,
        })
    })
}

/// What a comparison with a snapshot can say: the divergent ranges, and the
/// live rows in them (not matched: the snapshot has no rows). Counts of
/// only-left, only-right and changed rows are unknown and left at zero;
/// rows in equal leaves are unchanged.
fn finish_report(
    report: &mut Report,
    plan: &ComparePlan,
    [left, right]: [&SideLeaves; 2],
    trees: &TreeComparison,
    live: Option<(Side, &KeptRows)>,
    hashed: bool,
) {
    let mut divergent = vec![false; left.leaves.len()];
    for &leaf in &trees.divergent_leaves {
        divergent[leaf] = true;
    }
    report.summary.unchanged = left
        .leaves
        .iter()
        .zip(&right.leaves)
        .zip(&divergent)
        .filter(|(_, d)| !**d)
        .map(|((l, _), _)| l.rows)
        .sum();
    let (rows, listed) = match live {
        Some((side, kept)) => {
            let batch = &kept.batch;
            let names: Vec<&str> = plan.columns().iter().map(|c| c.name(side)).collect();
            let renderers: Vec<values::ValueRenderer> = batch
                .columns()
                .iter()
                .map(values::ValueRenderer::new)
                .collect();
            let listed = (0..batch.num_rows().min(LISTED_ROWS))
                .map(|i| values::row_object(&names, &renderers, i))
                .collect();
            (batch.num_rows() as u64, listed)
        }
        None => (0, Vec::new()),
    };
    for range in &mut report.ranges {
        range.differences = 0;
    }
    report.snapshot = Some(SnapshotComparison {
        live_side: live.map(|(side, _)| side),
        live_rows_in_ranges: rows,
        rows_truncated: rows as usize > listed.len(),
        rows: listed,
    });
    report.schema.notes.push(match live {
        Some((side, _)) => format!(
            "compared with a snapshot, which holds digests, not rows: {} divergent ranges \
                 hold {rows} rows of the {} side; their counterparts are not known \
                 (`--ranges-out FILE`, then `recon extract` on the snapshot's source)",
            report.ranges.len(),
            side.name()
        ),
        None => format!(
            "two snapshots compared by digest: {} divergent ranges",
            report.ranges.len()
        ),
    });
    if hashed {
        report.schema.notes.push(
            "the snapshot's leaves cut key hashes (--hash-keys): its ranges hold keys \
             scattered over the key space and are named by hash, not by key"
                .into(),
        );
    }
    if !trees.divergent_leaves.is_empty() {
        report.verdict = crate::report::Verdict::Different;
    }
}

/// The divergent ranges of a comparison with a snapshot, as written by
/// `--ranges-out`: what the party holding the snapshot's source extracts.
#[derive(Debug, Clone)]
pub struct RangeSet {
    /// How the key was hashed and ordered (the snapshot's key columns).
    pub keys: Vec<crate::snapshot::HashedColumn>,
    /// Per range, its inclusive lower and exclusive upper bound (`None`:
    /// unbounded), as key arrays of one row each... held encoded here.
    bounds: Vec<KeyRange>,
    /// The bounds as key arrays, `from` and `to` per sort field, for the file.
    arrays: Vec<ArrayRef>,
    /// The ranges are of key hashes (a snapshot taken with `--hash-keys`).
    hashed: bool,
}

use arrow::array::ArrayRef;

/// A key range: inclusive lower and exclusive upper bound, encoded (`None`: unbounded).
type KeyRange = (Option<Box<[u8]>>, Option<Box<[u8]>>);

const RANGES_FORMAT: &str = "recon-ranges";
const RANGES_KEY: &str = "recon.ranges";

#[derive(serde::Serialize, serde::Deserialize)]
struct RangesMeta {
    format: String,
    version: u32,
    keys: Vec<crate::snapshot::HashedColumn>,
    ranges: usize,
    #[serde(default)]
    hashed_keys: bool,
    /// Ranges of key hashes hold only under the snapshot's digest key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest_key: Option<String>,
}

impl RangeSet {
    /// The divergent ranges of `comparison` (a comparison with a snapshot).
    pub fn of(
        plan: &ComparePlan,
        boundaries: &Boundaries,
        divergent: &[usize],
        key_plan: Vec<crate::snapshot::HashedColumn>,
    ) -> Result<Self> {
        let mut selected = vec![false; boundaries.leaf_count()];
        for &l in divergent {
            selected[l] = true;
        }
        let runs = rows::leaf_runs(&selected, usize::MAX);
        let bounds: Vec<KeyRange> = runs
            .iter()
            .map(|&(a, b)| {
                (
                    boundaries.lower(a).map(Into::into),
                    boundaries.upper(b).map(Into::into),
                )
            })
            .collect();
        let keys = plan.key_columns();
        let converter = crate::canon::row_converter(&keys)?;
        // Unbounded ends are stored as NULL: each bound column is the
        // from-bounds then the to-bounds, with nulls where unbounded.
        let present: Vec<&[u8]> = bounds
            .iter()
            .flat_map(|(f, t)| [f.as_deref(), t.as_deref()])
            .flatten()
            .collect();
        let decoded: Vec<ArrayRef> = if boundaries.is_hashed() {
            let hashes: Vec<u64> = present
                .iter()
                .map(|b| u64::from_be_bytes(b[..8].try_into().unwrap_or_default()))
                .collect();
            vec![std::sync::Arc::new(arrow::array::UInt64Array::from(hashes))]
        } else if present.is_empty() {
            converter.convert_rows(std::iter::empty())?
        } else {
            Boundaries::decode(&converter, &present)?
        };
        let mut index: Vec<Option<u32>> = Vec::new();
        let mut next = 0u32;
        for (f, t) in &bounds {
            for b in [f, t] {
                index.push(b.as_ref().map(|_| {
                    next += 1;
                    next - 1
                }));
            }
        }
        let take = arrow::array::UInt32Array::from(index);
        let arrays = decoded
            .iter()
            .map(|a| arrow::compute::take(a, &take, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(RangeSet {
            keys: key_plan,
            bounds,
            arrays,
            hashed: boundaries.is_hashed(),
        })
    }

    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Writes the ranges as a Parquet file: two rows per range (from, to),
    /// a column per key sort field, NULL where a range is unbounded.
    pub fn write(&self, path: &str) -> Result<()> {
        let fail = |e: String| Error::Output {
            path: path.to_string(),
            message: e,
        };
        let mut out = crate::report::OutputFile::create(path)?;
        let fields: Vec<arrow::datatypes::Field> = self
            .arrays
            .iter()
            .enumerate()
            .map(|(i, a)| {
                arrow::datatypes::Field::new(format!("bound_{i}"), a.data_type().clone(), true)
            })
            .collect();
        let ends = arrow::array::StringArray::from_iter_values(
            (0..self.bounds.len()).flat_map(|_| ["from", "to"]),
        );
        let mut columns: Vec<ArrayRef> = vec![std::sync::Arc::new(ends)];
        columns.extend(self.arrays.iter().cloned());
        let mut all_fields = vec![arrow::datatypes::Field::new(
            "end",
            arrow::datatypes::DataType::Utf8,
            false,
        )];
        all_fields.extend(fields);
        let batch = arrow::record_batch::RecordBatch::try_new(
            std::sync::Arc::new(arrow::datatypes::Schema::new(all_fields)),
            columns,
        )?;
        let meta = serde_json::to_string(&RangesMeta {
            format: RANGES_FORMAT.into(),
            version: crate::snapshot::VERSION,
            keys: self.keys.clone(),
            ranges: self.bounds.len(),
            hashed_keys: self.hashed,
            digest_key: self.hashed.then(crate::canon::keyed::exported),
        })
        .map_err(|e| fail(e.to_string()))?;
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
                RANGES_KEY.to_string(),
                meta,
            )]))
            .build();
        let file = out.file().try_clone().map_err(|e| fail(e.to_string()))?;
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(properties))
                .map_err(|e| fail(crate::error::one_line(e)))?;
        writer
            .write(&batch)
            .map_err(|e| fail(crate::error::one_line(e)))?;
        writer
            .close()
            .map_err(|e| fail(crate::error::one_line(e)))?;
        out.commit()
    }

    /// Reads a ranges file for a source whose key is hashed as `plan`'s.
    pub fn read(
        path: &str,
        plan: &ComparePlan,
        side: Side,
        schema: &arrow::datatypes::Schema,
    ) -> Result<Self> {
        let fail = |message: String| Error::Snapshot {
            path: path.to_string(),
            message,
        };
        let (meta, builder) = open_ranges(path)?;
        let here = HashPlan::of(plan, side, schema);
        let stored = HashPlan {
            keys: meta.keys.clone(),
            values: Vec::new(),
        };
        let mine = HashPlan {
            keys: here.keys.clone(),
            values: Vec::new(),
        };
        if let Some(why) = stored.mismatch(&mine) {
            return Err(fail(format!("written for another key: {why}")));
        }
        let batches = builder
            .build()
            .map_err(|e| fail(crate::error::one_line(e)))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| fail(crate::error::one_line(e)))?;
        let schema = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| std::sync::Arc::new(arrow::datatypes::Schema::empty()));
        let batch = arrow::compute::concat_batches(&schema, &batches)?;
        if batch.num_rows() != 2 * meta.ranges {
            return Err(fail("damaged: range count".into()));
        }
        let arrays: Vec<ArrayRef> = batch.columns()[1..].to_vec();
        if meta.hashed_keys {
            crate::canon::keyed::adopt(meta.digest_key.as_deref().unwrap_or_default())
                .map_err(|why| fail(format!("ranges of key hashes: {why}")))?;
            let hashes = arrays
                .first()
                .and_then(|a| a.as_any().downcast_ref::<arrow::array::UInt64Array>())
                .ok_or_else(|| fail("damaged: hash bounds".into()))?;
            let bound = |i: usize| {
                (!arrow::array::Array::is_null(hashes, i))
                    .then(|| hashes.value(i).to_be_bytes().to_vec().into())
            };
            let bounds = (0..meta.ranges)
                .map(|r| (bound(2 * r), bound(2 * r + 1)))
                .collect();
            return Ok(RangeSet {
                keys: meta.keys,
                bounds,
                arrays,
                hashed: true,
            });
        }
        let keys = plan.key_columns();
        let converter = crate::canon::row_converter(&keys)?;
        let expected: Vec<arrow::datatypes::DataType> = converter
            .convert_rows(std::iter::empty())?
            .iter()
            .map(|a| a.data_type().clone())
            .collect();
        if expected.len() != arrays.len() {
            return Err(fail("damaged: key fields".into()));
        }
        let cast = arrays
            .iter()
            .zip(&expected)
            .map(|(a, t)| arrow::compute::cast(a, t).map_err(Error::Data))
            .collect::<Result<Vec<_>>>()?;
        let rows = converter.convert_columns(&cast)?;
        let nulls = cast.first().and_then(|a| a.logical_nulls());
        let bound = |i: usize| -> Option<Box<[u8]>> {
            if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                None
            } else {
                Some(rows.row(i).as_ref().into())
            }
        };
        let bounds = (0..meta.ranges)
            .map(|r| (bound(2 * r), bound(2 * r + 1)))
            .collect();
        Ok(RangeSet {
            keys: meta.keys,
            bounds,
            arrays: cast,
            hashed: false,
        })
    }

    /// Whether an encoded key lies in one of the ranges.
    fn contains(&self, key: &[u8]) -> bool {
        if self.hashed {
            return self.contains_bytes(&crate::canon::key_hash(key).to_be_bytes());
        }
        self.contains_bytes(key)
    }

    fn contains_bytes(&self, key: &[u8]) -> bool {
        // Ranges are sorted and disjoint: the last one starting at or below the key.
        let after = self
            .bounds
            .partition_point(|(from, _)| from.as_deref().is_none_or(|f| f <= key));
        after > 0
            && self.bounds[after - 1]
                .1
                .as_deref()
                .is_none_or(|to| key < to)
    }
}

/// The rows of `source` whose key lies in `ranges`, every column, as an
/// in-memory positional source (what `recon extract` writes, and what a
/// diff restricted by `--ranges` compares).
pub fn rows_in_ranges(
    source: &dyn Source,
    key: &[String],
    side: Side,
    ranges_path: &str,
) -> Result<crate::source::MemorySource> {
    use rayon::prelude::*;
    let source: &dyn Source = match source.as_database() {
        Some(db) => db.load(key)?,
        None => source,
    };
    let schema = source.schema();
    let selection = crate::plan::Selection {
        key: key.to_vec(),
        ..Default::default()
    };
    let plan = ComparePlan::new(&schema, &schema, &selection)?;
    let ranges = RangeSet::read(ranges_path, &plan, side, &schema)?;
    let keys = plan.key_columns();
    let converter = crate::canon::row_converter(&keys)?;
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let key_index: Vec<usize> = keys
        .iter()
        .map(|k| schema.index_of(k.name(side)))
        .collect::<std::result::Result<_, _>>()?;
    let partitions: Vec<Vec<arrow::record_batch::RecordBatch>> = source
        .scan(&names, None)?
        .into_par_iter()
        .map(|stream| {
            let mut kept = Vec::new();
            for batch in stream {
                let batch = batch?;
                let key_arrays: Vec<ArrayRef> =
                    key_index.iter().map(|&i| batch.column(i).clone()).collect();
                let encoded = crate::canon::encode(
                    &converter,
                    &crate::canon::canonical_arrays(&keys, &key_arrays, side)?,
                )?;
                let nulls = crate::canon::null_rows(&key_arrays);
                let mask: arrow::array::BooleanArray = (0..batch.num_rows())
                    .map(|i| {
                        Some(
                            !nulls.as_ref().is_some_and(|n| n[i])
                                && ranges.contains(encoded.row(i).as_ref()),
                        )
                    })
                    .collect();
                let filtered = arrow::compute::filter_record_batch(&batch, &mask)?;
                if filtered.num_rows() > 0 {
                    kept.push(filtered);
                }
            }
            Ok(kept)
        })
        .collect::<Result<_>>()?;
    let memory = crate::source::MemorySource::new(
        format!(
            "{} (in {} ranges of {ranges_path})",
            source.describe(),
            ranges.len()
        ),
        schema,
        partitions,
    )?;
    Ok(memory.positional())
}

/// The key names a ranges file was written for (the snapshot's).
pub fn ranges_key(path: &str) -> Result<Vec<String>> {
    let (meta, _) = open_ranges(path)?;
    Ok(meta.keys.into_iter().map(|k| k.name).collect())
}

/// A ranges file's metadata, checked, and a reader of its rows.
fn open_ranges(
    path: &str,
) -> Result<(
    RangesMeta,
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<std::fs::File>,
)> {
    let fail = |message: String| Error::Snapshot {
        path: path.to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(crate::error::one_line(e)))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| fail(format!("not a ranges file: {}", crate::error::one_line(e))))?;
    let meta: RangesMeta = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kvs| kvs.iter().find(|kv| kv.key == RANGES_KEY))
        .and_then(|kv| kv.value.as_deref())
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| fail("not a recon ranges file".into()))?;
    if meta.format != RANGES_FORMAT || meta.version != crate::snapshot::VERSION {
        return Err(fail(format!(
            "ranges file version {} is not one this recon reads",
            meta.version
        )));
    }
    Ok((meta, builder))
}

/// Writes the rows of `source` in the ranges of `ranges_path` to a Parquet
/// file (`recon extract`); returns how many.
pub fn extract(
    source: &dyn Source,
    key: &[String],
    ranges_path: &str,
    out_path: &str,
) -> Result<u64> {
    let rows = rows_in_ranges(source, key, Side::Left, ranges_path)?;
    let schema = rows.schema();
    let mut out = crate::report::OutputFile::create(out_path)?;
    let fail = |e: String| Error::Output {
        path: out_path.to_string(),
        message: e,
    };
    let file = out.file().try_clone().map_err(|e| fail(e.to_string()))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None)
        .map_err(|e| fail(crate::error::one_line(e)))?;
    let mut count = 0u64;
    for stream in rows.scan(
        &schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>(),
        None,
    )? {
        for batch in stream {
            let batch = batch?;
            count += batch.num_rows() as u64;
            writer
                .write(&batch)
                .map_err(|e| fail(crate::error::one_line(e)))?;
        }
    }
    writer
        .close()
        .map_err(|e| fail(crate::error::one_line(e)))?;
    out.commit()?;
    Ok(count)
}
