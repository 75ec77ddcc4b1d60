//! `engine exec`: another process in a running container, through `runtime::exec`.
//!
//! A detached exec (`-d`) outlives the command that started it, as Docker's does (dockerd
//! keeps it): the CLI re-executes itself as the exec's holder, in its own session, and
//! returns once the holder reports that the process started. The holder is the process's
//! parent: it holds the pty master of a `-t` exec (a closed master would hang the terminal
//! up, and SIGHUP kill the process), drains its output as nobody reads it, reaps the process
//! and records its `exec_die`.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::Result;
use runtime::StdioSet;

use crate::args::ExecArgs;
use engine_core::container::store::ContainerStore;
use engine_core::container::{monitor, spawn, spec};
use engine_core::engine::Engine;

pub fn run(engine: &Engine, args: ExecArgs) -> Result<ExitCode> {
    // The holder's report channel, taken first so that it is closed whatever happens.
    let mut ready = match args.holder_ready_fd {
        Some(fd) => Some(take_ready_fd(fd)?),
        None => None,
    };
    let result = exec(engine, &args, &mut ready);
    // What went wrong before the process started is the spawner's to print.
    if let Some(mut ready) = ready.take() {
        let (code, message) = match &result {
            Ok(code) => (*code, String::new()),
            Err(e) => (126, format!("{e:#}")),
        };
        let _ = write!(ready, "err {code}\n{message}");
        return Ok(ExitCode::from(code));
    }
    result.map(ExitCode::from)
}

/// A failure before the process runs: told to the spawner of a holder, else printed.
fn refuse(ready: &mut Option<File>, code: u8, message: &str) -> u8 {
    match ready.take() {
        Some(mut r) => {
            let _ = write!(r, "err {code}\n{message}");
        }
        None => eprintln!("{message}"),
    }
    code
}

/// The exec; its exit code (the process's, or why it did not run). A holder's `ready` is
/// taken once it has been told the outcome of the start.
fn exec(engine: &Engine, args: &ExecArgs, ready: &mut Option<File>) -> Result<u8> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let record = store.resolve(&args.container)?;
    if !record.state.running || record.state.pid <= 0 || !store.monitor_alive(&record.id) {
        let message = format!(
            "Error response from daemon: Container {} is not running",
            record.id
        );
        return Ok(refuse(ready, 1, &message));
    }
    if record.state.paused {
        let message = format!(
            "Error response from daemon: Container {} is paused, unpause the container before exec",
            record.id
        );
        return Ok(refuse(ready, 1, &message));
    }
    if args.detach && ready.is_none() {
        return spawn_holder(engine, args);
    }
    let pid = record.state.pid;
    // The container's root as its init sees it: users and groups resolve there.
    let rootfs = PathBuf::from(format!("/proc/{pid}/root"));
    let mut record = record;
    record.exec_overrides(args.user.as_deref(), args.workdir.as_deref(), &args.env);
    // A detached exec has nobody to read from or write to, as Docker's.
    let stdin = args.interactive && !args.detach;
    let mut process = spec::process(&record, &rootfs, args.tty, stdin)?;
    process.args = args.command.clone();
    spec::privileged_exec(&mut process, args.privileged);
    let current = Arc::new(AtomicI32::new(0));
    if !args.tty && !args.detach {
        monitor::forward_signals(Arc::clone(&current))?;
    }
    let stdio = if args.detach {
        StdioSet {
            stdin: runtime::Stdio::Null,
            stdout: runtime::Stdio::Null,
            stderr: runtime::Stdio::Null,
        }
    } else {
        StdioSet::default()
    };
    let mut proc = match runtime::exec(pid, &process, stdio) {
        Ok(p) => p,
        Err(e) => {
            let message = format!(
                "OCI runtime exec failed: exec failed: unable to start container process: {e}: unknown"
            );
            let code = u8::try_from(e.exit_code().unwrap_or(126)).unwrap_or(126);
            return Ok(refuse(ready, code, &message));
        }
    };
    let root = &engine.settings.data_root;
    let events = engine_core::events::ExecEvents::new(
        root,
        &record,
        &engine_core::container::create::random_id(),
        &args.command,
    );
    events.created();
    events.started();
    if let Some(mut ready) = ready.take() {
        let _ = writeln!(ready, "ok {}", proc.pid());
        drop(ready);
        // Output of a detached tty goes nowhere (Docker's too), but it is read: a full
        // pty buffer would block the process.
        if let Some(master) = proc.take_pty_master() {
            std::thread::spawn(move || {
                let mut master = File::from(master);
                let _ = io::copy(&mut master, &mut io::sink());
            });
        }
        // The master goes with this process once the exec has ended, as dockerd lets go of
        // it then.
        let status = proc.wait()?;
        events.died(status.code);
        return Ok(0);
    }
    current.store(proc.pid(), Ordering::SeqCst);
    if let Some(master) = proc.take_pty_master() {
        let stdin = io::stdin();
        let stdout = io::stdout();
        runtime::copy_pty(master.as_fd(), stdin.as_fd(), stdout.as_fd())?;
    }
    let status = proc.wait()?;
    events.died(status.code);
    Ok(u8::try_from(status.code).unwrap_or(1))
}

/// The descriptor the spawner handed its holder, kept from the exec'd process.
fn take_ready_fd(fd: i32) -> Result<File> {
    if fd < 3 {
        anyhow::bail!("invalid --holder-ready-fd {fd}: want a descriptor above 2");
    }
    // SAFETY: F_GETFD only reads the descriptor's flags; it fails on a closed one.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        anyhow::bail!("invalid --holder-ready-fd {fd}: not an open descriptor");
    }
    // SAFETY: the spawner put the write end of its pipe at this descriptor for us (open, as
    // checked above), and nothing else in this process owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::fcntl::fcntl(
        &owned,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    Ok(File::from(owned))
}

/// Starts this exec again as its holder (`exec -d --holder-ready-fd 3 ...`) in its own
/// session, with no terminal and null streams, and waits for its report: the start, or why
/// the process could not start (printed here, with its exit code).
fn spawn_holder(engine: &Engine, args: &ExecArgs) -> Result<u8> {
    let mut cmd = spawn::engine_command(engine);
    cmd.arg("exec")
        .arg("--detach")
        .arg("--holder-ready-fd")
        .arg("3");
    if args.tty {
        cmd.arg("--tty");
    }
    if args.interactive {
        cmd.arg("--interactive");
    }
    if args.privileged {
        cmd.arg("--privileged");
    }
    // `-e KEY` alone is read from the environment, which the holder inherits.
    for e in &args.env {
        cmd.arg(format!("--env={e}"));
    }
    if let Some(u) = &args.user {
        cmd.arg(format!("--user={u}"));
    }
    if let Some(w) = &args.workdir {
        cmd.arg(format!("--workdir={w}"));
    }
    cmd.arg("--").arg(&args.container).args(&args.command);
    // The holder is not waited for: it outlives this command, and init reaps it.
    let (_holder, report) = spawn::spawn_reporting(cmd, "the exec's holder")?;
    match report {
        spawn::Report::Started => return Ok(0),
        spawn::Report::Failed { code, message } => {
            eprintln!("{message}");
            return Ok(code.and_then(|c| u8::try_from(c).ok()).unwrap_or(126));
        }
        spawn::Report::Silent => {}
    }
    anyhow::bail!(
        "the exec's holder exited without starting the process (run it in the foreground, without -d, to see why)"
    )
}
