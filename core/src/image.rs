//! Image commands: import, images, tag, rmi, history, image inspect/prune.

use std::collections::BTreeSet;
use std::io::Read;

use anyhow::{Result, bail};
use graph::image::{History, Image, ImageConfig, Reference, RunConfig};
use graph::{ChainId, ErrorKind};
use serde_json::json;

use crate::engine::Engine;
use distribution::ingest::Ingest;

/// The 12-hex-digit id Docker shows, or the full `sha256:` id.
pub fn short_id(image: &Image, no_trunc: bool) -> String {
    if no_trunc {
        image.id.to_string()
    } else {
        image.id.hex()[..12].to_string()
    }
}

pub fn image_size(engine: &Engine, image: &Image) -> u64 {
    let mut size = 0;
    let mut chain = image.top_layer();
    while let Some(c) = chain {
        match engine.layers.get(&c) {
            Ok(layer) => {
                size += layer.size;
                chain = layer.parent;
            }
            Err(_) => break,
        }
    }
    size
}

/// An image of one layer from the rootfs tarball `input` (`source` names it in the
/// history), with `run_config`, tagged `reference`.
pub fn import_from(
    engine: &Engine,
    input: Box<dyn Read + '_>,
    source: &str,
    reference: Option<&Reference>,
    run_config: RunConfig,
    message: Option<String>,
) -> Result<Image> {
    let mut ingest = Ingest::new(engine.stores())?;
    let diff_id = ingest.add(input, None, &format!("importing {source}"))?;
    let mut config = ImageConfig::new_for_host(vec![diff_id]);
    config.config = Some(run_config);
    config.history = vec![History {
        created: config.created.clone(),
        comment: Some(message.unwrap_or_else(|| format!("Imported from {source}"))),
        ..History::default()
    }];
    let raw = serde_json::to_vec(&config)?;
    let image = ingest.commit(&raw)?;
    if let Some(r) = reference {
        engine.images.tag(r, &image.id)?;
        crate::events::tagged(&engine.settings.data_root, &image, &r.familiar());
    }
    crate::events::image_plain(&engine.settings.data_root, "import", &image);
    Ok(image)
}

fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| {
                    text.is_char_boundary(head.len() + i)
                        && glob_match(tail, &text[head.len() + i..])
                })
        }
    }
}

/// The `--filter`s of `images` (Docker 1.41's): `dangling=true|false`, `reference=PATTERN`,
/// `label=K[=V]` (all must match), `before=IMAGE` and `since=IMAGE` (created before or after
/// that image).
#[derive(Debug, Default)]
pub struct ImageFilter {
    /// `dangling=`: only untagged images (true) or only tagged ones (false).
    pub dangling: Option<bool>,
    /// `reference=`: glob patterns, any of which a reference must match.
    pub references: Vec<String>,
    /// `label=`: all must match.
    pub labels: Vec<String>,
    /// `before=`: the named image's creation time (Unix seconds).
    pub before: Option<u64>,
    /// `since=`: the named image's creation time (Unix seconds).
    pub since: Option<u64>,
}

impl ImageFilter {
    /// Parses `KEY=VALUE` filters as `images --filter` takes them, without the image store
    /// (`before=`/`since=` need [`ImageFilter::parse_with`]).
    pub fn parse(filters: &[String]) -> Result<Self> {
        Self::parse_inner(filters, None)
    }

    /// Parses `KEY=VALUE` filters, resolving `before=`/`since=` images in `engine`.
    pub fn parse_with(engine: &Engine, filters: &[String]) -> Result<Self> {
        Self::parse_inner(filters, Some(engine))
    }

