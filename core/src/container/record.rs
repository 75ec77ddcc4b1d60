//! What is stored about one container (`config.json`), shaped like Docker's `config.v2.json`
//! so `inspect` can show it almost as it is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Docker's zero time, shown as `FinishedAt` before a container has ended.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One container.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The command run (first of entrypoint + cmd).
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Run state, kept by the monitor.
    pub state: State,
    /// The image id (`sha256:...`).
    pub image: String,
    /// "/name".
    pub name: String,
    /// How often the restart policy restarted it.
    pub restart_count: u32,
    /// The storage driver the writable layer lives on.
    pub driver: String,
    /// SELinux label (always empty here).
    #[serde(default)]
    pub mount_label: String,
    /// The container's configuration (image config merged with the run flags).
    pub config: Config,
    /// Host-side settings.
    pub host_config: HostConfig,
    /// Bind mounts and volumes, resolved to host paths.
    #[serde(default)]
    pub mounts: Vec<MountPoint>,
    /// Published ports actually bound.
    #[serde(default)]
    pub network_settings: NetworkSettings,
    /// Set by `stop`/`kill`, so `always` and `unless-stopped` do not restart it.
    #[serde(default)]
    pub has_been_manually_stopped: bool,
    /// Path of the generated /etc/hostname.
    pub hostname_path: String,
    /// Path of the generated /etc/hosts.
    pub hosts_path: String,
    /// Path of the generated /etc/resolv.conf.
    pub resolv_conf_path: String,
    /// The json-file log.
    pub log_path: String,
}

impl Record {
    /// What an `exec` sees: the container's settings with the exec's user, working directory
    /// and environment (an exec's `KEY=value` replaces the container's `KEY`) over them.
    pub fn exec_overrides(&mut self, user: Option<&str>, workdir: Option<&str>, env: &[String]) {
        if let Some(u) = user.filter(|u| !u.is_empty()) {
            self.config.user = u.to_string();
        }
        if let Some(w) = workdir.filter(|w| !w.is_empty()) {
            self.config.working_dir = w.to_string();
        }
        for e in env {
            let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
            self.config
                .env
                .retain(|x| x.split_once('=').map(|(k, _)| k) != Some(key));
            self.config.env.push(e.clone());
        }
    }

    /// The name without its leading slash.
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    /// The first 12 hex digits of the id.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// Docker's `State`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    /// created, running, paused, restarting, exited, dead.
    pub status: String,
    /// The init process is running.
    pub running: bool,
    /// Frozen by `pause` (status "paused", still running).
    pub paused: bool,
    /// Waiting out the restart backoff.
    pub restarting: bool,
    /// The last exit was an OOM kill.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Removal failed half-way.
    pub dead: bool,
    /// Host pid of the init while running, else 0.
    pub pid: i32,
    /// The last exit code.
    pub exit_code: i32,
    /// Why the last start failed.
    pub error: String,
    /// RFC 3339 time of the last start.
    pub started_at: String,
    /// RFC 3339 time of the last exit.
    pub finished_at: String,
    /// Health check results, once a container with a health check has started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Health>,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: "created".into(),
            running: false,
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            health: None,
        }
    }
}

/// Docker's container `Config`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// The hostname inside.
    pub hostname: String,
    /// `--domainname`: the NIS domain name inside.
    #[serde(default)]
    pub domainname: String,
    /// `-u`.
    pub user: String,
    /// `-i`.
    pub open_stdin: bool,
    /// `-t`.
    pub tty: bool,
    /// Ports exposed by the image or published.
    #[serde(default)]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    /// `KEY=value`.
    pub env: Vec<String>,
    /// The command (after the entrypoint).
    pub cmd: Option<Vec<String>>,
    /// The entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// The image as the user named it.
    pub image: String,
    /// The working directory.
    pub working_dir: String,
    /// Labels of the image.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Anonymous volumes: `-v /path` and the image's `VOLUME`s (Docker's `Config.Volumes`).
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// The signal `stop` sends first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL when not told (`--stop-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// The health check (the image's `HEALTHCHECK` under `--health-*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<super::health::HealthConfig>,
}

/// Docker's `HostConfig` (the parts this engine uses).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// `-v` as given.
    pub binds: Vec<String>,
    /// none, host or bridge.
    pub network_mode: String,
    /// `-p`: "80/tcp" -> bindings.
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// `--restart`.
    pub restart_policy: RestartPolicy,
    /// `--rm`.
    pub auto_remove: bool,
    /// `-m` in bytes (0: none).
    pub memory: i64,
    /// `--memory-swap` in bytes (0: default, -1: unlimited).
    pub memory_swap: i64,
    /// `--storage-opt`.
    #[serde(default)]
    pub storage_opt: BTreeMap<String, String>,
    /// Capabilities, devices, seccomp, read-only root, tmpfs and CPU/pids limits.
    #[serde(flatten)]
    pub confinement: super::confinement::Confinement,
    /// Swappiness, memory reservation, OOM score, groups, DNS options, cgroup namespace,
    /// log and volume drivers.
    #[serde(flatten)]
    pub options: super::host_options::HostOptions,
    /// `--dns`: name servers for /etc/resolv.conf (or upstreams of the network's DNS).
    #[serde(default, rename = "Dns")]
    pub dns: Vec<String>,
    /// `--dns-search`.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// `--add-host HOST:IP`, as "HOST:IP".
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// `-P`: every exposed port on a random host port.
    #[serde(default)]
    pub publish_all_ports: bool,
    /// `--ipc`: "private" (or ""), "shareable", "host", "container:ID".
    #[serde(default)]
    pub ipc_mode: String,
    /// `--pid`: "" (a new one), "host", "container:ID".
    #[serde(default)]
    pub pid_mode: String,
    /// `--uts`: "" or "host".
    #[serde(default, rename = "UTSMode")]
    pub uts_mode: String,
    /// The client's terminal size at create (rows, columns; `[0, 0]`: none), the size of the
    /// container's terminal when it starts.
    #[serde(default)]
    pub console_size: [u16; 2],
    /// `--mount` (Docker's `HostConfig.Mounts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<crate::volume::spec::MountSpec>,
    /// `--volumes-from`.
    #[serde(default)]
    pub volumes_from: Option<Vec<String>>,
}

