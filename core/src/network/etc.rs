//! The /etc/hosts and /etc/resolv.conf a container gets, as Docker writes them: the host's
//! for `--network host`; on a user-defined network the network's DNS server (aardvark-dns
//! on the gateway address) as the only name server; elsewhere the host's name servers
//! minus loopback ones (unreachable from the container), Google's when none is left.
//! `--dns`, `--dns-search` and `--add-host` apply over these.

use std::fs;

use super::endpoints::Mode;
use super::record::Network;
use crate::container::record::Record;

/// Docker's default /etc/hosts lines.
const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The container's /etc/hosts.
/// `host_gateway` is what `--add-host NAME:host-gateway` resolves to: the gateway of the
/// container's network (of the default bridge without one), as Docker's host-gateway-ip.
pub fn hosts(record: &Record, host_gateway: Option<&str>) -> Vec<u8> {
    let mode = Mode::of(&record.host_config.network_mode);
    let mut out = if mode == Mode::Host {
        fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        DEFAULT_HOSTS.to_string()
    };
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for entry in &record.host_config.extra_hosts {
        if let Some((host, ip)) = entry.split_once(':') {
            let ip = match ip {
                "host-gateway" => host_gateway.unwrap_or(ip),
                _ => ip,
            };
            out.push_str(&format!("{ip}\t{host}\n"));
        }
    }
    if mode == Mode::Host {
        return out.into_bytes();
    }
    let hostname = &record.config.hostname;
    let own = match &mode {
        Mode::Network(primary) => record
            .network_settings
            .networks
            .get(primary)
            .map(|ep| ep.ip_address.clone())
            .filter(|ip| !ip.is_empty()),
        _ => None,
    };
    match own {
        Some(ip) => out.push_str(&format!("{ip}\t{hostname}\n")),
        None => out.push_str(&format!("127.0.0.1\t{hostname}\n")),
    }
    out.into_bytes()
}

/// The container's /etc/resolv.conf; `networks` are the networks it is on.
pub fn resolv_conf(record: &Record, networks: &[Network]) -> Vec<u8> {
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    resolv_conf_from(&host, record, networks).into_bytes()
}

fn resolv_conf_from(host: &str, record: &Record, networks: &[Network]) -> String {
    let hc = &record.host_config;
    let dns_options = &hc.options.dns_options;
    if Mode::of(&hc.network_mode) == Mode::Host
        && hc.dns.is_empty()
        && hc.dns_search.is_empty()
        && dns_options.is_empty()
    {
        return host.to_string();
    }
    let keyword = |l: &str| l.split_whitespace().next().unwrap_or("").to_string();
    let dns_servers: Vec<String> = networks
        .iter()
        .filter(|n| n.dns)
        .filter_map(|n| n.gateway.map(|g| g.to_string()))
        .collect();
    let nameservers: Vec<String> = if !dns_servers.is_empty() {
        // `--dns` servers are the DNS server's upstreams here, as with Docker's embedded one.
        dns_servers
    } else if !hc.dns.is_empty() {
        hc.dns.clone()
    } else {
        let mut from_host: Vec<String> = host
            .lines()
            .filter(|l| keyword(l) == "nameserver")
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .filter(|a| !(a.starts_with("127.") || a == "::1"))
            .collect();
        if from_host.is_empty() {
            from_host = vec!["8.8.8.8".into(), "8.8.4.4".into()];
        }
        from_host
    };
    let mut out = String::new();
    if !hc.dns_search.is_empty() {
        out.push_str(&format!("search {}\n", hc.dns_search.join(" ")));
    } else {
        for l in host
            .lines()
            .filter(|l| matches!(keyword(l).as_str(), "search" | "domain"))
        {
            out.push_str(l);
            out.push('\n');
        }
    }
    for ns in nameservers {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    if !dns_options.is_empty() {
        // `--dns-option` replaces the host's options, as in Docker.
        out.push_str(&format!("options {}\n", dns_options.join(" ")));
    } else {
        for l in host.lines().filter(|l| keyword(l) == "options") {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::Endpoint;

    fn record(mode: &str) -> Record {
        let mut r: Record = serde_json::from_value(serde_json::json!({
            "Id": "abc", "Created": "", "Path": "sh", "Args": [], "State": {
                "Status": "created", "Running": false, "Paused": false, "Restarting": false,
                "OOMKilled": false, "Dead": false, "Pid": 0, "ExitCode": 0, "Error": "",
                "StartedAt": "", "FinishedAt": ""},
            "Image": "", "Name": "/c", "RestartCount": 0, "Driver": "vfs",
            "Config": {"Hostname": "h1", "User": "", "OpenStdin": false, "Tty": false,
                "Env": [], "Cmd": null, "Entrypoint": null, "Image": "", "WorkingDir": ""},
            "HostConfig": {"Binds": [], "NetworkMode": mode, "PortBindings": {},
                "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}, "AutoRemove": false,
                "Memory": 0, "MemorySwap": 0},
            "HostnamePath": "", "HostsPath": "", "ResolvConfPath": "", "LogPath": ""
        }))
        .unwrap();
        r.network_settings.networks.insert(
            mode.to_string(),
            Endpoint {
                ip_address: "10.5.0.3".into(),
                ..Default::default()
            },
        );
        r
    }

    #[test]
    fn hosts_end_with_the_containers_address() {
        let mut r = record("net1");
        r.host_config.extra_hosts = vec!["db:10.0.0.9".into()];
        let text = String::from_utf8(hosts(&r, None)).unwrap();
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(text.contains("10.0.0.9\tdb\n"));
        assert!(text.ends_with("10.5.0.3\th1\n"), "{text}");
    }

    #[test]
    fn resolv_conf_as_docker_writes_it() {
        let host =
            "search example.org\nnameserver 127.0.0.53\nnameserver 192.0.2.53\noptions edns0\n";
        let bridge = record("bridge");
        let text = resolv_conf_from(host, &bridge, &[]);
        assert_eq!(
            text,
            "search example.org\nnameserver 192.0.2.53\noptions edns0\n"
        );
        let user = record("net1");
        let net = Network {
            name: "net1".into(),
            id: "x".into(),
            created: String::new(),
            driver: "bridge".into(),
            subnet: Some("10.5.0.0/24".parse().unwrap()),
            gateway: Some("10.5.0.1".parse().unwrap()),
            ipam_given: false,
            internal: false,
            attachable: false,
            labels: Default::default(),
            options: Default::default(),
            bridge: "br-x".into(),
            dns: true,
        };
        let text = resolv_conf_from(host, &user, &[net]);
        assert_eq!(
            text,
            "search example.org\nnameserver 10.5.0.1\noptions edns0\n"
        );
        let mut custom = record("bridge");
        custom.host_config.dns = vec!["9.9.9.9".into()];
        custom.host_config.dns_search = vec!["a.test".into(), "b.test".into()];
        let text = resolv_conf_from("nameserver 127.0.0.1\n", &custom, &[]);
        assert_eq!(text, "search a.test b.test\nnameserver 9.9.9.9\n");
        let text = resolv_conf_from("nameserver 127.0.0.1\n", &record("none"), &[]);
        assert_eq!(text, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
}
