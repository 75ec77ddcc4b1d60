//! The shared conformance suite on devicemapper (device-mapper tier: runs inside the VM of
//! tests/vm/run.sh; prints SKIP on a host without device-mapper).

mod common;

graph::conformance_tests!(
    root_devicemapper,
    |home: &std::path::Path| devmapper::init(&graph::DriverConfig {
        home: home.to_path_buf(),
        // A base below the 50 MiB the quota case asks for: a layer may grow, never shrink.
        options: common::opts(&[
            ("loopdatasize", "512M"),
            ("loopmetadatasize", "64M"),
            ("basesize", "32M"),
            ("min_free_space", "1%"),
        ]),
    }),
    gate = common::dm_available
);
