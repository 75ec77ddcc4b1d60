//! The shared driver conformance suite (graph feature `testsuite`) run against vfs.

use std::path::Path;

fn vfs_driver(home: &Path) -> graph::Result<Box<dyn graph::Driver>> {
    vfs::init(&graph::DriverConfig {
        home: home.to_path_buf(),
        options: vec![],
    })
}

graph::conformance_tests!(root_vfs, vfs_driver);
