//! The narrow seam to the kernel's device-mapper: named devices, tables, messages and status,
//! through the `devicemapper` crate's ioctls (no dmsetup, no udev).

use std::io;
use std::path::PathBuf;

use devicemapper::{DM, DevId, Device, DmError, DmFlags, DmName, DmOptions, errors};
use graph::{Error, Result};
use tracing::debug;

/// An open `/dev/mapper/control`.
pub struct Dm {
    dm: DM,
}

impl std::fmt::Debug for Dm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dm(/dev/mapper/control)")
    }
}

/// Where device-mapper's control node lives.
pub const CONTROL: &str = "/dev/mapper/control";

impl Dm {
    /// Opens the control node; `NotSupported` when this kernel has no device-mapper.
    pub fn open() -> Result<Dm> {
        match DM::new() {
            Ok(dm) => Ok(Dm { dm }),
            Err(e) => Err(Error::NotSupported(format!(
                "devicemapper: cannot open {CONTROL} ({e}); this kernel has no device-mapper \
                 (CONFIG_BLK_DEV_DM) or the dm_mod module is not loaded"
            ))),
        }
    }

    /// The kernel's dm ioctl interface version.
    pub fn version(&self) -> Result<(u32, u32, u32)> {
        self.dm
            .version()
            .map_err(|e| dm_error("query version of", "device-mapper", e))
    }

    /// Whether a device of that name exists.
    pub fn exists(&self, name: &str) -> Result<bool> {
        let n = dm_name(name)?;
        match self.dm.device_info(&DevId::Name(n)) {
            Ok(_) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENXIO) => Ok(false),
            Err(e) => Err(dm_error("query", name, e)),
        }
    }

    /// The device number and open count of an existing device.
    pub fn info(&self, name: &str) -> Result<(Device, i32)> {
        let n = dm_name(name)?;
        let info = self
            .dm
            .device_info(&DevId::Name(n))
            .map_err(|e| dm_error("query", name, e))?;
        Ok((info.device(), info.open_count()))
    }

    /// Creates device `name` with one target (`length` sectors of `target` with `params`) and
    /// activates it. On failure nothing is left behind.
    pub fn create(&self, name: &str, length: u64, target: &str, params: &str) -> Result<Device> {
        let n = dm_name(name)?;
        let id = DevId::Name(n);
        debug!(name, target, params, "dm create");
        self.dm
            .device_create(n, None, DmOptions::private())
            .map_err(|e| dm_error("create device", name, e))?;
        let table = [(0, length, target.to_string(), params.to_string())];
        let loaded = self
            .dm
            .table_load(&id, &table, DmOptions::private())
            .and_then(|_| self.dm.device_suspend(&id, DmOptions::private()));
        match loaded {
            Ok(info) => Ok(info.device()),
            Err(e) => {
                let _ = self.dm.device_remove(&id, DmOptions::private());
                Err(dm_error("load table of", name, e))
            }
        }
    }

    /// Removes device `name`; with `deferred`, a busy device goes when its last user closes it.
    pub fn remove(&self, name: &str, deferred: bool) -> Result<()> {
        let n = dm_name(name)?;
        let opts = if deferred {
            DmOptions::private().set_flags(DmFlags::DM_DEFERRED_REMOVE)
        } else {
            DmOptions::private()
        };
        debug!(name, deferred, "dm remove");
        match self.dm.device_remove(&DevId::Name(n), opts) {
            Ok(_) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENXIO) => Ok(()),
            Err(e) => Err(dm_error("remove device", name, e)),
        }
    }

    /// Suspends a device, flushing its outstanding I/O (before snapshotting it).
    pub fn suspend(&self, name: &str) -> Result<()> {
        let n = dm_name(name)?;
        self.dm
            .device_suspend(
                &DevId::Name(n),
                DmOptions::private().set_flags(DmFlags::DM_SUSPEND),
            )
            .map(|_| ())
            .map_err(|e| dm_error("suspend", name, e))
    }

    /// Resumes a suspended device.
    pub fn resume(&self, name: &str) -> Result<()> {
        let n = dm_name(name)?;
        self.dm
            .device_suspend(&DevId::Name(n), DmOptions::private())
            .map(|_| ())
            .map_err(|e| dm_error("resume", name, e))
    }

    /// Sends a target message (`create_thin 7`, `delete 7`, ...) to a device.
    pub fn message(&self, name: &str, msg: &str) -> Result<()> {
        let n = dm_name(name)?;
        debug!(name, msg, "dm message");
        self.dm
            .target_msg(&DevId::Name(n), None, msg)
            .map(|_| ())
            .map_err(|e| dm_error_msg(name, msg, e))
    }

    /// The status line of a device's first target, and the target's type.
    pub fn status(&self, name: &str) -> Result<(String, String)> {
        self.table_or_status(name, DmOptions::private())
    }

    /// The table line of a device's first target, and the target's type.
    pub fn table(&self, name: &str) -> Result<(String, String)> {
        self.table_or_status(
            name,
            DmOptions::private().set_flags(DmFlags::DM_STATUS_TABLE),
        )
    }

    fn table_or_status(&self, name: &str, opts: DmOptions) -> Result<(String, String)> {
        let n = dm_name(name)?;
        let (_, lines) = self
            .dm
            .table_status(&DevId::Name(n), opts)
            .map_err(|e| dm_error("read status of", name, e))?;
        let (_, _, target, params) = lines.into_iter().next().ok_or_else(|| {
            Error::InvalidInput(format!("devicemapper: device {name} has no table"))
        })?;
        Ok((target, params))
    }

    /// The names of every device-mapper device.
    pub fn list(&self) -> Result<Vec<String>> {
        let devs = self
            .dm
            .list_devices()
            .map_err(|e| dm_error("list devices of", "device-mapper", e))?;
        Ok(devs
            .into_iter()
            .map(|(name, _, _)| name.to_string())
            .collect())
    }
}

