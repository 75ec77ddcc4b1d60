//! Random filesystem operations for the property tests, and their proptest strategies.
//!
//! Operations name paths from a small namespace (`a`, `b`, `c`, up to three deep) so they
//! collide often. Each is applied best-effort: one that does not fit the tree as it stands
//! (a missing source, a file where a directory is needed) does nothing. None ever goes through
//! a symlink, so nothing is touched outside the tree.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use proptest::collection::vec;
use proptest::prelude::*;

/// One random filesystem operation; paths are relative to the layer root.
#[derive(Debug, Clone)]
pub enum FsOp {
    /// Creates or replaces the content of a file (in place: hard links see it).
    Write(PathBuf, Vec<u8>),
    /// Overwrites bytes of an existing file at an offset, without truncating.
    Overwrite(PathBuf, u64, Vec<u8>),
    /// Appends to an existing file.
    Append(PathBuf, Vec<u8>),
    /// Truncates or extends an existing file.
    Truncate(PathBuf, u64),
    /// Creates a directory and its parents.
    Mkdir(PathBuf),
    /// Removes a path, recursively for a directory.
    RemoveAll(PathBuf),
    /// Removes a non-directory.
    RemoveFile(PathBuf),
    /// Renames a non-directory to a path that is not a directory.
    Rename(PathBuf, PathBuf),
    /// Creates a symlink with this target.
    Symlink(PathBuf, PathBuf),
    /// Writes a new file at the first path and hard links it as the second.
    Hardlink(PathBuf, PathBuf, Vec<u8>),
    /// Sets mode bits (with setuid/setgid/sticky) of a non-symlink.
    Chmod(PathBuf, u32),
    /// `lchown` to a small uid/gid.
    Chown(PathBuf, u32, u32),
    /// Sets a `user.*` xattr.
    SetXattr(PathBuf, String, Vec<u8>),
    /// Replaces a directory (and all under it) by a file.
    DirToFile(PathBuf, Vec<u8>),
    /// Replaces a non-directory by an empty directory.
    FileToDir(PathBuf),
}

/// Whether no proper prefix of `rel` under `root` is a symlink (missing prefixes are fine).
fn no_symlink_parents(root: &Path, rel: &Path) -> bool {
    let mut at = root.to_path_buf();
    let Some(parent) = rel.parent() else {
        return true;
    };
    for c in parent.components() {
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(md) if md.file_type().is_symlink() => return false,
            Ok(_) => {}
            Err(_) => return true,
        }
    }
    true
}

/// What is at `rel` now: `None` missing, else (is_dir, is_symlink).
fn kind(path: &Path) -> Option<(bool, bool)> {
    fs::symlink_metadata(path)
        .ok()
        .map(|md| (md.is_dir(), md.file_type().is_symlink()))
}

fn make_parents(path: &Path) -> bool {
    path.parent().is_none_or(|p| fs::create_dir_all(p).is_ok())
}

impl FsOp {
    /// The paths this operation names.
    fn paths(&self) -> Vec<&Path> {
        match self {
            FsOp::Write(p, _)
            | FsOp::Overwrite(p, _, _)
            | FsOp::Append(p, _)
            | FsOp::Truncate(p, _)
            | FsOp::Mkdir(p)
            | FsOp::RemoveAll(p)
            | FsOp::RemoveFile(p)
            | FsOp::Symlink(p, _)
            | FsOp::Chmod(p, _)
            | FsOp::Chown(p, _, _)
            | FsOp::SetXattr(p, _, _)
            | FsOp::DirToFile(p, _)
            | FsOp::FileToDir(p) => vec![p],
            FsOp::Rename(a, b) | FsOp::Hardlink(a, b, _) => vec![a, b],
        }
    }

    /// Applies the operation under `root`, best-effort (see the module doc).
    pub fn apply(&self, root: &Path) {
        if !self.paths().iter().all(|p| no_symlink_parents(root, p)) {
            return;
        }
        // Errors are expected (the op may not fit the tree); they just make it a no-op.
        let _ = self.try_apply(root);
    }

