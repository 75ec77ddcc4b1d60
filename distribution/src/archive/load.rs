//! `load`: images from a `docker save` archive (manifest.json, any Docker version) or an OCI
//! image layout (index.json + blobs/), layers plain, gzip or zstd.

use std::io::Read;

use anyhow::{Context, Result, bail};
use graph::Digest;
use graph::archive::DigestReader;
use graph::image::oci::{
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, Descriptor, Index, Manifest, Platform, is_index,
};
use graph::image::{ImageConfig, Reference};
use serde::Deserialize;

use super::source::Source;
use crate::ingest::{Ingest, Stores};
use crate::progress::{Progress, short};

/// JSON documents (manifests, configs) larger than this are refused.
const MAX_DOCUMENT: u64 = 16 << 20;

/// One entry of Docker's `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// A layer to load: the archive member and, for OCI blobs, the digest it must have.
struct LayerSource {
    member: String,
    blob_digest: Option<Digest>,
}

/// An image found in the archive.
struct Found {
    config_member: String,
    config_digest: Option<Digest>,
    layers: Vec<LayerSource>,
    tags: Vec<Reference>,
}

/// What loading reports for each image.
#[derive(Debug)]
pub enum Loaded {
    /// Tagged as this reference.
    Tag(Reference),
    /// Loaded without a tag.
    Id(Digest),
}

/// Loads every image in `source`; `on_event` hears what happens (messages Docker prints).
pub fn load(stores: Stores<'_>, source: &Source, progress: &Progress) -> Result<Vec<Loaded>> {
    let found = if source.has("manifest.json") {
        docker_images(source)?
    } else if source.has("index.json") {
        oci_images(source)?
    } else if source.has("repositories") {
        bail!(
            "invalid archive: a legacy (Docker 1.9 or older) archive without manifest.json is not supported"
        );
    } else {
        bail!(
            "invalid archive: neither manifest.json (docker save) nor index.json (OCI layout) found"
        );
    };
    if found.is_empty() {
        bail!("the archive holds no images");
    }
    let mut loaded = Vec::new();
    for image in found {
        loaded.extend(load_one(stores, source, image, progress)?);
    }
    Ok(loaded)
}

fn docker_images(source: &Source) -> Result<Vec<Found>> {
    let raw = source.read_member("manifest.json", MAX_DOCUMENT)?;
    let manifests: Vec<DockerManifest> =
        serde_json::from_slice(&raw).context("invalid archive: manifest.json")?;
    manifests
        .into_iter()
        .map(|m| {
            let tags = m
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| Reference::parse(t).with_context(|| format!("manifest.json: tag {t:?}")))
                .collect::<Result<_>>()?;
            Ok(Found {
                config_digest: digest_in_blob_path(&m.config),
                config_member: m.config,
                layers: m
                    .layers
                    .into_iter()
                    .map(|l| LayerSource {
                        blob_digest: None,
                        member: l,
                    })
                    .collect(),
                tags,
            })
        })
        .collect()
}

/// `blobs/sha256/<hex>` names its own digest; legacy names (`<hex>.json`) are checked by the
/// image id instead.
fn digest_in_blob_path(path: &str) -> Option<Digest> {
    let hex = path.strip_prefix("blobs/sha256/")?;
    format!("sha256:{hex}").parse().ok()
}

fn blob_member(d: &Descriptor) -> Result<String> {
    let (algo, hex) = d
        .digest
        .to_string()
        .split_once(':')
        .map(|(a, h)| (a.to_string(), h.to_string()))
        .context("digest")?;
    Ok(format!("blobs/{algo}/{hex}"))
}

/// Reads the blob `d` points to, checking its digest.
fn read_blob(source: &Source, d: &Descriptor) -> Result<Vec<u8>> {
    let raw = source.read_member(&blob_member(d)?, MAX_DOCUMENT)?;
    let actual = Digest::of(&raw);
    if actual != d.digest {
        bail!("invalid archive: blob {} has digest {actual}", d.digest);
    }
    Ok(raw)
}

