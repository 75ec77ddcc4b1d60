//! daemon.json: the engine's configuration file, with Docker's keys where they apply.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::network::subnet::Subnet;

/// The default location of the configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/engine/daemon.json";
/// The default data root.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/engine";

/// The keys of daemon.json this engine knows; any other key is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DaemonJson {
    /// The storage driver (`storage-driver`); detected when absent.
    pub storage_driver: Option<String>,
    /// Driver options (`storage-opts`), e.g. `overlay2.size=10G`.
    #[serde(default)]
    pub storage_opts: Vec<String>,
    /// The data root (`data-root`).
    pub data_root: Option<PathBuf>,
    /// The log level (`log-level`: debug, info, warn, error).
    pub log_level: Option<String>,
    /// `debug: true` means log level debug.
    pub debug: Option<bool>,
    /// Registries reached over plain HTTP and unchecked TLS (`insecure-registries`).
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// The API daemon's listeners (`engine daemon` only), as dockerd's `hosts`.
    pub hosts: Option<Vec<String>>,
    /// TLS on tcp:// listeners.
    pub tls: Option<bool>,
    /// TLS, and client certificates required.
    pub tlsverify: Option<bool>,
    /// The CA that signs client certificates.
    pub tlscacert: Option<PathBuf>,
    /// The server's certificate.
    pub tlscert: Option<PathBuf>,
    /// The server's key.
    pub tlskey: Option<PathBuf>,
    /// The default bridge network's gateway address and prefix ("172.17.0.1/16").
    pub bip: Option<String>,
    /// The default bridge network's interface name.
    pub bridge: Option<String>,
    /// Where user-defined networks without `--subnet` get theirs.
    #[serde(default)]
    pub default_address_pools: Vec<AddressPool>,
}

/// daemon.json's keys for the API daemon's listeners, merged with `engine daemon`'s flags
/// when the daemon starts.
#[derive(Debug, Clone, Default)]
pub struct ApiFileSettings {
    /// The API daemon's listeners (`unix://`, `tcp://`).
    pub hosts: Option<Vec<String>>,
    /// TLS on tcp:// listeners.
    pub tls: Option<bool>,
    /// TLS, and client certificates required.
    pub tlsverify: Option<bool>,
    /// The CA that signs client certificates.
    pub tlscacert: Option<PathBuf>,
    /// The server's certificate.
    pub tlscert: Option<PathBuf>,
    /// The server's key.
    pub tlskey: Option<PathBuf>,
}

/// One of daemon.json's `default-address-pools`: `{"base": "10.10.0.0/16", "size": 24}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressPool {
    /// The block the pool's subnets are cut from (`10.10.0.0/16`).
    pub base: String,
    /// The prefix length of each subnet taken from it.
    pub size: u8,
}

/// The settings in effect: flags over daemon.json over defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where images, layers, containers, volumes and networks live.
    pub data_root: PathBuf,
    /// The storage driver asked for; `None`: detected, as Docker does.
    pub storage_driver: Option<String>,
    /// Driver options (`--storage-opt`, daemon.json `storage-opts`).
    pub storage_opts: Vec<String>,
    /// Log level: the flag, else daemon.json `log-level` (`debug: true` means "debug").
    pub log_level: Option<String>,
    /// Registries reached over plain HTTP and unchecked TLS (besides loopback ones).
    pub insecure_registries: Vec<String>,
    /// daemon.json's listener keys, for `engine daemon`.
    pub api: ApiFileSettings,
    /// The default bridge network and the pools of user-defined ones.
    pub network: NetworkConfig,
}

/// Where networks get their addresses: `bip`, `bridge`, `default-address-pools`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The default bridge network's subnet.
    pub bridge_subnet: Subnet,
    /// Its gateway (the bridge's own address).
    pub bridge_gateway: Ipv4Addr,
    /// Its interface name.
    pub bridge_name: String,
    /// Pools of subnets for user-defined networks: (pool, prefix length of each subnet).
    pub pools: Vec<(Subnet, u8)>,
}

/// The default bridge's interface when daemon.json names none (Docker's is docker0; ours
/// differs so both engines can run side by side).
pub const DEFAULT_BRIDGE: &str = "engine0";

