//! A comparable picture of a directory tree, for asserting that two trees are the same.
//!
//! Captured per entry: type, mode bits (permissions, setuid, setgid, sticky), owner, size,
//! SHA-256 of file content, symlink target, device number, every xattr, which entries are hard
//! links of one another, and the mtime of non-directories to the second (tar keeps seconds).
//! Not captured: atime, ctime, inode numbers, link counts, and directory mtimes and sizes,
//! which change whenever a child does and differ between filesystems.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The type of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A unix socket.
    Socket,
}

/// Everything compared of one entry.
#[derive(Clone, PartialEq, Eq)]
pub struct EntryState {
    /// The entry's type.
    pub kind: EntryKind,
    /// Permission bits with setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes; 0 for directories.
    pub size: u64,
    /// Hex SHA-256 of a regular file's content.
    pub sha256: Option<String>,
    /// A symlink's target.
    pub symlink_target: Option<PathBuf>,
    /// Device number of a device node, else 0.
    pub rdev: u64,
    /// Every extended attribute, name to value, sorted by name.
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// For a non-directory sharing its inode with other entries: the first (smallest) path
    /// of that group, the same for every member.
    pub hardlink_group: Option<PathBuf>,
    /// Modification time in whole seconds, for non-directories; `None` for directories or
    /// after [`without_mtimes`].
    pub mtime: Option<i64>,
}

impl fmt::Debug for EntryState {
    /// Modes in octal and xattrs as text where they are, so a tree difference reads easily.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} mode {:o} owner {}:{} size {}",
            self.kind, self.mode, self.uid, self.gid, self.size
        )?;
        if let Some(h) = &self.sha256 {
            write!(f, " sha256 {}", &h[..12])?;
        }
        if let Some(t) = &self.symlink_target {
            write!(f, " -> {}", t.display())?;
        }
        if self.rdev != 0 {
            write!(f, " rdev {:#x}", self.rdev)?;
        }
        for (k, v) in &self.xattrs {
            write!(
                f,
                " xattr {}={:?}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(v)
            )?;
        }
        if let Some(g) = &self.hardlink_group {
            write!(f, " linked-with {}", g.display())?;
        }
        if let Some(m) = self.mtime {
            write!(f, " mtime {m}")?;
        }
        Ok(())
    }
}

/// A snapshot: entry path (absolute within the tree, the root itself is `/`) to its state.
pub type Tree = BTreeMap<PathBuf, EntryState>;

/// Captures the tree under `root` (not following symlinks). Panics on an unreadable entry.
pub fn snapshot_tree(root: &Path) -> Tree {
    let mut tree = Tree::new();
    let mut inodes: HashMap<(u64, u64), Vec<PathBuf>> = HashMap::new();
    walk(root, Path::new("/"), &mut tree, &mut inodes);
    for paths in inodes.values().filter(|p| p.len() > 1) {
        let first = paths.iter().min().expect("non-empty group").clone();
        for p in paths {
            if let Some(e) = tree.get_mut(p) {
                e.hardlink_group = Some(first.clone());
            }
        }
    }
    tree
}

fn walk(disk: &Path, name: &Path, tree: &mut Tree, inodes: &mut HashMap<(u64, u64), Vec<PathBuf>>) {
    let md = fs::symlink_metadata(disk).unwrap_or_else(|e| panic!("stat {}: {e}", disk.display()));
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_char_device() {
        EntryKind::CharDevice
    } else if ft.is_block_device() {
        EntryKind::BlockDevice
    } else if ft.is_fifo() {
        EntryKind::Fifo
    } else if ft.is_socket() {
        EntryKind::Socket
    } else {
        EntryKind::File
    };
    let is_dir = kind == EntryKind::Dir;
    let state = EntryState {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        size: if is_dir { 0 } else { md.size() },
        sha256: (kind == EntryKind::File).then(|| hash_file(disk)),
        symlink_target: (kind == EntryKind::Symlink).then(|| {
            fs::read_link(disk).unwrap_or_else(|e| panic!("readlink {}: {e}", disk.display()))
        }),
        rdev: if matches!(kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            md.rdev()
        } else {
            0
        },
        xattrs: read_xattrs(disk),
        hardlink_group: None,
        mtime: (!is_dir).then(|| md.mtime()),
    };
    if !is_dir {
        inodes
            .entry((md.dev(), md.ino()))
            .or_default()
            .push(name.to_path_buf());
    }
    tree.insert(name.to_path_buf(), state);
    if is_dir {
        let entries =
            fs::read_dir(disk).unwrap_or_else(|e| panic!("read dir {}: {e}", disk.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("read dir {}: {e}", disk.display()));
            let child = entry.file_name();
            walk(&disk.join(&child), &name.join(&child), tree, inodes);
        }
    }
}

