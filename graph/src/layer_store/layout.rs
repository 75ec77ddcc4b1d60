//! Paths and file formats of the layer store.

use std::fs;
use std::path::{Path, PathBuf};

use crate::atomic_file::sync_dir;
use crate::error::{Error, IoContext, Result};
use crate::id::{ChainId, LayerId};
use crate::layer_store::{Layer, RwLayer};

#[derive(Debug, Clone)]
pub(super) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(super) fn new(root: PathBuf) -> Self {
        Layout { root }
    }

    pub(super) fn create_dirs(&self) -> Result<()> {
        for dir in [self.sha_dir(), self.mounts_dir(), self.tmp_dir()] {
            fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        }
        Ok(())
    }

    pub(super) fn lock_file(&self) -> PathBuf {
        self.root.join(".lock")
    }

    pub(super) fn sha_dir(&self) -> PathBuf {
        self.root.join("sha256")
    }

    fn mounts_dir(&self) -> PathBuf {
        self.root.join("mounts")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(super) fn layer_dir(&self, chain: &ChainId) -> PathBuf {
        self.sha_dir().join(chain.hex())
    }

    pub(super) fn holder(&self, chain: &ChainId, holder: &str) -> Result<PathBuf> {
        let name = LayerId::new(holder.replace(':', "_"))
            .map_err(|_| Error::InvalidInput(format!("invalid layer holder name {holder:?}")))?;
        Ok(self.layer_dir(chain).join("holders").join(name.as_str()))
    }

    pub(super) fn holders(&self, chain: &ChainId) -> Result<Vec<String>> {
        list_names(&self.layer_dir(chain).join("holders"))
    }

    pub(super) fn mount_dir(&self, name: &str) -> Result<PathBuf> {
        let name = LayerId::new(name)
            .map_err(|_| Error::InvalidInput(format!("invalid writable layer name {name:?}")))?;
        Ok(self.mounts_dir().join(name.as_str()))
    }

    /// Where registration records the tar-split of the new driver layer `cache_id`.
    pub(super) fn recording(&self, cache_id: &LayerId) -> PathBuf {
        self.tmp_dir().join(format!("{cache_id}.tar-split"))
    }

    pub(super) fn creating_journal(&self, cache_id: &LayerId) -> PathBuf {
        self.tmp_dir().join(format!("{cache_id}.creating"))
    }

    pub(super) fn deleting_dir(&self, chain: &ChainId) -> PathBuf {
        self.deleting_dir_named(&chain.hex())
    }

    pub(super) fn deleting_dir_named(&self, name: &str) -> PathBuf {
        self.tmp_dir().join(format!("deleting-{name}"))
    }

    pub(super) fn chain_ids(&self) -> Result<Vec<ChainId>> {
        list_names(&self.sha_dir())?
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .map(|n| format!("sha256:{n}").parse())
            .collect()
    }

    pub(super) fn mount_names(&self) -> Result<Vec<String>> {
        Ok(list_names(&self.mounts_dir())?
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect())
    }

    pub(super) fn tmp_entries(&self) -> Result<Vec<PathBuf>> {
        Ok(list_names(&self.tmp_dir())?
            .into_iter()
            .map(|n| self.tmp_dir().join(n))
            .collect())
    }

    fn new_tmp_dir(&self) -> Result<PathBuf> {
        let dir = self.tmp_dir().join(format!("new-{}", LayerId::random()));
        fs::create_dir(&dir).ctx("create directory", &dir)?;
        Ok(dir)
    }
}

/// The driver layer ids a leftover in `tmp/` may own: a journal `<id>.creating`, or a
/// metadata directory (being written or being deleted) with a `cache-id`/`mount-id` file.
pub(super) fn cache_ids_in_leftover(entry: &Path) -> Vec<LayerId> {
    let name = entry
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(id) = name.strip_suffix(".creating") {
        return LayerId::new(id).into_iter().collect();
    }
    ["cache-id", "mount-id"]
        .iter()
        .filter_map(|f| fs::read_to_string(entry.join(f)).ok())
        .filter_map(|s| LayerId::new(s.trim()).ok())
        .collect()
}

