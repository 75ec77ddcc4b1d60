use std::io::Read;
use std::path::Path;

use super::ApplyOptions;
use crate::error::{Error, Result};

pub(super) fn apply_layer(_root: &Path, _tar: &mut dyn Read, _opts: &ApplyOptions) -> Result<u64> {
    Err(Error::NotSupported("apply_layer: not yet written".into()))
}
