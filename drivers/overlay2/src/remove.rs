//! Removing layers.

use std::fs;
use std::io;

use graph::store_lock::StoreLock;
use graph::{Error, IoContext, LayerId, Result};
use tracing::warn;

use crate::{Overlay2Driver, layout, mount};

impl Overlay2Driver {
    /// Removes layer `id`: `Busy` while this process has it mounted; a missing layer is fine.
    pub(crate) fn remove_layer(&self, id: &LayerId) -> Result<()> {
        let _lock = self.locks.lock(id);
        let _work = StoreLock::shared(&self.layout.home().join(crate::create::WORK_LOCK))?;
        if self.refs.get(id) > 0 {
            return Err(Error::Busy(format!(
                "overlay2 layer {id} is mounted; put it before removing it"
            )));
        }
        let dir = self.layout.layer_dir(id);
        if fs::symlink_metadata(&dir).is_err() {
            return Ok(());
        }
        if let Some(child) = self.a_child_of(id)? {
            return Err(Error::Busy(format!(
                "overlay2 layer {id} is a parent of layer {child}; remove the child first"
            )));
        }
        let merged = self.layout.merged_dir(id);
        if mount::is_mount_point(&merged)? {
            warn!(path = %merged.display(), "unmounting a stale mount of a removed layer");
            mount::unmount(&merged)?;
        }
        let lid = self.layout.read_link(id).ok();

        // Renamed first, the layer disappears at once; a crash after this is swept at start.
        let del = self.layout.del_dir(id);
        if fs::symlink_metadata(&del).is_ok() {
            fs::remove_dir_all(&del).ctx("remove leftover", &del)?;
        }
        fs::rename(&dir, &del).ctx("move layer aside", &dir)?;
        if let Some(lid) = lid {
            let link = self.layout.link_path(&lid);
            match fs::remove_file(&link) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(Error::io("remove", link, e));
                }
                _ => {}
            }
        }
        fs::remove_dir_all(&del).ctx("remove layer", &del)
    }

    /// A layer whose lower chain includes `id`, if any. Only layers marked `committed` can
    /// have one, so the scan of the home is skipped for all others.
    fn a_child_of(&self, id: &LayerId) -> Result<Option<String>> {
        if !self.layout.is_committed(id) {
            return Ok(None);
        }
        let Ok(lid) = self.layout.read_link(id) else {
            return Ok(None);
        };
        let entry_name = format!("l/{lid}");
        let home = self.layout.home();
        for entry in fs::read_dir(home).ctx("read directory", home)? {
            let entry = entry.ctx("read directory", home)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == id.as_str() {
                continue;
            }
            let lower = entry.path().join(layout::LOWER_FILE);
            match fs::read_to_string(&lower) {
                Ok(text) if layout::parse_lowers(text.trim()).contains(&entry_name) => {
                    return Ok(Some(name));
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) => {}
                Err(e) => return Err(Error::io("read", lower, e)),
            }
        }
        Ok(None)
    }
}
