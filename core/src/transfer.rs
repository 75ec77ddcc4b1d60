//! Images in and out through `distribution`, recorded in the event journal as they complete:
//! the CLI and the API call these, never `distribution` directly, so every pull, push, load
//! and save is one event whoever asked for it.

use std::io::Write;

use anyhow::Result;
use distribution::archive::{self, Format, Loaded, Source};
use distribution::progress::Progress;
use distribution::registry::repository::Repository;
use distribution::registry::{pull, push};
use graph::Digest;
use graph::image::Reference;

use crate::engine::Engine;
use crate::events;

/// `pull`: the image `request` names from `repo` into the stores.
pub fn pull(
    engine: &Engine,
    repo: &Repository,
    request: &pull::PullRequest,
    progress: &Progress,
) -> Result<()> {
    pull::pull(engine.stores(), repo, request, progress)?;
    let image = labelled(engine, &request.reference);
    events::pulled(
        &engine.settings.data_root,
        "pull",
        &request.reference,
        image.as_ref(),
    );
    Ok(())
}

/// `push`: `reference` to `repo`; returns the manifest's digest and size.
pub fn push(
    engine: &Engine,
    repo: &Repository,
    reference: &Reference,
    progress: &Progress,
) -> Result<(Digest, usize)> {
    let pushed = push::push(engine.stores(), repo, reference, progress)?;
    let image = labelled(engine, reference);
    events::pulled(
        &engine.settings.data_root,
        "push",
        reference,
        image.as_ref(),
    );
    Ok(pushed)
}

/// `save`: the images `names` as one tar in `format`.
pub fn save(engine: &Engine, names: &[String], format: Format, out: &mut dyn Write) -> Result<()> {
    for id in archive::save(engine.stores(), names, format, out)? {
        if let Ok(image) = engine.images.get(&id) {
            events::image_plain(&engine.settings.data_root, "save", &image);
        }
    }
    Ok(())
}

/// `load`: every image of an archive (Docker's or an OCI layout).
pub fn load(engine: &Engine, source: &Source, progress: &Progress) -> Result<Vec<Loaded>> {
    let loaded = archive::load(engine.stores(), source, progress)?;
    let mut ids: Vec<Digest> = Vec::new();
    for l in &loaded {
        let id = match l {
            Loaded::Id(id) => Some(id.clone()),
            Loaded::Tag(r) => engine.images.lookup(r)?,
        };
        if let Some(id) = id
            && !ids.contains(&id)
        {
            if let Ok(image) = engine.images.get(&id) {
                events::image_plain(&engine.settings.data_root, "load", &image);
            }
            ids.push(id);
        }
    }
    Ok(loaded)
}

/// The image `reference` names now, for its labels in a pull's or push's event.
fn labelled(engine: &Engine, reference: &Reference) -> Option<graph::image::Image> {
    let id = engine.images.lookup(reference).ok()??;
    engine.images.get(&id).ok()
}