    fn parse_inner(filters: &[String], engine: Option<&Engine>) -> Result<Self> {
        let mut parsed = ImageFilter::default();
        for f in filters {
            match f.split_once('=') {
                Some(("dangling", v)) => {
                    parsed.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(crate::error::EngineError::invalid(format!(
                                "invalid filter 'dangling={v}': want true or false"
                            ))
                            .into());
                        }
                    })
                }
                Some(("reference", v)) => parsed.references.push(v.to_string()),
                Some(("label", v)) => parsed.labels.push(v.to_string()),
                Some((key @ ("before" | "since"), v)) => {
                    let Some(engine) = engine else {
                        bail!("filter '{key}' needs the image store");
                    };
                    let created = resolve(engine, v)?.created_unix().unwrap_or(0);
                    if key == "before" {
                        parsed.before = Some(created);
                    } else {
                        parsed.since = Some(created);
                    }
                }
                Some((key, _)) => {
                    return Err(crate::error::EngineError::invalid(format!(
                        "invalid filter '{key}' (supported: dangling=, reference=, label=, before=, since=)"
                    ))
                    .into());
                }
                None => {
                    return Err(crate::error::EngineError::invalid(format!(
                        "bad format of filter (expected name=value): {f}"
                    ))
                    .into());
                }
            }
        }
        Ok(parsed)
    }

    /// Whether `image` passes `label=`, `before=` and `since=`.
    pub fn matches_image(&self, image: &Image) -> bool {
        let labels = image.config.config.as_ref().and_then(|c| c.labels.as_ref());
        let created = image.created_unix().unwrap_or(0);
        self.labels.iter().all(|want| match want.split_once('=') {
            Some((k, v)) => labels.and_then(|l| l.get(k)).is_some_and(|x| x == v),
            None => labels.is_some_and(|l| l.contains_key(want)),
        }) && self.before.is_none_or(|b| created < b)
            && self.since.is_none_or(|s| created > s)
    }

    /// Whether `r` matches a `reference=` pattern (all do when there is none).
    pub fn matches_reference(&self, r: &Reference) -> bool {
        self.references.is_empty()
            || self
                .references
                .iter()
                .any(|p| glob_match(p, &r.familiar()) || glob_match(p, &r.familiar_name()))
    }
}

/// One image of a listing, with the references it is listed under.
#[derive(Debug, Clone)]
pub struct ListedImage {
    /// The image.
    pub image: Image,
    /// Its tags and digest references, sorted; only those matching a `reference=` filter
    /// when there is one. Empty for a dangling image.
    pub references: Vec<Reference>,
}

impl ListedImage {
    /// Docker's `RepoTags`.
    pub fn tags(&self) -> Vec<String> {
        (self.references.iter())
            .filter(|r| r.digest().is_none())
            .map(Reference::familiar)
            .collect()
    }

    /// Docker's `RepoDigests`.
    pub fn digests(&self) -> Vec<String> {
        (self.references.iter())
            .filter(|r| r.digest().is_some())
            .map(Reference::familiar)
            .collect()
    }
}

/// The images `images` and `GET /images/json` list, newest first, by Docker's rules: an
/// image without any reference is dangling, and shown only if nothing was built on it
/// (intermediate images need `all`), never with a `reference=` filter or `dangling=false`;
/// `dangling=true` leaves out images that have a tag.
pub fn list(engine: &Engine, all: bool, filter: &ImageFilter) -> Result<Vec<ListedImage>> {
    let references = engine.images.references()?;
    let mut images = engine.images.list()?;
    images.sort_by_key(|i| std::cmp::Reverse(i.created_unix()));
    let mut out = Vec::new();
    for image in images {
        if !filter.matches_image(&image) {
            continue;
        }
        let mut refs: Vec<Reference> = (references.iter())
            .filter(|(_, id)| *id == image.id)
            .map(|(r, _)| r.clone())
            .collect();
        refs.sort();
        if refs.is_empty() {
            let shown = filter.dangling != Some(false)
                && filter.references.is_empty()
                && (all || engine.images.children(&image.id)?.is_empty());
            if shown {
                out.push(ListedImage {
                    image,
                    references: refs,
                });
            }
            continue;
        }
        if filter.dangling == Some(true) && refs.iter().any(|r| r.digest().is_none()) {
            continue;
        }
        if !filter.references.is_empty() {
            refs.retain(|r| filter.matches_reference(r));
            if refs.is_empty() {
                continue;
            }
        }
        out.push(ListedImage {
            image,
            references: refs,
        });
    }
    Ok(out)
}

