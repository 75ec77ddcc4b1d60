//! The one path an image enters the stores through: `pull`, `load`, `import` and `commit`
//! all use it.
//!
//! An [`Ingest`] registers layers bottom up, each on the one below it, checking each against
//! the diff id the image's config names for it, and ends by creating the image from its
//! config's exact bytes (so the image id is the config digest) after checking that the config
//! names exactly these layers. Until [`Ingest::commit`] succeeds, every layer the ingest
//! added is removed again, top first, when it is dropped: a failed or abandoned ingest leaves
//! nothing half-stored, and layers that were already stored before it are never touched.
//!
//! A kill skips `Drop`, so an ingest also holds a lease (`<root>/leases/ingest-...`, see
//! [`crate::owned`]) in which it notes each stored layer it builds on (`reuse CHAIN`) and each
//! layer it adds (`add CHAIN`). The next start's sweep removes the layers a dead ingest added
//! that no image holds, and never one a live ingest noted. The notes are written under the
//! layer store's lock, in the same step as the lookup (or the publication) they are about,
//! and the sweep holds that lock from reading the live notes to removing: so a layer an
//! ingest found stored is never removed under it.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use graph::image::{Image, ImageStore};
use graph::{ChainId, Digest, ErrorKind, Layer, LayerStore, Note, Noted};

use crate::owned::Lease;

/// The lease kind of an ingest: `ingest-<pid>-<random>`.
pub const INGEST_LEASE: &str = "ingest-";

/// The stores an image goes into, and where its scratch files go.
#[derive(Debug, Clone, Copy)]
pub struct Stores<'a> {
    /// The layer store over the engine's storage driver.
    pub layers: &'a LayerStore,
    /// The image store over those layers.
    pub images: &'a ImageStore,
    /// The engine's data root (scratch directories live under `<data_root>/tmp`).
    pub data_root: &'a Path,
    /// The storage driver's name: image metadata lives under `image/<driver>`.
    pub driver: &'a str,
}

impl Stores<'_> {
    /// `<data-root>/image/<driver>`, where the image metadata (and the blob cache) lives.
    pub fn image_root(&self) -> PathBuf {
        self.data_root.join("image").join(self.driver)
    }
}

/// One image on its way in. See the module documentation.
#[derive(Debug)]
pub struct Ingest<'a> {
    stores: Stores<'a>,
    /// The diff ids of the layers so far, bottom first.
    diff_ids: Vec<Digest>,
    /// The chain id of the top layer so far.
    top: Option<ChainId>,
    /// The layers this ingest registered (it removes them unless committed).
    added: Vec<ChainId>,
    committed: bool,
    /// What a sweep reads should this process be killed; removed with the ingest.
    lease: Lease,
    lease_path: PathBuf,
}

