//! Native diff: the upper directory is the change set.

use std::io::{Read, Write};

use graph::archive::{self, ApplyOptions, WhiteoutFormat};
use graph::{LayerId, Result, naive};
use tracing::debug;

use crate::Overlay2Driver;

impl Overlay2Driver {
    /// Whether the diff of `id` against `parent` can be read straight from `id`'s upper
    /// directory: native diff is safe on this kernel and `parent` is the direct parent (or
    /// both are absent).
    fn native_applies(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<bool> {
        if !self.native_diff {
            return Ok(false);
        }
        let lowers = self.layout.read_lowers(id)?;
        let direct = match parent {
            None => lowers.is_empty(),
            Some(p) => match (lowers.first(), self.layout.read_link(p)) {
                (Some(first), Ok(lid)) => first.strip_prefix("l/") == Some(lid.as_str()),
                _ => false,
            },
        };
        if !direct {
            debug!(layer = %id, "parent is not the direct parent: naive diff");
        }
        Ok(direct)
    }

    pub(crate) fn diff_layer(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        out: &mut dyn Write,
    ) -> Result<()> {
        if self.native_applies(id, parent)? {
            archive::export_tree(&self.layout.diff_dir(id), out, WhiteoutFormat::Overlay)
        } else {
            naive::diff(self, id, parent, out)
        }
    }

    pub(crate) fn apply_layer_diff(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        tar: &mut dyn Read,
    ) -> Result<u64> {
        if self.native_applies(id, parent)? {
            let diff = self.layout.diff_dir(id);
            archive::apply_layer(
                &diff,
                tar,
                &ApplyOptions {
                    whiteouts: WhiteoutFormat::Overlay,
                },
            )?;
            naive::dir_size(&diff)
        } else {
            naive::apply_diff(self, id, parent, tar)
        }
    }

    pub(crate) fn layer_diff_size(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<u64> {
        if self.native_applies(id, parent)? {
            naive::dir_size(&self.layout.diff_dir(id))
        } else {
            naive::diff_size(self, id, parent)
        }
    }
}
