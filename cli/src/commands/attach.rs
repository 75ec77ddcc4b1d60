//! `engine attach` and `engine start -a`: the terminal's streams relayed to a detached
//! container through its monitor's attach socket (`container::attach`).

use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};

use crate::args::{AttachArgs, StartArgs};
use engine_core::container::attach::{self, DetachKeys, Hello, PendingAttach, Session, protocol};
use engine_core::container::store::ContainerStore;
use engine_core::container::{ExitError, monitor};
use engine_core::engine::Engine;

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
    if record.state.restarting && store.monitor_alive(&record.id) {
        return Err(ExitError::new(
            1,
            "You cannot attach to a restarting container, wait until it is running",
        )
        .into());
    }
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
    let detach_keys = DetachKeys::parse(args.detach_keys.as_deref())?;
    let pid = Arc::new(AtomicI32::new(record.state.pid));
    if args.sig_proxy && !record.config.tty {
        monitor::forward_signals(Arc::clone(&pid))?;
    }
    let hello = hello(stdin);
    let Some(session) = attach::connect(&store, &record.id, &hello)? else {
        let running = store.monitor_alive(&record.id) && store.load(&record.id)?.state.running;
        let message = if running {
            // Its monitor is a foreground `engine run`, which owns the terminal's streams.
            format!(
                "container {} runs in the foreground of an `engine run`; only containers started with -d or `engine start` can be attached to",
                record.short_id()
            )
        } else {
            "You cannot attach to a stopped container, start it first".to_string()
        };
        return Err(ExitError::new(1, message).into());
    };
    engine_core::events::container(store.data_root(), "attach", &record);
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
    let detach_keys = DetachKeys::parse(args.detach_keys.as_deref())?;
    let pid = Arc::new(AtomicI32::new(0));
    if !record.config.tty {
        // Before any thread starts, so every thread inherits the blocked signals.
        monitor::forward_signals(Arc::clone(&pid))?;
    }
    let hello = hello(stdin);
    let id = record.id.clone();
    // A monitor still finishing the last run (recorded exited, unmounting) is not a running
    // container to attach to: wait for it, then start afresh.
    engine_core::container::lifecycle::finishing_monitor(&store, &id)?;
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
        let started = engine_core::container::spawn::spawn_monitor(engine, &id);
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
            // The monitor went without an exit frame (a failed start, or it was killed): the
            // record has the code, unless `--rm` took the container with it.
            let mut record = store.load(id).ok();
            while record.as_ref().is_some_and(|r| r.state.running) && store.monitor_alive(id) {
                std::thread::sleep(POLL);
                record = store.load(id).ok();
            }
            record.map_or(0, |r| r.state.exit_code)
        }
    };
    Ok(exit_code(code))
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(125))
}

/// Relays the terminal to the session until the container exits, the monitor goes, or the
/// user detaches.
fn relay(session: Session, stdin: bool, detach_keys: &DetachKeys) -> Result<Ended> {
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
        let mut keys = if io::stdin().is_terminal() {
            detach_keys.clone()
        } else {
            DetachKeys::none()
        };
        std::thread::spawn(move || {
            if copy_input(&mut out, &mut keys) {
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
/// the detach keys (which are not passed on).
fn copy_input(out: &mut impl Write, keys: &mut DetachKeys) -> bool {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (data, detach) = keys.scan(&buf[..n]);
        if !data.is_empty() && protocol::write_frame(out, protocol::STDIN, &data).is_err() {
            return false;
        }
        if detach {
            return true;
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
