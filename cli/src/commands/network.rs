//! `engine` commands: network.

use crate::args::{NetworkCommand, NetworkCreateArgs, NetworkLsArgs, PortArgs};
use anyhow::{Result, bail};
use engine_core::container::store::ContainerStore;
use engine_core::engine::Engine;
use engine_core::network::ops::{
    connect, create, disconnect, find, inspect_json, list, port_lines, prune, remove,
};
use engine_core::network::record::Network;
use engine_core::network::store::CreateNetwork;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::ExitCode;

fn parse_kv(list: &[String], flag: &str) -> Result<BTreeMap<String, String>> {
    list.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !s.is_empty() => Ok((s.clone(), String::new())),
            _ => bail!("invalid {flag} {s:?}: want KEY=VALUE"),
        })
        .collect()
}

fn create_request(a: &NetworkCreateArgs) -> Result<CreateNetwork> {
    Ok(CreateNetwork {
        name: a.name.clone(),
        driver: a.driver.clone(),
        subnet: a.subnet.clone(),
        gateway: a.gateway.clone(),
        ip_range: a.ip_range.clone(),
        internal: a.internal,
        attachable: a.attachable,
        ipv6: a.ipv6,
        labels: parse_kv(&a.labels, "--label")?,
        options: parse_kv(&a.opts, "--opt")?,
        ipam_driver: a.ipam_driver.clone(),
    })
}

fn ls(engine: &Engine, a: &NetworkLsArgs) -> Result<()> {
    let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &a.filters {
        let Some((k, v)) = f.split_once('=') else {
            bail!("bad format of filter (expected name=value): {f}");
        };
        filters
            .entry(k.to_string())
            .or_default()
            .push(v.to_string());
    }
    let networks = list(engine, &filters)?;
    let id = |n: &Network| {
        if a.no_trunc {
            n.id.clone()
        } else {
            n.short_id().to_string()
        }
    };
    if a.quiet {
        for n in &networks {
            println!("{}", id(n));
        }
        return Ok(());
    }
    const FIELDS: &[(&str, &str)] = &[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("Internal", "INTERNAL"),
        ("CreatedAt", "CREATED AT"),
        ("Labels", "LABELS"),
    ];
    let rows: Vec<Value> = networks
        .iter()
        .map(|n| {
            crate::template::row(FIELDS, &|f| {
                Some(match f {
                    "ID" => id(n),
                    "Name" => n.name.clone(),
                    "Driver" => n.driver.clone(),
                    "Scope" => "local".into(),
                    "Internal" => n.internal.to_string(),
                    "CreatedAt" => n.created.clone(),
                    "Labels" => n
                        .labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => return None,
                })
            })
        })
        .collect();
    let header = crate::template::row(FIELDS, &|f| {
        FIELDS
            .iter()
            .find(|(k, _)| *k == f)
            .map(|(_, h)| h.to_string())
    });
    let default = "table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}";
    let format = a.format.as_deref().unwrap_or(default);
    crate::template::print_listing(&mut std::io::stdout(), format, default, &header, &rows)
}

/// `engine network ...`.
pub fn run(engine: &Engine, cmd: NetworkCommand) -> Result<ExitCode> {
    match cmd {
        NetworkCommand::Create(a) => {
            let n = create(engine, &create_request(&a)?)?;
            println!("{}", n.id);
        }
        NetworkCommand::Ls(a) => ls(engine, &a)?,
        NetworkCommand::Inspect { networks, format } => {
            let mut docs = Vec::new();
            let mut failed = false;
            for name in &networks {
                match find(engine, name) {
                    Ok(n) => docs.push(inspect_json(engine, &n)?),
                    Err(e) => {
                        eprintln!("Error: {e:#}");
                        failed = true;
                    }
                }
            }
            super::inspect::print_docs(&docs, format.as_deref())?;
            if failed {
                return Ok(ExitCode::from(1));
            }
        }
        NetworkCommand::Rm { networks } => {
            let mut failed = false;
            for name in &networks {
                match remove(engine, name) {
                    Ok(_) => println!("{name}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e:#}");
                        failed = true;
                    }
                }
            }
            if failed {
                return Ok(ExitCode::from(1));
            }
        }
        NetworkCommand::Prune { force, filters } => {
            if !force {
                bail!("network prune removes every unused network: confirm with --force (-f)");
            }
            let removed = prune(engine, &filters)?;
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for n in removed {
                    println!("{n}");
                }
            }
        }
        NetworkCommand::Connect(a) => connect(
            engine,
            &a.network,
            &a.container,
            &a.aliases,
            a.ip.as_deref(),
        )?,
        NetworkCommand::Disconnect {
            network,
            container,
            force,
        } => disconnect(engine, &network, &container, force)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `engine port CONTAINER [PORT[/PROTO]]`.
pub fn port(engine: &Engine, args: PortArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let record = store.resolve(&args.container)?;
    for line in port_lines(&record, args.port.as_deref())? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
