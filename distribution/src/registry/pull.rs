//! `pull`: manifest (a list picks the platform), config, then layers, three downloads at a time
//! into temp files under `<data-root>/tmp`, each applied in order as soon as it and the layers
//! below it are in. The image is made from the config's exact bytes, so its id is the config
//! digest; the tag and the repo digest (`name@sha256:...`) point at it.
//!
//! On failure nothing half-stored remains: the layers this pull registered that no image holds
//! are removed, and the temp directory goes with its guard.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use graph::Digest;
use graph::image::{ImageConfig, Reference};

use super::manifest::{Descriptor, ImageManifest, Manifest, Platform};
use super::metadata::{BlobCache, BlobRef};
use super::repository::Repository;
use crate::ingest::{Ingest, Stores};
use crate::progress::{Progress, short};

/// Docker pulls three layers at a time.
const PARALLEL_DOWNLOADS: usize = 3;

/// What `pull` was asked for.
#[derive(Debug)]
pub struct PullRequest {
    /// The image asked for: repository and tag or digest.
    pub reference: Reference,
    /// The platform asked for with `--platform` (None: this host's, and no check of a single
    /// manifest's platform).
    pub platform: Option<Platform>,
}

/// Pulls an image into the engine's stores, reporting to `progress`.
pub fn pull(
    stores: Stores<'_>,
    repo: &Repository,
    request: &PullRequest,
    progress: &Progress,
) -> Result<()> {
    let reference = &request.reference;
    let wanted = request.platform.clone().unwrap_or_else(Platform::host);
    let tag_or_digest = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    };
    progress.line_for(&tag_or_digest, &format!("Pulling from {}", repo.path));
    let top = repo.manifest(&tag_or_digest)?;
    let repo_digest = top.digest.clone();
    let manifest: ImageManifest = match top.manifest {
        Manifest::Image(m) => m,
        Manifest::Index(index) => {
            let entry = index.select(&wanted)?;
            let fetched = repo.manifest(&entry.digest.to_string())?;
            match fetched.manifest {
                Manifest::Image(m) => m,
                Manifest::Index(_) => bail!(
                    "manifest {} in the list of {} is itself a list",
                    entry.digest,
                    reference.familiar()
                ),
            }
        }
    };
    let config_bytes = repo.small_blob(&manifest.config.digest)?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .with_context(|| format!("invalid image config {}", manifest.config.digest))?;
    if let Some(p) = &request.platform {
        let actual = config.platform();
        if !p.matches(&actual) {
            bail!(
                "image with reference {} was found but does not match the specified platform: wanted {p}, actual: {actual}",
                reference.familiar()
            );
        }
    }
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        bail!(
            "image {} is inconsistent: its manifest has {} layers, its config {}",
            reference.familiar(),
            manifest.layers.len(),
            diff_ids.len()
        );
    }
    let image_id = Digest::of(&config_bytes);
    let had_image = stores.images.get(&image_id).is_ok();
    let previous = match reference.digest() {
        Some(_) => None,
        None => stores.images.lookup(reference)?,
    };
    let mut ingest = Ingest::new(stores)?;
    let mut present = 0;
    while present < diff_ids.len() && ingest.reuse(&diff_ids[present])? {
        present += 1;
    }
    if !had_image || present < diff_ids.len() {
        for layer in &manifest.layers[..present] {
            progress.status(&short(&layer.digest), "Already exists");
        }
        let plan = LayerPlan {
            stores,
            repo,
            layers: &manifest.layers,
            diff_ids,
            first: present,
            progress,
        };
        plan.fetch(&mut ingest)?;
        ingest.commit(&config_bytes)?;
    }
    let digest_ref = Reference::parse(&format!("{}@{repo_digest}", reference.familiar_name()))?;
    stores.images.tag(&digest_ref, &image_id)?;
    if reference.digest().is_none() {
        stores.images.tag(reference, &image_id)?;
    }
    progress.line(&format!("Digest: {repo_digest}"));
    let up_to_date = had_image && (reference.digest().is_some() || previous == Some(image_id));
    if up_to_date {
        progress.line(&format!(
            "Status: Image is up to date for {}",
            reference.familiar()
        ));
    } else {
        progress.line(&format!(
            "Status: Downloaded newer image for {}",
            reference.familiar()
        ));
    }
    Ok(())
}

