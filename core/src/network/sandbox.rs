//! A container's network namespace on bridge networks: made by the engine (a bind-mounted
//! nsfs file `<data-root>/netns/<id>`), wired by `netavark setup`, joined by the runtime,
//! and undone by `netavark teardown` when the container stops. The options netavark was
//! given are kept next to it (`<id>.json`) until the teardown, so whoever finds the
//! namespace without a living monitor (the sweep) can undo exactly what was done.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use graph::atomic_file::write_atomic;
use graph::store_lock::StoreLock;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::endpoints::{self, Mode};
use super::netavark::{Netavark, NetworkInfo, Options, PerNetwork, PortMapping};
use super::record::{DEFAULT_BRIDGE_NETWORK, Network};
use super::store::NetworkStore;
use crate::container::record::Record;
use crate::container::store::ContainerStore;
use crate::engine::Engine;

/// Where namespaces, their options and aardvark-dns's state live.
pub fn dir(data_root: &Path) -> PathBuf {
    data_root.join("netns")
}

fn ns_path(data_root: &Path, id: &str) -> PathBuf {
    dir(data_root).join(id)
}

fn options_path(data_root: &Path, id: &str) -> PathBuf {
    dir(data_root).join(format!("{id}.json"))
}

fn lock(data_root: &Path, id: &str) -> Result<StoreLock> {
    Ok(StoreLock::exclusive(
        &dir(data_root).join(format!("{id}.lock")),
    )?)
}

/// netavark with aardvark-dns's state under the data root.
pub fn netavark(data_root: &Path) -> Result<Netavark> {
    Netavark::find(&dir(data_root).join("aardvark"))
}

/// Makes a new network namespace and pins it at `path` with a bind mount, from a thread
/// that exists only for that (unshare changes the calling thread's namespace).
fn create_netns(path: &Path) -> Result<()> {
    fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> Result<()> {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET).context("unshare the network namespace")?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| {
            format!(
                "bind-mounting the network namespace on {}",
                target.display()
            )
        })
    })
    .join()
    .map_err(|_| anyhow!("the namespace thread panicked"))?;
    if made.is_err() {
        let _ = fs::remove_file(path);
    }
    made
}

fn remove_netns(path: &Path) {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot unmount the network namespace")
        }
    }
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove the network namespace file");
    }
}

/// A container's networks as netavark options: the primary network as eth0, the others
/// as eth1, eth2, ... in name order; its name, aliases and short id as DNS names.
fn options(record: &Record, nets: &NetworkStore, ports: &[PortMapping]) -> Result<Options> {
    let mut opts = Options {
        container_id: record.id.clone(),
        container_name: record.short_name().to_string(),
        port_mappings: ports.to_vec(),
        dns_servers: (!record.host_config.dns.is_empty()).then(|| record.host_config.dns.clone()),
        ..Default::default()
    };
    let primary = match Mode::of(&record.host_config.network_mode) {
        Mode::Network(n) => n,
        _ => return Ok(opts),
    };
    let mut names: Vec<&String> = record.network_settings.networks.keys().collect();
    names.sort_by_key(|n| (**n != primary, (*n).clone()));
    for (i, name) in names.into_iter().enumerate() {
        let ep = &record.network_settings.networks[name];
        let network = nets
            .find(&ep.network_id)
            .map_err(|_| crate::network::no_such_network(name))?;
        opts.networks.insert(
            name.clone(),
            per_network(record, &network, ep, &format!("eth{i}"))?,
        );
        opts.network_info
            .insert(name.clone(), NetworkInfo::of(&network)?);
    }
    Ok(opts)
}

