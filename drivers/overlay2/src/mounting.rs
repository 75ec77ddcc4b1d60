//! `get`, `put` and `cleanup`: reference-counted overlay mounts.

use std::fs;
use std::io;
use std::path::PathBuf;

use graph::{Error, LayerId, Result};
use nix::mount::MsFlags;
use tracing::{debug, info, warn};

use crate::mount_opts::{self, MountData, MountSpec};
use crate::{Overlay2Driver, layout, make_dir, mount};

impl Overlay2Driver {
    /// Mounts layer `id` on first use and returns its root.
    pub(crate) fn get_layer(&self, id: &LayerId) -> Result<PathBuf> {
        let _lock = self.locks.lock(id);
        if !self.layout.exists(id) {
            return Err(layout::not_found(id));
        }
        let lowers = self.layout.read_lowers(id)?;
        if lowers.is_empty() {
            // A base layer's diff is its whole tree: nothing to mount.
            self.refs.increment(id)?;
            return Ok(self.layout.diff_dir(id));
        }
        let merged = self.layout.merged_dir(id);
        if self.refs.increment(id)? > 1 {
            return Ok(merged);
        }
        if let Err(e) = self.mount_layer(id, &lowers) {
            let _ = self.refs.decrement(id);
            return Err(e);
        }
        Ok(merged)
    }

    fn mount_layer(&self, id: &LayerId, lowers: &[String]) -> Result<()> {
        let merged = self.layout.merged_dir(id);
        make_dir(&merged, 0o700)?;
        if mount::is_mount_point(&merged)? {
            info!(path = %merged.display(), "reusing an existing mount of the layer");
            return Ok(());
        }
        let read_only = self.layout.is_committed(id);
        let spec = MountSpec {
            id: id.as_str(),
            lowers,
            read_only,
            index_off: self.index_off,
        };
        let home = self.layout.home();
        // Paths with option separators can only be given relatively.
        let abs_home = home.to_str().filter(|h| !h.contains([',', ':', '\\', '=']));
        let flags = if read_only {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
        let mounted = match mount_opts::build(abs_home, &spec, self.page_size)? {
            MountData::Absolute(data) => {
                debug!(%data, "mounting overlay");
                mount::mount_overlay(&merged, &data, flags)
            }
            MountData::Relative(data) => {
                debug!(%data, "mounting overlay with paths relative to the home");
                let target = PathBuf::from(id.as_str()).join(layout::MERGED_DIR);
                mount::mount_overlay_from(home, &target, &data, flags)
            }
        };
        if mounted.is_err() {
            let _ = fs::remove_dir(&merged);
        }
        mounted
    }

    /// Drops a reference; the last one unmounts and removes `merged`.
    pub(crate) fn put_layer(&self, id: &LayerId) -> Result<()> {
        let _lock = self.locks.lock(id);
        match self.refs.decrement(id)? {
            None => {
                warn!(layer = %id, "put of an overlay2 layer that was not gotten");
                return Ok(());
            }
            Some(n) if n > 0 => return Ok(()),
            Some(_) => {}
        }
        if self.layout.read_lowers(id)?.is_empty() {
            return Ok(());
        }
        self.unmount_merged(&self.layout.merged_dir(id))
    }

    /// Unmounts a `merged` directory and removes it (which also detaches copies of the mount
    /// propagated into other mount namespaces).
    fn unmount_merged(&self, merged: &std::path::Path) -> Result<()> {
        mount::unmount(merged)?;
        match fs::remove_dir(merged) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io("remove mount point", merged, e))
            }
            _ => Ok(()),
        }
    }

    /// Unmounts every mount under the home (deepest first) and forgets all references.
    pub(crate) fn cleanup_mounts(&self) -> Result<()> {
        self.refs.drain();
        let home = self.layout.home();
        let mut under: Vec<PathBuf> = mount::mount_points()?
            .into_iter()
            .filter(|m| m.starts_with(home) && m != home)
            .collect();
        under.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        under.dedup();
        let mut first_err = None;
        for m in under {
            let result = if m.file_name().is_some_and(|n| n == layout::MERGED_DIR) {
                self.unmount_merged(&m)
            } else {
                mount::unmount(&m)
            };
            if let Err(e) = result {
                warn!(error = %e, "cleanup could not unmount");
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
