//! Terminals (`-t`), as root: the process's pty is one of the container's own devpts
//! (`tty` names `/dev/pts/N`, listed in the container's /dev/pts, group tty and mode 620,
//! /dev/console the same device), for `run -t` and `exec -t`, through the CLI, the API and
//! Docker's CLI; and resizes reach it (`stty size` inside), from the CLI's terminal, from
//! `POST /containers/{id}/resize` and from `POST /exec/{id}/resize`.
//!
//! Each client runs on a pty of the test's own (nix openpty), with that pty as its controlling
//! terminal, so a resize here is a real SIGWINCH for it.

#![allow(clippy::unwrap_used)] // tests: a failure is a test failure

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use test_support as common;

use common::*;

/// How long a client may take to show what a step waits for; only a failure waits this long.
const PATIENCE: Duration = Duration::from_secs(30);

/// A client process on a terminal of the test's: everything it shows is collected, input is
/// typed, the window can be resized.
struct Term {
    child: Child,
    master: std::fs::File,
    screen: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// What has been seen so far (each wait looks past it).
    seen: usize,
}

impl Term {
    fn spawn(mut cmd: Command, rows: u16, cols: u16) -> Term {
        let size = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).unwrap();
        let slave: OwnedFd = pty.slave;
        let stdio = || Stdio::from(slave.try_clone().unwrap());
        cmd.stdin(stdio()).stdout(stdio()).stderr(stdio());
        // SAFETY: only async-signal-safe calls between fork and exec: setsid and an ioctl.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        // Only the client holds the slave now: the master reads EIO once it is gone.
        drop(slave);
        let master = std::fs::File::from(pty.master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let mut master = master.try_clone().unwrap();
            let screen = Arc::clone(&screen);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = master.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    screen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        Term {
            child,
            master,
            screen,
            reader: Some(reader),
            seen: 0,
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).replace("\r\n", "\n")
    }

    fn type_line(&mut self, line: &str) {
        self.master.write_all(line.as_bytes()).unwrap();
        self.master.write_all(b"\n").unwrap();
    }

    /// Waits until the screen shows `text` after what was already seen; `Some(screen)` then,
    /// `None` after `within`.
    fn find(&mut self, text: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if let Some(at) = screen[self.seen.min(screen.len())..].find(text) {
                self.seen += at + text.len();
                return Some(screen);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like `find`, failing the test when `text` does not show.
    fn expect(&mut self, text: &str) -> String {
        match self.find(text, PATIENCE) {
            Some(screen) => screen,
            None => panic!("{text:?} never showed; the screen:\n{}", self.screen()),
        }
    }

    /// Types `line` (again, if the answer is slow to reflect a change made elsewhere) until
    /// `answer` shows.
    fn ask_until(&mut self, line: &str, answer: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.type_line(line);
            if self.find(answer, Duration::from_millis(500)).is_some() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{line:?} never answered {answer:?}; the screen:\n{}",
                self.screen()
            );
        }
    }

    /// Resizes the terminal: the kernel sends the client SIGWINCH.
    fn resize(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the struct we pass.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    }

    /// The client's exit code once it has ended, and the whole screen.
    fn finish(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the client did not end; the screen:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (status.code(), self.screen())
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The N of `tty`'s answer `/dev/pts/N` on the screen.
fn pts_number(screen: &str) -> u32 {
    screen
        .lines()
        .find_map(|l| l.trim().strip_prefix("/dev/pts/")?.parse().ok())
        .unwrap_or_else(|| panic!("no /dev/pts/N on the screen:\n{screen}"))
}

/// What a shell in the container reports of its terminal, one `key: value` line each.
const REPORT: &str = "echo tty: $(tty); echo slave: $(stat -c '%g %a %t:%T' $(tty)); \
                      echo console: $(stat -c '%t:%T' /dev/console); echo pts: $(ls /dev/pts)";

fn value<'a>(screen: &'a str, key: &str) -> &'a str {
    screen
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key:?} line on the screen:\n{screen}"))
        .trim()
}

