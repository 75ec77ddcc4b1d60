//! The build cache: one small file per step key under `<image-root>/buildcache/`, holding the
//! id of the image the step produced. A key covers the parent image, the instruction after
//! expansion and, for COPY/ADD, the digest of the copied content; entries are written
//! atomically, and an entry whose image is gone is a miss.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use graph::Digest;
use sha2::{Digest as _, Sha256};

/// The cache directory.
#[derive(Debug)]
pub struct BuildCache {
    dir: PathBuf,
}

/// What a step's result depends on.
#[derive(Debug)]
pub struct Key(String);

impl Key {
    /// The key of a step on `parent` (`None`: scratch) running `instruction` over `content`.
    pub fn new(parent: Option<&Digest>, instruction: &str, content: &str) -> Key {
        let mut h = Sha256::new();
        h.update(b"engine-build-cache-v1\0");
        h.update(parent.map(|d| d.to_string()).unwrap_or_default().as_bytes());
        h.update([0]);
        h.update(instruction.as_bytes());
        h.update([0]);
        h.update(content.as_bytes());
        Key(hex::encode(h.finalize()))
    }
}

impl BuildCache {
    /// The cache under `image_root`.
    pub fn open(image_root: &Path) -> BuildCache {
        BuildCache {
            dir: image_root.join("buildcache"),
        }
    }

    /// The image recorded for `key`, if any.
    pub fn get(&self, key: &Key) -> Option<Digest> {
        let text = fs::read_to_string(self.dir.join(&key.0)).ok()?;
        text.trim().parse().ok()
    }

    /// Records that `key` produced `image`.
    pub fn put(&self, key: &Key, image: &Digest) -> Result<()> {
        fs::create_dir_all(&self.dir)?;
        graph::atomic_file::write_atomic(&self.dir.join(&key.0), image.to_string().as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_finds_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BuildCache::open(dir.path());
        let parent = Digest::of(b"parent");
        let key = Key::new(Some(&parent), "RUN true", "");
        assert!(cache.get(&key).is_none());
        let image = Digest::of(b"image");
        cache.put(&key, &image).unwrap();
        assert_eq!(
            cache.get(&Key::new(Some(&parent), "RUN true", "")),
            Some(image)
        );
        assert!(cache.get(&Key::new(None, "RUN true", "")).is_none());
        assert!(
            cache
                .get(&Key::new(Some(&parent), "RUN true", "x"))
                .is_none()
        );
    }
}
