//! Reference counts of mounted layers, shared by every process that uses the store.
//!
//! The CLI, each container's monitor and the daemon are separate processes that mount the same
//! layers: a count kept in one process's memory lets `engine diff` in one process unmount the
//! `merged` a running container's monitor uses. So a reference is a file, one per holder, under
//! `<dir>/<layer>/`, named for the holding process (`<pid>-<start time>-<n>`), and changed
//! only under an exclusive `flock` of `<dir>/<layer>.lock`. A holder whose process is gone
//! (killed, crashed) no longer counts: it is pruned the next time the layer is counted, so a
//! kill at any instant leaves no reference that keeps a layer mounted forever.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, Result};
use crate::id::LayerId;
use crate::store_lock::StoreLock;

/// Counts `get`s per layer across processes, so that only the first mounts and the last `put`
/// unmounts.
#[derive(Debug)]
pub struct RefCounts {
    dir: PathBuf,
}

/// Numbers this process's holder files: unique across every `RefCounts` of the process.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// This process, as holder file names start: `<pid>-<start time>-`.
fn me() -> String {
    let pid = std::process::id();
    format!("{pid}-{}-", start_time(pid).unwrap_or(0))
}

/// The start time of `pid` (field 22 of /proc/PID/stat), which tells a live holder from a
/// reused pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the holder file `name` belongs to a live process.
fn alive(name: &str) -> bool {
    let mut parts = name.split('-');
    let (Some(pid), Some(start)) = (parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    start_time(pid) == Some(start)
}

impl RefCounts {
    /// Counts kept under `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RefCounts { dir: dir.into() }
    }

    fn layer_dir(&self, id: &LayerId) -> PathBuf {
        self.dir.join(id.as_str())
    }

    fn lock(&self, id: &LayerId) -> Result<StoreLock> {
        fs::create_dir_all(&self.dir).ctx("create directory", &self.dir)?;
        StoreLock::exclusive(&self.dir.join(format!("{}.lock", id.as_str())))
    }

    /// The live holders of `dir`, removing the files of dead ones.
    fn live(dir: &Path) -> Result<Vec<String>> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(crate::Error::io("read directory", dir, e)),
        };
        let mut live = Vec::new();
        for entry in entries {
            let entry = entry.ctx("read directory", dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if alive(&name) {
                live.push(name);
            } else {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(live)
    }

    /// Adds a reference of this process; returns the number of live references (1 means
    /// "mount now").
    pub fn increment(&self, id: &LayerId) -> Result<u32> {
        let _lock = self.lock(id)?;
        let dir = self.layer_dir(id);
        fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let holder = dir.join(format!("{}{n}", me()));
        fs::write(&holder, b"").ctx("record a reference in", &holder)?;
        Ok(Self::live(&dir)?.len() as u32)
    }

    /// Drops a reference of this process; returns the live references left (0 means "unmount
    /// now"), or `None` when this process held none.
    pub fn decrement(&self, id: &LayerId) -> Result<Option<u32>> {
        let _lock = self.lock(id)?;
        let dir = self.layer_dir(id);
        let live = Self::live(&dir)?;
        let mine = me();
        let Some(ours) = live.iter().find(|h| h.starts_with(&mine)) else {
            return Ok(None);
        };
        let path = dir.join(ours);
        fs::remove_file(&path).ctx("drop a reference in", &path)?;
        let left = live.len() as u32 - 1;
        if left == 0 {
            let _ = fs::remove_dir(&dir);
        }
        Ok(Some(left))
    }

    /// The number of live references, from every process.
    pub fn get(&self, id: &LayerId) -> u32 {
        Self::live(&self.layer_dir(id)).map_or(0, |l| l.len() as u32)
    }

    /// Every layer with a reference; forgets them all (for `cleanup`, which unmounts all).
    pub fn drain(&self) -> Vec<LayerId> {
        let mut ids = Vec::new();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return ids;
        };
        for entry in entries.flatten() {
            if entry.path().is_dir()
                && let Ok(id) = LayerId::new(entry.file_name().to_string_lossy().into_owned())
            {
                let _ = fs::remove_dir_all(entry.path());
                ids.push(id);
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_shared_through_the_directory_and_dead_holders_do_not_count() {
        let d = tempfile::tempdir().unwrap();
        let a = RefCounts::new(d.path().join("refs"));
        // A second driver instance on the same directory: another process's view.
        let b = RefCounts::new(d.path().join("refs"));
        let id = LayerId::new("layer1").unwrap();
        assert_eq!(a.increment(&id).unwrap(), 1);
        assert_eq!(b.increment(&id).unwrap(), 2);
        assert_eq!(a.get(&id), 2);
        assert_eq!(b.decrement(&id).unwrap(), Some(1));
        // A holder of a process that is gone (pid 1's start time never matches 0... use a
        // pid that cannot exist).
        fs::write(d.path().join("refs/layer1/4194305-1-0"), b"").unwrap();
        assert_eq!(a.get(&id), 1);
        assert!(!d.path().join("refs/layer1/4194305-1-0").exists());
        assert_eq!(a.decrement(&id).unwrap(), Some(0));
        assert_eq!(a.decrement(&id).unwrap(), None);
        assert_eq!(a.get(&id), 0);
    }

    #[test]
    fn start_time_reads_this_process() {
        assert!(start_time(std::process::id()).is_some());
        assert!(alive(&me()));
        assert!(!alive("nonsense"));
    }
}
