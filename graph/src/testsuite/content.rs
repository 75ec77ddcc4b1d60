//! moby graphtest's file helpers: deterministic content and the many-files layouts.
//!
//! Modes are set with `chmod` after creating, never through the umask: the umask is
//! process-wide and the cases run in parallel threads.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::driver::{Change, ChangeKind};

/// `size` bytes from a PRNG seeded with `seed` (splitmix64): the same seed, the same bytes.
pub fn random_content(size: usize, seed: i64) -> Vec<u8> {
    let mut state = seed as u64;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// Writes `data` to `path` and sets its permission bits to exactly `mode`.
pub fn write_file(path: &Path, data: &[u8], mode: u32) {
    fs::write(path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    chmod(path, mode);
}

/// Creates directory `path` (and missing parents) and sets its mode to exactly `mode`.
pub fn mkdir(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    chmod(path, mode);
}

/// Sets the mode bits (permissions, setuid, setgid, sticky) of `path`.
pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, path.display()));
}

/// Reads `path`, panicking with the path on failure.
pub fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn many_file(root: &Path, i: usize, j: usize) -> PathBuf {
    root.join(format!("directory-{i}"))
        .join(format!("file-{j}"))
}

/// moby `addManyFiles`: `count` files of 64 bytes, 100 per directory, named
/// `directory-<i>/file-<j>` (i steps by 100), content seeded with `seed + i + j`.
pub fn add_many_files(root: &Path, count: usize, seed: i64) {
    for i in (0..count).step_by(100) {
        mkdir(&root.join(format!("directory-{i}")), 0o755);
        for j in 0..100.min(count - i) {
            let content = random_content(64, seed + (i + j) as i64);
            write_file(&many_file(root, i, j), &content, 0o755);
        }
    }
}

/// moby `checkManyFiles`: every file of [`add_many_files`] holds the content of `seed`.
pub fn check_many_files(root: &Path, count: usize, seed: i64) {
    for i in (0..count).step_by(100) {
        for j in 0..100.min(count - i) {
            let path = many_file(root, i, j);
            let want = random_content(64, seed + (i + j) as i64);
            assert_eq!(
                read(&path),
                want,
                "{}: content is not that of seed {seed}",
                path.display()
            );
        }
    }
}

/// moby `changeManyFiles`: per directory one Modify of the directory, then for file j:
/// j%3==0 overwrite `file-<i+j>` (Modify), 1 add `file-<seed>-<i+j>` (Add), 2 delete
/// `file-<i+j>` (Delete). Returns the changes made, in the order made.
pub fn change_many_files(root: &Path, count: usize, seed: i64) -> Vec<Change> {
    let mut changes = Vec::new();
    for i in (0..count).step_by(100) {
        let dir = PathBuf::from(format!("/directory-{i}"));
        mkdir(&root.join(dir.strip_prefix("/").expect("absolute")), 0o755);
        for j in 0..100.min(count - i) {
            if j == 0 {
                changes.push(Change {
                    path: dir.clone(),
                    kind: ChangeKind::Modify,
                });
            }
            let n = i + j;
            let content = random_content(64, seed + n as i64);
            let (path, kind) = match j % 3 {
                0 => (dir.join(format!("file-{n}")), ChangeKind::Modify),
                1 => (dir.join(format!("file-{seed}-{n}")), ChangeKind::Add),
                _ => (dir.join(format!("file-{n}")), ChangeKind::Delete),
            };
            let on_disk = root.join(path.strip_prefix("/").expect("absolute"));
            match kind {
                ChangeKind::Delete => fs::remove_file(&on_disk)
                    .unwrap_or_else(|e| panic!("remove {}: {e}", on_disk.display())),
                _ => write_file(&on_disk, &content, 0o755),
            }
            changes.push(Change { path, kind });
        }
    }
    changes
}

/// The entries of a directory, without `lost+found` (a filesystem's own, as moby's helper).
pub fn read_dir_names(dir: &Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read dir {}: {e}", dir.display()))
        .map(|e| e.expect("read dir entry").file_name())
        .filter(|n| n != "lost+found")
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_content_is_deterministic_and_seeded() {
        assert_eq!(random_content(64, 3), random_content(64, 3));
        assert_ne!(random_content(64, 3), random_content(64, 6));
        assert_eq!(random_content(13, 1).len(), 13);
        assert_eq!(random_content(64, 9)[..13], random_content(13, 9)[..]);
    }

    #[test]
    fn change_many_files_makes_moby_counts() {
        let t = tempfile::tempdir().unwrap();
        add_many_files(t.path(), 20, 3);
        check_many_files(t.path(), 20, 3);
        let changes = change_many_files(t.path(), 20, 6);
        let count = |k| changes.iter().filter(|c| c.kind == k).count();
        assert_eq!(changes.len(), 21);
        assert_eq!(count(ChangeKind::Modify), 8);
        assert_eq!(count(ChangeKind::Add), 7);
        assert_eq!(count(ChangeKind::Delete), 6);
        assert!(!t.path().join("directory-0/file-2").exists());
        assert!(t.path().join("directory-0/file-6-1").exists());
    }
}
