//! Incremental re-verification (`--state DIR`): the general path (hash into
//! leaves, compare trees, read back divergent leaves) over sources read from
//! files, where the parts of files unchanged since the last run are not read
//! again: their contribution to each leaf, kept in the state, is added
//! instead. Leaf digests are sums, so the side's digests are the same as if
//! every file had been read. The last run's boundaries are kept, unless the
//! leaves have drifted far from an even size (then they are planned afresh
//! and every file is read).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use indicatif::ProgressBar;

use super::Outcome;
use super::reread::reread_divergent;
use crate::canon::keyed;
use crate::error::{Result, Side};
use crate::merkle::{self, Boundaries, PartRecord, SideLeaves};
use crate::plan::ComparePlan;
use crate::report::{StateStats, Strategy};
use crate::snapshot::state::{SideState, StateDir};
use crate::snapshot::{self, FileIdentity, HashPlan, Snapshot};
use crate::source::{Positional, Source};

/// Leaves whose largest holds this many times the mean are re-planned.
const DRIFT: u64 = 8;

/// What an incremental comparison gives back: the outcome, the boundaries
/// it used, what the report should say, and the state to keep once the
/// run has succeeded.
pub(super) struct Incremental {
    pub outcome: Outcome,
    pub boundaries: Boundaries,
    pub notes: Vec<String>,
    pub stats: StateStats,
    pub states: [SideState; 2],
}

/// How many leaves a fresh plan would make, and how to make them.
pub(super) struct FreshPlan<'a> {
    pub leaves: usize,
    pub boundaries: &'a (dyn Fn() -> Result<Boundaries> + Sync),
}

/// Compares two file sources reusing `state`, or `None` when a side is not
/// read from files by position (the caller compares the usual way).
pub(super) fn compare(
    sources: [&dyn Source; 2],
    plan: &ComparePlan,
    spec: &super::Spec,
    state: &StateDir,
    fresh: FreshPlan<'_>,
    progress: &ProgressBar,
) -> Result<Option<Incremental>> {
    let [Some(left_p), Some(right_p)] = sources.map(|s| s.positional()) else {
        return Ok(None);
    };
    if left_p.files().is_empty() || right_p.files().is_empty() {
        return Ok(None);
    }
    let run_start = SystemTime::now();
    let here = [Side::Left, Side::Right]
        .map(|side| HashPlan::of(plan, side, &sources[side as usize].schema()));
    let mut notes = Vec::new();
    let mut stats = StateStats::default();
    let loaded = if spec.full_rehash {
        notes.push("state: --full, every file hashed again".to_string());
        None
    } else {
        match (state.load(Side::Left), state.load(Side::Right)) {
            (Ok(None), Ok(None)) => {
                notes.push(format!(
                    "state: none yet in {}; every file hashed",
                    state.path().display()
                ));
                None
            }
            (Ok(Some(l)), Ok(Some(r))) => match usable(&l, &r, &here, spec) {
                Ok(()) => {
                    if l.snapshot.meta.partial || r.snapshot.meta.partial {
                        notes.push(
                            "state: continues an unfinished run (the files it had hashed are \
                             reused if unchanged)"
                                .into(),
                        );
                    }
                    Some([l, r])
                }
                Err(reason) => {
                    notes.push(format!("state not reused ({reason}); every file hashed"));
                    None
                }
            },
            (Err(reason), _) | (_, Err(reason)) => {
                notes.push(format!("state not reused ({reason}); every file hashed"));
                None
            }
            _ => {
                notes.push(
                    "state not reused (only one side's state was found); every file hashed".into(),
                );
                None
            }
        }
    };
    let keys = plan.key_columns();
    let (mut boundaries, mut bounds) = match &loaded {
        Some([l, _]) => (l.snapshot.boundaries(&keys)?, l.snapshot.bounds.clone()),
        None => {
            let b = (fresh.boundaries)()?;
            let bounds = snapshot::decode_bounds(&keys, &b)?;
            (b, bounds)
        }
    };
    let positionals: [&dyn Positional; 2] = [left_p, right_p];
    let mut reuse = [Side::Left, Side::Right].map(|side| {
        reusable(
            positionals[side as usize],
            loaded.as_ref().map(|l| &l[side as usize]),
            run_start,
        )
    });
    // Both sides hashed into `boundaries`, progress saved as files finish.
    let hash = |boundaries: &Boundaries,
                bounds: &[arrow::array::ArrayRef],
                reuse: &[(Vec<Option<PartRecord>>, Vec<FileIdentity>); 2]| {
        let saver = Progress::new(
            state,
            sources,
            &here,
            spec.leaf_rows,
            boundaries.leaf_count(),
            bounds,
            reuse,
        );
        hash_both(sources, plan, boundaries, reuse, &saver, progress)
    };
    let mut hashed = hash(&boundaries, &bounds, &reuse)?;
    if loaded.is_some()
        && let Some(reason) = drifted(&hashed[0].0, &hashed[1].0, fresh.leaves)
    {
        notes.push(format!(
            "state: leaf boundaries re-planned ({reason}); every file hashed"
        ));
        stats.replanned = true;
        boundaries = (fresh.boundaries)()?;
        bounds = snapshot::decode_bounds(&keys, &boundaries)?;
        for r in &mut reuse {
            r.0.iter_mut().for_each(|p| *p = None);
        }
        hashed = hash(&boundaries, &bounds, &reuse)?;
    }
    stats.reused = loaded.is_some() && !stats.replanned;
    let [(left_leaves, left_records), (right_leaves, right_records)] = hashed;
    let trees = merkle::compare_leaves(&left_leaves, &right_leaves);
    let hashed_at = Instant::now();
    let rows = reread_divergent(
        sources,
        plan,
        &boundaries,
        [&left_leaves, &right_leaves],
        &trees.divergent_leaves,
        spec.group_rows,
    )?;

    let mut states = Vec::with_capacity(2);
    let side_data = [
        (Side::Left, &left_leaves, left_records),
        (Side::Right, &right_leaves, right_records),
    ];
    for ((side, leaves, records), (kept, identities)) in side_data.into_iter().zip(reuse) {
        let positional = positionals[side as usize];
        let (parts, counts) = parts_by_file(positional, kept, records)?;
        let reused = &counts;
        match side {
            Side::Left => {
                (stats.left_files_reused, stats.left_files_hashed) = (reused.0, reused.1);
                stats.left_rows_reused = reused.2;
            }
            Side::Right => {
                (stats.right_files_reused, stats.right_files_hashed) = (reused.0, reused.1);
                stats.right_rows_reused = reused.2;
            }
        }
        states.push(side_state(
            sources[side as usize],
            &here[side as usize],
            spec.leaf_rows,
            leaves,
            &bounds,
            identities,
            parts,
        ));
    }
    let Ok(states) = <[SideState; 2]>::try_from(states) else {
        unreachable!("two sides")
    };
    Ok(Some(Incremental {
        outcome: Outcome {
            left: left_leaves,
            right: right_leaves,
            trees,
            rows,
            strategy: Strategy::Leaves,
            hashed: hashed_at,
            spilled: 0,
        },
        boundaries,
        notes,
        stats,
        states,
    }))
}

