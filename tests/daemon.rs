//! `engine daemon` driven by Docker's own CLI over the UNIX socket, as root.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

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

/// `GET /` on 127.0.0.1:port, retried while the port comes up.
fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        });
        match got {
            Ok(body) if !body.is_empty() => return body,
            _ if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            other => panic!("no answer on port {port}: {other:?}"),
        }
    }
}

#[test]
fn root_docker_runs_lists_logs_stops_and_removes_containers() {
    let test = "root_docker_runs_lists_logs_stops_and_removes_containers";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let port = free_port();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{port}:80"),
        "-m",
        "64M",
        "--restart",
        "on-failure",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let page = http_get(port);
    assert!(page.contains("hello from httpd"), "{page}");
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}}|{{.Status}}|{{.Ports}}"]);
    assert!(ps.starts_with("web|Up "), "{ps}");
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");
    // The daemon and the CLI see one store.
    let inspect = e.inspect("web");
    assert_eq!(inspect["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(inspect["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}} {{.Name}}", "web"])
            .trim(),
        "true /web"
    );
    // A running container is not removed without force: Docker's 409 message.
    let refused = d.docker(&["rm", "web"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("You cannot remove a running container"),
        "{}",
        stderr(&refused)
    );
    d.ok(&["stop", "-t", "1", "web"]);
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps.trim(), "web exited");
    d.ok(&["rm", "web"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");

    // Logs, stdout and stderr apart, with --tail.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two; sleep 0.2; echo oops >&2",
    ]);
    e.wait_for("talker", 10, |v| v["State"]["Status"] == "exited");
    let out = d.docker(&["logs", "talker"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "one\ntwo\n");
    assert!(stderr(&out).contains("oops"), "{}", stderr(&out));
    let tail = d.docker(&["logs", "--tail", "1", "talker"]);
    assert_eq!(stdout(&tail), "");
    assert!(stderr(&tail).contains("oops"));
    // Following a stopped container's log ends.
    let followed = d.docker(&["logs", "-f", "talker"]);
    assert_eq!(stdout(&followed), "one\ntwo\n");

    // Two creates of one name at once: one wins, the other gets Docker's conflict.
    let racers: Vec<_> = (0..2)
        .map(|_| {
            d.command(&["create", "--name", "twin", "busybox", "true"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = racers
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    assert_eq!(
        outs.iter().filter(|o| o.status.success()).count(),
        1,
        "{outs:?}"
    );
    let loser = outs.iter().find(|o| !o.status.success()).unwrap();
    assert!(
        stderr(loser).contains("is already in use"),
        "{}",
        stderr(loser)
    );
    // Rename, then prune the stopped ones.
    d.ok(&["rename", "twin", "single"]);
    assert!(
        d.ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("single")
    );
    let pruned = d.ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers"), "{pruned}");
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    // A missing image is Docker's 404.
    let missing = d.docker(&["create", "nosuch:1"]);
    assert!(!missing.status.success());
}

#[test]
fn root_docker_builds_saves_loads_commits_and_tags_images() {
    let test = "root_docker_builds_saves_loads_commits_and_tags_images";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n",
    )
    .unwrap();
    let out = d
        .command(&["build", "-t", "x", "."])
        .current_dir(ctx.path())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Step 1/3 : FROM busybox"), "{text}");
    assert!(text.contains("Successfully tagged x:latest"), "{text}");
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Config.Cmd}}", "x"])
            .trim(),
        "[cat /built]"
    );
    // The built image runs, and says so in its log.
    d.ok(&["run", "-d", "--name", "reader", "x"]);
    e.wait_for("reader", 10, |v| v["State"]["Status"] == "exited");
    assert_eq!(d.ok(&["logs", "reader"]), "built\n");
    // A failing RUN fails the build with Docker's message.
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN false\n").unwrap();
    let failed = d
        .command(&["build", "."])
        .current_dir(ctx.path())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("returned a non-zero code: 1"),
        "{}",
        stderr(&failed)
    );

    // docker save busybox | docker load.
    let saved = d.command(&["save", "busybox"]).output().unwrap();
    assert!(saved.status.success(), "{}", stderr(&saved));
    assert!(saved.stdout.len() > 100_000);
    d.ok(&["rmi", "-f", "busybox"]);
    let mut load = d
        .command(&["load"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        load.stdin.take().unwrap().write_all(&saved.stdout).unwrap();
    }
    let loaded = load.wait_with_output().unwrap();
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    assert!(
        stdout(&loaded).contains("Loaded image: busybox:latest"),
        "{}",
        stdout(&loaded)
    );

    // commit and tag.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "echo hi > /note",
    ]);
    e.wait_for("writer", 10, |v| v["State"]["Status"] == "exited");
    let diff = d.ok(&["diff", "writer"]);
    assert!(diff.contains("A /note"), "{diff}");
    let id = d.ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/note\"]",
        "writer",
        "noted:v1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    d.ok(&["tag", "noted:v1", "noted:v2"]);
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        images.contains("noted:v1") && images.contains("noted:v2"),
        "{images}"
    );
    d.ok(&["run", "-d", "--name", "noted", "noted:v2"]);
    e.wait_for("noted", 10, |v| v["State"]["Status"] == "exited");
    assert_eq!(d.ok(&["logs", "noted"]), "hi\n");
    let exported = d.command(&["export", "writer"]).output().unwrap();
    assert!(exported.status.success());
    assert!(exported.stdout.windows(4).any(|w| w == b"note"));
}

