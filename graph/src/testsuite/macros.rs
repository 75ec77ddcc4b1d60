//! [`conformance_tests!`](crate::conformance_tests): one `#[test]` per conformance case.

/// Expands to a module `$prefix` with one `#[test]` per conformance case, each building its
/// driver with `$factory` (anything that coerces to `&dyn Fn(&Path) -> graph::Result<Box<dyn
/// Driver>>`, the argument being the driver's home). The tests are root-tier: each starts with
/// [`root_available`](crate::testsuite::root_available), and the module name should begin with
/// `root_` so the tier shows in the test path (`root_vfs::create_empty`).
///
/// ```ignore
/// graph::conformance_tests!(root_vfs, |home: &std::path::Path| {
///     vfs::init(&graph::DriverConfig { home: home.to_path_buf(), options: vec![] })
/// });
/// ```
///
/// The calling crate needs no proptest: the property case runs proptest inside graph.
///
/// A driver that needs more than root (devicemapper needs device-mapper) passes its own gate,
/// `fn(&str) -> bool`: `conformance_tests!(root_dm, factory, gate = common::dm_available);`.
#[macro_export]
macro_rules! conformance_tests {
    ($prefix:ident, $factory:expr $(,)?) => {
        $crate::conformance_tests!($prefix, $factory, gate = $crate::testsuite::root_available);
    };
    ($prefix:ident, $factory:expr, gate = $gate:path $(,)?) => {
        #[allow(unused_imports)]
        mod $prefix {
            use super::*;

            /// Whether this host can run the case (prints SKIP when not).
            fn gate(name: &str) -> bool {
                $gate(name)
            }

            fn factory(
                home: &::std::path::Path,
            ) -> $crate::Result<::std::boxed::Box<dyn $crate::Driver>> {
                let f: &dyn Fn(
                    &::std::path::Path,
                ) -> $crate::Result<::std::boxed::Box<dyn $crate::Driver>> = &$factory;
                f(home)
            }

            $crate::__conformance_case!($prefix, create_empty);
            $crate::__conformance_case!($prefix, create_base);
            $crate::__conformance_case!($prefix, create_snap);
            $crate::__conformance_case!($prefix, deep_layer_read, 128);
            $crate::__conformance_case!($prefix, diff_apply, 10);
            $crate::__conformance_case!($prefix, changes);
            $crate::__conformance_case!($prefix, diff_size_equals_applied_size);
            $crate::__conformance_case!($prefix, set_quota, false);
            $crate::__conformance_case!($prefix, get_put_refcount);
            $crate::__conformance_case!($prefix, remove_while_mounted);
            $crate::__conformance_case!($prefix, remove_missing_is_ok);
            $crate::__conformance_case!($prefix, exists_after_remove_is_false);
            $crate::__conformance_case!($prefix, remove_intermediate_layer_is_refused_or_safe);
            $crate::__conformance_case!($prefix, layer_file_update);
            $crate::__conformance_case!($prefix, remove_directory_in_lower_layer);
            $crate::__conformance_case!($prefix, chown_in_child);
            $crate::__conformance_case!($prefix, directory_permission_on_commit);
            $crate::__conformance_case!($prefix, deleted_files_in_child);
            $crate::__conformance_case!($prefix, move_file_from_lower_layer);
            $crate::__conformance_case!($prefix, xattrs_in_layers);
            $crate::__conformance_case!($prefix, layers_128_mount);
            $crate::__conformance_case!($prefix, diff_roundtrip, 24);
        }
    };
}

/// One test of [`conformance_tests!`](crate::conformance_tests); not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_case {
    ($prefix:ident, $case:ident $(, $arg:expr)*) => {
        #[test]
        fn $case() {
            let name = concat!(stringify!($prefix), "::", stringify!($case));
            if !gate(name) {
                return;
            }
            $crate::testsuite::$case(&factory $(, $arg)*);
        }
    };
}
