//! The backing filesystem's name, as `docker info` prints it.

use std::path::Path;

/// The filesystem type of `path` by its statfs magic (`extfs`, `xfs`, `btrfs`, ...).
pub fn filesystem_name(path: &Path) -> String {
    let Ok(st) = nix::sys::statfs::statfs(path) else {
        return "unknown".into();
    };
    let magic = st.filesystem_type().0 as u64;
    match magic {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        0x6969 => "nfs",
        0x858458f6 => "ramfs",
        0xF2F5_2010 => "f2fs",
        _ => return format!("unknown ({magic:#x})"),
    }
    .into()
}