#[test]
fn root_run_t_gives_dev_pts_0_of_the_containers_devpts_and_follows_resizes() {
    let Some(e) = Engine::new(
        "root_run_t_gives_dev_pts_0_of_the_containers_devpts_and_follows_resizes",
        "overlay2",
    ) else {
        return;
    };
    // Non-interactive: `run -t busybox tty` names the container's first pts.
    let mut t = Term::spawn(e.command(&["run", "-t", "--rm", "busybox", "tty"]), 24, 80);
    t.expect("/dev/pts/0");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(!screen.contains("/dev/console"), "{screen}");
    // The same with --privileged (every host device), --read-only and another user, who owns
    // the slave (as with runc) and can reopen it.
    let mut t = Term::spawn(
        e.command(&[
            "run",
            "-t",
            "--rm",
            "--privileged",
            "--read-only",
            "-u",
            "1000",
            "busybox",
            "sh",
            "-c",
            "echo tty: $(tty); echo owner: $(stat -c '%u %g %a' $(tty)); echo reopened >$(tty)",
        ]),
        24,
        80,
    );
    t.expect("reopened");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert_eq!(value(&screen, "tty:"), "/dev/pts/0", "{screen}");
    assert_eq!(value(&screen, "owner:"), "1000 5 620", "{screen}");
    // The terminal has the CLI's size from the first instruction, before any resize.
    let mut t = Term::spawn(
        e.command(&[
            "run",
            "-t",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo size: $(stty size)",
        ]),
        27,
        91,
    );
    t.expect("size:");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert_eq!(value(&screen, "size:"), "27 91", "{screen}");

    // Interactive: the slave is group tty (5), mode 620, the same device as /dev/console,
    // alone in the container's devpts; the terminal's size and its later changes reach it.
    let mut t = Term::spawn(
        e.command(&["run", "-it", "--rm", "--name", "shell", "busybox", "sh"]),
        30,
        100,
    );
    t.type_line(REPORT);
    // "ptmx" ends the report and is not in the echo of the typed line.
    let screen = t.expect("ptmx");
    assert_eq!(value(&screen, "tty:"), "/dev/pts/0", "{screen}");
    assert_eq!(value(&screen, "slave:"), "5 620 88:0", "{screen}");
    assert_eq!(value(&screen, "console:"), "88:0", "{screen}");
    assert_eq!(value(&screen, "pts:"), "0 ptmx", "{screen}");
    t.ask_until("stty size", "30 100");
    t.resize(41, 123);
    t.ask_until("stty size", "41 123");
    t.type_line("exit 3");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(3), "{screen}");
}

#[test]
fn root_exec_t_gives_a_pts_of_the_containers_devpts_and_follows_resizes() {
    let Some(e) = Engine::new(
        "root_exec_t_gives_a_pts_of_the_containers_devpts_and_follows_resizes",
        "overlay2",
    ) else {
        return;
    };
    // A container without a terminal of its own.
    e.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let mut t = Term::spawn(e.command(&["exec", "-t", "box", "tty"]), 24, 80);
    t.expect("/dev/pts/");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(!screen.contains("not a tty"), "{screen}");

    let mut t = Term::spawn(e.command(&["exec", "-it", "box", "sh"]), 30, 100);
    t.type_line(REPORT);
    let screen = t.expect("ptmx");
    let n = pts_number(value(&screen, "tty:"));
    let listed: Vec<&str> = value(&screen, "pts:").split_whitespace().collect();
    assert!(listed.contains(&n.to_string().as_str()), "{screen}");
    assert!(listed.contains(&"ptmx"), "{screen}");
    assert_eq!(
        value(&screen, "slave:").split(' ').next(),
        Some("5"),
        "{screen}"
    );
    assert_eq!(
        value(&screen, "slave:").split(' ').nth(1),
        Some("620"),
        "{screen}"
    );
    t.ask_until("stty size", "30 100");
    t.resize(45, 130);
    t.ask_until("stty size", "45 130");
    t.type_line("exit 5");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(5), "{screen}");
}

/// `POST path` on the daemon's socket; the status code.
fn post(d: &Daemon, path: &str, body: &str) -> (u16, String) {
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        s,
        "POST /v1.41{path} HTTP/1.1\r\nHost: engine\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let code = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    (code, answer)
}

/// An exec started over a hijacked `POST /exec/{id}/start`: its raw terminal stream.
struct HijackedExec {
    id: String,
    stream: UnixStream,
    got: Vec<u8>,
}

