//! Content sizes of a change list and of a whole tree, as Docker counts them.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::driver::{Change, ChangeKind};
use crate::error::{Error, Result};

/// Counts each inode once: a file with several links is counted at its first.
#[derive(Default)]
struct SizeSum {
    seen: HashSet<(u64, u64)>,
    total: u64,
}

impl SizeSum {
    fn add(&mut self, md: &fs::Metadata) {
        if md.is_dir() || (md.nlink() > 1 && !self.seen.insert((md.dev(), md.ino()))) {
            return;
        }
        self.total += md.size();
    }
}

/// Sum of `st_size` of the added or modified non-directories of `changes`, read under `root`
/// (the layer's tree); hard links count once, deletions count nothing.
///
/// A path that is gone by the time it is measured counts nothing, as in Docker: the tree
/// changed after the change list was taken.
pub fn changes_size(root: &Path, changes: &[Change]) -> Result<u64> {
    let mut sum = SizeSum::default();
    for change in changes {
        if change.kind == ChangeKind::Delete {
            continue;
        }
        let rel = change.path.strip_prefix("/").unwrap_or(&change.path);
        let path = root.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(md) => sum.add(&md),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(path = %path.display(), "changed path vanished before it was measured");
            }
            Err(e) => return Err(Error::io("stat", path, e)),
        }
    }
    Ok(sum.total)
}

/// Sum of `st_size` of every non-directory under `root` (symlinks, devices and whiteouts
/// included, which are small or 0), hard links once.
pub fn dir_size(root: &Path) -> Result<u64> {
    let mut sum = SizeSum::default();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(|e| walk_error(root, e))?;
        let md = entry.metadata().map_err(|e| walk_error(root, e))?;
        sum.add(&md);
    }
    Ok(sum.total)
}

fn walk_error(root: &Path, e: walkdir::Error) -> Error {
    let path = e
        .path()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.to_path_buf());
    Error::io("walk", path, e.into())
}
