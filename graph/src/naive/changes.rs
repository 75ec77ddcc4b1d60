//! Tree comparison, with Docker's `ChangesDirs` rules.
//!
//! A path in both trees is changed when its type, mode, owner or device number differ, or,
//! for non-directories, its size or mtime (to the nanosecond), or its xattrs or symlink target.
//! Directory sizes and mtimes are not compared (they change whenever a child does). A
//! directory that did not change itself but holds changes is listed as changed before its
//! children, so a diff carries its permissions. Deleted trees are listed once, at the top.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::driver::{Change, ChangeKind};
use crate::error::{Error, IoContext, Result};

/// What is compared of one entry.
#[derive(Debug, PartialEq, Eq)]
struct EntryInfo {
    mode: u32,
    uid: u32,
    gid: u32,
    rdev: u64,
    size: u64,
    mtime: (i64, i64),
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    link: Option<PathBuf>,
}

impl EntryInfo {
    fn read(path: &Path) -> Result<(Self, fs::Metadata)> {
        let md = fs::symlink_metadata(path).ctx("stat", path)?;
        let is_dir = md.is_dir();
        let link = if md.file_type().is_symlink() {
            Some(fs::read_link(path).ctx("read symlink", path)?)
        } else {
            None
        };
        Ok((
            EntryInfo {
                mode: md.mode(),
                uid: md.uid(),
                gid: md.gid(),
                rdev: md.rdev(),
                size: if is_dir { 0 } else { md.size() },
                mtime: if is_dir {
                    (0, 0)
                } else {
                    (md.mtime(), md.mtime_nsec())
                },
                xattrs: read_xattrs(path)?,
                link,
            },
            md,
        ))
    }
}

fn read_xattrs(path: &Path) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(out),
        Err(e) => return Err(Error::io("list xattrs", path, e)),
    };
    for name in names {
        let key = std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str()).to_vec();
        // Overlay's own bookkeeping is not content.
        if key.starts_with(b"trusted.overlay.") {
            continue;
        }
        if let Some(value) = xattr::get(path, &name).ctx("read xattr", path)? {
            out.insert(key, value);
        }
    }
    Ok(out)
}

fn sorted_names(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).ctx("read directory", dir)? {
        names.push(entry.ctx("read directory", dir)?.file_name());
    }
    names.sort();
    Ok(names)
}

/// Compares the tree at `new` with the tree at `old` (everything is added when `old` is None).
/// Paths are absolute within the layer ("/etc/passwd"), parents before their children.
pub fn changes_dirs(new: &Path, old: Option<&Path>) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    walk(new, old, Path::new("/"), &mut changes)?;
    Ok(changes)
}

fn walk(
    new_dir: &Path,
    old_dir: Option<&Path>,
    rel: &Path,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let new_names = sorted_names(new_dir)?;
    let mut old_names: HashSet<std::ffi::OsString> = match old_dir {
        Some(old) => sorted_names(old)?.into_iter().collect(),
        None => HashSet::new(),
    };
    for name in new_names {
        let new_path = new_dir.join(&name);
        let child_rel = rel.join(&name);
        let (new_info, new_md) = EntryInfo::read(&new_path)?;
        let position = changes.len();
        let mut recorded = false;
        let mut old_child_dir = None;
        if old_names.remove(&name) {
            let old_path = old_dir.map(|o| o.join(&name)).unwrap_or_default();
            let (old_info, old_md) = EntryInfo::read(&old_path)?;
            if old_info != new_info {
                changes.push(Change {
                    path: child_rel.clone(),
                    kind: ChangeKind::Modify,
                });
                recorded = true;
            }
            if old_md.is_dir() {
                old_child_dir = Some(old_path);
            }
        } else {
            changes.push(Change {
                path: child_rel.clone(),
                kind: ChangeKind::Add,
            });
            recorded = true;
        }
        if new_md.is_dir() {
            walk(&new_path, old_child_dir.as_deref(), &child_rel, changes)?;
            // A directory holding changes is listed before them, to carry its permissions.
            if !recorded && changes.len() > position {
                changes.insert(
                    position,
                    Change {
                        path: child_rel,
                        kind: ChangeKind::Modify,
                    },
                );
            }
        }
    }
    let mut deleted: Vec<_> = old_names.into_iter().collect();
    deleted.sort();
    for name in deleted {
        changes.push(Change {
            path: rel.join(name),
            kind: ChangeKind::Delete,
        });
    }
    Ok(())
}

