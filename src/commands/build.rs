//! `engine build`: the command line around [`crate::build`].

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use graph::image::Reference;
use runtime::Network;

use crate::build::{BuildContext, Builder, Options};
use crate::cli::BuildArgs;
use crate::engine::Engine;

pub fn run(engine: &Engine, args: BuildArgs) -> Result<()> {
    let mut tags = Vec::new();
    for t in &args.tags {
        let r = Reference::parse(t).with_context(|| format!("invalid tag {t:?}"))?;
        if r.digest().is_some() {
            bail!("invalid tag {t:?}: a tag cannot contain a digest");
        }
        tags.push(if r.tag().is_none() {
            r.with_tag("latest")
        } else {
            r
        });
    }
    let network = match args.network.as_str() {
        "host" | "default" | "bridge" => Network::Host,
        "none" => Network::None,
        other => bail!("network mode {other:?} not supported for build: use host or none"),
    };
    let mut build_args = Vec::new();
    for a in &args.build_args {
        match a.split_once('=') {
            Some((k, v)) => build_args.push((k.to_string(), v.to_string())),
            // `--build-arg NAME` takes the value from the environment, and is dropped if unset.
            None => {
                if let Ok(v) = std::env::var(a) {
                    build_args.push((a.clone(), v));
                }
            }
        }
    }
    let stdin_dockerfile = args.file.as_deref() == Some(Path::new("-"));
    let (context, dockerfile) = if args.context == "-" {
        if stdin_dockerfile {
            bail!("invalid argument: can't use stdin for both build context and dockerfile");
        }
        stdin_context(args.file.as_deref())?
    } else {
        let dir = PathBuf::from(&args.context);
        let context = BuildContext::dir(&dir)?;
        let dockerfile = match &args.file {
            Some(f) if f == Path::new("-") => {
                let mut s = String::new();
                io::stdin().read_to_string(&mut s)?;
                s
            }
            Some(f) => read_dockerfile(f)?,
            None => read_dockerfile(&context.source.root.join("Dockerfile"))?,
        };
        (context, dockerfile)
    };
    let opts = Options {
        dockerfile,
        build_args,
        no_cache: args.no_cache,
        target: args.target.clone(),
        network,
        quiet: args.quiet,
    };
    let image = Builder::new(engine, &opts, &context).build()?;
    for t in &tags {
        engine.images.tag(t, &image.id)?;
    }
    if args.quiet {
        println!("{}", image.id);
        return Ok(());
    }
    println!("Successfully built {}", &image.id.hex()[..12]);
    for t in &tags {
        println!("Successfully tagged {}", t.familiar());
    }
    Ok(())
}

fn read_dockerfile(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| {
        format!(
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
            path.display()
        )
    })
}

/// `-`: a tar (plain or compressed) holding the context, or a lone Dockerfile.
fn stdin_context(file: Option<&Path>) -> Result<(BuildContext, String)> {
    let mut input = BufReader::with_capacity(1 << 16, io::stdin().lock());
    let head = input.fill_buf().context("reading standard input")?;
    let is_archive = head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || head.get(257..262) == Some(b"ustar");
    if !is_archive {
        let mut text = String::new();
        input.read_to_string(&mut text)?;
        return Ok((BuildContext::empty()?, text));
    }
    let context = BuildContext::tar(input)?;
    let name = file.map_or_else(|| PathBuf::from("Dockerfile"), Path::to_path_buf);
    let dockerfile = read_dockerfile(&context.source.root.join(name))?;
    Ok((context, dockerfile))
}
