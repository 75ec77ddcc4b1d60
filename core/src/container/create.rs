//! `engine create` (and the first half of `run`): a record from the image config merged with
//! the flags, Docker's way, plus the writable layer and the generated /etc files.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use graph::CreateOpts;
use graph::image::{Image, Reference};

use super::confinement::Confinement;
use super::record::{Config, Endpoint, HostConfig, PortBinding, Record, RestartPolicy, State};
use super::store::ContainerStore;
use super::{NoSuchImage, hello, log, names, restart, share};
use crate::engine::Engine;
use crate::network::endpoints::{self, Mode};
use crate::network::record::DEFAULT_BRIDGE_NETWORK;
use crate::network::store::NetworkStore;
use crate::volume::store::VolumeStore;
use crate::volume::{populate, resolve};

/// A container to create: `run`/`create` flags ([`Request::from_args`]) or the API's create
/// body, parsed; [`create`] merges it with the image's config.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The name asked for (a random one when none).
    pub name: Option<String>,
    /// The image as the user named it.
    pub image: String,
    /// The command (empty: the image's).
    pub cmd: Vec<String>,
    /// The entrypoint: `None` keeps the image's, an empty list clears it.
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE` entries over the image's environment; later keys win.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
    /// Labels over the image's.
    pub labels: BTreeMap<String, String>,
    /// Ports to expose besides the image's and the published ones ("80/tcp").
    pub exposed_ports: Vec<String>,
    /// "80/tcp" -> host bindings.
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// Bytes (0: no limit).
    pub memory: i64,
    /// Bytes (0: default, -1: unlimited).
    pub memory_swap: i64,
    pub restart: RestartPolicy,
    pub auto_remove: bool,
    /// `-v` values.
    pub binds: Vec<String>,
    /// bridge (or default), host, none, container:NAME, or a network's name.
    pub network: String,
    /// `--mount` (`HostConfig.Mounts`).
    pub mounts: Vec<crate::volume::spec::MountSpec>,
    /// `--volumes-from`.
    pub volumes_from: Vec<String>,
    /// Anonymous volumes' destinations (`-v /path`, `Config.Volumes`).
    pub volumes: Vec<String>,
    /// Capabilities, devices, security options and resource limits.
    pub confinement: Confinement,
    /// `--stop-signal` (over the image's `STOPSIGNAL`).
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds.
    pub stop_timeout: Option<i64>,
    /// Network aliases and addresses, more networks, DNS, /etc/hosts entries, shared
    /// namespaces.
    pub networking: Networking,
}

/// The networking part of a create request.
#[derive(Debug, Clone, Default)]
pub struct Networking {
    /// `--network-alias`, on the container's network.
    pub aliases: Vec<String>,
    /// `--ip`, on the container's network.
    pub ip: Option<String>,
    /// Networks besides the container's own (the API's `EndpointsConfig`), by name.
    pub more: BTreeMap<String, EndpointRequest>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--dns-search`.
    pub dns_search: Vec<String>,
    /// `--add-host HOST:IP`.
    pub extra_hosts: Vec<String>,
    /// `-P`.
    pub publish_all: bool,
    /// `--ipc`, `--pid`, `--uts`.
    pub ipc: String,
    pub pid: String,
    pub uts: String,
    /// Accept a network that does not exist (yet): the start refuses it, as dockerd 20.10
    /// does for the API (Docker's CLI takes a 404 at create for a missing image).
    pub missing_network_at_start: bool,
}

/// The container on one more network.
#[derive(Debug, Clone, Default)]
pub struct EndpointRequest {
    pub aliases: Vec<String>,
    pub ip: Option<String>,
}

