//! Image commands: import, images, tag, rmi, history, image inspect/prune.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, IsTerminal, Read, Write};

use anyhow::{Context, Result, bail};
use graph::image::{History, Image, ImageConfig, Reference, RunConfig, host_architecture};
use graph::{ChainId, ErrorKind};
use serde_json::json;

use crate::changes;
use crate::cli::{HistoryArgs, ImageCommand, ImagesArgs, ImportArgs, RmiArgs};
use crate::engine::Engine;
use crate::human;
use crate::progress::Progress;

pub fn run(engine: &Engine, cmd: ImageCommand) -> Result<()> {
    match cmd {
        ImageCommand::Ls(args) => list(engine, args),
        ImageCommand::Inspect { images, format } => inspect(engine, &images, format.as_deref()),
        ImageCommand::Rm(args) => remove(engine, args),
        ImageCommand::Import(args) => import(engine, args),
        ImageCommand::Save(args) => super::archive::save(engine, args),
        ImageCommand::Load(args) => super::archive::load(engine, args),
        ImageCommand::History(args) => history(engine, args),
        ImageCommand::Tag { source, target } => tag(engine, &source, &target),
        ImageCommand::Prune { all, force } => prune(engine, all, force),
        ImageCommand::Pull(args) => super::registry::pull(engine, args),
        ImageCommand::Push(args) => super::registry::push(engine, args),
    }
}

/// The 12-hex-digit id Docker shows, or the full `sha256:` id.
fn short_id(image: &Image, no_trunc: bool) -> String {
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

pub fn import(engine: &Engine, args: ImportArgs) -> Result<()> {
    let host_platform = format!("linux/{}", host_architecture());
    if let Some(p) = &args.platform
        && p != &host_platform
        && p != "linux"
    {
        bail!("platform {p} is not supported here; this host is {host_platform}");
    }
    let reference = args
        .reference
        .as_deref()
        .map(Reference::parse)
        .transpose()?;
    if reference.as_ref().is_some_and(|r| r.digest().is_some()) {
        bail!("import: a reference with a digest cannot be used as a tag");
    }
    let mut run_config = RunConfig::default();
    for change in &args.changes {
        changes::apply(&mut run_config, change).with_context(|| format!("--change {change:?}"))?;
    }
    let is_url = args.file.starts_with("http://") || args.file.starts_with("https://");
    let input: Box<dyn Read> = if args.file == "-" {
        Box::new(io::stdin().lock())
    } else if is_url {
        Box::new(download_with_progress(&args.file)?)
    } else {
        Box::new(File::open(&args.file).with_context(|| format!("opening {}", args.file))?)
    };
    let image = import_from(
        engine,
        input,
        &args.file,
        reference.as_ref(),
        run_config,
        args.message.clone(),
    )?;
    println!("{}", image.id);
    Ok(())
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
    let layer = engine
        .layers
        .register(input, None)
        .with_context(|| format!("importing {source}"))?;
    let mut config = ImageConfig::new_for_host(vec![layer.diff_id.clone()]);
    config.config = Some(run_config);
    config.history = vec![History {
        created: config.created.clone(),
        comment: Some(message.unwrap_or_else(|| format!("Imported from {source}"))),
        ..History::default()
    }];
    let raw = serde_json::to_vec(&config)?;
    let image = match engine.images.create(&raw) {
        Ok(image) => image,
        Err(e) => {
            let _ = engine.layers.remove(&layer.chain_id);
            return Err(e.into());
        }
    };
    if let Some(r) = reference {
        engine.images.tag(r, &image.id)?;
        crate::events::tagged(
            &engine.settings.data_root,
            &image.id.to_string(),
            &r.familiar(),
        );
    }
    crate::events::image_plain(&engine.settings.data_root, "import", &image.id.to_string());
    Ok(image)
}

/// A URL's body, with Docker's "Downloading" bar on a terminal.
fn download_with_progress(url: &str) -> Result<impl Read> {
    let (length, body) = crate::registry::client::download(url)?;
    let progress = Progress::new(!io::stdout().is_terminal());
    progress.line(&format!("Downloading from {url}"));
    if let Some(len) = length {
        progress.start_bytes("Importing", "", len);
    }
    Ok(ProgressReader {
        inner: body,
        progress,
    })
}

struct ProgressReader<R> {
    inner: R,
    progress: Progress,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance("Importing", n as u64);
        Ok(n)
    }
}

/// The fields of an `images --format` template and their column titles.
const IMAGE_FIELDS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
];

