//! The per-container monitor: it owns one container from start to exit. It mounts the
//! writable layer, starts the container, writes its output to the json-file log (and to the
//! terminal for a foreground run), publishes its ports, records its state, restarts it as its
//! policy says with Docker's backoff, and unmounts (or removes, with `--rm`) at the end.
//!
//! A detached container's monitor is a re-exec of the engine (`engine container-monitor ID`)
//! in its own session; a foreground `run` is its own monitor. A detached monitor also serves
//! the container's attach socket ([`super::attach`]): it holds the container's stdin (with
//! `-i`) and pty (with `-t`), and relays output, input and resizes to attached clients. Either way the monitor holds
//! `monitor.lock` in the container's directory while it lives, which is how other commands
//! know a monitor owns the container.

use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use nix::sys::signal::{SigSet, Signal};
use runtime::{Container, ProxyHandle, Stdio, StdioSet};

use super::log::{self, LogWriter};
use super::record::{PortBinding, Record};
use super::store::ContainerStore;
use super::{ExitError, attach, health, ports, restart, spec};
use crate::engine::Engine;
use crate::volume::local;
use crate::volume::store::VolumeStore;

/// How the monitor is attached to the user.
#[derive(Debug)]
pub enum Mode {
    /// In the background; the start (or why it failed) is reported on `ready`, then closed.
    Detached {
        /// Where `start` waits for the outcome.
        ready: Option<File>,
    },
    /// On the caller's terminal: output is copied to it, stdin (with `-i`) and signals reach
    /// the container.
    Foreground,
}

/// Owns container `id` until it has exited for good; returns its last exit code. A failed
/// first start is an [`ExitError`] with Docker's code (127, 126 or 125).
pub fn run(engine: &Engine, store: &ContainerStore, id: &str, mut mode: Mode) -> Result<i32> {
    let outcome = own(engine, store, id, &mut mode);
    if let Mode::Detached { ready } = &mut mode
        && let Some(mut ready) = ready.take()
    {
        // Still unreported: the start failed before a container existed.
        let (code, message) = match &outcome {
            Ok(_) => (0, String::new()),
            Err(e) => (exit_code_of(e), format!("{e:#}")),
        };
        let _ = write!(ready, "err {code}\n{message}");
    }
    outcome
}

fn own(engine: &Engine, store: &ContainerStore, id: &str, mode: &mut Mode) -> Result<i32> {
    let Some(_lock) = store.try_monitor_lock(id)? else {
        return Err(ExitError::new(125, format!("container {id} is already running")).into());
    };
    let rootfs = engine
        .layers
        .mount_rw(id)
        .context("mounting the container's writable layer")?;
    // Volumes with driver options are mounts while a container uses them.
    let volumes = VolumeStore::open(&engine.settings.data_root)?;
    let mut held = Vec::new();
    let mut result = Ok(0);
    for m in store.load(id)?.mounts.iter().filter(|m| m.kind == "volume") {
        let acquired = volumes
            .get(&m.name)
            .and_then(|v| local::acquire(&volumes, &v).map(|_| v));
        match acquired {
            Ok(v) => {
                crate::events::volume_mount(&engine.settings.data_root, &v, id, Some(m));
                held.push(v);
            }
            Err(e) => {
                result = Err(ExitError::new(125, format!("{e:#}")).into());
                break;
            }
        }
    }
    if result.is_ok() {
        result = supervise(engine, store, id, &rootfs, mode);
    }
    for v in held {
        crate::events::volume_mount(&engine.settings.data_root, &v, id, None);
        if let Err(e) = local::release(&volumes, &v) {
            tracing::warn!(container = %id, volume = %v.name, error = %e, "cannot release the volume");
        }
    }
    if let Err(e) = engine.layers.unmount_rw(id) {
        tracing::warn!(container = %id, error = %e, "cannot unmount the writable layer");
    }
    let auto_remove = store
        .load(id)
        .map(|r| r.host_config.auto_remove)
        .unwrap_or(false);
    // --rm takes the anonymous volumes with it, as Docker's does.
    if auto_remove && let Err(e) = remove_with_volumes(engine, store, id, true) {
        tracing::warn!(container = %id, error = %e, "cannot remove the container (--rm)");
    }
    result
}

