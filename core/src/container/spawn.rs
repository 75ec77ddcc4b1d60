//! `engine run`, `create` and `start`: create a container, then hand it to a monitor (the
//! caller itself for a foreground run, a re-exec of the engine for `-d` and `start`).

use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow};

use crate::container::ExitError;
use crate::container::monitor::{self, Mode};
use crate::container::store::ContainerStore;
use crate::engine::Engine;

/// Starts `engine container-monitor ID` in its own session, detached from the terminal, and
/// waits until it reports that the container runs (or why it does not). The monitor is our
/// child: a short-lived CLI just exits; the daemon reaps it.
pub fn spawn_monitor(engine: &Engine, id: &str) -> Result<std::process::Child> {
    let mut cmd = engine_command(engine);
    cmd.arg("container-monitor")
        .arg(id)
        .arg("--ready-fd")
        .arg("3");
    let (mut child, report) = spawn_reporting(cmd, "the container monitor")?;
    if report == Report::Started {
        return Ok(child);
    }
    let _ = child.wait();
    if let Report::Failed { code, message } = report {
        return Err(ExitError::new(code.unwrap_or(125), message).into());
    }
    Err(anyhow!(
        "the container monitor exited without starting the container (run with --log-level debug and `engine container-monitor {id}` to see why)"
    ))
}

/// What a process started by [`spawn_reporting`] said first.
#[derive(Debug, PartialEq, Eq)]
pub enum Report {
    /// `ok`: it started what it was asked to.
    Started,
    /// `err CODE` and a message: it could not (the code, when it is a number).
    Failed {
        /// The exit code to give.
        code: Option<i32>,
        /// Why, for the user.
        message: String,
    },
    /// It exited without a word.
    Silent,
}

/// Starts `cmd` (an [`engine_command`] given `--ready-fd 3`, or the like) in its own session,
/// detached from the terminal with null standard streams and a pipe at fd 3, and reads its
/// first report there. A container's monitor and a detached exec's holder start this way.
pub fn spawn_reporting(mut cmd: Command, what: &str) -> Result<(std::process::Child, Report)> {
    let (reader, writer) = io::pipe().context("creating a pipe")?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let fd = writer.as_raw_fd();
    // SAFETY: between fork and exec only async-signal-safe calls: setsid and dup2 (which
    // clears close-on-exec on the copy at fd 3, the one the child inherits).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::dup2(fd, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    // Our copies of the write end go, so a child that dies unheard reads as end of file.
    drop(writer);
    drop(cmd);
    let mut reader = BufReader::new(reader);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let report = if first.starts_with("ok") {
        Report::Started
    } else if let Some(code) = first.strip_prefix("err ") {
        let mut message = String::new();
        reader.read_to_string(&mut message)?;
        Report::Failed {
            code: code.trim().parse().ok(),
            message,
        }
    } else {
        Report::Silent
    };
    Ok((child, report))
}

/// The engine binary with the settings in effect as flags, for a subcommand that must see
/// the same engine (a container's monitor, a detached exec's holder).
pub fn engine_command(engine: &Engine) -> Command {
    let settings = &engine.settings;
    let mut cmd = Command::new("/proc/self/exe");
    // The settings in effect travel as flags; /dev/null stands in for daemon.json so the file
    // is not read twice (a flag and a file key for the same setting is an error).
    cmd.arg("--config")
        .arg("/dev/null")
        .arg("--data-root")
        .arg(&settings.data_root)
        .arg("--storage-driver")
        .arg(engine.driver.name());
    for opt in &settings.storage_opts {
        cmd.arg("--storage-opt").arg(opt);
    }
    let net = &settings.network;
    cmd.arg("--bip")
        .arg(format!(
            "{}/{}",
            net.bridge_gateway,
            net.bridge_subnet.prefix()
        ))
        .arg("--bridge")
        .arg(&net.bridge_name);
    for (base, size) in &net.pools {
        cmd.arg("--default-address-pool")
            .arg(format!("base={base},size={size}"));
    }
    if let Some(level) = &settings.log_level {
        cmd.arg("--log-level").arg(level);
    }
    cmd
}

/// `engine container-monitor ID`: the detached monitor's entry point.
pub fn monitor_main(engine: &Engine, id: &str, ready_fd: Option<i32>) -> Result<i32> {
    let ready = match ready_fd {
        Some(fd) => {
            // SAFETY: the spawner put the write end of its pipe at this descriptor for us, and
            // nothing else in this process owns it.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            // Keep it away from the container's processes.
            nix::fcntl::fcntl(
                &owned,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )?;
            Some(std::fs::File::from(owned))
        }
        None => None,
    };
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let code = monitor::run(engine, &store, id, Mode::Detached { ready })?;
    Ok(code)
}
