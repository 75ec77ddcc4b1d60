//! The set of thin devices in one pool, and the transaction protocol that keeps the pool and
//! the JSON metadata in step across crashes.
//!
//! Every change to the pool (create or delete one thin id) runs as one transaction:
//!
//! 1. write `transaction.json` with `open_transaction_id = pool tid + 1`, the layer and the id;
//! 2. message the pool (`create_snap`, `create_thin` or `delete`);
//! 3. write (or remove) the device's JSON file;
//! 4. commit: message the pool `set_transaction_id <old> <new>`.
//!
//! At start, an open transaction (`open_transaction_id` above the pool's id) did not commit:
//! its thin id is deleted from the pool and its JSON file removed, so a crash anywhere leaves
//! no leaked id and no file naming an id the pool lacks. A half-done create is rolled back;
//! a half-done delete is rolled forward (the layer was being removed anyway).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use graph::{Digest, Error, IoContext, Result};
use tracing::{info, warn};

use crate::dm::{Dm, devnode, os_errno};
use crate::fault::CrashPoint;
use crate::metadata::{DeviceKey, DeviceMeta, DeviceSetMeta, MetaDir, Transaction};
use crate::mkfs;
use crate::options::{Filesystem, Options};
use crate::pool::{Pool, PoolStatus};

/// Thin ids are 24 bits wide.
const MAX_DEVICE_ID: u32 = 0x00ff_ffff;
/// Longest device-mapper name (DM_NAME_LEN less the NUL).
const MAX_NAME: usize = 127;

/// All devices of one driver home.
#[derive(Debug)]
pub struct DeviceSet {
    dm: Dm,
    home: PathBuf,
    prefix: String,
    /// The parsed options.
    pub opts: Options,
    /// The pool.
    pub pool: Pool,
    meta: MetaDir,
    set: DeviceSetMeta,
    devices: BTreeMap<DeviceKey, DeviceMeta>,
    used_ids: BTreeSet<u32>,
    transaction_id: u64,
    /// The filesystem inside every device.
    pub fs: Filesystem,
    crash_at: Option<CrashPoint>,
    crashed: bool,
}

impl DeviceSet {
    /// Opens the pool and the metadata under `home`, finishes any interrupted transaction,
    /// retries deferred deletions, and makes the base device on first use.
    pub fn open(home: &Path, opts: Options) -> Result<DeviceSet> {
        let dm = Dm::open()?;
        std::fs::create_dir_all(home).ctx("create directory", home)?;
        let prefix = crate::pool::name_prefix(home)?;
        let pool = Pool::open(&dm, home, &prefix, &opts)?;
        let meta = MetaDir::open(home)?;
        let status = pool.status(&dm)?;
        let stored = meta.load_deviceset()?;
        let set = match stored {
            Some(s) if s.pool_name != pool.name => {
                return Err(Error::InvalidInput(format!(
                    "devicemapper: {} belongs to thin pool {}, but this configuration uses {}; \
                     use the same pool (dm.thinpooldev) or another data root",
                    home.display(),
                    s.pool_name,
                    pool.name
                )));
            }
            Some(s) => {
                if s.base_filesystem.is_some()
                    && status.transaction_id == 0
                    && status.data_used == 0
                {
                    return Err(Error::Corrupt {
                        path: meta.path().to_path_buf(),
                        reason: format!(
                            "the metadata describes devices, but thin pool {} is empty: was the pool \
                             recreated? Move {} away to start afresh",
                            pool.name,
                            home.display()
                        ),
                    });
                }
                s
            }
            None => {
                if !pool.owned && (status.transaction_id != 0 || status.data_used != 0) {
                    return Err(Error::InvalidInput(format!(
                        "devicemapper: unable to take ownership of thin pool {}: it already has data \
                         (transaction id {}, {} data blocks used)",
                        pool.name, status.transaction_id, status.data_used
                    )));
                }
                DeviceSetMeta {
                    next_device_id: 1,
                    base_filesystem: None,
                    pool_name: pool.name.clone(),
                }
            }
        };
        let fs = match set.base_filesystem.as_deref().map(Filesystem::parse) {
            Some(Some(fs)) => fs,
            Some(None) => {
                return Err(Error::Corrupt {
                    path: meta.path().join("deviceset.json"),
                    reason: "unknown base filesystem".into(),
                });
            }
            None => opts.fs,
        };
        let devices = meta.load_all_devices()?;
        let used_ids = devices.values().map(|d| d.device_id).collect();
        let mut ds = DeviceSet {
            dm,
            home: home.to_path_buf(),
            prefix,
            opts,
            pool,
            meta,
            set,
            devices,
            used_ids,
            transaction_id: status.transaction_id,
            fs,
            crash_at: None,
            crashed: false,
        };
        ds.rollback_open_transaction()?;
        ds.retry_deferred_deletions();
        ds.ensure_base()?;
        Ok(ds)
    }

