//! The vfs storage driver: every layer is a full copy of its parent.
//!
//! It needs nothing from the kernel or the filesystem, so it works everywhere (the last
//! resort of driver selection), at the cost of copying the whole tree for every layer.
//!
//! - Layout, as Docker's: `<home>/dir/<id>/` holds the layer's whole tree.
//! - `create`/`create_rw` make the layer root (0755, owned by root) and, on a parent, copy the
//!   parent's tree into it with [`copy_tree`]: ownership, modes, nanosecond times, xattrs, hard
//!   links, devices and holes are kept; content is reflinked where the filesystem can (btrfs,
//!   xfs) and copied in the kernel otherwise.
//! - Crash safety: a new layer is built under a `dir/.tmp-*` name and renamed into place, without
//!   replacing anything, only once complete; a removed layer is renamed to a `.tmp-*` name
//!   before it is deleted. So `dir/<id>` is always a whole layer or absent, and a crash leaves
//!   only `.tmp-*` entries, which [`VfsDriver::new`] sweeps. Creates and removes hold a shared
//!   lock on `<home>/.work.lock` while they have such entries, and the sweep runs only when it
//!   gets the lock exclusively, so it never deletes another process's copy in progress.
//! - Nothing is mounted: `get` returns the directory and counts the reference, so a layer in
//!   use cannot be removed (`Busy`; Docker's vfs would allow it).
//! - Diffs are the trait's naive ones (tree comparison); there are no storage options, and a
//!   size limit is refused (Docker's vfs needs xfs project quotas for it).
#![warn(missing_docs)]

mod copy_tree;
mod staging;
mod statfs;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use graph::refcount::RefCounts;
use graph::store_lock::StoreLock;
use graph::{CreateOpts, Driver, DriverConfig, Error, IoContext, LayerId, Result};
use tracing::{debug, debug_span, warn};

pub use copy_tree::copy_tree;
pub use statfs::filesystem_name;

/// The driver's name, as `--storage-driver` takes it.
pub const NAME: &str = "vfs";

/// The vfs driver.
#[derive(Debug)]
pub struct VfsDriver {
    home: PathBuf,
    refs: RefCounts,
    /// Serialises `get` against `remove`, so a layer is never removed between the check of its
    /// reference count and the removal.
    lifecycle: Mutex<()>,
}

/// Builds the driver for the engine's driver table ([`graph::DriverEntry::init`]).
pub fn init(config: &DriverConfig) -> Result<Box<dyn Driver>> {
    Ok(Box::new(VfsDriver::new(config)?))
}

impl VfsDriver {
    /// Opens the driver at `config.home` (created with mode 0700 if missing) and sweeps what
    /// interrupted creates and removes left. vfs takes no storage options: any is an error.
    pub fn new(config: &DriverConfig) -> Result<Self> {
        if let Some(opt) = config.options.first() {
            return Err(graph::options::unknown_option(NAME, opt, &[]));
        }
        let driver = VfsDriver {
            home: config.home.clone(),
            refs: RefCounts::new(config.home.join(".refs")),
            lifecycle: Mutex::new(()),
        };
        let dir = driver.layers_dir();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .ctx("create directory", &dir)?;
        match StoreLock::try_exclusive(&driver.work_lock())? {
            Some(_sweeping) => staging::sweep(&dir)?,
            None => debug!(
                home = %driver.home.display(),
                "another process is creating or removing a layer; not sweeping leftovers now"
            ),
        }
        Ok(driver)
    }

    fn work_lock(&self) -> PathBuf {
        self.home.join(".work.lock")
    }

    fn layers_dir(&self) -> PathBuf {
        self.home.join("dir")
    }

    fn layer_dir(&self, id: &LayerId) -> PathBuf {
        self.layers_dir().join(id.as_str())
    }