fn oci_images(source: &Source) -> Result<Vec<Found>> {
    let raw = source.read_member("index.json", MAX_DOCUMENT)?;
    let index: Index = serde_json::from_slice(&raw).context("invalid archive: index.json")?;
    let mut found: Vec<(Digest, Found)> = Vec::new();
    for d in &index.manifests {
        let tag = tag_of(d);
        let manifest_desc = if is_index(&d.media_type) {
            let nested: Index = serde_json::from_slice(&read_blob(source, d)?)
                .with_context(|| format!("invalid archive: index {}", d.digest))?;
            nested.select(&Platform::host())?.clone()
        } else {
            d.clone()
        };
        if let Some((_, f)) = found.iter_mut().find(|(m, _)| *m == manifest_desc.digest) {
            f.tags.extend(tag);
            continue;
        }
        let manifest: Manifest = serde_json::from_slice(&read_blob(source, &manifest_desc)?)
            .with_context(|| format!("invalid archive: manifest {}", manifest_desc.digest))?;
        let layers = manifest
            .layers
            .iter()
            .map(|l| {
                Ok(LayerSource {
                    member: blob_member(l)?,
                    blob_digest: Some(l.digest.clone()),
                })
            })
            .collect::<Result<_>>()?;
        found.push((
            manifest_desc.digest.clone(),
            Found {
                config_member: blob_member(&manifest.config)?,
                config_digest: Some(manifest.config.digest.clone()),
                layers,
                tags: tag.into_iter().collect(),
            },
        ));
    }
    Ok(found.into_iter().map(|(_, f)| f).collect())
}

/// The tag an index entry names: a full reference (`io.containerd.image.name`, or a
/// `ref.name` that parses as one with a repository); a bare tag like `latest` names none.
fn tag_of(d: &Descriptor) -> Option<Reference> {
    if let Some(name) = d.annotations.get(ANNOTATION_IMAGE_NAME) {
        return Reference::parse(name).ok();
    }
    let name = d.annotations.get(ANNOTATION_REF_NAME)?;
    if name.contains(':') || name.contains('/') {
        Reference::parse(name).ok()
    } else {
        None
    }
}

fn load_one(
    stores: Stores<'_>,
    source: &Source,
    found: Found,
    progress: &Progress,
) -> Result<Vec<Loaded>> {
    let raw = source.read_member(&found.config_member, MAX_DOCUMENT)?;
    let id = Digest::of(&raw);
    if let Some(expected) = &found.config_digest
        && expected != &id
    {
        bail!(
            "invalid archive: config {} has digest {id}",
            found.config_member
        );
    }
    let config: ImageConfig = serde_json::from_slice(&raw)
        .with_context(|| format!("invalid archive: config {}", found.config_member))?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != found.layers.len() {
        bail!(
            "invalid archive: image {id} lists {} layers but its config has {} diff ids",
            found.layers.len(),
            diff_ids.len()
        );
    }
    let mut ingest = Ingest::new(stores)?;
    for (layer, diff_id) in found.layers.iter().zip(diff_ids) {
        load_layer(&mut ingest, source, layer, diff_id, progress)?;
    }
    let image = ingest
        .commit(&raw)
        .with_context(|| format!("invalid archive: config {}", found.config_member))?;
    if found.tags.is_empty() {
        return Ok(vec![Loaded::Id(image.id)]);
    }
    let mut loaded = Vec::new();
    for tag in found.tags {
        if let Some(old) = stores.images.lookup(&tag)?
            && old != image.id
        {
            progress.result(&format!(
                "The image {} already exists, renaming the old one with ID {old} to empty string",
                tag.familiar()
            ));
        }
        stores.images.tag(&tag, &image.id)?;
        loaded.push(Loaded::Tag(tag));
    }
    Ok(loaded)
}

/// Adds one layer of the archive to `ingest`, unless it is stored already.
fn load_layer(
    ingest: &mut Ingest<'_>,
    source: &Source,
    layer: &LayerSource,
    diff_id: &Digest,
    progress: &Progress,
) -> Result<()> {
    if ingest.reuse(diff_id)? {
        progress.status(&short(diff_id), "Already exists");
        return Ok(());
    }
    let id = short(diff_id);
    progress.start_bytes(&id, "Loading layer", source.member_size(&layer.member)?);
    let counted = Counted {
        inner: source.open_member(&layer.member)?,
        progress,
        id: &id,
    };
    let mut blob = DigestReader::new(counted);
    ingest
        .add(
            &mut blob as &mut dyn Read,
            Some(diff_id),
            &format!("loading layer {}", layer.member),
        )
        .context("invalid archive")?;
    if let Some(expected) = &layer.blob_digest
        && &blob.digest() != expected
    {
        bail!(
            "invalid archive: blob {} has digest {}",
            layer.member,
            blob.digest()
        );
    }
    progress.status(&id, "Loaded");
    Ok(())
}

/// A reader that reports how far it got.
struct Counted<'a, R> {
    inner: R,
    progress: &'a Progress,
    id: &'a str,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(self.id, n as u64);
        Ok(n)
    }
}
