//! `-p [IP:][HOST:]CONTAINER[/tcp|/udp]`: Docker's port publishing syntax, and holding the
//! host ports while the container runs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use anyhow::{Result, bail};

use super::record::{PortBinding, Record};
use crate::network::netavark::PortMapping;

/// One parsed `-p`: the container port key ("80/tcp") and its host binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// "80/tcp".
    pub key: String,
    /// The container port.
    pub container_port: u16,
    /// Host IP ("" means all) and host port ("" means any free one).
    pub binding: PortBinding,
}

/// Parses one `-p` value.
pub fn parse(s: &str) -> Result<Publish> {
    let (spec, proto) = match s.rsplit_once('/') {
        Some((spec, proto)) => (spec, proto),
        None => (s, "tcp"),
    };
    if proto != "tcp" && proto != "udp" {
        bail!("invalid proto {proto:?} in {s:?}: tcp or udp");
    }
    // An IPv6 host address is bracketed: [::1]:8080:80.
    let (ip, rest) = if let Some(after) = spec.strip_prefix('[') {
        match after.split_once("]:") {
            Some((ip, rest)) => (ip.to_string(), rest.to_string()),
            None => bail!("invalid IP address in {s:?}"),
        }
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            [c] => (String::new(), c.to_string()),
            [h, c] => (String::new(), format!("{h}:{c}")),
            [ip, h, c] => (ip.to_string(), format!("{h}:{c}")),
            _ => bail!("invalid port format {s:?}: want [IP:]HOST:CONTAINER[/tcp]"),
        }
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        bail!("invalid IP address {ip:?} in {s:?}");
    }
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (h.to_string(), c.to_string()),
        None => (String::new(), rest),
    };
    let container_port = parse_port(&container, s)?;
    if container_port == 0 {
        bail!("invalid containerPort: {container}");
    }
    if !host.is_empty() {
        parse_port(&host, s)?;
    }
    Ok(Publish {
        key: format!("{container_port}/{proto}"),
        container_port,
        binding: PortBinding {
            host_ip: ip,
            host_port: host,
        },
    })
}

fn parse_port(p: &str, whole: &str) -> Result<u16> {
    p.parse::<u16>()
        .map_err(|_| anyhow::anyhow!("invalid port {p:?} in {whole:?}: want a number 0-65535"))
}

/// The host ports of one run: held open (so no other container or host process takes
/// them: Docker's docker-proxy holds them the same way) while the kernel forwards them.
#[derive(Debug, Default)]
pub struct Reserved {
    /// What netavark forwards.
    pub mappings: Vec<PortMapping>,
    /// "80/tcp" -> the host address, for `NetworkSettings.Ports`.
    pub bound: Vec<(String, PortBinding)>,
    /// Bindings on an IPv6 host address, served by the userspace proxy.
    pub proxied: Vec<(String, PortBinding)>,
    _tcp: Vec<TcpListener>,
    _udp: Vec<UdpSocket>,
}

/// Takes the host ports of the container's `-p` (and with `-P`, every exposed port):
/// a random one where none was given. A port in use is Docker's "port is already allocated".
pub fn reserve(record: &Record) -> Result<Reserved> {
    let mut wanted: Vec<(String, PortBinding)> = Vec::new();
    for (key, bindings) in &record.host_config.port_bindings {
        for b in bindings {
            wanted.push((key.clone(), b.clone()));
        }
    }
    if record.host_config.publish_all_ports {
        for key in record.config.exposed_ports.keys() {
            if !record.host_config.port_bindings.contains_key(key) {
                wanted.push((key.clone(), PortBinding::default()));
            }
        }
    }
    let mut out = Reserved::default();
    for (key, b) in wanted {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let container_port: u16 = port
            .parse()
            .map_err(|_| anyhow::anyhow!("invalid port {key}"))?;
        let ip: IpAddr = if b.host_ip.is_empty() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            b.host_ip
                .parse()
                .map_err(|_| anyhow::anyhow!("invalid host IP {:?} for {key}", b.host_ip))?
        };
        let host_port: u16 = match b.host_port.as_str() {
            "" => 0,
            p => p
                .parse()
                .map_err(|_| anyhow::anyhow!("invalid host port {p:?} for {key}"))?,
        };
        if ip.is_ipv6() {
            if proto != "tcp" {
                bail!(
                    "publishing {key} on the IPv6 address {ip}: only tcp ports can be published on IPv6 host addresses"
                );
            }
            out.proxied.push((key.clone(), b.clone()));
            continue;
        }
        let addr = SocketAddr::new(ip, host_port);
        let in_use = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!(
                    "driver failed programming external connectivity on endpoint {}: Bind for {addr} failed: port is already allocated",
                    record.short_name()
                )
            } else {
                anyhow::anyhow!("binding {addr}/{proto}: {e}")
            }
        };
        let actual = if proto == "udp" {
            let sock = UdpSocket::bind(addr).map_err(in_use)?;
            let port = sock.local_addr()?.port();
            out._udp.push(sock);
            port
        } else {
            let sock = TcpListener::bind(addr).map_err(in_use)?;
            let port = sock.local_addr()?.port();
            out._tcp.push(sock);
            port
        };
        out.mappings.push(PortMapping {
            host_ip: if ip.is_unspecified() {
                String::new()
            } else {
                ip.to_string()
            },
            container_port,
            host_port: actual,
            range: 1,
            protocol: proto.to_string(),
        });
        out.bound.push((
            key.clone(),
            PortBinding {
                host_ip: ip.to_string(),
                host_port: actual.to_string(),
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockers_forms() {
        let p = parse("8080:80").unwrap();
        assert_eq!(
            (p.key.as_str(), p.binding.host_port.as_str()),
            ("80/tcp", "8080")
        );
        let p = parse("127.0.0.1:8080:80/tcp").unwrap();
        assert_eq!(p.binding.host_ip, "127.0.0.1");
        let p = parse("80").unwrap();
        assert_eq!((p.container_port, p.binding.host_port.as_str()), (80, ""));
        let p = parse("[::1]:9000:90").unwrap();
        assert_eq!(p.binding.host_ip, "::1");
        assert_eq!(parse("5353:53/udp").unwrap().key, "53/udp");
        assert!(parse("8080:80/sctp").is_err());
        assert!(parse("x:80").is_err());
        assert!(parse("1.2.3:8080:80").is_err());
    }
}
