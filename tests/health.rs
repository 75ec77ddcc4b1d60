//! Health checks, as root: the image's `HEALTHCHECK` and `--health-*` run by the container's
//! monitor, seen in `inspect` (`State.Health`), `ps` ("(healthy)", `--filter health=`) and
//! the event journal; through the `engine` binary, Docker's CLI against `engine daemon`, and
//! docker-compose's `depends_on: condition: service_healthy`.
//!
//! Nothing here waits a fixed time: each test polls the state with a generous deadline.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use test_support as common;

use common::*;

/// Generous: a probe every second, on a loaded CI machine.
const DEADLINE: u64 = 60;

fn health(v: &serde_json::Value) -> &serde_json::Value {
    &v["State"]["Health"]
}

fn status_is(v: &serde_json::Value, want: &str) -> bool {
    health(v)["Status"] == want
}

/// Builds `tag` from a Dockerfile.
fn build(e: &Engine, tag: &str, dockerfile: &str) {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    e.ok(&["build", "-q", "-t", tag, ctx.path().to_str().unwrap()]);
}

/// Seconds since the epoch, `ahead` from now: an `--until` one second ahead covers every
/// event of the current second.
fn unix_time(ahead: u64) -> String {
    (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + ahead)
        .to_string()
}

/// Polls `f` until it returns `Some`, or panics with `what` after the deadline.
fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(DEADLINE);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn root_health_an_images_healthcheck_makes_it_healthy() {
    let test = "root_health_an_images_healthcheck_makes_it_healthy";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    build(
        &e,
        "checked",
        "FROM busybox\nHEALTHCHECK --interval=1s --timeout=5s CMD echo probed; echo err >&2\n",
    );
    e.ok(&["run", "-d", "--name", "hc", "checked", "sleep", "600"]);
    let v = e.inspect("hc");
    assert_eq!(
        v["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "echo probed; echo err >&2"])
    );
    assert_eq!(v["Config"]["Healthcheck"]["Interval"], 1_000_000_000u64);
    // From the start, the container is starting (or already healthy), never without health.
    assert!(
        status_is(&v, "starting") || status_is(&v, "healthy"),
        "{:#}",
        v["State"]
    );
    let v = e.wait_for("hc", DEADLINE, |v| status_is(v, "healthy"));
    let h = health(&v);
    assert_eq!(h["FailingStreak"], 0);
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "probed\nerr\n");
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    // ps shows it, and the health filter finds it.
    let ps = e.ok(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"]);
    assert!(
        ps.starts_with("Up ") && ps.trim_end().ends_with("(healthy)"),
        "{ps}"
    );
    assert_eq!(
        e.ok(&["ps", "-q", "--filter", "health=healthy"]).trim(),
        &v["Id"].as_str().unwrap()[..12]
    );
    assert_eq!(e.ok(&["ps", "-q", "--filter", "health=starting"]), "");
    let bad = e.engine(&["ps", "--filter", "health=sick"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("Unrecognised filter value for health: sick"),
        "{}",
        stderr(&bad)
    );
    // The journal has Docker's event, and each probe's exec events.
    let events = poll("the health_status event", || {
        let out = e.ok(&[
            "events",
            "--since",
            "0",
            "--until",
            &unix_time(1),
            "--filter",
            "container=hc",
            "--format",
            "{{.Action}}",
        ]);
        out.contains("health_status: healthy").then_some(out)
    });
    assert!(
        events.contains("exec_start: /bin/sh -c echo probed; echo err >&2"),
        "{events}"
    );
    // The log keeps at most five results.
    let v = e.wait_for("hc", DEADLINE, |v| {
        health(v)["Log"].as_array().is_some_and(|l| l.len() == 5)
    });
    assert!(health(&v)["Log"].as_array().unwrap().len() == 5);
    // Stopped, probing ends and the status is Docker's "unhealthy"; a start begins again.
    e.ok(&["stop", "-t", "1", "hc"]);
    let v = e.inspect("hc");
    assert_eq!(health(&v)["Status"], "unhealthy", "{:#}", v["State"]);
    e.ok(&["start", "hc"]);
    e.wait_for("hc", DEADLINE, |v| status_is(v, "healthy"));
    e.ok(&["rm", "-f", "hc"]);
}

#[test]
fn root_health_failing_probes_make_it_unhealthy() {
    let test = "root_health_failing_probes_make_it_unhealthy";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    e.ok(&[
        "run",
        "-d",
        "--name",
        "sick",
        "--health-cmd",
        "echo failing; exit 1",
        "--health-retries",
        "2",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "600",
    ]);
    let v = e.wait_for("sick", DEADLINE, |v| status_is(v, "unhealthy"));
    let h = health(&v);
    assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h:#}");
    let log = h["Log"].as_array().unwrap();
    assert!(log.len() >= 2, "{h:#}");
    for entry in log {
        assert_eq!(entry["ExitCode"], 1, "{h:#}");
        assert_eq!(entry["Output"], "failing\n", "{h:#}");
    }
    let ps = e.ok(&["ps", "--format", "{{.Status}}"]);
    assert!(ps.trim_end().ends_with("(unhealthy)"), "{ps}");
    assert_eq!(
        e.ok(&["ps", "-q", "--filter", "health=unhealthy"])
            .lines()
            .count(),
        1
    );
    // The container itself runs on: Docker does not act on health.
    assert_eq!(v["State"]["Running"], true);
    e.ok(&["rm", "-f", "sick"]);
}

#[test]
fn root_health_a_probe_past_its_timeout_fails() {
    let test = "root_health_a_probe_past_its_timeout_fails";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    e.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "echo begun; sleep 600",
        "--health-timeout",
        "1s",
        "--health-interval",
        "1s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "600",
    ]);
    let v = e.wait_for("slow", DEADLINE, |v| status_is(v, "unhealthy"));
    let entry = &health(&v)["Log"][0];
    assert_eq!(entry["ExitCode"], -1, "{entry:#}");
    assert_eq!(
        entry["Output"], "Health check exceeded timeout (1s): begun\n",
        "{entry:#}"
    );
    e.ok(&["rm", "-f", "slow"]);
}