/// A row of `engine images`.
struct Row {
    repository: String,
    tag: String,
    /// The repo digest (`sha256:...`) or `<none>`.
    digest: String,
    image: Image,
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

/// The `--filter`s of `images`: `dangling=true|false`, `reference=PATTERN`.
struct ImageFilter {
    dangling: Option<bool>,
    references: Vec<String>,
}

impl ImageFilter {
    fn parse(filters: &[String]) -> Result<Self> {
        let mut parsed = ImageFilter {
            dangling: None,
            references: Vec::new(),
        };
        for f in filters {
            match f.split_once('=') {
                Some(("dangling", v)) => {
                    parsed.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => bail!("invalid filter 'dangling={v}': want true or false"),
                    })
                }
                Some(("reference", v)) => parsed.references.push(v.to_string()),
                _ => bail!(
                    "invalid filter {f:?}: supported filters are dangling=true|false and reference=PATTERN"
                ),
            }
        }
        Ok(parsed)
    }

    fn matches_reference(&self, r: &Reference) -> bool {
        self.references.is_empty()
            || self
                .references
                .iter()
                .any(|p| glob_match(p, &r.familiar()) || glob_match(p, &r.familiar_name()))
    }
}

/// Docker's image summaries (`GET /images/json`): one per image, with all its tags.
pub fn summaries(engine: &Engine, all: bool, filters: &[String]) -> Result<Vec<serde_json::Value>> {
    let filter = ImageFilter::parse(filters)?;
    let references = engine.images.references()?;
    let mut images = engine.images.list()?;
    images.sort_by_key(|i| std::cmp::Reverse(i.created_unix()));
    let mut out = Vec::new();
    for image in images {
        let refs: Vec<&Reference> = references
            .iter()
            .filter(|(_, id)| *id == image.id)
            .map(|(r, _)| r)
            .collect();
        let tags: Vec<String> = refs
            .iter()
            .filter(|r| r.digest().is_none())
            .map(|r| r.familiar())
            .collect();
        let digests: Vec<String> = refs
            .iter()
            .filter(|r| r.digest().is_some())
            .map(|r| r.familiar())
            .collect();
        let dangling = tags.is_empty();
        if filter.dangling.is_some_and(|d| d != dangling) {
            continue;
        }
        if !filter.references.is_empty() && !refs.iter().any(|r| filter.matches_reference(r)) {
            continue;
        }
        if dangling && !all && !engine.images.children(&image.id)?.is_empty() {
            continue;
        }
        let size = image_size(engine, &image);
        out.push(json!({
            "Id": image.id.to_string(),
            "ParentId": engine.images.parent(&image.id)?.map(|p| p.to_string()).unwrap_or_default(),
            "RepoTags": if dangling && digests.is_empty() { json!(["<none>:<none>"]) } else { json!(tags) },
            "RepoDigests": if digests.is_empty() && dangling { json!(["<none>@<none>"]) } else { json!(digests) },
            "Created": image.created_unix().unwrap_or(0),
            "Size": size,
            "VirtualSize": size,
            "SharedSize": -1,
            "Labels": image.config.config.as_ref().and_then(|c| c.labels.clone()),
            "Containers": -1,
        }));
    }
    Ok(out)
}