    fn lock_lifecycle(&self) -> MutexGuard<'_, ()> {
        self.lifecycle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds layer `id` (empty, or a copy of `parent`) under a temporary name, then moves it
    /// into place.
    fn make(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<()> {
        let dest = self.layer_dir(id);
        if dest.exists() {
            return Err(already_exists(id));
        }
        let parent_dir = match parent {
            Some(p) if !self.exists(p) => {
                return Err(Error::not_found(format!("parent layer {p}")));
            }
            Some(p) => Some(self.layer_dir(p)),
            None => None,
        };
        let _work = StoreLock::shared(&self.work_lock())?;
        let tmp = staging::temp_dir_in(&self.layers_dir())?;
        let root = tmp.path();
        // The mode is set explicitly: the directory was made 0700 and the umask is not ours.
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).ctx("chmod", root)?;
        // A layer's root belongs to the container's root user: 0:0 for an engine run as root.
        // An engine run as another user (the middle test tier) is that user's, as made.
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::lchown(root, Some(0), Some(0)).ctx("chown", root)?;
        }
        if let Some(parent_dir) = &parent_dir {
            copy_tree(parent_dir, root)?;
        }
        // On any error above, dropping `tmp` deletes the partial copy.
        staging::publish(tmp, &dest, || format!("vfs layer {id}"))
    }
}

fn already_exists(id: &LayerId) -> Error {
    Error::AlreadyExists {
        what: format!("vfs layer {id}"),
    }
}

impl Driver for VfsDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn home(&self) -> &Path {
        &self.home
    }

    fn create(&self, id: &LayerId, parent: Option<&LayerId>, opts: &CreateOpts) -> Result<()> {
        let _span =
            debug_span!("create", driver = NAME, %id, parent = ?parent.map(LayerId::as_str))
                .entered();
        if opts.size.is_some() {
            return Err(Error::InvalidInput(
                "--storage-opt size is only supported for read-write layers".into(),
            ));
        }
        self.make(id, parent)
    }

    fn create_rw(&self, id: &LayerId, parent: Option<&LayerId>, opts: &CreateOpts) -> Result<()> {
        let _span =
            debug_span!("create_rw", driver = NAME, %id, parent = ?parent.map(LayerId::as_str))
                .entered();
        if opts.size.is_some() {
            return Err(Error::NotSupported(
                "vfs: size quota not supported on this backing filesystem; \
                 remove --storage-opt size or use the overlay2 driver on xfs"
                    .into(),
            ));
        }
        self.make(id, parent)
    }

    fn remove(&self, id: &LayerId) -> Result<()> {
        let _span = debug_span!("remove", driver = NAME, %id).entered();
        let _work = StoreLock::shared(&self.work_lock())?;
        let grave = {
            let _lifecycle = self.lock_lifecycle();
            if self.refs.get(id) > 0 {
                return Err(Error::Busy(format!(
                    "vfs layer {id} is in use; release it (put) before removing it"
                )));
            }
            staging::hide_tree(&self.layers_dir(), &self.layer_dir(id))?
        };
        // The layer is gone once hidden; deleting its tree can take long, so `get`s of other
        // layers do not wait for it.
        grave.map_or(Ok(()), staging::bury)
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf> {
        let _span = debug_span!("get", driver = NAME, %id).entered();
        let _lifecycle = self.lock_lifecycle();
        if !self.exists(id) {
            return Err(Error::not_found(format!("vfs layer {id}")));
        }
        self.refs.increment(id)?;
        Ok(self.layer_dir(id))
    }

    fn put(&self, id: &LayerId) -> Result<()> {
        let _span = debug_span!("put", driver = NAME, %id).entered();
        // Nothing to unmount; a put without a get is harmless (Docker's vfs Put is a no-op).
        if self.refs.decrement(id)?.is_none() {
            warn!(layer = %id, "put of a vfs layer that was not gotten");
        }
        Ok(())
    }

    fn exists(&self, id: &LayerId) -> bool {
        self.layer_dir(id).is_dir()
    }

    fn status(&self) -> Vec<(String, String)> {
        vec![(
            "Backing Filesystem".into(),
            statfs::filesystem_name(&self.home),
        )]
    }

    fn metadata(&self, id: &LayerId) -> Result<BTreeMap<String, String>> {
        if !self.exists(id) {
            return Err(Error::not_found(format!("vfs layer {id}")));
        }
        Ok(BTreeMap::new())
    }

    fn cleanup(&self) -> Result<()> {
        let _span = debug_span!("cleanup", driver = NAME).entered();
        // Nothing is mounted; forget the references of this instance.
        self.refs.drain();
        Ok(())
    }
}
