//! The volume store: `<data-root>/volumes/NAME/` holds `_data` (what containers see) and
//! `metadata.json` (driver, creation time, labels, options). Creation and removal hold the
//! store's lock, as does container creation while it takes volumes, so a volume is never
//! removed between a container naming it and the container being recorded.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use graph::atomic_file::write_atomic;
use graph::store_lock::StoreLock;
use serde::{Deserialize, Serialize};

use super::local;
use crate::container::record::Record;

/// The only driver.
pub const DRIVER: &str = "local";

/// What is kept about a volume besides its data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    /// RFC 3339.
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The `local` driver's options (`type`, `device`, `o`).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Made for one container (`-v /path`, an image's `VOLUME`): `rm -v` removes it with
    /// the container.
    #[serde(default)]
    pub anonymous: bool,
}

/// Docker's `GET /volumes/{name}` document.
pub fn volume_json(v: &Volume, mountpoint: &Path, usage: Option<(i64, i64)>) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": if v.labels.is_empty() { serde_json::Value::Null } else { serde_json::json!(v.labels) },
        "Mountpoint": mountpoint.to_string_lossy(),
        "Name": v.name,
        "Options": if v.options.is_empty() { serde_json::Value::Null } else { serde_json::json!(v.options) },
        "Scope": "local",
    });
    if let Some((size, refs)) = usage {
        doc["UsageData"] = serde_json::json!({ "Size": size, "RefCount": refs });
    }
    doc
}

/// `<data-root>/volumes`.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    root: PathBuf,
}

impl VolumeStore {
    /// Opens (creating) `<data_root>/volumes`.
    pub fn open(data_root: &Path) -> Result<Self> {
        let root = data_root.join("volumes");
        fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        Ok(VolumeStore { root })
    }

    /// The store-wide lock.
    pub fn lock(&self) -> Result<StoreLock> {
        Ok(StoreLock::exclusive(&self.root.join(".lock"))?)
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Where containers see the volume's content.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir(name).join("_data")
    }

    /// Reads volume `name`.
    pub fn get(&self, name: &str) -> Result<Volume> {
        if !valid_name(name) || !self.data_path(name).is_dir() {
            return Err(crate::volume::no_such_volume(name).into());
        }
        let meta = self.dir(name).join("metadata.json");
        match fs::read(&meta) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("corrupt {}", meta.display())),
            // A volume made before metadata was kept: a plain local volume.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Volume {
                name: name.to_string(),
                driver: DRIVER.into(),
                created_at: created_at(&self.dir(name)),
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                anonymous: false,
            }),
            Err(e) => Err(e).with_context(|| format!("reading {}", meta.display())),
        }
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for entry in
            fs::read_dir(&self.root).with_context(|| format!("listing {}", self.root.display()))?
        {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            match self.get(&name) {
                Ok(v) => out.push(v),
                Err(e) if crate::error::kind_of(&e) == crate::error::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates volume `name` (a random one when `None`); an existing volume of that name is
    /// returned as it is, as Docker does. The caller holds [`VolumeStore::lock`].
    pub fn create_locked(
        &self,
        name: Option<&str>,
        driver: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume> {
        if !driver.is_empty() && driver != DRIVER {
            return Err(crate::error::EngineError::not_found(format!(
                "error looking up volume plugin {driver}: plugin \"{driver}\" not found (only the \"local\" driver exists)"
            )).into());
        }
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !valid_name(n) {
                    bail!(
                        "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                    );
                }
                n.to_string()
            }
            None => crate::container::create::random_id(),
        };
        if let Ok(existing) = self.get(&name) {
            return Ok(existing);
        }
        let root = crate::events::root_of(&self.root);
        local::validate_options(&options).with_context(|| format!("create {name}"))?;
        let volume = Volume {
            name: name.clone(),
            driver: DRIVER.into(),
            created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            labels,
            options,
            anonymous,
        };
        let data = self.data_path(&name);
        fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        // Docker's volume directories: only root may enter the volume's parent.
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(self.dir(&name), fs::Permissions::from_mode(0o701));
        write_atomic(
            &self.dir(&name).join("metadata.json"),
            &serde_json::to_vec(&volume)?,
        )?;
        crate::events::emit(root, crate::events::Event::volume("create", &name, DRIVER));
        Ok(volume)
    }

    /// [`VolumeStore::create_locked`] under the lock.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume> {
        let _lock = self.lock()?;
        self.create_locked(name, driver, labels, options, false)
    }

    /// Removes volume `name`: refused while one of `containers` uses it (Docker's
    /// message). The caller holds the lock.
    pub fn remove_locked(&self, name: &str, containers: &[Record]) -> Result<()> {
        let volume = self.get(name)?;
        let users = users_of(name, containers);
        if !users.is_empty() {
            return Err(crate::error::EngineError::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            ))
            .into());
        }
        local::unmount_stale(self, &volume)?;
        let dir = self.dir(name);
        fs::remove_dir_all(&dir).with_context(|| format!("remove {name}: {}", dir.display()))?;
        let root = crate::events::root_of(&self.root);
        crate::events::emit(
            root,
            crate::events::Event::volume("destroy", name, &volume.driver),
        );
        Ok(())
    }

    /// Removes every volume no container uses and whose labels match `filters`
    /// (`label=K[=V]`, `label!=K[=V]`, by [`crate::prune`]'s rules; any other key is
    /// refused); returns the names and the bytes freed. Named volumes go too: Engine API 1.41
    /// prunes every unused local volume (1.42 narrowed it to anonymous ones unless `all`).
    pub fn prune(&self, containers: &[Record], filters: &[String]) -> Result<(Vec<String>, u64)> {
        use crate::prune::{Kind, PruneFilter};
        let filter = PruneFilter::parse(Kind::Volumes, filters)?;
        let _lock = self.lock()?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for v in self.list()? {
            if !users_of(&v.name, containers).is_empty() || !filter.matches_labels(&v.labels) {
                continue;
            }
            let size = self.size(&v.name);
            self.remove_locked(&v.name, containers)?;
            reclaimed += size;
            deleted.push(v.name);
        }
        Ok((deleted, reclaimed))
    }

    /// The bytes of the files in the volume (apparent sizes; hard links once).
    pub fn size(&self, name: &str) -> u64 {
        tree_size(&self.data_path(name))
    }
}