#[test]
fn root_health_no_healthcheck_and_bad_flags() {
    let test = "root_health_no_healthcheck_and_bad_flags";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    build(
        &e,
        "checked",
        "FROM busybox\nHEALTHCHECK --interval=1s CMD true\n",
    );
    // Started first: had it probes, it would have had one by the time the other is healthy.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "checked",
        "sleep",
        "600",
    ]);
    e.ok(&["run", "-d", "--name", "on", "checked", "sleep", "600"]);
    e.wait_for("on", DEADLINE, |v| status_is(v, "healthy"));
    let v = e.inspect("off");
    assert_eq!(
        v["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["NONE"])
    );
    assert!(v["State"].get("Health").is_none(), "{:#}", v["State"]);
    assert_eq!(
        e.ok(&["inspect", "-f", "{{json .State.Health}}", "off"])
            .trim(),
        "null"
    );
    let none = e.ok(&["ps", "--filter", "health=none", "--format", "{{.Names}}"]);
    assert_eq!(none, "off\n");
    let ps = e.ok(&["ps", "--filter", "name=off", "--format", "{{.Status}}"]);
    assert!(!ps.contains('('), "{ps}");
    // Flags over the image's: only the interval changes, the test stays the image's.
    e.ok(&[
        "create",
        "--name",
        "merged",
        "--health-interval",
        "2s",
        "checked",
        "true",
    ]);
    let hc = &e.inspect("merged")["Config"]["Healthcheck"];
    assert_eq!(hc["Test"], serde_json::json!(["CMD-SHELL", "true"]), "{hc}");
    assert_eq!(hc["Interval"], 2_000_000_000u64, "{hc}");
    // Docker's refusals.
    for (args, message) in [
        (
            &["--health-interval", "1us"][..],
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        (
            &["--health-timeout", "-1s"][..],
            "--health-timeout cannot be negative",
        ),
        (
            &["--no-healthcheck", "--health-retries", "2"][..],
            "--no-healthcheck conflicts with --health-* options",
        ),
        (
            &["--health-start-period", "soon"][..],
            "invalid argument \"soon\" for \"--health-start-period\" flag: time: invalid duration \"soon\"",
        ),
    ] {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        all.push("busybox");
        let out = e.engine(&all);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    e.ok(&["rm", "-f", "off", "on", "merged"]);
}

#[test]
fn root_health_through_dockers_cli() {
    let test = "root_health_through_dockers_cli";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    let since = unix_time(0);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--health-cmd",
        "test -e /etc/hostname",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "600",
    ]);
    d.ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "600"]);
    poll("web to be healthy", || {
        let s = d.ok(&["inspect", "-f", "{{.State.Health.Status}}", "web"]);
        (s.trim() == "healthy").then_some(())
    });
    let ps = d.ok(&["ps", "--filter", "name=web", "--format", "{{.Status}}"]);
    assert!(ps.trim_end().ends_with("(healthy)"), "{ps}");
    assert_eq!(
        d.ok(&["ps", "--filter", "health=healthy", "--format", "{{.Names}}"]),
        "web\n"
    );
    assert_eq!(
        d.ok(&["ps", "--filter", "health=none", "--format", "{{.Names}}"]),
        "plain\n"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{json .State.Health}}", "plain"])
            .trim(),
        "null"
    );
    let hc = d.ok(&["inspect", "-f", "{{json .Config.Healthcheck}}", "web"]);
    assert_eq!(
        hc.trim(),
        r#"{"Test":["CMD-SHELL","test -e /etc/hostname"],"Interval":1000000000}"#
    );
    let events = poll("the health_status event", || {
        let out = d.ok(&[
            "events",
            "--since",
            &since,
            "--until",
            &unix_time(1),
            "--filter",
            "event=health_status",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ]);
        (!out.is_empty()).then_some(out)
    });
    assert_eq!(events, "health_status: healthy web\n");
    // The daemon's refusal reaches Docker's CLI.
    let out = d.docker(&["create", "--health-interval", "1us", "busybox"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Interval in Healthcheck cannot be less than 1ms"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["ps", "--filter", "health=sick"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Unrecognised filter value for health: sick"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "-f", "web", "plain"]);
}

