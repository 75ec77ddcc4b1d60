//! `engine` commands: volume.

use crate::args::VolumeCommand;
use crate::template;
use anyhow::{Result, bail};
use engine_core::engine::Engine;
use engine_core::volume::ops::{create, inspect_json, key_values, list_json, prune, remove};
use serde_json::Value;
use std::io::{self, Write};
use std::process::ExitCode;

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
            println!(
                "Total reclaimed space: {}",
                distribution::human::size(bytes)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
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