/// The block device node of a dm device: devtmpfs makes `/dev/dm-<minor>` without udev.
pub fn devnode(dev: Device) -> PathBuf {
    PathBuf::from(format!("/dev/dm-{}", dev.minor))
}

fn dm_name(name: &str) -> Result<&DmName> {
    DmName::new(name)
        .map_err(|e| Error::InvalidInput(format!("devicemapper: bad device name {name:?}: {e}")))
}

/// The errno of an ioctl failure, if that is what the error is.
pub fn errno(e: &DmError) -> Option<i32> {
    match e {
        DmError::Core(errors::Error::Ioctl(_, _, _, errno)) => Some(**errno as i32),
        _ => None,
    }
}

/// Maps a dm failure to a graph error whose kind follows the errno (EBUSY is `Busy`, ...).
pub fn dm_error(op: &'static str, name: &str, e: DmError) -> Error {
    let path = PathBuf::from("/dev/mapper").join(name);
    match errno(&e) {
        Some(libc::EBUSY) => Error::Busy(format!(
            "devicemapper: {op} {}: device is busy",
            path.display()
        )),
        Some(code) => Error::io(op, path, io::Error::from_raw_os_error(code)),
        None => Error::io(op, path, io::Error::other(e.to_string())),
    }
}

fn dm_error_msg(name: &str, msg: &str, e: DmError) -> Error {
    tracing::warn!(device = name, msg, error = %e, "dm message failed");
    dm_error("send a pool message to", name, e)
}

/// The OS error number inside a graph error, if any (EEXIST from `create_snap`, ...).
pub fn os_errno(e: &Error) -> Option<i32> {
    match e {
        Error::Io { source, .. } => source.raw_os_error(),
        Error::Busy(_) => Some(libc::EBUSY),
        _ => None,
    }
}
