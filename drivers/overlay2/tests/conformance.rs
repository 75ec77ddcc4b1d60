//! The shared driver conformance suite (graph feature `testsuite`) run against overlay2,
//! and overlay2's diffs checked against vfs both ways.

use std::path::Path;

fn overlay2_driver(home: &Path) -> graph::Result<Box<dyn graph::Driver>> {
    overlay2::init(&graph::DriverConfig {
        home: home.to_path_buf(),
        options: vec![],
    })
}

fn vfs_driver(home: &Path) -> graph::Result<Box<dyn graph::Driver>> {
    vfs::init(&graph::DriverConfig {
        home: home.to_path_buf(),
        options: vec![],
    })
}

graph::conformance_tests!(root_overlay2, overlay2_driver);

/// overlay2's native diffs, applied by vfs, give the trees overlay2 shows.
#[test]
fn root_cross_driver_overlay2_to_vfs() {
    if !graph::testsuite::root_available("root_cross_driver_overlay2_to_vfs") {
        return;
    }
    graph::testsuite::cross_driver_same_tree(&overlay2_driver, &vfs_driver, 24);
}

/// vfs's (naive) diffs, applied by overlay2 (whiteouts become overlay whiteouts), give the
/// trees vfs shows.
#[test]
fn root_cross_driver_vfs_to_overlay2() {
    if !graph::testsuite::root_available("root_cross_driver_vfs_to_overlay2") {
        return;
    }
    graph::testsuite::cross_driver_same_tree(&vfs_driver, &overlay2_driver, 24);
}
