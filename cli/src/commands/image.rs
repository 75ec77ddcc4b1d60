//! `engine` commands: image.

use crate::args::{HistoryArgs, ImageCommand, ImagesArgs, ImportArgs, RmiArgs};
use crate::template::write_table;
use anyhow::{Context, Result, bail};
use distribution::human;
use distribution::progress::Progress;
use engine_core::changes;
use engine_core::engine::Engine;
use engine_core::image::{
    ImageFilter, history_rows, image_size, import_from, inspect_json, prune_images, remove_image,
    resolve, short_id, tag,
};
use graph::image::{Image, Reference, RunConfig, host_architecture};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, IsTerminal, Read, Write};

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
        ImageCommand::Prune {
            all,
            force,
            filters,
        } => prune(engine, all, force, filters),
        ImageCommand::Pull(args) => super::registry::pull(engine, args),
        ImageCommand::Push(args) => super::registry::push(engine, args),
    }
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

pub fn list(engine: &Engine, args: ImagesArgs) -> Result<()> {
    let mut filter = ImageFilter::parse_with(engine, &args.filters)?;
    // `images REPO[:TAG]` is a reference filter, as Docker's CLI sends it.
    if let Some(wanted) = &args.reference {
        Reference::parse_name_only(wanted)?;
        filter.references.push(wanted.clone());
    }
    let mut rows = Vec::new();
    for listed in engine_core::image::list(engine, args.all, &filter)? {
        let (image, refs) = (&listed.image, &listed.references);
        if refs.is_empty() {
            rows.push(Row {
                repository: "<none>".into(),
                tag: "<none>".into(),
                digest: "<none>".into(),
                image: image.clone(),
            });
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
            .map(|r| (r, r.tag()))
            .collect();
        for r in refs.iter().filter(|r| r.digest().is_some()) {
            if !shown
                .iter()
                .any(|(s, _)| s.familiar_name() == r.familiar_name())
            {
                shown.push((r, None));
            }
        }
        for (r, tag) in shown {
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

fn prune(engine: &Engine, all: bool, force: bool, mut filters: Vec<String>) -> Result<()> {
    // As Docker's CLI: `-a` is the filter `dangling=false`.
    if !filters.iter().any(|f| f.starts_with("dangling=")) {
        filters.push(format!("dangling={}", !all));
    }
    // Bad filters are refused before the question is asked.
    engine_core::prune::PruneFilter::parse(engine_core::prune::Kind::Images, &filters)?;
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
    let (deleted, reclaimed) = prune_images(engine, &filters)?;
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

/// A URL's body, with Docker's "Downloading" bar on a terminal.
fn download_with_progress(url: &str) -> Result<impl Read> {
    let (length, body) = distribution::registry::client::download(url)?;
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
