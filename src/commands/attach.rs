//! `engine attach` and `engine start -a`: the terminal's streams relayed to a detached
//! container through its monitor's attach socket (`container::attach`).

use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};

use crate::cli::{AttachArgs, StartArgs};
use crate::container::attach::{self, Hello, PendingAttach, Session, protocol};
use crate::container::store::ContainerStore;
use crate::container::{ExitError, monitor};
use crate::engine::Engine;

/// Docker's default detach sequence, ctrl-p ctrl-q.
const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];
/// How often the terminal's size is checked and forwarded.
const RESIZE_POLL: Duration = Duration::from_millis(200);
/// How often the record is read while waiting for the exit to be recorded.
const POLL: Duration = Duration::from_millis(20);

/// How a relay ended.
enum Ended {
    /// The container exited with this code.
    Exited(i32),
    /// The user typed the detach keys.
    Detached,
    /// The monitor went away without an exit code (it failed, or was killed).
    Disconnected,
}

/// `engine attach`.
pub fn attach(engine: &Engine, args: AttachArgs) -> Result<ExitCode> {
    report(attach_inner(engine, args))
}

/// `engine start -a [-i] CONTAINER`: registers a pending attach, starts the container with a
/// detached monitor, and relays until it exits, as Docker's `start -a` does.
pub fn start_attached(engine: &Engine, args: &StartArgs) -> Result<ExitCode> {
    report(start_attached_inner(engine, args))
}

/// Errors with an exit code are printed as Docker's CLI prints them, without a prefix.
fn report(result: Result<ExitCode>) -> Result<ExitCode> {
    match result {
        Err(e) => match e.downcast::<ExitError>() {
            Ok(x) => {
                eprintln!("{}", x.message);
                Ok(exit_code(x.code))
            }
            Err(e) => Err(e),
        },
        ok => ok,
    }
}

fn attach_inner(engine: &Engine, args: AttachArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let record = store.resolve(&args.container)?;
    if !record.state.running || !store.monitor_alive(&record.id) {
        return Err(ExitError::new(
            1,
            "You cannot attach to a stopped container, start it first",
        )
        .into());
    }
    let stdin = record.config.open_stdin && !args.no_stdin;
    if stdin && record.config.tty && !io::stdin().is_terminal() {
        return Err(ExitError::new(1, "the input device is not a TTY").into());
    }
    let detach_keys = detach_keys(args.detach_keys.as_deref())?;
    let pid = Arc::new(AtomicI32::new(record.state.pid));
    if args.sig_proxy && !record.config.tty {
        monitor::forward_signals(Arc::clone(&pid))?;
    }
    let hello = hello(stdin);
    let Some(session) = attach::connect(&store, &record.id, &hello)? else {
        return Err(ExitError::new(
            1,
            "You cannot attach to a stopped container, start it first",
        )
        .into());
    };
    let ended = relay(session, stdin, &detach_keys)?;
    finish(&store, &record.id, ended)
}

fn start_attached_inner(engine: &Engine, args: &StartArgs) -> Result<ExitCode> {
    if args.containers.len() > 1 {
        bail!("you cannot start and attach multiple containers at once");
    }
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let record = store.resolve(&args.containers[0])?;
    let stdin = args.interactive && record.config.open_stdin;
    if stdin && record.config.tty && !io::stdin().is_terminal() {
        return Err(ExitError::new(1, "the input device is not a TTY").into());
    }
    let detach_keys = detach_keys(args.detach_keys.as_deref())?;
    let pid = Arc::new(AtomicI32::new(0));
    if !record.config.tty {
        // Before any thread starts, so every thread inherits the blocked signals.
        monitor::forward_signals(Arc::clone(&pid))?;
    }
    let hello = hello(stdin);
    let id = record.id.clone();
    let session = if store.monitor_alive(&id) {
        // Running already: just attach, as Docker does.
        attach::connect(&store, &id, &hello)?
    } else {
        let pending = PendingAttach::register(&store, &id)?;
        let failed = Arc::new(AtomicBool::new(false));
        let connecting = {
            let (store, id, failed) = (store.clone(), id.clone(), Arc::clone(&failed));
            std::thread::spawn(move || {
                attach::connect_when_started(&store, &id, &hello, pending, || {
                    failed.load(Ordering::SeqCst)
                })
            })
        };
        store.update(&id, |r| r.has_been_manually_stopped = false)?;
        let started = super::run::spawn_monitor(engine, &id);
        if started.is_err() {
            failed.store(true, Ordering::SeqCst);
        }
        let session = connecting
            .join()
            .map_err(|_| anyhow::anyhow!("the attach thread panicked"))?;
        if let Err(e) = started {
            eprintln!("Error response from daemon: {e:#}");
            return Ok(exit_code(monitor::exit_code_of(&e)));
        }
        session?
    };
    let Some(session) = session else {
        bail!("container {id} stopped before it could be attached");
    };
    pid.store(store.load(&id)?.state.pid, Ordering::SeqCst);
    let ended = relay(session, stdin, &detach_keys)?;
    finish(&store, &id, ended)
}

fn hello(stdin: bool) -> Hello {
    Hello {
        stdin,
        stdout: true,
        stderr: true,
        token: None,
    }
}