/// Removes a container that no monitor owns: its writable layer, then its directory.
pub fn remove(engine: &Engine, store: &ContainerStore, id: &str) -> Result<()> {
    remove_with_volumes(engine, store, id, false)
}

/// [`remove`], and with `volumes` (`rm -v`) its anonymous volumes that no other container
/// uses (those are kept, as Docker keeps them).
pub fn remove_with_volumes(
    engine: &Engine,
    store: &ContainerStore,
    id: &str,
    volumes: bool,
) -> Result<()> {
    let anonymous: Vec<String> = store
        .load(id)
        .map(|r| {
            r.mounts
                .iter()
                .filter(|m| m.anonymous)
                .map(|m| m.name.clone())
                .collect()
        })
        .unwrap_or_default();
    remove_container(engine, store, id)?;
    if volumes && !anonymous.is_empty() {
        let vstore = VolumeStore::open(&engine.settings.data_root)?;
        let _lock = vstore.lock()?;
        let others = store.list()?;
        for name in anonymous {
            if let Err(e) = vstore.remove_locked(&name, &others) {
                tracing::warn!(container = %id, volume = %name, error = %e, "anonymous volume kept");
            }
        }
    }
    Ok(())
}

fn remove_container(engine: &Engine, store: &ContainerStore, id: &str) -> Result<()> {
    match engine.layers.remove_rw(id) {
        Ok(()) => {}
        Err(e) if e.kind() == graph::ErrorKind::NotFound => {}
        Err(e) => {
            let _ = store.update(id, |r| {
                r.state.dead = true;
                r.state.status = "dead".into();
            });
            return Err(e).context("removing the container's writable layer");
        }
    }
    let _names = store.lock_names()?;
    crate::network::sandbox::forget(&engine.settings.data_root, id);
    let record = store.load(id);
    store.remove(id)?;
    if let Ok(r) = record {
        crate::events::container(&engine.settings.data_root, "destroy", &r);
    }
    Ok(())
}

/// The exit code `run` reports for a failure to start.
pub fn exit_code_of(e: &anyhow::Error) -> i32 {
    if let Some(x) = e.downcast_ref::<ExitError>() {
        return x.code;
    }
    e.chain()
        .find_map(|c| c.downcast_ref::<runtime::Error>())
        .and_then(runtime::Error::exit_code)
        .unwrap_or(125)
}

/// One run of the container. Fields drop in order: the container is reaped before its
/// network is torn down.
struct Running<'a> {
    /// Stopped first: no probe runs into an ending container.
    health: Option<health::probe::Prober>,
    container: Container,
    _proxies: Vec<ProxyHandle>,
    _ports: ports::Reserved,
    network: NetworkGuard<'a>,
    copiers: Vec<JoinHandle<()>>,
    /// The tty master, for a foreground `-t` run to copy on the terminal.
    pty: Option<OwnedFd>,
}

