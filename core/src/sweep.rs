//! The sweep at every start (each CLI command, each monitor, the daemon): what killed
//! processes left behind and no live owner holds is undone, in an order where each step frees
//! what the next needs:
//!
//! 1. processes and cgroups (`/sys/fs/cgroup/*/engine/<id>`) of containers whose monitor is
//!    gone and of build steps whose builder is gone (its lease is unlocked);
//! 2. mounts no live process holds (the driver's own reference counts say so);
//! 3. the writable layers of those build steps;
//! 4. the layers a killed ingest (pull, load, import, commit) added that no image holds and
//!    no live ingest noted;
//! 5. scratch directories (spooled loads, build contexts, pulls) of dead processes.
//!
//! Ownership is always an flock the kernel drops with its process (the container's
//! `monitor.lock`, a build's lease, a scratch directory's `.owner`), never an age or a guess,
//! so the sweep is safe while other engine processes work on the same data root; each owner
//! lock is taken by the sweep before it undoes anything, so nothing restarts half-way. When
//! nothing is left over it costs a few directory reads.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::container::store::ContainerStore;
use crate::engine::Engine;
use distribution::ingest::INGEST_LEASE;
use distribution::owned;

/// The lease kind of a build step: `build-<sandbox id>` (also its cgroup's and writable
/// layer's name).
pub const BUILD_LEASE: &str = "build-";

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP_PARENT: &str = "engine";

/// Runs the sweep; problems are logged, never fatal (a start on a full disk must go on).
pub fn run(engine: &Engine) {
    let started = Instant::now();
    let root = &engine.settings.data_root;
    let builds: Vec<owned::DeadLease> = owned::dead_leases(root)
        .into_iter()
        .filter(|l| l.name.starts_with(BUILD_LEASE))
        .collect();
    let build_ids: Vec<&str> = builds
        .iter()
        .filter_map(|l| l.name.strip_prefix(BUILD_LEASE))
        .collect();
    let cgroups = engine_cgroups();
    if !cgroups.is_empty() {
        let store = ContainerStore::open(root).ok();
        for (id, dirs) in &cgroups {
            if build_ids.contains(&id.as_str()) {
                tracing::info!(build = %id, "killing a build step whose builder is gone");
                kill_and_remove(dirs);
                continue;
            }
            let Some(store) = &store else { continue };
            if !store.dir(id).is_dir() {
                // Not a container of this data root (another engine's, or a live build).
                continue;
            }
            if !store.monitor_alive(id) {
                // Reading the record reconciles it: an orphaned container is killed and its
                // exit recorded (137), as when `ps` or `inspect` finds it.
                let _ = store.load(id);
            }
            // Holding the monitor lock: nobody starts the container while it is cleaned.
            if let Ok(Some(_monitor)) = store.try_monitor_lock(id) {
                tracing::info!(container = %id, "killing a container whose monitor is gone");
                kill_and_remove(dirs);
            }
        }
    }
    if let Err(e) = engine.driver.sweep_mounts() {
        tracing::warn!(error = %e, "cannot sweep the driver's mounts");
    }
    for lease in builds {
        if let Some(id) = lease.name.strip_prefix(BUILD_LEASE) {
            match engine.layers.remove_rw(id) {
                Ok(()) => {
                    tracing::info!(build = %id, "removed a build step's writable layer");
                }
                Err(e) if e.kind() == graph::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(build = %id, error = %e, "cannot remove a build step's writable layer");
                    continue;
                }
            }
        }
        lease.release();
    }
    sweep_ingests(engine);
    owned::sweep_scratch(root);
    tracing::debug!(elapsed = ?started.elapsed(), "start-up sweep done");
}

/// Removes the layers that killed ingests added (their lease's `add` notes, top first) when no
/// image holds them and no live ingest noted them; a layer still in use (a child, a mount)
/// stays.
///
/// Each dead lease is undone under the layer store's lock, from reading the live ingests'
/// notes to the last removal: an ingest notes a layer it builds on under that lock too, in
/// the same step as its lookup, so it either finds the layer gone or has noted it before the
/// notes are read here. The lock is held for one dead lease at a time (removing a few layers;
/// readers never take it).
fn sweep_ingests(engine: &Engine) {
    let root = &engine.settings.data_root;
    let dead: Vec<owned::DeadLease> = owned::dead_leases(root)
        .into_iter()
        .filter(|l| l.name.starts_with(INGEST_LEASE))
        .collect();
    if dead.is_empty() {
        return;
    }
    let chain_of = |note: &str| -> Option<graph::ChainId> {
        let (_, chain) = note.split_once(' ')?;
        chain.parse().ok()
    };
    let dead_names: Vec<String> = dead.iter().map(|l| l.name.clone()).collect();
    let held: Vec<graph::ChainId> = match engine.images.list() {
        Ok(images) => images
            .iter()
            .flat_map(|i| graph::image::chain_ids(&i.config.rootfs.diff_ids))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list images: leaving killed ingests' layers");
            return;
        }
    };
    for lease in dead {
        let added: Vec<graph::ChainId> = lease
            .notes()
            .iter()
            .filter(|n| n.starts_with("add "))
            .filter_map(|n| chain_of(n))
            .collect();
        // An image made since `held` was read is safe too: it holds its top layer (taken
        // under this lock, failing if the layer is gone), and a layer with a holder or a
        // child is never removed.
        let locked = match engine.layers.locked() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot lock the layer store: leaving killed ingests' layers");
                return;
            }
        };
        let live: Vec<graph::ChainId> = owned::lease_notes(root, INGEST_LEASE)
            .into_iter()
            .filter(|(name, _)| !dead_names.contains(name))
            .flat_map(|(_, notes)| notes)
            .filter_map(|n| chain_of(&n))
            .collect();
        for chain in added.iter().rev() {
            if held.contains(chain) || live.contains(chain) {
                continue;
            }
            match locked.remove(chain) {
                Ok(()) => tracing::info!(%chain, "removed a layer of a killed ingest"),
                Err(e) if e.kind() == graph::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(%chain, error = %e, "leaving a layer of a killed ingest"),
            }
        }
        drop(locked);
        lease.release();
    }
}

/// Every `engine/<id>` cgroup, with its directory in each hierarchy (v1 has one per
/// controller; v2 one).
fn engine_cgroups() -> Vec<(String, Vec<PathBuf>)> {
    let mut found: Vec<(String, Vec<PathBuf>)> = Vec::new();
    let root = Path::new(CGROUP_ROOT);
    let mut parents = vec![root.join(CGROUP_PARENT)];
    if let Ok(hierarchies) = fs::read_dir(root) {
        parents.extend(hierarchies.flatten().map(|h| h.path().join(CGROUP_PARENT)));
    }
    for parent in parents {
        let Ok(children) = fs::read_dir(&parent) else {
            continue;
        };
        for child in children.flatten() {
            if !child.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let id = child.file_name().to_string_lossy().into_owned();
            match found.iter_mut().find(|(i, _)| *i == id) {
                Some((_, dirs)) => dirs.push(child.path()),
                None => found.push((id, vec![child.path()])),
            }
        }
    }
    found
}

/// Kills every process in the cgroup (its directories in each hierarchy), then removes it.
/// A container's init is PID 1 of its namespace: when it dies the kernel kills the rest.
fn kill_and_remove(dirs: &[PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut any = false;
        for dir in dirs {
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                any = true;
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        if !any || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for dir in dirs {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match fs::remove_dir(dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!(cgroup = %dir.display(), error = %e, "cannot remove a cgroup");
                    break;
                }
                _ => break,
            }
        }
    }
}
