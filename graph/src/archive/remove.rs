//! Removing names inside a layer: replaced entries, whiteouts, opaque directories.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{SFlag, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use super::dir_listing;
use super::entry_path;

/// What stood at a name before it was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Removed {
    /// Nothing was there.
    Nothing,
    /// A directory (with its whole subtree) or a symlink: paths through it now resolve
    /// differently.
    DirOrSymlink,
    /// Any other file.
    Other,
}

/// Removes `name` in `dir`, recursively if it is a directory; a missing name is fine.
pub(super) fn remove_all_at(dir: &File, name: &[u8]) -> nix::Result<Removed> {
    let os_name = OsStr::from_bytes(name);
    let st = match fstatat(dir, os_name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(Removed::Nothing),
        Err(e) => return Err(e),
    };
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    if kind == SFlag::S_IFDIR {
        let sub = dir_listing::open_subdir(dir, name)?;
        for child in dir_listing::names(&sub)? {
            remove_all_at(&sub, &child)?;
        }
        drop(sub);
        unlinkat(dir, os_name, UnlinkatFlags::RemoveDir)?;
        return Ok(Removed::DirOrSymlink);
    }
    match unlinkat(dir, os_name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    Ok(if kind == SFlag::S_IFLNK {
        Removed::DirOrSymlink
    } else {
        Removed::Other
    })
}

/// Empties the opaque directory `dir` (at `rel` in the layer) of everything this archive did
/// not create: `keep` holds the paths applied so far. Kept directories are pruned in turn.
pub(super) fn prune_opaque(dir: &File, rel: &[u8], keep: &HashSet<Vec<u8>>) -> nix::Result<()> {
    for name in dir_listing::names(dir)? {
        let child = entry_path::join(rel, &name);
        if !keep.contains(&child) {
            remove_all_at(dir, &name)?;
            continue;
        }
        match dir_listing::open_subdir(dir, &name) {
            Ok(sub) => prune_opaque(&sub, &child, keep)?,
            Err(Errno::ENOTDIR | Errno::ELOOP) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
