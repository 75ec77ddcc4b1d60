//! The devicemapper storage driver: block-level copy-on-write with device-mapper thin
//! provisioning, as Docker's `devicemapper` driver did it.
//!
//! - A **thin pool** holds every layer. By default it is a loop-lvm pool: two sparse files
//!   under `<home>/devicemapper/` (`data`, `metadata`) on loop devices that detach themselves
//!   when the pool goes ([`pool`], [`loopback`]); or an existing pool named by `dm.thinpooldev`.
//! - A **base device** is a thin device formatted once (ext4 by default). A root layer is a
//!   thin snapshot of the base; every other layer a snapshot of its parent (`create_snap` on
//!   the pool; an active origin is suspended around it).
//! - `get` activates the layer's thin device (`/dev/dm-N`, made by devtmpfs: no udev needed)
//!   and mounts it on `<home>/mnt/<id>`; the layer's tree is its `rootfs/` directory. `put`
//!   unmounts and deactivates it with the last reference. `remove` deletes the thin id.
//! - Thin ids and per-device facts are JSON under `<home>/metadata/`, kept in step with the
//!   pool by a transaction protocol ([`deviceset`]): a crash between any two steps is rolled
//!   back or forward at the next start.
//! - All kernel calls go through [`dm`], a narrow seam over the `devicemapper` crate's ioctls.
//!
//! Diffs are the naive ones (compare mounted trees): a block device has no file-level change
//! list. On a kernel without device-mapper [`init`] returns `NotSupported`, so driver
//! selection moves on; the tests then run in a VM (`tests/vm/run.sh`).
#![warn(missing_docs)]

pub mod deviceset;
pub mod dm;
mod driver;
pub mod fault;
pub mod loopback;
pub mod metadata;
pub mod mkfs;
pub mod options;
pub mod pool;

pub use driver::DevmapperDriver;
pub use fault::CrashPoint;
pub use options::{Filesystem, Options};

/// The driver's name, as `--storage-driver` takes it.
pub const NAME: &str = "devicemapper";

/// Builds the driver for the engine's driver table; `NotSupported` without device-mapper.
pub fn init(config: &graph::DriverConfig) -> graph::Result<Box<dyn graph::Driver>> {
    Ok(Box::new(DevmapperDriver::open(config)?))
}

/// Whether this kernel has device-mapper (`/dev/mapper/control` exists).
pub fn available() -> bool {
    std::path::Path::new(dm::CONTROL).exists()
}