    /// Stops the set dead at `point` of the next transaction (tests only).
    pub fn set_crash_point(&mut self, point: Option<CrashPoint>) {
        self.crash_at = point;
    }

    fn crash(&mut self, point: CrashPoint) -> Result<()> {
        if self.crash_at == Some(point) {
            self.crashed = true;
            return Err(Error::Io {
                op: "simulated crash",
                path: self.home.clone(),
                source: std::io::Error::other(format!("fault injection at {point:?}")),
            });
        }
        Ok(())
    }

    fn alive(&self) -> Result<()> {
        if self.crashed {
            return Err(Error::Io {
                op: "use driver after simulated crash",
                path: self.home.clone(),
                source: std::io::Error::other("fault injection"),
            });
        }
        Ok(())
    }

    /// The device-mapper device for `key`.
    pub fn device_name(&self, key: &DeviceKey) -> String {
        let name = match key {
            DeviceKey::Base => format!("{}-base", self.prefix),
            DeviceKey::Layer(id) => format!("{}-{}", self.prefix, id.as_str()),
        };
        if name.len() <= MAX_NAME {
            return name;
        }
        format!(
            "{}-{}",
            self.prefix,
            &Digest::of(key.hash().as_bytes()).hex()[..40]
        )
    }

    /// The name prefix every device of this home carries.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The device of a layer (not one awaiting deferred deletion).
    pub fn device(&self, key: &DeviceKey) -> Option<&DeviceMeta> {
        self.devices.get(key).filter(|d| !d.deleted)
    }

    /// The pool's status.
    pub fn pool_status(&self) -> Result<PoolStatus> {
        self.pool.status(&self.dm)
    }

    /// How many devices await deferred deletion.
    pub fn deferred_deleted(&self) -> usize {
        self.devices.values().filter(|d| d.deleted).count()
    }

    fn rollback_open_transaction(&mut self) -> Result<()> {
        let Some(tx) = self.meta.load_transaction()? else {
            return Ok(());
        };
        if tx.open_transaction_id <= self.transaction_id {
            return Ok(());
        }
        warn!(
            pool = %self.pool.name,
            open = tx.open_transaction_id,
            pool_tid = self.transaction_id,
            device_id = tx.device_id,
            "rolling back an interrupted pool transaction"
        );
        let key = DeviceKey::from_hash(&tx.device_hash)?;
        let name = self.device_name(&key);
        self.dm.remove(&name, false)?;
        self.pool.delete(&self.dm, tx.device_id)?;
        if self
            .devices
            .get(&key)
            .is_some_and(|d| d.device_id == tx.device_id)
        {
            self.meta.remove_device(&key)?;
            self.devices.remove(&key);
        }
        self.used_ids.remove(&tx.device_id);
        self.meta.save_transaction(&Transaction {
            open_transaction_id: self.transaction_id,
            ..tx
        })
    }

    fn open_transaction(&mut self, key: &DeviceKey, device_id: u32) -> Result<u64> {
        let open = self.transaction_id + 1;
        self.meta.save_transaction(&Transaction {
            open_transaction_id: open,
            device_hash: key.hash().to_string(),
            device_id,
        })?;
        Ok(open)
    }

    /// Abandons an open transaction after a failure that left the pool unchanged.
    fn abandon_transaction(&mut self) {
        let tx = Transaction {
            open_transaction_id: self.transaction_id,
            ..Default::default()
        };
        if let Err(e) = self.meta.save_transaction(&tx) {
            warn!(error = %e, "cannot reset the transaction file; the next start rolls it back");
        }
    }

