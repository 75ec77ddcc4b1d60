//! `push`: each layer exported from the layer store and gzip-compressed into a temp file while
//! hashed, uploaded unless the registry has it (HEAD first), then the config blob (the image's
//! exact config bytes), then a Docker v2 schema 2 manifest under the tag.
//!
//! A layer the repository got before (pushed or pulled, see [`super::metadata`]) is checked
//! with a HEAD of its known blob and not compressed again.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use graph::image::Reference;
use graph::{ChainId, Digest, chain_id};
use sha2::{Digest as _, Sha256};

use super::client::RequestBody;
use super::manifest::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, Descriptor, ImageManifest,
};
use super::metadata::{BlobCache, BlobRef};
use super::repository::Repository;
use crate::engine::Engine;
use crate::progress::{Progress, short};

/// A writer that hashes and counts what goes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Exports layer `chain` as a gzip tar into `out`; returns the blob's digest and size.
fn compress_layer(engine: &Engine, chain: &ChainId, out: &Path) -> Result<(Digest, u64)> {
    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let hashing = HashingWriter {
        inner: file,
        hasher: Sha256::new(),
        written: 0,
    };
    let mut gz = GzEncoder::new(hashing, Compression::default());
    engine
        .layers
        .export(chain, &mut gz)
        .with_context(|| format!("exporting layer {chain}"))?;
    let hashing = gz
        .finish()
        .with_context(|| format!("compressing layer {chain} into {}", out.display()))?;
    hashing
        .inner
        .sync_all()
        .with_context(|| format!("writing {}", out.display()))?;
    Ok((Digest::from_sha256(hashing.hasher), hashing.written))
}

/// Pushes the image tagged `reference`; returns the manifest's digest and size.
pub fn push(
    engine: &Engine,
    repo: &Repository,
    reference: &Reference,
    progress: &Progress,
) -> Result<(Digest, usize)> {
    let Some(id) = engine.images.lookup(reference)? else {
        anyhow::bail!(
            "An image does not exist locally with the tag: {}",
            reference.familiar()
        );
    };
    let image = engine.images.get(&id)?;
    let tag = reference.tag().unwrap_or("latest");
    progress.line(&format!(
        "The push refers to repository [{}/{}]",
        reference.domain(),
        reference.path()
    ));
    let diff_ids = &image.config.rootfs.diff_ids;
    let chains: Vec<ChainId> = diff_ids
        .iter()
        .scan(None, |parent: &mut Option<ChainId>, d| {
            let c = chain_id(parent.as_ref(), d);
            *parent = Some(c.clone());
            Some(c)
        })
        .collect();
    for d in diff_ids.iter().rev() {
        progress.status(&short(d), "Preparing");
    }
    let tmp_root = engine.settings.data_root.join("tmp");
    std::fs::create_dir_all(&tmp_root)
        .with_context(|| format!("creating {}", tmp_root.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("push-")
        .tempdir_in(&tmp_root)
        .with_context(|| format!("creating a temp directory in {}", tmp_root.display()))?;
    let cache = BlobCache::new(super::image_root(engine));
    let repo_key = format!("{}/{}", repo.client.registry(), repo.path);
    let mut layers = Vec::new();
    for (diff_id, chain) in diff_ids.iter().zip(&chains) {
        let id = short(diff_id);
        if let Some(known) = cache.get(&repo_key, diff_id)
            && repo.has_blob(&known.digest)?
        {
            progress.status(&id, "Layer already exists");
            layers.push(Descriptor {
                media_type: known.media_type,
                size: known.size,
                digest: known.digest,
                platform: None,
            });
            continue;
        }
        let path = tmp.path().join(diff_id.hex());
        let (digest, size) = compress_layer(engine, chain, &path)?;
        if repo.has_blob(&digest)? {
            progress.status(&id, "Layer already exists");
        } else {
            progress.start_bytes(&id, "Pushing", size);
            repo.upload_blob(&digest, RequestBody::File(&path))?;
            progress.advance(&id, size);
            progress.status(&id, "Pushed");
        }
        let _ = std::fs::remove_file(&path);
        let blob = BlobRef {
            digest,
            size,
            media_type: DOCKER_LAYER_GZIP.to_string(),
        };
        if let Err(e) = cache.record(&repo_key, diff_id, &blob) {
            tracing::warn!(error = %e, "cannot record the blob of a pushed layer");
        }
        layers.push(Descriptor {
            media_type: blob.media_type,
            size: blob.size,
            digest: blob.digest,
            platform: None,
        });
    }
    if !repo.has_blob(&image.id)? {
        repo.upload_blob(&image.id, RequestBody::Bytes(&image.raw))?;
    }
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(DOCKER_MANIFEST.to_string()),
        config: Descriptor {
            media_type: DOCKER_CONFIG.to_string(),
            size: image.raw.len() as u64,
            digest: image.id.clone(),
            platform: None,
        },
        layers,
    };
    let bytes = serde_json::to_vec_pretty(&manifest)?;
    let digest = repo.put_manifest(tag, DOCKER_MANIFEST, &bytes)?;
    let digest_ref = Reference::parse(&format!("{}@{digest}", reference.familiar_name()))?;
    engine.images.tag(&digest_ref, &image.id)?;
    progress.line(&format!("{tag}: digest: {digest} size: {}", bytes.len()));
    Ok((digest, bytes.len()))
}