fn per_network(
    record: &Record,
    network: &Network,
    ep: &crate::container::record::Endpoint,
    interface: &str,
) -> Result<PerNetwork> {
    let mut aliases = Vec::new();
    if network.dns {
        aliases.extend(ep.aliases.clone().unwrap_or_default());
        aliases.push(record.short_id().to_string());
    }
    Ok(PerNetwork {
        aliases,
        interface_name: interface.to_string(),
        static_ips: vec![ep.ip_address.parse().with_context(|| {
            format!(
                "container {} has no valid address on {}",
                record.short_id(),
                network.name
            )
        })?],
        static_mac: Some(ep.mac_address.clone()).filter(|m| !m.is_empty()),
    })
}

/// Sets up the container's network namespace for a start; returns its path, or `None` for
/// modes without one of ours (host, none, container:ID). Endpoints get their ids and the
/// record its sandbox key; /etc/hosts and /etc/resolv.conf are rewritten.
pub fn up(
    engine: &Engine,
    store: &ContainerStore,
    record: &Record,
    ports: &[PortMapping],
) -> Result<Option<PathBuf>> {
    let root = &engine.settings.data_root;
    let nets = NetworkStore::open(root, &engine.settings.network)?;
    if !matches!(Mode::of(&record.host_config.network_mode), Mode::Network(_)) {
        write_etc(store, &nets, record)?;
        return Ok(None);
    }
    fs::create_dir_all(dir(root)).with_context(|| format!("creating {}", dir(root).display()))?;
    let record = endpoints::ensure(store, &nets, record)?;
    let opts = options(&record, &nets, ports)?;
    let netavark = netavark(root)?;
    let _lock = lock(root, &record.id)?;
    // A namespace left from a run whose teardown did not happen (a killed monitor).
    undo(root, &netavark, &record.id);
    let path = ns_path(root, &record.id);
    write_atomic(&options_path(root, &record.id), &serde_json::to_vec(&opts)?)?;
    let setup = create_netns(&path).and_then(|()| netavark.setup(&path, &opts));
    let status = match setup {
        Ok(s) => s,
        Err(e) => {
            undo(root, &netavark, &record.id);
            return Err(e.context("setting up the container's network"));
        }
    };
    let sandbox_id = crate::container::create::random_id();
    let updated = store.update(&record.id, |r| {
        r.network_settings.sandbox_key = path.to_string_lossy().into_owned();
        r.network_settings.sandbox_id = sandbox_id.clone();
        for (name, ep) in r.network_settings.networks.iter_mut() {
            ep.endpoint_id = crate::container::create::random_id();
            if let Some(iface) = opts.networks.get(name).and_then(|p| {
                status
                    .get(name)?
                    .interfaces
                    .as_ref()?
                    .get(&p.interface_name)
            }) {
                ep.mac_address = iface.mac_address.clone();
            }
        }
        mirror_default_bridge(r, &nets);
    })?;
    write_etc(store, &nets, &updated)?;
    Ok(Some(path))
}

/// The networks a run of the container is on, as Docker's `network connect` and
/// `disconnect` events name them: its endpoints' networks, or the predefined `host` or
/// `none` for those modes; none for `container:ID`, which joins another's namespace.
pub fn attached(engine: &Engine, record: &Record) -> Vec<Network> {
    let Ok(nets) = NetworkStore::open(&engine.settings.data_root, &engine.settings.network) else {
        return Vec::new();
    };
    match Mode::of(&record.host_config.network_mode) {
        Mode::Container(_) => Vec::new(),
        Mode::Host => nets.find("host").into_iter().collect(),
        Mode::None => nets.find("none").into_iter().collect(),
        Mode::Network(_) => record
            .network_settings
            .networks
            .values()
            .filter_map(|ep| nets.find(&ep.network_id).ok())
            .collect(),
    }
}

/// Records `action` (`connect` or `disconnect`) of the container on each of `networks`.
pub fn report(engine: &Engine, action: &str, networks: &[Network], id: &str) {
    for n in networks {
        crate::events::network(&engine.settings.data_root, action, n, Some(id));
    }
}

