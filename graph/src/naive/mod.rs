//! Driver-independent diff: mount the layer and its parent, compare the trees.
//!
//! This is what Docker's `NaiveDiffDriver` does. It costs a walk of both trees, so drivers
//! with a native change list (overlay2's upper directory) override it.

mod changes;

use std::io::{Read, Write};
use std::path::Path;

pub use changes::{changes_dirs, changes_size, dir_size};

use crate::archive::{self, ApplyOptions, WhiteoutFormat};
use crate::driver::{Change, Driver};
use crate::error::Result;
use crate::id::LayerId;

/// Holds a `get` reference and releases it on drop, so every path out puts what it got.
struct Mounted<'a, D: Driver + ?Sized> {
    driver: &'a D,
    id: &'a LayerId,
}

impl<'a, D: Driver + ?Sized> Mounted<'a, D> {
    fn get(driver: &'a D, id: &'a LayerId) -> Result<(Self, std::path::PathBuf)> {
        let path = driver.get(id)?;
        Ok((Mounted { driver, id }, path))
    }
}

impl<D: Driver + ?Sized> Drop for Mounted<'_, D> {
    fn drop(&mut self) {
        if let Err(e) = self.driver.put(self.id) {
            tracing::warn!(layer = %self.id, error = %e, "releasing a layer mount failed");
        }
    }
}

/// Naive [`Driver::diff`].
pub fn diff<D: Driver + ?Sized>(
    driver: &D,
    id: &LayerId,
    parent: Option<&LayerId>,
    out: &mut dyn Write,
) -> Result<()> {
    let (_layer, layer_path) = Mounted::get(driver, id)?;
    match parent {
        None => archive::export_tree(&layer_path, out, WhiteoutFormat::Delete),
        Some(parent) => {
            let (_parent, parent_path) = Mounted::get(driver, parent)?;
            let changes = changes_dirs(&layer_path, Some(&parent_path))?;
            archive::export_changes(&layer_path, &changes, out)
        }
    }
}

/// Naive [`Driver::changes`].
pub fn changes<D: Driver + ?Sized>(
    driver: &D,
    id: &LayerId,
    parent: Option<&LayerId>,
) -> Result<Vec<Change>> {
    let (_layer, layer_path) = Mounted::get(driver, id)?;
    match parent {
        None => changes_dirs(&layer_path, None),
        Some(parent) => {
            let (_parent, parent_path) = Mounted::get(driver, parent)?;
            changes_dirs(&layer_path, Some(&parent_path))
        }
    }
}

/// Naive [`Driver::apply_diff`]: extracts into the mounted layer, deleting whiteout targets.
pub fn apply_diff<D: Driver + ?Sized>(
    driver: &D,
    id: &LayerId,
    _parent: Option<&LayerId>,
    diff: &mut dyn Read,
) -> Result<u64> {
    let (_layer, layer_path) = Mounted::get(driver, id)?;
    archive::apply_layer(
        &layer_path,
        diff,
        &ApplyOptions {
            whiteouts: WhiteoutFormat::Delete,
        },
    )
}

/// Naive [`Driver::diff_size`]: the content bytes of added and modified non-directories.
pub fn diff_size<D: Driver + ?Sized>(
    driver: &D,
    id: &LayerId,
    parent: Option<&LayerId>,
) -> Result<u64> {
    let changes = changes(driver, id, parent)?;
    let (_layer, layer_path) = Mounted::get(driver, id)?;
    changes_size(&layer_path, &changes)
}

/// The layer path as seen through a mount, for drivers' own helpers.
pub fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}
