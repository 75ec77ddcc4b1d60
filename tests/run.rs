//! End-to-end tests of `engine run` and the container lifecycle, as root, on a busybox image
//! imported into a fresh data root per test. The central cases run on vfs and overlay2.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support as common;

use common::*;

on_both_drivers!(run_echo_and_exit_codes, run_echo_and_exit_codes);
fn run_echo_and_exit_codes(e: &Engine) {
    let out = e.engine(&["run", "--rm", "busybox", "echo", "hello", "world"]);
    assert_eq!(stdout(&out), "hello world\n");
    assert_eq!(out.status.code(), Some(0));
    let out = e.engine(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo oops >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out), "oops\n");
    // --rm leaves nothing behind.
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

on_both_drivers!(detached_lifecycle, detached_lifecycle);
fn detached_lifecycle(e: &Engine) {
    let id = e.ok(&[
        "run",
        "-d",
        "--name",
        "sleeper",
        "busybox",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; echo up; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ps = e.ok(&["ps"]);
    assert!(ps.starts_with("CONTAINER ID   IMAGE"), "{ps}");
    assert!(
        ps.contains(&id[..12]) && ps.contains("sleeper") && ps.contains("Up "),
        "{ps}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while !e.ok(&["logs", "sleeper"]).contains("up") {
        assert!(Instant::now() < deadline, "no log output");
        std::thread::sleep(Duration::from_millis(50));
    }
    let v = e.inspect("sleeper");
    assert_eq!(v["State"]["Status"], "running");
    assert_eq!(v["GraphDriver"]["Name"], e.driver);
    assert_eq!(v["Name"], "/sleeper");
    // A running container is not removed without -f.
    let out = e.engine(&["rm", "sleeper"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("You cannot remove a running container"),
        "{}",
        stderr(&out)
    );
    assert_eq!(e.ok(&["stop", "sleeper"]).trim(), "sleeper");
    let v = e.inspect("sleeper");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(v["State"]["ExitCode"], 0);
    assert!(e.ok(&["logs", "sleeper"]).contains("bye"));
    assert_eq!(e.ok(&["ps", "-q"]), "");
    assert!(
        e.ok(&[
            "ps",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}"
        ])
        .contains("sleeper")
    );
    e.ok(&["rm", "sleeper"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert!(!e.path().join("containers").join(id).exists());
    // The writable layer is gone with it: no mount record, and only the image's layer on disk.
    let mounts = e.path().join(format!("image/{}/layerdb/mounts", e.driver));
    let left: Vec<_> = std::fs::read_dir(&mounts)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "writable layers left: {left:?}");
    let layers = e.ok(&["layer", "ls", "-q"]).lines().count();
    let driver_dirs = driver_layer_dirs(e);
    assert_eq!(
        driver_dirs, layers,
        "driver holds {driver_dirs} layers for {layers} image layers"
    );
}

fn driver_layer_dirs(e: &Engine) -> usize {
    let dir = match e.driver {
        "vfs" => e.path().join("vfs/dir"),
        _ => e.path().join(e.driver),
    };
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        // Layers only: not l/ (links) nor dot entries (.refs: mount counts).
        .filter(|d| {
            d.file_name() != "l"
                && !d.file_name().to_string_lossy().starts_with('.')
                && d.path().is_dir()
        })
        .count()
}

#[test]
fn root_command_not_found_127_not_executable_126() {
    let Some(e) = Engine::new("root_command_not_found_127_not_executable_126", "vfs") else {
        return;
    };
    let out = e.engine(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );
    let out = e.engine(&["run", "--rm", "busybox", "/etc/notexec"]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    let out = e.engine(&["run", "-d", "--name", "bad", "busybox", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let v = e.inspect("bad");
    assert_eq!(v["State"]["ExitCode"], 127);
    assert!(v["State"]["Error"].as_str().unwrap().contains("nosuchcmd"));
}

#[test]
fn root_unknown_image_name_conflict_and_bad_memory_are_125() {
    let Some(e) = Engine::new(
        "root_unknown_image_name_conflict_and_bad_memory_are_125",
        "vfs",
    ) else {
        return;
    };
    let out = e.engine(&["run", "nosuch"]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains("Unable to find image 'nosuch:latest' locally"),
        "{err}"
    );
    assert!(
        err.contains("engine import") && err.contains("engine load"),
        "{err}"
    );
    e.ok(&["create", "--name", "taken", "busybox", "true"]);
    let out = e.engine(&["run", "--name", "taken", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out)
            .contains("Conflict. The container name \"/taken\" is already in use by container"),
        "{}",
        stderr(&out)
    );
    let out = e.engine(&["run", "-m", "1M", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("Minimum memory limit allowed is 6MB"),
        "{}",
        stderr(&out)
    );
    // Random names look like Docker's.
    let id = e.ok(&["create", "busybox", "true"]);
    let name = e.inspect(id.trim())["Name"].as_str().unwrap().to_string();
    assert!(name.starts_with('/') && name.contains('_'), "{name}");
    // The image is in use: rmi refuses, naming the container.
    let out = e.engine(&["rmi", "busybox"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is using its referenced image"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn root_restart_on_failure_gives_up_after_max_retries() {
    let Some(e) = Engine::new("root_restart_on_failure_gives_up_after_max_retries", "vfs") else {
        return;
    };
    e.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo try; exit 1",
    ]);
    let v = e.wait_for("flaky", 20, |v| {
        v["State"]["Status"] == "exited"
            && !e
                .ok(&["ps", "-q"])
                .contains(&v["Id"].as_str().unwrap()[..12])
    });
    assert_eq!(v["RestartCount"], 2, "{v:#}");
    assert_eq!(v["State"]["ExitCode"], 1);
    // It ran three times; and `wait` reports the exit code.
    assert_eq!(e.ok(&["logs", "flaky"]).matches("try").count(), 3);
    assert_eq!(e.ok(&["wait", "flaky"]).trim(), "1");
}

on_both_drivers!(restart_always_restarts_a_killed_process, restart_always);
fn restart_always(e: &Engine) {
    e.ok(&[
        "run",
        "-d",
        "--name",
        "phoenix",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "1000",
    ]);
    let v = e.wait_for("phoenix", 10, |v| v["State"]["Running"] == true);
    let pid = v["State"]["Pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let v = e.wait_for("phoenix", 10, |v| {
        v["RestartCount"] == 1 && v["State"]["Running"] == true
    });
    assert_ne!(v["State"]["Pid"].as_i64().unwrap() as i32, pid);
    // `stop` is honoured: no restart after it.
    e.ok(&["stop", "-t", "1", "phoenix"]);
    std::thread::sleep(Duration::from_millis(500));
    let v = e.inspect("phoenix");
    assert_eq!(v["State"]["Status"], "exited", "{v:#}");
    assert_eq!(v["RestartCount"], 1);
    e.ok(&["rm", "phoenix"]);
}

on_both_drivers!(published_port_reaches_the_container, published_port);
fn published_port(e: &Engine) {
    let port = free_port();
    let mapping = format!("127.0.0.1:{port}:80");
    e.ok(&[
        "run", "-d", "--name", "web", "-p", &mapping, "busybox", "nc", "-ll", "-p", "80", "-e",
        "echo", "hello",
    ]);
    let ps = e.ok(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), format!("127.0.0.1:{port}->80/tcp"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        let mut got = String::new();
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = s.read_to_string(&mut got);
        }
        if got.contains("hello") || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(reply, "hello\n");
    // The port is taken now: a second container cannot publish on it.
    let out = e.engine(&["run", "-d", "-p", &mapping, "busybox", "sleep", "100"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("port is already allocated"),
        "{}",
        stderr(&out)
    );
    e.ok(&["rm", "-f", "web"]);
}

on_both_drivers!(memory_limit_oom_is_reported, memory_oom);
fn memory_oom(e: &Engine) {
    let out = e.engine(&[
        "run",
        "--name",
        "hog",
        "-m",
        "32M",
        "busybox",
        "tail",
        "/dev/zero",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    let v = e.inspect("hog");
    assert_eq!(v["State"]["OOMKilled"], true, "{v:#}");
    assert_eq!(v["State"]["ExitCode"], 137);
    assert_eq!(v["HostConfig"]["Memory"], 32 * 1024 * 1024);
    let raw = e.ok(&["inspect", "hog"]);
    assert!(raw.contains("\"OOMKilled\": true"), "{raw}");
}

on_both_drivers!(interactive_tty_runs_a_shell, interactive_tty);
fn interactive_tty(e: &Engine) {
    let cmd = e.command(&["run", "-it", "--rm", "busybox", "sh"]);
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        input
            .write_all(b"[ -t 0 ] && echo stdin-is-a-tty; echo hi-$((1+1))\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        input.write_all(b"exit 4\n").unwrap();
        std::thread::sleep(Duration::from_millis(500));
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("engine run -it did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    writer.join().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(out.contains("hi-2"), "{out}");
    assert!(
        out.contains("\nstdin-is-a-tty"),
        "no tty in the container: {out}"
    );
    assert_eq!(status.code(), Some(4), "{out}");
}

on_both_drivers!(exec_runs_in_the_running_container, exec_in_container);
fn exec_in_container(e: &Engine) {
    e.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "--hostname",
        "boxhost",
        "-e",
        "FOO=bar",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(e.ok(&["exec", "box", "hostname"]).trim(), "boxhost");
    assert_eq!(
        e.ok(&["exec", "box", "sh", "-c", "echo $FOO"]).trim(),
        "bar"
    );
    assert_eq!(
        e.ok(&["exec", "-u", "app", "box", "id", "-u"]).trim(),
        "1000"
    );
    assert_eq!(e.ok(&["exec", "-w", "/tmp", "box", "pwd"]).trim(), "/tmp");
    let out = e.engine(&["exec", "box", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    // The exec'd process shares the container's PID namespace: its init is PID 1.
    assert!(
        e.ok(&["exec", "box", "cat", "/proc/1/cmdline"])
            .starts_with("sleep")
    );
    let top = e.ok(&["top", "box"]);
    assert!(top.contains("PID") && top.contains("sleep 1000"), "{top}");
    e.ok(&["rm", "-f", "box"]);
    let out = e.engine(&["exec", "box", "true"]);
    assert!(!out.status.success());
}

on_both_drivers!(commit_then_run_the_new_image, commit_then_run);
fn commit_then_run(e: &Engine) {
    e.ok(&[
        "run",
        "--name",
        "builder",
        "busybox",
        "sh",
        "-c",
        "echo committed > /data.txt; rm /bin/false; mkdir /newdir",
    ]);
    let diff = e.ok(&["diff", "builder"]);
    let lines: Vec<&str> = diff.lines().collect();
    assert!(lines.contains(&"A /data.txt"), "{diff}");
    assert!(lines.contains(&"D /bin/false"), "{diff}");
    assert!(lines.contains(&"C /bin"), "{diff}");
    assert!(lines.contains(&"A /newdir"), "{diff}");
    assert!(!lines.iter().any(|l| l.starts_with("A /proc")), "{diff}");
    let id = e.ok(&[
        "commit",
        "-m",
        "added data",
        "-c",
        "CMD [\"cat\", \"/data.txt\"]",
        "builder",
        "mine:v1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let out = e.ok(&["run", "--rm", "mine:v1"]);
    assert_eq!(out, "committed\n");
    let out = e.engine(&["run", "--rm", "mine:v1", "false"]);
    assert_eq!(out.status.code(), Some(127));
    // The image under the container is unchanged.
    let out = e.engine(&["run", "--rm", "busybox", "cat", "/data.txt"]);
    assert_eq!(out.status.code(), Some(1));
    let history = e.ok(&["history", "mine:v1"]);
    assert!(history.contains("added data"), "{history}");
}

on_both_drivers!(hello_world_needs_no_registry, hello_world);
fn hello_world(e: &Engine) {
    let out = e.engine(&["run", "hello-world"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Hello from engine!"), "{text}");
    assert!(
        text.contains(&format!("on the {} storage driver", e.driver)),
        "{text}"
    );
    let images = e.ok(&["images", "hello-world"]);
    assert!(
        images.contains("hello-world") && images.contains("latest"),
        "{images}"
    );
    // The second run uses the stored image.
    assert_eq!(stdout(&e.engine(&["run", "--rm", "hello-world"])), text);
}

#[test]
fn root_env_workdir_user_volumes_and_info() {
    let Some(e) = Engine::new("root_env_workdir_user_volumes_and_info", "vfs") else {
        return;
    };
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("in.txt"), "from host\n").unwrap();
    let bind = format!("{}:/mnt:ro", host_dir.path().display());
    let env_file = e.path().join("env.list");
    std::fs::write(&env_file, "# comment\nFROM_FILE=1\n").unwrap();
    let out = e.ok(&[
        "run", "--rm", "-e", "A=b", "--env-file", env_file.to_str().unwrap(), "-w", "/tmp", "-u", "app",
        "-v", &bind, "-v", "vol1:/vol", "busybox", "sh", "-c",
        "echo $A $FROM_FILE $(pwd) $(id -u) $(cat /mnt/in.txt); touch /mnt/x 2>/dev/null || echo ro; echo $PATH",
    ]);
    assert_eq!(
        out,
        format!(
            "b 1 /tmp 1000 from host\nro\n{}\n",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        )
    );
    e.ok(&[
        "run",
        "--rm",
        "-v",
        "vol1:/vol",
        "busybox",
        "sh",
        "-c",
        "echo kept > /vol/f",
    ]);
    assert_eq!(
        e.ok(&["run", "--rm", "-v", "vol1:/vol", "busybox", "cat", "/vol/f"]),
        "kept\n"
    );
    assert!(e.path().join("volumes/vol1/_data/f").exists());
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "cat",
        "/etc/hostname",
    ]);
    assert_eq!(out.trim().len(), 12);
    e.ok(&["create", "--name", "idle", "busybox", "true"]);
    let info = e.ok(&["info"]);
    assert!(
        info.contains("Containers: 1\n Running: 0\n Paused: 0\n Stopped: 1\n"),
        "{info}"
    );
    assert!(info.contains("Images: 1"), "{info}");
    assert!(info.contains("Cgroup Driver: cgroupfs"), "{info}");
    assert!(info.contains("Cgroup Version: "), "{info}");
}

#[test]
fn root_start_kill_restart_and_logs_options() {
    let Some(e) = Engine::new("root_start_kill_restart_and_logs_options", "vfs") else {
        return;
    };
    let id = e.ok(&[
        "create",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; done; sleep 1000",
    ]);
    assert_eq!(e.inspect("counter")["State"]["Status"], "created");
    assert_eq!(e.ok(&["start", "counter"]).trim(), "counter");
    e.wait_for("counter", 10, |_| {
        e.ok(&["logs", "counter"]).contains("line3")
    });
    assert_eq!(e.ok(&["logs", "--tail", "1", "counter"]), "line3\n");
    let ts = e.ok(&["logs", "-t", "--tail", "1", &id.trim()[..12]]);
    assert!(ts.contains("Z line3"), "{ts}");
    let first_pid = e.inspect("counter")["State"]["Pid"].clone();
    e.ok(&["restart", "-t", "1", "counter"]);
    let v = e.wait_for("counter", 10, |v| v["State"]["Running"] == true);
    assert_ne!(v["State"]["Pid"], first_pid);
    e.ok(&["kill", "counter"]);
    let v = e.wait_for("counter", 10, |v| v["State"]["Running"] == false);
    assert_eq!(v["State"]["ExitCode"], 137);
    // logs -f ends when the container has stopped.
    assert!(e.ok(&["logs", "-f", "counter"]).contains("line1"));
    let out = e.engine(&["kill", "counter"]);
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
    e.ok(&["rm", "counter"]);
    let out = e.engine(&["inspect", "counter"]);
    assert!(!out.status.success());
}

#[test]
fn root_foreground_signals_reach_the_container_and_detached_rm_cleans_up() {
    let Some(e) = Engine::new(
        "root_foreground_signals_reach_the_container_and_detached_rm_cleans_up",
        "vfs",
    ) else {
        return;
    };
    let mut child = e
        .command(&[
            "run",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got-int; exit 9' INT; echo ready; while true; do sleep 0.1; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("SIGINT did not end the foreground run");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got-int\n");
    assert_eq!(status.code(), Some(9));
    let id = e.ok(&["run", "-d", "--rm", "busybox", "sleep", "0.2"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.path().join("containers").join(id.trim()).exists() {
        assert!(Instant::now() < deadline, "--rm container was not removed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn root_a_killed_monitor_leaves_no_orphan_and_reads_as_exited() {
    let Some(e) = Engine::new(
        "root_a_killed_monitor_leaves_no_orphan_and_reads_as_exited",
        "vfs",
    ) else {
        return;
    };
    let id = e.ok(&["run", "-d", "--name", "orphan", "busybox", "sleep", "300"]);
    let id = id.trim().to_string();
    let v = e.wait_for("orphan", 10, |v| v["State"]["Running"] == true);
    let pid = v["State"]["Pid"].as_i64().unwrap() as i32;
    // The monitor holds the container's monitor.lock; find it by that open file.
    let lock = e.root.path().join(format!("containers/{id}/monitor.lock"));
    let monitor = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|p| p.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|p| {
            std::fs::read_dir(format!("/proc/{p}/fd")).is_ok_and(|fds| {
                fds.filter_map(|f| std::fs::read_link(f.ok()?.path()).ok())
                    .any(|t| t == lock)
            })
        })
        .expect("the monitor process");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let v = e.wait_for("orphan", 10, |v| v["State"]["Status"] == "exited");
    assert_eq!(v["State"]["ExitCode"], 137, "{v:#}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the orphaned container {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(e.ok(&["ps", "-a"]).contains("Exited (137)"));
    e.ok(&["rm", "orphan"]);
}

/// Another process's `diff` (and `export`) of a running container must not unmount the
/// `merged` its monitor uses: mount counts are shared between processes.
#[test]
fn root_diff_of_a_running_container_keeps_its_mount_for_the_restart() {
    let Some(e) = Engine::new(
        "root_diff_of_a_running_container_keeps_its_mount_for_the_restart",
        "overlay2",
    ) else {
        return;
    };
    e.ok(&[
        "run",
        "-d",
        "--name",
        "phoenix",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "echo x > /tmp/mark; sleep 2; exit 1",
    ]);
    e.wait_for("phoenix", 10, |v| v["State"]["Running"] == true);
    let diff = e.ok(&["diff", "phoenix"]);
    assert!(diff.contains("/tmp/mark"), "{diff}");
    e.ok(&[
        "export",
        "-o",
        e.path().join("x.tar").to_str().unwrap(),
        "phoenix",
    ]);
    // The restart after the exit finds its root still mounted and runs again.
    e.wait_for("phoenix", 20, |v| {
        v["RestartCount"].as_u64().unwrap_or(0) >= 1 && v["State"]["Running"] == true
    });
    e.ok(&["rm", "-f", "phoenix"]);
}

/// `--stop-signal` and `--stop-timeout` are kept and used by `stop`.
#[test]
fn root_stop_signal_and_timeout_are_the_containers() {
    let Some(e) = Engine::new(
        "root_stop_signal_and_timeout_are_the_containers",
        "overlay2",
    ) else {
        return;
    };
    e.ok(&[
        "run",
        "-d",
        "--name",
        "graceful",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "30",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 3' USR1; touch /trapped; sleep 600 & wait",
    ]);
    let v = e.wait_for("graceful", 10, |v| v["State"]["Running"] == true);
    assert_eq!(v["Config"]["StopSignal"], "SIGUSR1");
    assert_eq!(v["Config"]["StopTimeout"], 30);
    // The trap is set before the signal comes, however slow the machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !e
        .engine(&["exec", "graceful", "test", "-f", "/trapped"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "the trap was never set");
        std::thread::sleep(Duration::from_millis(50));
    }
    e.ok(&["stop", "graceful"]);
    // The trap ran: the stop signal was USR1, not TERM (which would end it with 143).
    assert_eq!(e.inspect("graceful")["State"]["ExitCode"], 3);
    let out = e.engine(&["run", "--rm", "--stop-signal", "SIGNOPE", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    e.ok(&["rm", "graceful"]);
}
