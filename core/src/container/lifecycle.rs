//! `engine stop`, `restart`, `kill`, `rm`, `wait` and `container prune`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::container::monitor;
use crate::container::record::Record;
use crate::container::store::ContainerStore;
use crate::engine::Engine;

pub const POLL: Duration = Duration::from_millis(20);
/// How long to wait for a monitor to finish after its container was killed.
const AFTER_KILL: Duration = Duration::from_secs(30);

pub fn store(engine: &Engine) -> Result<ContainerStore> {
    ContainerStore::open(&engine.settings.data_root)
}

fn signal(pid: i32, sig: Signal) -> Result<()> {
    if pid <= 0 {
        bail!("no process to signal");
    }
    match nix::sys::signal::kill(Pid::from_raw(pid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(anyhow!("signal {sig} to pid {pid}: {e}")),
    }
}

/// Waits until no monitor owns the container (it has recorded the exit and unmounted).
fn wait_monitor(store: &ContainerStore, id: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while store.monitor_alive(id) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
    true
}

/// A container recorded as exited whose monitor is still finishing (unmounting, after
/// `wait`, `kill` or `start -a` reported the exit) is stopped: wait for its monitor to end,
/// so `rm` never refuses it as running and `start` never takes it for running.
pub fn finishing_monitor(store: &ContainerStore, id: &str) -> Result<()> {
    if store.monitor_alive(id) {
        let current = store.load(id)?;
        if current.state.status == "exited" && !current.state.restarting {
            wait_monitor(store, id, AFTER_KILL);
        }
    }
    Ok(())
}

/// Docker's grace period when neither the caller nor the container (`--stop-timeout`) sets one.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Docker's stop: mark it stopped (no restart), the stop signal, then SIGKILL after `timeout`
/// (`None`: the container's `--stop-timeout`, else 10 s).
pub fn stop_one(store: &ContainerStore, record: &Record, timeout: Option<Duration>) -> Result<()> {
    let record = store.update(&record.id, |r| r.has_been_manually_stopped = true)?;
    let timeout = timeout.unwrap_or_else(|| match record.config.stop_timeout {
        Some(t) if t >= 0 => Duration::from_secs(t as u64),
        // -1: wait for ever, as Docker does; a day is for ever enough.
        Some(_) => Duration::from_secs(86_400),
        None => DEFAULT_STOP_TIMEOUT,
    });
    if !store.monitor_alive(&record.id) {
        return Ok(());
    }
    let sig = match &record.config.stop_signal {
        Some(s) => Signal::try_from(runtime::parse_signal(s)?)?,
        None => Signal::SIGTERM,
    };
    if record.state.running {
        crate::events::killed(store.data_root(), &record, sig as i32);
        signal(record.state.pid, sig)?;
        thaw_after_signal(store, &record)?;
    }
    if wait_monitor(store, &record.id, timeout) {
        crate::events::container(store.data_root(), "stop", &record);
        return Ok(());
    }
    let record = store.load(&record.id)?;
    if record.state.running {
        crate::events::killed(store.data_root(), &record, libc::SIGKILL);
        signal(record.state.pid, Signal::SIGKILL)?;
        thaw_after_signal(store, &record)?;
    }
    if !wait_monitor(store, &record.id, AFTER_KILL) {
        bail!("container {} did not stop", record.id);
    }
    crate::events::container(store.data_root(), "stop", &record);
    Ok(())
}

/// Docker's start: a monitor for the container, unless one owns it already (then `None`).
/// The monitor is the caller's child: a long-lived caller reaps it.
pub fn start_one(
    engine: &Engine,
    store: &ContainerStore,
    record: &Record,
) -> Result<Option<std::process::Child>> {
    finishing_monitor(store, &record.id)?;
    if store.monitor_alive(&record.id) {
        return Ok(None);
    }
    store.update(&record.id, |r| r.has_been_manually_stopped = false)?;
    crate::container::spawn::spawn_monitor(engine, &record.id).map(Some)
}

/// Docker's restart: stop (if running), then start.
pub fn restart_one(
    engine: &Engine,
    store: &ContainerStore,
    record: &Record,
    timeout: Option<Duration>,
) -> Result<std::process::Child> {
    stop_one(store, record, timeout)?;
    store.update(&record.id, |r| r.has_been_manually_stopped = false)?;
    let monitor = crate::container::spawn::spawn_monitor(engine, &record.id)?;
    crate::events::container(store.data_root(), "restart", record);
    Ok(monitor)
}

/// Sends `sig` to a running container (`name` as the user gave it, for the message).
pub fn kill_one(store: &ContainerStore, record: &Record, name: &str, sig: Signal) -> Result<()> {
    if !record.state.running || !store.monitor_alive(&record.id) {
        return Err(crate::error::EngineError::conflict(format!(
            "Cannot kill container: {name}: Container {} is not running",
            record.id
        ))
        .into());
    }
    if matches!(sig, Signal::SIGKILL | Signal::SIGTERM) {
        store.update(&record.id, |r| r.has_been_manually_stopped = true)?;
        crate::events::killed(store.data_root(), record, sig as i32);
        signal(record.state.pid, sig)?;
        // A paused container is thawed so the signal ends it (Docker's way); others stay
        // pending until it is unpaused.
        return thaw_after_signal(store, record);
    }
    crate::events::killed(store.data_root(), record, sig as i32);
    signal(record.state.pid, sig)
}

/// Thaws a paused container after a signal that ends it was sent, so it is delivered.
fn thaw_after_signal(store: &ContainerStore, record: &Record) -> Result<()> {
    let current = store.load(&record.id)?;
    if !current.state.paused {
        return Ok(());
    }
    runtime::freezer::thaw(Path::new(runtime::cgroup::CGROUP_ROOT), &record.id)?;
    store.update(&record.id, |r| {
        r.state.paused = false;
        if r.state.running {
            r.state.status = "running".into();
        }
    })?;
    Ok(())
}

/// Docker's pause: freezes every process of a running container.
pub fn pause_one(store: &ContainerStore, record: &Record) -> Result<()> {
    if record.state.restarting {
        return Err(crate::error::EngineError::conflict(format!(
            "Container {} is restarting, wait until the container is running",
            record.id
        ))
        .into());
    }
    if !record.state.running || !store.monitor_alive(&record.id) {
        return Err(crate::error::EngineError::conflict(format!(
            "Container {} is not running",
            record.id
        ))
        .into());
    }
    if record.state.paused {
        return Err(crate::error::EngineError::conflict(format!(
            "Container {} is already paused",
            record.id
        ))
        .into());
    }
    runtime::freezer::freeze(Path::new(runtime::cgroup::CGROUP_ROOT), &record.id)?;
    let paused = store.update(&record.id, |r| {
        r.state.paused = true;
        r.state.status = "paused".into();
    })?;
    crate::events::container(store.data_root(), "pause", &paused);
    Ok(())
}

/// Docker's unpause.
pub fn unpause_one(store: &ContainerStore, record: &Record) -> Result<()> {
    if !record.state.paused || !store.monitor_alive(&record.id) {
        return Err(crate::error::EngineError::conflict(format!(
            "Container {} is not paused",
            record.id
        ))
        .into());
    }
    runtime::freezer::thaw(Path::new(runtime::cgroup::CGROUP_ROOT), &record.id)?;
    let thawed = store.update(&record.id, |r| {
        r.state.paused = false;
        r.state.status = "running".into();
    })?;
    crate::events::container(store.data_root(), "unpause", &thawed);
    Ok(())
}

/// Docker's rm: refused while running unless `force`, which kills it first; with `volumes`
/// (`rm -v`), the container's anonymous volumes go too.
pub fn remove_one_with_volumes(
    engine: &Engine,
    store: &ContainerStore,
    record: &Record,
    force: bool,
    volumes: bool,
) -> Result<()> {
    finishing_monitor(store, &record.id)?;
    if store.monitor_alive(&record.id) {
        if !force {
            let what = if record.state.restarting {
                "restarting"
            } else {
                "running"
            };
            return Err(crate::error::EngineError::conflict(format!(
                    "You cannot remove a {what} container {}. Stop the container before attempting removal or force remove",
                    record.id
                ))
                .into());
        }
        let record = store.update(&record.id, |r| r.has_been_manually_stopped = true)?;
        if record.state.running {
            signal(record.state.pid, Signal::SIGKILL)?;
            thaw_after_signal(store, &record)?;
        }
        if !wait_monitor(store, &record.id, AFTER_KILL) {
            bail!(
                "could not kill running container {}, cannot remove",
                record.id
            );
        }
    }
    // A --rm container's monitor may have removed it already.
    if !store.dir(&record.id).exists() {
        return Ok(());
    }
    monitor::remove_with_volumes(engine, store, &record.id, volumes)
}

/// `container prune`: removes every container no monitor owns (Docker's "not running")
/// that `filters` select (`until=`, `label=`, `label!=`: [`crate::prune`]); returns their ids
/// and the bytes their writable layers held.
pub fn prune_stopped(engine: &Engine, filters: &[String]) -> Result<(Vec<String>, u64)> {
    use crate::prune::{Kind, PruneFilter, stored_time};
    let filter = PruneFilter::parse(Kind::Containers, filters)?;
    let store = store(engine)?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for record in store.list()? {
        if store.monitor_alive(&record.id)
            || !filter.old_enough(stored_time(&record.created))
            || !filter.matches_labels(&record.config.labels)
        {
            continue;
        }
        let (rw, _) = crate::container::inspect::sizes(engine, &record);
        monitor::remove(engine, &store, &record.id)?;
        reclaimed += rw;
        deleted.push(record.id);
    }
    Ok((deleted, reclaimed))
}