    fn commit(&mut self, open: u64) -> Result<()> {
        self.pool
            .set_transaction_id(&self.dm, self.transaction_id, open)?;
        self.transaction_id = open;
        Ok(())
    }

    fn allocate_id(&mut self) -> Result<u32> {
        let start = self.set.next_device_id.clamp(1, MAX_DEVICE_ID);
        let mut id = start;
        loop {
            if !self.used_ids.contains(&id) {
                self.set.next_device_id = if id == MAX_DEVICE_ID { 1 } else { id + 1 };
                return Ok(id);
            }
            id = if id == MAX_DEVICE_ID { 1 } else { id + 1 };
            if id == start {
                return Err(Error::NoSpace(format!(
                    "devicemapper: all thin device ids of pool {} are in use",
                    self.pool.name
                )));
            }
        }
    }

    /// Fails with `NoSpace` when free data or metadata space is below `dm.min_free_space`.
    pub fn check_free_space(&self) -> Result<()> {
        let s = self.pool_status()?;
        let pct = u64::from(self.opts.min_free_space_percent);
        let data_min = s.data_total * pct / 100;
        let meta_min = s.meta_total * pct / 100;
        let data_free = s.data_total.saturating_sub(s.data_used);
        let meta_free = s.meta_total.saturating_sub(s.meta_used);
        if data_free < data_min.max(1) {
            return Err(Error::NoSpace(format!(
                "devicemapper: thin pool {} has {} free data space ({data_free} of {} blocks), below \
                 dm.min_free_space={pct}%; remove images or containers, or grow the pool",
                self.pool.name,
                human(s.data_free_bytes()),
                s.data_total
            )));
        }
        if meta_free < meta_min.max(1) {
            return Err(Error::NoSpace(format!(
                "devicemapper: thin pool {} has {} free metadata space ({meta_free} of {} blocks), below \
                 dm.min_free_space={pct}%; remove images or containers, or grow the metadata",
                self.pool.name,
                human(s.meta_free_bytes()),
                s.meta_total
            )));
        }
        Ok(())
    }

    /// Creates the device of `key`: a snapshot of `origin`'s device, or (for the base) an empty
    /// thin device. `size` is in bytes.
    pub fn add_device(
        &mut self,
        key: &DeviceKey,
        origin: Option<&DeviceKey>,
        size: u64,
    ) -> Result<DeviceMeta> {
        self.alive()?;
        if self.devices.contains_key(key) {
            return Err(Error::AlreadyExists {
                what: format!("devicemapper device for {}", key.hash()),
            });
        }
        self.check_free_space()?;
        let origin = match origin {
            Some(o) => Some((
                self.device(o)
                    .ok_or_else(|| Error::not_found(format!("layer {}", o.hash())))?
                    .device_id,
                self.device_name(o),
            )),
            None => None,
        };
        let mut id = self.allocate_id()?;
        let mut open = self.open_transaction(key, id)?;
        self.crash(CrashPoint::TransactionOpened)?;
        let mut tries = 0;
        loop {
            let created = match &origin {
                Some((origin_id, origin_name)) => self.snapshot(id, *origin_id, origin_name),
                None => self.pool.create(&self.dm, id, None),
            };
            match created {
                Ok(()) => break,
                Err(e) if os_errno(&e) == Some(libc::EEXIST) && tries < 16 => {
                    // The pool has this id though no file names it: skip it for good.
                    warn!(
                        device_id = id,
                        "thin id already exists in the pool; trying another"
                    );
                    self.used_ids.insert(id);
                    tries += 1;
                    id = self.allocate_id()?;
                    open = self.open_transaction(key, id)?;
                }
                Err(e) => {
                    self.abandon_transaction();
                    return Err(e);
                }
            }
        }
        self.used_ids.insert(id);
        self.crash(CrashPoint::PoolMessaged)?;
        let dev = DeviceMeta {
            device_id: id,
            size,
            transaction_id: open,
            initialized: origin.is_some(),
            deleted: false,
        };
        let result = self
            .meta
            .save_device(key, &dev)
            .and_then(|()| self.crash(CrashPoint::DeviceRecorded))
            .and_then(|()| self.commit(open));
        if let Err(e) = result {
            if !self.crashed {
                let _ = self.meta.remove_device(key);
                let _ = self.pool.delete(&self.dm, id);
                self.used_ids.remove(&id);
                self.abandon_transaction();
            }
            return Err(e);
        }
        self.crash(CrashPoint::Committed)?;
        self.devices.insert(key.clone(), dev.clone());
        if let Err(e) = self.meta.save_deviceset(&self.set) {
            warn!(error = %e, "cannot save the next device id; ids are rebuilt from the device files");
        }
        Ok(dev)
    }