/// The layers of one pull: what to fetch (`first..`) and where each goes.
struct LayerPlan<'a> {
    stores: Stores<'a>,
    repo: &'a Repository,
    layers: &'a [Descriptor],
    diff_ids: &'a [Digest],
    /// Layers below this one are already stored.
    first: usize,
    progress: &'a Progress,
}

impl LayerPlan<'_> {
    /// Downloads the missing layers in parallel and adds them to `ingest` in order.
    fn fetch(&self, ingest: &mut Ingest<'_>) -> Result<()> {
        let (layers, first, progress) = (self.layers, self.first, self.progress);
        if first == layers.len() {
            return Ok(());
        }
        for layer in &layers[first..] {
            progress.status(&short(&layer.digest), "Pulling fs layer");
        }
        let tmp = crate::owned::Scratch::new(self.stores.data_root, "pull")?;
        let next = AtomicUsize::new(first);
        let cancel = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel::<(usize, Result<PathBuf>)>();
        let applied = std::thread::scope(|scope| {
            for _ in 0..PARALLEL_DOWNLOADS.min(layers.len() - first) {
                let tx = tx.clone();
                let (next, cancel, tmp) = (&next, &cancel, tmp.path());
                scope.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= layers.len() || cancel.load(Ordering::Relaxed) {
                            break;
                        }
                        let got = self.download(i, tmp, cancel);
                        if tx.send((i, got)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let applied = self.apply_in_order(&rx, ingest);
            if applied.is_err() {
                cancel.store(true, Ordering::Relaxed);
            }
            applied
        });
        if applied.is_ok() {
            self.record_blobs();
        }
        applied
    }

    /// Downloads layer `i` into `tmp`; returns the file.
    fn download(&self, i: usize, tmp: &Path, cancel: &AtomicBool) -> Result<PathBuf> {
        let layer = &self.layers[i];
        let id = short(&layer.digest);
        let path = tmp.join(layer.digest.hex());
        self.progress.start_bytes(&id, "Downloading", layer.size);
        self.repo.blob_to_file(&layer.digest, &path, cancel, |n| {
            self.progress.advance(&id, n)
        })?;
        self.progress.status(&id, "Verifying Checksum");
        self.progress.status(&id, "Download complete");
        Ok(path)
    }

    /// Adds the downloaded layers bottom up, each as soon as it is in.
    fn apply_in_order(
        &self,
        rx: &mpsc::Receiver<(usize, Result<PathBuf>)>,
        ingest: &mut Ingest<'_>,
    ) -> Result<()> {
        let mut ready: BTreeMap<usize, PathBuf> = BTreeMap::new();
        let todo = self.layers.iter().zip(self.diff_ids).enumerate();
        for (i, (layer, diff_id)) in todo.skip(self.first) {
            while !ready.contains_key(&i) {
                let (j, got) = rx
                    .recv()
                    .context("the layer downloads stopped without a result")?;
                ready.insert(j, got?);
            }
            let Some(path) = ready.remove(&i) else {
                bail!("layer {i} was lost between download and extraction");
            };
            let id = short(&layer.digest);
            self.progress.status(&id, "Extracting");
            let file = std::fs::File::open(&path)
                .with_context(|| format!("opening downloaded layer {}", path.display()))?;
            ingest.add(
                file,
                Some(diff_id),
                &format!("applying layer {}", layer.digest),
            )?;
            let _ = std::fs::remove_file(&path);
            self.progress.status(&id, "Pull complete");
        }
        Ok(())
    }

    /// Remembers which blob holds each layer in this repository (for later pushes).
    fn record_blobs(&self) {
        let cache = BlobCache::new(self.stores.image_root());
        let repo_key = format!("{}/{}", self.repo.client.registry(), self.repo.path);
        for (i, layer) in self.layers.iter().enumerate().skip(self.first) {
            let blob = BlobRef {
                digest: layer.digest.clone(),
                diff_id: self.diff_ids[i].clone(),
                size: layer.size,
                media_type: layer.media_type.clone(),
            };
            if let Err(e) = cache.record(&repo_key, &self.diff_ids[i], &blob) {
                tracing::warn!(error = %e, "cannot record the blob of a pulled layer");
            }
        }
    }
}
