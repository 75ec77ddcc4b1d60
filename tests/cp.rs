//! `engine cp` and `docker cp` through `engine daemon` (`/containers/{id}/archive`), as root:
//! both ways, running and stopped containers, volumes, tmpfs and bind mounts, and symlinks
//! that try to leave the container.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use std::io::Write;
use std::process::Stdio;

use common::*;

/// The names and contents of a tar's regular files.
fn tar_files(bytes: &[u8]) -> Vec<(String, String)> {
    let mut a = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut body = String::new();
        if e.header().entry_type().is_file() {
            std::io::Read::read_to_string(&mut e, &mut body).unwrap();
        }
        out.push((name, body));
    }
    out
}

fn cp_cli(e: &Engine) {
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    std::fs::write(h.join("f"), "from host\n").unwrap();
    std::fs::create_dir_all(h.join("dir/sub")).unwrap();
    std::fs::write(h.join("dir/sub/a"), "a\n").unwrap();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "-v",
        "vol:/vol",
        "--mount",
        "type=tmpfs,dst=/tt",
        "busybox",
        "sh",
        "-c",
        "echo in-tmpfs > /tt/x; echo in-vol > /vol/y; ln -s ../../../../etc /escape; ln -s /etc/passwd /abs; sleep 600",
    ]);
    e.wait_for("live", 10, |v| v["State"]["Running"] == true);
    // Wait for the shell to have written its files.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !e
        .engine(&["exec", "live", "test", "-e", "/abs"])
        .status
        .success()
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Out of a running container: its tmpfs, its volume, a file to stdout as a tar.
    let out = h.join("out");
    e.ok(&["cp", "live:/tt/x", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "in-tmpfs\n");
    e.ok(&["cp", "live:/vol/y", h.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(h.join("y")).unwrap(), "in-vol\n");
    let tar = e
        .command(&["cp", "live:/etc/hostname", "-"])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let files = tar_files(&tar.stdout);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0, "hostname");
    // Symlinks resolve inside the container: `/escape/passwd` is the container's.
    e.ok(&["cp", "live:/escape/passwd", h.join("p").to_str().unwrap()]);
    assert!(
        std::fs::read_to_string(h.join("p"))
            .unwrap()
            .starts_with("root:x:0:0:root:/root:/bin/sh\napp:"),
        "the container's passwd, not the host's"
    );
    // Without -L a symlink is copied as a symlink; with -L, what it names.
    e.ok(&["cp", "live:/abs", h.join("l").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_link(h.join("l")).unwrap(),
        std::path::Path::new("/etc/passwd")
    );
    e.ok(&["cp", "-L", "live:/abs", h.join("l2").to_str().unwrap()]);
    assert!(
        std::fs::read_to_string(h.join("l2"))
            .unwrap()
            .contains("app:x:1000")
    );
    // Into a running container: a file into its volume, a directory, a tar from stdin.
    e.ok(&["cp", h.join("f").to_str().unwrap(), "live:/vol/"]);
    assert_eq!(e.ok(&["exec", "live", "cat", "/vol/f"]), "from host\n");
    e.ok(&["cp", h.join("dir").to_str().unwrap(), "live:/copied"]);
    assert_eq!(e.ok(&["exec", "live", "cat", "/copied/sub/a"]), "a\n");
    let mut b = tar::Builder::new(Vec::new());
    let mut hd = tar::Header::new_gnu();
    hd.set_size(3);
    hd.set_mode(0o600);
    hd.set_uid(1000);
    hd.set_gid(1000);
    b.append_data(&mut hd, "piped", &b"hi\n"[..]).unwrap();
    let mut child = e
        .command(&["cp", "-", "live:/tmp"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&b.into_inner().unwrap())
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        e.ok(&["exec", "live", "stat", "-c", "%u:%g %a", "/tmp/piped"]),
        "1000:1000 600\n"
    );
    // A copy through a symlink that points out lands inside the container.
    e.ok(&["cp", h.join("f").to_str().unwrap(), "live:/escape/dropped"]);
    assert!(!std::path::Path::new("/etc/dropped").exists());
    assert_eq!(
        e.ok(&["exec", "live", "cat", "/etc/dropped"]),
        "from host\n"
    );
    // Errors: a missing path, a directory over a file.
    let missing = e.engine(&["cp", "live:/nope", h.to_str().unwrap()]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("No such container:path: live:/nope"),
        "{}",
        stderr(&missing)
    );
    let bad = e.engine(&["cp", h.join("dir").to_str().unwrap(), "live:/etc/hostname"]);
    assert!(!bad.status.success());
    e.ok(&["rm", "-f", "live"]);

    // Ownership: root without -a (as Docker documents), the container's user with -a.
    e.ok(&["create", "--name", "owned", "-u", "1000", "busybox", "true"]);
    e.ok(&["cp", h.join("f").to_str().unwrap(), "owned:/tmp/plain"]);
    e.ok(&[
        "cp",
        "-a",
        h.join("f").to_str().unwrap(),
        "owned:/tmp/archived",
    ]);
    let tar = e.command(&["cp", "owned:/tmp", "-"]).output().unwrap();
    let mut a = tar::Archive::new(&tar.stdout[..]);
    let owners: Vec<(String, u64)> = a
        .entries()
        .unwrap()
        .map(|en| {
            let en = en.unwrap();
            (
                en.path().unwrap().to_string_lossy().into_owned(),
                en.header().uid().unwrap(),
            )
        })
        .collect();
    assert!(owners.contains(&("tmp/plain".into(), 0)), "{owners:?}");
    assert!(
        owners.contains(&("tmp/archived".into(), 1000)),
        "{owners:?}"
    );

    // --read-only: the root refuses a copy, its volume takes it (stopped or running).
    e.ok(&[
        "create",
        "--name",
        "rofs",
        "--read-only",
        "-v",
        "rovol:/data",
        "busybox",
        "sleep",
        "600",
    ]);
    let refused = e.engine(&["cp", h.join("f").to_str().unwrap(), "rofs:/tmp/x"]);
    assert!(!refused.status.success(), "a read-only root takes no copy");
    e.ok(&["cp", h.join("f").to_str().unwrap(), "rofs:/data/x"]);
    e.ok(&["start", "rofs"]);
    let refused = e.engine(&["cp", h.join("f").to_str().unwrap(), "rofs:/tmp/y"]);
    assert!(!refused.status.success(), "nor while it runs");
    assert_eq!(e.ok(&["exec", "rofs", "cat", "/data/x"]), "from host\n");
    e.ok(&["rm", "-f", "rofs"]);

    // A stopped container: its writable layer and volumes, nothing left mounted after.
    e.ok(&[
        "create", "--name", "idle", "-v", "vol:/vol", "busybox", "true",
    ]);
    e.ok(&["cp", "idle:/vol/y", h.join("y2").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(h.join("y2")).unwrap(), "in-vol\n");
    e.ok(&["cp", h.join("f").to_str().unwrap(), "idle:/www/f"]);
    let tar = e.command(&["cp", "idle:/www", "-"]).output().unwrap();
    let files = tar_files(&tar.stdout);
    assert!(
        files.contains(&("www/f".to_string(), "from host\n".to_string())),
        "{files:?}"
    );
    assert!(
        files.iter().any(|(n, _)| n == "www/index.html"),
        "{files:?}"
    );
    // The copy-in went to the writable layer (root-owned, as Docker's cp without -a).
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "idle",
            "busybox",
            "cat",
            "/vol/f"
        ]),
        "from host\n"
    );
    let root = e.path().to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts
            .lines()
            .any(|l| l.contains(&format!("{root}/volumes"))),
        "no volume left mounted"
    );
}

