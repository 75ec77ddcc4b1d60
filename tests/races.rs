//! Orderings a script relies on, as root: once `start -a`, `run` or `wait` has returned, the
//! container is recorded as exited and `rm` removes it at once (the monitor may still be
//! finishing: `rm` waits for it rather than calling the container running).

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use test_support as common;

use common::*;

#[test]
fn root_rm_right_after_the_exit_is_reported_never_sees_it_running() {
    let test = "root_rm_right_after_the_exit_is_reported_never_sees_it_running";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    for i in 0..5 {
        let name = format!("quick{i}");
        e.ok(&["create", "--name", &name, "busybox", "echo", "hi"]);
        assert_eq!(e.ok(&["start", "-a", &name]), "hi\n");
        assert_eq!(e.inspect(&name)["State"]["Status"], "exited");
        e.ok(&["rm", &name]);
        e.ok(&["run", "--name", &name, "busybox", "true"]);
        e.ok(&["rm", &name]);
    }
    // A start right after the exit was reported starts it again (never "already running").
    e.ok(&["run", "-d", "--name", "again", "busybox", "sleep", "600"]);
    for _ in 0..5 {
        e.ok(&["kill", "again"]);
        e.wait_for("again", 10, |v| v["State"]["Status"] == "exited");
        e.ok(&["start", "again"]);
        assert_eq!(e.inspect("again")["State"]["Status"], "running");
    }
    e.ok(&["rm", "-f", "again"]);
    // Through the API as the Python SDK's containers.run does it: start, wait, remove.
    let d = Daemon::start(&e, docker);
    for i in 0..5 {
        let name = format!("api{i}");
        d.ok(&["create", "--name", &name, "busybox", "true"]);
        d.ok(&["start", &name]);
        assert_eq!(d.ok(&["wait", &name]), "0\n");
        d.ok(&["rm", &name]);
    }
}
