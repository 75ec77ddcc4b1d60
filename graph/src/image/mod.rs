//! Images: configurations stored by digest, tags, and the layers they hold.
//!
//! ```text
//! <image-root>/imagedb/content/sha256/<id hex>     the config bytes; id = sha256 of them
//! <image-root>/repositories.json                   tags, as Docker writes them
//! <image-root>/imagedb/metadata/sha256/<id hex>/parent   the image a build step made it on
//! ```
//! An image keeps its top layer (and so the whole chain) from removal with a layer-store
//! hold; deleting the image drops the hold and removes the layers nothing else uses.

mod config;
pub mod oci;
mod reference;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use config::{History, ImageConfig, RootFs, RunConfig, host_architecture, now_rfc3339};
pub use reference::{DEFAULT_DOMAIN, Reference};

use crate::atomic_file::write_atomic;
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::id::{ChainId, Digest, chain_id};
use crate::layer_store::LayerStore;
use crate::store_lock::StoreLock;

/// One stored image.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// sha256 of the config bytes.
    pub id: Digest,
    /// The parsed config.
    pub config: ImageConfig,
    /// The config bytes exactly as stored (the id is their digest).
    pub raw: Vec<u8>,
}

impl Image {
    /// The chain id of the image's top layer, or None for an image without layers.
    pub fn top_layer(&self) -> Option<ChainId> {
        top_chain(&self.config.rootfs.diff_ids)
    }

    /// Seconds since the epoch of `created`, when it parses.
    pub fn created_unix(&self) -> Option<u64> {
        let created = self.config.created.as_deref()?;
        let t =
            humantime::parse_rfc3339_weak(created.trim_end_matches('Z').split('.').next()?).ok()?;
        t.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    }
}

/// The chain ids of a layer list, bottom first.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<ChainId> {
    let mut chains: Vec<ChainId> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let c = chain_id(chains.last(), d);
        chains.push(c);
    }
    chains
}

/// The chain id of the top of a layer list.
pub fn top_chain(diff_ids: &[Digest]) -> Option<ChainId> {
    diff_ids
        .iter()
        .fold(None, |parent, d| Some(chain_id(parent.as_ref(), d)))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Repositories {
    #[serde(rename = "Repositories", default)]
    repositories: BTreeMap<String, BTreeMap<String, Digest>>,
}

/// The image store over a layer store.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
    layers: LayerStore,
}

impl ImageStore {
    /// Opens (creating if needed) the store at `image_root` (`<data-root>/image/<driver>`).
    pub fn open(image_root: &Path, layers: LayerStore) -> Result<Self> {
        let store = ImageStore {
            root: image_root.to_path_buf(),
            layers,
        };
        let content = store.content_dir();
        fs::create_dir_all(&content).ctx("create directory", &content)?;
        Ok(store)
    }

    /// The layer store under the images.
    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    fn content_dir(&self) -> PathBuf {
        self.root.join("imagedb/content/sha256")
    }

    fn metadata_dir(&self, id: &Digest) -> PathBuf {
        self.root.join("imagedb/metadata/sha256").join(id.hex())
    }

    fn repositories_file(&self) -> PathBuf {
        self.root.join("repositories.json")
    }

    fn lock(&self) -> Result<StoreLock> {
        StoreLock::exclusive(&self.root.join(".images.lock"))
    }

    fn holder(id: &Digest) -> String {
        format!("image-{}", id.hex())
    }

    /// Stores an image config (its layers must already be in the layer store); returns the
    /// image. Storing the same config twice gives the same image.
    pub fn create(&self, raw: &[u8]) -> Result<Image> {
        let config: ImageConfig = serde_json::from_slice(raw)
            .map_err(|e| Error::InvalidInput(format!("invalid image config: {e}")))?;
        let id = Digest::of(raw);
        let _lock = self.lock()?;
        let mut parent: Option<ChainId> = None;
        for diff_id in &config.rootfs.diff_ids {
            let chain = chain_id(parent.as_ref(), diff_id);
            self.layers.get(&chain).map_err(|e| match e.kind() {
                ErrorKind::NotFound => Error::not_found(format!("layer {diff_id} of image {id}")),
                _ => e,
            })?;
            parent = Some(chain);
        }
        if let Some(top) = &parent {
            self.layers.hold(top, &Self::holder(&id))?;
        }
        write_atomic(&self.content_dir().join(id.hex()), raw)?;
        Ok(Image {
            id,
            config,
            raw: raw.to_vec(),
        })
    }