/// Docker shows the default bridge's endpoint at the top of `NetworkSettings` too.
fn mirror_default_bridge(r: &mut Record, nets: &NetworkStore) {
    let ns = &mut r.network_settings;
    match ns.networks.get(DEFAULT_BRIDGE_NETWORK) {
        Some(ep) => {
            ns.bridge = nets
                .find(&ep.network_id)
                .map(|n| n.bridge)
                .unwrap_or_default();
            ns.endpoint_id = ep.endpoint_id.clone();
            ns.gateway = ep.gateway.clone();
            ns.ip_address = ep.ip_address.clone();
            ns.ip_prefix_len = ep.ip_prefix_len;
            ns.mac_address = ep.mac_address.clone();
        }
        None => {
            ns.bridge.clear();
            ns.endpoint_id.clear();
            ns.gateway.clear();
            ns.ip_address.clear();
            ns.ip_prefix_len = 0;
            ns.mac_address.clear();
        }
    }
}

/// Writes the container's /etc/hosts and /etc/resolv.conf for the networks it is on.
pub fn write_etc(store: &ContainerStore, nets: &NetworkStore, record: &Record) -> Result<()> {
    let _ = store;
    let networks: Vec<Network> = record
        .network_settings
        .networks
        .values()
        .filter_map(|ep| nets.find(&ep.network_id).ok())
        .collect();
    let hc = &record.host_config;
    let host_gateway = if hc.extra_hosts.iter().any(|h| h.ends_with(":host-gateway")) {
        let gateway = record
            .network_settings
            .networks
            .get(&hc.network_mode)
            .into_iter()
            .chain(record.network_settings.networks.values())
            .map(|ep| ep.gateway.clone())
            .find(|g| !g.is_empty())
            .or_else(|| {
                nets.find(crate::network::record::DEFAULT_BRIDGE_NETWORK)
                    .ok()
                    .and_then(|n| n.gateway)
                    .map(|g| g.to_string())
            });
        if gateway.is_none() {
            anyhow::bail!(
                "--add-host NAME:host-gateway: the container's network has no gateway to resolve host-gateway to"
            );
        }
        gateway
    } else {
        None
    };
    write_atomic(
        Path::new(&record.hosts_path),
        &super::etc::hosts(record, host_gateway.as_deref()),
    )?;
    write_atomic(
        Path::new(&record.resolv_conf_path),
        &super::etc::resolv_conf(record, &networks),
    )?;
    Ok(())
}

/// Tears down the container's namespace after a run: the record forgets the endpoint ids.
pub fn down(engine: &Engine, store: &ContainerStore, id: &str) {
    let root = &engine.settings.data_root;
    if !options_path(root, id).exists() {
        return;
    }
    match netavark(root) {
        Ok(netavark) => {
            if let Ok(_lock) = lock(root, id) {
                undo(root, &netavark, id);
            }
        }
        Err(e) => tracing::warn!(container = %id, error = %e, "cannot tear down the network"),
    }
    let _ = store.update(id, |r| {
        r.network_settings.sandbox_key.clear();
        r.network_settings.sandbox_id.clear();
        r.network_settings.endpoint_id.clear();
        for ep in r.network_settings.networks.values_mut() {
            ep.endpoint_id.clear();
        }
    });
}

/// Forgets a removed container: its namespace lock file.
pub fn forget(data_root: &Path, id: &str) {
    let _ = fs::remove_file(dir(data_root).join(format!("{id}.lock")));
}

