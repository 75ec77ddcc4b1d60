//! A faithful copy of a directory tree: what a vfs layer inherits from its parent.
//!
//! The copy is single-threaded and path-based, with no fsync per file: the caller makes the
//! whole copy durable-or-absent by building it under a temporary name and renaming it.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use graph::{Error, IoContext, Result};
use nix::errno::Errno;
use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Whence, lseek};

/// Copies everything inside `src` into the existing, empty directory `dst`, then puts `src`'s
/// own owner, mode, xattrs and times on `dst`.
///
/// Kept: file type, permission bits with setuid/setgid/sticky, owner, atime and mtime to the
/// nanosecond (directories' after their contents), every xattr (`security.capability` and
/// `trusted.*` included), hard links within the tree, symlink targets verbatim, device nodes,
/// FIFOs and holes in sparse files. Sockets are skipped: they mean nothing without their
/// process. File content is reflinked (`FICLONE`) where the filesystem can, else copied in the
/// kernel (`copy_file_range`).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    // Taken before reading the directory, which may move its atime.
    let md = fs::symlink_metadata(src).ctx("stat", src)?;
    let mut copier = Copier::default();
    copier.copy_dir_contents(src, dst)?;
    copy_metadata(src, dst, &md)
}

/// The state of one copy: where each multiply-linked inode was first copied to.
#[derive(Default)]
struct Copier {
    links: HashMap<(u64, u64), PathBuf>,
}

impl Copier {
    fn copy_dir_contents(&mut self, src: &Path, dst: &Path) -> Result<()> {
        for entry in fs::read_dir(src).ctx("read directory", src)? {
            let entry = entry.ctx("read directory", src)?;
            let from = entry.path();
            let to = dst.join(entry.file_name());
            let md = fs::symlink_metadata(&from).ctx("stat", &from)?;
            self.copy_entry(&from, &to, &md)?;
        }
        Ok(())
    }

    fn copy_entry(&mut self, from: &Path, to: &Path, md: &Metadata) -> Result<()> {
        let ft = md.file_type();
        if ft.is_dir() {
            fs::create_dir(to).ctx("create directory", to)?;
            self.copy_dir_contents(from, to)?;
            // After the children: creating them moved the directory's mtime.
            return copy_metadata(from, to, md);
        }
        if ft.is_socket() {
            tracing::debug!(path = %from.display(), "not copying a socket");
            return Ok(());
        }
        if md.nlink() > 1 {
            let key = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&key) {
                return fs::hard_link(first, to).ctx("hard link", to);
            }
            self.links.insert(key, to.to_path_buf());
        }
        if ft.is_file() {
            copy_file(from, to, md)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(from).ctx("read symlink", from)?;
            std::os::unix::fs::symlink(&target, to).ctx("create symlink", to)?;
        } else {
            let kind = if ft.is_char_device() {
                SFlag::S_IFCHR
            } else if ft.is_block_device() {
                SFlag::S_IFBLK
            } else {
                SFlag::S_IFIFO
            };
            let perm = Mode::from_bits_truncate(md.mode() & 0o7777);
            mknod(to, kind, perm, md.rdev()).ctx("mknod", to)?;
        }
        copy_metadata(from, to, md)
    }
}

/// Copies a regular file's content: a reflink if the filesystem shares extents, else an
/// in-kernel copy that keeps holes.
fn copy_file(from: &Path, to: &Path, md: &Metadata) -> Result<()> {
    let mut src = File::open(from).ctx("open", from)?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .ctx("create", to)?;
    if md.size() == 0 {
        return Ok(());
    }
    if reflink(&src, &dst) {
        return Ok(());
    }
    let sparse = md.blocks() * 512 < md.size();
    if sparse {
        copy_sparse(&src, &dst, md.size()).ctx("copy sparse file", to)
    } else {
        // Between two regular files std uses copy_file_range, falling back to read/write.
        io::copy(&mut src, &mut dst).ctx("copy", to).map(|_| ())
    }
}

