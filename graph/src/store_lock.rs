//! Cross-process locks on a store, so two `engine` processes never interleave mutations.
//!
//! Drivers use a pair: every create/remove holds the shared lock on `<home>/.work.lock` while
//! it has half-made state on disk, and the start-up sweep of such leftovers runs only when it
//! can take the exclusive lock, i.e. when no other process is in the middle of one.

use std::fs::{File, OpenOptions};
use std::path::Path;

use crate::error::{IoContext, Result};

/// An exclusive `flock` on a lock file, released on drop (or when the process dies).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Blocks until the exclusive lock on `path` (created if missing) is held.
    pub fn exclusive(path: &Path) -> Result<Self> {
        let file = open(path)?;
        file.lock().ctx("lock", path)?;
        Ok(StoreLock { _file: file })
    }

    /// Blocks until a shared lock on `path` is held: many holders at once, none while an
    /// exclusive holder has it.
    pub fn shared(path: &Path) -> Result<Self> {
        let file = open(path)?;
        file.lock_shared().ctx("lock", path)?;
        Ok(StoreLock { _file: file })
    }

    /// The exclusive lock if nobody holds any lock on `path` now, else `None`.
    pub fn try_exclusive(path: &Path) -> Result<Option<Self>> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(StoreLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(crate::Error::io("lock", path, e)),
        }
    }
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ctx("open lock file", path)
}