on_both_drivers!(cp_cli);

#[test]
fn root_docker_cp_both_ways() {
    let test = "root_docker_cp_both_ways";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    std::fs::create_dir_all(h.join("tree/deeper")).unwrap();
    std::fs::write(h.join("tree/deeper/file"), "deep\n").unwrap();
    d.ok(&["run", "-d", "--name", "web", "busybox", "sleep", "600"]);
    // Host -> container (HEAD then PUT), container -> host (GET), running.
    d.ok(&["cp", h.join("tree").to_str().unwrap(), "web:/srv"]);
    assert_eq!(d.ok(&["exec", "web", "cat", "/srv/deeper/file"]), "deep\n");
    d.ok(&["cp", "web:/srv/deeper", h.join("back").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(h.join("back/file")).unwrap(),
        "deep\n"
    );
    d.ok(&["cp", "web:/etc/hosts", h.to_str().unwrap()]);
    assert!(
        std::fs::read_to_string(h.join("hosts"))
            .unwrap()
            .contains("localhost")
    );
    let missing = d.docker(&["cp", "web:/nope", h.to_str().unwrap()]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("No such container:path: web:/nope"),
        "{}",
        stderr(&missing)
    );
    // Stopped.
    d.ok(&["stop", "-t", "1", "web"]);
    d.ok(&[
        "cp",
        "web:/srv/deeper/file",
        h.join("stopped").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(h.join("stopped")).unwrap(),
        "deep\n"
    );
    std::fs::write(h.join("new"), "new\n").unwrap();
    d.ok(&["cp", h.join("new").to_str().unwrap(), "web:/srv/"]);
    d.ok(&["start", "web"]);
    assert_eq!(d.ok(&["exec", "web", "cat", "/srv/new"]), "new\n");
    d.ok(&["rm", "-f", "web"]);
}
