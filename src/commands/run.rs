//! `engine run`, `create` and `start`: create a container, then hand it to a monitor (the
//! caller itself for a foreground run, a re-exec of the engine for `-d` and `start`).

use std::io::{self, BufRead, BufReader, IsTerminal, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, anyhow, bail};

use crate::cli::{RunArgs, StartArgs};
use crate::container::create::{self, Request};
use crate::container::monitor::{self, Mode};
use crate::container::store::ContainerStore;
use crate::container::{ExitError, NoSuchImage};
use crate::engine::Engine;

/// `engine run`: exits with the container's status, or Docker's 125/126/127 when it could not
/// start.
pub fn run(engine: &Engine, args: RunArgs) -> Result<ExitCode> {
    let args = args.split();
    match run_inner(engine, &args) {
        Ok(code) => Ok(exit_code(code)),
        Err(e) => {
            let code = monitor::exit_code_of(&e);
            report_run_error(&e, "run");
            Ok(exit_code(code))
        }
    }
}

fn run_inner(engine: &Engine, args: &RunArgs) -> Result<i32> {
    if args.tty && args.interactive && !args.detach && !io::stdin().is_terminal() {
        return Err(ExitError::new(1, "the input device is not a TTY").into());
    }
    let store = ContainerStore::open(&engine.settings.data_root)?;
    let (record, warnings) = create_pulling(engine, &store, &Request::from_args(args)?)?;
    for w in warnings {
        eprintln!("{w}");
    }
    if args.detach {
        spawn_monitor(engine, &record.id)?;
        println!("{}", record.id);
        return Ok(0);
    }
    monitor::run(engine, &store, &record.id, Mode::Foreground)
}

/// Creates the container, pulling its image first when it is missing, as Docker's CLI does
/// ("Unable to find image ... locally" and the pull's status on stderr).
fn create_pulling(
    engine: &Engine,
    store: &ContainerStore,
    req: &Request,
) -> Result<(crate::container::record::Record, Vec<String>)> {
    match create::create(engine, store, req) {
        Err(e) if e.downcast_ref::<NoSuchImage>().is_some() => {
            let Some(NoSuchImage(familiar)) = e.downcast_ref::<NoSuchImage>() else {
                return Err(e);
            };
            eprintln!("Unable to find image '{familiar}' locally");
            let reference = graph::image::Reference::parse(familiar)?;
            if let Err(pull) = super::registry::pull_missing(engine, &reference, &mut io::stderr())
            {
                return Err(ExitError::new(
                    125,
                    format!(
                        "{pull:#}\nTo use an image not in a registry, load it first: `engine load -i IMAGE.tar` (a `docker save` archive) or `engine import ROOTFS.tar {familiar}`."
                    ),
                )
                .into());
            }
            create::create(engine, store, req)
        }
        other => other,
    }
}

/// Prints a `run`/`create` failure as Docker's CLI does.
fn report_run_error(e: &anyhow::Error, command: &str) {
    let msg = format!("{e:#}");
    if let Some(NoSuchImage(familiar)) = e.downcast_ref::<NoSuchImage>() {
        eprintln!(
            "Unable to find image '{familiar}' locally\nengine: Error: No such image: {familiar}: this engine pulls only with `engine pull`.\nGet the image onto this machine: `engine pull {familiar}`, `engine import ROOTFS.tar {familiar}` (a root filesystem tarball) or `engine load -i IMAGE.tar` (a `docker save` archive)."
        );
    } else {
        let end = if msg.ends_with('.') { "" } else { "." };
        eprintln!("engine: Error: {msg}{end}");
    }
    eprintln!("See 'engine {command} --help'.");
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(125))
}

/// `engine create`: prints the new container's id.
pub fn create(engine: &Engine, args: RunArgs) -> Result<ExitCode> {
    let args = args.split();
    let store = ContainerStore::open(&engine.settings.data_root)?;
    match Request::from_args(&args).and_then(|req| create_pulling(engine, &store, &req)) {
        Ok((record, warnings)) => {
            for w in warnings {
                eprintln!("{w}");
            }
            println!("{}", record.id);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let code = monitor::exit_code_of(&e);
            report_run_error(&e, "create");
            Ok(exit_code(code))
        }
    }
}

/// `engine start`: starts each container in the background (or, with `-a`, the one given in
/// the foreground).
pub fn start(engine: &Engine, args: StartArgs) -> Result<ExitCode> {
    let store = ContainerStore::open(&engine.settings.data_root)?;
    if args.attach {
        return super::attach::start_attached(engine, &args);
    }
    let mut failed = Vec::new();
    for name in &args.containers {
        let result = store
            .resolve(name)
            .and_then(|record| super::lifecycle::start_one(engine, &store, &record).map(drop));
        match result {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                failed.push(name.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("failed to start containers: {}", failed.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts `engine container-monitor ID` in its own session, detached from the terminal, and
/// waits until it reports that the container runs (or why it does not). The monitor is our
/// child: a short-lived CLI just exits; the daemon reaps it.
pub fn spawn_monitor(engine: &Engine, id: &str) -> Result<std::process::Child> {
    let (reader, writer) = io::pipe().context("creating a pipe")?;
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
    cmd.arg("container-monitor")
        .arg(id)
        .arg("--ready-fd")
        .arg("3")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let fd = writer.as_raw_fd();
    // SAFETY: between fork and exec only async-signal-safe calls: setsid and dup2 (which
    // clears close-on-exec on the copy at fd 3, the one the monitor inherits).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::dup2(fd, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting the container monitor")?;
    drop(writer);
    drop(cmd);
    let mut reader = BufReader::new(reader);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    if first.starts_with("ok") {
        return Ok(child);
    }
    let _ = child.wait();
    if let Some(code) = first.strip_prefix("err ") {
        let code: i32 = code.trim().parse().unwrap_or(125);
        let mut message = String::new();
        reader.read_to_string(&mut message)?;
        return Err(ExitError::new(code, message).into());
    }
    Err(anyhow!(
        "the container monitor exited without starting the container (run with --log-level debug and `engine container-monitor {id}` to see why)"
    ))
}

/// `engine container-monitor ID`: the detached monitor's entry point.
pub fn monitor_main(engine: &Engine, id: &str, ready_fd: Option<i32>) -> Result<ExitCode> {
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
    Ok(exit_code(code))
}
