//! The progress of a database comparison (`--state` with two databases):
//! each first-level chunk of range digests is appended to a journal as soon
//! as it is known, so that a run killed part-way and started again with
//! the same state computes only the chunks it had not finished. The
//! journal is deleted when the run completes.
//!
//! `DIR/databases.journal`, JSON lines: the digest key and the start time,
//! then a line naming the work (a fingerprint of the key's range, the leaf
//! width and the checksum SQL of both sides), then one line per chunk. A
//! line cut short by the kill is ignored.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Side, one_line};

/// A leaf's digest: its row count and the sum of its rows' hashes.
pub type LeafDigest = (u64, u128);

/// The chunks a side had finished: leaf index ranges `[first, last)` and
/// the digests in each, by each leaf's first key.
#[derive(Debug, Default, Clone)]
pub struct Finished {
    pub chunks: Vec<(i128, i128, BTreeMap<i128, LeafDigest>)>,
}

#[derive(Serialize, Deserialize)]
struct Opening {
    digest_key: String,
    started: String,
}

#[derive(Serialize, Deserialize)]
struct Work {
    work: String,
}

#[derive(Serialize, Deserialize)]
struct Chunk {
    side: Side,
    first: String,
    last: String,
    /// (first key of the leaf, rows, digest), numbers as text (128-bit).
    leaves: Vec<(String, u64, String)>,
}

/// A journal being written.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    /// When the run whose chunks were resumed began.
    pub resumed_from: Option<String>,
    /// What the earlier run had finished, per side (left, right).
    pub finished: [Finished; 2],
}

fn journal_path(dir: &Path) -> PathBuf {
    dir.join("databases.journal")
}

/// Adopts the digest key of an unfinished run's journal in `dir`, so that
/// this run's checksums compare with its chunks; `false` when there is none
/// to resume (or its key cannot be adopted: the run then starts afresh).
pub fn adopt_key(dir: &Path) -> bool {
    let Ok(file) = File::open(journal_path(dir)) else {
        return false;
    };
    let mut first = String::new();
    if BufReader::new(file).read_line(&mut first).is_err() {
        return false;
    }
    serde_json::from_str::<Opening>(&first)
        .ok()
        .is_some_and(|o| crate::canon::keyed::adopt(&o.digest_key).is_ok())
}

impl Journal {
    /// Opens the journal of `work` in `dir`: an unfinished run's chunks of
    /// the same work are taken (with `resume`), anything else is started
    /// afresh.
    pub fn open(dir: &Path, work: &str, resume: bool) -> Result<Journal> {
        let path = journal_path(dir);
        let fail = |e: String| Error::Output {
            path: path.display().to_string(),
            message: e,
        };
        let mut finished = [Finished::default(), Finished::default()];
        let mut resumed_from = None;
        if resume && let Ok(file) = File::open(&path) {
            let mut lines = BufReader::new(file).lines();
            let opening = lines
                .next()
                .and_then(|l| l.ok())
                .and_then(|l| serde_json::from_str::<Opening>(&l).ok());
            let same_work = lines
                .next()
                .and_then(|l| l.ok())
                .and_then(|l| serde_json::from_str::<Work>(&l).ok())
                .is_some_and(|w| w.work == work);
            if let Some(opening) =
                opening.filter(|o| same_work && o.digest_key == crate::canon::keyed::exported())
            {
                for line in lines {
                    // A line the kill cut short ends the journal.
                    let Some(chunk) = line
                        .ok()
                        .and_then(|l| serde_json::from_str::<Chunk>(&l).ok())
                    else {
                        break;
                    };
                    let Some(parsed) = parse_chunk(&chunk) else {
                        break;
                    };
                    let ((first, last), leaves) = parsed;
                    finished[chunk.side as usize].chunks.push((
                        first,
                        last,
                        leaves.into_iter().collect(),
                    ));
                }
                resumed_from = Some(opening.started);
            }
        }
        std::fs::create_dir_all(dir).map_err(|e| fail(one_line(e)))?;
        // The journal is rewritten with what is kept, so that a second kill
        // keeps the chunks of both runs.
        let mut file = File::create(&path).map_err(|e| fail(one_line(e)))?;
        let opening = Opening {
            digest_key: crate::canon::keyed::exported(),
            started: resumed_from.clone().unwrap_or_else(super::now_text),
        };
        let mut text = serde_json::to_string(&opening).map_err(|e| fail(e.to_string()))?;
        text.push('\n');
        text.push_str(
            &serde_json::to_string(&Work {
                work: work.to_string(),
            })
            .map_err(|e| fail(e.to_string()))?,
        );
        text.push('\n');
        for side in Side::BOTH {
            for (first, last, digests) in &finished[side as usize].chunks {
                text.push_str(&chunk_line(side, *first, *last, digests)?);
            }
        }
        file.write_all(text.as_bytes())
            .map_err(|e| fail(one_line(e)))?;
        Ok(Journal {
            path,
            file: Mutex::new(file),
            resumed_from,
            finished,
        })
    }

    /// Appends a finished chunk of `side`: leaves `[first, last)` and their digests.
    pub fn record(
        &self,
        side: Side,
        first: i128,
        last: i128,
        digests: &BTreeMap<i128, LeafDigest>,
    ) -> Result<()> {
        let line = chunk_line(side, first, last, digests)?;
        let mut file = self
            .file
            .lock()
            .map_err(|_| Error::Internal("the journal's lock".into()))?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::Output {
                path: self.path.display().to_string(),
                message: one_line(e),
            })
    }

    /// The run completed: nothing is left to resume.
    pub fn finish(self) -> Result<()> {
        drop(self.file);
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Output {
                path: self.path.display().to_string(),
                message: one_line(e),
            }),
        }
    }
}

fn chunk_line(
    side: Side,
    first: i128,
    last: i128,
    digests: &BTreeMap<i128, LeafDigest>,
) -> Result<String> {
    let chunk = Chunk {
        side,
        first: first.to_string(),
        last: last.to_string(),
        leaves: digests
            .iter()
            .map(|(k, (rows, sum))| (k.to_string(), *rows, sum.to_string()))
            .collect(),
    };
    let mut line = serde_json::to_string(&chunk).map_err(|e| Error::Internal(e.to_string()))?;
    line.push('\n');
    Ok(line)
}

type ParsedChunk = ((i128, i128), Vec<(i128, LeafDigest)>);

fn parse_chunk(chunk: &Chunk) -> Option<ParsedChunk> {
    let range = (chunk.first.parse().ok()?, chunk.last.parse().ok()?);
    let leaves = chunk
        .leaves
        .iter()
        .map(|(k, rows, sum)| Some((k.parse().ok()?, (*rows, sum.parse().ok()?))))
        .collect::<Option<Vec<_>>>()?;
    Some((range, leaves))
}
