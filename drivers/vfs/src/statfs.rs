//! The backing filesystem's name, as `docker info` prints it.

use std::path::Path;

/// The filesystem type of `path` by its statfs magic, with Docker's names (`extfs` for
/// ext2/3/4, `xfs`, `btrfs`, `tmpfs`, ...); `unknown (0x...)` for others.
pub fn filesystem_name(path: &Path) -> String {
    match nix::sys::statfs::statfs(path) {
        Ok(st) => name_of_magic(st.filesystem_type().0 as u64),
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "statfs failed");
            "unknown".into()
        }
    }
}

fn name_of_magic(magic: u64) -> String {
    match magic {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        0x6969 => "nfs",
        0x8584_58F6 => "ramfs",
        0xF2F5_2010 => "f2fs",
        _ => return format!("unknown ({magic:#x})"),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name_of_magic(0xEF53), "extfs");
        assert_eq!(name_of_magic(0x5846_5342), "xfs");
        assert_eq!(name_of_magic(0x1234), "unknown (0x1234)");
        assert_eq!(filesystem_name(Path::new("/proc")), "unknown (0x9fa0)");
    }
}