/// Why the states of the two sides cannot be reused, if they cannot.
fn usable(
    left: &SideState,
    right: &SideState,
    here: &[HashPlan; 2],
    spec: &super::Spec,
) -> std::result::Result<(), String> {
    for (side, state) in [(Side::Left, left), (Side::Right, right)] {
        let meta = &state.snapshot.meta;
        if let Some(why) = meta.plan.mismatch(&here[side as usize]) {
            return Err(format!("{} side: {why}", side.name()));
        }
        if meta.leaf_rows != spec.leaf_rows {
            return Err(format!(
                "it was planned for {} rows per leaf, this run asks for {}",
                meta.leaf_rows, spec.leaf_rows
            ));
        }
    }
    if left.snapshot.meta.digest_key != right.snapshot.meta.digest_key
        || left.snapshot.leaves.len() != right.snapshot.leaves.len()
        || left.snapshot.bounds.len() != right.snapshot.bounds.len()
        || left
            .snapshot
            .bounds
            .iter()
            .zip(&right.snapshot.bounds)
            .any(|(a, b)| a.as_ref() != b.as_ref())
    {
        return Err("the two sides' states are from different runs".into());
    }
    keyed::adopt(&left.snapshot.meta.digest_key)
}

/// Per part of a positional source, the record to reuse (parts of files
/// unchanged since `stored` was kept), and every file's identity now.
fn reusable(
    positional: &dyn Positional,
    stored: Option<&SideState>,
    run_start: SystemTime,
) -> (Vec<Option<PartRecord>>, Vec<FileIdentity>) {
    let files = positional.files();
    let earlier: HashMap<&str, usize> = stored
        .map(|s| {
            s.snapshot
                .meta
                .files
                .iter()
                .enumerate()
                .map(|(i, f)| (f.identity.path.as_str(), i))
                .collect()
        })
        .unwrap_or_default();
    let mut parts_of: Vec<Vec<usize>> = vec![Vec::new(); files.len()];
    for part in 0..positional.part_rows().len() {
        if let Some(f) = positional.part_file(part) {
            parts_of[f].push(part);
        }
    }
    let mut reuse = vec![None; positional.part_rows().len()];
    let mut identities = Vec::with_capacity(files.len());
    for (f, path) in files.iter().enumerate() {
        let before = earlier
            .get(path.to_string_lossy().as_ref())
            .and_then(|&i| Some((stored?, i)));
        let previous = before.map(|(s, i)| &s.snapshot.meta.files[i].identity);
        let identity = match FileIdentity::read(path, run_start, previous) {
            Ok(id) => id,
            // Unreadable now: the read itself will say why.
            Err(_) => FileIdentity {
                path: path.to_string_lossy().into_owned(),
                size: 0,
                modified_ns: 0,
                changed_ns: 0,
                inode: 0,
                device: 0,
                content: None,
            },
        };
        if let (Some((state, i)), Some(previous)) = (before, previous) {
            let records = &state.parts[i];
            let same_parts = records.len() == parts_of[f].len()
                && records
                    .iter()
                    .zip(&parts_of[f])
                    .all(|(r, &p)| r.rows == positional.part_rows()[p]);
            // NULL-key rows are shown as examples, which a reused part cannot give.
            if previous.unchanged(&identity)
                && same_parts
                && records.iter().all(|r| r.null_key_rows == 0)
            {
                for (r, &p) in records.iter().zip(&parts_of[f]) {
                    reuse[p] = Some(r.clone());
                }
            }
        }
        identities.push(identity.settled(run_start));
    }
    (reuse, identities)
}