/// Docker's image summaries (`GET /images/json`): one per image, with all its tags.
pub fn summaries(engine: &Engine, all: bool, filters: &[String]) -> Result<Vec<serde_json::Value>> {
    let filter = ImageFilter::parse_with(engine, filters)?;
    let mut out = Vec::new();
    for listed in list(engine, all, &filter)? {
        out.push(summary_of(engine, &listed)?);
    }
    Ok(out)
}

fn summary_of(engine: &Engine, listed: &ListedImage) -> Result<serde_json::Value> {
    let image = &listed.image;
    let dangling = listed.references.is_empty();
    let size = image_size(engine, image);
    Ok(json!({
            "Id": image.id.to_string(),
            "ParentId": engine.images.parent(&image.id)?.map(|p| p.to_string()).unwrap_or_default(),
            "RepoTags": if dangling { json!(["<none>:<none>"]) } else { json!(listed.tags()) },
            "RepoDigests": if dangling { json!(["<none>@<none>"]) } else { json!(listed.digests()) },
            "Created": image.created_unix().unwrap_or(0),
            "Size": size,
            "VirtualSize": size,
            "SharedSize": -1,
            "Labels": image.config.config.as_ref().and_then(|c| c.labels.clone()),
            "Containers": -1,
    }))
}

/// The chain ids of `image`'s layers, top first.
fn chain_of(engine: &Engine, image: &Image) -> Vec<ChainId> {
    let mut out = Vec::new();
    let mut chain = image.top_layer();
    while let Some(c) = chain {
        chain = engine.layers.get(&c).ok().and_then(|l| l.parent);
        out.push(c);
    }
    out
}

/// `system df`'s images (`GET /system/df`), as Docker computes them: the images `images`
/// lists, each with `Containers` (how many containers were created from it) and
/// `SharedSize` (the bytes of its layers that another listed image has too; the CLI's
/// UNIQUE SIZE is `Size - SharedSize`), and `LayersSize`, the bytes of every stored layer
/// counted once.
pub fn disk_usage(engine: &Engine) -> Result<(Vec<serde_json::Value>, u64)> {
    let listed = list(engine, false, &ImageFilter::default())?;
    let containers =
        crate::container::store::ContainerStore::open(&engine.settings.data_root)?.list()?;
    let layers: std::collections::BTreeMap<ChainId, u64> = (engine.layers.list()?)
        .into_iter()
        .map(|l| (l.chain_id, l.size))
        .collect();
    let chains: Vec<Vec<ChainId>> = listed.iter().map(|l| chain_of(engine, &l.image)).collect();
    let mut refs: std::collections::BTreeMap<&ChainId, usize> = std::collections::BTreeMap::new();
    for c in chains.iter().flatten() {
        *refs.entry(c).or_default() += 1;
    }
    let mut out = Vec::new();
    for (l, chain) in listed.iter().zip(&chains) {
        let mut v = summary_of(engine, l)?;
        let shared: u64 = (chain.iter())
            .filter(|c| refs.get(c).is_some_and(|n| *n > 1))
            .map(|c| layers.get(c).copied().unwrap_or(0))
            .sum();
        let id = l.image.id.to_string();
        v["SharedSize"] = json!(shared);
        v["Containers"] = json!(containers.iter().filter(|r| r.image == id).count());
        out.push(v);
    }
    Ok((out, layers.values().sum()))
}

/// `tag SOURCE TARGET`.
pub fn tag(engine: &Engine, source: &str, target: &str) -> Result<()> {
    let image = resolve(engine, source)?;
    let target = Reference::parse(target)?;
    if target.digest().is_some() {
        bail!(
            "refusing to create a tag with a digest reference: {}",
            target.familiar()
        );
    }
    engine.images.tag(&target, &image.id)?;
    crate::events::tagged(&engine.settings.data_root, &image, &target.familiar());
    Ok(())
}

/// Finds an image or fails with Docker's wording.
pub fn resolve(engine: &Engine, name: &str) -> Result<Image> {
    engine.images.resolve(name).map_err(|e| match e.kind() {
        ErrorKind::NotFound => {
            crate::error::EngineError::not_found(format!("No such image: {name}")).into()
        }
        _ => e.into(),
    })
}

