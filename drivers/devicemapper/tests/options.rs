//! Plain tests: option handling and the host without device-mapper.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::opts;
use graph::{DriverConfig, ErrorKind};

#[test]
fn unknown_and_malformed_options_are_invalid_input() {
    let home = tempfile::tempdir().unwrap();
    for kv in [
        [("directlvm_device", "/dev/sdb")],
        [("basesize", "lots")],
        [("min_free_space", "150%")],
    ] {
        let err = devmapper::init(&DriverConfig {
            home: home.path().join("dm"),
            options: opts(&kv),
        })
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{kv:?}: {err}");
    }
}

#[test]
fn init_without_device_mapper_is_not_supported() {
    if devmapper::available() {
        eprintln!(
            "SKIP: init_without_device_mapper_is_not_supported: this kernel has device-mapper"
        );
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let err = devmapper::init(&DriverConfig {
        home: home.path().join("dm"),
        options: vec![],
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported);
    assert!(err.to_string().contains("/dev/mapper/control"), "{err}");
}
