//! Fixtures for the device-mapper tier: a driver on small loop files in a temp home, torn
//! down (mounts, dm devices, loops) in Drop even when the test fails.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use devmapper::DevmapperDriver;
use graph::options::StorageOpt;
use graph::{Driver, DriverConfig, LayerId};

/// Whether device-mapper tests can run. Without it they print SKIP and return, unless
/// `ENGINE_REQUIRE_DM_TESTS=1` (set inside the VM) makes that a failure.
pub fn dm_available(test: &str) -> bool {
    test_support::tier::dm_available(test, devmapper::available())
}

/// Small pool options for tests.
pub const SMALL: &[(&str, &str)] = &[
    ("loopdatasize", "512M"),
    ("loopmetadatasize", "64M"),
    ("basesize", "64M"),
    ("min_free_space", "1%"),
];

/// A temp driver home; the driver is cleaned up and checked for leftovers on drop.
pub struct Fixture {
    pub home: tempfile::TempDir,
    pub opts: Vec<StorageOpt>,
    pub driver: Option<DevmapperDriver>,
    prefix: Option<String>,
}

pub fn opts(kv: &[(&str, &str)]) -> Vec<StorageOpt> {
    kv.iter()
        .map(|(k, v)| StorageOpt {
            key: k.to_string(),
            value: v.to_string(),
        })
        .collect()
}

impl Fixture {
    pub fn new(kv: &[(&str, &str)]) -> Fixture {
        let home = tempfile::tempdir().unwrap();
        let mut f = Fixture {
            home,
            opts: opts(kv),
            driver: None,
            prefix: None,
        };
        f.reopen();
        f
    }

    pub fn config(&self) -> DriverConfig {
        DriverConfig {
            home: self.home.path().join("devicemapper"),
            options: self.opts.clone(),
        }
    }

    /// Opens a new driver instance on the same home (the old one is dropped WITHOUT cleanup,
    /// as a killed process would leave it).
    pub fn reopen(&mut self) -> &DevmapperDriver {
        self.driver = None;
        let d = DevmapperDriver::open(&self.config()).unwrap();
        self.prefix = Some(d.device_prefix());
        self.driver.insert(d)
    }

    pub fn d(&self) -> &DevmapperDriver {
        self.driver.as_ref().unwrap()
    }

    pub fn prefix(&self) -> String {
        self.prefix.clone().unwrap()
    }

    /// dm devices of this fixture still present.
    pub fn leftover_devices(&self) -> Vec<String> {
        let Some(prefix) = &self.prefix else {
            return vec![];
        };
        let dm = devicemapper::DM::new().unwrap();
        dm.list_devices()
            .unwrap()
            .into_iter()
            .map(|(n, _, _)| n.to_string())
            .filter(|n| n.starts_with(&format!("{prefix}-")))
            .collect()
    }

    /// Loop devices still backed by this fixture's files.
    pub fn leftover_loops(&self) -> Vec<std::path::PathBuf> {
        let dir = self.config().home.join("devicemapper");
        let mut v = devmapper::loopback::devices_backed_by(&dir.join("data"));
        v.extend(devmapper::loopback::devices_backed_by(
            &dir.join("metadata"),
        ));
        v
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(d) = self.driver.take() {
            let _ = d.cleanup();
        }
        // Sweep whatever a failed test left: mounts, then devices (children before the pool).
        if let Ok(entries) = std::fs::read_dir(self.config().home.join("mnt")) {
            for e in entries.flatten() {
                let _ = nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        if let Ok(dm) = devicemapper::DM::new() {
            let mut left = self.leftover_devices();
            left.sort_by_key(|n| n.ends_with("-pool"));
            for n in left {
                let name = devicemapper::DmName::new(&n).unwrap();
                let _ = dm.device_remove(
                    &devicemapper::DevId::Name(name),
                    devicemapper::DmOptions::default(),
                );
            }
        }
    }
}

pub fn id(s: &str) -> LayerId {
    LayerId::new(s).unwrap()
}

pub fn write(root: &Path, name: &str, data: &[u8]) {
    std::fs::write(root.join(name), data).unwrap();
}
