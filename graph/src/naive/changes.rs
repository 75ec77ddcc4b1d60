use std::path::Path;

use crate::driver::Change;
use crate::error::{Error, Result};

/// Compares the tree at `new` with the tree at `old` (everything is added when `old` is None).
pub fn changes_dirs(_new: &Path, _old: Option<&Path>) -> Result<Vec<Change>> {
    Err(Error::NotSupported("changes_dirs: not yet written".into()))
}

/// Sum of the sizes of added or modified non-directories under `root` (hard links once).
pub fn changes_size(_root: &Path, _changes: &[Change]) -> Result<u64> {
    Err(Error::NotSupported("changes_size: not yet written".into()))
}

/// Sum of the sizes of all non-directories under `root` (hard links once).
pub fn dir_size(_root: &Path) -> Result<u64> {
    Err(Error::NotSupported("dir_size: not yet written".into()))
}
