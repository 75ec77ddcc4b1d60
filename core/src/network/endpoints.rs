//! Which networks a container is on (its `NetworkMode` and `NetworkSettings.Networks`), and
//! reserving its address on each. An address is taken while some container's record holds
//! it: the records are the leases, so nothing is leaked when a process dies, and a
//! container keeps its address across restarts.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use anyhow::{Result, bail};

use super::record::{DEFAULT_BRIDGE_NETWORK, Network};
use super::store::{NetworkStore, allocate};
use super::subnet::mac_for;
use crate::container::record::{Endpoint, IpamConfig, Record};
use crate::container::store::ContainerStore;

/// A container's network mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The host's network namespace.
    Host,
    /// Only loopback.
    None,
    /// Another container's network namespace (`container:ID`, the full id).
    Container(String),
    /// A bridge network, by name: `bridge` or a user-defined one.
    Network(String),
}

impl Mode {
    /// The mode a record's `HostConfig.NetworkMode` names.
    pub fn of(network_mode: &str) -> Mode {
        match network_mode {
            "" | "default" | "bridge" => Mode::Network(DEFAULT_BRIDGE_NETWORK.into()),
            "host" => Mode::Host,
            "none" => Mode::None,
            other => match other.strip_prefix("container:") {
                Some(id) => Mode::Container(id.to_string()),
                None => Mode::Network(other.to_string()),
            },
        }
    }
}

/// The addresses of `network`'s containers other than `except`.
pub fn taken(
    store: &ContainerStore,
    network: &Network,
    except: &str,
) -> Result<BTreeSet<Ipv4Addr>> {
    let mut out = BTreeSet::new();
    for r in store.list()? {
        if r.id == except {
            continue;
        }
        for ep in r.network_settings.networks.values() {
            if ep.network_id == network.id
                && let Ok(ip) = ep.ip_address.parse()
            {
                out.insert(ip);
            }
        }
    }
    Ok(out)
}

/// A new endpoint of container `id` on `network`: an address (`ip` if given and free),
/// the gateway, the MAC derived from the address. The caller holds the network store's
/// lock until the endpoint is in the container's record.
pub fn reserve(
    store: &ContainerStore,
    network: &Network,
    id: &str,
    ip: Option<Ipv4Addr>,
    aliases: &[String],
) -> Result<Endpoint> {
    if !network.is_bridge() {
        bail!(
            "container cannot be disconnected from host network or connected to {} network",
            network.name
        );
    }
    if network.name == DEFAULT_BRIDGE_NETWORK {
        if ip.is_some() {
            bail!("user specified IP address is supported on user defined networks only");
        }
        if !aliases.is_empty() {
            bail!("network-scoped alias is supported only for containers in user defined networks");
        }
    }
    let taken = taken(store, network, id)?;
    let addr = allocate(network, ip, &taken)?;
    Ok(Endpoint {
        ipam_config: ip.map(|ip| IpamConfig {
            ipv4_address: ip.to_string(),
        }),
        links: None,
        aliases: (!aliases.is_empty()).then(|| aliases.to_vec()),
        network_id: network.id.clone(),
        endpoint_id: String::new(),
        gateway: network.gateway.map(|g| g.to_string()).unwrap_or_default(),
        ip_address: addr.to_string(),
        ip_prefix_len: network.subnet.map(|s| s.prefix()).unwrap_or(0),
        mac_address: mac_for(addr),
        ..Default::default()
    })
}

/// Whether `ep` is still a valid reservation on `network` (the default bridge may have
/// moved to another subnet since).
pub fn still_valid(network: &Network, ep: &Endpoint) -> bool {
    ep.network_id == network.id
        && ep
            .ip_address
            .parse::<Ipv4Addr>()
            .is_ok_and(|ip| network.subnet.is_some_and(|s| s.is_host(ip)))
        && network.gateway.map(|g| g.to_string()).as_deref() == Some(ep.gateway.as_str())
}

/// Makes sure a container about to start has a valid endpoint on every network it is on,
/// reserving afresh where the network moved or the endpoint is missing (a container created
/// through the API on a network created later, as Docker allows). Returns the record as
/// stored.
pub fn ensure(store: &ContainerStore, nets: &NetworkStore, record: &Record) -> Result<Record> {
    let Mode::Network(primary) = Mode::of(&record.host_config.network_mode) else {
        return Ok(record.clone());
    };
    let _lock = nets.lock()?;
    let record = store.load(&record.id)?;
    let mut wanted: Vec<(String, Endpoint)> = record
        .network_settings
        .networks
        .iter()
        .map(|(n, e)| (n.clone(), e.clone()))
        .collect();
    if !wanted.iter().any(|(n, _)| *n == primary) {
        wanted.push((primary.clone(), Endpoint::default()));
    }
    let mut changed = Vec::new();
    for (name, ep) in &wanted {
        let network = nets
            .find(if ep.network_id.is_empty() {
                name
            } else {
                &ep.network_id
            })
            .map_err(|_| crate::network::no_such_network(name))?;
        if still_valid(&network, ep) {
            continue;
        }
        let ip = ep
            .ipam_config
            .as_ref()
            .and_then(|c| c.ipv4_address.parse().ok());
        let aliases = ep.aliases.clone().unwrap_or_default();
        let fresh = reserve(store, &network, &record.id, ip, &aliases)?;
        changed.push((name.clone(), fresh));
    }
    if changed.is_empty() {
        return Ok(record);
    }
    store.update(&record.id, |r| {
        for (name, ep) in changed {
            r.network_settings.networks.insert(name, ep);
        }
    })
}
