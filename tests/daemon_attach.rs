//! `docker run`, `docker exec` and `docker attach` from Docker's own CLI against
//! `engine daemon`: attach (hijacked), wait, resize and exec through the API, as root.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use test_support as common;

use common::*;

/// A daemon on a fresh data root with busybox, and the docker CLI; `None` when skipped.
fn setup(test: &str) -> Option<(Engine, Daemon)> {
    let e = Engine::new(test, "overlay2")?;
    let docker = docker_cli(test)?;
    let d = Daemon::start(&e, docker);
    Some((e, d))
}

/// Runs `cmd` with `input` on stdin; killed after `secs`.
fn run_with_input(mut cmd: Command, input: &[u8], secs: u64) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "timed out: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.join().unwrap();
    child.wait_with_output().unwrap()
}

/// `cmd` on a new pty of `rows`x`cols` (script(1)), fed `input` with pauses; killed after
/// 20 s. Returns the exit code and everything the terminal showed.
fn in_a_pty(cmd: &Command, rows: u16, cols: u16, input: &[(u64, &[u8])]) -> (Option<i32>, String) {
    let mut line = format!("stty rows {rows} cols {cols};");
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            line.push_str(&format!(" {}={}", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    for a in std::iter::once(cmd.get_program()).chain(cmd.get_args()) {
        line.push(' ');
        line.push_str(&a.to_string_lossy());
    }
    let mut child = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let mut stdin = child.stdin.take().unwrap();
    let input: Vec<(u64, Vec<u8>)> = input.iter().map(|(p, b)| (*p, b.to_vec())).collect();
    let writer = std::thread::spawn(move || {
        for (pause, bytes) in input {
            std::thread::sleep(Duration::from_millis(pause));
            if stdin.write_all(&bytes).is_err() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(1000));
    });
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out in a pty: {line}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    writer.join().unwrap();
    (status.code(), reader.join().unwrap())
}

#[test]
fn root_docker_run_through_the_daemon() {
    let Some((e, d)) = setup("root_docker_run_through_the_daemon") else {
        return;
    };
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(stdout(&out), "hi\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    // Exit codes, and stdout and stderr kept apart.
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    // --rm: gone once run returns.
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    // Without --rm the container stays, exited with its code.
    let out = d.docker(&["run", "--name", "kept", "busybox", "sh", "-c", "exit 2"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(e.inspect("kept")["State"]["ExitCode"], 2);
    assert_eq!(d.ok(&["wait", "kept"]).trim(), "2");
    // Piped stdin (docker run -i).
    let out = run_with_input(
        d.command(&["run", "-i", "--rm", "busybox", "cat"]),
        b"data\nmore data\n",
        20,
    );
    assert_eq!(stdout(&out), "data\nmore data\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    // A command that is not there: Docker's 127.
    let out = d.docker(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("executable file not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn root_docker_run_it_through_a_pty() {
    let Some((_e, d)) = setup("root_docker_run_it_through_a_pty") else {
        return;
    };
    let cmd = d.command(&["run", "-it", "--rm", "busybox", "sh"]);
    let (code, out) = in_a_pty(
        &cmd,
        30,
        100,
        &[
            (
                1500,
                b"[ -t 0 ] && echo stdin-is-a-tty; stty size; echo hi-$((1+1))\n",
            ),
            (1000, b"exit 5\n"),
        ],
    );
    assert!(out.contains("hi-2"), "{out}");
    assert!(out.contains("\nstdin-is-a-tty"), "{out}");
    assert!(
        out.contains("30 100"),
        "the terminal size did not reach the tty: {out}"
    );
    assert_eq!(code, Some(5), "{out}");
}

#[test]
fn root_docker_exec_through_the_daemon() {
    let Some((e, d)) = setup("root_docker_exec_through_the_daemon") else {
        return;
    };
    d.ok(&[
        "run", "-d", "--name", "box", "-e", "FOO=bar", "busybox", "sleep", "1000",
    ]);
    assert_eq!(d.ok(&["exec", "box", "sh", "-c", "echo $FOO"]), "bar\n");
    let out = d.docker(&["exec", "box", "sh", "-c", "echo oops >&2; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stderr(&out), "oops\n");
    assert_eq!(
        d.ok(&[
            "exec",
            "-u",
            "app",
            "-w",
            "/tmp",
            "box",
            "sh",
            "-c",
            "id -u; pwd"
        ]),
        "1000\n/tmp\n"
    );
    let out = run_with_input(d.command(&["exec", "-i", "box", "cat"]), b"piped\n", 20);
    assert_eq!(stdout(&out), "piped\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    let out = d.docker(&["exec", "box", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    // Detached: it runs on its own.
    d.ok(&[
        "exec",
        "-d",
        "box",
        "sh",
        "-c",
        "echo later > /tmp/detached",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = d.docker(&["exec", "box", "cat", "/tmp/detached"]);
        if stdout(&out) == "later\n" {
            break;
        }
        assert!(Instant::now() < deadline, "the detached exec did not run");
        std::thread::sleep(Duration::from_millis(100));
    }
    // -it through a pty, with the terminal's size.
    let cmd = d.command(&["exec", "-it", "box", "sh"]);
    let (code, out) = in_a_pty(
        &cmd,
        33,
        90,
        &[(1500, b"stty size; echo in-$((2+2))\n"), (800, b"exit 4\n")],
    );
    assert!(out.contains("in-4"), "{out}");
    assert!(out.contains("33 90"), "{out}");
    assert_eq!(code, Some(4), "{out}");
    // A container that is not running has nothing to exec in.
    e.ok(&["rm", "-f", "box"]);
    d.ok(&["run", "--name", "done", "busybox", "true"]);
    let out = d.docker(&["exec", "done", "true"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
}

#[test]
fn root_docker_attach_through_the_daemon() {
    let Some((e, d)) = setup("root_docker_attach_through_the_daemon") else {
        return;
    };
    d.ok(&["run", "-d", "-i", "--name", "cat", "busybox", "cat"]);
    let out = run_with_input(d.command(&["attach", "cat"]), b"one\ntwo\n", 20);
    assert_eq!(stdout(&out), "one\ntwo\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    e.wait_for("cat", 10, |v| v["State"]["Status"] == "exited");
    let out = d.docker(&["attach", "cat"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("You cannot attach to a stopped container, start it first"),
        "{}",
        stderr(&out)
    );
    // A tty: the prompt, the size, and the exit code.
    d.ok(&["run", "-d", "-it", "--name", "shell", "busybox", "sh"]);
    let cmd = d.command(&["attach", "shell"]);
    let (code, out) = in_a_pty(
        &cmd,
        31,
        101,
        &[(1500, b"stty size; echo at-$((3+3))\n"), (800, b"exit 6\n")],
    );
    assert!(out.contains("at-6"), "{out}");
    assert!(out.contains("31 101"), "{out}");
    assert_eq!(code, Some(6), "{out}");
    // start -a through the API sees the first output.
    e.ok(&[
        "create",
        "--name",
        "quick",
        "busybox",
        "sh",
        "-c",
        "echo first; exit 9",
    ]);
    let out = d.docker(&["start", "-a", "quick"]);
    assert_eq!(stdout(&out), "first\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(9));
}

/// A raw hijacked attach on the API socket: the 101 answer and its content type, then what
/// follows it until `until` has been seen (or the connection closes).
struct RawAttach {
    stream: std::os::unix::net::UnixStream,
    head: String,
}

impl RawAttach {
    fn open(d: &Daemon, container: &str, query: &str) -> RawAttach {
        let mut stream = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "POST /v1.41/containers/{container}/attach?{query} HTTP/1.1\r\nHost: engine\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).unwrap(), 1, "no answer");
            head.push(byte[0]);
        }
        RawAttach {
            stream,
            head: String::from_utf8(head).unwrap().to_ascii_lowercase(),
        }
    }

    fn read_until(&mut self, until: &[u8]) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(until.len()).any(|w| w == until) {
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got
    }
}

#[test]
fn root_raw_attach_speaks_dockers_stream_formats_and_detach_keys() {
    let Some((e, d)) = setup("root_raw_attach_speaks_dockers_stream_formats_and_detach_keys")
    else {
        return;
    };
    // Non-TTY: multiplexed frames, stdout 1 and stderr 2, each with its 8-byte header.
    d.ok(&[
        "create",
        "--name",
        "mux",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; echo out; echo err >&2",
    ]);
    let mut a = RawAttach::open(&d, "mux", "stream=1&stdout=1&stderr=1");
    assert!(a.head.starts_with("http/1.1 101"), "{}", a.head);
    assert!(
        a.head
            .contains("content-type: application/vnd.docker.multiplexed-stream"),
        "{}",
        a.head
    );
    d.ok(&["start", "mux"]);
    // Two pipes, two copiers: the order across streams is not kept (nor is it in Docker).
    // The stream ends with the container.
    let got = a.read_until(b"not in the output");
    let mut frames = Vec::new();
    let mut rest = &got[..];
    while rest.len() >= 8 {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        frames.push((rest[0], rest[8..8 + len].to_vec()));
        rest = &rest[8 + len..];
    }
    frames.sort();
    assert_eq!(
        frames,
        vec![(1, b"out\n".to_vec()), (2, b"err\n".to_vec())],
        "{got:?}"
    );
    // TTY: raw bytes; ctrl-p ctrl-q from the client detaches and leaves the shell running.
    d.ok(&["run", "-d", "-it", "--name", "tty", "busybox", "sh"]);
    let mut a = RawAttach::open(&d, "tty", "stream=1&stdin=1&stdout=1&stderr=1");
    assert!(
        a.head
            .contains("content-type: application/vnd.docker.raw-stream"),
        "{}",
        a.head
    );
    a.stream.write_all(b"echo raw-$((4+4))\n").unwrap();
    let got = a.read_until(b"raw-8");
    assert!(
        String::from_utf8_lossy(&got).contains("raw-8"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    a.stream.write_all(b"\x10\x11").unwrap();
    a.read_until(b"not in the output");
    assert_eq!(e.inspect("tty")["State"]["Status"], "running");
}