/// Creates the container `req` describes; returns its record and warnings to print.
pub fn create(
    engine: &Engine,
    store: &ContainerStore,
    req: &Request,
) -> Result<(Record, Vec<String>)> {
    let mut warnings = Vec::new();
    let policy = req.restart.clone();
    if req.auto_remove && restart::is_set(&policy) {
        bail!("Conflicting options: cannot specify both --restart and --rm");
    }
    check_memory(req.memory, req.memory_swap)?;
    if let Some(sig) = req.stop_signal.as_deref().filter(|s| !s.is_empty()) {
        runtime::parse_signal(sig).with_context(|| format!("invalid --stop-signal {sig:?}"))?;
    }
    let (memory, memory_swap) = (req.memory, req.memory_swap);
    let image = find_image(engine, &req.image)?;
    let nets = NetworkStore::open(&engine.settings.data_root, &engine.settings.network)?;
    let net = &req.networking;
    let (network_mode, joined) = network_mode(store, &nets, req)?;
    let mode = Mode::of(&network_mode);
    warnings.extend(req.confinement.validate(&network_mode, memory)?);
    let mut port_bindings = req.port_bindings.clone();
    if !port_bindings.is_empty() || net.publish_all {
        match mode {
            Mode::Host => {
                warnings.push(
                    "WARNING: Published ports are discarded when using host network mode".into(),
                );
                port_bindings.clear();
            }
            Mode::None | Mode::Container(_) => {
                bail!("conflicting options: port publishing and the container type network mode")
            }
            Mode::Network(_) => {}
        }
    }
    check_networking(net, &mode, req.hostname.as_deref())?;
    let ipc_mode = share::resolve_mode(
        store,
        "IPC",
        &net.ipc,
        &["", "private", "shareable", "host", "container:"],
    )?;
    let pid_mode = share::resolve_mode(store, "PID", &net.pid, &["", "host", "container:"])?;
    let uts_mode = share::resolve_mode(store, "UTS", &net.uts, &["", "host"])?;
    if uts_mode == "host" && req.hostname.as_ref().is_some_and(|h| !h.is_empty()) {
        bail!("conflicting options: hostname and the UTS mode");
    }
    let image_config = image.config.config.clone().unwrap_or_default();
    let env = merge_env(image_config.env.as_deref().unwrap_or(&[]), &req.env)?;
    let (entrypoint, cmd) = match &req.entrypoint {
        Some(e) if e.is_empty() => (None, non_empty(req.cmd.clone())),
        Some(e) => (Some(e.clone()), non_empty(req.cmd.clone())),
        None => (
            image_config.entrypoint.clone().filter(|e| !e.is_empty()),
            non_empty(req.cmd.clone()).or(image_config.cmd.clone()),
        ),
    };
    let full: Vec<String> = entrypoint
        .iter()
        .flatten()
        .chain(cmd.iter().flatten())
        .cloned()
        .collect();
    let Some((path, cmd_args)) = full.split_first() else {
        bail!("No command specified");
    };
    let mut exposed = image_config.exposed_ports.clone().unwrap_or_default();
    for key in port_bindings.keys().chain(&req.exposed_ports) {
        exposed.insert(key.clone(), serde_json::json!({}));
    }
    let id = random_id();
    let hostname = match (req.hostname.as_ref().filter(|h| !h.is_empty()), &mode) {
        (Some(h), _) => h.clone(),
        (None, _) if mode == Mode::Host || uts_mode == "host" => nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into()),
        // Docker gives a container on another's network that one's hostname.
        (None, Mode::Container(_)) => joined
            .as_ref()
            .map(|o| o.config.hostname.clone())
            .unwrap_or_else(|| id[..12].to_string()),
        (None, _) => id[..12].to_string(),
    };
    let dir = store.dir(&id);
    // Held until the container is recorded: no volume it takes can be removed before then.
    let volumes = VolumeStore::open(&engine.settings.data_root)?;
    let volumes_lock = volumes.lock()?;
    let mut anonymous: Vec<String> = req.volumes.clone();
    for dst in image_config.volumes.iter().flat_map(|v| v.keys()) {
        if !anonymous.contains(dst) {
            anonymous.push(dst.clone());
        }
    }
    let mounts = resolve::resolve(
        &volumes,
        store,
        &resolve::Wanted {
            binds: &req.binds,
            mounts: &req.mounts,
            volumes_from: &req.volumes_from,
            anonymous: &anonymous,
        },
    )?;
    let config_volumes = (!anonymous.is_empty()).then(|| {
        anonymous
            .iter()
            .map(|d| (d.clone(), serde_json::json!({})))
            .collect()
    });
    let mut labels = image_config.labels.clone().unwrap_or_default();
    labels.extend(req.labels.clone());
    let record = Record {
        id: id.clone(),
        created: log::now(),
        path: path.clone(),
        args: cmd_args.to_vec(),
        state: State::default(),
        image: image.id.to_string(),
        name: String::new(),
        restart_count: 0,
        driver: engine.driver.name().to_string(),
        mount_label: String::new(),
        config: Config {
            hostname: hostname.clone(),
            user: req.user.clone().unwrap_or(image_config.user.clone()),
            open_stdin: req.open_stdin,
            tty: req.tty,
            exposed_ports: exposed,
            env,
            cmd,
            entrypoint,
            image: req.image.clone(),
            working_dir: req
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or(image_config.working_dir.clone()),
            labels,
            stop_signal: req
                .stop_signal
                .clone()
                .filter(|s| !s.is_empty())
                .or(image_config.stop_signal.clone()),
            stop_timeout: req.stop_timeout,
            volumes: config_volumes,
        },
        host_config: HostConfig {
            binds: req.binds.clone(),
            network_mode: network_mode.clone(),
            port_bindings,
            restart_policy: policy,
            auto_remove: req.auto_remove,
            memory,
            memory_swap,
            storage_opt: BTreeMap::new(),
            mounts: req.mounts.clone(),
            volumes_from: (!req.volumes_from.is_empty()).then(|| req.volumes_from.clone()),
            confinement: req.confinement.clone(),
            dns: net.dns.clone(),
            dns_search: net.dns_search.clone(),
            extra_hosts: net.extra_hosts.clone(),
            publish_all_ports: net.publish_all,
            ipc_mode,
            pid_mode,
            uts_mode,
        },
        mounts,
        network_settings: Default::default(),
        has_been_manually_stopped: false,
        hostname_path: dir.join("hostname").to_string_lossy().into_owned(),
        hosts_path: dir.join("hosts").to_string_lossy().into_owned(),
        resolv_conf_path: dir.join("resolv.conf").to_string_lossy().into_owned(),
        log_path: dir
            .join(format!("{id}-json.log"))
            .to_string_lossy()
            .into_owned(),
    };
    let forget_volumes = |record: &Record| {
        for m in record.mounts.iter().filter(|m| m.anonymous) {
            let _ = volumes.remove_locked(&m.name, &[]);
        }
    };
    if !record.config.working_dir.is_empty() && !record.config.working_dir.starts_with('/') {
        forget_volumes(&record);
        bail!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            record.config.working_dir
        );
    }
    let registered = (|| -> Result<Record> {
        // Addresses are reserved and the record stored under the networks' lock, so no other
        // container takes the same address meanwhile.
        let nets_lock = nets.lock()?;
        let mut record = record.clone();
        record.network_settings.networks = reserve_endpoints(store, &nets, req, &record.id, &mode)?;
        let record = register(store, record, req.name.as_deref().filter(|n| !n.is_empty()))?;
        drop(nets_lock);
        Ok(record)
    })();
    let record = match registered {
        Ok(r) => r,
        Err(e) => {
            forget_volumes(&record);
            return Err(e);
        }
    };
    drop(volumes_lock);
    if let Err(e) = materialize(engine, store, &nets, &record, &image) {
        let _ = engine.layers.remove_rw(&record.id);
        let _ = store.remove(&record.id);
        let _lock = volumes.lock();
        forget_volumes(&record);
        return Err(e);
    }
    crate::events::container(&engine.settings.data_root, "create", &record);
    Ok((record, warnings))
}

