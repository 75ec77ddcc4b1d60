use std::io::Write;
use std::path::Path;

use super::WhiteoutFormat;
use crate::driver::Change;
use crate::error::{Error, Result};

pub(super) fn export_tree(_root: &Path, _out: &mut dyn Write, _w: WhiteoutFormat) -> Result<()> {
    Err(Error::NotSupported("export_tree: not yet written".into()))
}

pub(super) fn export_changes(_root: &Path, _changes: &[Change], _out: &mut dyn Write) -> Result<()> {
    Err(Error::NotSupported("export_changes: not yet written".into()))
}
