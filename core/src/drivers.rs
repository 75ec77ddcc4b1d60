//! The table of storage drivers this build has, in Docker's priority order.

use graph::DriverEntry;

/// Drivers compiled into this binary, most preferred first (overlay2, devicemapper, vfs).
const TABLE: &[DriverEntry] = &[
    #[cfg(feature = "overlay2")]
    DriverEntry {
        name: "overlay2",
        init: overlay2::init,
    },
    #[cfg(feature = "devicemapper")]
    DriverEntry {
        name: devmapper::NAME,
        init: devmapper::init,
    },
    #[cfg(feature = "vfs")]
    DriverEntry {
        name: "vfs",
        init: vfs::init,
    },
];

/// The drivers of this build.
pub fn table() -> &'static [DriverEntry] {
    TABLE
}