/// Sum of the sizes of added or modified non-directories under `root` (hard links once).
pub fn changes_size(root: &Path, changes: &[Change]) -> Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0;
    for change in changes {
        if change.kind == ChangeKind::Delete {
            continue;
        }
        let rel = change.path.strip_prefix("/").unwrap_or(&change.path);
        let path = root.join(rel);
        let md = fs::symlink_metadata(&path).ctx("stat", &path)?;
        if md.is_dir() || (md.nlink() > 1 && !seen.insert((md.dev(), md.ino()))) {
            continue;
        }
        total += md.size();
    }
    Ok(total)
}

/// Sum of the sizes of all non-directories under `root` (hard links once).
pub fn dir_size(root: &Path) -> Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0;
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(|e| {
            let path = e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.to_path_buf());
            Error::io("walk", path, e.into())
        })?;
        let md = entry
            .metadata()
            .map_err(|e| Error::io("stat", entry.path(), e.into()))?;
        if md.is_dir() || (md.nlink() > 1 && !seen.insert((md.dev(), md.ino()))) {
            continue;
        }
        total += md.size();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{create_dir_all, write};

    fn strings(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| format!("{} {}", c.kind, c.path.display()))
            .collect()
    }

    fn copy_tree(src: &Path, dst: &Path) {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(src)
            .arg(dst)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn everything_is_added_without_a_parent() {
        let t = tempfile::tempdir().unwrap();
        create_dir_all(t.path().join("a/b")).unwrap();
        write(t.path().join("a/b/f"), "x").unwrap();
        write(t.path().join("top"), "y").unwrap();
        assert_eq!(
            strings(&changes_dirs(t.path(), None).unwrap()),
            ["A /a", "A /a/b", "A /a/b/f", "A /top"]
        );
    }

    #[test]
    fn modify_add_delete_and_parent_directories() {
        let t = tempfile::tempdir().unwrap();
        let old = t.path().join("old");
        create_dir_all(old.join("d/sub")).unwrap();
        write(old.join("d/keep"), "k").unwrap();
        write(old.join("d/change"), "c").unwrap();
        write(old.join("d/sub/gone"), "g").unwrap();
        write(old.join("same"), "s").unwrap();
        let new = t.path().join("new");
        copy_tree(&old, &new);
        std::thread::sleep(std::time::Duration::from_millis(10));
        write(new.join("d/change"), "changed").unwrap();
        write(new.join("d/added"), "a").unwrap();
        fs::remove_dir_all(new.join("d/sub")).unwrap();
        std::os::unix::fs::symlink("target", new.join("link")).unwrap();
        let changes = changes_dirs(&new, Some(&old)).unwrap();
        assert_eq!(
            strings(&changes),
            ["C /d", "A /d/added", "C /d/change", "D /d/sub", "A /link"]
        );
        assert_eq!(changes_size(&new, &changes).unwrap(), 1 + 7 + 6);
    }

    #[test]
    fn xattr_and_mode_changes_are_modifications() {
        let t = tempfile::tempdir().unwrap();
        let old = t.path().join("old");
        create_dir_all(&old).unwrap();
        write(old.join("f"), "x").unwrap();
        write(old.join("g"), "x").unwrap();
        let new = t.path().join("new");
        copy_tree(&old, &new);
        xattr::set(new.join("f"), "user.k", b"v").unwrap();
        std::fs::set_permissions(
            new.join("g"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        assert_eq!(
            strings(&changes_dirs(&new, Some(&old)).unwrap()),
            ["C /f", "C /g"]
        );
    }

    #[test]
    fn dir_size_counts_hard_links_once() {
        let t = tempfile::tempdir().unwrap();
        write(t.path().join("a"), "12345").unwrap();
        fs::hard_link(t.path().join("a"), t.path().join("b")).unwrap();
        create_dir_all(t.path().join("d")).unwrap();
        write(t.path().join("d/c"), "123").unwrap();
        assert_eq!(dir_size(t.path()).unwrap(), 8);
    }
}