fn hash_file(path: &Path) -> String {
    let mut file = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    hex::encode(hasher.finalize())
}

fn read_xattrs(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return out,
        Err(e) => panic!("list xattrs of {}: {e}", path.display()),
    };
    for name in names {
        let value = xattr::get(path, &name)
            .unwrap_or_else(|e| panic!("get xattr {name:?} of {}: {e}", path.display()));
        if let Some(value) = value {
            out.insert(name.as_bytes().to_vec(), value);
        }
    }
    out
}

/// The tree with every mtime cleared, for comparing trees written at different times.
pub fn without_mtimes(mut tree: Tree) -> Tree {
    for e in tree.values_mut() {
        e.mtime = None;
    }
    tree
}

/// Panics listing every entry that differs between `left` and `right`, when they differ.
#[track_caller]
pub fn assert_trees_eq(left: &Tree, right: &Tree, what: &str) {
    let diffs = tree_differences(left, right);
    if !diffs.is_empty() {
        panic!(
            "{what}: trees differ in {} entries:\n{}",
            diffs.len(),
            diffs.join("\n")
        );
    }
}

/// One line per entry that is missing from one tree or differs.
pub fn tree_differences(left: &Tree, right: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (path, l) in left {
        match right.get(path) {
            None => out.push(format!("  {}: only in left: {l:?}", path.display())),
            Some(r) if r != l => out.push(format!(
                "  {}:\n    left:  {l:?}\n    right: {r:?}",
                path.display()
            )),
            Some(_) => {}
        }
    }
    for (path, r) in right {
        if !left.contains_key(path) {
            out.push(format!("  {}: only in right: {r:?}", path.display()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn set_mtime(path: &Path, secs: i64) {
        set_mtime_ns(path, secs, 0);
    }

    fn set_mtime_ns(path: &Path, secs: i64, nsecs: i64) {
        let t = nix::sys::time::TimeSpec::new(secs, nsecs);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            path,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }

    /// A small tree with one of each interesting thing, all times fixed.
    fn build(root: &Path) {
        fs::create_dir(root.join("d")).unwrap();
        fs::set_permissions(root.join("d"), fs::Permissions::from_mode(0o1705)).unwrap();
        fs::write(root.join("d/f"), b"hello").unwrap();
        fs::set_permissions(root.join("d/f"), fs::Permissions::from_mode(0o4644)).unwrap();
        fs::hard_link(root.join("d/f"), root.join("g")).unwrap();
        symlink("d/f", root.join("s")).unwrap();
        xattr::set(root.join("d/f"), "user.b", b"2").unwrap();
        xattr::set(root.join("d/f"), "user.a", b"1").unwrap();
        fs::write(root.join("lonely"), b"x").unwrap();
        for p in ["d/f", "s", "lonely"] {
            set_mtime(&root.join(p), 1_000_000);
        }
    }

    #[test]
    fn captures_types_modes_content_links_and_xattrs() {
        let t = tempfile::tempdir().unwrap();
        build(t.path());
        let tree = snapshot_tree(t.path());
        let paths: Vec<_> = tree.keys().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(paths, ["/", "/d", "/d/f", "/g", "/lonely", "/s"]);

        let d = &tree[Path::new("/d")];
        assert_eq!(
            (d.kind, d.mode, d.size, d.mtime),
            (EntryKind::Dir, 0o1705, 0, None)
        );

        let f = &tree[Path::new("/d/f")];
        assert_eq!(f.kind, EntryKind::File);
        assert_eq!(f.mode, 0o4644);
        assert_eq!(f.size, 5);
        assert_eq!(
            f.sha256.as_deref(),
            Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        assert_eq!(f.mtime, Some(1_000_000));
        let names: Vec<_> = f.xattrs.keys().cloned().collect();
        assert_eq!(names, [b"user.a".to_vec(), b"user.b".to_vec()]);
        assert_eq!(f.hardlink_group.as_deref(), Some(Path::new("/d/f")));
        assert_eq!(
            tree[Path::new("/g")].hardlink_group.as_deref(),
            Some(Path::new("/d/f"))
        );
        assert_eq!(tree[Path::new("/lonely")].hardlink_group, None);

        let s = &tree[Path::new("/s")];
        assert_eq!(s.kind, EntryKind::Symlink);
        assert_eq!(s.symlink_target.as_deref(), Some(Path::new("d/f")));
        assert_eq!(s.sha256, None);
    }

    #[test]
    fn equal_trees_compare_equal_and_each_difference_is_seen() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        build(a.path());
        build(b.path());
        fs::set_permissions(a.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(b.path(), fs::Permissions::from_mode(0o755)).unwrap();
        // Directory mtimes and atimes are not compared.
        set_mtime(b.path().join("d").as_path(), 5);
        let _ = fs::read(b.path().join("lonely")).unwrap();
        let base = snapshot_tree(a.path());
        assert_trees_eq(&base, &snapshot_tree(b.path()), "identical builds");

        let changed = |f: &dyn Fn(&Path)| {
            let c = tempfile::tempdir().unwrap();
            build(c.path());
            fs::set_permissions(c.path(), fs::Permissions::from_mode(0o755)).unwrap();
            f(c.path());
            tree_differences(&base, &snapshot_tree(c.path()))
        };
        let one_diff = |what: &str, f: &dyn Fn(&Path)| {
            let d = changed(f);
            assert!(!d.is_empty(), "{what}: difference not seen");
        };
        one_diff("mode", &|p| {
            fs::set_permissions(p.join("lonely"), fs::Permissions::from_mode(0o600)).unwrap()
        });
        one_diff("content", &|p| {
            fs::write(p.join("lonely"), b"y").unwrap();
            set_mtime(&p.join("lonely"), 1_000_000);
        });
        one_diff("mtime", &|p| set_mtime(&p.join("lonely"), 1_000_001));
        one_diff("xattr", &|p| {
            xattr::set(p.join("lonely"), "user.c", b"").unwrap()
        });
        one_diff("symlink", &|p| {
            fs::remove_file(p.join("s")).unwrap();
            symlink("elsewhere", p.join("s")).unwrap();
            set_mtime(&p.join("s"), 1_000_000);
        });
        let unlinked = changed(&|p| {
            fs::remove_file(p.join("g")).unwrap();
            fs::copy(p.join("d/f"), p.join("g")).unwrap();
            fs::set_permissions(p.join("g"), fs::Permissions::from_mode(0o4644)).unwrap();
            xattr::set(p.join("g"), "user.b", b"2").unwrap();
            xattr::set(p.join("g"), "user.a", b"1").unwrap();
            set_mtime(&p.join("g"), 1_000_000);
        });
        // Only the link groups differ: /d/f and /g each lost theirs.
        assert_eq!(unlinked.len(), 2, "{unlinked:?}");
        one_diff("extra entry", &|p| fs::create_dir(p.join("new")).unwrap());
        // A ns-level change within the same second is not a difference (tar keeps seconds).
        let same = changed(&|p| set_mtime_ns(&p.join("lonely"), 1_000_000, 999));
        assert!(same.is_empty(), "{same:?}");
    }

    #[test]
    fn without_mtimes_clears_them() {
        let a = tempfile::tempdir().unwrap();
        build(a.path());
        let tree = without_mtimes(snapshot_tree(a.path()));
        assert!(tree.values().all(|e| e.mtime.is_none()));
    }
}