/// The exit code for how the relay ended: the container's, 0 after a detach, or the recorded
/// one once the monitor has written it.
fn finish(store: &ContainerStore, id: &str, ended: Ended) -> Result<ExitCode> {
    let code = match ended {
        Ended::Exited(code) => code,
        Ended::Detached => {
            eprintln!("read escape sequence");
            0
        }
        Ended::Disconnected => {
            let mut record = store.load(id)?;
            while record.state.running && store.monitor_alive(id) {
                std::thread::sleep(POLL);
                record = store.load(id)?;
            }
            record.state.exit_code
        }
    };
    Ok(exit_code(code))
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(125))
}

/// Relays the terminal to the session until the container exits, the monitor goes, or the
/// user detaches.
fn relay(session: Session, stdin: bool, detach_keys: &[u8]) -> Result<Ended> {
    let Session {
        stream, welcome, ..
    } = session;
    let tty = welcome.tty;
    let stdin_fd = io::stdin();
    let _raw = if tty && stdin {
        runtime::RawModeGuard::new(stdin_fd.as_fd())?
    } else {
        None
    };
    let detached = Arc::new(AtomicBool::new(false));
    if stdin {
        let mut out = stream.try_clone()?;
        let detached = Arc::clone(&detached);
        // Detach keys only from a terminal: piped input is data, whatever its bytes.
        let keys = if io::stdin().is_terminal() {
            detach_keys.to_vec()
        } else {
            Vec::new()
        };
        std::thread::spawn(move || {
            if copy_input(&mut out, &keys) {
                detached.store(true, Ordering::SeqCst);
                let _ = out.shutdown(std::net::Shutdown::Both);
            }
        });
    }
    if tty {
        let mut out = stream.try_clone()?;
        std::thread::spawn(move || forward_resizes(&mut out));
    }
    let mut input = stream;
    let mut stdout = io::stdout();
    let mut stderr = io::stderr();
    while let Ok(Some(frame)) = protocol::read_frame(&mut input) {
        match frame {
            (protocol::STDOUT, data) => {
                stdout.write_all(&data)?;
                stdout.flush()?;
            }
            (protocol::STDERR, data) => {
                stderr.write_all(&data)?;
                stderr.flush()?;
            }
            (protocol::EXIT, data) => {
                let code = String::from_utf8_lossy(&data).trim().parse().unwrap_or(0);
                return Ok(Ended::Exited(code));
            }
            _ => {}
        }
    }
    Ok(if detached.load(Ordering::SeqCst) {
        Ended::Detached
    } else {
        Ended::Disconnected
    })
}

/// Copies stdin into stdin frames; at its end, says so. Returns true when the user typed
/// `detach_keys` (which are not passed on).
fn copy_input(out: &mut impl Write, detach_keys: &[u8]) -> bool {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 32 * 1024];
    let mut matched = 0usize;
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut data = Vec::with_capacity(n + matched);
        for &b in &buf[..n] {
            if !detach_keys.is_empty() && b == detach_keys[matched] {
                matched += 1;
                if matched == detach_keys.len() {
                    return true;
                }
                continue;
            }
            // A partial sequence that did not complete is ordinary input.
            data.extend_from_slice(&detach_keys[..matched]);
            matched = 0;
            data.push(b);
        }
        if !data.is_empty() && protocol::write_frame(out, protocol::STDIN, &data).is_err() {
            return false;
        }
    }
    let _ = protocol::write_frame(out, protocol::CLOSE_STDIN, &[]);
    false
}

/// Forwards the terminal's size now and whenever it changes, until the connection goes.
fn forward_resizes(out: &mut impl Write) {
    let mut last = None;
    loop {
        let size = runtime::window_size(io::stdout().as_fd())
            .or_else(|| runtime::window_size(io::stdin().as_fd()));
        if size != last
            && let Some((rows, cols)) = size
        {
            if protocol::write_frame(out, protocol::RESIZE, &protocol::resize_payload(rows, cols))
                .is_err()
            {
                return;
            }
            last = size;
        }
        std::thread::sleep(RESIZE_POLL);
    }
}

/// Docker's `--detach-keys`: comma-separated `ctrl-X` or single characters.
fn detach_keys(spec: Option<&str>) -> Result<Vec<u8>> {
    let Some(spec) = spec else {
        return Ok(DEFAULT_DETACH_KEYS.to_vec());
    };
    let mut keys = Vec::new();
    for part in spec.split(',') {
        let key = match part.strip_prefix("ctrl-") {
            Some(k) if k.len() == 1 => {
                let c = k.as_bytes()[0];
                match c {
                    b'a'..=b'z' | b'@' | b'[' | b'\\' | b']' | b'^' | b'_' => {
                        c.to_ascii_uppercase() & 0x1f
                    }
                    _ => bail!("Unknown character: '{k}'"),
                }
            }
            None if part.len() == 1 => part.as_bytes()[0],
            _ => bail!("Unknown character: '{part}'"),
        };
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_dockers() {
        assert_eq!(detach_keys(None).unwrap(), vec![0x10, 0x11]);
        assert_eq!(detach_keys(Some("ctrl-a,x")).unwrap(), vec![0x01, b'x']);
        assert_eq!(detach_keys(Some("ctrl-@")).unwrap(), vec![0x00]);
        assert!(detach_keys(Some("ctrl-ab")).is_err());
        assert!(detach_keys(Some("xy")).is_err());
    }
}
