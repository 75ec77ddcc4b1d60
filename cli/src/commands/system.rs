//! `engine system df` and `engine builder prune`.

use std::io::{self, Write};

use anyhow::Result;
use distribution::human;
use engine_core::engine::Engine;
use serde_json::Value;

use crate::args::SystemCommand;
use crate::template::write_table;

/// `engine system ...`.
pub fn run(engine: &Engine, cmd: SystemCommand) -> Result<()> {
    match cmd {
        SystemCommand::Df => df(engine),
    }
}

/// `engine builder prune`: the build cache's step index (see
/// `engine_core::build::cache::BuildCache::prune`).
pub fn builder_prune(engine: &Engine, all: bool, force: bool, filters: &[String]) -> Result<()> {
    if !force {
        let what = if all {
            "all build cache"
        } else {
            "all dangling build cache"
        };
        print!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        io::stdout().flush()?;
        let mut answer = String::new();
        io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(());
        }
    }
    let (deleted, freed) = engine_core::build::cache::prune(engine, all, filters)?;
    let mut out = io::stdout().lock();
    if !deleted.is_empty() {
        writeln!(out, "Deleted build cache objects:")?;
        for key in deleted {
            writeln!(out, "{key}")?;
        }
    }
    writeln!(out, "Total reclaimed space: {}", human::size(freed))?;
    Ok(())
}

/// Docker's RECLAIMABLE cell: `1.2MB (40%)`.
fn reclaimable(bytes: u64, total: u64) -> String {
    if total == 0 {
        return human::size(bytes);
    }
    format!("{} ({}%)", human::size(bytes), bytes * 100 / total)
}

/// `system df`: Docker's summary table, from the same numbers as `GET /system/df`.
fn df(engine: &Engine) -> Result<()> {
    let (images, layers_size) = engine_core::image::disk_usage(engine)?;
    let num = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0).max(0) as u64;
    let active_images: Vec<&Value> = images.iter().filter(|i| num(i, "Containers") > 0).collect();
    // As Docker's CLI: what the used images hold alone cannot be reclaimed.
    let used: u64 = (active_images.iter())
        .map(|i| num(i, "Size").saturating_sub(num(i, "SharedSize")))
        .sum();
    let records = engine_core::container::list::list(engine, true, None, &[])?;
    let mut containers_size = 0;
    let mut containers_free = 0;
    for r in &records {
        let (rw, _) = engine_core::container::inspect::sizes(engine, r);
        containers_size += rw;
        if !r.state.running {
            containers_free += rw;
        }
    }
    let (volumes, volumes_size) = engine_core::volume::ops::usage_json(engine)?;
    let unused_volumes: Vec<&Value> = (volumes.iter())
        .filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) == 0)
        .collect();
    let volumes_free: u64 = (unused_volumes.iter())
        .map(|v| v["UsageData"]["Size"].as_i64().unwrap_or(0).max(0) as u64)
        .sum();
    let cache = engine_core::build::cache::cache_of(engine).usage();
    let cache_size: u64 = cache.iter().map(|(_, s, _)| s).sum();
    let rows = vec![
        vec!["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
            .into_iter()
            .map(String::from)
            .collect(),
        vec![
            "Images".into(),
            images.len().to_string(),
            active_images.len().to_string(),
            human::size(layers_size),
            reclaimable(layers_size.saturating_sub(used), layers_size),
        ],
        vec![
            "Containers".into(),
            records.len().to_string(),
            records
                .iter()
                .filter(|r| r.state.running)
                .count()
                .to_string(),
            human::size(containers_size),
            reclaimable(containers_free, containers_size),
        ],
        vec![
            "Local Volumes".into(),
            volumes.len().to_string(),
            (volumes.len() - unused_volumes.len()).to_string(),
            human::size(volumes_size),
            reclaimable(volumes_free, volumes_size),
        ],
        vec![
            "Build Cache".into(),
            cache.len().to_string(),
            "0".into(),
            human::size(cache_size),
            human::size(cache_size),
        ],
    ];
    write_table(&mut io::stdout().lock(), &rows)?;
    Ok(())
}
