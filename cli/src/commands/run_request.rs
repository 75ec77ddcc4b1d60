//! `run`/`create` flags as the core's container request.

use std::collections::BTreeMap;
use std::fs;

use anyhow::{Context, Result, bail};
use engine_core::container::create::{Networking, Request};
use engine_core::container::{ports, restart};
use engine_core::volume;

use crate::args::RunArgs;

/// The request of `run`/`create` flags: env files read, `-e KEY` taken from the caller's
/// environment, `-p`, `-m` and `--restart` parsed.
pub fn request(args: &RunArgs) -> Result<Request> {
    let (memory, memory_swap) = memory_limits(args)?;
    let mut port_bindings: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for p in &args.publish {
        let p = ports::parse(p)?;
        port_bindings.entry(p.key).or_default().push(p.binding);
    }
    Ok(Request {
        name: args.name.clone(),
        image: args.image.clone(),
        cmd: args.command.clone(),
        entrypoint: args.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                Vec::new()
            } else {
                vec![e.clone()]
            }
        }),
        env: given_env(args)?,
        working_dir: args.workdir.clone(),
        user: args.user.clone(),
        hostname: args.hostname.clone(),
        tty: args.tty,
        open_stdin: args.interactive,
        labels: BTreeMap::new(),
        exposed_ports: Vec::new(),
        port_bindings,
        memory,
        memory_swap,
        restart: restart::parse(&args.restart)?,
        auto_remove: args.rm,
        // `-v /path` alone is an anonymous volume (Docker's CLI sends it as
        // `Config.Volumes`), the rest are binds and named volumes.
        binds: args
            .volumes
            .iter()
            .filter(|v| v.contains(':'))
            .cloned()
            .collect(),
        network: args.network.clone(),
        mounts: args
            .mounts
            .iter()
            .map(|m| {
                volume::spec::parse_mount_flag(m)
                    .with_context(|| format!("invalid argument {m:?} for \"--mount\" flag"))
            })
            .collect::<Result<_>>()?,
        volumes_from: args.volumes_from.clone(),
        volumes: args
            .volumes
            .iter()
            .filter(|v| !v.contains(':'))
            .cloned()
            .collect(),
        confinement: args.security.confinement()?,
        stop_signal: args.stop_signal.clone(),
        stop_timeout: args.stop_timeout,
        healthcheck: args.health.config()?,
        networking: Networking {
            aliases: args.network_alias.clone(),
            ip: args.ip.clone(),
            more: BTreeMap::new(),
            dns: args.dns.clone(),
            dns_search: args.dns_search.clone(),
            extra_hosts: args.add_host.clone(),
            publish_all: args.publish_all,
            ipc: args.ipc.clone().unwrap_or_default(),
            pid: args.pid.clone().unwrap_or_default(),
            uts: args.uts.clone().unwrap_or_default(),
            missing_network_at_start: false,
        },
    })
}

fn memory_limits(args: &RunArgs) -> Result<(i64, i64)> {
    let memory = match &args.memory {
        Some(m) => graph::options::parse_bytes(m)
            .with_context(|| format!("invalid argument {m:?} for \"-m, --memory\" flag"))?
            as i64,
        None => 0,
    };
    let swap = match args.memory_swap.as_deref() {
        None => 0,
        Some("-1") => -1,
        Some(s) => graph::options::parse_bytes(s)
            .with_context(|| format!("invalid argument {s:?} for \"--memory-swap\" flag"))?
            as i64,
    };
    Ok((memory, swap))
}

/// `--env-file`s, then `-e`s; `-e KEY` takes the value from the caller's environment (and is
/// dropped when unset), as Docker does.
fn given_env(args: &RunArgs) -> Result<Vec<String>> {
    let mut given = Vec::new();
    for file in &args.env_file {
        let text = fs::read_to_string(file)
            .with_context(|| format!("open {}: no such file or directory", file.display()))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            given.push(line.to_string());
        }
    }
    given.extend(args.env.iter().cloned());
    let mut out = Vec::new();
    for e in given {
        match e.split_once('=') {
            Some(("", _)) => bail!("invalid environment variable: {e}"),
            Some(_) => out.push(e),
            None => {
                if let Ok(v) = std::env::var(&e) {
                    out.push(format!("{e}={v}"));
                }
            }
        }
    }
    Ok(out)
}
