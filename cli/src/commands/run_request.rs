//! `run`/`create` flags as the core's container request.

use std::collections::BTreeMap;
use std::fs;

use anyhow::{Context, Result, bail};
use engine_core::container::create::{Networking, Request};
use engine_core::container::host_options::{HostOptions, LogConfig};
use engine_core::container::{ports, restart};
use engine_core::volume;

use crate::args::{HostArgs, RunArgs};

/// `--label KEY=VALUE` (or `KEY`, with an empty value, as Docker's CLI takes it).
fn labels(given: &[String]) -> Result<BTreeMap<String, String>> {
    given
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !s.is_empty() => Ok((s.clone(), String::new())),
            _ => bail!("invalid argument {s:?} for \"--label\" flag: want KEY=VALUE"),
        })
        .collect()
}

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
        // `engine run` has no --platform flag (clap refuses it).
        platform: None,
        console_size: console_size(args.tty),
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
        labels: labels(&args.labels)?,
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
        options: host_options(&args.host)?,
        domainname: args.host.domainname.clone(),
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

/// The flags of `HostOptions` (Docker's `HostConfig` fields), parsed as Docker's CLI does.
fn host_options(args: &HostArgs) -> Result<HostOptions> {
    let memory_reservation = match &args.memory_reservation {
        Some(m) => graph::options::parse_bytes(m)
            .with_context(|| format!("invalid argument {m:?} for \"--memory-reservation\" flag"))?
            as i64,
        None => 0,
    };
    let mut log_config = LogConfig::default();
    if let Some(driver) = &args.log_driver {
        log_config.kind = driver.clone();
    }
    for opt in &args.log_opt {
        let Some((k, v)) = opt.split_once('=') else {
            bail!("invalid argument {opt:?} for \"--log-opt\" flag: want KEY=VALUE");
        };
        log_config.config.insert(k.to_string(), v.to_string());
    }
    Ok(HostOptions {
        memory_swappiness: args.memory_swappiness,
        memory_reservation,
        oom_score_adj: args.oom_score_adj.unwrap_or(0),
        group_add: (!args.group_add.is_empty()).then(|| args.group_add.clone()),
        dns_options: args.dns_option.clone(),
        cgroupns_mode: args.cgroupns.clone().unwrap_or_default(),
        log_config,
        volume_driver: args.volume_driver.clone().unwrap_or_default(),
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

/// The size of the terminal the CLI runs in (rows, columns), for `-t`: the container's
/// terminal starts at that size instead of 0x0 until the first resize.
fn console_size(tty: bool) -> [u16; 2] {
    use std::os::fd::AsFd;
    if !tty {
        return [0, 0];
    }
    runtime::window_size(std::io::stdout().as_fd())
        .or_else(|| runtime::window_size(std::io::stdin().as_fd()))
        .map(|(rows, cols)| [rows, cols])
        .unwrap_or_default()
}