impl NetworkConfig {
    /// From `--bip`/`bip`, `--bridge`/`bridge` and the pools (as `base=CIDR,size=N` flags or
    /// daemon.json objects), with Docker's defaults.
    pub fn resolve(
        bip: Option<&str>,
        bridge: Option<&str>,
        pools: &[AddressPool],
    ) -> Result<NetworkConfig> {
        let (bridge_subnet, bridge_gateway) = match bip {
            Some(b) => {
                let (net, addr) = Subnet::parse_with_addr(b).with_context(|| {
                    format!("invalid bip {b:?}: want ADDRESS/PREFIX, e.g. 172.17.0.1/16")
                })?;
                if !net.is_host(addr) {
                    bail!("invalid bip {b:?}: {addr} is not a host address of {net}");
                }
                (net, addr)
            }
            None => {
                let net: Subnet = "172.17.0.0/16".parse()?;
                (net, net.first_host())
            }
        };
        let bridge_name = bridge.unwrap_or(DEFAULT_BRIDGE).to_string();
        if bridge_name.is_empty()
            || bridge_name.len() > 15
            || !bridge_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            bail!("invalid bridge name {bridge_name:?}: 1 to 15 letters, digits, '-', '_', '.'");
        }
        let mut parsed = Vec::new();
        for p in pools {
            let base: Subnet = p
                .base
                .parse()
                .with_context(|| format!("invalid default-address-pools base {:?}", p.base))?;
            if p.size < base.prefix() || p.size > 30 {
                bail!(
                    "invalid default-address-pools size {} for base {}: between {} and 30",
                    p.size,
                    p.base,
                    base.prefix()
                );
            }
            parsed.push((base, p.size));
        }
        if parsed.is_empty() {
            // Docker's defaults: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s.
            for second in 17..=31u8 {
                parsed.push((Subnet::new(Ipv4Addr::new(172, second, 0, 0), 16)?, 16));
            }
            parsed.push(("192.168.0.0/16".parse()?, 20));
        }
        Ok(NetworkConfig {
            bridge_subnet,
            bridge_gateway,
            bridge_name,
            pools: parsed,
        })
    }
}

/// Parses `--default-address-pool base=10.10.0.0/16,size=24`.
pub fn parse_pool_flag(s: &str) -> Result<AddressPool> {
    let (mut base, mut size) = (None, None);
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("base", v)) => base = Some(v.to_string()),
            Some(("size", v)) => {
                size = Some(v.parse::<u8>().map_err(|_| {
                    anyhow::anyhow!("invalid --default-address-pool {s:?}: size must be a number")
                })?)
            }
            _ => bail!("invalid --default-address-pool {s:?}: want base=CIDR,size=N"),
        }
    }
    match (base, size) {
        (Some(base), Some(size)) => Ok(AddressPool { base, size }),
        _ => bail!("invalid --default-address-pool {s:?}: want base=CIDR,size=N"),
    }
}

impl DaemonJson {
    /// Reads and checks `path`; a syntax error or an unknown key names the file, line and key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading configuration file {}", path.display()))?;
        if text.trim().is_empty() {
            return Ok(DaemonJson::default());
        }
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid configuration file {}: {e}", path.display()))
    }
}

