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

// The tiers and the skip log are the workspace's one test-support crate's.
pub use test_support::tier::{
    kernel_lacks, report_skip, root_available, skip, skip_unless_kernel_lacks,
};
