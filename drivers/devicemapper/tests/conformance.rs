//! The shared conformance suite on devicemapper (device-mapper tier: runs inside the VM of
//! tests/vm/run.sh; prints SKIP on a host without device-mapper).

mod common;

graph::conformance_tests!(
    root_devicemapper,
    |home: &std::path::Path| devmapper::init(&graph::DriverConfig {
        home: home.to_path_buf(),
        options: common::opts(common::SMALL),
    }),
    gate = common::dm_available
);
