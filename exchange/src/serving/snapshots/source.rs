//! Source files read for a snapshot, each with the fingerprint of exactly the bytes that
//! were loaded, so the file watcher compares the disk against what is serving (not
//! against whatever the file held when the watcher first looked).
//!
//! Metadata (length, modification time) is taken from the open file before its bytes are
//! read: a write that lands during the read shows up as a later modification time, so it
//! costs at most one extra reload, never a missed one. A modification time only proves a
//! file unchanged once it is older than the timestamp granularity: within
//! [`RACY_WINDOW`] of the read the watcher also compares the content's digest (the
//! "racily clean" case git handles the same way).

use std::hash::Hasher;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How close to the read a modification time must be for the metadata not to prove the
/// file unchanged: coarser than any file system's timestamp granularity (FAT: 2 s).
pub const RACY_WINDOW: Duration = Duration::from_secs(3);

/// A file's length and modification time: the cheap check made at every poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Length in bytes.
    pub len: u64,
    /// Last modification time, where the file system keeps one.
    pub modified: Option<SystemTime>,
}

impl Stat {
    /// The file's stat now; `None` when it cannot be read (removed, mid-rename).
    pub fn of(path: &Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|meta| Self::from(&meta))
    }
}

impl From<&std::fs::Metadata> for Stat {
    fn from(meta: &std::fs::Metadata) -> Self {
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// What one load read from one source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The file.
    pub path: PathBuf,
    /// Its stat, taken from the open file just before its bytes were read.
    pub stat: Stat,
    /// Digest of the bytes loaded.
    pub digest: u64,
    /// When the bytes were read.
    pub read_at: SystemTime,
}

impl Fingerprint {
    /// Whether the modification time is too close to the read to prove, alone, that a
    /// file with the same stat still holds the same bytes.
    pub fn is_racy(&self) -> bool {
        self.stat
            .modified
            .is_none_or(|modified| modified + RACY_WINDOW > self.read_at)
    }

    /// Checks the file on disk against what was loaded. `None`: it differs, by stat or,
    /// while the fingerprint is racy, by content (or it cannot be read). `Some`: it holds
    /// the same bytes, with the fingerprint of this check (re-read when racy, so a
    /// fingerprint confirmed once the window has passed is no longer racy). Blocking.
    pub fn recheck(&self) -> Option<Self> {
        let stat = Stat::of(&self.path)?;
        if stat != self.stat {
            return None;
        }
        if !self.is_racy() {
            return Some(self.clone());
        }
        let (_, again) = read(&self.path, u64::MAX).ok()?;
        (again.stat == self.stat && again.digest == self.digest).then_some(again)
    }
}

/// Reads `path` as UTF-8 text of at most `max_bytes`, with the fingerprint of that text.
pub fn read(path: &Path, max_bytes: u64) -> Result<(String, Fingerprint), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let read_at = SystemTime::now();
    let stat = Stat::from(&file.metadata().map_err(|e| format!("cannot read: {e}"))?);
    if stat.len > max_bytes {
        return Err(format!("{} bytes; at most {max_bytes}", stat.len));
    }
    let mut text = String::new();
    file.by_ref()
        .take(max_bytes.saturating_add(1))
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read: {e}"))?;
    if text.len() as u64 > max_bytes {
        return Err(format!("more than {max_bytes} bytes"));
    }
    let fingerprint = Fingerprint {
        path: path.to_owned(),
        stat,
        digest: digest(&text),
        read_at,
    };
    Ok((text, fingerprint))
}

fn digest(text: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(text.as_bytes());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str, modified: SystemTime) {
        std::fs::write(path, text).expect("write");
        std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(modified))
            .expect("set mtime");
    }

    #[test]
    fn a_same_size_edit_in_the_same_timestamp_tick_is_seen_by_content() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.json");
        let tick = SystemTime::now();
        write(&path, "{\"a\":1}", tick);
        let (text, loaded) = read(&path, 1024).expect("read");
        assert_eq!(text, "{\"a\":1}");
        assert!(loaded.is_racy());
        assert!(loaded.recheck().is_some(), "unchanged");
        // Same length, same modification time: only the digest can tell.
        write(&path, "{\"a\":2}", tick);
        assert_eq!(Stat::of(&path), Some(loaded.stat));
        assert!(loaded.recheck().is_none(), "changed");
    }

    #[test]
    fn a_racy_fingerprint_confirmed_after_the_window_is_no_longer_racy() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.json");
        // Written "in the future": racy until the clock passes it by the window.
        let ahead = SystemTime::now() + Duration::from_secs(3600);
        write(&path, "{}", ahead);
        let (_, loaded) = read(&path, 1024).expect("read");
        assert!(
            loaded.recheck().expect("unchanged").is_racy(),
            "within the window"
        );
        // Read in the same tick as an edit an hour ago: confirmed now, by content.
        let past = SystemTime::now() - Duration::from_secs(3600);
        write(&path, "{}", past);
        let (_, mut loaded) = read(&path, 1024).expect("read");
        loaded.read_at = past;
        assert!(loaded.is_racy());
        let confirmed = loaded.recheck().expect("unchanged");
        assert!(!confirmed.is_racy());
        assert_eq!(confirmed.recheck(), Some(confirmed.clone()), "not re-read");
    }

    #[test]
    fn an_old_file_is_judged_by_its_stat() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.json");
        let old = SystemTime::now() - Duration::from_secs(3600);
        write(&path, "{\"a\":1}", old);
        let (_, loaded) = read(&path, 1024).expect("read");
        assert!(!loaded.is_racy());
        assert_eq!(loaded.recheck(), Some(loaded.clone()), "not re-read");
        write(&path, "{\"a\":22}", old);
        assert!(loaded.recheck().is_none(), "length changed");
        write(&path, "{\"a\":1}", old + Duration::from_secs(1));
        assert!(loaded.recheck().is_none(), "time changed");
        std::fs::remove_file(&path).expect("rm");
        assert!(loaded.recheck().is_none(), "removed");
    }

    #[test]
    fn too_large_a_file_is_refused_before_it_is_read_whole() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("big.toml");
        std::fs::write(&path, "x".repeat(100)).expect("write");
        assert_eq!(
            read(&path, 99).expect_err("too large"),
            "100 bytes; at most 99"
        );
        assert!(read(&path, 100).is_ok());
    }
}