    /// The image with this id.
    pub fn get(&self, id: &Digest) -> Result<Image> {
        let path = self.content_dir().join(id.hex());
        let raw = match fs::read(&path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::not_found(format!("image {id}")));
            }
            Err(e) => return Err(Error::io("read image config", path, e)),
        };
        let config = serde_json::from_slice(&raw).map_err(|e| Error::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(Image {
            id: id.clone(),
            config,
            raw,
        })
    }

    /// Every image.
    pub fn list(&self) -> Result<Vec<Image>> {
        let dir = self.content_dir();
        let mut images = Vec::new();
        for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let entry = entry.ctx("read directory", &dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Ok(id) = format!("sha256:{name}").parse::<Digest>() {
                images.push(self.get(&id)?);
            }
        }
        Ok(images)
    }

    /// Finds an image by reference (`busybox`, `app:v1`), full id, or unique id prefix
    /// (`sha256:` optional), as Docker's CLI does.
    pub fn resolve(&self, s: &str) -> Result<Image> {
        if let Ok(reference) = Reference::parse(s)
            && let Some(id) = self.lookup(&reference)?
        {
            return self.get(&id);
        }
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<String> = fs::read_dir(self.content_dir())
                .ctx("read directory", self.content_dir())?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&hex.to_ascii_lowercase()))
                .collect();
            match matches.as_slice() {
                [one] => return self.get(&format!("sha256:{one}").parse()?),
                [] => {}
                _ => {
                    return Err(Error::InvalidInput(format!(
                        "image id prefix {s:?} is ambiguous"
                    )));
                }
            }
        }
        Err(Error::not_found(format!("image {s:?}")))
    }

    fn read_repositories(&self) -> Result<Repositories> {
        let path = self.repositories_file();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Repositories::default()),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    fn write_repositories(&self, repos: &Repositories) -> Result<()> {
        let bytes = serde_json::to_vec(repos)
            .map_err(|e| Error::InvalidInput(format!("serialising tags: {e}")))?;
        write_atomic(&self.repositories_file(), &bytes)
    }

    /// The image a reference points to.
    pub fn lookup(&self, reference: &Reference) -> Result<Option<Digest>> {
        let repos = self.read_repositories()?;
        Ok(repos
            .repositories
            .get(&reference.familiar_name())
            .and_then(|tags| tags.get(&reference.familiar()))
            .cloned())
    }

    /// Points `reference` at image `id` (moving it from another image if needed).
    pub fn tag(&self, reference: &Reference, id: &Digest) -> Result<()> {
        self.get(id)?;
        let _lock = self.lock()?;
        let mut repos = self.read_repositories()?;
        repos
            .repositories
            .entry(reference.familiar_name())
            .or_default()
            .insert(reference.familiar(), id.clone());
        self.write_repositories(&repos)
    }

    /// Removes the tag; returns the image it pointed to.
    pub fn untag(&self, reference: &Reference) -> Result<Option<Digest>> {
        let _lock = self.lock()?;
        let mut repos = self.read_repositories()?;
        let name = reference.familiar_name();
        let removed = repos
            .repositories
            .get_mut(&name)
            .and_then(|t| t.remove(&reference.familiar()));
        if repos.repositories.get(&name).is_some_and(|t| t.is_empty()) {
            repos.repositories.remove(&name);
        }
        if removed.is_some() {
            self.write_repositories(&repos)?;
        }
        Ok(removed)
    }

    /// Every tag and the image it points to.
    pub fn references(&self) -> Result<Vec<(Reference, Digest)>> {
        let repos = self.read_repositories()?;
        let mut out = Vec::new();
        for tags in repos.repositories.values() {
            for (name, id) in tags {
                if let Ok(r) = Reference::parse(name) {
                    out.push((r, id.clone()));
                }
            }
        }
        Ok(out)
    }

    /// The tags of image `id`.
    pub fn tags_of(&self, id: &Digest) -> Result<Vec<Reference>> {
        Ok(self
            .references()?
            .into_iter()
            .filter(|(_, i)| i == id)
            .map(|(r, _)| r)
            .collect())
    }

    /// Records that image `id` was made on image `parent` (a build step's), as Docker keeps
    /// it: untagged parents are intermediate images, hidden by `images` and removed with
    /// their last child.
    pub fn set_parent(&self, id: &Digest, parent: &Digest) -> Result<()> {
        self.get(id)?;
        let dir = self.metadata_dir(id);
        fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        write_atomic(&dir.join("parent"), parent.to_string().as_bytes())
    }

    /// The image `id` was made on, if recorded.
    pub fn parent(&self, id: &Digest) -> Result<Option<Digest>> {
        let path = self.metadata_dir(id).join("parent");
        match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// The images recorded as made on `id`.
    pub fn children(&self, id: &Digest) -> Result<Vec<Digest>> {
        let dir = self.root.join("imagedb/metadata/sha256");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read directory", dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.ctx("read directory", &dir)?;
            let Ok(child) = format!("sha256:{}", entry.file_name().to_string_lossy()).parse()
            else {
                continue;
            };
            if self.parent(&child)?.as_ref() == Some(id) {
                out.push(child);
            }
        }
        Ok(out)
    }

    /// Deletes image `id` and its tags, then every layer of it nothing else uses.
    /// Returns the layers removed.
    pub fn delete(&self, id: &Digest) -> Result<Vec<ChainId>> {
        let image = self.get(id)?;
        for r in self.tags_of(id)? {
            self.untag(&r)?;
        }
        let _lock = self.lock()?;
        let path = self.content_dir().join(id.hex());
        fs::remove_file(&path).ctx("remove image config", &path)?;
        let meta = self.metadata_dir(id);
        match fs::remove_dir_all(&meta) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io("remove image metadata", meta, e));
            }
            _ => {}
        }
        let mut removed = Vec::new();
        let chains = chain_ids(&image.config.rootfs.diff_ids);
        if let Some(top) = chains.last() {
            self.layers.unhold(top, &Self::holder(id))?;
        }
        for chain in chains.iter().rev() {
            match self.layers.remove(chain) {
                Ok(()) => removed.push(chain.clone()),
                Err(e) if matches!(e.kind(), ErrorKind::Busy | ErrorKind::NotFound) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}
