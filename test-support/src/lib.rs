#![warn(missing_docs)]
//! What every test tier of the workspace shares.
//!
//! - [`tier`]: the test tiers by name (plain, `root_`, devicemapper in the VM), how a test
//!   that cannot run says SKIP, and the skip log `scripts/test.sh` counts. Under
//!   `ENGINE_REQUIRE_ROOT_TESTS=1` (CI, as root) a skipped root test is a failure.
//! - [`rootfs`]: a busybox root filesystem, as a directory or as a tar to import.
//! - The end-to-end fixtures ([`Engine`], [`Daemon`], [`docker_cli`]): a temp data root with
//!   busybox imported, driven through the `engine` binary, torn down (processes, cgroups,
//!   networks, mounts, files) in `Drop` even when the test fails. Each engine has its own
//!   registry client state (credentials file, certs dir).
//! - [`registry`]: a real registry (`docker-registry`) on a free port, with basic auth or
//!   TLS, for pull, push and login tests.
//!
//! `graph::testsuite` (the driver conformance suite), the runtime's tests, the devicemapper
//! tier and the binary's end-to-end tests all take their tiers from here.

#![allow(clippy::unwrap_used)] // fixtures: a failure is the test's failure

mod fixtures;
pub mod registry;
pub mod rootfs;
pub mod tier;

use std::path::PathBuf;

pub use fixtures::*;
pub use rootfs::{APPLETS, BUSYBOX, busybox_tar};

/// The `engine` binary under test: `$ENGINE_BIN`, else `engine` next to the test executable's
/// directory (`target/<profile>/deps/<test>` -> `target/<profile>/engine`), where cargo puts
/// the binary of the package whose tests run.
pub fn engine_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ENGINE_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test executable lives in target/<profile>/deps");
    profile_dir.join("engine")
}
