//! `engine daemon` driven by Docker's own CLI over the UNIX socket, as root.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

#[macro_use]
mod common;

use common::*;

#[test]
fn root_docker_cli_talks_to_the_daemon() {
    let test = "root_docker_cli_talks_to_the_daemon";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let version = d.ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Os}}",
    ]);
    assert_eq!(version.trim(), "1.41 linux");
    let info = d.ok(&["info", "--format", "{{.Driver}} {{.Images}}"]);
    assert_eq!(info.trim(), "overlay2 1");
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.trim(), "busybox:latest");
    let id = e.ok(&["images", "-q", "--no-trunc", "busybox"]);
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"])
            .trim(),
        id.trim()
    );
    let missing = d.docker(&["image", "inspect", "nosuch:1"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("No such image: nosuch:1"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    // The socket is group-accessible only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    // A second daemon on the same data root is refused.
    let second = e.engine(&[
        "daemon",
        "-H",
        &format!("unix://{}/other.sock", e.path().display()),
    ]);
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("another engine daemon"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    // rmi through the API, as Docker answers it.
    let out = d.ok(&["rmi", "busybox"]);
    assert!(out.contains("Untagged: busybox:latest"), "{out}");
    assert!(out.contains(&format!("Deleted: {}", id.trim())), "{out}");
    assert_eq!(e.ok(&["images", "-q"]), "");
}