/// FICLONE: makes `dst` share `src`'s extents (btrfs, xfs with reflink=1). False where the
/// filesystem cannot (EOPNOTSUPP on ext4, EXDEV across filesystems, EINVAL elsewhere).
fn reflink(src: &File, dst: &File) -> bool {
    // SAFETY: FICLONE reads one int argument, the source descriptor; both descriptors stay
    // open for the duration of the call and no memory is passed.
    let rc = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    rc == 0
}

/// Copies only the data extents (SEEK_DATA/SEEK_HOLE) and sets the length, so holes stay holes.
fn copy_sparse(src: &File, dst: &File, size: u64) -> io::Result<()> {
    let end = i64::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut pos: i64 = 0;
    while pos < end {
        let data = match lseek(src, pos, Whence::SeekData) {
            Ok(d) => d,
            // No data after `pos`: the rest is a hole.
            Err(Errno::ENXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let hole = lseek(src, data, Whence::SeekHole)?;
        copy_range(src, dst, data, hole)?;
        pos = hole;
    }
    dst.set_len(size)
}

/// Copies bytes `start..end` of `src` to the same offsets of `dst`: in the kernel where it
/// can, else through a buffer. A source that shrinks under us leaves the rest a hole.
fn copy_range(src: &File, dst: &File, start: i64, end: i64) -> io::Result<()> {
    let mut off_in = start;
    let mut off_out = start;
    while off_in < end {
        let len = usize::try_from(end - off_in).unwrap_or(usize::MAX);
        match nix::fcntl::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), len) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            // Filesystems (or kernels) without copy_file_range between these two files.
            Err(Errno::EXDEV | Errno::EINVAL | Errno::EOPNOTSUPP | Errno::ENOSYS) => {
                return copy_range_buffered(src, dst, off_in, end);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn copy_range_buffered(src: &File, dst: &File, start: i64, end: i64) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = u64::try_from(start).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let end = u64::try_from(end).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    while pos < end {
        let want = usize::try_from(end - pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = src.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Ok(());
        }
        dst.write_all_at(&buf[..n], pos)?;
        pos += n as u64;
    }
    Ok(())
}

/// Owner first (chown clears setuid, setgid and capabilities), then mode, xattrs, and the
/// times last, since every other change moves ctime and some move mtime.
fn copy_metadata(from: &Path, to: &Path, md: &Metadata) -> Result<()> {
    std::os::unix::fs::lchown(to, Some(md.uid()), Some(md.gid())).ctx("chown", to)?;
    if !md.file_type().is_symlink() {
        fs::set_permissions(to, fs::Permissions::from_mode(md.mode() & 0o7777)).ctx("chmod", to)?;
    }
    copy_xattrs(from, to)?;
    let atime = TimeSpec::new(md.atime(), md.atime_nsec());
    let mtime = TimeSpec::new(md.mtime(), md.mtime_nsec());
    utimensat(
        AT_FDCWD,
        to,
        &atime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .ctx("set times", to)
}

/// Copies every xattr of `from` to `to`, neither followed if a symlink.
fn copy_xattrs(from: &Path, to: &Path) -> Result<()> {
    let names = match xattr::list(from) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(()),
        Err(e) => return Err(Error::io("list xattrs", from, e)),
    };
    for name in names {
        let Some(value) = xattr::get(from, &name).ctx("read xattr", from)? else {
            continue;
        };
        xattr::set(to, &name, &value).map_err(|e| {
            let named = io::Error::new(e.kind(), format!("xattr {}: {e}", name.to_string_lossy()));
            Error::io("set xattr", to, named)
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn set_times(path: &Path, mtime: (i64, i64)) {
        let atime = TimeSpec::new(1_500_000_000, 7);
        let mtime = TimeSpec::new(mtime.0, mtime.1);
        utimensat(
            AT_FDCWD,
            path,
            &atime,
            &mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn md(path: &Path) -> Metadata {
        fs::symlink_metadata(path).unwrap()
    }

    /// Copies `src` into a fresh `dst` next to it.
    fn copy(src: &Path) -> PathBuf {
        let dst = src.with_file_name("dst");
        fs::create_dir(&dst).unwrap();
        copy_tree(src, &dst).unwrap();
        dst
    }

    #[test]
    fn tree_compares_equal_after_copy() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("d/e")).unwrap();
        fs::write(src.join("d/e/f"), "content").unwrap();
        fs::write(src.join("setuid"), "x").unwrap();
        chmod(&src.join("setuid"), 0o4755);
        fs::create_dir(src.join("sticky")).unwrap();
        chmod(&src.join("sticky"), 0o1777);
        fs::create_dir(src.join("locked")).unwrap();
        chmod(&src.join("locked"), 0o500);
        fs::write(src.join("empty"), "").unwrap();
        symlink("../../nowhere", src.join("d/link")).unwrap();
        nix::unistd::mkfifo(&src.join("fifo"), Mode::from_bits_truncate(0o640)).unwrap();
        xattr::set(src.join("d/e/f"), "user.k", b"v\0binary").unwrap();
        xattr::set(src.join("d"), "user.dir", b"1").unwrap();
        for (i, rel) in [
            "d/e/f", "setuid", "d/link", "fifo", "d/e", "d", "sticky", "",
        ]
        .iter()
        .enumerate()
        {
            set_times(&src.join(rel), (1_600_000_000 + i as i64, 100 + i as i64));
        }

        // Reading the source moves its atimes (relatime): compare with them as they were.
        let rels = ["d", "d/e", "sticky", "", "d/e/f", "d/link", "fifo"];
        let before: Vec<_> = rels.iter().map(|rel| md(&src.join(rel))).collect();
        let dst = copy(&src);
        // Checked before anything reads the copy, which would move its atimes too.
        for (rel, a) in rels.iter().zip(&before) {
            let b = md(&dst.join(rel));
            assert_eq!(
                (a.mtime(), a.mtime_nsec(), a.atime(), a.atime_nsec()),
                (b.mtime(), b.mtime_nsec(), b.atime(), b.atime_nsec()),
                "times of {rel:?}"
            );
        }
        assert_eq!(
            graph::naive::changes_dirs(&dst, Some(&src)).unwrap(),
            [],
            "the copy differs from its source"
        );
        assert_eq!(md(&dst.join("locked")).mode() & 0o7777, 0o500);
        assert_eq!(fs::read(dst.join("d/e/f")).unwrap(), b"content");
        assert_eq!(
            fs::read_link(dst.join("d/link")).unwrap(),
            Path::new("../../nowhere")
        );
        assert!(md(&dst.join("fifo")).file_type().is_fifo());
    }

    #[test]
    fn hard_links_stay_hard_links() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("a"), "shared").unwrap();
        fs::hard_link(src.join("a"), src.join("sub/b")).unwrap();
        fs::hard_link(src.join("a"), src.join("c")).unwrap();
        fs::write(src.join("single"), "x").unwrap();
        let dst = copy(&src);
        let ino = md(&dst.join("a")).ino();
        assert_eq!(md(&dst.join("sub/b")).ino(), ino);
        assert_eq!(md(&dst.join("c")).ino(), ino);
        assert_eq!(md(&dst.join("a")).nlink(), 3);
        assert_ne!(
            ino,
            md(&src.join("a")).ino(),
            "the copy shares the source's inode"
        );
        assert_eq!(md(&dst.join("single")).nlink(), 1);
    }

    #[test]
    fn sparse_files_keep_their_holes() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir(&src).unwrap();
        let size: u64 = 32 << 20;
        let f = File::create(src.join("sparse")).unwrap();
        f.set_len(size).unwrap();
        f.write_at(b"head", 0).unwrap();
        f.write_at(b"middle", size / 2).unwrap();
        f.write_at(b"tail", size - 4).unwrap();
        drop(f);
        let dst = copy(&src);
        let copied = md(&dst.join("sparse"));
        assert_eq!(copied.len(), size);
        assert!(
            copied.blocks() * 512 < 1 << 20,
            "holes were filled: {} blocks",
            copied.blocks()
        );
        let data = fs::read(dst.join("sparse")).unwrap();
        assert_eq!(&data[..4], b"head");
        assert_eq!(&data[(size / 2) as usize..][..6], b"middle");
        assert_eq!(&data[(size - 4) as usize..], b"tail");
        assert!(data[4..(size / 2) as usize].iter().all(|&b| b == 0));
    }

    #[test]
    fn buffered_range_copy_matches_the_kernel_copy() {
        let t = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(t.path().join("src"), &data).unwrap();
        let src = File::open(t.path().join("src")).unwrap();
        for (name, buffered) in [("kernel", false), ("buffered", true)] {
            let dst = File::create(t.path().join(name)).unwrap();
            dst.set_len(data.len() as u64).unwrap();
            let (start, end) = (1000, 2_500_000);
            if buffered {
                copy_range_buffered(&src, &dst, start, end).unwrap();
            } else {
                copy_range(&src, &dst, start, end).unwrap();
            }
            let got = fs::read(t.path().join(name)).unwrap();
            let (s, e) = (start as usize, end as usize);
            assert!(got[..s].iter().all(|&b| b == 0), "{name}");
            assert_eq!(&got[s..e], &data[s..e], "{name}");
            assert!(got[e..].iter().all(|&b| b == 0), "{name}");
        }
    }

    #[test]
    fn sockets_are_skipped() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir(&src).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
        fs::write(src.join("file"), "x").unwrap();
        let dst = copy(&src);
        assert!(!dst.join("sock").exists());
        assert!(dst.join("file").exists());
    }

    #[test]
    fn root_owners_devices_and_capabilities() {
        if !graph::testsuite::root_available("root_owners_devices_and_capabilities") {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir(&src).unwrap();
        fs::write(src.join("suid"), "x").unwrap();
        std::os::unix::fs::lchown(src.join("suid"), Some(1), Some(2)).unwrap();
        chmod(&src.join("suid"), 0o6755);
        fs::write(src.join("cap"), "x").unwrap();
        let cap = [
            1u8, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        xattr::set(src.join("cap"), "security.capability", &cap).unwrap();
        xattr::set(src.join("cap"), "trusted.overlay.opaque", b"y").unwrap();
        mknod(
            &src.join("null"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        mknod(
            &src.join("blk"),
            SFlag::S_IFBLK,
            Mode::from_bits_truncate(0o660),
            nix::sys::stat::makedev(7, 200),
        )
        .unwrap();
        symlink("x", src.join("owned-link")).unwrap();
        std::os::unix::fs::lchown(src.join("owned-link"), Some(3), Some(4)).unwrap();
        std::os::unix::fs::lchown(&src, Some(5), Some(6)).unwrap();

        let dst = copy(&src);
        assert_eq!(graph::naive::changes_dirs(&dst, Some(&src)).unwrap(), []);
        let suid = md(&dst.join("suid"));
        assert_eq!(
            (suid.mode() & 0o7777, suid.uid(), suid.gid()),
            (0o6755, 1, 2)
        );
        assert_eq!(
            xattr::get(dst.join("cap"), "security.capability").unwrap(),
            Some(cap.to_vec())
        );
        assert_eq!(
            xattr::get(dst.join("cap"), "trusted.overlay.opaque").unwrap(),
            Some(b"y".to_vec())
        );
        assert_eq!(md(&dst.join("null")).rdev(), nix::sys::stat::makedev(1, 3));
        assert!(md(&dst.join("blk")).file_type().is_block_device());
        let link = md(&dst.join("owned-link"));
        assert_eq!((link.uid(), link.gid()), (3, 4));
        let root = md(&dst);
        assert_eq!((root.uid(), root.gid()), (5, 6));
    }
}