type Hashed = (SideLeaves, Vec<(usize, PartRecord)>);

fn hash_both(
    [left, right]: [&dyn Source; 2],
    plan: &ComparePlan,
    boundaries: &Boundaries,
    reuse: &[(Vec<Option<PartRecord>>, Vec<FileIdentity>); 2],
    saver: &Progress<'_>,
    progress: &ProgressBar,
) -> Result<[Hashed; 2]> {
    let (on_left, on_right) = (
        |part: usize, record: &PartRecord| saver.note(Side::Left, part, record),
        |part: usize, record: &PartRecord| saver.note(Side::Right, part, record),
    );
    let (l, r) = rayon::join(
        || {
            merkle::hash_side_keeping(
                left,
                plan,
                Side::Left,
                boundaries,
                &reuse[0].0,
                Some(&on_left),
                progress,
            )
        },
        || {
            merkle::hash_side_keeping(
                right,
                plan,
                Side::Right,
                boundaries,
                &reuse[1].0,
                Some(&on_right),
                progress,
            )
        },
    );
    Ok([l?, r?])
}

/// Seconds between saves of a run's progress, at least.
const SAVE_SECONDS: u64 = 3;
/// And at least this many times the last save's duration.
const SAVE_SHARE: u32 = 20;

/// Keeps the files a run has finished hashing in the state every
/// [`SAVE_SECONDS`], so that a run killed part-way and started again reads
/// only the files it had not finished (they count as unchanged files of a
/// last run).
struct Progress<'a> {
    state: &'a StateDir,
    sources: [&'a dyn Source; 2],
    here: &'a [HashPlan; 2],
    leaf_rows: usize,
    leaf_count: usize,
    bounds: &'a [arrow::array::ArrayRef],
    reuse: &'a [(Vec<Option<PartRecord>>, Vec<FileIdentity>); 2],
    done: [Mutex<HashMap<usize, PartRecord>>; 2],
    /// When the last save ended, and how long it took.
    last_save: Mutex<(Instant, std::time::Duration)>,
}