/// Takes the name (given or random) and stores the record, under the names lock.
fn register(store: &ContainerStore, mut record: Record, name: Option<&str>) -> Result<Record> {
    let _lock = store.lock_names()?;
    match name {
        Some(n) => {
            names::validate(n)?;
            let wanted = format!("/{}", n.trim_start_matches('/'));
            if let Some(other) = store.by_name(&wanted)? {
                return Err(crate::error::EngineError::conflict(format!(
                    "Conflict. The container name \"{wanted}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.id
                ))
                .into());
            }
            record.name = wanted;
        }
        None => {
            let mut retry = 0;
            loop {
                let candidate = format!("/{}", names::random(retry));
                if store.by_name(&candidate)?.is_none() {
                    record.name = candidate;
                    break;
                }
                retry += 1;
            }
        }
    }
    store.create(&record)?;
    Ok(record)
}

/// The network mode to store, with a `container:NAME` resolved to the full id (and that
/// container), and a network name checked (a missing one fails, or waits for the start
/// through the API).
fn network_mode(
    store: &ContainerStore,
    nets: &NetworkStore,
    req: &Request,
) -> Result<(String, Option<Record>)> {
    Ok(match Mode::of(&req.network) {
        Mode::Host => ("host".into(), None),
        Mode::None => ("none".into(), None),
        Mode::Container(name) => {
            if name.is_empty() {
                bail!("invalid network mode \"container:\": a container name or id is needed");
            }
            let other = store.resolve(&name)?;
            (format!("container:{}", other.id), Some(other))
        }
        Mode::Network(name) => match nets.find(&name) {
            Ok(n) if n.driver == "host" => ("host".into(), None),
            Ok(n) if n.driver == "null" => ("none".into(), None),
            Ok(n) => (n.name, None),
            Err(_) if req.networking.missing_network_at_start => (name, None),
            Err(e) => return Err(e),
        },
    })
}

