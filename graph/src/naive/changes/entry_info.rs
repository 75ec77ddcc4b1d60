//! What the tree comparison looks at of one path.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// The compared attributes of one entry; two entries differ exactly when these differ.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct EntryInfo {
    /// File type and permission bits, setuid/setgid/sticky included.
    mode: u32,
    uid: u32,
    gid: u32,
    rdev: u64,
    /// Zero for directories: their size says nothing about their content.
    size: u64,
    /// Seconds and nanoseconds; zero for directories, whose mtime moves with every child.
    mtime: (i64, i64),
    /// Every xattr, `security.capability` included.
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// A symlink's target.
    link: Option<PathBuf>,
}

impl EntryInfo {
    /// Reads the entry at `path` without following a symlink; also says whether it is a
    /// directory.
    pub(super) fn read(path: &Path) -> Result<(Self, bool)> {
        let md = fs::symlink_metadata(path).ctx("stat", path)?;
        let is_dir = md.is_dir();
        let link = if md.file_type().is_symlink() {
            Some(fs::read_link(path).ctx("read symlink", path)?)
        } else {
            None
        };
        let info = EntryInfo {
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            rdev: md.rdev(),
            size: if is_dir { 0 } else { md.size() },
            mtime: if is_dir {
                (0, 0)
            } else {
                (md.mtime(), md.mtime_nsec())
            },
            xattrs: read_xattrs(path)?,
            link,
        };
        Ok((info, is_dir))
    }
}

/// All xattrs of `path` (not following a symlink); none where the filesystem has no xattrs.
fn read_xattrs(path: &Path) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(out),
        Err(e) => return Err(Error::io("list xattrs", path, e)),
    };
    for name in names {
        // Listed but gone (or unreadable to us) by the time it is read: nothing to compare.
        if let Some(value) = xattr::get(path, &name).ctx("read xattr", path)? {
            out.insert(name.as_bytes().to_vec(), value);
        }
    }
    Ok(out)
}