#[test]
fn root_health_compose_waits_for_a_healthy_dependency() {
    let test = "root_health_compose_waits_for_a_healthy_dependency";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    if !Path::new("/usr/bin/docker-compose").exists() {
        graph::testsuite::skip(
            test,
            "needs docker-compose (apt-get install docker-compose)",
        );
        return;
    }
    let d = Daemon::start(&e, docker);
    let project = tempfile::Builder::new().prefix("hproj").tempdir().unwrap();
    let ready = tempfile::tempdir().unwrap();
    // db is healthy once the test creates /ready/flag (a bind of `ready`); until then
    // compose must not start app. network_mode: bridge keeps compose from making a project
    // network, which is not what is tested here.
    std::fs::write(
        project.path().join("docker-compose.yml"),
        format!(
            r#"version: "2.4"
services:
  db:
    image: busybox
    command: ["sleep", "600"]
    network_mode: bridge
    volumes:
      - {}:/ready
    healthcheck:
      test: ["CMD", "test", "-f", "/ready/flag"]
      interval: 1s
      retries: 100000
  app:
    image: busybox
    command: ["sleep", "600"]
    network_mode: bridge
    depends_on:
      db:
        condition: service_healthy
"#,
            ready.path().display()
        ),
    )
    .unwrap();
    let compose = |args: &[&str]| {
        std::process::Command::new("/usr/bin/docker-compose")
            .args(args)
            .current_dir(project.path())
            .env("DOCKER_HOST", format!("unix://{}", d.socket.display()))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let since = unix_time(0);
    let up = std::thread::scope(|s| {
        let up = s.spawn(|| compose(&["up", "-d"]));
        // db runs, probed and failing; app is not started meanwhile.
        let db = poll("db to be probed", || {
            let ids = d.ok(&[
                "ps",
                "-q",
                "--filter",
                "label=com.docker.compose.service=db",
            ]);
            let id = ids.lines().next()?.to_string();
            let log = d.ok(&["inspect", "-f", "{{len .State.Health.Log}}", &id]);
            (log.trim().parse::<usize>().ok()? >= 2).then_some(id)
        });
        assert_eq!(
            d.ok(&["inspect", "-f", "{{.State.Health.Status}}", &db])
                .trim(),
            "starting"
        );
        let app = d.ok(&[
            "ps",
            "-q",
            "--filter",
            "label=com.docker.compose.service=app",
        ]);
        assert_eq!(app, "", "app runs before db is healthy");
        assert!(!up.is_finished());
        std::fs::write(ready.path().join("flag"), "").unwrap();
        up.join().unwrap()
    });
    assert!(
        up.status.success(),
        "docker-compose up: {}\n{}",
        stdout(&up),
        stderr(&up)
    );
    // In the journal: db's health_status: healthy, then app's start.
    let events = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &unix_time(1),
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{index .Actor.Attributes \"com.docker.compose.service\"}}",
    ]);
    let at = |line: &str| {
        events
            .lines()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("no {line:?} in {events}"))
    };
    assert!(
        at("health_status: healthy db") < at("start app"),
        "{events}"
    );
    let out = compose(&["down"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}
