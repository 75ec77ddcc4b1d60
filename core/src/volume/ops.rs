//! `engine volume create|ls|inspect|rm|prune`, and the functions the API's `/volumes`
//! routes share with them.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::container::record::Record;
use crate::container::store::ContainerStore;
use crate::engine::Engine;
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
        Err(e) if force && crate::error::kind_of(&e) == crate::error::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Removes the unused volumes matching `filters`; their names and the bytes freed.
pub fn prune(engine: &Engine, filters: &[String]) -> Result<(Vec<String>, u64)> {
    let (volumes, containers) = stores(engine)?;
    volumes.prune(&containers.list()?, filters)
}