/// Undoes what the options file of `id` says was set up. The caller holds its lock.
fn undo(root: &Path, netavark: &Netavark, id: &str) {
    let opts_path = options_path(root, id);
    let path = ns_path(root, id);
    if let Ok(bytes) = fs::read(&opts_path) {
        match serde_json::from_slice::<Options>(&bytes) {
            Ok(opts) if path.exists() => {
                if let Err(e) = netavark.teardown(&path, &opts) {
                    tracing::warn!(container = %id, error = %e, "netavark teardown failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(container = %id, error = %e, "unreadable network options"),
        }
    }
    remove_netns(&path);
    let _ = fs::remove_file(&opts_path);
}

/// Tears down every namespace no monitor owns: what containers killed together with their
/// monitor (or removed since) left behind. Holds the container's monitor lock meanwhile,
/// so no monitor starts it half-way.
pub fn sweep(engine: &Engine, store: &ContainerStore) {
    let root = &engine.settings.data_root;
    let Ok(entries) = fs::read_dir(dir(root)) else {
        return;
    };
    let stale: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .filter(|id| !store.monitor_alive(id))
        .collect();
    if stale.is_empty() {
        return;
    }
    let Ok(netavark) = netavark(root) else {
        return;
    };
    for id in stale {
        let exists = store.dir(&id).exists();
        let monitor = if exists {
            match store.try_monitor_lock(&id) {
                Ok(Some(l)) => Some(l),
                _ => continue,
            }
        } else {
            None
        };
        if let Ok(_lock) = lock(root, &id) {
            tracing::info!(container = %id, "tearing down the network of a container no monitor owns");
            undo(root, &netavark, &id);
        }
        let _ = fs::remove_file(dir(root).join(format!("{id}.lock")));
        drop(monitor);
    }
}

/// Connects a running container's namespace to one more network (the endpoint is in its
/// record already): `netavark setup` for that network alone, on the next free interface.
pub fn connect_live(engine: &Engine, record: &Record, network: &Network) -> Result<()> {
    let root = &engine.settings.data_root;
    let _lock = lock(root, &record.id)?;
    let opts_path = options_path(root, &record.id);
    let Ok(bytes) = fs::read(&opts_path) else {
        return Ok(());
    };
    let mut all: Options = serde_json::from_slice(&bytes)?;
    let ep = record
        .network_settings
        .networks
        .get(&network.name)
        .ok_or_else(|| {
            anyhow!(
                "container {} has no endpoint on {}",
                record.short_id(),
                network.name
            )
        })?;
    let used: Vec<&str> = all
        .networks
        .values()
        .map(|p| p.interface_name.as_str())
        .collect();
    let iface = (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !used.contains(&n.as_str()))
        .unwrap_or_else(|| "eth9".into());
    let one = Options {
        container_id: all.container_id.clone(),
        container_name: all.container_name.clone(),
        networks: [(
            network.name.clone(),
            per_network(record, network, ep, &iface)?,
        )]
        .into(),
        network_info: [(network.name.clone(), NetworkInfo::of(network)?)].into(),
        port_mappings: Vec::new(),
        dns_servers: all.dns_servers.clone(),
    };
    let netavark = netavark(root)?;
    netavark.setup(&ns_path(root, &record.id), &one)?;
    all.networks.extend(one.networks);
    all.network_info.extend(one.network_info);
    write_atomic(&opts_path, &serde_json::to_vec(&all)?)?;
    Ok(())
}

/// Disconnects a running container's namespace from one network.
pub fn disconnect_live(engine: &Engine, id: &str, network: &str) -> Result<()> {
    let root = &engine.settings.data_root;
    let _lock = lock(root, id)?;
    let opts_path = options_path(root, id);
    let Ok(bytes) = fs::read(&opts_path) else {
        return Ok(());
    };
    let mut all: Options = serde_json::from_slice(&bytes)?;
    let (Some(per), Some(info)) = (
        all.networks.remove(network),
        all.network_info.remove(network),
    ) else {
        return Ok(());
    };
    let one = Options {
        container_id: all.container_id.clone(),
        container_name: all.container_name.clone(),
        networks: [(network.to_string(), per)].into(),
        network_info: [(network.to_string(), info)].into(),
        // Published ports go with the primary network; netavark forwards them to every
        // network's address, so they are dropped with any of them.
        port_mappings: all.port_mappings.clone(),
        dns_servers: all.dns_servers.clone(),
    };
    netavark(root)?.teardown(&ns_path(root, id), &one)?;
    write_atomic(&opts_path, &serde_json::to_vec(&all)?)?;
    Ok(())
}
