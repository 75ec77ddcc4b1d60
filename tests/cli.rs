//! End-to-end tests of the `engine` binary, each with its own data root.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn engine(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engine"))
        .arg("--data-root")
        .arg(root)
        .args(args)
        .env_remove("ENGINE_LOG")
        .output()
        .expect("run engine")
}

fn ok(root: &Path, args: &[&str]) -> String {
    let out = engine(root, args);
    assert!(
        out.status.success(),
        "engine {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(root: &Path, args: &[&str]) -> String {
    let out = engine(root, args);
    assert!(!out.status.success(), "engine {args:?} should have failed");
    String::from_utf8(out.stderr).unwrap()
}

/// Unmounts whatever the engine left mounted under a test's data root, even when the test fails.
struct Root(tempfile::TempDir);

impl Root {
    fn new() -> Self {
        Root(tempfile::tempdir().unwrap())
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = self.0.path().to_string_lossy().into_owned();
        for line in mounts.lines() {
            if let Some(mp) = line.split(' ').nth(4)
                && mp.starts_with(&prefix)
            {
                let _ = nix::mount::umount2(mp, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, path, content.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn root_info_detects_overlay2_and_reports_its_status() {
    if !graph::testsuite::root_available("root_info_detects_overlay2_and_reports_its_status") {
        return;
    }
    let root = Root::new();
    let out = ok(root.path(), &["info"]);
    assert!(out.contains("Storage Driver: overlay2"), "{out}");
    assert!(out.contains(" Backing Filesystem: "), "{out}");
    assert!(out.contains(" Supports d_type: true"), "{out}");
    assert!(
        out.contains(&format!("Engine Root Dir: {}", root.path().display())),
        "{out}"
    );
}

#[test]
fn root_driver_choice_follows_docker_rules() {
    if !graph::testsuite::root_available("root_driver_choice_follows_docker_rules") {
        return;
    }
    let root = Root::new();
    let out = ok(root.path(), &["--storage-driver", "vfs", "info"]);
    assert!(out.contains("Storage Driver: vfs"), "{out}");
    // The driver with state wins over the priority order.
    let out = ok(root.path(), &["info"]);
    assert!(out.contains("Storage Driver: vfs"), "{out}");
    // State for two drivers: refuse, naming both.
    ok(root.path(), &["--storage-driver", "overlay2", "info"]);
    let err = fails(root.path(), &["info"]);
    assert!(err.contains("overlay2, vfs"), "{err}");
    assert!(err.contains("--storage-driver"), "{err}");
}

#[test]
fn unknown_driver_lists_the_available_ones() {
    let root = Root::new();
    let err = fails(root.path(), &["--storage-driver", "zfs", "info"]);
    assert!(err.contains("unknown storage driver \"zfs\""), "{err}");
    assert!(
        err.contains("available: overlay2, devicemapper, vfs"),
        "{err}"
    );
}

#[test]
fn root_storage_opts_reach_the_driver() {
    if !graph::testsuite::root_available("root_storage_opts_reach_the_driver") {
        return;
    }
    let root = Root::new();
    let err = fails(
        root.path(),
        &[
            "--storage-driver",
            "overlay2",
            "--storage-opt",
            "overlay2.bogus=1",
            "info",
        ],
    );
    assert!(err.contains("overlay2.bogus"), "{err}");
    let err = fails(
        root.path(),
        &[
            "--storage-driver",
            "vfs",
            "--storage-opt",
            "overlay2.size=1G",
            "info",
        ],
    );
    assert!(err.contains("overlay2.size"), "{err}");
    let err = fails(
        root.path(),
        &[
            "--storage-driver",
            "vfs",
            "--storage-opt",
            "nodriverprefix",
            "info",
        ],
    );
    assert!(err.contains("KEY=VALUE"), "{err}");
}

#[test]
fn root_daemon_json_selects_the_driver_and_rejects_bad_files() {
    if !graph::testsuite::root_available(
        "root_daemon_json_selects_the_driver_and_rejects_bad_files",
    ) {
        return;
    }
    let root = Root::new();
    let cfg = root.path().join("daemon.json");
    std::fs::write(&cfg, r#"{"storage-driver": "vfs", "storage-opts": []}"#).unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let out = ok(root.path(), &["--config", cfg_s, "info"]);
    assert!(out.contains("Storage Driver: vfs"), "{out}");

    let err = fails(
        root.path(),
        &["--config", cfg_s, "--storage-driver", "overlay2", "info"],
    );
    assert!(
        err.contains("both as a flag and in the configuration file"),
        "{err}"
    );

    std::fs::write(
        &cfg,
        "{\n  \"storage-driver\": \"vfs\",\n  \"storage_driver\": \"vfs\"\n}\n",
    )
    .unwrap();
    let err = fails(root.path(), &["--config", cfg_s, "info"]);
    assert!(
        err.contains("storage_driver") && err.contains("line 3") && err.contains(cfg_s),
        "{err}"
    );

    std::fs::write(&cfg, "{\"storage-driver\": }").unwrap();
    let err = fails(root.path(), &["--config", cfg_s, "info"]);
    assert!(err.contains(cfg_s) && err.contains("line 1"), "{err}");

    let err = fails(
        root.path(),
        &["--config", "/nonexistent/daemon.json", "info"],
    );
    assert!(err.contains("/nonexistent/daemon.json"), "{err}");
}

#[test]
fn bad_flags_exit_125_like_docker() {
    let out = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["info", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}

fn layer_round_trip(driver: &str) {
    let root = Root::new();
    let dir = root.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    let base_tar = dir.join("base.tar");
    std::fs::write(&base_tar, tar_of(&[("etc/motd", "hello"), ("tmp/x", "x")])).unwrap();
    let base = ok(
        root.path(),
        &[
            "--storage-driver",
            driver,
            "layer",
            "import",
            base_tar.to_str().unwrap(),
        ],
    );
    let base = base.trim();
    assert!(base.starts_with("sha256:"), "{base}");

    // A child layer from standard input, gzip-compressed.
    let child_tar = tar_of(&[("etc/motd", "changed"), ("tmp/.wh.x", "")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &child_tar).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_engine"));
    cmd.arg("--data-root").arg(root.path()).args([
        "--storage-driver",
        driver,
        "layer",
        "import",
        "--parent",
        base,
        "-",
    ]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &gz.finish().unwrap()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let top = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let ls = ok(
        root.path(),
        &["--storage-driver", driver, "layer", "ls", "-q"],
    );
    assert_eq!(ls.lines().count(), 2, "{ls}");
    let diff = ok(
        root.path(),
        &["--storage-driver", driver, "layer", "diff", &top],
    );
    assert_eq!(
        diff.lines().collect::<Vec<_>>(),
        ["C /etc", "C /etc/motd", "C /tmp", "D /tmp/x"]
    );

    let exported = root.path().join("in/top.tar");
    ok(
        root.path(),
        &[
            "--storage-driver",
            driver,
            "layer",
            "export",
            &top,
            "-o",
            exported.to_str().unwrap(),
        ],
    );
    // The very tar that was imported (decompressed), byte for byte.
    assert!(std::fs::read(&exported).unwrap() == child_tar);

    let err = fails(
        root.path(),
        &["--storage-driver", driver, "layer", "rm", base],
    );
    assert!(err.contains("parent of layer"), "{err}");
    ok(
        root.path(),
        &["--storage-driver", driver, "layer", "rm", &top, base],
    );
    assert_eq!(
        ok(
            root.path(),
            &["--storage-driver", driver, "layer", "ls", "-q"]
        ),
        ""
    );
}

#[test]
fn root_layer_commands_round_trip_on_vfs() {
    if graph::testsuite::root_available("root_layer_commands_round_trip_on_vfs") {
        layer_round_trip("vfs");
    }
}

#[test]
fn root_layer_commands_round_trip_on_overlay2() {
    if graph::testsuite::root_available("root_layer_commands_round_trip_on_overlay2") {
        layer_round_trip("overlay2");
    }
}

#[test]
fn root_hostile_layer_is_refused_and_leaves_nothing() {
    if !graph::testsuite::root_available("root_hostile_layer_is_refused_and_leaves_nothing") {
        return;
    }
    let root = Root::new();
    let evil = root.path().join("evil.tar");
    // A raw header whose name climbs out of the layer.
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..13].copy_from_slice(b"../../escaped");
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend_from_slice(b"evil");
    bytes.resize(bytes.len() + 508 + 1024, 0);
    std::fs::write(&evil, &bytes).unwrap();
    let err = fails(
        root.path(),
        &[
            "--storage-driver",
            "vfs",
            "layer",
            "import",
            evil.to_str().unwrap(),
        ],
    );
    assert!(err.contains("../../escaped"), "{err}");
    assert!(!root.path().join("escaped").exists());
    assert!(!root.path().parent().unwrap().join("escaped").exists());
    assert_eq!(
        ok(
            root.path(),
            &["--storage-driver", "vfs", "layer", "ls", "-q"]
        ),
        ""
    );
    assert_eq!(
        std::fs::read_dir(root.path().join("vfs/dir"))
            .unwrap()
            .count(),
        0
    );
}

fn images_of(root: &Path) -> Vec<String> {
    ok(root, &["--storage-driver", "vfs", "images"])
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn root_import_tag_inspect_history_and_rmi() {
    if !graph::testsuite::root_available("root_import_tag_inspect_history_and_rmi") {
        return;
    }
    let root = Root::new();
    let rootfs = tar_of(&[
        ("bin/hello", "#!/bin/sh\necho hi\n"),
        ("etc/motd", "welcome"),
    ]);
    let file = root.path().join("rootfs.tar");
    std::fs::write(&file, &rootfs).unwrap();
    let f = file.to_str().unwrap();
    let id = ok(
        root.path(),
        &[
            "--storage-driver",
            "vfs",
            "import",
            "-c",
            "CMD [\"/bin/hello\"]",
            "-c",
            "ENV A=1",
            f,
            "demo:v1",
        ],
    );
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let short = &id[7..19];
    assert_eq!(images_of(root.path()), [format!("demo v1 {short}")]);
    assert_eq!(
        ok(root.path(), &["--storage-driver", "vfs", "images", "-q"]).trim(),
        short
    );

    let inspect: serde_json::Value = serde_json::from_str(&ok(
        root.path(),
        &["--storage-driver", "vfs", "image", "inspect", "demo:v1"],
    ))
    .unwrap();
    let doc = &inspect[0];
    assert_eq!(doc["Id"], id);
    assert_eq!(doc["RepoTags"], serde_json::json!(["demo:v1"]));
    let diff_id = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&rootfs))
    );
    assert_eq!(doc["RootFS"]["Layers"], serde_json::json!([diff_id]));
    assert_eq!(doc["Config"]["Cmd"], serde_json::json!(["/bin/hello"]));
    assert_eq!(doc["Config"]["Env"], serde_json::json!(["A=1"]));
    assert_eq!(doc["GraphDriver"]["Name"], "vfs");
    assert_eq!(doc["Architecture"], "amd64");
    assert_eq!(doc["Size"], 25);

    let history = ok(
        root.path(),
        &["--storage-driver", "vfs", "history", "demo:v1"],
    );
    assert!(
        history
            .lines()
            .nth(1)
            .unwrap()
            .contains(&format!("Imported from {f}")),
        "{history}"
    );

    // A second tag; rmi by one tag only untags.
    ok(
        root.path(),
        &[
            "--storage-driver",
            "vfs",
            "tag",
            "demo:v1",
            "localhost:5000/demo",
        ],
    );
    let mut listed = images_of(root.path());
    listed.sort();
    assert_eq!(
        listed,
        [
            format!("demo v1 {short}"),
            format!("localhost:5000/demo latest {short}")
        ]
    );
    let err = fails(root.path(), &["--storage-driver", "vfs", "rmi", short]);
    assert!(err.contains("referenced in multiple repositories"), "{err}");
    assert_eq!(
        ok(root.path(), &["--storage-driver", "vfs", "rmi", "demo:v1"]).trim(),
        "Untagged: demo:v1"
    );
    let out = ok(
        root.path(),
        &["--storage-driver", "vfs", "rmi", "localhost:5000/demo"],
    );
    assert!(
        out.contains("Untagged: localhost:5000/demo:latest")
            && out.contains(&format!("Deleted: {id}")),
        "{out}"
    );
    assert!(images_of(root.path()).is_empty());
    assert_eq!(
        ok(
            root.path(),
            &["--storage-driver", "vfs", "layer", "ls", "-q"]
        ),
        "",
        "rmi left the layer behind"
    );

    let err = fails(root.path(), &["--storage-driver", "vfs", "rmi", "nosuch"]);
    assert!(err.contains("No such image: nosuch"), "{err}");
    let err = fails(
        root.path(),
        &["--storage-driver", "vfs", "image", "inspect", "nosuch"],
    );
    assert!(err.contains("No such image: nosuch"), "{err}");
}

#[test]
fn root_import_from_stdin_dangling_and_prune() {
    if !graph::testsuite::root_available("root_import_from_stdin_dangling_and_prune") {
        return;
    }
    let root = Root::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_engine"));
    cmd.arg("--data-root")
        .arg(root.path())
        .args(["--storage-driver", "vfs", "import", "-"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &tar_of(&[("x", "y")])).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(
        images_of(root.path()),
        [format!("<none> <none> {}", &id[7..19])]
    );
    let dangling = ok(
        root.path(),
        &[
            "--storage-driver",
            "vfs",
            "images",
            "-q",
            "--filter",
            "dangling=true",
        ],
    );
    assert_eq!(dangling.trim(), &id[7..19]);
    let out = ok(
        root.path(),
        &["--storage-driver", "vfs", "image", "prune", "-f"],
    );
    assert!(out.contains(&format!("deleted: {id}")), "{out}");
    assert!(images_of(root.path()).is_empty());
    assert!(
        fails(
            root.path(),
            &["--storage-driver", "vfs", "images", "--filter", "bogus=1"]
        )
        .contains("invalid filter")
    );
}

#[test]
fn root_import_of_a_corrupt_archive_stores_nothing() {
    if !graph::testsuite::root_available("root_import_of_a_corrupt_archive_stores_nothing") {
        return;
    }
    let root = Root::new();
    let mut t = tar_of(&[("big", &"z".repeat(5000))]);
    t.truncate(2048);
    let file = root.path().join("bad.tar");
    std::fs::write(&file, &t).unwrap();
    let err = fails(
        root.path(),
        &[
            "--storage-driver",
            "vfs",
            "import",
            file.to_str().unwrap(),
            "bad:latest",
        ],
    );
    assert!(err.contains("bad.tar"), "{err}");
    assert!(images_of(root.path()).is_empty());
    assert_eq!(
        ok(
            root.path(),
            &["--storage-driver", "vfs", "layer", "ls", "-q"]
        ),
        ""
    );
    let err = fails(
        root.path(),
        &["--storage-driver", "vfs", "import", "/nonexistent.tar"],
    );
    assert!(err.contains("/nonexistent.tar"), "{err}");
    let err = fails(
        root.path(),
        &[
            "--storage-driver",
            "vfs",
            "import",
            file.to_str().unwrap(),
            "Bad:Name",
        ],
    );
    assert!(err.contains("invalid reference format"), "{err}");
}
