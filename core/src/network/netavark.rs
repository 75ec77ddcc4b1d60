//! netavark's interface: the options it reads on stdin (`NetworkOptions`), the status it
//! prints, and running `netavark setup|teardown NETNS`. Field names are netavark's.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::record::Network;

/// Where Debian, Fedora and others install the two binaries.
const NETAVARK_PATHS: &[&str] = &[
    "/usr/lib/podman/netavark",
    "/usr/libexec/podman/netavark",
    "/usr/local/lib/podman/netavark",
    "/usr/local/libexec/podman/netavark",
];
const AARDVARK_PATHS: &[&str] = &[
    "/usr/lib/podman/aardvark-dns",
    "/usr/libexec/podman/aardvark-dns",
    "/usr/local/lib/podman/aardvark-dns",
    "/usr/local/libexec/podman/aardvark-dns",
];

/// Where the host-wide netavark lock lives.
const HOST_LOCK_DIR: &str = "/run/lock";

/// The options of one container for `setup` and `teardown`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Options {
    pub container_id: String,
    pub container_name: String,
    /// Network name -> this container on it.
    pub networks: BTreeMap<String, PerNetwork>,
    /// Network name -> the network.
    pub network_info: BTreeMap<String, NetworkInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    /// Upstream name servers for this container's DNS queries (`--dns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<String>>,
}

/// The container on one network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PerNetwork {
    pub aliases: Vec<String>,
    pub interface_name: String,
    pub static_ips: Vec<Ipv4Addr>,
    pub static_mac: Option<String>,
}

/// A network as netavark sees it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkInfo {
    pub name: String,
    pub id: String,
    pub driver: String,
    pub network_interface: String,
    pub subnets: Vec<SubnetInfo>,
    pub ipv6_enabled: bool,
    pub internal: bool,
    pub dns_enabled: bool,
    pub ipam_options: BTreeMap<String, String>,
}

/// One subnet with its gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubnetInfo {
    pub subnet: String,
    pub gateway: Ipv4Addr,
}

/// One published port.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortMapping {
    pub host_ip: String,
    pub container_port: u16,
    pub host_port: u16,
    pub range: u16,
    pub protocol: String,
}

/// What `setup` reports per network.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub interfaces: Option<BTreeMap<String, Interface>>,
}

/// One interface made in the container.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Interface {
    pub mac_address: String,
}

impl NetworkInfo {
    /// netavark's view of a bridge network.
    pub fn of(n: &Network) -> Result<NetworkInfo> {
        let (Some(subnet), Some(gateway)) = (n.subnet, n.gateway) else {
            bail!("network {} is not a bridge network", n.name);
        };
        Ok(NetworkInfo {
            name: n.name.clone(),
            id: n.id.clone(),
            driver: "bridge".into(),
            network_interface: n.bridge.clone(),
            subnets: vec![SubnetInfo {
                subnet: subnet.to_string(),
                gateway,
            }],
            ipv6_enabled: false,
            internal: n.internal,
            dns_enabled: n.dns,
            ipam_options: [("driver".to_string(), "host-local".to_string())].into(),
        })
    }
}

/// The two binaries and where aardvark-dns keeps its state.
#[derive(Debug, Clone)]
pub struct Netavark {
    binary: PathBuf,
    aardvark: PathBuf,
    config_dir: PathBuf,
}

impl Netavark {
    /// Finds netavark and aardvark-dns; `config_dir` is aardvark's state directory.
    pub fn find(config_dir: &Path) -> Result<Netavark> {
        let find = |paths: &[&str], name: &str| -> Result<PathBuf> {
            paths
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{name} not found in {}: bridge networks need the netavark and aardvark-dns packages (apt-get install netavark aardvark-dns)",
                        paths.join(", ")
                    )
                })
        };
        Ok(Netavark {
            binary: find(NETAVARK_PATHS, "netavark")?,
            aardvark: find(AARDVARK_PATHS, "aardvark-dns")?,
            config_dir: config_dir.to_path_buf(),
        })
    }

    /// `netavark setup NETNS`: interfaces, addresses, routes, NAT, port forwards, DNS.
    pub fn setup(&self, netns: &Path, options: &Options) -> Result<BTreeMap<String, Status>> {
        let out = self.run("setup", netns, options)?;
        serde_json::from_slice(&out).with_context(|| {
            format!(
                "reading netavark's answer {:?}",
                String::from_utf8_lossy(&out)
            )
        })
    }

    /// `netavark teardown NETNS`: undoes `setup` for the networks in `options`; the bridge
    /// and the DNS server go with their last container.
    pub fn teardown(&self, netns: &Path, options: &Options) -> Result<()> {
        self.run("teardown", netns, options).map(drop)
    }

    fn run(&self, verb: &str, netns: &Path, options: &Options) -> Result<Vec<u8>> {
        std::fs::create_dir_all(&self.config_dir)
            .with_context(|| format!("creating {}", self.config_dir.display()))?;
        // The firewall is the host's, shared by every engine (and data root) on it, and
        // netavark's iptables changes race ("Chain already exists"): one at a time.
        std::fs::create_dir_all(HOST_LOCK_DIR)
            .with_context(|| format!("creating {HOST_LOCK_DIR}"))?;
        let _host_lock = graph::store_lock::StoreLock::exclusive(
            &Path::new(HOST_LOCK_DIR).join("engine-netavark.lock"),
        )?;
        reap_aardvark_zombies();
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--config")
            .arg(&self.config_dir)
            .arg("--aardvark-binary")
            .arg(&self.aardvark)
            .arg("--rootless")
            .arg("false")
            .arg(verb)
            .arg(netns)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: close_range is async-signal-safe. aardvark-dns, which netavark may start,
        // lives on; it must not inherit our descriptors (lock files, pipes others wait on).
        unsafe {
            cmd.pre_exec(|| {
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("running {}", self.binary.display()))?;
        let input = serde_json::to_vec(options)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(&input)
                .context("writing netavark's options")?;
        }
        let out = child.wait_with_output().context("waiting for netavark")?;
        reap_aardvark_zombies();
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr);
            let msg = msg.trim();
            let msg = if msg.is_empty() {
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            } else {
                msg.to_string()
            };
            bail!("netavark {verb} failed ({}): {msg}", out.status);
        }
        tracing::debug!(verb, netns = %netns.display(), "netavark done");
        Ok(out.stdout)
    }
}

/// aardvark-dns daemonizes; as this process may be a child subreaper (it runs containers),
/// the server is re-parented to it, and when it exits (its last container gone) it is ours
/// to reap. Only exited aardvark-dns children are reaped here: other children belong to
/// whoever waits for them.
fn reap_aardvark_zombies() {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "PID (comm) STATE ..."
            let zombie_aardvark = stat.contains("(aardvark-dns)")
                && stat
                    .rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            if zombie_aardvark {
                let _ = nix::sys::wait::waitpid(
                    nix::unistd::Pid::from_raw(pid),
                    Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                );
            }
        }
    }
}
