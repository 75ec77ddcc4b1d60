//! `save`: images to one tar that both Docker's loader (manifest.json) and OCI tools
//! (index.json + blobs/) read, the layout Docker 25 writes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use anyhow::{Context, Result, bail};
use graph::Digest;
use graph::archive::DigestWriter;
use graph::image::oci::{
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, Descriptor, Index, Manifest, OCI_CONFIG, OCI_INDEX,
    OCI_LAYER, OCI_MANIFEST,
};
use graph::image::{Image, Reference};
use serde::Serialize;

use crate::ingest::Stores;

/// Which index files the archive carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `manifest.json` for `docker load` (any version) plus the OCI layout.
    Docker,
    /// The OCI image layout only.
    Oci,
}

/// One entry of Docker's `manifest.json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// An image to save and the tags it is saved under.
struct Saved {
    image: Image,
    tags: Vec<Reference>,
}

/// The images `names` resolve to, each once, with the tags asked for (an id gives none).
fn resolve(stores: Stores<'_>, names: &[String]) -> Result<Vec<Saved>> {
    let mut saved: Vec<Saved> = Vec::new();
    for name in names {
        let image = stores
            .images
            .resolve(name)
            .with_context(|| format!("reference does not exist: {name}"))?;
        let tag = Reference::parse(name)
            .ok()
            .filter(|r| r.digest().is_none())
            .filter(|r| stores.images.lookup(r).ok().flatten().as_ref() == Some(&image.id));
        match saved.iter_mut().find(|s| s.image.id == image.id) {
            Some(s) => s.tags.extend(tag.filter(|t| !s.tags.contains(t))),
            None => saved.push(Saved {
                image,
                tags: tag.into_iter().collect(),
            }),
        }
    }
    Ok(saved)
}

/// Writes the images `names` to `out` as one uncompressed tar; returns the ids saved.
pub fn save(
    stores: Stores<'_>,
    names: &[String],
    format: Format,
    out: &mut dyn Write,
) -> Result<Vec<Digest>> {
    if names.is_empty() {
        bail!("save needs at least one image");
    }
    let saved = resolve(stores, names)?;
    let mut tar = TarOut::new(out);
    tar.dir("blobs/")?;
    tar.dir("blobs/sha256/")?;
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut docker = Vec::new();
    let mut index = Vec::new();
    for s in &saved {
        let image = &s.image;
        let mut layers = Vec::new();
        let diff_ids = &image.config.rootfs.diff_ids;
        for (diff_id, chain) in diff_ids.iter().zip(graph::image::chain_ids(diff_ids)) {
            let size = write_layer(stores, &mut tar, &chain, diff_id, &mut written)
                .with_context(|| format!("saving layer {diff_id} of image {}", image.id))?;
            layers.push(descriptor(OCI_LAYER, diff_id.clone(), size));
        }
        tar.blob(&image.id, &image.raw, &mut written)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.into()),
            config: descriptor(OCI_CONFIG, image.id.clone(), image.raw.len() as u64),
            layers,
            annotations: BTreeMap::new(),
        };
        let manifest_raw = serde_json::to_vec(&manifest)?;
        let manifest_digest = Digest::of(&manifest_raw);
        tar.blob(&manifest_digest, &manifest_raw, &mut written)?;
        let manifest_desc = descriptor(
            OCI_MANIFEST,
            manifest_digest.clone(),
            manifest_raw.len() as u64,
        );
        if s.tags.is_empty() {
            index.push(manifest_desc.clone());
        }
        for tag in &s.tags {
            let mut d = manifest_desc.clone();
            d.annotations
                .insert(ANNOTATION_IMAGE_NAME.into(), tag.to_string());
            d.annotations.insert(
                ANNOTATION_REF_NAME.into(),
                tag.tag().unwrap_or("latest").to_string(),
            );
            index.push(d);
        }
        docker.push(DockerManifest {
            config: blob_path(&image.id),
            repo_tags: s.tags.iter().map(|t| t.familiar()).collect(),
            layers: image.config.rootfs.diff_ids.iter().map(blob_path).collect(),
        });
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(OCI_INDEX.into()),
        manifests: index,
        annotations: BTreeMap::new(),
    };
    tar.file("index.json", &serde_json::to_vec(&index)?)?;
    if format == Format::Docker {
        tar.file("manifest.json", &serde_json::to_vec(&docker)?)?;
    }
    tar.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar.finish()?;
    Ok(saved.into_iter().map(|s| s.image.id).collect())
}

fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest,
        size,
        annotations: BTreeMap::new(),
        platform: None,
    }
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// Writes the layer `chain` as blob `diff_id` (once per archive); returns its size.
fn write_layer(
    stores: Stores<'_>,
    tar: &mut TarOut<'_>,
    chain: &graph::ChainId,
    diff_id: &Digest,
    written: &mut BTreeSet<Digest>,
) -> Result<u64> {
    let size = match stores.layers.export_size(chain)? {
        Some(size) => size,
        // No tar-split record: the driver makes the tar, so measure it first.
        None => {
            let mut counter = DigestWriter::new(io::sink());
            stores.layers.export(chain, &mut counter)?;
            if &counter.digest() != diff_id {
                bail!(
                    "the layer's files give {} rather than its diff id; it cannot be saved",
                    counter.digest()
                );
            }
            counter.count()
        }
    };
    if !written.insert(diff_id.clone()) {
        return Ok(size);
    }
    tar.header(&blob_path(diff_id), size, tar::EntryType::Regular)?;
    let mut counted = DigestWriter::new(&mut *tar.out);
    stores.layers.export(chain, &mut counted)?;
    if counted.count() != size {
        bail!(
            "the layer gave {} bytes, not the {size} announced",
            counted.count()
        );
    }
    tar.pad(size)?;
    Ok(size)
}

/// A tar written entry by entry, for content that streams.
struct TarOut<'a> {
    out: &'a mut dyn Write,
}

impl<'a> TarOut<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        TarOut { out }
    }

    fn header(&mut self, path: &str, size: u64, kind: tar::EntryType) -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        h.set_mtime(0);
        h.set_path(path)
            .with_context(|| format!("archive path {path}"))?;
        h.set_cksum();
        self.out.write_all(h.as_bytes())?;
        Ok(())
    }

    fn pad(&mut self, size: u64) -> Result<()> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    fn dir(&mut self, path: &str) -> Result<()> {
        self.header(path, 0, tar::EntryType::Directory)
    }

    fn file(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.header(path, bytes.len() as u64, tar::EntryType::Regular)?;
        self.out.write_all(bytes)?;
        self.pad(bytes.len() as u64)
    }

    fn blob(
        &mut self,
        digest: &Digest,
        bytes: &[u8],
        written: &mut BTreeSet<Digest>,
    ) -> Result<()> {
        if written.insert(digest.clone()) {
            self.file(&blob_path(digest), bytes)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        self.out.write_all(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(())
    }
}
