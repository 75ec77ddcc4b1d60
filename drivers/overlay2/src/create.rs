//! Creating layers (crash-safe) and sweeping what an interrupted create or remove left.

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use graph::atomic_file::sync_dir;
use graph::{Error, IoContext, LayerId, Result};
use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
use tracing::warn;

use crate::layout::{
    self, COMMITTED_FILE, DEL_PREFIX, LINK_FILE, LOWER_FILE, MAX_DEPTH, TMP_PREFIX,
};
use crate::{Overlay2Driver, make_dir, mount};
use graph::store_lock::StoreLock;

/// Held shared by every create and remove, exclusively by the start-up sweep.
pub(crate) const WORK_LOCK: &str = ".work.lock";

impl Overlay2Driver {
    /// Creates layer `id` on `parent`: built under `.tmp-<id>`, renamed into place.
    pub(crate) fn create_layer(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        size: Option<u64>,
    ) -> Result<()> {
        let layout = &self.layout;
        // Half-made state on disk from here on: keep another process's sweep away.
        let _work = StoreLock::shared(&layout.home().join(WORK_LOCK))?;
        if layout.exists(id) {
            return Err(Error::AlreadyExists {
                what: format!("overlay2 layer {id}"),
            });
        }
        let lowers = match parent {
            None => None,
            Some(p) => {
                if !layout.exists(p) {
                    return Err(Error::not_found(format!("parent layer {p}")));
                }
                let mut lowers = vec![format!("l/{}", layout.read_link(p)?)];
                lowers.extend(layout.read_lowers(p)?);
                if lowers.len() > MAX_DEPTH {
                    return Err(Error::InvalidInput("max depth exceeded".into()));
                }
                Some(lowers)
            }
        };

        let tmp = layout.tmp_dir(id);
        match fs::create_dir(&tmp) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::AlreadyExists {
                    what: format!("overlay2 layer {id} (a create is in progress)"),
                });
            }
            other => other.ctx("create directory", &tmp)?,
        }
        let mut lid = None;
        let built = self.build_layer(id, &tmp, parent, lowers.as_deref(), size, &mut lid);
        if built.is_err() {
            if let Some(lid) = lid {
                let _ = fs::remove_file(layout.link_path(&lid));
            }
            let _ = fs::remove_dir_all(&tmp);
        }
        built
    }

    fn build_layer(
        &self,
        id: &LayerId,
        tmp: &Path,
        parent: Option<&LayerId>,
        lowers: Option<&[String]>,
        size: Option<u64>,
        lid_out: &mut Option<String>,
    ) -> Result<()> {
        let layout = &self.layout;
        fs::set_permissions(tmp, fs::Permissions::from_mode(0o710)).ctx("chmod", tmp)?;
        if let (Some(bytes), Some(quota)) = (size, &self.quota) {
            // Before anything is created inside: new entries inherit the project.
            quota.set(tmp, bytes)?;
        }
        make_dir(&tmp.join(layout::DIFF_DIR), 0o755)?;
        if let Some(lowers) = lowers {
            make_dir(&tmp.join(layout::WORK_DIR), 0o700)?;
            write_synced(&tmp.join(LOWER_FILE), lowers.join(":").as_bytes())?;
        }

        // The short link points at where the layer will be; until the rename it dangles, and
        // a dangling link is swept at start.
        let target = format!("../{id}/{}", layout::DIFF_DIR);
        let lid = loop {
            let lid = layout::random_lid();
            let link = layout.link_path(&lid);
            match symlink(&target, &link) {
                Ok(()) => break lid,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("create symlink", link, e)),
            }
        };
        *lid_out = Some(lid.clone());
        write_synced(&tmp.join(LINK_FILE), lid.as_bytes())?;
        sync_dir(tmp)?;
        sync_dir(&layout.link_dir())?;

        if let Some(p) = parent {
            // Before the child is visible: a parent with a child is never mounted writable.
            let marker = layout.layer_dir(p).join(COMMITTED_FILE);
            write_synced(&marker, b"")?;
        }

        let dest = layout.layer_dir(id);
        renameat2(
            AT_FDCWD,
            tmp,
            AT_FDCWD,
            &dest,
            RenameFlags::RENAME_NOREPLACE,
        )
        .map_err(|e| match e {
            nix::errno::Errno::EEXIST | nix::errno::Errno::ENOTEMPTY => Error::AlreadyExists {
                what: format!("overlay2 layer {id}"),
            },
            e => Error::io("move layer into place", &dest, e.into()),
        })?;
        sync_dir(layout.home())
    }

    /// Removes what a crash left: `.tmp-*` (half-created) and `.del-*` (half-removed) layer
    /// directories, and links in `l/` that point at no layer.
    /// Skipped while another process is creating or removing a layer (its work in progress
    /// looks like leftovers); the next start sweeps instead.
    pub(crate) fn sweep(&self) -> Result<()> {
        let home = self.layout.home();
        let Some(_sweeping) = StoreLock::try_exclusive(&home.join(WORK_LOCK))? else {
            tracing::debug!("another process is creating or removing layers; sweep skipped");
            return Ok(());
        };
        for entry in fs::read_dir(home).ctx("read directory", home)? {
            let entry = entry.ctx("read directory", home)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TMP_PREFIX) || name.starts_with(DEL_PREFIX) {
                let path = entry.path();
                warn!(path = %path.display(), "removing a layer left by an interrupted create or remove");
                mount::unmount(&path.join(layout::MERGED_DIR))?;
                fs::remove_dir_all(&path).ctx("remove leftover", &path)?;
            }
        }
        let links = self.layout.link_dir();
        for entry in fs::read_dir(&links).ctx("read directory", &links)? {
            let entry = entry.ctx("read directory", &links)?;
            let path = entry.path();
            // metadata() follows the link: NotFound means it points at no layer.
            if let Err(e) = fs::metadata(&path)
                && e.kind() == io::ErrorKind::NotFound
            {
                warn!(path = %path.display(), "removing a dangling layer link");
                fs::remove_file(&path).ctx("remove", &path)?;
            }
        }
        Ok(())
    }
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path).ctx("create", path)?;
    f.write_all(data).ctx("write", path)?;
    f.sync_all().ctx("fsync", path)
}