fn supervise(
    engine: &Engine,
    store: &ContainerStore,
    id: &str,
    rootfs: &Path,
    mode: &mut Mode,
) -> Result<i32> {
    let current_pid = Arc::new(AtomicI32::new(0));
    if matches!(mode, Mode::Foreground) {
        forward_signals(Arc::clone(&current_pid))?;
    }
    // A detached container is attached to through its monitor's socket (see `attach`).
    let hub = match mode {
        Mode::Detached { .. } => {
            let record = store.load(id)?;
            Some(HubGuard(attach::Hub::bind(
                &store.dir(id),
                record.config.tty,
                record.config.open_stdin,
            )?))
        }
        Mode::Foreground => None,
    };
    let hub = hub.as_ref().map(|h| &h.0);
    if let Some(hub) = hub {
        hub.await_pending(PENDING_ATTACH_TIMEOUT);
    }
    let mut backoff = restart::Backoff::default();
    let mut first = true;
    loop {
        let record = store.load(id)?;
        let log = LogWriter::open_with(
            Path::new(&record.log_path),
            &record.host_config.options.log_config,
        )
        .with_context(|| format!("opening {}", record.log_path))?;
        let started = Instant::now();
        let started_run = start(
            engine,
            store,
            &record,
            rootfs,
            mode,
            hub,
            &log,
            &current_pid,
        );
        let mut running = match started_run {
            Ok(r) => r,
            Err(e) => {
                let code = exit_code_of(&e);
                let message = format!("{e:#}");
                store.update(id, |r| {
                    r.state.status = if first { "created" } else { "exited" }.into();
                    r.state.running = false;
                    r.state.restarting = false;
                    r.state.pid = 0;
                    r.state.exit_code = code;
                    r.state.error = message.clone();
                    r.state.finished_at = log::now();
                })?;
                if first {
                    return Err(ExitError::new(code, message).into());
                }
                return Ok(code);
            }
        };
        if let Mode::Detached { ready } = mode
            && let Some(mut ready) = ready.take()
        {
            let _ = writeln!(ready, "ok {}", running.container.pid());
        }
        first = false;
        if let Some(master) = running.pty.take() {
            let stdin = io::stdin();
            let stdout = io::stdout();
            let input: OwnedFd = if record.config.open_stdin {
                stdin.as_fd().try_clone_to_owned()?
            } else {
                File::open("/dev/null")?.into()
            };
            if let Err(e) = runtime::copy_pty(master.as_fd(), input.as_fd(), stdout.as_fd()) {
                tracing::warn!(error = %e, "terminal copy failed");
            }
        }
        let status = running.container.wait()?;
        current_pid.store(0, Ordering::SeqCst);
        if let Some(prober) = running.health.take() {
            prober.stop();
        }
        for c in running.copiers.drain(..) {
            let _ = c.join();
        }
        // The network goes down with `running`, but is reported after the `die`, in
        // Docker's order.
        running.network.reported = false;
        drop(running);
        let ran_for = started.elapsed();
        // Decided before the state is written, so nobody ever sees "exited" for a container
        // that is about to restart.
        let current = store.load(id)?;
        let restart = restart::should_restart(
            &current.host_config.restart_policy,
            status.code,
            current.restart_count,
            current.has_been_manually_stopped,
        );
        // The v1 freezer cgroup a pause made (if any) goes with the processes.
        runtime::freezer::remove(Path::new(runtime::cgroup::CGROUP_ROOT), id);
        let ended = store.update(id, |r| {
            r.state.status = if restart { "restarting" } else { "exited" }.into();
            r.state.restarting = restart;
            r.state.running = false;
            r.state.paused = false;
            r.state.pid = 0;
            r.state.exit_code = status.code;
            r.state.oom_killed = status.oom_killed;
            r.state.finished_at = log::now();
            r.network_settings.ports.clear();
            // Docker's monitor leaves a container it stops probing unhealthy.
            if let Some(h) = r.state.health.as_mut() {
                h.status = health::UNHEALTHY.into();
            }
        })?;
        crate::events::died(&engine.settings.data_root, &ended, status.oom_killed);
        let networks = crate::network::sandbox::attached(engine, &ended);
        crate::network::sandbox::report(engine, "disconnect", &networks, id);
        // After the record: whoever learns the exit from the attach socket finds it recorded.
        if let Some(hub) = hub {
            hub.end_run(Some(status.code));
        }
        if !restart {
            return Ok(status.code);
        }
        let delay = backoff.delay(ran_for);
        let deadline = Instant::now() + delay;
        let mut stopped = false;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20).min(delay));
            if store.load(id)?.has_been_manually_stopped {
                stopped = true;
                break;
            }
        }
        let record = store.update(id, |r| {
            r.state.restarting = false;
            if stopped || r.has_been_manually_stopped {
                r.state.status = "exited".into();
            } else {
                r.restart_count += 1;
            }
        })?;
        if record.has_been_manually_stopped {
            return Ok(status.code);
        }
    }
}

