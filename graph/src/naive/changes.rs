//! Tree comparison, with Docker's `ChangesDirs` rules.
//!
//! Both trees are walked together, each directory's entries merged in name order, so the
//! result comes out sorted by path with every parent before its children. A path in both trees
//! is changed when its type, mode, owner or device number differ, or, for non-directories, its
//! size or mtime (seconds and nanoseconds), or any xattr or the symlink target. Directory
//! sizes and mtimes are not compared (they move whenever a child does). A directory that did
//! not change itself but holds changes is listed as changed before its children, so a diff
//! carries its permissions. A deleted tree is listed once, at its top; everything under an
//! added directory is added. The roots themselves are never listed.

mod entry_info;
mod sizes;

use std::cmp::Ordering;
use std::ffi::OsString;
use std::fs::{self, FileType};
use std::path::Path;

pub use sizes::{changes_size, dir_size};

use crate::driver::{Change, ChangeKind};
use crate::error::{IoContext, Result};
use entry_info::EntryInfo;

/// Compares the tree at `new` with the tree at `old` (everything is added when `old` is None).
/// Paths are absolute within the layer ("/etc/passwd"), sorted, parents before children.
/// Symlinks are never followed.
pub fn changes_dirs(new: &Path, old: Option<&Path>) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    match old {
        Some(old) => compare_dir(new, old, Path::new("/"), &mut changes)?,
        None => add_all(new, Path::new("/"), &mut changes)?,
    }
    Ok(changes)
}

/// The entries of `dir`, sorted by name, with their types as `readdir` gives them.
fn sorted_entries(dir: &Path) -> Result<Vec<(OsString, FileType)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).ctx("read directory", dir)? {
        let entry = entry.ctx("read directory", dir)?;
        let file_type = entry.file_type().ctx("stat", entry.path())?;
        entries.push((entry.file_name(), file_type));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

fn push(changes: &mut Vec<Change>, path: &Path, kind: ChangeKind) {
    changes.push(Change {
        path: path.to_path_buf(),
        kind,
    });
}

/// Lists everything under `dir` (at layer path `rel`) as added.
fn add_all(dir: &Path, rel: &Path, changes: &mut Vec<Change>) -> Result<()> {
    for (name, file_type) in sorted_entries(dir)? {
        let child_rel = rel.join(&name);
        push(changes, &child_rel, ChangeKind::Add);
        if file_type.is_dir() {
            add_all(&dir.join(&name), &child_rel, changes)?;
        }
    }
    Ok(())
}

/// Compares the entries of two directories that are at layer path `rel` in both trees.
fn compare_dir(
    new_dir: &Path,
    old_dir: &Path,
    rel: &Path,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let mut new_entries = sorted_entries(new_dir)?.into_iter().peekable();
    let mut old_entries = sorted_entries(old_dir)?.into_iter().peekable();
    loop {
        let order = match (new_entries.peek(), old_entries.peek()) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((n, _)), Some((o, _))) => n.cmp(o),
        };
        match order {
            Ordering::Less => {
                let Some((name, file_type)) = new_entries.next() else {
                    return Ok(());
                };
                let child_rel = rel.join(&name);
                push(changes, &child_rel, ChangeKind::Add);
                if file_type.is_dir() {
                    add_all(&new_dir.join(&name), &child_rel, changes)?;
                }
            }
            Ordering::Greater => {
                let Some((name, _)) = old_entries.next() else {
                    return Ok(());
                };
                push(changes, &rel.join(&name), ChangeKind::Delete);
            }
            Ordering::Equal => {
                let (Some((name, _)), Some(_)) = (new_entries.next(), old_entries.next()) else {
                    return Ok(());
                };
                compare_entry(
                    &new_dir.join(&name),
                    &old_dir.join(&name),
                    &rel.join(&name),
                    changes,
                )?;
            }
        }
    }
}

