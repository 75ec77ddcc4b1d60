//! Test tiers by name: plain tests need nothing; `root_` tests need root; devicemapper tests
//! need a kernel with device-mapper (the VM). A test that cannot run prints `SKIP` with the
//! reason, and `ENGINE_SKIP_LOG` collects those lines for `scripts/test.sh` to count (the
//! harness hides the output of passing tests). Under `ENGINE_REQUIRE_ROOT_TESTS=1` a root test
//! that would be skipped fails instead.

use std::io::{Read, Write};

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
/// line there.
pub fn report_skip(test: &str, reason: &str) {
    let line = format!("SKIP: {test}: {reason}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("ENGINE_SKIP_LOG") {
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

/// Whether device-mapper tests can run (root and a kernel with device-mapper, i.e. inside
/// tests/vm/run.sh). Without them they print SKIP, unless `ENGINE_REQUIRE_DM_TESTS=1` (set
/// inside the VM) makes that a failure. `kernel_has_dm` is the driver's own probe.
pub fn dm_available(test: &str, kernel_has_dm: bool) -> bool {
    if kernel_has_dm && nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("ENGINE_REQUIRE_DM_TESTS").as_deref() == Ok("1") {
        panic!("{test} needs device-mapper and root, but ENGINE_REQUIRE_DM_TESTS=1");
    }
    // Not in the skip log: the host run leaves this tier to the VM on purpose.
    eprintln!("SKIP: {test}: no device-mapper (run inside tests/vm/run.sh)");
    false
}
