//! End-to-end tests of live attach (`engine attach`, `engine start -a`) through the monitor's
//! attach socket, as root, on a busybox image in a fresh data root per test.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use test_support as common;

use common::*;

/// A child whose stdout is collected by a thread; killed (by pid) if still running on drop.
struct Watched {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Watched {
    fn spawn(mut cmd: Command, stdin: Stdio) -> Watched {
        let mut child = cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stdout.take().unwrap();
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watched { child, out }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits until the output contains `text`.
    fn expect(&self, text: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.output().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the output: {:?}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit; returns the code and stderr.
    fn finish(&mut self, secs: u64) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "did not exit; output so far: {:?}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `script` running `line` on a new pty, its input from `input` (written with pauses).
fn in_a_pty(
    line: &str,
    input: Vec<(u64, &'static [u8])>,
) -> (Watched, std::thread::JoinHandle<()>) {
    let mut cmd = Command::new("script");
    cmd.args(["-qfec", line, "/dev/null"]);
    let mut w = Watched::spawn(cmd, Stdio::piped());
    let mut stdin = w.child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for (pause_ms, bytes) in input {
            std::thread::sleep(Duration::from_millis(pause_ms));
            if stdin.write_all(bytes).is_err() {
                return;
            }
        }
        // Held open a little, so script does not end before the output is read.
        std::thread::sleep(Duration::from_millis(500));
    });
    (w, writer)
}

fn shell_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn root_attach_feeds_stdin_and_closing_it_ends_the_container() {
    let Some(e) = Engine::new(
        "root_attach_feeds_stdin_and_closing_it_ends_the_container",
        "vfs",
    ) else {
        return;
    };
    e.ok(&["run", "-d", "-i", "--name", "cat", "busybox", "cat"]);
    let mut a = Watched::spawn(e.command(&["attach", "cat"]), Stdio::piped());
    let mut stdin = a.child.stdin.take().unwrap();
    stdin.write_all(b"hello through attach\n").unwrap();
    a.expect("hello through attach\n", 10);
    stdin.write_all(b"second line\n").unwrap();
    a.expect("second line\n", 10);
    // End of the client's stdin closes the container's: cat exits 0, and so does attach.
    drop(stdin);
    let (code, err) = a.finish(10);
    assert_eq!(code, Some(0), "{err}");
    let v = e.wait_for("cat", 10, |v| v["State"]["Status"] == "exited");
    assert_eq!(v["State"]["ExitCode"], 0);
    // What went through attach is in the log too.
    assert_eq!(
        e.ok(&["logs", "cat"]),
        "hello through attach\nsecond line\n"
    );
    assert!(
        !e.path()
            .join("containers")
            .join(v["Id"].as_str().unwrap())
            .join("attach.sock")
            .exists(),
        "the monitor left its socket behind"
    );
}

#[test]
fn root_attach_to_a_tty_relays_the_terminal_resizes_and_detaches() {
    let test = "root_attach_to_a_tty_relays_the_terminal_resizes_and_detaches";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    e.ok(&["run", "-d", "-it", "--name", "shell", "busybox", "sh"]);
    let attach = shell_line(&e.command(&["attach", "shell"]));
    // The terminal starts at 40x120 and becomes 50x132 while attached; ctrl-p ctrl-q detaches.
    let line =
        format!("stty rows 40 cols 120; {attach} </dev/tty & sleep 2; stty rows 50 cols 132; wait");
    let (mut w, writer) = in_a_pty(
        &line,
        vec![
            (1000, b"stty size\n"),
            (1500, b"echo sized; stty size\n"),
            (800, b"\x10\x11"),
        ],
    );
    let (code, err) = w.finish(20);
    writer.join().unwrap();
    let out = w.output();
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("/ # "), "no prompt: {out}");
    assert!(out.contains("40 120"), "initial size not applied: {out}");
    assert!(out.contains("50 132"), "resize not applied: {out}");
    assert!(out.contains("read escape sequence"), "{out}");
    // Detached, not stopped.
    assert_eq!(e.inspect("shell")["State"]["Status"], "running");
    // Attach again and leave through the shell: attach ends with the container's code.
    let attach = shell_line(&e.command(&["attach", "shell"]));
    let (mut w, writer) = in_a_pty(
        &attach,
        vec![(800, b"echo again-$((2+2))\n"), (500, b"exit 3\n")],
    );
    let (code, err) = w.finish(20);
    writer.join().unwrap();
    let out = w.output();
    assert!(out.contains("again-4"), "{out}");
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert_eq!(e.inspect("shell")["State"]["ExitCode"], 3);
}

#[test]
fn root_two_attached_clients_both_see_the_output() {
    let Some(e) = Engine::new("root_two_attached_clients_both_see_the_output", "vfs") else {
        return;
    };
    e.ok(&["run", "-d", "-i", "--name", "echoer", "busybox", "cat"]);
    let watcher = Watched::spawn(
        e.command(&["attach", "--no-stdin", "echoer"]),
        Stdio::null(),
    );
    let mut writer = Watched::spawn(e.command(&["attach", "echoer"]), Stdio::piped());
    let mut stdin = writer.child.stdin.take().unwrap();
    // Until the watcher is surely attached, keep sending.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !watcher.output().contains("ping") {
        assert!(Instant::now() < deadline, "the watcher sees nothing");
        stdin.write_all(b"ping\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    stdin.write_all(b"for both\n").unwrap();
    watcher.expect("for both\n", 10);
    writer.expect("for both\n", 10);
    drop(stdin);
    let (code, err) = writer.finish(10);
    assert_eq!(code, Some(0), "{err}");
    let mut watcher = watcher;
    let (code, err) = watcher.finish(10);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn root_attach_to_a_stopped_container_is_refused_like_docker() {
    let test = "root_attach_to_a_stopped_container_is_refused_like_docker";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    e.ok(&["create", "--name", "idle", "busybox", "true"]);
    let out = e.engine(&["attach", "idle"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "You cannot attach to a stopped container, start it first"
    );
    e.ok(&["start", "idle"]);
    e.wait_for("idle", 10, |v| v["State"]["Status"] == "exited");
    let out = e.engine(&["attach", "idle"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("You cannot attach to a stopped container"),
        "{}",
        stderr(&out)
    );
    let out = e.engine(&["attach", "nosuch"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("No such container: nosuch"));
}

#[test]
fn root_start_attach_sees_all_output_and_the_exit_code() {
    let Some(e) = Engine::new("root_start_attach_sees_all_output_and_the_exit_code", "vfs") else {
        return;
    };
    // The first output comes at once: attaching before the start loses none of it.
    e.ok(&[
        "create",
        "--name",
        "quick",
        "busybox",
        "sh",
        "-c",
        "echo first; echo oops >&2; exit 5",
    ]);
    let out = e.engine(&["start", "-a", "quick"]);
    assert_eq!(stdout(&out), "first\n");
    assert_eq!(stderr(&out), "oops\n");
    assert_eq!(out.status.code(), Some(5));
    // Again: a second start -a of the same container.
    let out = e.engine(&["start", "-a", "quick"]);
    assert_eq!(stdout(&out), "first\n");
    assert_eq!(out.status.code(), Some(5));
    // -i: stdin reaches the container, and its end ends it.
    e.ok(&["create", "-i", "--name", "reader", "busybox", "cat"]);
    let mut c = e.command(&["start", "-a", "-i", "reader"]);
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line one\nline two\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "line one\nline two\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    // A start that fails is reported with Docker's code.
    e.ok(&["create", "--name", "bad", "busybox", "nosuchcmd"]);
    let out = e.engine(&["start", "-a", "bad"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("executable file not found"),
        "{}",
        stderr(&out)
    );
    // No pending-attach tokens are left behind.
    for name in ["quick", "reader", "bad"] {
        let id = e.inspect(name)["Id"].as_str().unwrap().to_string();
        let left: Vec<_> = std::fs::read_dir(e.path().join("containers").join(id))
            .unwrap()
            .flatten()
            .map(|d| d.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("attach"))
            .collect();
        assert!(left.is_empty(), "{name}: {left:?}");
    }
}