impl HijackedExec {
    fn start(d: &Daemon, container: &str, cmd: &str) -> HijackedExec {
        let body = serde_json::json!({
            "Cmd": ["sh", "-c", cmd],
            "Tty": true,
            "AttachStdin": true,
            "AttachStdout": true,
            "AttachStderr": true,
        })
        .to_string();
        let (code, answer) = post(d, &format!("/containers/{container}/exec"), &body);
        assert_eq!(code, 201, "{answer}");
        let json = &answer[answer.find('{').unwrap()..];
        let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        let id = v["Id"].as_str().unwrap().to_string();
        let mut stream = UnixStream::connect(&d.socket).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let body = r#"{"Detach":false,"Tty":true}"#;
        write!(
            stream,
            "POST /v1.41/exec/{id}/start HTTP/1.1\r\nHost: engine\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).unwrap(), 1, "no answer to the start");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        HijackedExec {
            id,
            stream,
            got: Vec::new(),
        }
    }

    fn read_until(&mut self, text: &str) -> String {
        let mut buf = [0u8; 4096];
        loop {
            let screen = String::from_utf8_lossy(&self.got).replace("\r\n", "\n");
            if screen.contains(text) {
                return screen;
            }
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => panic!("the exec ended before {text:?}: {screen:?}"),
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
            }
        }
    }
}

#[test]
fn root_api_resizes_reach_run_and_exec_ttys_and_docker_exec_t_gives_a_pts() {
    let test = "root_api_resizes_reach_run_and_exec_ttys_and_docker_exec_t_gives_a_pts";
    let Some(e) = Engine::new(test, "overlay2") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);

    // `docker run -t`: the first pts.
    let out = d.ok(&["run", "--rm", "-t", "busybox", "tty"]);
    assert_eq!(out.trim(), "/dev/pts/0", "{out}");

    // POST /containers/{id}/resize on a detached tty: its shell's terminal (/proc/1/fd/0)
    // takes the size.
    d.ok(&["run", "-d", "-t", "--name", "tbox", "busybox", "sh"]);
    let (code, answer) = post(&d, "/containers/tbox/resize?h=31&w=97", "");
    assert_eq!(code, 200, "{answer}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let out = d.ok(&[
            "exec",
            "tbox",
            "sh",
            "-c",
            "echo $(readlink /proc/1/fd/0) $(stty -F /proc/1/fd/0 size)",
        ]);
        if out.trim() == "/dev/pts/0 31 97" {
            break;
        }
        assert!(Instant::now() < deadline, "the resize did not apply: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // An exec through the API: its pts is the container's, and POST /exec/{id}/resize sets
    // its size (the resize answers once applied, so the next line sees it).
    let mut x = HijackedExec::start(
        &d,
        "tbox",
        "tty; echo pts: $(ls /dev/pts); read a; stty size; read b; stty size",
    );
    let screen = x.read_until("ptmx");
    let n = pts_number(&screen);
    assert_ne!(n, 0, "{screen}");
    assert!(
        value(&screen, "pts:")
            .split_whitespace()
            .any(|p| p == n.to_string()),
        "{screen}"
    );
    let (code, answer) = post(&d, &format!("/exec/{}/resize?h=22&w=66", x.id), "");
    assert_eq!(code, 200, "{answer}");
    x.stream.write_all(b"a\n").unwrap();
    x.read_until("22 66");
    let (code, answer) = post(&d, &format!("/exec/{}/resize?h=27&w=88", x.id), "");
    assert_eq!(code, 200, "{answer}");
    x.stream.write_all(b"b\n").unwrap();
    x.read_until("27 88");

    // `docker exec -t` (Docker's CLI) in a container without a terminal: a pts of its own
    // devpts, listed there.
    d.ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "1000"]);
    let out = d.ok(&["exec", "-t", "plain", "sh", "-c", REPORT]);
    let out = out.replace("\r\n", "\n");
    let n = pts_number(value(&out, "tty:"));
    assert!(
        value(&out, "pts:")
            .split_whitespace()
            .any(|p| p == n.to_string()),
        "{out}"
    );
    assert!(value(&out, "slave:").starts_with("5 620 "), "{out}");

    // `docker exec -it` and `docker run -it` on a terminal: the client's resizes (SIGWINCH,
    // then POST /exec/{id}/resize or /containers/{id}/resize) reach `stty size`.
    let mut t = Term::spawn(d.command(&["exec", "-it", "plain", "sh"]), 30, 100);
    t.type_line("tty");
    t.expect("/dev/pts/");
    t.ask_until("stty size", "30 100");
    t.resize(35, 111);
    t.ask_until("stty size", "35 111");
    t.type_line("exit 7");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(7), "{screen}");

    let mut t = Term::spawn(d.command(&["run", "-it", "--rm", "busybox", "sh"]), 30, 100);
    t.ask_until("tty", "/dev/pts/0");
    t.ask_until("stty size", "30 100");
    t.resize(36, 112);
    t.ask_until("stty size", "36 112");
    t.type_line("exit 8");
    let (code, screen) = t.finish();
    assert_eq!(code, Some(8), "{screen}");
}