pub fn list(engine: &Engine, args: ImagesArgs) -> Result<()> {
    let filter = ImageFilter::parse(&args.filters)?;
    let dangling = filter.dangling;
    let wanted = args
        .reference
        .as_deref()
        .map(Reference::parse_name_only)
        .transpose()?;
    let references = engine.images.references()?;
    let mut images = engine.images.list()?;
    images.sort_by_key(|i| std::cmp::Reverse(i.created_unix()));
    let mut rows = Vec::new();
    for image in images {
        let mut refs: Vec<&Reference> = references
            .iter()
            .filter(|(_, id)| *id == image.id)
            .map(|(r, _)| r)
            .collect();
        refs.sort();
        if refs.is_empty() {
            // An untagged image others were built on is intermediate: shown only with -a.
            let intermediate =
                (!args.all || dangling.is_some()) && !engine.images.children(&image.id)?.is_empty();
            if dangling != Some(false)
                && wanted.is_none()
                && filter.references.is_empty()
                && !intermediate
            {
                rows.push(Row {
                    repository: "<none>".into(),
                    tag: "<none>".into(),
                    digest: "<none>".into(),
                    image: image.clone(),
                });
            }
            continue;
        }
        if dangling == Some(true) {
            continue;
        }
        let digest_of = |repo: &str| {
            refs.iter()
                .find(|r| r.familiar_name() == repo)
                .and_then(|r| r.digest())
                .map_or_else(|| "<none>".to_string(), ToString::to_string)
        };
        // A row per tag; a repository known only by digest gets one row without a tag.
        let mut shown: Vec<(&Reference, Option<&str>)> = refs
            .iter()
            .filter(|r| r.digest().is_none())
            .map(|r| (*r, r.tag()))
            .collect();
        for r in refs.iter().filter(|r| r.digest().is_some()) {
            if !shown
                .iter()
                .any(|(s, _)| s.familiar_name() == r.familiar_name())
            {
                shown.push((*r, None));
            }
        }
        for (r, tag) in shown {
            if let Some(w) = &wanted
                && (w.familiar_name() != r.familiar_name()
                    || w.tag().is_some_and(|t| Some(t) != tag))
            {
                continue;
            }
            if !filter.matches_reference(r) {
                continue;
            }
            rows.push(Row {
                repository: r.familiar_name(),
                tag: tag.unwrap_or("<none>").to_string(),
                digest: digest_of(&r.familiar_name()),
                image: image.clone(),
            });
        }
    }
    let mut out = io::stdout().lock();
    if args.quiet {
        let mut seen = BTreeSet::new();
        for row in rows {
            if seen.insert(row.image.id.clone()) {
                writeln!(out, "{}", short_id(&row.image, args.no_trunc))?;
            }
        }
        return Ok(());
    }
    if let Some(format) = &args.format {
        let header = crate::template::row(IMAGE_FIELDS, &|f| {
            IMAGE_FIELDS
                .iter()
                .find(|(n, _)| *n == f)
                .map(|(_, h)| h.to_string())
        });
        let values: Vec<_> = rows
            .iter()
            .map(|row| {
                crate::template::row(IMAGE_FIELDS, &|f| {
                    Some(match f {
                        "ID" => short_id(&row.image, args.no_trunc),
                        "Repository" => row.repository.clone(),
                        "Tag" => row.tag.clone(),
                        "Digest" => row.digest.clone(),
                        "CreatedSince" => human::ago(row.image.created_unix()),
                        "CreatedAt" => row.image.config.created.clone().unwrap_or_default(),
                        "Size" => human::size(image_size(engine, &row.image)),
                        _ => return None,
                    })
                })
            })
            .collect();
        let default = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
        return crate::template::print_listing(&mut out, format, default, &header, &values);
    }
    let mut table = vec![{
        let mut h = vec!["REPOSITORY".to_string(), "TAG".into()];
        if args.digests {
            h.push("DIGEST".into());
        }
        h.extend(["IMAGE ID".into(), "CREATED".into(), "SIZE".into()]);
        h
    }];
    for row in rows {
        let mut cells = vec![row.repository, row.tag];
        if args.digests {
            cells.push(row.digest);
        }
        cells.push(short_id(&row.image, args.no_trunc));
        cells.push(human::ago(row.image.created_unix()));
        cells.push(human::size(image_size(engine, &row.image)));
        table.push(cells);
    }
    write_table(&mut out, &table)?;
    Ok(())
}

/// Columns padded to the widest cell plus three spaces, as Docker's tabwriter does.
pub fn write_table(out: &mut (impl Write + ?Sized), rows: &[Vec<String>]) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

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
    crate::events::tagged(
        &engine.settings.data_root,
        &image.id.to_string(),
        &target.familiar(),
    );
    Ok(())
}

/// Finds an image or fails with Docker's wording.
pub fn resolve(engine: &Engine, name: &str) -> Result<Image> {
    engine.images.resolve(name).map_err(|e| match e.kind() {
        ErrorKind::NotFound => anyhow::anyhow!("No such image: {name}"),
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

pub fn remove(engine: &Engine, args: RmiArgs) -> Result<()> {
    let mut failed = false;
    for name in &args.images {
        if let Err(e) = remove_one(engine, name, args.force) {
            eprintln!("Error: {e:#}");
            failed = true;
        }
    }
    if failed {
        bail!("some images could not be removed");
    }
    Ok(())
}

fn remove_one(engine: &Engine, name: &str, force: bool) -> Result<()> {
    let mut out = io::stdout().lock();
    for (what, id) in remove_image(engine, name, force)? {
        writeln!(out, "{what}: {id}")?;
    }
    Ok(())
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
            crate::events::image_removal(
                &engine.settings.data_root,
                &image.id.to_string(),
                &events,
            );
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
        bail!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            short_id(&image, false)
        );
    }
    if let Some(user) = users.first() {
        match &by_reference {
            Some(r) => bail!(
                "conflict: unable to remove repository reference {:?} (must force) - container {user} is using its referenced image {}",
                r.familiar(),
                short_id(&image, false)
            ),
            None => bail!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by container {user}",
                short_id(&image, false)
            ),
        }
    }
    if !engine.images.children(&image.id)?.is_empty() {
        // Docker keeps an image that others were built on: the tag goes, the image stays.
        if let Some(r) = &by_reference {
            engine.images.untag(r)?;
            events.push(("Untagged", r.familiar().to_string()));
            crate::events::image_removal(
                &engine.settings.data_root,
                &image.id.to_string(),
                &events,
            );
            return Ok(events);
        }
        bail!(
            "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
            short_id(&image, false)
        );
    }
    for r in &tags {
        events.push(("Untagged", r.familiar().to_string()));
    }
    let mut parent = engine.images.parent(&image.id)?;
    let removed = engine.images.delete(&image.id)?;
    events.push(("Deleted", image.id.to_string()));
    crate::events::image_removal(&engine.settings.data_root, &image.id.to_string(), &events);
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
        crate::events::image_plain(&engine.settings.data_root, "delete", &id.to_string());
        events.push(("Deleted", id.to_string()));
        for layer in removed {
            events.push(("Deleted", layer.to_string()));
        }
    }
    Ok(events)
}

