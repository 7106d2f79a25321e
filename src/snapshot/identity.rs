//! Whether a file is the one an earlier run hashed.
//!
//! Size, modification time, inode and the inode's change time (ctime) are
//! compared. Any write to a file moves its ctime to the time of the write,
//! and no user program can set it back (setting the modification time back
//! moves it too), so a file recorded with a ctime well before the run that
//! recorded it cannot be edited in place, even keeping its size and
//! modification time, without its ctime changing. A file whose ctime falls
//! within [`RACY_SECONDS`] of that run (a write may land in the same clock
//! tick as the run's read) also has its content hashed, and the next run
//! hashes it again to compare: only bytes equal to those hashed pass.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::one_line;

/// A file changed this close to (or after) a run's start may have changed
/// within one timestamp tick of the run's read: its identity is its content.
/// Above the coarsest timestamp granularity of common file systems.
pub const RACY_SECONDS: i64 = 3;

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub path: String,
    pub size: u64,
    /// Modification and inode change times, in nanoseconds since the epoch.
    pub modified_ns: i128,
    pub changed_ns: i128,
    pub inode: u64,
    pub device: u64,
    /// Hash of the whole content (hex), for a file changed close to the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl FileIdentity {
    /// Reads the identity of `path` for a run that started at `run_start`.
    /// `earlier` is the identity an earlier run recorded: when its
    /// metadata matches and it holds a content hash, the content is hashed
    /// again to compare.
    pub fn read(
        path: &Path,
        run_start: SystemTime,
        earlier: Option<&FileIdentity>,
    ) -> std::result::Result<Self, String> {
        let meta = std::fs::metadata(path).map_err(one_line)?;
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        let mut identity = FileIdentity {
            path: path.to_string_lossy().into_owned(),
            size: meta.len(),
            modified_ns: ns(meta.mtime(), meta.mtime_nsec()),
            changed_ns: ns(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
            device: meta.dev(),
            content: None,
        };
        let racy = is_racy(identity.changed_ns, run_start);
        let compare_content =
            earlier.is_some_and(|e| e.content.is_some() && e.same_metadata(&identity));
        if racy || compare_content {
            identity.content = Some(content_hash(path)?);
        }
        Ok(identity)
    }

    /// The identity to keep for the next run: the content hash only when
    /// the file changed close to this run (it was computed to compare with
    /// an earlier one's otherwise, and metadata now suffices).
    pub fn settled(mut self, run_start: SystemTime) -> Self {
        if !is_racy(self.changed_ns, run_start) {
            self.content = None;
        }
        self
    }

    fn same_metadata(&self, other: &FileIdentity) -> bool {
        self.path == other.path
            && self.size == other.size
            && self.modified_ns == other.modified_ns
            && self.changed_ns == other.changed_ns
            && self.inode == other.inode
            && self.device == other.device
    }

    /// Whether `now` is the same version of the file as `self` (recorded
    /// earlier).
    pub fn unchanged(&self, now: &FileIdentity) -> bool {
        self.same_metadata(now)
            && match &self.content {
                None => true,
                Some(hash) => now.content.as_ref() == Some(hash),
            }
    }
}

/// Whether a file changed at `changed_ns` may have changed within a clock
/// tick of a run that started at `run_start`.
fn is_racy(changed_ns: i128, run_start: SystemTime) -> bool {
    let start_ns = run_start
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    changed_ns >= start_ns - i128::from(RACY_SECONDS) * 1_000_000_000
}

/// The keyed 128-bit hash of a file's bytes, as hex.
fn content_hash(path: &Path) -> std::result::Result<String, String> {
    let mut file = std::fs::File::open(path).map_err(one_line)?;
    let mut hasher = crate::canon::keyed::key().streaming();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(one_line)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_edit_keeping_size_and_modification_time_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        std::fs::write(&path, b"hello world").unwrap();
        let start = SystemTime::now();
        let first = FileIdentity::read(&path, start, None).unwrap();
        // Just written: racy, so its content is part of its identity.
        assert!(first.content.is_some());
        let again = FileIdentity::read(&path, SystemTime::now(), Some(&first)).unwrap();
        assert!(first.unchanged(&again));
        // Same size, modification time set back: the ctime moves, and if it
        // did not (same tick), the content differs.
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, b"hello WORLD").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(modified).unwrap();
        drop(file);
        let edited = FileIdentity::read(&path, SystemTime::now(), Some(&first)).unwrap();
        assert_eq!(edited.size, first.size);
        assert_eq!(edited.modified_ns, first.modified_ns);
        assert!(!first.unchanged(&edited));
    }

    #[test]
    fn a_content_hash_is_kept_only_while_the_file_is_recent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        std::fs::write(&path, b"data").unwrap();
        let now = SystemTime::now();
        let first = FileIdentity::read(&path, now, None).unwrap().settled(now);
        assert!(first.content.is_some());
        // A run a minute later compares the content once, then keeps metadata only.
        let later = now + Duration::from_secs(60);
        let again = FileIdentity::read(&path, later, Some(&first)).unwrap();
        assert!(first.unchanged(&again));
        assert!(again.settled(later).content.is_none());
    }

    #[test]
    fn an_old_file_is_identified_by_metadata_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        std::fs::write(&path, b"old").unwrap();
        // A run starting well after the write.
        let later = SystemTime::now() + Duration::from_secs(60);
        let id = FileIdentity::read(&path, later, None).unwrap();
        assert!(id.content.is_none());
        assert!(id.unchanged(&FileIdentity::read(&path, later, Some(&id)).unwrap()));
        // Past the file system's timestamp tick, as a real next write is.
        std::thread::sleep(Duration::from_millis(50));
        std::fs::write(&path, b"new").unwrap();
        assert!(!id.unchanged(&FileIdentity::read(&path, later, Some(&id)).unwrap()));
    }
}
