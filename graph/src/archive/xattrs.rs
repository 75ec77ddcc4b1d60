//! Extended attributes on entries addressed as (directory descriptor, name).
//!
//! Linux has no `lsetxattrat` before 6.13, so a name is reached as
//! `/proc/self/fd/<dir>/<name>` with the `l*xattr` calls: the kernel resolves the
//! `/proc/self/fd/<dir>` magic link to the very directory the descriptor holds (not to a path
//! that could have changed) and the final name is not followed.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::whiteout::OVERLAY_XATTR_PREFIX;

/// One extended attribute: name and value.
pub(super) type Xattr = (Vec<u8>, Vec<u8>);

fn proc_path(dir: &File, name: &[u8]) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(OsStr::from_bytes(name))
}

/// Sets `attrs` on the entry `name` in `dir`, not following a symlink.
pub(super) fn set_at(dir: &File, name: &[u8], attrs: &[Xattr]) -> io::Result<()> {
    if attrs.is_empty() {
        return Ok(());
    }
    let path = proc_path(dir, name);
    for (key, value) in attrs {
        xattr::set(&path, OsStr::from_bytes(key), value)?;
    }
    Ok(())
}

/// Sets `attrs` on an open file or directory.
pub(super) fn set_fd(file: &File, attrs: &[Xattr]) -> io::Result<()> {
    use xattr::FileExt as _;
    for (key, value) in attrs {
        file.set_xattr(OsStr::from_bytes(key), value)?;
    }
    Ok(())
}

/// The extended attributes of the entry `name` in `dir`, sorted by name, without overlayfs's
/// own `trusted.overlay.*` ones. A filesystem without xattr support has none.
pub(super) fn list_at(dir: &File, name: &[u8]) -> io::Result<Vec<Xattr>> {
    let path = proc_path(dir, name);
    let names = match xattr::list(&path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for key in names {
        let key = key.as_bytes().to_vec();
        if key.starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        if let Some(value) = xattr::get(&path, OsStr::from_bytes(&key))? {
            out.push((key, value));
        }
    }
    out.sort();
    Ok(out)
}

/// The value of one xattr of the entry `name` in `dir`, if set.
pub(super) fn get_at(dir: &File, name: &[u8], key: &str) -> io::Result<Option<Vec<u8>>> {
    match xattr::get(proc_path(dir, name), key) {
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(None),
        other => other,
    }
}