/// Whether a detached exec's holder (`exec -d --holder-ready-fd`) of this engine runs.
fn holders_of(e: &Engine) -> Vec<String> {
    let root = e.path().to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "--holder-ready-fd") && args.contains(&root) {
            found.push(args.join(" "));
        }
    }
    found
}

#[test]
fn root_exec_detached_outlives_the_command_that_started_it() {
    let test = "root_exec_detached_outlives_the_command_that_started_it";
    let Some(e) = Engine::new(test, "vfs") else {
        return;
    };
    let Some(docker) = docker_cli(test) else {
        return;
    };
    let d = Daemon::start(&e, docker);
    e.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let since = e.ok(&["inspect", "-f", "{{.State.StartedAt}}", "box"]);
    // Each writes after its client has gone: with -t on a terminal that must still be
    // there (a closed master would hang it up), without -t on no terminal at all.
    let cases = [
        (false, "-dt", "/cli-tty"),
        (false, "-d", "/cli-plain"),
        (true, "-dt", "/api-tty"),
        (true, "-d", "/api-plain"),
    ];
    for (api, flags, file) in cases {
        let script = format!("sleep 2; tty > {file}; echo ok >> {file}");
        let args = ["exec", flags, "box", "sh", "-c", &script];
        let out = if api {
            d.docker(&args)
        } else {
            e.engine(&args)
        };
        assert!(out.status.success(), "{flags} {file}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{flags} {file}");
    }
    let deadline = Instant::now() + PATIENCE;
    for (_, flags, file) in cases {
        loop {
            let got = stdout(&e.engine(&["exec", "box", "cat", file]));
            if got.ends_with("ok\n") {
                if flags == "-dt" {
                    assert!(got.starts_with("/dev/pts/"), "{file}: {got}");
                } else {
                    assert!(got.starts_with("not a tty"), "{file}: {got}");
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{flags} {file} never ran to its end"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Each was reaped by whoever held it (the holder for the CLI, the daemon for the API),
    // which recorded its end; the CLI's holders are gone then.
    let until = || {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
    };
    loop {
        let out = e.ok(&[
            "events",
            "--since",
            since.trim(),
            "--until",
            &until(),
            "--filter",
            "event=exec_start",
            "--filter",
            "event=exec_die",
            "--format",
            "{{.Actor.Attributes.execID}}|{{.Action}}|{{.Actor.Attributes.exitCode}}",
        ]);
        let lines: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
        // The four detached ones, not the `cat`s that looked for their files.
        let started: Vec<&str> = lines
            .iter()
            .filter(|l| l[1].starts_with("exec_start: sh -c sleep 2"))
            .map(|l| l[0])
            .collect();
        let ended = started
            .iter()
            .filter(|id| {
                lines
                    .iter()
                    .any(|l| l[0] == **id && l[1] == "exec_die" && l[2] == "0")
            })
            .count();
        if started.len() == 4 && ended == 4 && holders_of(&e).is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events: {out}, holders: {:?}",
            holders_of(&e)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A detached exec that cannot start says why, with Docker's code.
    let out = e.engine(&["exec", "-dt", "box", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("OCI runtime exec failed"),
        "{}",
        stderr(&out)
    );
    let out = e.engine(&["exec", "-d", "-u", "nosuchuser", "box", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unable to find user nosuchuser"),
        "{}",
        stderr(&out)
    );
    // A holder lasts as long as its process, which ends with the container.
    e.ok(&["exec", "-dt", "box", "sleep", "1000"]);
    assert_eq!(holders_of(&e).len(), 1, "{:?}", holders_of(&e));
    e.ok(&["rm", "-f", "box"]);
    let deadline = Instant::now() + PATIENCE;
    while !holders_of(&e).is_empty() {
        assert!(
            Instant::now() < deadline,
            "holders left: {:?}",
            holders_of(&e)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