/// Docker's refusals of network flags that the mode makes meaningless.
fn check_networking(net: &Networking, mode: &Mode, hostname: Option<&str>) -> Result<()> {
    let user_network = matches!(mode, Mode::Network(n) if n != DEFAULT_BRIDGE_NETWORK);
    if !net.aliases.is_empty() && !user_network {
        bail!("network-scoped alias is supported only for containers in user defined networks");
    }
    if net.ip.is_some() && !user_network {
        bail!("user specified IP address is supported on user defined networks only");
    }
    if let Mode::Container(_) = mode {
        if hostname.is_some_and(|h| !h.is_empty()) {
            bail!("conflicting options: hostname and the network mode");
        }
        if !net.dns.is_empty() || !net.dns_search.is_empty() {
            bail!("conflicting options: dns and the network mode");
        }
        if !net.extra_hosts.is_empty() {
            bail!("conflicting options: custom host-to-IP mapping and the network mode");
        }
    }
    if !net.more.is_empty() && !matches!(mode, Mode::Network(_)) {
        bail!(
            "container cannot be connected to multiple networks with one of the networks in private (none) mode or host mode"
        );
    }
    for h in &net.extra_hosts {
        let Some((host, ip)) = h.split_once(':') else {
            bail!("bad format for add-host: {h:?} (want HOST:IP)");
        };
        if host.is_empty() || ip.parse::<std::net::IpAddr>().is_err() {
            bail!("invalid IP address in add-host: {ip:?}");
        }
    }
    for d in &net.dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            bail!("{d} is not an ip address");
        }
    }
    Ok(())
}

/// The container's endpoints: its own network (with `--network-alias`, `--ip`) and the
/// API's further networks. The caller holds the networks' lock.
fn reserve_endpoints(
    store: &ContainerStore,
    nets: &NetworkStore,
    req: &Request,
    id: &str,
    mode: &Mode,
) -> Result<BTreeMap<String, Endpoint>> {
    let mut out = BTreeMap::new();
    let Mode::Network(primary) = mode else {
        return Ok(out);
    };
    let parse_ip = |ip: &Option<String>| -> Result<Option<std::net::Ipv4Addr>> {
        ip.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .map_err(|_| anyhow::anyhow!("invalid IPv4 address: {s}"))
            })
            .transpose()
    };
    let mut wanted = vec![(
        primary.clone(),
        EndpointRequest {
            aliases: req.networking.aliases.clone(),
            ip: req.networking.ip.clone(),
        },
    )];
    for (name, ep) in &req.networking.more {
        match wanted.iter_mut().find(|(n, _)| n == name) {
            Some((_, first)) => {
                first.aliases.extend(ep.aliases.iter().cloned());
                if ep.ip.is_some() {
                    first.ip = ep.ip.clone();
                }
            }
            None => wanted.push((name.clone(), ep.clone())),
        }
    }
    for (name, ep) in wanted {
        let network = match nets.find(&name) {
            Ok(n) => n,
            Err(_) if req.networking.missing_network_at_start => continue,
            Err(e) => return Err(e),
        };
        let endpoint = endpoints::reserve(store, &network, id, parse_ip(&ep.ip)?, &ep.aliases)?;
        out.insert(network.name.clone(), endpoint);
    }
    Ok(out)
}