/// The settings given on the command line (Docker's daemon flags), each overriding nothing:
/// see [`resolve`].
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--storage-driver`.
    pub storage_driver: Option<String>,
    /// `--storage-opt` (repeatable).
    pub storage_opts: Vec<String>,
    /// `--data-root`.
    pub data_root: Option<PathBuf>,
    /// `--config`: the daemon.json to read instead of the default one.
    pub config: Option<PathBuf>,
    /// `--log-level`.
    pub log_level: Option<String>,
    /// `--insecure-registry` (repeatable).
    pub insecure_registries: Vec<String>,
    /// `--bip`.
    pub bip: Option<String>,
    /// `--bridge`.
    pub bridge: Option<String>,
    /// `--default-address-pool` (repeatable).
    pub default_address_pools: Vec<String>,
}

/// Combines the flags with the configuration file, as dockerd does: a setting given both as
/// a flag and in the file is an error.
pub fn resolve(flags: &Overrides) -> Result<Settings> {
    let file = match &flags.config {
        Some(path) => DaemonJson::load(path)?,
        None if Path::new(DEFAULT_CONFIG).exists() => DaemonJson::load(Path::new(DEFAULT_CONFIG))?,
        None => DaemonJson::default(),
    };
    let mut conflicts = Vec::new();
    if let (Some(f), Some(c)) = (&flags.storage_driver, &file.storage_driver) {
        conflicts.push(format!("storage-driver: (from flag: {f}, from file: {c})"));
    }
    if !flags.storage_opts.is_empty() && !file.storage_opts.is_empty() {
        conflicts.push(format!(
            "storage-opts: (from flag: {:?}, from file: {:?})",
            flags.storage_opts, file.storage_opts
        ));
    }
    if let (Some(f), Some(c)) = (&flags.data_root, &file.data_root) {
        conflicts.push(format!(
            "data-root: (from flag: {}, from file: {})",
            f.display(),
            c.display()
        ));
    }
    if !flags.insecure_registries.is_empty() && !file.insecure_registries.is_empty() {
        conflicts.push(format!(
            "insecure-registries: (from flag: {:?}, from file: {:?})",
            flags.insecure_registries, file.insecure_registries
        ));
    }
    if let (Some(f), Some(c)) = (&flags.bip, &file.bip) {
        conflicts.push(format!("bip: (from flag: {f}, from file: {c})"));
    }
    if let (Some(f), Some(c)) = (&flags.bridge, &file.bridge) {
        conflicts.push(format!("bridge: (from flag: {f}, from file: {c})"));
    }
    if !flags.default_address_pools.is_empty() && !file.default_address_pools.is_empty() {
        conflicts.push("default-address-pools: (from flag and from file)".to_string());
    }
    if !conflicts.is_empty() {
        bail!(
            "the following directives are specified both as a flag and in the configuration file: {}",
            conflicts.join(", ")
        );
    }
    let data_root = flags
        .data_root
        .clone()
        .or(file.data_root)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_ROOT));
    if !data_root.is_absolute() {
        bail!("data-root {} must be an absolute path", data_root.display());
    }
    let log_level = flags
        .log_level
        .clone()
        .or(file.log_level)
        .or_else(|| file.debug.unwrap_or(false).then(|| "debug".to_string()));
    if let Some(level) = &log_level
        && !["trace", "debug", "info", "warn", "error", "fatal"].contains(&level.as_str())
    {
        bail!("invalid log level {level:?}: use one of trace, debug, info, warn, error, fatal");
    }
    let log_level = log_level.map(|l| if l == "fatal" { "error".to_string() } else { l });
    let api = ApiFileSettings {
        hosts: file.hosts,
        tls: file.tls,
        tlsverify: file.tlsverify,
        tlscacert: file.tlscacert,
        tlscert: file.tlscert,
        tlskey: file.tlskey,
    };
    let pools = if flags.default_address_pools.is_empty() {
        file.default_address_pools
    } else {
        flags
            .default_address_pools
            .iter()
            .map(|p| parse_pool_flag(p))
            .collect::<Result<Vec<_>>>()?
    };
    let network = NetworkConfig::resolve(
        flags.bip.as_deref().or(file.bip.as_deref()),
        flags.bridge.as_deref().or(file.bridge.as_deref()),
        &pools,
    )?;
    Ok(Settings {
        api,
        network,
        log_level,
        data_root,
        storage_driver: flags.storage_driver.clone().or(file.storage_driver),
        storage_opts: if flags.storage_opts.is_empty() {
            file.storage_opts
        } else {
            flags.storage_opts.clone()
        },
        insecure_registries: if flags.insecure_registries.is_empty() {
            file.insecure_registries
        } else {
            flags.insecure_registries.clone()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<DaemonJson> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("daemon.json");
        std::fs::write(&path, text)?;
        DaemonJson::load(&path)
    }

    #[test]
    fn reads_known_keys() {
        let c = load_str(
            r#"{"storage-driver": "vfs", "storage-opts": ["vfs.x=1"], "data-root": "/srv/e", "insecure-registries": ["reg:5000"]}"#,
        )
        .unwrap();
        assert_eq!(c.storage_driver.as_deref(), Some("vfs"));
        assert_eq!(c.storage_opts, vec!["vfs.x=1"]);
        assert_eq!(c.data_root, Some(PathBuf::from("/srv/e")));
        assert_eq!(c.insecure_registries, vec!["reg:5000"]);
        let c = load_str(
            r#"{"hosts": ["unix:///run/e.sock", "tcp://0.0.0.0:2376"], "tls": true, "tlsverify": true, "tlscacert": "/c/ca.pem", "tlscert": "/c/cert.pem", "tlskey": "/c/key.pem"}"#,
        )
        .unwrap();
        assert_eq!(c.hosts.unwrap().len(), 2);
        assert_eq!(c.tlsverify, Some(true));
        assert_eq!(c.tlskey, Some(PathBuf::from("/c/key.pem")));
    }

    #[test]
    fn the_example_file_parses() {
        // The example lives at the top of the repository, beside the workspace Cargo.toml.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../daemon.json.example");
        let c = DaemonJson::load(&path).unwrap();
        assert_eq!(c.tlsverify, Some(true));
        assert_eq!(c.hosts.unwrap().len(), 2);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = load_str("{\n  \"storage-driver\": \"vfs\",\n  \"storage-drivr\": \"x\"\n}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("daemon.json"), "{err}");
        assert!(err.contains("storage-drivr"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn malformed_json_names_the_line() {
        let err = load_str("{\n \"storage-driver\": vfs\n}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