    /// `create_snap` of `origin`, suspending it around the message if it is active so its
    /// in-flight writes land in the snapshot.
    fn snapshot(&self, id: u32, origin: u32, origin_name: &str) -> Result<()> {
        let active = self.dm.exists(origin_name)?;
        if active {
            self.dm.suspend(origin_name)?;
        }
        let r = self.pool.create(&self.dm, id, Some(origin));
        if active {
            self.dm.resume(origin_name)?;
        }
        r
    }

    /// Deletes the device of `key`. A device that stays busy is marked for deferred deletion
    /// when that is enabled (returns `Ok(false)`), else the error is `Busy`.
    pub fn delete_device(&mut self, key: &DeviceKey) -> Result<bool> {
        self.alive()?;
        let Some(dev) = self.devices.get(key).cloned() else {
            return Err(Error::not_found(format!("layer {}", key.hash())));
        };
        if let Err(e) = self.deactivate(key) {
            if e.kind() == graph::ErrorKind::Busy && self.opts.deferred_deletion {
                warn!(device = %self.device_name(key), "device busy: deleting it later");
                let marked = DeviceMeta {
                    deleted: true,
                    ..dev
                };
                self.meta.save_device(key, &marked)?;
                self.devices.insert(key.clone(), marked);
                return Ok(false);
            }
            return Err(e);
        }
        let open = self.open_transaction(key, dev.device_id)?;
        self.crash(CrashPoint::TransactionOpened)?;
        if let Err(e) = self.pool.delete(&self.dm, dev.device_id) {
            self.abandon_transaction();
            return Err(e);
        }
        self.crash(CrashPoint::PoolMessaged)?;
        self.meta.remove_device(key)?;
        self.devices.remove(key);
        self.crash(CrashPoint::DeviceRecorded)?;
        self.commit(open)?;
        self.used_ids.remove(&dev.device_id);
        self.crash(CrashPoint::Committed)?;
        Ok(true)
    }

    /// Retries devices whose deletion was deferred.
    pub fn retry_deferred_deletions(&mut self) {
        let pending: Vec<DeviceKey> = self
            .devices
            .iter()
            .filter(|(_, d)| d.deleted)
            .map(|(k, _)| k.clone())
            .collect();
        for key in pending {
            match self.delete_device(&key) {
                Ok(true) => info!(layer = key.hash(), "deferred deletion done"),
                Ok(false) => {}
                Err(e) => {
                    warn!(layer = key.hash(), error = %e, "deferred deletion failed; will retry")
                }
            }
        }
    }

    /// Activates the device of `key` (if not yet) and returns its block device node.
    pub fn activate(&self, key: &DeviceKey) -> Result<PathBuf> {
        self.alive()?;
        let dev = self
            .devices
            .get(key)
            .ok_or_else(|| Error::not_found(format!("layer {}", key.hash())))?;
        let name = self.device_name(key);
        if self.dm.exists(&name)? {
            return Ok(devnode(self.dm.info(&name)?.0));
        }
        let (pool_dev, _) = self.dm.info(&self.pool.name)?;
        let device = self.dm.create(
            &name,
            dev.size / 512,
            "thin",
            &format!("{pool_dev} {}", dev.device_id),
        )?;
        let node = devnode(device);
        wait_for_node(&node)?;
        Ok(node)
    }

    /// Whether the device of `key` is active.
    pub fn is_active(&self, key: &DeviceKey) -> Result<bool> {
        self.dm.exists(&self.device_name(key))
    }

    /// Deactivates the device of `key`, retrying while it is busy (about 10 s), lazily
    /// (deferred removal) when enabled.
    pub fn deactivate(&self, key: &DeviceKey) -> Result<()> {
        let name = self.device_name(key);
        let mut tries = 0;
        loop {
            // The crate itself retries EBUSY five times over a second.
            match self.dm.remove(&name, false) {
                Err(e) if e.kind() == graph::ErrorKind::Busy && self.opts.deferred_removal => {
                    return self.dm.remove(&name, true);
                }
                Err(e) if e.kind() == graph::ErrorKind::Busy && tries < 9 => tries += 1,
                other => return other,
            }
        }
    }

