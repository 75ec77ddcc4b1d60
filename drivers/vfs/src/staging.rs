//! Half-made state under temporary names: how creates and removes stay all-or-nothing.
//!
//! A layer is built in `dir/.tmp-XXXX` and renamed to `dir/<id>` without replacing anything;
//! a removed layer is first renamed to `dir/.tmp-XXXX` and then deleted. Layer ids never start
//! with `.`, so a `.tmp-` entry is never a layer, and what a crash leaves behind is only ever a
//! `.tmp-` entry, swept when the driver next starts.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use graph::{Error, IoContext, Result};
use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
use tracing::{debug, warn};

const TMP_PREFIX: &str = ".tmp-";

/// A fresh, empty directory with a unique temporary name in `dir`; it and everything in it are
/// deleted when dropped, unless [`publish`]ed.
pub fn temp_dir_in(dir: &Path) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempdir_in(dir)
        .ctx("create temporary directory", dir)
}

/// Renames the finished `tmp` to `dest`, failing with `AlreadyExists` if `dest` exists (even
/// as an empty directory, which a plain rename would silently replace).
pub fn publish(tmp: tempfile::TempDir, dest: &Path, what: impl FnOnce() -> String) -> Result<()> {
    match renameat2(
        AT_FDCWD,
        tmp.path(),
        AT_FDCWD,
        dest,
        RenameFlags::RENAME_NOREPLACE,
    ) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Err(Error::AlreadyExists { what: what() }),
        // A filesystem without RENAME_NOREPLACE: check, then rename (which still refuses a
        // non-empty destination).
        Err(Errno::EINVAL) if !dest.exists() => {
            fs::rename(tmp.path(), dest).ctx("move layer into place", dest)?;
        }
        Err(Errno::EINVAL) => return Err(Error::AlreadyExists { what: what() }),
        Err(e) => return Err(Error::io("move layer into place", dest, e.into())),
    }
    // The temporary name is gone: nothing left to delete on drop.
    let _ = tmp.keep();
    Ok(())
}

/// Moves the tree at `path` out of sight under a temporary name in `dir`, in one rename, so a
/// crash never leaves a half-deleted tree at `path`; the tree is deleted when the returned
/// directory is [`bury`]ed or dropped. `None` when there is nothing at `path`.
pub fn hide_tree(dir: &Path, path: &Path) -> Result<Option<tempfile::TempDir>> {
    let grave = temp_dir_in(dir)?;
    // Renaming a directory onto an empty one replaces it.
    match fs::rename(path, grave.path()) {
        Ok(()) => Ok(Some(grave)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("remove layer", path, e)),
    }
}

/// Deletes a tree hidden by [`hide_tree`], reporting failure (what is left is swept at the
/// next start).
pub fn bury(grave: tempfile::TempDir) -> Result<()> {
    let path = grave.path().to_path_buf();
    grave.close().ctx("remove layer", path)
}

/// Deletes every temporary entry in `dir`: leftovers of creates and removes that were
/// interrupted. Best effort: an entry that cannot be deleted is reported and left for the next
/// start, since the layers themselves are intact.
pub fn sweep(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).ctx("read directory", dir)? {
        let entry = entry.ctx("read directory", dir)?;
        if !entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            continue;
        }
        let path: PathBuf = entry.path();
        warn!(path = %path.display(), "removing what an interrupted layer create or remove left");
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        if let Err(e) = removed {
            warn!(path = %path.display(), error = %e, "could not remove a leftover; will retry at the next start");
        }
    }
    debug!(dir = %dir.display(), "swept leftovers");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_refuses_an_existing_empty_destination() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("layer");
        fs::create_dir(&dest).unwrap();
        let tmp = temp_dir_in(t.path()).unwrap();
        fs::write(tmp.path().join("f"), "x").unwrap();
        let tmp_path = tmp.path().to_path_buf();
        let err = publish(tmp, &dest, || "layer".into()).unwrap_err();
        assert_eq!(err.kind(), graph::ErrorKind::AlreadyExists);
        assert!(!tmp_path.exists(), "the failed copy was left behind");
        assert!(graph::naive::is_empty_dir(&dest));
    }

    #[test]
    fn publish_moves_into_place() {
        let t = tempfile::tempdir().unwrap();
        let tmp = temp_dir_in(t.path()).unwrap();
        fs::write(tmp.path().join("f"), "x").unwrap();
        publish(tmp, &t.path().join("layer"), || "layer".into()).unwrap();
        assert_eq!(fs::read(t.path().join("layer/f")).unwrap(), b"x");
        let names: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["layer"]);
    }

    #[test]
    fn remove_tree_leaves_nothing_and_ignores_missing() {
        let t = tempfile::tempdir().unwrap();
        let layers = t.path().join("dir");
        fs::create_dir_all(layers.join("layer/a/b")).unwrap();
        fs::write(layers.join("layer/a/b/f"), "x").unwrap();
        let grave = hide_tree(&layers, &layers.join("layer")).unwrap().unwrap();
        assert!(!layers.join("layer").exists());
        bury(grave).unwrap();
        assert_eq!(fs::read_dir(&layers).unwrap().count(), 0);
        assert!(hide_tree(&layers, &layers.join("layer")).unwrap().is_none());
        assert_eq!(fs::read_dir(&layers).unwrap().count(), 0);
    }

    #[test]
    fn sweep_removes_only_temporaries() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join(".tmp-abc/deep")).unwrap();
        fs::write(t.path().join(".tmp-file"), "x").unwrap();
        fs::create_dir(t.path().join("layer")).unwrap();
        sweep(t.path()).unwrap();
        let names: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["layer"]);
    }
}