fn inspect(engine: &Engine, names: &[String], format: Option<&str>) -> Result<()> {
    let mut docs = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        match resolve(engine, name) {
            Ok(image) => docs.push(inspect_json(engine, &image)?),
            Err(e) => missing.push(e),
        }
    }
    super::inspect::print_docs(&docs, format)?;
    if let Some(e) = missing.into_iter().next() {
        return Err(e);
    }
    Ok(())
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
    super::inspect_fields::image(&mut doc, c.extra.get("container_config"));
    Ok(doc)
}

/// One row of `history`: the image (or `<missing>`), when, how, size, comment.
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

pub fn history(engine: &Engine, args: HistoryArgs) -> Result<()> {
    let image = resolve(engine, &args.image)?;
    let rows: Vec<(String, Option<String>, String, u64, String)> = history_rows(engine, &image)?
        .into_iter()
        .map(|r| {
            let id = r.id.as_ref().map_or_else(
                || "<missing>".to_string(),
                |img| short_id(img, args.no_trunc),
            );
            (id, r.created, r.created_by, r.size, r.comment)
        })
        .collect();
    let mut out = io::stdout().lock();
    if args.quiet {
        for r in rows {
            writeln!(out, "{}", r.0)?;
        }
        return Ok(());
    }
    let mut table = vec![vec![
        "IMAGE".into(),
        "CREATED".into(),
        "CREATED BY".into(),
        "SIZE".into(),
        "COMMENT".into(),
    ]];
    for (id, created, by, size, comment) in rows {
        let created = created
            .as_deref()
            .and_then(|s| {
                humantime::parse_rfc3339_weak(
                    s.trim_end_matches('Z').split('.').next().unwrap_or(s),
                )
                .ok()
            })
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let by = if !args.no_trunc && by.chars().count() > 45 {
            format!("{}…", by.chars().take(44).collect::<String>())
        } else {
            by
        };
        table.push(vec![
            id,
            human::ago(created),
            by,
            human::size(size),
            comment,
        ]);
    }
    write_table(&mut out, &table)?;
    Ok(())
}

fn prune(engine: &Engine, all: bool, force: bool) -> Result<()> {
    if !force {
        let what = if all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        io::stdout().flush()?;
        let mut answer = String::new();
        io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    let (deleted, reclaimed) = prune_images(engine, all)?;
    let mut out = io::stdout().lock();
    if !deleted.is_empty() {
        writeln!(out, "Deleted Images:")?;
        for (what, id) in deleted {
            writeln!(out, "{}: {id}", what.to_lowercase())?;
        }
        writeln!(out)?;
    }
    writeln!(out, "Total reclaimed space: {}", human::size(reclaimed))?;
    Ok(())
}

/// Deletes dangling images (`all`: every image no container uses); returns what was
/// untagged and deleted (`("Untagged", ref)`, `("Deleted", id)`) and the bytes reclaimed.
pub fn prune_images(engine: &Engine, all: bool) -> Result<(Vec<(&'static str, String)>, u64)> {
    let references = engine.images.references()?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    // Leaves first, pass after pass: an intermediate image goes once its last child has.
    loop {
        let mut progressed = false;
        for image in engine.images.list()? {
            let tagged = references.iter().any(|(_, id)| *id == image.id);
            if (tagged && !all)
                || !engine.images.children(&image.id)?.is_empty()
                || !users_of(engine, &image)?.is_empty()
            {
                continue;
            }
            reclaimed += image_size(engine, &image);
            for r in engine.images.tags_of(&image.id)? {
                deleted.push(("Untagged", r.familiar()));
                crate::events::image_plain(
                    &engine.settings.data_root,
                    "untag",
                    &image.id.to_string(),
                );
            }
            engine.images.delete(&image.id)?;
            crate::events::image_plain(&engine.settings.data_root, "delete", &image.id.to_string());
            deleted.push(("Deleted", image.id.to_string()));
            progressed = true;
        }
        if !progressed {
            break;
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
