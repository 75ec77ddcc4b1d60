//! The names in a directory opened as a descriptor.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use nix::dir::Dir;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// The names in `dir`, except `.` and `..`, sorted bytewise.
pub(super) fn names(dir: &File) -> nix::Result<Vec<Vec<u8>>> {
    let mut listing = Dir::openat(
        dir.as_fd(),
        OsStr::new("."),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut out = Vec::new();
    for entry in listing.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            out.push(name);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Opens the subdirectory `name` of `dir` without following a symlink.
pub(super) fn open_subdir(dir: &File, name: &[u8]) -> nix::Result<File> {
    nix::fcntl::openat(
        dir,
        OsStr::from_bytes(name),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(File::from)
}
