//! [`DevmapperDriver`]: the `graph::Driver` over a [`DeviceSet`]: layers are thin snapshots,
//! `get` activates and mounts one, `put` unmounts and deactivates it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use graph::refcount::RefCounts;
use graph::{CreateOpts, Driver, DriverConfig, Error, ErrorKind, IoContext, LayerId, Result};
use tracing::{debug, info_span, warn};

use crate::NAME;
use crate::deviceset::{DeviceSet, human};
use crate::metadata::DeviceKey;
use crate::mkfs;
use crate::options::Options;

/// The devicemapper driver.
#[derive(Debug)]
pub struct DevmapperDriver {
    home: PathBuf,
    set: Mutex<DeviceSet>,
    refs: RefCounts,
}

impl DevmapperDriver {
    /// Opens (or sets up) the pool and devices for `config`.
    pub fn open(config: &DriverConfig) -> Result<DevmapperDriver> {
        let _span = info_span!("driver", name = NAME).entered();
        let opts = Options::parse(&config.options)?;
        let set = DeviceSet::open(&config.home, opts)?;
        let mnt = config.home.join("mnt");
        fs::create_dir_all(&mnt).ctx("create directory", &mnt)?;
        Ok(DevmapperDriver {
            home: config.home.clone(),
            set: Mutex::new(set),
            refs: RefCounts::new(config.home.join(".refs")),
        })
    }

    fn lock(&self) -> MutexGuard<'_, DeviceSet> {
        self.set.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mountpoint(&self, id: &LayerId) -> PathBuf {
        self.home.join("mnt").join(id.as_str())
    }

    fn create_device(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        opts: &CreateOpts,
    ) -> Result<()> {
        let _span = info_span!("driver", name = NAME, op = "create", id = id.as_str()).entered();
        let mut set = self.lock();
        set.retry_deferred_deletions();
        let key = DeviceKey::Layer(id.clone());
        if set.device(&key).is_some() {
            return Err(Error::AlreadyExists {
                what: format!("layer {id}"),
            });
        }
        let origin = parent.map_or(DeviceKey::Base, |p| DeviceKey::Layer(p.clone()));
        let origin_size = set
            .device(&origin)
            .ok_or_else(|| Error::not_found(format!("parent layer {}", origin.hash())))?
            .size;
        let size = match opts.size {
            None => origin_size,
            Some(s) if s < origin_size => {
                return Err(Error::InvalidInput(format!(
                    "devicemapper: size {} for layer {id} is below its parent's {} (dm.basesize); \
                     a layer cannot be smaller than the base device",
                    human(s),
                    human(origin_size)
                )));
            }
            Some(s) => s.div_ceil(512) * 512,
        };
        set.add_device(&key, Some(&origin), size)?;
        if size > origin_size
            && let Err(e) = set.grow_fs(&key)
        {
            let _ = set.delete_device(&key);
            return Err(e);
        }
        Ok(())
    }

    /// Stops the driver dead at `point` of its next pool transaction, as if killed there.
    #[cfg(feature = "fault-injection")]
    pub fn set_crash_point(&self, point: Option<crate::CrashPoint>) {
        self.lock().set_crash_point(point);
    }

    /// Whether the pool has thin id `id` in use (tests: no leaked ids).
    #[cfg(feature = "fault-injection")]
    pub fn pool_has_id(&self, id: u32) -> Result<bool> {
        self.lock().pool_has_id(id)
    }

    /// Every recorded device (`""` is the base) and its thin id.
    pub fn device_ids(&self) -> BTreeMap<String, u32> {
        self.lock().device_ids()
    }

    /// The device-mapper name prefix of every device this driver makes (its pool included).
    pub fn device_prefix(&self) -> String {
        self.lock().prefix().to_string()
    }

    /// The transaction file: the last transaction opened.
    pub fn open_transaction(&self) -> Result<Option<(u64, String, u32)>> {
        Ok(self
            .lock()
            .transaction()?
            .map(|t| (t.open_transaction_id, t.device_hash, t.device_id)))
    }