/// Writable layers sitting on `image`'s top layer (containers using it).
fn users_of(engine: &Engine, image: &Image) -> Result<Vec<String>> {
    let Some(top) = image.top_layer() else {
        return Ok(vec![]);
    };
    Ok(engine
        .layers
        .rw_layers()?
        .into_iter()
        .filter(|m| m.parent.as_ref() == Some(&top))
        // The writable layer is named after the container; Docker names it by its short id.
        .map(|m| m.name.chars().take(12).collect())
        .collect())
}

/// `rmi NAME`: what was untagged and deleted, in order (`("Untagged", ref)`,
/// `("Deleted", id)`), as Docker's CLI prints it and its API returns it.
pub fn remove_image(
    engine: &Engine,
    name: &str,
    force: bool,
) -> Result<Vec<(&'static str, String)>> {
    let mut events = Vec::new();
    let image = resolve(engine, name)?;
    let tags = engine.images.tags_of(&image.id)?;
    let by_reference = Reference::parse(name)
        .ok()
        .filter(|r| engine.images.lookup(r).ok().flatten().as_ref() == Some(&image.id));
    let users = users_of(engine, &image)?;
    if let Some(r) = &by_reference {
        // As Docker: untagging a repository's last tag also drops that repository's digest
        // references, and the image stays only when other references remain.
        let same_repo_digests: Vec<&Reference> = tags
            .iter()
            .filter(|o| o.digest().is_some() && o.familiar_name() == r.familiar_name())
            .collect();
        let last_tag = r.digest().is_none()
            && !tags
                .iter()
                .any(|o| o != r && o.digest().is_none() && o.familiar_name() == r.familiar_name());
        let others = tags
            .iter()
            .filter(|o| *o != r && !(last_tag && same_repo_digests.contains(o)))
            .count();
        if others > 0 || (!users.is_empty() && force) {
            engine.images.untag(r)?;
            events.push(("Untagged", r.familiar().to_string()));
            if last_tag && others > 0 {
                for d in same_repo_digests {
                    engine.images.untag(d)?;
                    events.push(("Untagged", d.familiar().to_string()));
                }
            }
            crate::events::image_removal(&engine.settings.data_root, &image, &events);
            return Ok(events);
        }
    } else if tags
        .iter()
        .map(Reference::familiar_name)
        .collect::<BTreeSet<_>>()
        .len()
        > 1
        && !force
    {
        return Err(crate::error::EngineError::conflict(format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            short_id(&image, false)
        )).into());
    }
    if let Some(user) = users.first() {
        match &by_reference {
            Some(r) => return Err(crate::error::EngineError::conflict(format!(
                "conflict: unable to remove repository reference {:?} (must force) - container {user} is using its referenced image {}",
                r.familiar(),
                short_id(&image, false)
            )).into()),
            None => return Err(crate::error::EngineError::conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by container {user}",
                short_id(&image, false)
            )).into()),
        }
    }
    if !engine.images.children(&image.id)?.is_empty() {
        // Docker keeps an image that others were built on: the tag goes, the image stays.
        if let Some(r) = &by_reference {
            engine.images.untag(r)?;
            events.push(("Untagged", r.familiar().to_string()));
            crate::events::image_removal(&engine.settings.data_root, &image, &events);
            return Ok(events);
        }
        return Err(crate::error::EngineError::conflict(format!(
            "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
            short_id(&image, false)
        ))
        .into());
    }
    for r in &tags {
        events.push(("Untagged", r.familiar().to_string()));
    }
    let mut parent = engine.images.parent(&image.id)?;
    let removed = engine.images.delete(&image.id)?;
    events.push(("Deleted", image.id.to_string()));
    crate::events::image_removal(&engine.settings.data_root, &image, &events);
    for layer in removed {
        events.push(("Deleted", layer.to_string()));
    }
    // Then the untagged images it was built on that nothing else needs (a build's steps).
    while let Some(id) = parent {
        let Ok(image) = engine.images.get(&id) else {
            break;
        };
        if !engine.images.tags_of(&id)?.is_empty()
            || !engine.images.children(&id)?.is_empty()
            || !users_of(engine, &image)?.is_empty()
        {
            break;
        }
        parent = engine.images.parent(&id)?;
        let removed = engine.images.delete(&id)?;
        crate::events::image_deleted(&engine.settings.data_root, &id);
        events.push(("Deleted", id.to_string()));
        for layer in removed {
            events.push(("Deleted", layer.to_string()));
        }
    }
    Ok(events)
}