    fn try_apply(&self, root: &Path) -> std::io::Result<()> {
        let at = |p: &Path| root.join(p);
        match self {
            FsOp::Write(p, data) => {
                let path = at(p);
                if matches!(kind(&path), Some((true, _)) | Some((_, true))) || !make_parents(&path)
                {
                    return Ok(());
                }
                fs::write(path, data)
            }
            FsOp::Overwrite(p, offset, data) => {
                let path = at(p);
                if kind(&path) != Some((false, false)) {
                    return Ok(());
                }
                let mut f = fs::OpenOptions::new().write(true).open(path)?;
                f.seek(SeekFrom::Start(*offset))?;
                f.write_all(data)
            }
            FsOp::Append(p, data) => {
                let path = at(p);
                if kind(&path) != Some((false, false)) {
                    return Ok(());
                }
                fs::OpenOptions::new()
                    .append(true)
                    .open(path)?
                    .write_all(data)
            }
            FsOp::Truncate(p, len) => {
                let path = at(p);
                if kind(&path) != Some((false, false)) {
                    return Ok(());
                }
                fs::OpenOptions::new().write(true).open(path)?.set_len(*len)
            }
            FsOp::Mkdir(p) => fs::create_dir_all(at(p)),
            FsOp::RemoveAll(p) => match kind(&at(p)) {
                Some((true, _)) => fs::remove_dir_all(at(p)),
                Some(_) => fs::remove_file(at(p)),
                None => Ok(()),
            },
            FsOp::RemoveFile(p) => match kind(&at(p)) {
                Some((false, _)) => fs::remove_file(at(p)),
                _ => Ok(()),
            },
            FsOp::Rename(from, to) => {
                let (src, dst) = (at(from), at(to));
                if !matches!(kind(&src), Some((false, _)))
                    || matches!(kind(&dst), Some((true, _)))
                    || !make_parents(&dst)
                {
                    return Ok(());
                }
                fs::rename(src, dst)
            }
            FsOp::Symlink(p, target) => {
                let path = at(p);
                if kind(&path).is_some() || !make_parents(&path) {
                    return Ok(());
                }
                std::os::unix::fs::symlink(target, path)
            }
            FsOp::Hardlink(from, to, data) => {
                let (src, dst) = (at(from), at(to));
                if src == dst
                    || matches!(kind(&src), Some((true, _)))
                    || kind(&dst).is_some()
                    || !make_parents(&src)
                    || !make_parents(&dst)
                {
                    return Ok(());
                }
                // A fresh inode: see `child_op` on why links to unchanged files are avoided.
                if kind(&src).is_some() {
                    fs::remove_file(&src)?;
                }
                fs::write(&src, data)?;
                fs::hard_link(src, dst)
            }
            FsOp::Chmod(p, mode) => match kind(&at(p)) {
                Some((_, false)) => fs::set_permissions(at(p), fs::Permissions::from_mode(*mode)),
                _ => Ok(()),
            },
            FsOp::Chown(p, uid, gid) => std::os::unix::fs::lchown(at(p), Some(*uid), Some(*gid)),
            FsOp::SetXattr(p, name, value) => xattr::set(at(p), name, value),
            FsOp::DirToFile(p, data) => {
                if kind(&at(p)) != Some((true, false)) {
                    return Ok(());
                }
                fs::remove_dir_all(at(p))?;
                fs::write(at(p), data)
            }
            FsOp::FileToDir(p) => match kind(&at(p)) {
                Some((false, _)) => {
                    fs::remove_file(at(p))?;
                    fs::create_dir(at(p))
                }
                _ => Ok(()),
            },
        }
    }
}

/// A path of one to three components from `a`, `b`, `c`.
pub fn rel_path() -> impl Strategy<Value = PathBuf> {
    vec(prop::sample::select(vec!["a", "b", "c"]), 1..=3)
        .prop_map(|parts| parts.iter().collect::<PathBuf>())
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..200)
}

fn mode() -> impl Strategy<Value = u32> {
    prop::sample::select(vec![
        0o644, 0o755, 0o600, 0o700, 0o444, 0o4755, 0o2755, 0o6711, 0o1777, 0o1700, 0o000,
    ])
}

fn symlink_target() -> impl Strategy<Value = PathBuf> {
    prop::sample::select(vec!["a", "b/c", "../a", "/c/b", "nowhere", "."]).prop_map(PathBuf::from)
}

/// Random bytes, or one of the values that trip up archive code: empty, newlines (PAX records
/// are length-prefixed, not line-based), NULs and a `security.capability`-like binary blob.
fn xattr_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..16),
        prop::sample::select(vec![
            Vec::new(),
            b"\n".to_vec(),
            b"a\nb=c\n".to_vec(),
            vec![
                0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ],
        ]),
    ]
}

fn xattr_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["user.a".to_string(), "user.bb".to_string()])
}

/// Operations for building a base layer: everything but hard links.
pub fn base_op() -> BoxedStrategy<FsOp> {
    op(false)
}