/// A `docker events` process, killed on drop.
struct EventsWatch {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for EventsWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn root_docker_events_sees_containers_start() {
    let test = "root_docker_events_sees_containers_start";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let mut child = d
        .command(&[
            "events",
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let watch = EventsWatch { child, lines };
    // Give the stream a moment to be subscribed.
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.ok(&["run", "-d", "--name", "seen", "busybox", "true"]);
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !got.iter().any(|l: &String| l == "die seen") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match watch.lines.recv_timeout(left) {
            Ok(l) => got.push(l),
            Err(_) => panic!("no start/die events: {got:?}"),
        }
    }
    assert!(got.contains(&"create seen".to_string()), "{got:?}");
    assert!(got.contains(&"start seen".to_string()), "{got:?}");
    d.ok(&["rm", "seen"]);
    // Image events from the daemon's own operations.
    let since = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 1
    );
    d.ok(&["tag", "busybox", "bb:events"]);
    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    let past = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    // Docker's tag event has the image id as its actor, the new reference as its name.
    assert!(past.contains("tag bb:events"), "{past}");
}

/// `docker-registry serve` on a free loopback port; killed on drop.
struct Registry {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    host: String,
}

impl Registry {
    fn start(test: &str) -> Option<Registry> {
        const BIN: &str = "/usr/bin/docker-registry";
        if !std::path::Path::new(BIN).exists() {
            graph::testsuite::skip(
                test,
                "needs docker-registry (apt-get install docker-registry)",
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("engine-daemon-registry-")
            .tempdir()
            .unwrap();
        let host = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new(BIN)
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let r = Registry {
            child,
            _dir: dir,
            host,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(&r.host).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "registry did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(r)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn root_docker_pulls_and_pushes_through_the_daemon() {
    let test = "root_docker_pulls_and_pushes_through_the_daemon";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let Some(registry) = Registry::start(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let name = format!("{}/bb:v1", registry.host);
    e.ok(&["tag", "busybox", &name]);
    e.ok(&["push", &name]);
    e.ok(&["rmi", &name]);
    let pulled = d.ok(&["pull", &name]);
    assert!(pulled.contains("Pulling from bb"), "{pulled}");
    assert!(pulled.contains("Digest: sha256:"), "{pulled}");
    assert!(
        pulled.contains(&format!("Status: Image is up to date for {name}"))
            || pulled.contains(&format!("Status: Downloaded newer image for {name}")),
        "{pulled}"
    );
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{.Id}}", &name]).trim(),
        e.ok(&["images", "-q", "--no-trunc", "busybox"]).trim()
    );
    // docker run pulls what is missing (create answers 404, the CLI pulls and retries).
    e.ok(&["rmi", &name]);
    let other = format!("{}/bb:v2", registry.host);
    e.ok(&["tag", "busybox", &other]);
    e.ok(&["push", &other]);
    e.ok(&["rmi", &other]);
    d.ok(&["run", "-d", "--name", "fresh", &other, "true"]);
    assert!(
        d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .contains(&other)
    );
    // Push through the daemon.
    let pushed_name = format!("{}/pushed:v1", registry.host);
    d.ok(&["tag", "busybox", &pushed_name]);
    let pushed = d.ok(&["push", &pushed_name]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    // A name the registry does not have: Docker's error.
    let missing = d.docker(&["pull", &format!("{}/nosuch:v1", registry.host)]);
    assert!(!missing.status.success());
}

/// Pids of processes whose command line contains `needle`.
fn pids_with(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| {
            let pid: i32 = p.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(p.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

#[test]
fn root_daemon_killed_and_restarted_loses_nothing() {
    let test = "root_daemon_killed_and_restarted_loses_nothing";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker.clone());
    d.ok(&[
        "run",
        "-d",
        "--name",
        "keeper",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "stopped",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&["stop", "-t", "0", "stopped"]);
    let id = d
        .ok(&["inspect", "-f", "{{.Id}}", "keeper"])
        .trim()
        .to_string();
    let pid = d
        .ok(&["inspect", "-f", "{{.State.Pid}}", "keeper"])
        .trim()
        .to_string();
    // SIGKILL (what Drop sends).
    drop(d);
    let d = Daemon::start(&e, docker.clone());
    assert_eq!(
        d.ok(&["ps", "--format", "{{.Names}} {{.State}}"]).trim(),
        "keeper running"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Pid}}", "keeper"]).trim(),
        pid,
        "the container kept running, untouched"
    );
    assert!(
        d.ok(&["images", "--format", "{{.Repository}}"])
            .contains("busybox")
    );
    // As after a reboot: daemon, monitor and container all gone.
    drop(d);
    // The monitor's command line names the container; the container's init is `sleep`.
    let monitor = pids_with(&format!("container-monitor\0{id}"));
    assert_eq!(monitor.len(), 1, "{monitor:?}");
    for p in monitor.into_iter().chain([pid.parse().unwrap()]) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    e.wait_for("keeper", 10, |v| v["State"]["Running"] == false);
    let d = Daemon::start(&e, docker);
    // `always` comes back; `unless-stopped` stopped by the user stays stopped.
    e.wait_for("keeper", 10, |v| v["State"]["Running"] == true);
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert!(ps.contains("keeper running"), "{ps}");
    assert!(ps.contains("stopped exited"), "{ps}");
}