fn list_names(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io("read directory", dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.ctx("read directory", dir)?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

fn write_file(dir: &Path, name: &str, content: &str) -> Result<()> {
    let path = dir.join(name);
    let mut f = fs::File::create(&path).ctx("create", &path)?;
    std::io::Write::write_all(&mut f, content.as_bytes()).ctx("write", &path)?;
    f.sync_all().ctx("fsync", &path)
}

fn read_field(dir: &Path, name: &str) -> Result<Option<String>> {
    let path = dir.join(name);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

fn required(dir: &Path, name: &str) -> Result<String> {
    read_field(dir, name)?.ok_or_else(|| Error::Corrupt {
        path: dir.join(name),
        reason: "missing".into(),
    })
}

fn corrupt(dir: &Path, name: &str) -> impl Fn(Error) -> Error {
    let path = dir.join(name);
    move |e| Error::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    }
}

/// The name of a layer's tar-split record (see [`crate::archive::tar_split`]).
pub(super) const TAR_SPLIT: &str = "tar-split.json.gz";

/// Writes a layer's metadata directory in `tmp/` and renames it into place; `tar_split` (a
/// finished, synced file in `tmp/`) moves in with it.
pub(super) fn write_layer_dir(
    layout: &Layout,
    layer: &Layer,
    tar_split: Option<&Path>,
) -> Result<()> {
    let tmp = layout.new_tmp_dir()?;
    if let Some(split) = tar_split {
        let dest = tmp.join(TAR_SPLIT);
        fs::rename(split, &dest).ctx("move tar-split into place", &dest)?;
    }
    write_file(&tmp, "diff", &layer.diff_id.to_string())?;
    write_file(&tmp, "size", &layer.size.to_string())?;
    write_file(&tmp, "cache-id", layer.cache_id.as_str())?;
    if let Some(parent) = &layer.parent {
        write_file(&tmp, "parent", &parent.to_string())?;
    }
    sync_dir(&tmp)?;
    let dest = layout.layer_dir(&layer.chain_id);
    fs::rename(&tmp, &dest).ctx("move layer metadata into place", &dest)?;
    sync_dir(&layout.sha_dir())
}

pub(super) fn read_layer(layout: &Layout, chain: &ChainId) -> Result<Layer> {
    let dir = layout.layer_dir(chain);
    if !dir.is_dir() {
        return Err(Error::not_found(format!("layer {chain}")));
    }
    Ok(Layer {
        chain_id: chain.clone(),
        diff_id: required(&dir, "diff")?
            .parse()
            .map_err(corrupt(&dir, "diff"))?,
        parent: read_field(&dir, "parent")?
            .map(|p| p.parse())
            .transpose()
            .map_err(corrupt(&dir, "parent"))?,
        cache_id: LayerId::new(required(&dir, "cache-id")?).map_err(corrupt(&dir, "cache-id"))?,
        size: required(&dir, "size")?
            .parse()
            .map_err(|e: std::num::ParseIntError| Error::Corrupt {
                path: dir.join("size"),
                reason: e.to_string(),
            })?,
    })
}

pub(super) fn write_mount_dir(layout: &Layout, rw: &RwLayer) -> Result<()> {
    let tmp = layout.new_tmp_dir()?;
    write_file(&tmp, "mount-id", rw.mount_id.as_str())?;
    if let Some(parent) = &rw.parent {
        write_file(&tmp, "parent", &parent.to_string())?;
    }
    sync_dir(&tmp)?;
    let dest = layout.mount_dir(&rw.name)?;
    fs::rename(&tmp, &dest).ctx("move writable layer metadata into place", &dest)?;
    sync_dir(&layout.mounts_dir())
}

pub(super) fn read_mount(layout: &Layout, name: &str) -> Result<RwLayer> {
    let dir = layout.mount_dir(name)?;
    if !dir.is_dir() {
        return Err(Error::not_found(format!("writable layer {name}")));
    }
    Ok(RwLayer {
        name: name.to_string(),
        mount_id: LayerId::new(required(&dir, "mount-id")?).map_err(corrupt(&dir, "mount-id"))?,
        parent: read_field(&dir, "parent")?
            .map(|p| p.parse())
            .transpose()
            .map_err(corrupt(&dir, "parent"))?,
    })
}
