//! The vfs storage driver: every layer is a full copy of its parent.
//!
//! Layout, as Docker's: `<home>/dir/<id>/` holds the layer's whole tree. Creating a layer on
//! a parent copies the parent's tree ([`copy_tree`]), keeping ownership, modes, times, xattrs,
//! hard links, devices and holes; file content is reflinked where the filesystem can, else
//! copied in the kernel (`copy_file_range`). A copy is made under `dir/.tmp-<id>` and renamed
//! into place when complete, so a crash never leaves a half layer that `exists` reports.
//!
//! Nothing is mounted: `get` returns the directory and only counts references, so a layer in
//! use is not removed. Diffs use the trait's naive implementations (tree comparison).
#![warn(missing_docs)]

mod copy_tree;
mod statfs;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use graph::refcount::RefCounts;
use graph::store_lock::StoreLock;
use graph::{CreateOpts, Driver, DriverConfig, Error, IoContext, LayerId, Result};
use tracing::{debug_span, warn};

pub use copy_tree::copy_tree;

/// The driver's name.
pub const NAME: &str = "vfs";
const TMP_PREFIX: &str = ".tmp-";

/// The vfs driver.
#[derive(Debug)]
pub struct VfsDriver {
    home: PathBuf,
    refs: RefCounts,
}

/// Builds the driver for the engine's driver table.
pub fn init(config: &DriverConfig) -> Result<Box<dyn Driver>> {
    Ok(Box::new(VfsDriver::new(config)?))
}

impl VfsDriver {
    /// Opens the driver at `config.home`, creating it, and removes half-made layers an
    /// interrupted `create` left. vfs takes no storage options.
    pub fn new(config: &DriverConfig) -> Result<Self> {
        if let Some(opt) = config.options.first() {
            return Err(graph::options::unknown_option(NAME, opt, &[]));
        }
        let driver = VfsDriver {
            home: config.home.clone(),
            refs: RefCounts::default(),
        };
        let dir = driver.layers_dir();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .ctx("create directory", &dir)?;
        for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let entry = entry.ctx("read directory", &dir)?;
            if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                warn!(path = %entry.path().display(), "removing a layer copy left by an interrupted create");
                fs::remove_dir_all(entry.path()).ctx("remove leftover", entry.path())?;
            }
        }
        Ok(driver)
    }

    /// Held shared while a create or remove has half-made state on disk, exclusively by the
    /// sweep of such leftovers.
    fn work_lock(&self) -> PathBuf {
        self.home.join(".work.lock")
    }

    fn layers_dir(&self) -> PathBuf {
        self.home.join("dir")
    }

    fn layer_dir(&self, id: &LayerId) -> PathBuf {
        self.layers_dir().join(id.as_str())
    }

    fn make(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<()> {
        let _span = debug_span!("create", driver = NAME, %id).entered();
        let _work = StoreLock::shared(&self.work_lock())?;
        let dest = self.layer_dir(id);
        if dest.exists() {
            return Err(Error::AlreadyExists {
                what: format!("vfs layer {id}"),
            });
        }
        let parent_dir = match parent {
            Some(p) if !self.exists(p) => {
                return Err(Error::not_found(format!("parent layer {p}")));
            }
            Some(p) => Some(self.layer_dir(p)),
            None => None,
        };
        let tmp = self.layers_dir().join(format!("{TMP_PREFIX}{id}"));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).ctx("remove leftover", &tmp)?;
        }
        let built = (|| {
            fs::create_dir(&tmp).ctx("create directory", &tmp)?;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).ctx("chmod", &tmp)?;
            std::os::unix::fs::lchown(&tmp, Some(0), Some(0)).ctx("chown", &tmp)?;
            if let Some(parent_dir) = &parent_dir {
                copy_tree(parent_dir, &tmp)?;
            }
            fs::rename(&tmp, &dest).ctx("move layer into place", &dest)
        })();
        if built.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        built
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
        if opts.size.is_some() {
            return Err(Error::InvalidInput(
                "--storage-opt size is only supported for read-write layers".into(),
            ));
        }
        self.make(id, parent)
    }

    fn create_rw(&self, id: &LayerId, parent: Option<&LayerId>, opts: &CreateOpts) -> Result<()> {
        if opts.size.is_some() {
            return Err(Error::NotSupported(
                "vfs: --storage-opt size is not supported (no project quota for vfs layers)".into(),
            ));
        }
        self.make(id, parent)
    }

    fn remove(&self, id: &LayerId) -> Result<()> {
        let _span = debug_span!("remove", driver = NAME, %id).entered();
        if self.refs.get(id) > 0 {
            return Err(Error::Busy(format!("vfs layer {id} is in use")));
        }
        let dir = self.layer_dir(id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("remove layer", dir, e))
            }
            _ => Ok(()),
        }
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf> {
        if !self.exists(id) {
            return Err(Error::not_found(format!("vfs layer {id}")));
        }
        self.refs.increment(id);
        Ok(self.layer_dir(id))
    }

    fn put(&self, id: &LayerId) -> Result<()> {
        if self.refs.decrement(id).is_none() {
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
        self.refs.drain();
        Ok(())
    }
}