/// Operations for a child layer: everything, hard links included. A hard link is always made
/// to a file written anew in the same layer: a link to an unchanged lower file raises only
/// its link count, which a tree-comparing diff (Docker's included) cannot see.
pub fn child_op() -> BoxedStrategy<FsOp> {
    op(true)
}

fn op(hardlinks: bool) -> BoxedStrategy<FsOp> {
    let common = prop_oneof![
        6 => (rel_path(), data()).prop_map(|(p, d)| FsOp::Write(p, d)),
        2 => (rel_path(), 0u64..300, data()).prop_map(|(p, o, d)| FsOp::Overwrite(p, o, d)),
        2 => (rel_path(), data()).prop_map(|(p, d)| FsOp::Append(p, d)),
        2 => (rel_path(), 0u64..400).prop_map(|(p, l)| FsOp::Truncate(p, l)),
        4 => rel_path().prop_map(FsOp::Mkdir),
        2 => rel_path().prop_map(FsOp::RemoveAll),
        2 => rel_path().prop_map(FsOp::RemoveFile),
        2 => (rel_path(), rel_path()).prop_map(|(a, b)| FsOp::Rename(a, b)),
        2 => (rel_path(), symlink_target()).prop_map(|(p, t)| FsOp::Symlink(p, t)),
        3 => (rel_path(), mode()).prop_map(|(p, m)| FsOp::Chmod(p, m)),
        2 => (rel_path(), 0u32..3, 0u32..3).prop_map(|(p, u, g)| FsOp::Chown(p, u, g)),
        2 => (rel_path(), xattr_name(), xattr_value())
            .prop_map(|(p, n, v)| FsOp::SetXattr(p, n, v)),
        1 => (rel_path(), data()).prop_map(|(p, d)| FsOp::DirToFile(p, d)),
        1 => rel_path().prop_map(FsOp::FileToDir),
    ];
    if hardlinks {
        prop_oneof![
            10 => common,
            1 => (rel_path(), rel_path(), data()).prop_map(|(a, b, d)| FsOp::Hardlink(a, b, d)),
        ]
        .boxed()
    } else {
        common.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_never_leave_the_tree() {
        let outside = tempfile::tempdir().unwrap();
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let mode_before = fs::metadata(outside.path()).unwrap().permissions().mode();
        std::os::unix::fs::symlink(outside.path(), root.join("a")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), root.join("b")).unwrap();
        FsOp::Write("a/x".into(), b"escape".to_vec()).apply(root);
        FsOp::Mkdir("a/y/z".into()).apply(root);
        FsOp::Write("b".into(), b"escape".to_vec()).apply(root);
        FsOp::Hardlink("c".into(), "a/h".into(), b"x".to_vec()).apply(root);
        FsOp::Chmod("a".into(), 0o777).apply(root);
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
        assert_eq!(
            fs::metadata(outside.path()).unwrap().permissions().mode(),
            mode_before
        );
    }

    #[test]
    fn ops_do_what_they_say() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        FsOp::Write("a/b/c".into(), b"hello".to_vec()).apply(root);
        FsOp::Append("a/b/c".into(), b"!".to_vec()).apply(root);
        FsOp::Overwrite("a/b/c".into(), 1, b"E".to_vec()).apply(root);
        assert_eq!(fs::read(root.join("a/b/c")).unwrap(), b"hEllo!");
        FsOp::Hardlink("b".into(), "c".into(), b"L".to_vec()).apply(root);
        FsOp::Write("c".into(), b"shared".to_vec()).apply(root);
        assert_eq!(fs::read(root.join("b")).unwrap(), b"shared");
        FsOp::Rename("b".into(), "a/b/d".into()).apply(root);
        assert!(root.join("a/b/d").exists() && !root.join("b").exists());
        FsOp::DirToFile("a/b".into(), b"f".to_vec()).apply(root);
        assert!(root.join("a/b").is_file());
        FsOp::FileToDir("a/b".into()).apply(root);
        assert!(root.join("a/b").is_dir());
        FsOp::Truncate("c".into(), 2).apply(root);
        assert_eq!(fs::read(root.join("c")).unwrap(), b"sh");
        FsOp::Chmod("c".into(), 0o1700).apply(root);
        assert_eq!(
            fs::metadata(root.join("c")).unwrap().permissions().mode() & 0o7777,
            0o1700
        );
        FsOp::RemoveAll("a".into()).apply(root);
        assert!(!root.join("a").exists());
    }
}