    fn ensure_base(&mut self) -> Result<()> {
        if let Some(base) = self.devices.get(&DeviceKey::Base) {
            if base.initialized {
                if base.size != self.opts.base_size {
                    warn!(
                        stored = base.size,
                        asked = self.opts.base_size,
                        "dm.basesize differs from the existing base device; keeping it"
                    );
                }
                return Ok(());
            }
            warn!("the base device was never formatted: making it again");
            self.delete_device(&DeviceKey::Base)?;
        }
        info!(pool = %self.pool.name, size = self.opts.base_size, fs = self.fs.as_str(), "creating the base device");
        let size = self.opts.base_size;
        self.add_device(&DeviceKey::Base, None, size)?;
        let node = self.activate(&DeviceKey::Base)?;
        let made = mkfs::make_fs(self.fs, &node, &self.opts.mkfs_args);
        let off = self.deactivate(&DeviceKey::Base);
        made?;
        off?;
        let mut base = self
            .devices
            .get(&DeviceKey::Base)
            .cloned()
            .ok_or_else(|| Error::not_found("base device"))?;
        base.initialized = true;
        self.meta.save_device(&DeviceKey::Base, &base)?;
        self.devices.insert(DeviceKey::Base, base);
        self.set.base_filesystem = Some(self.fs.as_str().to_string());
        self.meta.save_deviceset(&self.set)
    }

    /// Grows the filesystem of an inactive device to its (larger) device size.
    pub fn grow_fs(&self, key: &DeviceKey) -> Result<()> {
        let node = self.activate(key)?;
        let r = mkfs::grow_fs(self.fs, &node);
        let off = self.deactivate(key);
        r?;
        off
    }

    /// Deactivates every device of this home and, when this driver made it, the pool.
    pub fn teardown(&mut self) -> Result<()> {
        let _ = self.meta.save_deviceset(&self.set);
        let mut first_err = None;
        let pool_name = self.pool.name.clone();
        for name in self.dm.list()? {
            if name.starts_with(&format!("{}-", self.prefix))
                && name != pool_name
                && let Err(e) = self.dm.remove(&name, false)
            {
                first_err.get_or_insert(e);
            }
        }
        if let Err(e) = self.pool.teardown(&self.dm) {
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Test hook: whether the pool knows thin id `id` (tries to create it, then deletes it).
    pub fn pool_has_id(&self, id: u32) -> Result<bool> {
        match self.pool.create(&self.dm, id, None) {
            Ok(()) => {
                self.pool.delete(&self.dm, id)?;
                Ok(false)
            }
            Err(e) if os_errno(&e) == Some(libc::EEXIST) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Every recorded device and its thin id (tests and diagnostics).
    pub fn device_ids(&self) -> BTreeMap<String, u32> {
        self.devices
            .iter()
            .map(|(k, d)| (k.hash().to_string(), d.device_id))
            .collect()
    }

    /// The open transaction file's content.
    pub fn transaction(&self) -> Result<Option<Transaction>> {
        self.meta.load_transaction()
    }

    /// The pool's transaction id as this set knows it.
    pub fn transaction_id(&self) -> u64 {
        self.transaction_id
    }
}

/// devtmpfs makes the node as the device appears; give it a moment on slow machines.
fn wait_for_node(node: &Path) -> Result<()> {
    for _ in 0..100 {
        if node.exists() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(10));
    }
    Err(Error::io(
        "wait for device node",
        node,
        std::io::Error::from_raw_os_error(libc::ENOENT),
    ))
}

/// Bytes as Docker prints them: four significant digits, decimal units ("65.54 kB").
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    let int_digits = if v < 10.0 {
        1
    } else if v < 100.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.*}", 4 - int_digits);
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s} {}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_sizes_read_like_dockers() {
        assert_eq!(human(65536), "65.54 kB");
        assert_eq!(human(10 << 30), "10.74 GB");
        assert_eq!(human(512 << 20), "536.9 MB");
        assert_eq!(human(100), "100 B");
        assert_eq!(human(1500), "1.5 kB");
    }
}
