//! `push`: each layer exported from the layer store and gzip-compressed into a temp file while
//! hashed, uploaded unless the registry has it (HEAD first), then the config blob (the image's
//! exact config bytes), then a Docker v2 schema 2 manifest under the tag.
//!
//! A layer the repository got before (pushed or pulled, see [`super::metadata`]) is checked
//! with a HEAD of its known blob and not compressed again.
//!
//! A layer exports as the very tar it was registered from (its tar-split record), so the
//! pushed config is the image's own and the registry's image id is the local one. Only a
//! layer stored without a tar-split (by an older engine) may export differently; the pushed
//! config then carries the exported diff ids, so what the registry holds is self-consistent,
//! and no repo digest is recorded locally for it.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use graph::archive::DigestWriter;
use graph::image::Reference;
use graph::{ChainId, Digest};

use super::client::RequestBody;
use super::manifest::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, Descriptor, ImageManifest,
};
use super::metadata::{BlobCache, BlobRef};
use super::repository::Repository;
use crate::engine::Engine;
use crate::progress::{Progress, short};

/// Exports layer `chain` as a gzip tar into `out`; returns the blob (digest, size, and the
/// digest of the tar inside).
fn compress_layer(engine: &Engine, chain: &ChainId, out: &Path) -> Result<BlobRef> {
    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let gz = GzEncoder::new(DigestWriter::new(file), Compression::default());
    let mut plain = DigestWriter::new(gz);
    engine
        .layers
        .export(chain, &mut plain)
        .with_context(|| format!("exporting layer {chain}"))?;
    let diff_id = plain.digest();
    let compressed = plain
        .into_inner()
        .finish()
        .with_context(|| format!("compressing layer {chain} into {}", out.display()))?;
    let (digest, size) = (compressed.digest(), compressed.count());
    compressed
        .into_inner()
        .sync_all()
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(BlobRef {
        digest,
        size,
        media_type: DOCKER_LAYER_GZIP.to_string(),
        diff_id,
    })
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
    let chains = graph::image::chain_ids(diff_ids);
    for d in diff_ids.iter().rev() {
        progress.status(&short(d), "Preparing");
    }
    let tmp = crate::owned::Scratch::new(&engine.settings.data_root, "push")?;
    let cache = BlobCache::new(super::image_root(engine));
    let repo_key = format!("{}/{}", repo.client.registry(), repo.path);
    let mut blobs = Vec::new();
    for (diff_id, chain) in diff_ids.iter().zip(&chains) {
        let id = short(diff_id);
        if let Some(known) = cache.get(&repo_key, diff_id)
            && repo.has_blob(&known.digest)?
        {
            progress.status(&id, "Layer already exists");
            blobs.push(known);
            continue;
        }
        let path = tmp.path().join(diff_id.hex());
        let blob = compress_layer(engine, chain, &path)?;
        if repo.has_blob(&blob.digest)? {
            progress.status(&id, "Layer already exists");
        } else {
            progress.start_bytes(&id, "Pushing", blob.size);
            repo.upload_blob(&blob.digest, RequestBody::File(&path))?;
            progress.advance(&id, blob.size);
            progress.status(&id, "Pushed");
        }
        let _ = std::fs::remove_file(&path);
        if let Err(e) = cache.record(&repo_key, diff_id, &blob) {
            tracing::warn!(error = %e, "cannot record the blob of a pushed layer");
        }
        blobs.push(blob);
    }
    let exported: Vec<Digest> = blobs.iter().map(|b| b.diff_id.clone()).collect();
    let config_bytes = if &exported == diff_ids {
        image.raw.clone()
    } else {
        tracing::debug!(
            "exported layers differ from the image's; pushing a config with their diff ids"
        );
        let mut config: serde_json::Value = serde_json::from_slice(&image.raw)
            .with_context(|| format!("image config {}", image.id))?;
        config["rootfs"]["diff_ids"] = serde_json::to_value(&exported)?;
        serde_json::to_vec(&config)?
    };
    let config_digest = Digest::of(&config_bytes);
    if !repo.has_blob(&config_digest)? {
        repo.upload_blob(&config_digest, RequestBody::Bytes(&config_bytes))?;
    }
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(DOCKER_MANIFEST.to_string()),
        config: Descriptor {
            media_type: DOCKER_CONFIG.to_string(),
            size: config_bytes.len() as u64,
            digest: config_digest.clone(),
            platform: None,
            annotations: Default::default(),
        },
        layers: blobs
            .into_iter()
            .map(|b| Descriptor {
                media_type: b.media_type,
                size: b.size,
                digest: b.digest,
                platform: None,
                annotations: Default::default(),
            })
            .collect(),
        annotations: Default::default(),
    };
    let bytes = serde_json::to_vec_pretty(&manifest)?;
    let digest = repo.put_manifest(tag, DOCKER_MANIFEST, &bytes)?;
    if config_digest == image.id {
        let digest_ref = Reference::parse(&format!("{}@{digest}", reference.familiar_name()))?;
        engine.images.tag(&digest_ref, &image.id)?;
    }
    progress.line(&format!("{tag}: digest: {digest} size: {}", bytes.len()));
    crate::events::pulled(&engine.settings.data_root, "push", reference);
    Ok((digest, bytes.len()))
}
