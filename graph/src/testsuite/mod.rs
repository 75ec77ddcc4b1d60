//! The conformance suite every storage driver's tests run (feature `testsuite`).
//!
//! Test tiers, by name: plain tests need nothing; `root_` tests need root and real mounts.
//! A test that cannot run here prints `SKIP: <test>: <reason>` and returns; when the environment
//! variable `ENGINE_REQUIRE_ROOT_TESTS=1` is set (CI sets it: CI runs as root), a skip is a
//! failure instead, so a tier that was meant to run can never be silently skipped.

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
    eprintln!("SKIP: {test}: {reason}");
    false
}
