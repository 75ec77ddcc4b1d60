//! The table of storage drivers this build has, in Docker's priority order.

use graph::DriverEntry;

/// Drivers compiled into this binary, most preferred first (overlay2, devicemapper, vfs).
pub fn table() -> Vec<DriverEntry> {
    #[allow(unused_mut)] // stays empty in a build without driver features
    let mut table = Vec::new();
    #[cfg(feature = "overlay2")]
    table.push(DriverEntry {
        name: "overlay2",
        init: overlay2::init,
    });
    #[cfg(feature = "devicemapper")]
    table.push(DriverEntry {
        name: devmapper::NAME,
        init: devmapper::init,
    });
    #[cfg(feature = "vfs")]
    table.push(DriverEntry {
        name: "vfs",
        init: vfs::init,
    });
    table
}
