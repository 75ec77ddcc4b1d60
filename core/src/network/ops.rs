//! `engine network create|ls|inspect|rm|prune|connect|disconnect` and `engine port`: the
//! functions return data (the API daemon calls them too); `run` and `port` print it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::container::record::Record;
use crate::container::store::ContainerStore;
use crate::engine::Engine;
use crate::network::endpoints::{self, Mode};
use crate::network::record::Network;
use crate::network::sandbox;
use crate::network::store::{CreateNetwork, NetworkStore};

fn stores(engine: &Engine) -> Result<(NetworkStore, ContainerStore)> {
    let root = &engine.settings.data_root;
    Ok((
        NetworkStore::open(root, &engine.settings.network)?,
        ContainerStore::open(root)?,
    ))
}

/// Creates a user-defined network.
pub fn create(engine: &Engine, req: &CreateNetwork) -> Result<Network> {
    let (nets, _) = stores(engine)?;
    let _lock = nets.lock()?;
    nets.create(req)
}

/// Finds a network by name, id or id prefix.
pub fn find(engine: &Engine, name: &str) -> Result<Network> {
    stores(engine)?.0.find(name)
}

/// The networks that pass Docker's `network ls` filters (`driver`, `id`, `label`, `name`,
/// `type`).
pub fn list(engine: &Engine, filters: &BTreeMap<String, Vec<String>>) -> Result<Vec<Network>> {
    for key in filters.keys() {
        if !matches!(key.as_str(), "driver" | "id" | "label" | "name" | "type") {
            bail!("invalid filter '{key}'");
        }
    }
    let passes = |n: &Network| {
        filters.iter().all(|(key, values)| {
            values.iter().any(|v| match key.as_str() {
                "driver" => n.driver == *v,
                "id" => n.id.starts_with(v.as_str()),
                "name" => n.name.contains(v.as_str()),
                "label" => match v.split_once('=') {
                    Some((k, val)) => n.labels.get(k).is_some_and(|x| x == val),
                    None => n.labels.contains_key(v.as_str()),
                },
                "type" => (v == "builtin") == n.is_predefined(),
                _ => false,
            })
        })
    };
    Ok(stores(engine)?
        .0
        .list()?
        .into_iter()
        .filter(passes)
        .collect())
}

/// The running containers with an endpoint on `n`.
fn attached(store: &ContainerStore, n: &Network) -> Result<Vec<Record>> {
    Ok(store
        .list()?
        .into_iter()
        .filter(|r| {
            r.network_settings
                .networks
                .values()
                .any(|ep| ep.network_id == n.id)
        })
        .collect())
}

/// Docker's network inspect document (`Containers`: the running ones on it).
pub fn inspect_json(engine: &Engine, n: &Network) -> Result<Value> {
    let (_, store) = stores(engine)?;
    let mut containers = serde_json::Map::new();
    for r in attached(&store, n)?.into_iter().filter(|r| r.state.running) {
        if let Some(ep) = r
            .network_settings
            .networks
            .values()
            .find(|ep| ep.network_id == n.id)
        {
            containers.insert(
                r.id.clone(),
                json!({
                    "Name": r.short_name(),
                    "EndpointID": ep.endpoint_id,
                    "MacAddress": ep.mac_address,
                    "IPv4Address": format!("{}/{}", ep.ip_address, ep.ip_prefix_len),
                    "IPv6Address": "",
                }),
            );
        }
    }
    let config: Vec<Value> = match (n.subnet, n.gateway) {
        (Some(s), Some(g)) => vec![json!({ "Subnet": s.to_string(), "Gateway": g.to_string() })],
        _ => Vec::new(),
    };
    Ok(json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": null, "Config": config },
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": n.options,
        "Labels": n.labels,
    }))
}

/// `network ls`'s row of a network: Docker's summary (the inspect document without
/// `Containers`).
pub fn summary_json(engine: &Engine, n: &Network) -> Result<Value> {
    let mut v = inspect_json(engine, n)?;
    if let Some(m) = v.as_object_mut() {
        m.insert("Containers".into(), json!({}));
    }
    Ok(v)
}

/// Removes a network no running container is on.
pub fn remove(engine: &Engine, name: &str) -> Result<Network> {
    let (nets, store) = stores(engine)?;
    let _lock = nets.lock()?;
    let n = nets.find(name)?;
    if n.is_predefined() {
        return Err(crate::error::EngineError::forbidden(format!(
            "{} is a pre-defined network and cannot be removed",
            n.name
        ))
        .into());
    }
    if attached(&store, &n)?.iter().any(|r| r.state.running) {
        return Err(crate::error::EngineError::forbidden(format!(
            "error while removing network: network {} id {} has active endpoints",
            n.name, n.id
        ))
        .into());
    }
    nets.remove(&n)?;
    Ok(n)
}

