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

    /// `builder prune` (`POST /build/prune`): deletes the entries whose image is gone (with
    /// `all`, every entry) that `filter` selects, by the entry's write time for `until=`
    /// (entries carry no labels, so `label=` selects none and `label!=` all). Returns the
    /// keys deleted and the bytes freed.
    ///
    /// These entries are all the engine keeps apart from images: the images a build's
    /// steps made are ordinary untagged images in the image store (`images -a` lists them),
    /// which `image prune` and `rmi` of the final image remove, and whose size `system df`
    /// counts under images.
    pub fn prune(
        &self,
        all: bool,
        filter: &crate::prune::PruneFilter,
        image_exists: impl Fn(&Digest) -> bool,
    ) -> Result<(Vec<String>, u64)> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("reading {}", self.dir.display()))
                );
            }
        };
        let no_labels = std::collections::BTreeMap::new();
        let mut deleted = Vec::new();
        let mut freed = 0;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Only whole entries: an atomic write's temp file is not one.
            if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let dangling = self
                .get(&Key(name.clone()))
                .is_none_or(|id| !image_exists(&id));
            if !(all || dangling)
                || !filter.old_enough(meta.modified().ok())
                || !filter.matches_labels(&no_labels)
            {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("removing {}", entry.path().display())));
                }
            }
            freed += meta.len();
            deleted.push(name);
        }
        deleted.sort();
        Ok((deleted, freed))
    }

    /// The entries and their bytes (`system df`'s build cache).
    pub fn usage(&self) -> Vec<(String, u64, Option<std::time::SystemTime>)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<_> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let meta = e.metadata().ok()?;
                (name.len() == 64).then(|| (name, meta.len(), meta.modified().ok()))
            })
            .collect();
        out.sort();
        out
    }
}

/// `POST /build/prune` and `engine builder prune`: the engine's build cache for its driver
/// (`<data-root>/image/<driver>/buildcache/`), pruned per [`BuildCache::prune`].
pub fn prune(engine: &crate::Engine, all: bool, filters: &[String]) -> Result<(Vec<String>, u64)> {
    use crate::prune::{Kind, PruneFilter};
    let filter = PruneFilter::parse(Kind::BuildCache, filters)?;
    cache_of(engine).prune(all, &filter, |id| engine.images.get(id).is_ok())
}

/// The engine's build cache.
pub fn cache_of(engine: &crate::Engine) -> BuildCache {
    BuildCache::open(
        &engine
            .settings
            .data_root
            .join("image")
            .join(engine.driver.name()),
    )
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