/// Compares one path present in both trees, and what is under it.
fn compare_entry(new: &Path, old: &Path, rel: &Path, changes: &mut Vec<Change>) -> Result<()> {
    let (new_info, new_is_dir) = EntryInfo::read(new)?;
    let (old_info, old_is_dir) = EntryInfo::read(old)?;
    let changed = new_info != old_info;
    if changed {
        push(changes, rel, ChangeKind::Modify);
    }
    if !new_is_dir {
        // What was under an old directory goes with it: a file replacing a directory is one
        // change, not one per old child.
        return Ok(());
    }
    let position = changes.len();
    if old_is_dir {
        compare_dir(new, old, rel, changes)?;
    } else {
        add_all(new, rel, changes)?;
    }
    if !changed && changes.len() > position {
        // Listed before its children so a diff restores the directory's own metadata too.
        changes.insert(
            position,
            Change {
                path: rel.to_path_buf(),
                kind: ChangeKind::Modify,
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{create_dir_all, write};
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::path::PathBuf;

    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;

    fn strings(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| format!("{} {}", c.kind, c.path.display()))
            .collect()
    }

    fn set_mtime(path: &Path, sec: i64, nsec: i64) {
        let t = TimeSpec::new(sec, nsec);
        utimensat(
            nix::fcntl::AT_FDCWD,
            path,
            &t,
            &t,
            UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }

    /// Sets every mtime under `root` to one fixed instant, so a later write is always newer.
    fn age(root: &Path) {
        for entry in walkdir::WalkDir::new(root).contents_first(true) {
            set_mtime(entry.unwrap().path(), 1_000_000_000, 123_456_789);
        }
    }

    /// `cp -a`: an independent copy with the same metadata.
    fn copy_tree(src: &Path, dst: &Path) {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(src)
            .arg(dst)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// An `old` tree built by `build`, aged, and a copy of it as `new`.
    fn pair(build: impl FnOnce(&Path)) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let old = t.path().join("old");
        create_dir_all(&old).unwrap();
        build(&old);
        age(&old);
        let new = t.path().join("new");
        copy_tree(&old, &new);
        (t, old, new)
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
    fn identical_copies_have_no_changes() {
        let (_t, old, new) = pair(|old| {
            create_dir_all(old.join("d/e")).unwrap();
            write(old.join("d/e/f"), "x").unwrap();
            symlink("d/e/f", old.join("l")).unwrap();
            xattr::set(old.join("d"), "user.k", b"v").unwrap();
        });
        assert_eq!(changes_dirs(&new, Some(&old)).unwrap(), []);
    }

    #[test]
    fn modify_add_delete_and_parent_directories() {
        let (_t, old, new) = pair(|old| {
            create_dir_all(old.join("d/sub/deeper")).unwrap();
            write(old.join("d/keep"), "k").unwrap();
            write(old.join("d/change"), "c").unwrap();
            write(old.join("d/sub/gone"), "g").unwrap();
            write(old.join("d/sub/deeper/gone"), "g").unwrap();
            write(old.join("same"), "s").unwrap();
        });
        write(new.join("d/change"), "changed").unwrap();
        write(new.join("d/added"), "a").unwrap();
        fs::remove_dir_all(new.join("d/sub")).unwrap();
        create_dir_all(new.join("new-dir/inner")).unwrap();
        write(new.join("new-dir/inner/f"), "1234").unwrap();
        symlink("target", new.join("link")).unwrap();
        let changes = changes_dirs(&new, Some(&old)).unwrap();
        assert_eq!(
            strings(&changes),
            [
                "C /d",
                "A /d/added",
                "C /d/change",
                "D /d/sub",
                "A /link",
                "A /new-dir",
                "A /new-dir/inner",
                "A /new-dir/inner/f"
            ]
        );
        assert_eq!(changes_size(&new, &changes).unwrap(), 1 + 7 + 6 + 4);
    }

    #[test]
    fn output_is_sorted_with_deletions_in_place() {
        let (_t, old, new) = pair(|old| {
            for name in ["a", "b", "c", "e"] {
                write(old.join(name), name).unwrap();
            }
        });
        fs::remove_file(new.join("b")).unwrap();
        fs::remove_file(new.join("e")).unwrap();
        write(new.join("bb"), "x").unwrap();
        write(new.join("d"), "x").unwrap();
        let changes = changes_dirs(&new, Some(&old)).unwrap();
        assert_eq!(strings(&changes), ["D /b", "A /bb", "A /d", "D /e"]);
        let mut sorted = changes.clone();
        sorted.sort();
        assert_eq!(changes, sorted);
    }

    /// moby graphtest DriverTestChanges on 20 files: 21 changes.
    #[test]
    fn moby_changes_case_gives_21_changes() {
        let (_t, old, new) = pair(|old| {
            create_dir_all(old.join("directory-0")).unwrap();
            for j in 0..20 {
                write(old.join(format!("directory-0/file-{j}")), [3 + j as u8; 64]).unwrap();
            }
        });
        let mut want = vec!["C /directory-0".to_string()];
        for j in 0..20 {
            match j % 3 {
                0 => {
                    write(new.join(format!("directory-0/file-{j}")), [6 + j as u8; 64]).unwrap();
                    want.push(format!("C /directory-0/file-{j}"));
                }
                1 => {
                    write(new.join(format!("directory-0/file-6-{j}")), [6; 64]).unwrap();
                    want.push(format!("A /directory-0/file-6-{j}"));
                }
                _ => {
                    fs::remove_file(new.join(format!("directory-0/file-{j}"))).unwrap();
                    want.push(format!("D /directory-0/file-{j}"));
                }
            }
        }
        let got = changes_dirs(&new, Some(&old)).unwrap();
        assert_eq!(got.len(), 21);
        let mut got = strings(&got);
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn xattr_and_mode_changes_are_modifications() {
        let (_t, old, new) = pair(|old| {
            write(old.join("f"), "x").unwrap();
            write(old.join("g"), "x").unwrap();
            create_dir_all(old.join("h")).unwrap();
            xattr::set(old.join("h"), "user.k", b"old").unwrap();
        });
        xattr::set(new.join("f"), "user.k", b"v").unwrap();
        fs::set_permissions(new.join("g"), fs::Permissions::from_mode(0o4755)).unwrap();
        xattr::set(new.join("h"), "user.k", b"new").unwrap();
        assert_eq!(
            strings(&changes_dirs(&new, Some(&old)).unwrap()),
            ["C /f", "C /g", "C /h"]
        );
    }

    #[test]
    fn mtime_nanoseconds_count_for_files_but_not_directories() {
        let (_t, old, new) = pair(|old| {
            write(old.join("f"), "x").unwrap();
            create_dir_all(old.join("d")).unwrap();
        });
        set_mtime(&new.join("f"), 1_000_000_000, 123_456_790);
        set_mtime(&new.join("d"), 2_000_000_000, 0);
        assert_eq!(strings(&changes_dirs(&new, Some(&old)).unwrap()), ["C /f"]);
    }

    #[test]
    fn symlink_target_change_is_a_modification() {
        let (_t, old, new) = pair(|old| symlink("a", old.join("l")).unwrap());
        fs::remove_file(new.join("l")).unwrap();
        symlink("b", new.join("l")).unwrap();
        set_mtime(&new.join("l"), 1_000_000_000, 123_456_789);
        assert_eq!(strings(&changes_dirs(&new, Some(&old)).unwrap()), ["C /l"]);
    }

    #[test]
    fn type_changes() {
        let (_t, old, new) = pair(|old| {
            write(old.join("file-to-dir"), "x").unwrap();
            create_dir_all(old.join("dir-to-file/child")).unwrap();
        });
        fs::remove_file(new.join("file-to-dir")).unwrap();
        create_dir_all(new.join("file-to-dir/k")).unwrap();
        fs::remove_dir_all(new.join("dir-to-file")).unwrap();
        write(new.join("dir-to-file"), "x").unwrap();
        assert_eq!(
            strings(&changes_dirs(&new, Some(&old)).unwrap()),
            ["C /dir-to-file", "C /file-to-dir", "A /file-to-dir/k"]
        );
    }

    #[test]
    fn unchanged_directories_above_a_change_are_listed_once() {
        let (_t, old, new) = pair(|old| {
            create_dir_all(old.join("a/b/c")).unwrap();
            write(old.join("a/b/c/f"), "x").unwrap();
            write(old.join("a/other"), "x").unwrap();
        });
        write(new.join("a/b/c/f"), "y").unwrap();
        assert_eq!(
            strings(&changes_dirs(&new, Some(&old)).unwrap()),
            ["C /a", "C /a/b", "C /a/b/c", "C /a/b/c/f"]
        );
    }

    #[test]
    fn root_owner_device_and_capability_changes() {
        if !crate::testsuite::root_available("root_owner_device_and_capability_changes") {
            return;
        }
        use nix::sys::stat::{Mode, SFlag, makedev, mknod};
        let (_t, old, new) = pair(|old| {
            write(old.join("owned"), "x").unwrap();
            write(old.join("cap"), "x").unwrap();
            mknod(
                &old.join("dev"),
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(0o600),
                makedev(1, 3),
            )
            .unwrap();
        });
        std::os::unix::fs::lchown(new.join("owned"), Some(1), Some(2)).unwrap();
        let cap = [
            1u8, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        xattr::set(new.join("cap"), "security.capability", &cap).unwrap();
        fs::remove_file(new.join("dev")).unwrap();
        mknod(
            &new.join("dev"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o600),
            makedev(1, 5),
        )
        .unwrap();
        set_mtime(&new.join("dev"), 1_000_000_000, 123_456_789);
        assert_eq!(
            strings(&changes_dirs(&new, Some(&old)).unwrap()),
            ["C /cap", "C /dev", "C /owned"]
        );
    }

    #[test]
    fn sizes_count_hard_links_once_and_skip_directories() {
        let t = tempfile::tempdir().unwrap();
        write(t.path().join("a"), "12345").unwrap();
        fs::hard_link(t.path().join("a"), t.path().join("b")).unwrap();
        create_dir_all(t.path().join("d")).unwrap();
        write(t.path().join("d/c"), "123").unwrap();
        symlink("12", t.path().join("l")).unwrap();
        assert_eq!(dir_size(t.path()).unwrap(), 5 + 3 + 2);
        let changes = changes_dirs(t.path(), None).unwrap();
        assert_eq!(changes_size(t.path(), &changes).unwrap(), 5 + 3 + 2);
        let deleted = [Change {
            path: "/a".into(),
            kind: ChangeKind::Delete,
        }];
        assert_eq!(changes_size(t.path(), &deleted).unwrap(), 0);
    }
}