/// How long a monitor waits for clients that attached before it started (`docker run`).
const PENDING_ATTACH_TIMEOUT: Duration = Duration::from_secs(10);

/// Closes the attach socket when the monitor is done, however it ends.
struct HubGuard(Arc<attach::Hub>);

impl Drop for HubGuard {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Tears down the container's network namespace when a run ends (or fails to start).
struct NetworkGuard<'a> {
    engine: &'a Engine,
    store: &'a ContainerStore,
    id: String,
    /// Its `network connect` events are recorded, so the teardown records `disconnect`s
    /// (unless the monitor records them itself, after the `die`).
    reported: bool,
}

impl Drop for NetworkGuard<'_> {
    fn drop(&mut self) {
        crate::network::sandbox::down(self.engine, self.store, &self.id);
        if self.reported
            && let Ok(record) = self.store.load(&self.id)
        {
            let networks = crate::network::sandbox::attached(self.engine, &record);
            crate::network::sandbox::report(self.engine, "disconnect", &networks, &self.id);
        }
    }
}

/// Starts the container once: stdio, the network, the runtime, published ports, the
/// running state.
#[allow(clippy::too_many_arguments)]
fn start<'a>(
    engine: &'a Engine,
    store: &'a ContainerStore,
    record: &Record,
    rootfs: &Path,
    mode: &Mode,
    hub: Option<&Arc<attach::Hub>>,
    log: &LogWriter,
    current_pid: &AtomicI32,
) -> Result<Running<'a>> {
    // What a killed monitor left of other containers' networks goes first, so its
    // addresses, ports and names are free again.
    crate::network::sandbox::sweep(engine, store);
    let reserved = ports::reserve(record)?;
    let mut network = NetworkGuard {
        engine,
        store,
        id: record.id.clone(),
        reported: false,
    };
    let netns = crate::network::sandbox::up(engine, store, record, &reserved.mappings)?;
    let record = &store.load(&record.id)?;
    // Docker's `network connect` of each network, before the container's `start`.
    let networks = crate::network::sandbox::attached(engine, record);
    crate::network::sandbox::report(engine, "connect", &networks, &record.id);
    network.reported = true;
    let mut spec = spec::build(record, rootfs)?;
    if let Some(path) = netns {
        spec.network = runtime::Network::Join(path);
    }
    super::share::apply(store, record, &mut spec)?;
    let foreground = matches!(mode, Mode::Foreground);
    let mut copiers = Vec::new();
    let mut stdio = StdioSet::default();
    let mut input = None;
    let mut readers = Vec::new();
    if !record.config.tty {
        for stream in ["stdout", "stderr"] {
            let (r, w) = io::pipe().context("creating a pipe")?;
            let w = Stdio::Fd(OwnedFd::from(w));
            if stream == "stdout" {
                stdio.stdout = w;
            } else {
                stdio.stderr = w;
            }
            readers.push((stream, r));
        }
        stdio.stdin = if !record.config.open_stdin {
            Stdio::Null
        } else if foreground {
            Stdio::Inherit
        } else {
            let (r, w) = io::pipe().context("creating a pipe")?;
            input = Some(attach::Input::Pipe(File::from(OwnedFd::from(w))));
            Stdio::Fd(OwnedFd::from(r))
        };
    }
    let mut container = Container::create(&spec, stdio)?;
    // Before any output is copied: whoever sees the output may signal at once.
    current_pid.store(container.pid(), Ordering::SeqCst);
    for (stream, reader) in readers {
        let log = log.clone();
        let echo: Option<Box<dyn Write + Send>> = match (foreground, stream, hub) {
            (true, "stdout", _) => Some(Box::new(io::stdout())),
            (true, _, _) => Some(Box::new(io::stderr())),
            (false, "stdout", Some(hub)) => Some(Box::new(hub.writer(attach::protocol::STDOUT))),
            (false, _, Some(hub)) => Some(Box::new(hub.writer(attach::protocol::STDERR))),
            (false, _, None) => None,
        };
        copiers.push(std::thread::spawn(move || log.copy(stream, reader, echo)));
    }
    let mut pty = container.take_pty_master();
    if !foreground && let Some(master) = pty.take() {
        // A detached tty's output goes to the log and to whoever is attached; their input
        // and resizes go to the master.
        let master = File::from(master);
        let duplicate = master.try_clone().context("duplicating the pty master")?;
        input = Some(attach::Input::Pty(duplicate));
        let log = log.clone();
        let echo: Option<Box<dyn Write + Send>> =
            hub.map(|h| Box::new(h.writer(attach::protocol::STDOUT)) as Box<dyn Write + Send>);
        copiers.push(std::thread::spawn(move || log.copy("stdout", master, echo)));
    }
    if let Some(hub) = hub {
        hub.begin_run(input);
    }
    let pid = container.pid();
    let mut proxies = Vec::new();
    let mut bound = reserved.bound.clone();
    // IPv4 ports are forwarded by the kernel (netavark's rules); an IPv6 host address reaches
    // the IPv4-only container through the userspace proxy, as Docker's docker-proxy does.
    for (key, b) in &reserved.proxied {
        let container_port: u16 = key
            .split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| anyhow!("invalid port {key}"))?;
        {
            let ip: IpAddr = b.host_ip.parse()?;
            let port: u16 = if b.host_port.is_empty() {
                0
            } else {
                b.host_port.parse()?
            };
            let addr = SocketAddr::new(ip, port);
            let proxy = runtime::publish_tcp(pid, addr, container_port).map_err(|e| {
                if e.kind() == runtime::ErrorKind::AddrInUse {
                    anyhow!(
                        "driver failed programming external connectivity on endpoint {}: Bind for {addr} failed: port is already allocated",
                        record.short_name()
                    )
                } else {
                    anyhow!(e)
                }
            });
            let proxy = match proxy {
                Ok(p) => p,
                Err(e) => {
                    let _ = container.kill(libc::SIGKILL);
                    let _ = container.wait();
                    return Err(e);
                }
            };
            bound.push((
                key.clone(),
                PortBinding {
                    host_ip: ip.to_string(),
                    host_port: proxy.local_addr().port().to_string(),
                },
            ));
            proxies.push(proxy);
        }
    }
    let now_running = store.update(&record.id, |r| {
        r.state.status = "running".into();
        r.state.running = true;
        r.state.restarting = false;
        r.state.oom_killed = false;
        r.state.pid = pid;
        r.state.exit_code = 0;
        r.state.error = String::new();
        r.state.started_at = log::now();
        if r.config.healthcheck.as_ref().is_some_and(|h| h.probes()) {
            r.state.health = Some(health::Health::starting(r.state.health.take()));
        }
        r.network_settings.ports.clear();
        for (key, b) in &bound {
            r.network_settings
                .ports
                .entry(key.clone())
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(b.clone());
        }
    })?;
    crate::events::container(&engine.settings.data_root, "start", &now_running);
    Ok(Running {
        health: health::probe::Prober::spawn(store, &now_running),
        container,
        _proxies: proxies,
        _ports: reserved,
        network,
        copiers,
        pty,
    })
}

/// Signals a foreground `run` receives go to the container's init, as Docker's CLI proxies
/// them (`--sig-proxy`). They are blocked here and taken by a thread with sigwait; the
/// container's init unblocks everything before it executes.
pub fn forward_signals(pid: Arc<AtomicI32>) -> Result<()> {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        set.add(sig);
    }
    set.thread_block().context("blocking signals")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            while let Ok(sig) = set.wait() {
                // The pty forwards window changes itself.
                if sig == Signal::SIGWINCH {
                    continue;
                }
                let target = pid.load(Ordering::SeqCst);
                if target > 0 {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(target), sig);
                }
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}