/// Removes every user-defined network no container (running or not) refers to and that
/// `filters` select (`until=`, `label=`, `label!=`: [`crate::prune`]); returns their names.
pub fn prune(engine: &Engine, filters: &[String]) -> Result<Vec<String>> {
    use crate::prune::{Kind, PruneFilter, stored_time};
    let filter = PruneFilter::parse(Kind::Networks, filters)?;
    let (nets, store) = stores(engine)?;
    let _lock = nets.lock()?;
    let mut removed = Vec::new();
    let containers = store.list()?;
    for n in nets.list()? {
        if n.is_predefined()
            || !filter.old_enough(stored_time(&n.created))
            || !filter.matches_labels(&n.labels)
        {
            continue;
        }
        let used = containers.iter().any(|r| {
            r.host_config.network_mode == n.name
                || r.network_settings
                    .networks
                    .values()
                    .any(|ep| ep.network_id == n.id)
        });
        if !used {
            nets.remove(&n)?;
            removed.push(n.name);
        }
    }
    Ok(removed)
}

/// Connects a container to a network (live when it runs), with aliases and an address.
pub fn connect(
    engine: &Engine,
    network: &str,
    container: &str,
    aliases: &[String],
    ip: Option<&str>,
) -> Result<()> {
    let (nets, store) = stores(engine)?;
    let n = nets.find(network)?;
    let record = store.resolve(container)?;
    match Mode::of(&record.host_config.network_mode) {
        Mode::Host | Mode::None => {
            bail!("container cannot be disconnected from host network or connected to host network")
        }
        Mode::Container(_) => bail!(
            "container sharing network namespace with another container or host cannot be connected to any other network"
        ),
        Mode::Network(_) => {}
    }
    if !n.is_bridge() {
        bail!("container cannot be disconnected from host network or connected to host network");
    }
    let ip: Option<Ipv4Addr> = ip
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| anyhow::anyhow!("invalid IPv4 address: {s}"))
        })
        .transpose()?;
    let record = {
        let _lock = nets.lock()?;
        let record = store.load(&record.id)?;
        if record.network_settings.networks.contains_key(&n.name) {
            return Err(crate::error::EngineError::forbidden(format!(
                "endpoint with name {} already exists in network {}",
                record.short_name(),
                n.name
            ))
            .into());
        }
        let mut ep = endpoints::reserve(&store, &n, &record.id, ip, aliases)?;
        let running = record.state.running;
        if running {
            ep.endpoint_id = crate::container::create::random_id();
        }
        store.update(&record.id, |r| {
            r.network_settings.networks.insert(n.name.clone(), ep);
        })?
    };
    if record.state.running
        && let Err(e) = sandbox::connect_live(engine, &record, &n)
    {
        let _ = store.update(&record.id, |r| {
            r.network_settings.networks.remove(&n.name);
        });
        return Err(e.context(format!("connecting {} to {}", record.short_name(), n.name)));
    }
    // A stopped container is connected when it starts, and that start reports it (Docker
    // records no event for connecting a stopped container).
    if record.state.running {
        crate::events::network(&engine.settings.data_root, "connect", &n, Some(&record.id));
    }
    Ok(())
}

/// Disconnects a container from a network (live when it runs); its address is freed.
pub fn disconnect(engine: &Engine, network: &str, container: &str, force: bool) -> Result<()> {
    let (nets, store) = stores(engine)?;
    let record = store.resolve(container)?;
    let n = match nets.find(network) {
        Ok(n) => n,
        // With --force, an endpoint on a network that is gone can still be dropped.
        Err(_) if force && record.network_settings.networks.contains_key(network) => {
            store.update(&record.id, |r| {
                r.network_settings.networks.remove(network);
            })?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if !record.network_settings.networks.contains_key(&n.name) {
        return Err(crate::error::EngineError::forbidden(format!(
            "container {} is not connected to network {}",
            record.id, n.name
        ))
        .into());
    }
    if record.state.running
        && let Err(e) = sandbox::disconnect_live(engine, &record.id, &n.name)
        && !force
    {
        return Err(e);
    }
    let _lock = nets.lock()?;
    store.update(&record.id, |r| {
        r.network_settings.networks.remove(&n.name);
    })?;
    crate::events::network(
        &engine.settings.data_root,
        "disconnect",
        &n,
        Some(&record.id),
    );
    Ok(())
}

/// `port CONTAINER [PORT[/PROTO]]`'s lines.
pub fn port_lines(record: &Record, filter: Option<&str>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let want = filter.map(|f| {
        if f.contains('/') {
            f.to_string()
        } else {
            format!("{f}/tcp")
        }
    });
    for (key, bindings) in &record.network_settings.ports {
        if want.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        for b in bindings.iter().flatten() {
            let addr = if b.host_ip.contains(':') {
                format!("[{}]:{}", b.host_ip, b.host_port)
            } else {
                format!("{}:{}", b.host_ip, b.host_port)
            };
            out.push(if want.is_some() {
                addr
            } else {
                format!("{key} -> {addr}")
            });
        }
    }
    if out.is_empty()
        && let Some(w) = want
    {
        bail!("No public port '{w}' published for {}", record.short_name());
    }
    Ok(out)
}
