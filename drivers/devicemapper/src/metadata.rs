//! What the driver records under `<home>/metadata/`, written atomically (temp, fsync, rename).
//!
//! - `deviceset.json`: the next thin id to try, the base filesystem, the pool it belongs to;
//! - `transaction.json`: the pool transaction that is open (see [`crate::deviceset`]);
//! - `base.json` and `devices/<layer-id>.json`: one thin device each.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use graph::atomic_file::{sync_dir, write_atomic};
use graph::{Error, IoContext, LayerId, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One thin device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMeta {
    /// The pool's 24-bit thin id.
    pub device_id: u32,
    /// The device size in bytes.
    pub size: u64,
    /// The pool transaction that created it.
    pub transaction_id: u64,
    /// Whether it holds a filesystem (only the base can be uninitialised).
    pub initialized: bool,
    /// Removed by the user, but the pool still has it (deferred deletion).
    #[serde(default)]
    pub deleted: bool,
}

/// Facts about the whole set of devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSetMeta {
    /// Where the search for a free thin id starts.
    pub next_device_id: u32,
    /// The base filesystem, once made.
    pub base_filesystem: Option<String>,
    /// The pool these devices live in.
    pub pool_name: String,
}

/// The pool transaction that is open, if `open_transaction_id` is above the pool's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The id the pool will have once the transaction commits.
    pub open_transaction_id: u64,
    /// The layer whose device the transaction creates or deletes ("" for the base).
    pub device_hash: String,
    /// The thin id it creates or deletes.
    pub device_id: u32,
}

/// The metadata directory.
#[derive(Debug, Clone)]
pub struct MetaDir {
    dir: PathBuf,
}

/// The key of a device file: a layer, or the base device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceKey {
    /// The base device every root layer snapshots.
    Base,
    /// A layer's device.
    Layer(LayerId),
}

impl DeviceKey {
    /// The transaction's `device_hash` for this key.
    pub fn hash(&self) -> &str {
        match self {
            DeviceKey::Base => "",
            DeviceKey::Layer(id) => id.as_str(),
        }
    }

    /// The key named by a transaction's `device_hash`.
    pub fn from_hash(hash: &str) -> Result<DeviceKey> {
        if hash.is_empty() {
            Ok(DeviceKey::Base)
        } else {
            Ok(DeviceKey::Layer(LayerId::new(hash)?))
        }
    }
}

impl MetaDir {
    /// Opens (creating) `<home>/metadata`.
    pub fn open(home: &Path) -> Result<MetaDir> {
        let dir = home.join("metadata");
        fs::create_dir_all(dir.join("devices")).ctx("create directory", dir.join("devices"))?;
        Ok(MetaDir { dir })
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn device_path(&self, key: &DeviceKey) -> PathBuf {
        match key {
            DeviceKey::Base => self.dir.join("base.json"),
            DeviceKey::Layer(id) => self
                .dir
                .join("devices")
                .join(format!("{}.json", id.as_str())),
        }
    }

    /// The device set file, if written yet.
    pub fn load_deviceset(&self) -> Result<Option<DeviceSetMeta>> {
        read_json(&self.dir.join("deviceset.json"))
    }

    /// Writes the device set file.
    pub fn save_deviceset(&self, m: &DeviceSetMeta) -> Result<()> {
        write_json(&self.dir.join("deviceset.json"), m)
    }

    /// The transaction file, if written yet.
    pub fn load_transaction(&self) -> Result<Option<Transaction>> {
        read_json(&self.dir.join("transaction.json"))
    }

    /// Writes the transaction file.
    pub fn save_transaction(&self, t: &Transaction) -> Result<()> {
        write_json(&self.dir.join("transaction.json"), t)
    }

    /// One device's file.
    pub fn load_device(&self, key: &DeviceKey) -> Result<Option<DeviceMeta>> {
        read_json(&self.device_path(key))
    }

    /// Writes one device's file.
    pub fn save_device(&self, key: &DeviceKey, m: &DeviceMeta) -> Result<()> {
        write_json(&self.device_path(key), m)
    }

    /// Deletes one device's file (absent is fine).
    pub fn remove_device(&self, key: &DeviceKey) -> Result<()> {
        let p = self.device_path(key);
        match fs::remove_file(&p) {
            Ok(()) => sync_dir(p.parent().unwrap_or(&self.dir)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).ctx("remove", p),
        }
    }

    /// Every device file.
    pub fn load_all_devices(&self) -> Result<BTreeMap<DeviceKey, DeviceMeta>> {
        let mut all = BTreeMap::new();
        if let Some(base) = self.load_device(&DeviceKey::Base)? {
            all.insert(DeviceKey::Base, base);
        }
        let dir = self.dir.join("devices");
        for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let entry = entry.ctx("read directory", &dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            if stem.starts_with('.') {
                continue; // a temp file of an interrupted atomic write
            }
            let id = LayerId::new(stem).map_err(|_| Error::Corrupt {
                path: entry.path(),
                reason: "file name is not a layer id".into(),
            })?;
            let key = DeviceKey::Layer(id);
            if let Some(m) = self.load_device(&key)? {
                all.insert(key, m);
            }
        }
        Ok(all)
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx("read", path),
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| {
        Error::InvalidInput(format!("devicemapper: serialise {}: {e}", path.display()))
    })?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_round_trip_and_list() {
        let home = tempfile::tempdir().unwrap();
        let m = MetaDir::open(home.path()).unwrap();
        let dev = DeviceMeta {
            device_id: 3,
            size: 1 << 20,
            transaction_id: 2,
            initialized: true,
            deleted: false,
        };
        let a = DeviceKey::Layer(LayerId::new("a").unwrap());
        m.save_device(&DeviceKey::Base, &dev).unwrap();
        m.save_device(
            &a,
            &DeviceMeta {
                device_id: 4,
                ..dev.clone()
            },
        )
        .unwrap();
        let all = m.load_all_devices().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[&a].device_id, 4);
        m.remove_device(&a).unwrap();
        m.remove_device(&a).unwrap();
        assert_eq!(m.load_all_devices().unwrap().len(), 1);
        assert!(m.load_transaction().unwrap().is_none());
        std::fs::write(m.path().join("transaction.json"), b"{").unwrap();
        assert_eq!(
            m.load_transaction().unwrap_err().kind(),
            graph::ErrorKind::Corrupt
        );
    }
}