/// The writable layer, the /etc files and the volumes' directories.
fn materialize(
    engine: &Engine,
    store: &ContainerStore,
    nets: &NetworkStore,
    record: &Record,
    image: &Image,
) -> Result<()> {
    engine
        .layers
        .create_rw(
            &record.id,
            image.top_layer().as_ref(),
            &CreateOpts::default(),
        )
        .context("creating the container's writable layer")?;
    let hostname = format!("{}\n", record.config.hostname);
    write(&record.hostname_path, hostname.as_bytes())?;
    crate::network::sandbox::write_etc(store, nets, record)?;
    if populate::wanted(&record.mounts) {
        let rootfs = engine
            .layers
            .mount_rw(&record.id)
            .context("mounting the container's filesystem")?;
        let volumes = VolumeStore::open(&engine.settings.data_root)?;
        let copied = populate::populate(&volumes, &rootfs, &record.mounts);
        let released = engine.layers.unmount_rw(&record.id);
        copied?;
        released?;
    }
    Ok(())
}

fn write(path: &str, data: &[u8]) -> Result<()> {
    graph::atomic_file::write_atomic(Path::new(path), data)?;
    Ok(())
}

/// Finds the image to run; `hello-world` falls back to the built-in one.
fn find_image(engine: &Engine, name: &str) -> Result<Image> {
    match engine.images.resolve(name) {
        Ok(image) => Ok(image),
        Err(e) if e.kind() == graph::ErrorKind::NotFound => {
            let reference = Reference::parse(name).ok();
            let familiar = reference
                .as_ref()
                .map(|r| {
                    if r.tag().is_none() && r.digest().is_none() {
                        r.with_tag("latest").familiar()
                    } else {
                        r.familiar()
                    }
                })
                .unwrap_or_else(|| name.to_string());
            if familiar == "hello-world:latest" {
                return hello::ensure(engine);
            }
            Err(NoSuchImage(familiar).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Docker's checks of `-m` and `--memory-swap`.
pub(crate) fn check_memory(memory: i64, swap: i64) -> Result<()> {
    if memory != 0 && memory < runtime::MIN_MEMORY as i64 {
        bail!("Minimum memory limit allowed is 6MB");
    }
    if swap > 0 {
        if memory == 0 {
            bail!("You should always set the Memory limit when using Memoryswap limit, see usage");
        }
        if swap < memory {
            bail!("Minimum memoryswap limit should be larger than memory limit, see usage");
        }
    }
    Ok(())
}

/// The image's environment, then the given entries; later keys win.
fn merge_env(image_env: &[String], given: &[String]) -> Result<Vec<String>> {
    let mut env: Vec<String> = image_env.to_vec();
    for entry in given {
        let Some((key, _)) = entry.split_once('=') else {
            bail!("invalid environment variable: {entry} (want KEY=VALUE)");
        };
        if key.is_empty() {
            bail!("invalid environment variable: {entry}");
        }
        env.retain(|x| x.split_once('=').map(|(k, _)| k) != Some(key));
        env.push(entry.clone());
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={}", runtime::DEFAULT_PATH));
    }
    Ok(env)
}

fn non_empty(v: Vec<String>) -> Option<Vec<String>> {
    (!v.is_empty()).then_some(v)
}

/// A random 64-hex-digit id.
pub fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
