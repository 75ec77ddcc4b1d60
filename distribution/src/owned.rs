//! What one process makes under the data root for as long as it works, marked with an owner
//! that the kernel drops when the process dies, so a later start can tell a kill's leftovers
//! from a live process's work without guessing by age:
//!
//! ```text
//! <root>/leases/<kind>-<id>      a lease: flock-held by its owner (a build step's writable
//!                                layer and cgroup, say); the sweep undoes what it names
//! <root>/tmp/<prefix>-<random>/  a scratch directory (a spooled `load`, a build context,
//!   .owner                       a pull's downloads): flock-held by its owner
//! ```
//!
//! Both are made while a shared lock on `<dir>/.lock` is held, and collected only under its
//! exclusive lock, so a sweep never sees a lease or scratch directory before its owner has
//! locked it. An owner's flock goes with its process (kill -9 included): an unlocked lease or
//! scratch directory has no live owner.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use graph::store_lock::StoreLock;

const LEASES: &str = "leases";
const SCRATCH: &str = "tmp";
const DIR_LOCK: &str = ".lock";
const OWNER: &str = ".owner";

/// A lease on something named `<kind>-<id>`, held until dropped (or the process dies).
#[derive(Debug)]
pub struct Lease {
    path: PathBuf,
    file: File,
}

impl Lease {
    /// Takes the lease `name` (`<kind>-<id>`) under `data_root`.
    pub fn take(data_root: &Path, name: &str) -> Result<Lease> {
        let dir = data_root.join(LEASES);
        let _making = shared(&dir)?;
        let path = dir.join(name);
        let file = lock_new(&path)?;
        Ok(Lease { path, file })
    }

    /// Appends a line to the lease (`add sha256:...`): what a sweep must undo, or must not
    /// touch, should this process die.
    pub fn note(&mut self, line: &str) -> std::io::Result<()> {
        writeln!(self.file, "{line}")
    }

    /// The lease's file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A lease whose owner is gone, held by the sweep while it undoes what the lease names.
#[derive(Debug)]
pub struct DeadLease {
    /// `<kind>-<id>`.
    pub name: String,
    path: PathBuf,
    _file: File,
}

impl DeadLease {
    /// The lines its owner noted, oldest first.
    pub fn notes(&self) -> Vec<String> {
        notes_of(&self.path)
    }