pub fn inspect_json(engine: &Engine, image: &Image) -> Result<serde_json::Value> {
    let c = &image.config;
    let refs = engine.images.tags_of(&image.id)?;
    let tags: Vec<String> = refs
        .iter()
        .filter(|r| r.digest().is_none())
        .map(Reference::familiar)
        .collect();
    let digests: Vec<String> = refs
        .iter()
        .filter(|r| r.digest().is_some())
        .map(Reference::familiar)
        .collect();
    let size = image_size(engine, image);
    let graph_data = match image.top_layer() {
        Some(top) => {
            let layer = engine.layers.get(&top)?;
            engine.driver.metadata(&layer.cache_id)?
        }
        None => Default::default(),
    };
    let mut doc = json!({
        "Id": image.id.to_string(),
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": "",
        "Comment": c.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": c.created.clone().unwrap_or_default(),
        "Author": c.author.clone().unwrap_or_default(),
        "Config": c.config,
        "Architecture": c.architecture,
        "Os": c.os,
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": { "Name": engine.driver.name(), "Data": graph_data },
        "RootFS": { "Type": c.rootfs.kind, "Layers": c.rootfs.diff_ids },
    });
    crate::inspect_fields::image(&mut doc, c.extra.get("container_config"));
    Ok(doc)
}

/// One row of `history`: the image (or `<missing>`), when, how, size, comment.
#[derive(Debug)]
pub struct HistoryRow {
    pub id: Option<Image>,
    pub created: Option<String>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
}

/// The history of `image`, newest first; rows carry the image each build step made while
/// the parents are known (Docker's way).
pub fn history_rows(engine: &Engine, image: &Image) -> Result<Vec<HistoryRow>> {
    let c = &image.config;
    // Layer sizes in order, matched to the history entries that made a layer.
    let mut chains: Vec<ChainId> = Vec::new();
    for d in &c.rootfs.diff_ids {
        chains.push(graph::chain_id(chains.last(), d));
    }
    let mut sizes = chains
        .iter()
        .map(|ch| engine.layers.get(ch).map(|l| l.size).unwrap_or(0));
    let mut rows: Vec<HistoryRow> = Vec::new();
    let entries: Vec<History> = if c.history.is_empty() {
        c.rootfs
            .diff_ids
            .iter()
            .map(|_| History::default())
            .collect()
    } else {
        c.history.clone()
    };
    for h in &entries {
        let size = if h.empty_layer {
            0
        } else {
            sizes.next().unwrap_or(0)
        };
        rows.push(HistoryRow {
            id: None,
            created: h.created.clone(),
            created_by: h.created_by.clone().unwrap_or_default(),
            size,
            comment: h.comment.clone().unwrap_or_default(),
        });
    }
    rows.reverse();
    // Each image a build step made adds one history entry on its parent: rows from the top
    // are the image, its parent, and so on while the parents are known (Docker's way).
    let mut current = Some(image.clone());
    for row in rows.iter_mut() {
        let Some(img) = current.take() else {
            break;
        };
        current = match engine.images.parent(&img.id)? {
            Some(p) => engine.images.get(&p).ok(),
            None => None,
        };
        row.id = Some(img);
    }
    Ok(rows)
}

