//! `engine bench`: its options are checked before anything is touched, and a quick suite runs
//! for real as root (a fresh loop-mounted ext4, the workloads in two containers) and leaves no
//! mount, loop image or scratch directory behind. No figure is asserted: speed is what the
//! command reports, not what a test can demand.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use std::path::Path;
use std::process::{Command, Output};

fn engine(root: &Path, args: &[&str]) -> Output {
    let config = root.join("daemon.json");
    std::fs::write(&config, "{}\n").unwrap();
    Command::new(env!("CARGO_BIN_EXE_engine"))
        .arg("--config")
        .arg(&config)
        .arg("--data-root")
        .arg(root.join("data"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bench_refuses_bad_options_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (&["bench", "--format", "yaml"][..], "--format \"yaml\""),
        (
            &["bench", "--backing-fs", "btrfs"][..],
            "--backing-fs \"btrfs\"",
        ),
        (&["bench", "--reps", "0"][..], "--reps 0"),
        (&["--storage-driver", "zfs", "bench"][..], "\"zfs\""),
    ] {
        let out = engine(tmp.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    // Nothing was made for a refused command.
    assert!(!tmp.path().join("data").exists());
}

#[test]
fn root_bench_quick_suite_runs_and_cleans_up() {
    let test = "root_bench_quick_suite_runs_and_cleans_up";
    if !graph::testsuite::root_available(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("disk");
    let out = engine(
        tmp.path(),
        &[
            "--storage-driver",
            "overlay2",
            "bench",
            "--quick",
            "--format",
            "json",
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    let err = stderr(&out);
    if err.contains("not supported on this host") {
        graph::testsuite::skip(test, &format!("no overlay2 here: {err}"));
        return;
    }
    assert!(out.status.success(), "engine bench failed: {err}");
    // Progress goes to stderr, the document to stdout.
    assert!(
        err.contains("bench: overlay2: 1/1: workloads on the container's root"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let suites = doc["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 1);
    assert_eq!(suites[0]["driver"], "overlay2");
    assert_eq!(suites[0]["status"], "ok");
    for side in ["limit", "measured"] {
        let runs = suites[0][side].as_array().unwrap();
        assert_eq!(runs.len(), 1, "{side}: one repetition with --quick");
        for w in [
            "create_files",
            "seq_write",
            "random_overwrite",
            "append_byte",
        ] {
            let s = runs[0][w].as_f64().unwrap();
            assert!(s > 0.0 && s.is_finite(), "{side} {w}: {s}");
        }
    }
    // The scratch filesystem's loop device does direct I/O (no second page cache).
    assert_eq!(doc["scratch_loop"], "direct-io");
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["description"], "create 500 files of 4 KiB + syncfs");
    // The scratch filesystem is gone: nothing mounted under the test's directory, no image.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(tmp.path().to_str().unwrap()),
        "left mounted: {mounts}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
