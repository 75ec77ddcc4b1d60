//! `--cache-from`: images (pulled, loaded) whose history serves as the build cache, as
//! Docker's classic builder uses them. A step is served by a source image when the source
//! starts with the current image's history and layers and its next history entry is the
//! step's instruction; the step's image is then remade from that entry (and its layer, which
//! the source brings) without running anything. With sources given, a hit in the local
//! cache counts only when it is an ancestor of a source, as in Docker.

use anyhow::Result;
use graph::Digest;
use graph::image::{Image, ImageConfig};

use super::Builder;

impl Builder<'_> {
    /// The `--cache-from` images that are here; one that is not is reported and skipped,
    /// as Docker does.
    pub(super) fn cache_from_sources(&self) -> Vec<Image> {
        let mut out = Vec::new();
        for name in &self.opts.cache_from {
            match self.engine.images.resolve(name) {
                Ok(image) => out.push(image),
                Err(e) => self.say(&format!("Could not look up {name} : {e}")),
            }
        }
        out
    }

    /// Whether the local cache's hit `id` may be used: always without sources; with them,
    /// only when it is one of theirs or an ancestor of one.
    pub(super) fn local_hit_allowed(&self, id: &Digest) -> bool {
        if self.cache_sources.is_empty() {
            return true;
        }
        self.cache_sources.iter().any(|s| {
            let mut at = Some(s.id.clone());
            // Bounded by the chain's length: each image has one parent.
            for _ in 0..10_000 {
                match at {
                    Some(ref d) if d == id => return true,
                    Some(ref d) => at = self.engine.images.parent(d).ok().flatten(),
                    None => return false,
                }
            }
            false
        })
    }

    /// The image of a step with history entry `created_by` and config `after`, remade from a
    /// source image whose history continues the current image's with it; `None`: no source
    /// does.
    pub(super) fn hit_in_cache_sources(
        &mut self,
        created_by: &str,
        after: &ImageConfig,
    ) -> Result<Option<Image>> {
        let current = self.stage().config.clone();
        let depth = current.history.len();
        let mut found = None;
        for source in &self.cache_sources {
            let sc = &source.config;
            let continues = sc.history.len() > depth
                && sc.rootfs.diff_ids.len() >= current.rootfs.diff_ids.len()
                && sc.history[..depth] == current.history[..]
                && sc.rootfs.diff_ids[..current.rootfs.diff_ids.len()]
                    == current.rootfs.diff_ids[..]
                && sc.history[depth].created_by.as_deref() == Some(created_by);
            if continues {
                found = Some(source.clone());
                break;
            }
        }
        let Some(source) = found else {
            return Ok(None);
        };
        let entry = source.config.history[depth].clone();
        if source.config.history.len() == depth + 1 {
            // The source's last step: the source itself, as Docker returns it.
            if let Some(parent) = self.parent() {
                self.engine.images.set_parent(&source.id, &parent)?;
            }
            return Ok(Some(source));
        }
        let mut config = after.clone();
        config.rootfs.diff_ids = current.rootfs.diff_ids.clone();
        if !entry.empty_layer {
            // The entry's layer: the source's layer after those of its earlier layer steps.
            let index = source.config.history[..depth]
                .iter()
                .filter(|h| !h.empty_layer)
                .count();
            if let Some(layer) = source.config.rootfs.diff_ids.get(index) {
                config.rootfs.diff_ids.push(layer.clone());
            }
        }
        config.created = entry.created.clone();
        config.history = current.history.clone();
        config.history.push(entry);
        let image = self.engine.images.create(&serde_json::to_vec(&config)?)?;
        if let Some(parent) = self.parent() {
            self.engine.images.set_parent(&image.id, &parent)?;
        }
        // Later steps follow this source only, as Docker does.
        self.cache_sources = vec![source];
        Ok(Some(image))
    }
}