impl<'a> Progress<'a> {
    fn new(
        state: &'a StateDir,
        sources: [&'a dyn Source; 2],
        here: &'a [HashPlan; 2],
        leaf_rows: usize,
        leaf_count: usize,
        bounds: &'a [arrow::array::ArrayRef],
        reuse: &'a [(Vec<Option<PartRecord>>, Vec<FileIdentity>); 2],
    ) -> Self {
        Progress {
            state,
            sources,
            here,
            leaf_rows,
            leaf_count,
            bounds,
            reuse,
            done: [Mutex::default(), Mutex::default()],
            last_save: Mutex::new((Instant::now(), std::time::Duration::ZERO)),
        }
    }

    fn note(&self, side: Side, part: usize, record: &PartRecord) {
        if let Ok(mut done) = self.done[side as usize].lock() {
            done.insert(part, record.clone());
        }
        // Saves take at most about 1/SAVE_SHARE of the run.
        let Ok(mut last) = self.last_save.try_lock() else {
            return;
        };
        let wait = std::time::Duration::from_secs(SAVE_SECONDS).max(last.1 * SAVE_SHARE);
        if last.0.elapsed() < wait {
            return;
        }
        let started = Instant::now();
        // Best effort: a failed save costs only the resume.
        let _ = self.save();
        *last = (Instant::now(), started.elapsed());
    }

    fn save(&self) -> Result<()> {
        for side in Side::BOTH {
            let i = side as usize;
            let Some(positional) = self.sources[i].positional() else {
                continue;
            };
            let (kept, identities) = &self.reuse[i];
            let done = self.done[i]
                .lock()
                .map_err(|_| crate::error::Error::Internal("progress lock".into()))?;
            let mut parts_of: Vec<Vec<usize>> = vec![Vec::new(); identities.len()];
            for part in 0..positional.part_rows().len() {
                if let Some(f) = positional.part_file(part) {
                    parts_of[f].push(part);
                }
            }
            let (mut files, mut parts) = (Vec::new(), Vec::new());
            for (f, of_file) in parts_of.iter().enumerate() {
                let records: Option<Vec<PartRecord>> = of_file
                    .iter()
                    .map(|&p| kept[p].clone().or_else(|| done.get(&p).cloned()))
                    .collect();
                if let Some(records) = records {
                    files.push(identities[f].clone());
                    parts.push(records);
                }
            }
            drop(done);
            let mut snapshot = Snapshot::of_side(
                self.sources[i],
                self.here[i].clone(),
                self.leaf_rows,
                &SideLeaves::with_leaves(self.leaf_count),
                self.bounds.to_vec(),
                files,
                &parts,
            );
            snapshot.meta.partial = true;
            self.state.save(side, &SideState { snapshot, parts })?;
        }
        Ok(())
    }
}

/// Why the leaves no longer suit the data, if they do not: the largest
/// holds [`DRIFT`] times the mean, or the data grew or shrank so that a
/// fresh plan would make [`DRIFT`] times more or fewer leaves.
fn drifted(left: &SideLeaves, right: &SideLeaves, fresh_leaves: usize) -> Option<String> {
    let count = left.leaves.len().max(1) as u64;
    let rows = left.rows.max(right.rows);
    let mean = rows / count;
    let largest = left
        .leaves
        .iter()
        .chain(&right.leaves)
        .map(|d| d.rows)
        .max()
        .unwrap_or(0);
    if largest > DRIFT * mean.max(1) + 64 {
        return Some(format!(
            "the largest leaf holds {largest} rows against {mean} on average"
        ));
    }
    let fresh = fresh_leaves.max(1) as u64;
    if fresh > DRIFT * count || count > DRIFT * fresh {
        return Some(format!(
            "{count} leaves where the data now calls for {fresh}"
        ));
    }
    None
}

/// Files reused, files read, rows reused.
type FileCounts = (u64, u64, u64);

/// Every file's part records in part order (kept or newly made), and how
/// many files were reused, how many read, and the rows reused.
fn parts_by_file(
    positional: &dyn Positional,
    mut kept: Vec<Option<PartRecord>>,
    records: Vec<(usize, PartRecord)>,
) -> Result<(Vec<Vec<PartRecord>>, FileCounts)> {
    let mut by_file: Vec<Vec<PartRecord>> = vec![Vec::new(); positional.files().len()];
    let mut read_file = vec![false; by_file.len()];
    let mut rows_reused = 0;
    let mut fresh: HashMap<usize, PartRecord> = records.into_iter().collect();
    for (part, kept) in kept.iter_mut().enumerate() {
        let f = positional.part_file(part).unwrap_or(0);
        let record = match kept.take() {
            Some(r) => {
                rows_reused += r.rows;
                r
            }
            None => {
                read_file[f] = true;
                fresh.remove(&part).ok_or_else(|| {
                    crate::error::Error::Internal(format!("part {part} was not hashed"))
                })?
            }
        };
        by_file[f].push(record);
    }
    let read = read_file.iter().filter(|r| **r).count() as u64;
    let reused = by_file.len() as u64 - read;
    Ok((by_file, (reused, read, rows_reused)))
}

/// The state to keep for one side.
fn side_state(
    source: &dyn Source,
    plan: &HashPlan,
    leaf_rows: usize,
    leaves: &SideLeaves,
    bounds: &[arrow::array::ArrayRef],
    identities: Vec<FileIdentity>,
    parts: Vec<Vec<PartRecord>>,
) -> SideState {
    SideState {
        snapshot: Snapshot::of_side(
            source,
            plan.clone(),
            leaf_rows,
            leaves,
            bounds.to_vec(),
            identities,
            &parts,
        ),
        parts,
    }
}
