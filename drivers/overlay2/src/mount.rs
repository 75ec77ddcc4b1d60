//! The narrow seam for privileged calls: every `mount(2)`/`umount2(2)` the driver makes goes
//! through here, and so does the reading of `/proc/self/mountinfo`.
//!
//! Keeping the syscalls in one small module means the rest of the crate (option building,
//! layout, probes' decisions) is plain logic, and an audit of what the driver does to the mount
//! table is a read of this file.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use graph::{Error, IoContext, Result};
use nix::mount::{MntFlags, MsFlags};

/// Where overlay mounts the driver makes come from, as `mount(8)` shows them.
const SOURCE: &str = "overlay";
const FSTYPE: &str = "overlay";

/// Mounts an overlay at `target` with mount data `data` (lowerdir=...,upperdir=...).
pub fn mount_overlay(target: &Path, data: &str, flags: MsFlags) -> Result<()> {
    nix::mount::mount(Some(SOURCE), target, Some(FSTYPE), flags, Some(data))
        .ctx("mount overlay", target)
}

/// Mounts an overlay at `target` with mount data whose paths are relative to `dir`.
///
/// The mount data must fit in one page; relative paths are what make a deep chain fit under a
/// long data root. The working directory is per process, so the mount is done on a thread of
/// its own that first unshares its filesystem context (`unshare(CLONE_FS)`) and then changes
/// directory: the rest of the process never sees its working directory move.
pub fn mount_overlay_from(dir: &Path, target: &Path, data: &str, flags: MsFlags) -> Result<()> {
    let dir = dir.to_path_buf();
    let data = data.to_string();
    let thread_target = target.to_path_buf();
    let worker = std::thread::Builder::new()
        .name("overlay2-mount".into())
        .spawn(move || -> Result<()> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)
                .ctx("unshare filesystem context for mount", &dir)?;
            nix::unistd::chdir(&dir).ctx("change directory for mount", &dir)?;
            mount_overlay(&thread_target, &data, flags)
        })
        .ctx("spawn mount thread for", target)?;
    worker.join().map_err(|_| {
        Error::io(
            "mount overlay",
            target,
            io::Error::other("the mount thread panicked"),
        )
    })?
}

/// Detaches the mount at `target` (`umount2(MNT_DETACH)`); a path that is not a mount point
/// (EINVAL) or does not exist (ENOENT) is not an error.
pub fn unmount(target: &Path) -> Result<()> {
    match nix::mount::umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(e).ctx("unmount", target),
    }
}

/// Every mount point of this process's mount namespace, from `/proc/self/mountinfo`.
pub fn mount_points() -> Result<Vec<PathBuf>> {
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read(path).ctx("read", path)?;
    Ok(parse_mount_points(&text))
}

/// Whether `path` (absolute, without symlinks) is a mount point.
pub fn is_mount_point(path: &Path) -> Result<bool> {
    Ok(mount_points()?.iter().any(|m| m == path))
}

/// The mount points (field 5) of mountinfo text, with the kernel's octal escapes undone.
pub fn parse_mount_points(mountinfo: &[u8]) -> Vec<PathBuf> {
    mountinfo
        .split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b' ').nth(4))
        .filter(|field| !field.is_empty())
        .map(|field| PathBuf::from(OsString::from_vec(unescape(field))))
        .collect()
}

/// Undoes mountinfo's `\ooo` escapes (space, tab, newline, backslash).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 3 < field.len() {
            let digits = &field[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_mount_points_are_unescaped() {
        let text = b"22 27 0:21 / /proc rw,relatime - proc proc rw\n\
                     40 27 0:50 / /var/lib/a\\040b/merged rw - overlay overlay rw,lowerdir=x\n\
                     41 27 0:51 / /end\\134 rw - tmpfs t rw\n";
        assert_eq!(
            parse_mount_points(text),
            vec![
                PathBuf::from("/proc"),
                PathBuf::from("/var/lib/a b/merged"),
                PathBuf::from("/end\\"),
            ]
        );
    }

    #[test]
    fn a_trailing_backslash_is_kept() {
        assert_eq!(unescape(b"a\\"), b"a\\".to_vec());
        assert_eq!(unescape(b"a\\04"), b"a\\04".to_vec());
    }
}
