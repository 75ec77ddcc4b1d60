//! `engine volume create|ls|inspect|rm|prune`, and the functions the API's `/volumes`
//! routes share with them.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::cli::VolumeCommand;
use crate::container::record::Record;
use crate::container::store::ContainerStore;
use crate::engine::Engine;
use crate::template;
use crate::volume::store::{self, Volume, VolumeStore};

fn stores(engine: &Engine) -> Result<(VolumeStore, ContainerStore)> {
    Ok((
        VolumeStore::open(&engine.settings.data_root)?,
        ContainerStore::open(&engine.settings.data_root)?,
    ))
}

/// `KEY=VALUE` strings (a bare `KEY` has an empty value) as a map.
pub fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (i.to_string(), String::new()),
        })
        .collect()
}

/// Creates a volume (or returns the existing one of that name).
pub fn create(
    engine: &Engine,
    name: Option<&str>,
    driver: &str,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
) -> Result<Volume> {
    let (volumes, _) = stores(engine)?;
    volumes.create(name, driver, labels, options)
}

/// Docker's volume document.
pub fn inspect_json(engine: &Engine, name: &str) -> Result<Value> {
    let (volumes, _) = stores(engine)?;
    let v = volumes.get(name)?;
    Ok(store::volume_json(&v, &volumes.data_path(name), None))
}

/// The volumes matching `filters` (`dangling=`, `name=`, `driver=`, `label=`), as documents.
pub fn list_json(engine: &Engine, filters: &[String]) -> Result<Vec<Value>> {
    let (volumes, containers) = stores(engine)?;
    let records = containers.list()?;
    let mut out = Vec::new();
    for v in volumes.list()? {
        if !store::matches_filters(&v, filters)? || !dangling_matches(&v, &records, filters)? {
            continue;
        }
        out.push(store::volume_json(&v, &volumes.data_path(&v.name), None));
    }
    Ok(out)
}

fn dangling_matches(v: &Volume, records: &[Record], filters: &[String]) -> Result<bool> {
    let unused = store::users_of(&v.name, records).is_empty();
    for f in filters {
        if let Some(want) = f.strip_prefix("dangling=") {
            let want = match want {
                "true" | "1" => true,
                "false" | "0" => false,
                other => bail!("invalid filter 'dangling={other}'"),
            };
            if want != unused {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// `system df`'s volumes: each with its size and how many containers use it.
pub fn usage_json(engine: &Engine) -> Result<(Vec<Value>, u64)> {
    let (volumes, containers) = stores(engine)?;
    let records = containers.list()?;
    let mut total = 0;
    let mut out = Vec::new();
    for v in volumes.list()? {
        let size = volumes.size(&v.name);
        total += size;
        let refs = store::users_of(&v.name, &records).len();
        out.push(store::volume_json(
            &v,
            &volumes.data_path(&v.name),
            Some((size as i64, refs as i64)),
        ));
    }
    Ok((out, total))
}

/// Removes a volume; refused while a container uses it, even with `force` (which only
/// makes a missing volume no error, as Docker's `-f`).
pub fn remove(engine: &Engine, name: &str, force: bool) -> Result<()> {
    let (volumes, containers) = stores(engine)?;
    let _lock = volumes.lock()?;
    match volumes.remove_locked(name, &containers.list()?) {
        Err(e) if force && e.downcast_ref::<crate::volume::NoSuchVolume>().is_some() => Ok(()),
        other => other,
    }
}

/// Removes the unused volumes matching `filters`; their names and the bytes freed.
pub fn prune(engine: &Engine, filters: &[String]) -> Result<(Vec<String>, u64)> {
    let (volumes, containers) = stores(engine)?;
    volumes.prune(&containers.list()?, filters)
}

const FIELDS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

const DEFAULT_TABLE: &str = "table {{.Driver}}\t{{.Name}}";

pub fn run(engine: &Engine, cmd: VolumeCommand) -> Result<ExitCode> {
    match cmd {
        VolumeCommand::Create {
            driver,
            labels,
            opts,
            name,
            name_flag,
        } => {
            if name.is_some() && name_flag.is_some() && name != name_flag {
                bail!(
                    "conflicting options: either specify --name or provide positional arg, not both"
                );
            }
            let name = name.or(name_flag);
            let v = create(
                engine,
                name.as_deref(),
                &driver,
                key_values(&labels),
                key_values(&opts),
            )?;
            println!("{}", v.name);
        }
        VolumeCommand::Ls {
            quiet,
            filters,
            format,
        } => {
            let docs = list_json(engine, &filters)?;
            let mut out = io::stdout().lock();
            if quiet {
                for d in &docs {
                    writeln!(out, "{}", d["Name"].as_str().unwrap_or_default())?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            let header = template::row(FIELDS, &|f| {
                FIELDS
                    .iter()
                    .find(|(k, _)| *k == f)
                    .map(|(_, h)| h.to_string())
            });
            let rows: Vec<Value> = docs
                .iter()
                .map(|d| {
                    template::row(FIELDS, &|f| {
                        Some(match f {
                            "Labels" => d["Labels"]
                                .as_object()
                                .map(|m| {
                                    m.iter()
                                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                                        .collect::<Vec<_>>()
                                        .join(",")
                                })
                                .unwrap_or_default(),
                            other => d[other].as_str().unwrap_or_default().to_string(),
                        })
                    })
                })
                .collect();
            let format = format.as_deref().unwrap_or(DEFAULT_TABLE);
            template::print_listing(&mut out, format, DEFAULT_TABLE, &header, &rows)?;
        }
        VolumeCommand::Inspect { format, names } => {
            let mut docs = Vec::new();
            let mut failed = false;
            for name in &names {
                match inspect_json(engine, name) {
                    Ok(d) => docs.push(d),
                    Err(_) => {
                        eprintln!("Error: No such volume: {name}");
                        failed = true;
                    }
                }
            }
            super::inspect::print_docs(&docs, format.as_deref())?;
            if failed {
                return Ok(ExitCode::from(1));
            }
        }
        VolumeCommand::Rm { force, names } => {
            let mut failed = false;
            for name in &names {
                match remove(engine, name, force) {
                    Ok(()) => println!("{name}"),
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
        VolumeCommand::Prune { force, filters } => {
            if !force {
                print!(
                    "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
                );
                io::stdout().flush()?;
                let mut answer = String::new();
                io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let (deleted, bytes) = prune(engine, &filters)?;
            if !deleted.is_empty() {
                println!("Deleted Volumes:");
                for name in deleted {
                    println!("{name}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", crate::human::size(bytes));
        }
    }
    Ok(ExitCode::SUCCESS)
}