    /// The lease is done with: removed.
    pub fn release(self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The leases under `data_root` whose owner is gone. Empty, without waiting, when another
/// process is taking a lease at this instant (the next start collects instead).
pub fn dead_leases(data_root: &Path) -> Vec<DeadLease> {
    let dir = data_root.join(LEASES);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    if names.is_empty() {
        return Vec::new();
    }
    let Ok(Some(_collecting)) = StoreLock::try_exclusive(&dir.join(DIR_LOCK)) else {
        return Vec::new();
    };
    let mut dead = Vec::new();
    for name in names {
        let path = dir.join(&name);
        if let Some(file) = unowned(&path) {
            dead.push(DeadLease {
                name,
                path,
                _file: file,
            });
        }
    }
    dead
}

/// The notes of every lease named `<prefix>...` under `data_root`, live or dead, by name.
pub fn lease_notes(data_root: &Path, prefix: &str) -> Vec<(String, Vec<String>)> {
    let Ok(entries) = fs::read_dir(data_root.join(LEASES)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .map(|n| {
            let notes = notes_of(&data_root.join(LEASES).join(&n));
            (n, notes)
        })
        .collect()
}

/// A lease file's lines after the first (its owner's pid).
fn notes_of(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines().skip(1).map(str::to_string).collect()
}

/// A directory under `<root>/tmp`, removed when dropped, and by the next start's sweep if
/// its process is killed.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
    _owner: File,
}

impl Scratch {
    /// A new directory `<data_root>/tmp/<prefix>-<random>`.
    pub fn new(data_root: &Path, prefix: &str) -> Result<Scratch> {
        let parent = data_root.join(SCRATCH);
        let _making = shared(&parent)?;
        let path = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir_in(&parent)
            .with_context(|| format!("creating a directory in {}", parent.display()))?
            .keep();
        let owner = match lock_new(&path.join(OWNER)) {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_dir_all(&path);
                return Err(e);
            }
        };
        Ok(Scratch {
            path,
            _owner: owner,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a scratch directory");
        }
    }
}

/// Removes the scratch directories under `data_root` whose owner is gone; returns how many.
pub fn sweep_scratch(data_root: &Path) -> usize {
    let parent = data_root.join(SCRATCH);
    let Ok(entries) = fs::read_dir(&parent) else {
        return 0;
    };
    let dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    if dirs.is_empty() {
        return 0;
    }
    let Ok(Some(collecting)) = StoreLock::try_exclusive(&parent.join(DIR_LOCK)) else {
        return 0;
    };
    // Held while removing, so no second sweep removes the same directory.
    let doomed: Vec<(PathBuf, Option<File>)> = dirs
        .into_iter()
        .filter_map(|d| {
            let owner = d.join(OWNER);
            if !owner.exists() {
                // Made and locked under the directory lock: no owner file means its process
                // died before locking it (or it is not ours at all, e.g. an older engine's).
                return Some((d, None));
            }
            unowned(&owner).map(|f| (d, Some(f)))
        })
        .collect();
    drop(collecting);
    let n = doomed.len();
    for (dir, _owner) in doomed {
        tracing::info!(path = %dir.display(), "removing a scratch directory of a killed process");
        let removed = if dir.is_dir() {
            fs::remove_dir_all(&dir)
        } else {
            fs::remove_file(&dir)
        };
        if let Err(e) = removed {
            tracing::warn!(path = %dir.display(), error = %e, "cannot remove a scratch directory");
        }
    }
    n
}

/// The shared lock of `dir` (created if missing), held while a lease or scratch directory is
/// made in it.
fn shared(dir: &Path) -> Result<StoreLock> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(StoreLock::shared(&dir.join(DIR_LOCK))?)
}

/// Creates `path` and holds its flock; writes this process's pid in it (for people).
fn lock_new(path: &Path) -> Result<File> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    // The pid is for people reading the directory; a full disk must not stop the work.
    let _ = writeln!(file, "{}", std::process::id());
    Ok(file)
}

/// The file at `path` with its flock taken, when no live process holds it.
fn unowned(path: &Path) -> Option<File> {
    let file = OpenOptions::new().write(true).open(path).ok()?;
    file.try_lock().ok()?;
    Some(file)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lease_is_not_dead_and_a_dropped_one_is_gone() {
        let d = tempfile::tempdir().unwrap();
        let lease = Lease::take(d.path(), "build-abc").unwrap();
        assert!(dead_leases(d.path()).is_empty());
        drop(lease);
        assert!(!d.path().join("leases/build-abc").exists());
    }

    #[test]
    fn an_unlocked_lease_is_dead_until_released() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("leases")).unwrap();
        // What a killed owner leaves: the file, with no lock on it.
        fs::write(d.path().join("leases/build-x"), b"1\n").unwrap();
        let dead = dead_leases(d.path());
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].name, "build-x");
        for l in dead {
            l.release();
        }
        assert!(dead_leases(d.path()).is_empty());
    }

    #[test]
    fn a_lease_keeps_its_notes_until_dropped() {
        let d = tempfile::tempdir().unwrap();
        let mut lease = Lease::take(d.path(), "ingest-1").unwrap();
        lease.note("add sha256:aa").unwrap();
        assert_eq!(
            lease_notes(d.path(), "ingest-"),
            vec![("ingest-1".to_string(), vec!["add sha256:aa".to_string()])]
        );
        drop(lease);
        assert!(lease_notes(d.path(), "ingest-").is_empty());
    }

    #[test]
    fn scratch_of_a_live_owner_stays_and_of_a_dead_one_goes() {
        let d = tempfile::tempdir().unwrap();
        let live = Scratch::new(d.path(), "load").unwrap();
        fs::write(live.path().join("blob"), b"x").unwrap();
        let orphan = d.path().join("tmp/load-orphan");
        fs::create_dir_all(&orphan).unwrap();
        fs::write(orphan.join(OWNER), b"").unwrap();
        assert_eq!(sweep_scratch(d.path()), 1);
        assert!(!orphan.exists());
        assert!(live.path().join("blob").exists());
        let p = live.path().to_path_buf();
        drop(live);
        assert!(!p.exists());
    }
}
