//! A faithful copy of a directory tree: what a vfs layer inherits from its parent.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use graph::{Error, IoContext, Result};
use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Whence, lseek};

/// Copies everything inside `src` into the existing directory `dst`, and `src`'s own
/// ownership, mode, xattrs and times onto `dst`.
///
/// Kept: file type, permission bits with setuid/setgid/sticky, owner, atime and mtime to the
/// nanosecond, every xattr (`security.capability` included), hard links within the tree,
/// symlink targets verbatim, device nodes, FIFOs and holes in sparse files. Sockets are skipped.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let mut links = HashMap::new();
    copy_dir_contents(src, dst, &mut links)?;
    let md = fs::symlink_metadata(src).ctx("stat", src)?;
    copy_metadata(src, dst, &md)
}

fn copy_dir_contents(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<()> {
    for entry in fs::read_dir(src).ctx("read directory", src)? {
        let entry = entry.ctx("read directory", src)?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let md = fs::symlink_metadata(&from).ctx("stat", &from)?;
        let ft = md.file_type();
        if ft.is_dir() {
            fs::create_dir(&to).ctx("create directory", &to)?;
            copy_dir_contents(&from, &to, links)?;
            // After the children: creating them changed the directory's mtime.
            copy_metadata(&from, &to, &md)?;
            continue;
        }
        if ft.is_socket() {
            continue;
        }
        if md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                fs::hard_link(first, &to).ctx("hard link", &to)?;
                continue;
            }
            links.insert((md.dev(), md.ino()), to.clone());
        }
        if ft.is_file() {
            copy_file(&from, &to, &md)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&from).ctx("read symlink", &from)?;
            std::os::unix::fs::symlink(&target, &to).ctx("create symlink", &to)?;
        } else {
            let kind = if ft.is_char_device() {
                SFlag::S_IFCHR
            } else if ft.is_block_device() {
                SFlag::S_IFBLK
            } else {
                SFlag::S_IFIFO
            };
            mknod(
                &to,
                kind,
                Mode::from_bits_truncate(md.mode() & 0o7777),
                md.rdev(),
            )
            .ctx("mknod", &to)?;
        }
        copy_metadata(&from, &to, &md)?;
    }
    Ok(())
}

/// FICLONE: share the source's extents (btrfs, xfs with reflink=1).
const FICLONE: libc::c_ulong = 0x4004_9409;

fn copy_file(from: &Path, to: &Path, md: &Metadata) -> Result<()> {
    let mut src = File::open(from).ctx("open", from)?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .ctx("create", to)?;
    // SAFETY: FICLONE takes the source descriptor as its argument; both descriptors are open
    // for the duration of the call.
    let cloned = unsafe { libc::ioctl(dst.as_raw_fd(), FICLONE as _, src.as_raw_fd()) } == 0;
    if cloned {
        return Ok(());
    }
    let sparse = md.blocks() * 512 < md.size();
    if sparse {
        copy_sparse(&src, &dst, md.size()).ctx("copy sparse file", to)
    } else {
        // std uses copy_file_range (in-kernel copy) between regular files.
        io::copy(&mut src, &mut dst).ctx("copy", to).map(|_| ())
    }
}

/// Copies only the data extents (SEEK_DATA/SEEK_HOLE) and sets the length, keeping holes.
fn copy_sparse(src: &File, dst: &File, size: u64) -> io::Result<()> {
    let mut pos: i64 = 0;
    let end = size as i64;
    while pos < end {
        let data = match lseek(src, pos, Whence::SeekData) {
            Ok(d) => d,
            Err(nix::errno::Errno::ENXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let hole = lseek(src, data, Whence::SeekHole)?;
        let mut off_in = data;
        let mut off_out = data;
        while off_in < hole {
            let len = (hole - off_in) as usize;
            let n =
                nix::fcntl::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), len)?;
            if n == 0 {
                break;
            }
        }
        pos = hole;
    }
    dst.set_len(size)
}

/// Owner first (chown clears setuid and capabilities), then mode, xattrs, and times last.
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

fn copy_xattrs(from: &Path, to: &Path) -> Result<()> {
    let names = match xattr::list(from) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(()),
        Err(e) => return Err(Error::io("list xattrs", from, e)),
    };
    for name in names {
        if let Some(value) = xattr::get(from, &name).ctx("read xattr", from)? {
            xattr::set(to, &name, &value).map_err(|e| {
                Error::io(
                    "set xattr",
                    to,
                    io::Error::new(e.kind(), format!("{}: {e}", name.to_string_lossy())),
                )
            })?;
        }
    }
    Ok(())
}
