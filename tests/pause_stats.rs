//! `pause`/`unpause` (the cgroup freezer) and `stats`, through the CLI and Docker's CLI on
//! `engine daemon`, as root.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use std::time::Duration;

use common::*;

/// The container's counter file, read through `cp` (which works on a frozen container).
fn counter(e: &Engine, name: &str) -> u64 {
    let out = e
        .command(&["cp", &format!("{name}:/tmp/c"), "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut a = tar::Archive::new(&out.stdout[..]);
    let mut entry = a.entries().unwrap().next().unwrap().unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut entry, &mut s).unwrap();
    s.trim().parse().unwrap_or(0)
}

fn no_freezer_cgroup_left(id: &str) {
    for base in ["/sys/fs/cgroup/freezer/engine", "/sys/fs/cgroup/engine"] {
        assert!(
            !std::path::Path::new(base).join(id).exists(),
            "{base}/{id} left behind"
        );
    }
}

const COUNT: &str = "i=0; while true; do i=$((i+1)); echo $i > /tmp/c; sleep 0.02; done";

#[test]
fn root_pause_freezes_and_unpause_thaws() {
    let test = "root_pause_freezes_and_unpause_thaws";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let id = e.ok(&[
        "run", "-d", "--name", "ticker", "busybox", "sh", "-c", COUNT,
    ]);
    let id = id.trim().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while counter(&e, "ticker") < 3 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    e.ok(&["pause", "ticker"]);
    let v = e.inspect("ticker");
    assert_eq!(v["State"]["Status"], "paused");
    assert_eq!(v["State"]["Paused"], true);
    assert_eq!(v["State"]["Running"], true);
    let ps = e.ok(&["ps", "--format", "{{.Status}}|{{.State}}"]);
    assert!(ps.trim().ends_with("(Paused)|paused"), "{ps}");
    // Frozen: the counter does not move.
    let a = counter(&e, "ticker");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counter(&e, "ticker"), a, "a paused container runs nothing");
    // Docker's refusals.
    let again = e.engine(&["pause", "ticker"]);
    assert!(
        stderr(&again).contains("is already paused"),
        "{}",
        stderr(&again)
    );
    let exec = e.engine(&["exec", "ticker", "true"]);
    assert!(!exec.status.success());
    assert!(stderr(&exec).contains("is paused, unpause the container before exec"));
    assert!(e.ok(&["info"]).contains(" Paused: 1"));
    e.ok(&["unpause", "ticker"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while counter(&e, "ticker") <= a {
        assert!(std::time::Instant::now() < deadline, "unpause lets it run");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(e.inspect("ticker")["State"]["Status"], "running");
    let not = e.engine(&["unpause", "ticker"]);
    assert!(stderr(&not).contains("is not paused"), "{}", stderr(&not));
    // Killing and stopping a paused container end it (it is thawed to die).
    e.ok(&["pause", "ticker"]);
    e.ok(&["kill", "ticker"]);
    let v = e.wait_for("ticker", 10, |v| v["State"]["Status"] == "exited");
    assert_eq!(v["State"]["Paused"], false);
    assert_eq!(v["State"]["ExitCode"], 137);
    no_freezer_cgroup_left(&id);
    e.ok(&["start", "ticker"]);
    e.ok(&["pause", "ticker"]);
    e.ok(&["stop", "-t", "1", "ticker"]);
    assert_eq!(e.inspect("ticker")["State"]["Status"], "exited");
    e.ok(&["start", "ticker"]);
    e.ok(&["pause", "ticker"]);
    e.ok(&["rm", "-f", "ticker"]);
    no_freezer_cgroup_left(&id);
    let stopped = e.ok(&["create", "--name", "idle", "busybox", "true"]);
    let not_running = e.engine(&["pause", "idle"]);
    assert!(
        stderr(&not_running).contains(&format!("Container {} is not running", stopped.trim())),
        "{}",
        stderr(&not_running)
    );
}

#[test]
fn root_docker_pause_and_unpause() {
    let test = "root_docker_pause_and_unpause";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    d.ok(&[
        "run", "-d", "--name", "ticker", "busybox", "sh", "-c", COUNT,
    ]);
    d.ok(&["pause", "ticker"]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Paused}}",
            "ticker"
        ])
        .trim(),
        "paused true"
    );
    let ps = d.ok(&[
        "ps",
        "--filter",
        "status=paused",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(
        ps.starts_with("ticker Up ") && ps.trim().ends_with("(Paused)"),
        "{ps}"
    );
    assert_eq!(
        d.ok(&["info", "--format", "{{.ContainersPaused}}"]).trim(),
        "1"
    );
    let again = d.docker(&["pause", "ticker"]);
    assert!(
        stderr(&again).contains("is already paused"),
        "{}",
        stderr(&again)
    );
    d.ok(&["unpause", "ticker"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "ticker"])
            .trim(),
        "running"
    );
    d.ok(&["pause", "ticker"]);
    d.ok(&["rm", "-f", "ticker"]);
}

#[test]
fn root_stats_report_cpu_memory_and_pids() {
    let test = "root_stats_report_cpu_memory_and_pids";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    e.ok(&[
        "run",
        "-d",
        "--name",
        "spin",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "while true; do :; done",
    ]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "nap",
        "busybox",
        "sh",
        "-c",
        "sleep 600 & sleep 600",
    ]);
    // The CLI: Docker's columns, the limit given, CPU used by the busy one.
    let out = e.ok(&["stats", "--no-stream"]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ]
    );
    let spin = out.lines().find(|l| l.contains(" spin ")).unwrap();
    assert!(spin.contains(" / 64MiB"), "{out}");
    let cpu: f64 = spin
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(cpu > 1.0, "a busy loop uses CPU: {out}");
    let fmt = e.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "nap",
    ]);
    assert_eq!(
        fmt, "nap 2\n",
        "sh and the background sleep; the last sleep replaced sh"
    );
    // The API through Docker's CLI, and the raw document's fields.
    let d = Daemon::start(&e, docker);
    let out = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}",
    ]);
    let spin = out.lines().find(|l| l.starts_with("spin|")).unwrap();
    assert!(spin.contains(" / 64MiB|1|"), "{out}");
    let cpu: f64 = spin
        .rsplit('|')
        .next()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(cpu > 1.0, "{out}");
    assert!(out.contains("nap|"), "{out}");
    e.ok(&["stop", "-t", "1", "nap"]);
    let stopped = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}}",
        "nap",
    ]);
    assert_eq!(stopped.trim(), "nap 0.00%");
}
