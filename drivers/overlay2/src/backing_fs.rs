//! The filesystem under the driver home, by its statfs magic, named as `docker info` names it.

use std::path::Path;

use graph::{IoContext, Result};

/// A backing filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackingFs {
    magic: u64,
}

const EXTFS: u64 = 0xEF53;
const XFS: u64 = 0x5846_5342;
const BTRFS: u64 = 0x9123_683E;
const TMPFS: u64 = 0x0102_1994;
const OVERLAYFS: u64 = 0x794C_7630;
const AUFS: u64 = 0x6175_6673;
const ECRYPTFS: u64 = 0xF15F;
const ZFS: u64 = 0x2FC1_2FC1;
const NFS: u64 = 0x6969;
const RAMFS: u64 = 0x8584_58F6;
const F2FS: u64 = 0xF2F5_2010;

impl BackingFs {
    /// The filesystem `path` is on.
    pub fn of(path: &Path) -> Result<Self> {
        let st = nix::sys::statfs::statfs(path).ctx("statfs", path)?;
        Ok(BackingFs {
            magic: st.filesystem_type().0 as u64,
        })
    }

    /// From a raw magic number (for tests).
    pub fn from_magic(magic: u64) -> Self {
        BackingFs { magic }
    }

    /// The name `docker info` prints ("extfs" for ext2/3/4, as Docker does).
    pub fn name(&self) -> String {
        match self.magic {
            EXTFS => "extfs",
            XFS => "xfs",
            BTRFS => "btrfs",
            TMPFS => "tmpfs",
            OVERLAYFS => "overlayfs",
            AUFS => "aufs",
            ECRYPTFS => "ecryptfs",
            ZFS => "zfs",
            NFS => "nfs",
            RAMFS => "ramfs",
            F2FS => "f2fs",
            other => return format!("unknown ({other:#x})"),
        }
        .into()
    }

    /// Whether this is xfs (the only filesystem whose project quotas overlay2 uses).
    pub fn is_xfs(&self) -> bool {
        self.magic == XFS
    }

    /// Why overlay cannot use this filesystem as its upper/lower, if it cannot: overlayfs
    /// itself, aufs and ecryptfs are rejected, as Docker rejects them.
    pub fn incompatibility(&self) -> Option<&'static str> {
        match self.magic {
            OVERLAYFS => Some("overlayfs cannot be the upper layer of another overlay mount"),
            AUFS => Some("aufs is not supported as the backing filesystem of overlay"),
            ECRYPTFS => Some("ecryptfs is not supported as the backing filesystem of overlay"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_refusals() {
        assert_eq!(BackingFs::from_magic(EXTFS).name(), "extfs");
        assert_eq!(BackingFs::from_magic(XFS).name(), "xfs");
        assert_eq!(BackingFs::from_magic(0x1234).name(), "unknown (0x1234)");
        assert!(BackingFs::from_magic(OVERLAYFS).incompatibility().is_some());
        assert!(BackingFs::from_magic(EXTFS).incompatibility().is_none());
        assert!(BackingFs::from_magic(XFS).is_xfs());
    }
}
