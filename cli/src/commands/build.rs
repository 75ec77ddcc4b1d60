//! `engine` commands: build.

use crate::args::BuildArgs;
use anyhow::{Context, Result, bail};
use engine_core::build::limits::{self, RunLimits};
use engine_core::build::request::{BuildRequest, build, context_dockerfile};
use engine_core::build::{BuildContext, Output};
use engine_core::container::confinement::Confinement;
use engine_core::engine::Engine;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub fn run(engine: &Engine, args: BuildArgs) -> Result<()> {
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
    let request = BuildRequest {
        tags: args.tags.clone(),
        build_args,
        no_cache: args.no_cache,
        target: args.target.clone(),
        network: args.network.clone(),
        quiet: args.quiet,
        cancel: None,
        labels: labels(&args.labels),
        platform: args.platform.clone(),
        limits: run_limits(&args)?,
        remove: args.rm,
        pull: args.pull,
        cache_from: args.cache_from.clone(),
    };
    if args.squash {
        bail!("--squash is only supported with experimental mode");
    }
    if let Some(i) = args
        .isolation
        .as_deref()
        .filter(|i| !i.is_empty() && *i != "default")
    {
        bail!("invalid --isolation: Unsupported isolation: {i:?}");
    }
    if let Some(p) = args.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
        bail!(
            "--cgroup-parent {p} is not supported: build steps run in the engine's own cgroup tree"
        );
    }
    // Checked before the context is read.
    request.validate()?;
    let stdin_dockerfile = args.file.as_deref() == Some(Path::new("-"));
    let (context, dockerfile) = if args.context == "-" {
        if stdin_dockerfile {
            bail!("invalid argument: can't use stdin for both build context and dockerfile");
        }
        stdin_context(args.file.as_deref(), &engine.settings.data_root)?
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
    build(engine, &request, &context, dockerfile, Output::Stdout, true)?;
    Ok(())
}

/// `--label KEY=VALUE` (a KEY alone: an empty value, as Docker's CLI reads it).
fn labels(list: &[String]) -> Vec<(String, String)> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// The RUN steps' resources and hosts, from the flags.
fn run_limits(args: &BuildArgs) -> Result<RunLimits> {
    let bytes = |v: &Option<String>, flag: &str| -> Result<i64> {
        match v.as_deref() {
            None => Ok(0),
            Some("-1") if flag == "--memory-swap" => Ok(-1),
            Some(s) => Ok(graph::options::parse_bytes(s)
                .with_context(|| format!("invalid argument {s:?} for \"{flag}\" flag"))?
                as i64),
        }
    };
    Ok(RunLimits {
        memory: bytes(&args.memory, "--memory")?,
        memory_swap: bytes(&args.memory_swap, "--memory-swap")?,
        confinement: Confinement {
            ulimits: limits::parse_ulimits(&args.ulimit)?,
            cpu_shares: args.cpu_shares.unwrap_or(0),
            cpu_period: args.cpu_period.unwrap_or(0),
            cpu_quota: args.cpu_quota.unwrap_or(0),
            cpuset_cpus: args.cpuset_cpus.clone().unwrap_or_default(),
            cpuset_mems: args.cpuset_mems.clone().unwrap_or_default(),
            shm_size: bytes(&args.shm_size, "--shm-size")?,
            security_opt: (!args.security_opt.is_empty()).then(|| args.security_opt.clone()),
            ..Confinement::default()
        },
        extra_hosts: RunLimits::parse_hosts(&args.add_host)
            .context("invalid argument for \"--add-host\" flag")?,
    })
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
fn stdin_context(file: Option<&Path>, data_root: &Path) -> Result<(BuildContext, String)> {
    let mut input = BufReader::with_capacity(1 << 16, io::stdin().lock());
    let head = input.fill_buf().context("reading standard input")?;
    let is_archive = head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || head.get(257..262) == Some(b"ustar");
    if !is_archive {
        let mut text = String::new();
        input.read_to_string(&mut text)?;
        return Ok((BuildContext::empty(data_root)?, text));
    }
    let context = BuildContext::tar(input, data_root, "standard input")?;
    let dockerfile = context_dockerfile(&context, file.and_then(Path::to_str))?;
    Ok((context, dockerfile))
}
