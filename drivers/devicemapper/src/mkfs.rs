//! Making, growing and mounting the filesystem inside thin devices (e2fsprogs / xfsprogs).

use std::path::Path;
use std::process::Command;

use graph::{Error, IoContext, Result};
use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::options::Filesystem;

/// Formats `dev` with `fs` and the user's extra arguments.
pub fn make_fs(fs: Filesystem, dev: &Path, extra: &[String]) -> Result<()> {
    let extra: Vec<&str> = extra.iter().flat_map(|a| a.split_whitespace()).collect();
    match fs {
        Filesystem::Ext4 => {
            // No lazy init: it would keep writing (and allocating pool blocks) after mount.
            let base = [
                "-q",
                "-F",
                "-E",
                "nodiscard,lazy_itable_init=0,lazy_journal_init=0",
            ];
            run(
                "mkfs.ext4",
                base.iter().copied().chain(extra.iter().copied()),
                dev,
            )?;
            // Snapshots inherit the mount count: never ask for a periodic fsck.
            run("tune2fs", ["-c", "-1", "-i", "0"], dev)
        }
        Filesystem::Xfs => run(
            "mkfs.xfs",
            ["-f", "-q"].into_iter().chain(extra.iter().copied()),
            dev,
        ),
    }
}

/// Grows the filesystem on (unmounted) `dev` to the device size.
pub fn grow_fs(fs: Filesystem, dev: &Path) -> Result<()> {
    match fs {
        Filesystem::Ext4 => run("resize2fs", ["-f"], dev),
        Filesystem::Xfs => Err(Error::NotSupported(
            "devicemapper: a size above dm.basesize needs ext4 (xfs grows only when mounted)"
                .into(),
        )),
    }
}

fn run<'a>(tool: &'static str, args: impl IntoIterator<Item = &'a str>, dev: &Path) -> Result<()> {
    let out = Command::new(tool)
        .args(args)
        .arg(dev)
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotSupported(format!(
                    "devicemapper: {tool} not found; install e2fsprogs (ext4) or xfsprogs (xfs)"
                ))
            } else {
                Error::io("run", tool, e)
            }
        })?;
    if !out.status.success() {
        return Err(Error::io(
            "format",
            dev,
            std::io::Error::other(format!(
                "{tool} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        ));
    }
    Ok(())
}

/// Mounts `dev` (holding `fs`) on `target` with the user's mount options.
pub fn mount_device(fs: Filesystem, dev: &Path, target: &Path, opts: &[String]) -> Result<()> {
    let mut all: Vec<&str> = opts.iter().map(String::as_str).collect();
    if fs == Filesystem::Xfs {
        all.push("nouuid"); // every snapshot carries the base's UUID
    }
    let data = all.join(",");
    mount(
        Some(dev),
        target,
        Some(fs.as_str()),
        MsFlags::empty(),
        (!data.is_empty()).then_some(data.as_str()),
    )
    .ctx("mount", target)
}

/// Unmounts `target` lazily, so a copy of the mount leaked into another namespace does not
/// keep the device busy for us.
pub fn unmount(target: &Path) -> Result<()> {
    match umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(e).ctx("unmount", target),
    }
}
