//! The conformance suite every storage driver's tests run (feature `testsuite`).
//!
//! Each case is a function taking a [`Factory`] (how to build the driver in a given home).
//! It makes a fresh temp data root, builds the driver there, and cleans up in `Drop` (driver
//! `cleanup`, lazy unmount of anything left, removal of the root) even when it panics, so cases
//! share nothing and run in parallel. A driver's test file instantiates all of them with
//! [`conformance_tests!`](crate::conformance_tests).
//!
//! - [`graphtest`]: moby's graphtest cases with moby's exact assertions (create empty/base/snap,
//!   deep layer read, diff/apply, changes, quota).
//! - [`lifecycle`]: reference counting and removal rules.
//! - [`layer_chain`]: containerd's snapshotter cases: a chain of layers, each compared with a
//!   plain directory that had the same operations applied ("flat"), and each layer's diff
//!   re-applied and compared with the layer.
//! - [`property`]: random filesystem operations on a child of a random base; the child's diff
//!   applied in a fresh store (same or another driver) must give an identical tree.
//! - [`tree_snapshot`]: the tree comparison all of them use.
//!
//! Test tiers, by name: plain tests need nothing; `root_` tests need root and real mounts.
//! A test that cannot run here prints `SKIP: <test>: <reason>` and returns; when the environment
//! variable `ENGINE_REQUIRE_ROOT_TESTS=1` is set (CI sets it: CI runs as root), a skip is a
//! failure instead, so a tier that was meant to run can never be silently skipped.

mod content;
pub mod fixture;
pub mod fs_ops;
pub mod graphtest;
pub mod layer_chain;
pub mod lifecycle;
mod macros;
pub mod property;
pub mod tree_snapshot;

pub use fixture::Factory;
pub use graphtest::{
    changes, create_base, create_empty, create_snap, deep_layer_read, diff_apply,
    diff_size_equals_applied_size, set_quota,
};
pub use layer_chain::{
    chown_in_child, deleted_files_in_child, directory_permission_on_commit, layer_file_update,
    layers_128_mount, move_file_from_lower_layer, remove_directory_in_lower_layer,
    xattrs_in_layers,
};
pub use lifecycle::{
    exists_after_remove_is_false, get_put_refcount, remove_intermediate_layer_is_refused_or_safe,
    remove_missing_is_ok, remove_while_mounted,
};
pub use property::{cross_driver_same_tree, diff_roundtrip};
pub use tree_snapshot::{EntryKind, EntryState, Tree, assert_trees_eq, snapshot_tree};

/// Whether the caller may run a root-only test; prints SKIP (or panics under
/// `ENGINE_REQUIRE_ROOT_TESTS=1`) when not.
pub fn root_available(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    skip(test, "needs root")
}

/// Reports a skipped test: prints `SKIP: <test>: <reason>` and returns false, or panics when
/// `ENGINE_REQUIRE_ROOT_TESTS=1` says every root-tier test must run.
pub fn skip(test: &str, reason: &str) -> bool {
    if std::env::var("ENGINE_REQUIRE_ROOT_TESTS").as_deref() == Ok("1") {
        panic!("{test} would be skipped ({reason}), but ENGINE_REQUIRE_ROOT_TESTS=1");
    }
    report_skip(test, reason);
    false
}

/// Prints `SKIP: <test>: <reason>` and, when `ENGINE_SKIP_LOG` names a file, appends the same
/// line there: the test harness hides the output of tests that pass, so `scripts/test.sh`
/// counts and lists skips from that file.
pub fn report_skip(test: &str, reason: &str) {
    let line = format!("SKIP: {test}: {reason}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("ENGINE_SKIP_LOG") {
        use std::io::Write;
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = appended {
            eprintln!("cannot record the skip in {}: {e}", path.to_string_lossy());
        }
    }
}

/// Whether the running kernel's configuration (`/proc/config.gz`) says `option` (e.g.
/// `CONFIG_XFS_QUOTA`) is not built; false when the configuration cannot be read.
pub fn kernel_lacks(option: &str) -> bool {
    use std::io::Read;
    let Ok(file) = std::fs::File::open("/proc/config.gz") else {
        return false;
    };
    let mut text = String::new();
    if flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .is_err()
    {
        return false;
    }
    let set = [format!("{option}=y"), format!("{option}=m")];
    !text.lines().any(|l| set.iter().any(|s| l == s))
}

/// Reports a test skipped because the kernel truly lacks a feature (checked with
/// [`kernel_lacks`]): prints `SKIP` and returns false even under `ENGINE_REQUIRE_ROOT_TESTS=1`.
/// When the kernel has the feature, this is an ordinary [`skip`] (a failure in CI).
pub fn skip_unless_kernel_lacks(test: &str, option: &str, reason: &str) -> bool {
    if kernel_lacks(option) {
        report_skip(
            test,
            &format!("{reason} (this kernel is built without {option})"),
        );
        return false;
    }
    skip(test, reason)
}
