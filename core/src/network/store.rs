//! The network store: `<data-root>/networks/<id>.json`, one file per network, every write
//! atomic and every change under `<data-root>/networks/.lock`. The same lock covers address
//! allocation, so two processes never hand out one address twice.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use graph::atomic_file::write_atomic;
use graph::store_lock::StoreLock;

use super::record::{DEFAULT_BRIDGE_NETWORK, Network, OPT_BRIDGE_NAME};
use super::subnet::Subnet;
use crate::config::NetworkConfig;

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    /// The network's name.
    pub name: String,
    /// "" means bridge.
    pub driver: String,
    /// `--subnet` (CIDR); one from the default pools when absent.
    pub subnet: Option<String>,
    /// `--gateway`; the subnet's first address when absent.
    pub gateway: Option<String>,
    /// `--ip-range` (refused: not supported).
    pub ip_range: Option<String>,
    /// `--internal`: no route off the network.
    pub internal: bool,
    /// `--attachable` (every local network is; recorded for inspect).
    pub attachable: bool,
    /// `--ipv6` (refused: not supported).
    pub ipv6: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--opt` driver options.
    pub options: BTreeMap<String, String>,
    /// The IPAM driver ("" or "default").
    pub ipam_driver: String,
}

/// The networks under one data root.
#[derive(Debug, Clone)]
pub struct NetworkStore {
    dir: PathBuf,
    config: NetworkConfig,
}

impl NetworkStore {
    /// Opens (creating) `<data_root>/networks` and makes sure the predefined networks exist,
    /// the default bridge as the settings describe it.
    pub fn open(data_root: &Path, config: &NetworkConfig) -> Result<NetworkStore> {
        let dir = data_root.join("networks");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let store = NetworkStore {
            dir,
            config: config.clone(),
        };
        store.ensure_predefined()?;
        Ok(store)
    }

    /// The lock every change of a network, and every address allocation, holds.
    pub fn lock(&self) -> Result<StoreLock> {
        Ok(StoreLock::exclusive(&self.dir.join(".lock"))?)
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn write(&self, n: &Network) -> Result<()> {
        write_atomic(&self.path(&n.id), &serde_json::to_vec_pretty(n)?)?;
        Ok(())
    }

    fn ensure_predefined(&self) -> Result<()> {
        let wanted_bridge = |id: String, created: String| Network {
            name: DEFAULT_BRIDGE_NETWORK.into(),
            id,
            created,
            driver: "bridge".into(),
            subnet: Some(self.config.bridge_subnet),
            gateway: Some(self.config.bridge_gateway),
            ipam_given: true,
            internal: false,
            attachable: false,
            labels: BTreeMap::new(),
            options: default_bridge_options(&self.config.bridge_name),
            bridge: self.config.bridge_name.clone(),
            dns: false,
        };
        let all = self.list()?;
        let bridge = all.iter().find(|n| n.name == DEFAULT_BRIDGE_NETWORK);
        let missing = |name: &str| !all.iter().any(|n| n.name == name);
        let bridge_ok =
            bridge.is_some_and(|b| *b == wanted_bridge(b.id.clone(), b.created.clone()));
        if bridge_ok && !missing("host") && !missing("none") {
            return Ok(());
        }
        let _lock = self.lock()?;
        let all = self.list()?;
        match all.iter().find(|n| n.name == DEFAULT_BRIDGE_NETWORK) {
            Some(b) => {
                let want = wanted_bridge(b.id.clone(), b.created.clone());
                if *b != want {
                    // The settings changed (bip, bridge): the default network follows them,
                    // as Docker's does at daemon start.
                    self.write(&want)?;
                }
            }
            None => self.write(&wanted_bridge(random_id(), now()))?,
        }
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if !all.iter().any(|n| n.name == name) {
                self.write(&Network {
                    name: name.into(),
                    id: random_id(),
                    created: now(),
                    driver: driver.into(),
                    subnet: None,
                    gateway: None,
                    ipam_given: false,
                    internal: false,
                    attachable: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    bridge: String::new(),
                    dns: false,
                })?;
            }
        }
        Ok(())
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        let mut out = Vec::new();
        for entry in
            fs::read_dir(&self.dir).with_context(|| format!("reading {}", self.dir.display()))?
        {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes = match fs::read(&path) {
                Ok(b) => b,
                // Removed since the listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            };
            let n: Network = serde_json::from_slice(&bytes)
                .with_context(|| format!("corrupt network record {}", path.display()))?;
            out.push(n);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Finds a network by full id, name, or unique id prefix, as Docker does.
    pub fn find(&self, s: &str) -> Result<Network> {
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.id == s || n.name == s) {
            return Ok(n.clone());
        }
        let matches: Vec<&Network> = if s.is_empty() {
            Vec::new()
        } else {
            all.iter().filter(|n| n.id.starts_with(s)).collect()
        };
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(crate::network::no_such_network(s).into()),
            _ => bail!(
                "network {s} is ambiguous ({} matches found based on ID prefix)",
                matches.len()
            ),
        }
    }

    /// Creates a user-defined network. The caller holds [`NetworkStore::lock`].
    pub fn create(&self, req: &CreateNetwork) -> Result<Network> {
        validate_name(&req.name)?;
        if !matches!(req.driver.as_str(), "" | "bridge") {
            return Err(crate::error::EngineError::not_found(format!(
                "plugin \"{}\" not found: only the bridge driver is supported",
                req.driver
            ))
            .into());
        }
        if !matches!(req.ipam_driver.as_str(), "" | "default") {
            return Err(crate::error::EngineError::not_found(format!(
                "plugin \"{}\" not found: only the default IPAM driver is supported",
                req.ipam_driver
            ))
            .into());
        }
        if req.ipv6 {
            bail!("--ipv6 is not supported: networks here are IPv4 only");
        }
        if req.ip_range.is_some() {
            bail!("--ip-range is not supported: addresses are allocated from the whole subnet");
        }
        for key in req.options.keys() {
            if key != OPT_BRIDGE_NAME {
                bail!("network option {key:?} is not supported (only {OPT_BRIDGE_NAME})");
            }
        }
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.name == req.name) {
            if n.is_predefined() {
                return Err(crate::error::EngineError::forbidden(format!(
                    "operation is not permitted on predefined {} network ",
                    req.name
                ))
                .into());
            }
            return Err(crate::error::EngineError::conflict(format!(
                "network with name {} already exists",
                req.name
            ))
            .into());
        }
        let (subnet, given) = match &req.subnet {
            Some(s) => {
                let net: Subnet = s.parse().with_context(|| format!("invalid subnet {s:?}"))?;
                if net.prefix() > 30 {
                    bail!(
                        "invalid subnet {s}: at most /30, so there is room for a gateway and a container"
                    );
                }
                if let Some(other) = all
                    .iter()
                    .find(|n| n.subnet.is_some_and(|o| o.overlaps(&net)))
                {
                    return Err(crate::error::EngineError::forbidden(format!(
                        "Pool overlaps with other one on this address space (network {} has {})",
                        other.name,
                        other.subnet.map(|s| s.to_string()).unwrap_or_default()
                    ))
                    .into());
                }
                (net, true)
            }
            None => {
                if req.gateway.is_some() {
                    bail!("a gateway needs a subnet: give --subnet too");
                }
                (self.free_subnet(&all)?, false)
            }
        };
        let gateway = match &req.gateway {
            Some(g) => {
                let addr: Ipv4Addr = g
                    .parse()
                    .with_context(|| format!("invalid gateway {g:?}"))?;
                if !subnet.is_host(addr) {
                    bail!(
                        "no matching subnet for gateway {addr}: it is not a host address of {subnet}"
                    );
                }
                addr
            }
            None => subnet.first_host(),
        };
        let id = random_id();
        let bridge = match req.options.get(OPT_BRIDGE_NAME) {
            Some(b) => {
                if b.is_empty()
                    || b.len() > 15
                    || b.contains('/')
                    || b.contains(char::is_whitespace)
                {
                    bail!("invalid {OPT_BRIDGE_NAME} {b:?}: 1 to 15 characters, no '/' or spaces");
                }
                b.clone()
            }
            None => format!("br-{}", &id[..12]),
        };
        if let Some(other) = all.iter().find(|n| n.bridge == bridge) {
            return Err(crate::error::EngineError::conflict(format!(
                "the bridge interface {bridge} is already used by network {}",
                other.name
            ))
            .into());
        }
        let n = Network {
            name: req.name.clone(),
            id,
            created: now(),
            driver: "bridge".into(),
            subnet: Some(subnet),
            gateway: Some(gateway),
            ipam_given: given,
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.clone(),
            options: req.options.clone(),
            bridge,
            dns: true,
        };
        self.write(&n)?;
        crate::events::network(crate::events::root_of(&self.dir), "create", &n, None);
        Ok(n)
    }

    /// The first subnet of the pools that overlaps no network and no route of the host
    /// (Docker checks the host's routes too, so a pool never shadows a real network).
    fn free_subnet(&self, all: &[Network]) -> Result<Subnet> {
        let routes = host_routes();
        for (pool, size) in &self.config.pools {
            for candidate in pool.split(*size) {
                let clash = all
                    .iter()
                    .any(|n| n.subnet.is_some_and(|s| s.overlaps(&candidate)))
                    || routes.iter().any(|r| r.overlaps(&candidate));
                if !clash {
                    return Ok(candidate);
                }
            }
        }
        bail!(
            "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
        )
    }

    /// Deletes a network's record. The caller holds [`NetworkStore::lock`] and has checked
    /// that no container uses it.
    pub fn remove(&self, n: &Network) -> Result<()> {
        if n.is_predefined() {
            return Err(crate::error::EngineError::forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            ))
            .into());
        }
        let path = self.path(&n.id);
        fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        crate::events::network(crate::events::root_of(&self.dir), "destroy", n, None);
        Ok(())
    }
}

/// An address for a container on `subnet`: `wanted` if free, else the lowest free one.
/// `taken` holds the addresses of the network's other containers; the gateway is never
/// handed out.
pub fn allocate(
    network: &Network,
    wanted: Option<Ipv4Addr>,
    taken: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let (Some(subnet), Some(gateway)) = (network.subnet, network.gateway) else {
        bail!("network {} has no addresses to give", network.name);
    };
    let mut taken = taken.clone();
    taken.insert(gateway);
    match wanted {
        Some(ip) => {
            if !subnet.is_host(ip) {
                bail!(
                    "Invalid address {ip}: It does not belong to any of this network's subnets ({subnet})"
                );
            }
            if taken.contains(&ip) {
                return Err(crate::error::EngineError::conflict(format!(
                    "Address already in use: {ip} on network {}",
                    network.name
                ))
                .into());
            }
            Ok(ip)
        }
        None => subnet.allocate(&taken).ok_or_else(|| {
            anyhow::anyhow!(
                "no available IPv4 addresses on network {}: {subnet} is full",
                network.name
            )
        }),
    }
}

/// Docker's options on the default bridge network.
fn default_bridge_options(bridge: &str) -> BTreeMap<String, String> {
    [
        ("com.docker.network.bridge.default_bridge", "true"),
        ("com.docker.network.bridge.enable_icc", "true"),
        ("com.docker.network.bridge.enable_ip_masquerade", "true"),
        ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
        (OPT_BRIDGE_NAME, bridge),
        ("com.docker.network.driver.mtu", "1500"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Docker's rule for network names.
fn validate_name(name: &str) -> Result<()> {
    let ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        bail!("invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    }
    Ok(())
}

/// The IPv4 routes of the host (from /proc/net/route), except the default route.
fn host_routes() -> Vec<Subnet> {
    let text = fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel prints the network-order word as a host integer: its bytes in
            // memory are the address.
            let dest = Ipv4Addr::from(dest.to_ne_bytes());
            let prefix = mask.count_ones() as u8;
            (prefix > 0)
                .then(|| Subnet::new(dest, prefix).ok())
                .flatten()
        })
        .collect()
}

fn random_id() -> String {
    crate::container::create::random_id()
}

fn now() -> String {
    crate::container::log::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NetworkConfig {
        NetworkConfig::resolve(
            Some("10.99.0.1/24"),
            Some("eng-test0"),
            &[crate::config::AddressPool {
                base: "10.98.0.0/22".into(),
                size: 24,
            }],
        )
        .unwrap()
    }

    #[test]
    fn predefined_networks_and_pools() {
        let dir = tempfile::tempdir().unwrap();
        let s = NetworkStore::open(dir.path(), &config()).unwrap();
        let names: Vec<String> = s.list().unwrap().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["bridge", "host", "none"]);
        let bridge = s.find("bridge").unwrap();
        assert_eq!(bridge.subnet.unwrap().to_string(), "10.99.0.0/24");
        assert_eq!(bridge.bridge, "eng-test0");
        assert!(!bridge.dns);
        let a = s
            .create(&CreateNetwork {
                name: "a".into(),
                ..Default::default()
            })
            .unwrap();
        let b = s
            .create(&CreateNetwork {
                name: "b".into(),
                ..Default::default()
            })
            .unwrap();
        assert_ne!(a.subnet, b.subnet);
        assert!(a.dns && a.bridge.starts_with("br-"));
        assert_eq!(s.find(&a.id[..10]).unwrap().name, "a");
        let dup = s.create(&CreateNetwork {
            name: "a".into(),
            ..Default::default()
        });
        assert!(dup.unwrap_err().to_string().contains("already exists"));
        let overlap = s.create(&CreateNetwork {
            name: "c".into(),
            subnet: Some(a.subnet.unwrap().to_string()),
            ..Default::default()
        });
        assert!(overlap.unwrap_err().to_string().contains("overlaps"));
        let err = s.find("nope").unwrap_err();
        assert_eq!(err.to_string(), "network nope not found");
        assert!(s.remove(&bridge).is_err());
        s.remove(&a).unwrap();
        // (find("a") could match another network's id by prefix: look by name.)
        assert!(s.list().unwrap().iter().all(|n| n.name != "a"));
        // Reopening with other settings moves the default bridge, keeping its id.
        let mut other = config();
        other.bridge_name = "eng-test1".into();
        let s2 = NetworkStore::open(dir.path(), &other).unwrap();
        let moved = s2.find("bridge").unwrap();
        assert_eq!((moved.id, moved.bridge.as_str()), (bridge.id, "eng-test1"));
    }

    #[test]
    fn allocation_honours_wanted_and_taken() {
        let dir = tempfile::tempdir().unwrap();
        let s = NetworkStore::open(dir.path(), &config()).unwrap();
        let bridge = s.find("bridge").unwrap();
        let mut taken = BTreeSet::new();
        let first = allocate(&bridge, None, &taken).unwrap();
        assert_eq!(first, Ipv4Addr::new(10, 99, 0, 2));
        taken.insert(first);
        assert!(allocate(&bridge, Some(first), &taken).is_err());
        assert!(allocate(&bridge, Some(Ipv4Addr::new(10, 1, 1, 1)), &taken).is_err());
        assert!(allocate(&bridge, Some(Ipv4Addr::new(10, 99, 0, 1)), &taken).is_err());
        assert_eq!(
            allocate(&bridge, Some(Ipv4Addr::new(10, 99, 0, 9)), &taken).unwrap(),
            Ipv4Addr::new(10, 99, 0, 9)
        );
    }
}
