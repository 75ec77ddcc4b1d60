//! Which compressed blob holds which layer in which repository, as Docker's distribution
//! metadata keeps it, so a push of a layer the repository already has needs only a HEAD
//! (no export, no compression).
//!
//! ```text
//! <image-root>/distribution/blobs.json
//! {"127.0.0.1:5000/app": {"sha256:<diff id>": {"digest": "sha256:...", "size": 123, "mediaType": "..."}}}
//! ```
//! It is a cache: a lost or stale entry only costs a recompression.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use graph::Digest;
use graph::store_lock::StoreLock;
use serde::{Deserialize, Serialize};

/// The compressed blob of a layer in one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobRef {
    /// The digest of the blob as stored (compressed).
    pub digest: Digest,
    /// The digest of the blob uncompressed: the layer's diff id as the registry's image
    /// config has it (a layer exported for a push may differ from the tar it was made from).
    pub diff_id: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// The blob's media type (gzip, zstd or plain tar layer).
    pub media_type: String,
}

type Entries = BTreeMap<String, BTreeMap<Digest, BlobRef>>;

/// The blob cache under an image root.
#[derive(Debug, Clone)]
pub struct BlobCache {
    dir: PathBuf,
}

impl BlobCache {
    /// The cache of the image root `<data-root>/image/<driver>`.
    pub fn new(image_root: PathBuf) -> Self {
        BlobCache {
            dir: image_root.join("distribution"),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("blobs.json")
    }

    fn read(&self) -> Entries {
        std::fs::read(self.file())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The blob recorded for `diff_id` in `repository` (`registry/path`).
    pub fn get(&self, repository: &str, diff_id: &Digest) -> Option<BlobRef> {
        self.read().get(repository)?.get(diff_id).cloned()
    }

    /// Records that `blob` holds layer `diff_id` in `repository`.
    pub fn record(&self, repository: &str, diff_id: &Digest, blob: &BlobRef) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let _lock = StoreLock::exclusive(&self.dir.join(".lock"))?;
        let mut entries = self.read();
        entries
            .entry(repository.to_string())
            .or_default()
            .insert(diff_id.clone(), blob.clone());
        let bytes = serde_json::to_vec(&entries)?;
        graph::atomic_file::write_atomic(&self.file(), &bytes)?;
        Ok(())
    }
}
