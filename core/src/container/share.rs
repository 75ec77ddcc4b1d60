//! Namespaces shared with the host or another container: `--network container:ID`,
//! `--ipc container:ID|shareable|host`, `--pid container:ID|host`, `--uts host` (what pod
//! sandboxes need). The other container must be running; its namespaces are joined
//! through its init's /proc entries. With `--ipc container:ID` System V IPC and POSIX
//! message queues are shared; the other's /dev/shm (a mount in its mount namespace) is not.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use runtime::{BindMount, ContainerSpec, Namespace, Network};

use super::record::Record;
use super::store::ContainerStore;
use crate::network::endpoints::Mode;

/// The running container `id` (a full id, as stored in the modes).
fn running(store: &ContainerStore, id: &str, what: &str) -> Result<Record> {
    let other = store.resolve(id)?;
    if !other.state.running || other.state.pid <= 0 || !store.monitor_alive(&other.id) {
        bail!(
            "cannot join {what} of a non running container: {}",
            other.id
        );
    }
    Ok(other)
}

/// Fills the spec's shared namespaces from the record's modes.
pub fn apply(store: &ContainerStore, record: &Record, spec: &mut ContainerSpec) -> Result<()> {
    let hc = &record.host_config;
    if let Mode::Container(id) = Mode::of(&hc.network_mode) {
        let other = running(store, &id, "network namespace")?;
        let key = PathBuf::from(&other.network_settings.sandbox_key);
        let path = if !other.network_settings.sandbox_key.is_empty() && key.exists() {
            key
        } else {
            PathBuf::from(format!("/proc/{}/ns/net", other.state.pid))
        };
        spec.network = if other.host_config.network_mode == "host" {
            Network::Host
        } else {
            Network::Join(path)
        };
        // Docker shares the other's /etc/hosts and /etc/resolv.conf too.
        for (theirs, ours) in [
            (&other.hosts_path, &record.hosts_path),
            (&other.resolv_conf_path, &record.resolv_conf_path),
        ] {
            if let Ok(data) = std::fs::read(theirs) {
                graph::atomic_file::write_atomic(Path::new(ours), &data)?;
            }
        }
    }
    spec.namespaces.ipc = match hc.ipc_mode.as_str() {
        "" | "private" | "shareable" => Namespace::Private,
        "host" => {
            spec.mounts.push(BindMount {
                source: "/dev/shm".into(),
                destination: "/dev/shm".into(),
                readonly: false,
            });
            Namespace::Host
        }
        mode => match mode.strip_prefix("container:") {
            Some(id) => {
                let other = running(store, id, "IPC namespace")?;
                if other.host_config.ipc_mode != "shareable" && other.host_config.ipc_mode != "host"
                {
                    bail!(
                        "cannot join IPC of container {}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)",
                        other.id
                    );
                }
                // System V IPC is shared through the namespace; the other's /dev/shm is a
                // mount in its own mount namespace, which cannot be bound across.
                Namespace::Join(PathBuf::from(format!("/proc/{}/ns/ipc", other.state.pid)))
            }
            None => bail!("invalid IPC mode: {mode}"),
        },
    };
    spec.namespaces.pid = match hc.pid_mode.as_str() {
        "" => Namespace::Private,
        "host" => Namespace::Host,
        mode => match mode.strip_prefix("container:") {
            Some(id) => {
                let other = running(store, id, "PID namespace")?;
                Namespace::Join(PathBuf::from(format!("/proc/{}/ns/pid", other.state.pid)))
            }
            None => bail!("invalid PID mode: {mode}"),
        },
    };
    spec.namespaces.uts = match hc.uts_mode.as_str() {
        "" => Namespace::Private,
        "host" => {
            spec.hostname = None;
            Namespace::Host
        }
        mode => bail!("invalid UTS mode: {mode}"),
    };
    Ok(())
}

/// Checks a mode of `--ipc`, `--pid` or `--uts` and resolves a `container:NAME` in it to the
/// container's full id (Docker stores the id).
pub fn resolve_mode(
    store: &ContainerStore,
    flag: &str,
    mode: &str,
    allowed: &[&str],
) -> Result<String> {
    if allowed.contains(&mode) {
        return Ok(mode.to_string());
    }
    if let Some(name) = mode.strip_prefix("container:")
        && allowed.contains(&"container:")
    {
        let other = store.resolve(name)?;
        return Ok(format!("container:{}", other.id));
    }
    let mut shown: Vec<&str> = allowed.iter().copied().filter(|a| !a.is_empty()).collect();
    if let Some(c) = shown.iter_mut().find(|a| **a == "container:") {
        *c = "container:ID";
    }
    bail!("invalid {flag} mode {mode:?}: use {}", shown.join(", "))
}