/// The ids of the containers (running or not) that mount volume `name`.
pub fn users_of(name: &str, containers: &[Record]) -> Vec<String> {
    containers
        .iter()
        .filter(|r| {
            r.mounts
                .iter()
                .any(|m| m.kind == "volume" && m.name == name)
        })
        .map(|r| r.id.clone())
        .collect()
}

/// `label=K`, `label=K=V`, `label!=...`, `name=`, `driver=`, `dangling=` (checked by the
/// caller) of `volume ls`/`prune`.
/// Labels must all match; several values of another key match any of them (Docker's rule).
pub fn matches_filters(v: &Volume, filters: &[String]) -> Result<bool> {
    let mut any_of: BTreeMap<&str, bool> = BTreeMap::new();
    for f in filters {
        let (key, value) = f
            .split_once('=')
            .with_context(|| format!("bad format of filter (expected name=value): {f}"))?;
        let label = |want: &str| match want.split_once('=') {
            Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
            None => v.labels.contains_key(want),
        };
        let ok = match key {
            "label" => label(value),
            "label!" => !label(value),
            "name" | "driver" | "dangling" => {
                let hit = match key {
                    "name" => v.name.contains(value),
                    "driver" => v.driver == value,
                    // Checked by the caller, who knows the containers.
                    _ => true,
                };
                *any_of.entry(key).or_default() |= hit;
                true
            }
            other => bail!("invalid filter '{other}'"),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(any_of.values().all(|hit| *hit))
}

/// Docker's rule for local volume names.
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() >= 2
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn created_at(dir: &Path) -> String {
    fs::metadata(dir)
        .and_then(|m| m.modified())
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|_| crate::container::record::ZERO_TIME.into())
}

/// Apparent size of the files under `root`, each inode once, not following symlinks.
pub fn tree_size(root: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
                total += meta.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert!(valid_name("data"));
        assert!(valid_name("my_vol.1-a"));
        assert!(!valid_name("a"));
        assert!(!valid_name("_x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("../x"));
    }

    #[test]
    fn label_filters_all_must_match() {
        let v = Volume {
            name: "v1".into(),
            driver: DRIVER.into(),
            created_at: String::new(),
            labels: [("a".to_string(), "1".to_string())].into(),
            options: BTreeMap::new(),
            anonymous: false,
        };
        assert!(matches_filters(&v, &["label=a".into()]).unwrap());
        assert!(matches_filters(&v, &["label=a=1".into()]).unwrap());
        assert!(!matches_filters(&v, &["label=a".into(), "label=b".into()]).unwrap());
        assert!(!matches_filters(&v, &["label!=a".into()]).unwrap());
        assert!(matches_filters(&v, &["bogus=1".into()]).is_err());
    }
}