/// Docker's `GET /images/{name}/history`.
pub fn history_json(engine: &Engine, image: &Image) -> Result<serde_json::Value> {
    let mut out = Vec::new();
    for row in history_rows(engine, image)? {
        let (id, tags) = match &row.id {
            Some(img) => (
                img.id.to_string(),
                engine
                    .images
                    .tags_of(&img.id)?
                    .iter()
                    .filter(|r| r.digest().is_none())
                    .map(Reference::familiar)
                    .collect(),
            ),
            None => ("<missing>".to_string(), Vec::new()),
        };
        let created = row
            .created
            .as_deref()
            .and_then(|c| {
                humantime::parse_rfc3339_weak(c.trim_end_matches('Z').split('.').next()?).ok()
            })
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        out.push(json!({
            "Id": id,
            "Created": created,
            "CreatedBy": row.created_by,
            "Tags": if tags.is_empty() { serde_json::Value::Null } else { json!(tags) },
            "Size": row.size,
            "Comment": row.comment,
        }));
    }
    Ok(serde_json::Value::Array(out))
}

/// `image prune`: deletes the images `filters` select by Docker's rules (Engine API 1.41):
/// without `dangling=false`, only dangling ones (no tag, nothing built on them); with it,
/// every image no container was created from, its tags removed first (a tagged image
/// something was built on is only untagged). `until=`, `label=` and `label!=` narrow the
/// choice; untagged parents left without children go too. Returns what was untagged and
/// deleted (`("Untagged", ref)`, `("Deleted", image id)`, then `("Deleted", layer chain id)`
/// for each layer freed, as Docker lists them) and the bytes freed, each layer once.
pub fn prune_images(
    engine: &Engine,
    filters: &[String],
) -> Result<(Vec<(&'static str, String)>, u64)> {
    use crate::prune::{Kind, PruneFilter};
    let filter = PruneFilter::parse(Kind::Images, filters)?;
    let dangling_only = filter.dangling != Some(false);
    let references = engine.images.references()?;
    let containers = crate::container::store::ContainerStore::open(&engine.settings.data_root)?;
    let used: BTreeSet<String> = containers.list()?.into_iter().map(|r| r.image).collect();
    let layer_sizes: std::collections::BTreeMap<ChainId, u64> = (engine.layers.list()?)
        .into_iter()
        .map(|l| (l.chain_id, l.size))
        .collect();
    let mut candidates = Vec::new();
    for image in engine.images.list()? {
        let refs: Vec<&Reference> = (references.iter())
            .filter(|(_, id)| *id == image.id)
            .map(|(r, _)| r)
            .collect();
        let has_children = !engine.images.children(&image.id)?.is_empty();
        let has_tag = refs.iter().any(|r| r.digest().is_none());
        let labels = (image.config.config.as_ref())
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let created = image
            .created_unix()
            .map(|s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        if (has_children && (dangling_only || refs.is_empty()))
            || (dangling_only && has_tag)
            || used.contains(&image.id.to_string())
            || !filter.old_enough(created)
            || !filter.matches_labels(&labels)
        {
            continue;
        }
        candidates.push(image);
    }
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for image in candidates {
        let mut next = Some(image.id.clone());
        let mut first = true;
        while let Some(id) = next.take() {
            // An earlier candidate's cascade may have taken this one already.
            if engine.images.get(&id).is_err() {
                break;
            }
            // Parents go only while untagged, childless and unused (Docker's cascade).
            if !first
                && (!engine.images.tags_of(&id)?.is_empty()
                    || !engine.images.children(&id)?.is_empty()
                    || used.contains(&id.to_string()))
            {
                break;
            }
            first = false;
            let this = engine.images.get(&id)?;
            for r in engine.images.tags_of(&id)? {
                engine.images.untag(&r)?;
                deleted.push(("Untagged", r.familiar()));
                crate::events::image_plain(&engine.settings.data_root, "untag", &this);
            }
            if !engine.images.children(&id)?.is_empty() {
                break;
            }
            let parent = engine.images.parent(&id)?;
            let layers = engine.images.delete(&id)?;
            crate::events::image_deleted(&engine.settings.data_root, &id);
            deleted.push(("Deleted", id.to_string()));
            for chain in layers {
                reclaimed += layer_sizes.get(&chain).copied().unwrap_or(0);
                deleted.push(("Deleted", chain.to_string()));
            }
            next = parent;
        }
    }
    Ok((deleted, reclaimed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_docker_reference_filters() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("*:latest", "busybox:latest"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("busy*", "alpine"));
        assert!(glob_match("exact", "exact"));
    }
}