impl<'a> Ingest<'a> {
    /// Starts an ingest into `stores`.
    pub fn new(stores: Stores<'a>) -> Result<Self> {
        let name = format!(
            "{INGEST_LEASE}{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let lease = Lease::take(stores.data_root, &name)?;
        Ok(Ingest {
            stores,
            diff_ids: Vec::new(),
            top: None,
            added: Vec::new(),
            committed: false,
            lease_path: lease.path().to_path_buf(),
            lease,
        })
    }

    /// The chain id the next layer gets if its diff id is `diff_id`.
    fn next_chain(&self, diff_id: &Digest) -> ChainId {
        graph::chain_id(self.top.as_ref(), diff_id)
    }

    /// Takes the next layer as already stored when it is: true if the layer with `diff_id` on
    /// top of the layers so far exists (it becomes the top), false if it must be added.
    pub fn reuse(&mut self, diff_id: &Digest) -> Result<bool> {
        let chain = self.next_chain(diff_id);
        // Noted, then looked up, under the store's lock, which the sweep holds from reading
        // the live ingests' notes to removing what a dead one added: the sweep has either
        // removed the layer already (it is not found here) or reads this note and keeps it.
        // A note and a lookup are short; the lock is not held longer.
        let found = {
            let locked = self.stores.layers.locked()?;
            self.note(&format!("reuse {chain}"))?;
            locked.get(&chain)
        };
        match found {
            Ok(_) => {
                self.diff_ids.push(diff_id.clone());
                self.top = Some(chain);
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Registers `blob` (an uncompressed or compressed tar) as the next layer, on top of the
    /// layers so far. When `expected` is given, the layer's diff id must be it; `what` says
    /// what was being done in errors ("loading layer 3f2a.../layer.tar"). Returns the layer's
    /// diff id.
    pub fn add(
        &mut self,
        blob: impl Read,
        expected: Option<&Digest>,
        what: &str,
    ) -> Result<Digest> {
        if let Some(d) = expected {
            self.note(&format!("reuse {}", self.next_chain(d)))?;
        }
        let (layers, top) = (self.stores.layers, self.top.clone());
        let layer = self.adopt(|note| {
            layers
                .register_noting(blob, top.as_ref(), note)
                .with_context(|| what.to_string())
        })?;
        if let Some(expected) = expected
            && &layer.diff_id != expected
        {
            bail!(
                "{what}: the layer has diff id {}, but the image config says {expected}",
                layer.diff_id
            );
        }
        Ok(layer.diff_id)
    }

    /// Takes the layer `register` makes (on top of the layers so far) as the next one: how a
    /// commit brings in the layer it makes from a container's changes. `register` hands the
    /// [`Note`] to the layer store (`register_noting`, `commit_rw_noting`...), which calls it
    /// only for a layer it is about to publish: content already stored is not this ingest's
    /// to remove.
    pub fn adopt(&mut self, register: impl FnOnce(Note<'_>) -> Result<Layer>) -> Result<Layer> {
        let mut new: Option<ChainId> = None;
        let (lease, path) = (&mut self.lease, self.lease_path.as_path());
        let layer = register(&mut |chain: &ChainId, noted: Noted| {
            // Under the store's lock. A new layer is noted before it exists: a kill from here
            // on leaves its name for the sweep. Stored content is noted before the lock goes,
            // so no sweep removes it under this ingest (as in `reuse`).
            let line = match noted {
                Noted::Adding => format!("add {chain}"),
                Noted::Reusing => format!("reuse {chain}"),
            };
            lease
                .note(&line)
                .map_err(|e| graph::Error::io("write", path, e))?;
            if noted == Noted::Adding {
                new = Some(chain.clone());
            }
            Ok(())
        })?;
        self.diff_ids.push(layer.diff_id.clone());
        self.top = Some(layer.chain_id.clone());
        if new.as_ref() == Some(&layer.chain_id) && !self.added.contains(&layer.chain_id) {
            self.added.push(layer.chain_id.clone());
        }
        Ok(layer)
    }

    fn note(&mut self, line: &str) -> Result<()> {
        (self.lease.note(line)).with_context(|| format!("writing {}", self.lease_path.display()))
    }

    /// The diff ids of the layers so far, bottom first.
    pub fn diff_ids(&self) -> &[Digest] {
        &self.diff_ids
    }

    /// Creates the image from its config's exact bytes, which must name exactly the layers of
    /// this ingest. From here on the layers belong to the image.
    pub fn commit(mut self, raw_config: &[u8]) -> Result<Image> {
        let config: graph::image::ImageConfig =
            serde_json::from_slice(raw_config).context("invalid image config")?;
        if config.rootfs.diff_ids != self.diff_ids {
            bail!(
                "the image config names {} layers ({}), but {} were stored ({})",
                config.rootfs.diff_ids.len(),
                short_list(&config.rootfs.diff_ids),
                self.diff_ids.len(),
                short_list(&self.diff_ids)
            );
        }
        let image = self.stores.images.create(raw_config)?;
        self.committed = true;
        Ok(image)
    }
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        for chain in self.added.iter().rev() {
            if let Err(e) = self.stores.layers.remove(chain) {
                tracing::warn!(%chain, error = %e, "cannot remove a layer of a failed ingest");
            }
        }
    }
}

fn short_list(ids: &[Digest]) -> String {
    ids.iter()
        .map(|d| d.hex().chars().take(12).collect::<String>())
        .collect::<Vec<_>>()
        .join(", ")
}
