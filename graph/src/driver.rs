//! The storage driver contract every driver implements.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::id::LayerId;
use crate::naive;

/// Options for creating one layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOpts {
    /// A size limit in bytes for a read-write layer (`--storage-opt size=`), where the driver
    /// supports one. Drivers that cannot enforce it return [`crate::Error::NotSupported`].
    pub size: Option<u64>,
}

/// How one path differs between a layer and its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// Content or metadata changed.
    Modify,
    /// The path is new in the layer.
    Add,
    /// The path was removed in the layer.
    Delete,
}

impl fmt::Display for ChangeKind {
    /// Docker's one-letter code, as `docker diff` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeKind::Modify => "C",
            ChangeKind::Add => "A",
            ChangeKind::Delete => "D",
        })
    }
}

/// One changed path: absolute within the layer ("/etc/passwd").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Change {
    /// The path, starting with `/`.
    pub path: PathBuf,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// A copy-on-write storage driver: it keeps layers, each the changes on top of a parent layer,
/// and mounts a layer with its ancestors as one filesystem tree.
///
/// Layers made by [`Driver::create`] are image layers; [`Driver::create_rw`] makes a container's
/// writable layer. Both can be written through [`Driver::get`] until a child is created on them.
/// `get`/`put` are reference counted: the first `get` mounts, the last `put` unmounts.
///
/// The diff methods have naive defaults (mount both layers and compare the trees) that any
/// driver may keep; overlay2 overrides them with a native diff of its upper directory.
pub trait Driver: Send + Sync + fmt::Debug {
    /// The driver's name, as `--storage-driver` takes it.
    fn name(&self) -> &'static str;

    /// The driver's home directory, `<data-root>/<name>`.
    fn home(&self) -> &Path;

    /// Creates an image layer `id` on top of `parent` (or an empty one).
    fn create(&self, id: &LayerId, parent: Option<&LayerId>, opts: &CreateOpts) -> Result<()>;

    /// Creates a container's writable layer `id` on top of `parent`.
    fn create_rw(&self, id: &LayerId, parent: Option<&LayerId>, opts: &CreateOpts) -> Result<()>;

    /// Removes layer `id`; fails with `Busy` while it is mounted by this driver.
    fn remove(&self, id: &LayerId) -> Result<()>;

    /// Mounts layer `id` (once; later calls count references) and returns its root path.
    fn get(&self, id: &LayerId) -> Result<PathBuf>;

    /// Releases one reference taken by [`Driver::get`]; unmounts with the last one.
    fn put(&self, id: &LayerId) -> Result<()>;

    /// Whether layer `id` exists.
    fn exists(&self, id: &LayerId) -> bool;

    /// Key-value lines for `engine info`.
    fn status(&self) -> Vec<(String, String)>;

    /// Driver data for `inspect` (`GraphDriver.Data`).
    fn metadata(&self, id: &LayerId) -> Result<BTreeMap<String, String>>;

    /// Unmounts everything this driver mounted; called when the engine shuts down.
    fn cleanup(&self) -> Result<()>;

    /// Undoes the mounts no live process holds any more (their holders were killed), without
    /// touching those in use; run at every start, so it must be cheap. Drivers whose mounts
    /// do not outlive a process need nothing here.
    fn sweep_mounts(&self) -> Result<()> {
        Ok(())
    }

    /// Writes an uncompressed tar of what layer `id` changes relative to `parent` (the whole
    /// tree when `parent` is `None`), deletions as `.wh.` whiteouts.
    fn diff(&self, id: &LayerId, parent: Option<&LayerId>, out: &mut dyn Write) -> Result<()> {
        naive::diff(self, id, parent, out)
    }

    /// Lists what layer `id` changes relative to `parent`.
    fn changes(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<Vec<Change>> {
        naive::changes(self, id, parent)
    }

    /// Extracts an uncompressed layer tar into layer `id` (already created on `parent`);
    /// returns the bytes of file content applied.
    fn apply_diff(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        diff: &mut dyn Read,
    ) -> Result<u64> {
        naive::apply_diff(self, id, parent, diff)
    }

    /// The bytes of file content layer `id` changes relative to `parent`.
    fn diff_size(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<u64> {
        naive::diff_size(self, id, parent)
    }
}
