//! `-p [IP:][HOST:]CONTAINER[/tcp]`: Docker's port publishing syntax.

use anyhow::{Result, bail};

use super::record::PortBinding;

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
    if proto != "tcp" {
        bail!("invalid proto {proto:?} in {s:?}: only tcp ports can be published");
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
        key: format!("{container_port}/tcp"),
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
        assert!(parse("8080:80/udp").is_err());
        assert!(parse("x:80").is_err());
        assert!(parse("1.2.3:8080:80").is_err());
    }
}