    /// The pool's transaction id.
    pub fn pool_transaction_id(&self) -> Result<u64> {
        Ok(self.lock().pool_status()?.transaction_id)
    }

    fn unmount_and_deactivate(&self, set: &DeviceSet, id: &LayerId) -> Result<()> {
        let mnt = self.mountpoint(id);
        mkfs::unmount(&mnt)?;
        if let Err(e) = fs::remove_dir(&mnt)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(path = %mnt.display(), error = %e, "cannot remove mountpoint");
        }
        set.deactivate(&DeviceKey::Layer(id.clone()))
    }
}

impl Driver for DevmapperDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn home(&self) -> &Path {
        &self.home
    }

    fn create(&self, id: &LayerId, parent: Option<&LayerId>, opts: &CreateOpts) -> Result<()> {
        self.create_device(id, parent, opts)
    }

    fn create_rw(&self, id: &LayerId, parent: Option<&LayerId>, opts: &CreateOpts) -> Result<()> {
        self.create_device(id, parent, opts)
    }

    fn remove(&self, id: &LayerId) -> Result<()> {
        let _span = info_span!("driver", name = NAME, op = "remove", id = id.as_str()).entered();
        let mut set = self.lock();
        let key = DeviceKey::Layer(id.clone());
        if set.device(&key).is_none() {
            // As Docker's devicemapper: removing what is not there is not an error.
            return Ok(());
        }
        if self.refs.get(id) > 0 {
            return Err(Error::Busy(format!(
                "devicemapper: layer {id} is mounted; put it before removing it"
            )));
        }
        set.delete_device(&key)?;
        let mnt = self.mountpoint(id);
        if let Err(e) = fs::remove_dir(&mnt)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(path = %mnt.display(), error = %e, "cannot remove mountpoint");
        }
        Ok(())
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf> {
        let _span = info_span!("driver", name = NAME, op = "get", id = id.as_str()).entered();
        let set = self.lock();
        let key = DeviceKey::Layer(id.clone());
        if set.device(&key).is_none() {
            return Err(Error::not_found(format!("layer {id}")));
        }
        let mnt = self.mountpoint(id);
        let rootfs = mnt.join("rootfs");
        if self.refs.increment(id)? > 1 {
            return Ok(rootfs);
        }
        let mounted = (|| {
            let node = set.activate(&key)?;
            fs::create_dir_all(&mnt).ctx("create mountpoint", &mnt)?;
            mkfs::mount_device(set.fs, &node, &mnt, &set.opts.mount_opts)?;
            // As Docker: the layer's tree lives in rootfs/, beside the fs's lost+found.
            let prepared = fs::create_dir_all(&rootfs)
                .ctx("create directory", &rootfs)
                .and_then(|()| fs::write(mnt.join("id"), id.as_str()).ctx("write", mnt.join("id")));
            if let Err(e) = prepared {
                let _ = mkfs::unmount(&mnt);
                return Err(e);
            }
            Ok(())
        })();
        if let Err(e) = mounted {
            let _ = self.refs.decrement(id);
            if let Err(e2) = self.unmount_and_deactivate(&set, id) {
                debug!(error = %e2, "cleanup after a failed get");
            }
            return Err(e);
        }
        Ok(rootfs)
    }

    fn put(&self, id: &LayerId) -> Result<()> {
        let _span = info_span!("driver", name = NAME, op = "put", id = id.as_str()).entered();
        let set = self.lock();
        match self.refs.decrement(id)? {
            Some(0) => self.unmount_and_deactivate(&set, id),
            Some(_) => Ok(()),
            None if set.device(&DeviceKey::Layer(id.clone())).is_none() => {
                Err(Error::not_found(format!("layer {id}")))
            }
            None => {
                debug!(id = id.as_str(), "put of a layer that is not mounted");
                Ok(())
            }
        }
    }

    fn exists(&self, id: &LayerId) -> bool {
        self.lock().device(&DeviceKey::Layer(id.clone())).is_some()
    }

    fn status(&self) -> Vec<(String, String)> {
        let set = self.lock();
        let mut out = vec![("Pool Name".to_string(), set.pool.name.clone())];
        let pool = set.pool_status();
        if let Ok(s) = &pool {
            out.push(("Pool Blocksize".into(), human(s.block_size)));
        }
        let base_size = set
            .device(&DeviceKey::Base)
            .map_or(set.opts.base_size, |b| b.size);
        out.push(("Base Device Size".into(), human(base_size)));
        out.push(("Backing Filesystem".into(), set.fs.as_str().into()));
        if let Some((data, meta)) = &set.pool.files {
            // As `docker info` shows them: "file" is the loop device, "loop file" its backing file.
            let loops = |f: &Path| {
                crate::loopback::devices_backed_by(f)
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            out.push(("Data file".into(), loops(data)));
            out.push(("Metadata file".into(), loops(meta)));
            out.push(("Data loop file".into(), data.display().to_string()));
            out.push(("Metadata loop file".into(), meta.display().to_string()));
        }
        match &pool {
            Ok(s) => {
                let data_total = s.data_total * s.block_size;
                let data_used = s.data_used * s.block_size;
                let meta_total = s.meta_total * 4096;
                let meta_used = s.meta_used * 4096;
                out.push(("Data Space Used".into(), human(data_used)));
                out.push(("Data Space Total".into(), human(data_total)));
                out.push(("Data Space Available".into(), human(s.data_free_bytes())));
                out.push(("Metadata Space Used".into(), human(meta_used)));
                out.push(("Metadata Space Total".into(), human(meta_total)));
                out.push((
                    "Metadata Space Available".into(),
                    human(s.meta_free_bytes()),
                ));
                out.push((
                    "Thin Pool Minimum Free Space".into(),
                    human(data_total * u64::from(set.opts.min_free_space_percent) / 100),
                ));
                out.push(("Pool Mode".into(), s.mode.into()));
            }
            Err(e) => out.push(("Pool Status".into(), format!("error: {e}"))),
        }
        out.push((
            "Deferred Removal Enabled".into(),
            set.opts.deferred_removal.to_string(),
        ));
        out.push((
            "Deferred Deletion Enabled".into(),
            set.opts.deferred_deletion.to_string(),
        ));
        out.push((
            "Deferred Deleted Device Count".into(),
            set.deferred_deleted().to_string(),
        ));
        out
    }

    fn metadata(&self, id: &LayerId) -> Result<BTreeMap<String, String>> {
        let set = self.lock();
        let key = DeviceKey::Layer(id.clone());
        let dev = set
            .device(&key)
            .ok_or_else(|| Error::not_found(format!("layer {id}")))?;
        Ok(BTreeMap::from([
            ("DeviceId".to_string(), dev.device_id.to_string()),
            ("DeviceSize".to_string(), dev.size.to_string()),
            ("DeviceName".to_string(), set.device_name(&key)),
        ]))
    }

    fn cleanup(&self) -> Result<()> {
        let _span = info_span!("driver", name = NAME, op = "cleanup").entered();
        let mut set = self.lock();
        let mut first_err: Option<Error> = None;
        for id in self.refs.drain() {
            if let Err(e) = self.unmount_and_deactivate(&set, &id) {
                first_err.get_or_insert(e);
            }
        }
        // Mounts left by an earlier process that died.
        if let Ok(entries) = fs::read_dir(self.home.join("mnt")) {
            for entry in entries.flatten() {
                let _ = mkfs::unmount(&entry.path());
                let _ = fs::remove_dir(entry.path());
            }
        }
        if let Err(e) = set.teardown() {
            first_err.get_or_insert(e);
        }
        match first_err {
            Some(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