/// One host address a container port is published on.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    /// The host IP ("" means all).
    pub host_ip: String,
    /// The host port ("" or "0" means any free one).
    pub host_port: String,
}

/// `--restart`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// "no", "always", "on-failure", "unless-stopped" ("" means no).
    pub name: String,
    /// For on-failure: at most this many restarts (0: no limit).
    pub maximum_retry_count: u32,
}

/// Docker's `NetworkSettings`: published ports, the network namespace, and one endpoint per
/// network the container is connected to. The top-level address fields mirror the default
/// bridge's endpoint, as Docker's do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// "80/tcp" -> the host addresses bound while running.
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    /// The default bridge's interface, when on it.
    #[serde(default)]
    pub bridge: String,
    /// The network namespace's id while running.
    #[serde(default, rename = "SandboxID")]
    pub sandbox_id: String,
    /// The network namespace's path while running.
    #[serde(default)]
    pub sandbox_key: String,
    /// The default bridge endpoint's id.
    #[serde(default, rename = "EndpointID")]
    pub endpoint_id: String,
    /// The default bridge's gateway.
    #[serde(default)]
    pub gateway: String,
    /// The address on the default bridge.
    #[serde(default, rename = "IPAddress")]
    pub ip_address: String,
    /// Its prefix length.
    #[serde(default, rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    /// Its MAC address.
    #[serde(default)]
    pub mac_address: String,
    /// Network name -> the container's endpoint on it.
    #[serde(default)]
    pub networks: BTreeMap<String, Endpoint>,
}

/// Docker's `EndpointSettings`: the container on one network. The address is reserved for
/// the container from create (or connect) until it is removed (or disconnected), so it
/// keeps its address across restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    /// The address asked for (`--ip`), if any.
    #[serde(default, rename = "IPAMConfig")]
    pub ipam_config: Option<IpamConfig>,
    /// Legacy links (always empty here).
    #[serde(default)]
    pub links: Option<Vec<String>>,
    /// DNS names besides the container's name on this network (`--network-alias`).
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    /// The network's id.
    #[serde(default, rename = "NetworkID")]
    pub network_id: String,
    /// A new id each time the container is attached (start or live connect); empty while
    /// it does not run.
    #[serde(default, rename = "EndpointID")]
    pub endpoint_id: String,
    /// The network's gateway.
    #[serde(default)]
    pub gateway: String,
    /// The container's address on the network.
    #[serde(default, rename = "IPAddress")]
    pub ip_address: String,
    /// The subnet's prefix length.
    #[serde(default, rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    /// No IPv6 here.
    #[serde(default, rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    /// No IPv6 here.
    #[serde(default, rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    /// No IPv6 here.
    #[serde(default, rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    /// The interface's MAC address (derived from the address, as Docker does).
    #[serde(default)]
    pub mac_address: String,
    /// Driver options (none are supported).
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
}

/// `IPAMConfig` of an endpoint: the address the user asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IpamConfig {
    /// `--ip`.
    #[serde(
        default,
        rename = "IPv4Address",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_address: String,
}

/// One bind mount, volume or tmpfs, as `inspect` shows it under `Mounts`, with what the
/// engine keeps besides (hidden from `inspect`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// "bind", "volume" or "tmpfs".
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name (volumes only).
    #[serde(default)]
    pub name: String,
    /// The host path ("" for a tmpfs).
    pub source: String,
    /// The path in the container.
    pub destination: String,
    /// "local" for volumes, else "".
    #[serde(default)]
    pub driver: String,
    /// The mode as given (`-v`'s third field: "ro", "z", "nocopy", ...).
    #[serde(default)]
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// "rprivate" for binds, else "".
    #[serde(default)]
    pub propagation: String,
    /// An anonymous volume (`-v /path`, an image's `VOLUME`): removed with the container by
    /// `rm -v` and `--rm`.
    #[serde(default)]
    pub anonymous: bool,
    /// Fill a new, empty volume with the image's content at the destination (not `nocopy`).
    #[serde(default)]
    pub copy_data: bool,
    /// A tmpfs's mount options (`size=`, `mode=`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs_options: Vec<String>,
}

impl MountPoint {
    /// What `inspect` and `GET /containers/json` show of it (Docker's `MountPoint`).
    pub fn public_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "Type": self.kind,
            "Source": self.source,
            "Destination": self.destination,
            "Mode": self.mode,
            "RW": self.rw,
            "Propagation": self.propagation,
        });
        if self.kind == "volume" {
            v["Name"] = serde_json::json!(self.name);
            v["Driver"] = serde_json::json!(self.driver);
        }
        v
    }
}
