//! Where the API daemon listens, as dockerd does: `-H` (or daemon.json `hosts`), repeatable,
//! `unix://PATH` and `tcp://ADDR[:PORT]`; TCP with TLS (`--tls`, `--tlscert`, `--tlskey`) and
//! mutual TLS (`--tlsverify`, `--tlscacert`: a client certificate signed by that CA is
//! required). The API gives root on the host to whoever reaches it, so plain TCP is served
//! on loopback addresses only: anything else without TLS is refused before binding.
//!
//! Everything is checked (hosts parsed, addresses resolved, certificates and keys loaded)
//! before the first socket is bound, so a bad setting leaves nothing behind.

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::DaemonOptions;
use engine_core::config::ApiFileSettings;

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/engine.sock";
/// dockerd's ports: plain HTTP and TLS.
const DEFAULT_HTTP_PORT: u16 = 2375;
const DEFAULT_TLS_PORT: u16 = 2376;

/// One `-H` value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A UNIX socket path.
    Unix(PathBuf),
    /// A TCP host (name or address) and port.
    Tcp { host: String, port: u16 },
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Host::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

/// The certificate files of a TLS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require a client certificate signed by `ca`.
    pub verify: bool,
}

/// The listeners asked for, with TLS settings, checked.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    pub hosts: Vec<Host>,
    /// TLS for tcp:// listeners (UNIX sockets never use it).
    pub tls: Option<TlsFiles>,
}

/// Combines `engine daemon`'s flags with daemon.json's keys: one given both ways is an error
/// naming both values, as dockerd reports it.
pub fn config(args: &DaemonOptions, file: &ApiFileSettings) -> Result<ListenConfig> {
    let mut conflicts = Vec::new();
    if !args.hosts.is_empty()
        && let Some(f) = &file.hosts
    {
        conflicts.push(format!(
            "hosts: (from flag: {:?}, from file: {f:?})",
            args.hosts
        ));
    }
    for (name, flag, from_file) in [
        ("tls", args.tls, file.tls),
        ("tlsverify", args.tlsverify, file.tlsverify),
    ] {
        if let (true, Some(f)) = (flag, from_file) {
            conflicts.push(format!("{name}: (from flag: true, from file: {f})"));
        }
    }
    for (name, flag, from_file) in [
        ("tlscacert", &args.tlscacert, &file.tlscacert),
        ("tlscert", &args.tlscert, &file.tlscert),
        ("tlskey", &args.tlskey, &file.tlskey),
    ] {
        if let (Some(a), Some(b)) = (flag, from_file) {
            conflicts.push(format!(
                "{name}: (from flag: {}, from file: {})",
                a.display(),
                b.display()
            ));
        }
    }
    if !conflicts.is_empty() {
        bail!(
            "the following directives are specified both as a flag and in the configuration file: {}",
            conflicts.join(", ")
        );
    }
    let verify = args.tlsverify || file.tlsverify.unwrap_or(false);
    let tls = verify || args.tls || file.tls.unwrap_or(false);
    let raw_hosts: Vec<String> = if args.hosts.is_empty() {
        file.hosts.clone().unwrap_or_default()
    } else {
        args.hosts.clone()
    };
    let mut hosts = raw_hosts
        .iter()
        .map(|h| parse_host(h, tls))
        .collect::<Result<Vec<_>>>()?;
    if hosts.is_empty() {
        hosts.push(Host::Unix(PathBuf::from(DEFAULT_SOCKET)));
    }
    let tls = tls.then(|| {
        let dir = cert_dir();
        TlsFiles {
            ca: args
                .tlscacert
                .clone()
                .or_else(|| file.tlscacert.clone())
                .unwrap_or_else(|| dir.join("ca.pem")),
            cert: args
                .tlscert
                .clone()
                .or_else(|| file.tlscert.clone())
                .unwrap_or_else(|| dir.join("cert.pem")),
            key: args
                .tlskey
                .clone()
                .or_else(|| file.tlskey.clone())
                .unwrap_or_else(|| dir.join("key.pem")),
            verify,
        }
    });
    Ok(ListenConfig { hosts, tls })
}

/// dockerd's default certificate directory: `$DOCKER_CERT_PATH`, else `~/.docker`.
fn cert_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CERT_PATH").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".docker")
}

/// Parses one `-H` value: `unix://PATH` (`unix://` alone is the default socket), a bare
/// absolute path, or `tcp://HOST[:PORT]` (`tcp://:PORT` is localhost; the port defaults to
/// 2376 with TLS, else 2375).
pub fn parse_host(s: &str, tls: bool) -> Result<Host> {
    let s = s.trim();
    if let Some(path) = s.strip_prefix("unix://") {
        return Ok(Host::Unix(PathBuf::from(if path.is_empty() {
            DEFAULT_SOCKET
        } else {
            path
        })));
    }
    if s.starts_with('/') {
        return Ok(Host::Unix(PathBuf::from(s)));
    }
    let Some(rest) = s.strip_prefix("tcp://") else {
        let scheme = s.split_once("://").map_or("", |(p, _)| p);
        if matches!(scheme, "fd" | "npipe" | "ssh") {
            bail!(
                "invalid host {s:?}: {scheme}:// listeners are not supported; use unix:// or tcp://"
            );
        }
        bail!("invalid host {s:?}: use unix://PATH or tcp://ADDR[:PORT]");
    };
    if rest.contains(['/', '?', '#', '@']) {
        bail!("invalid host {s:?}: a tcp:// address takes no path, query or user");
    }
    let default_port = if tls {
        DEFAULT_TLS_PORT
    } else {
        DEFAULT_HTTP_PORT
    };
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, tail) = v6
            .split_once(']')
            .with_context(|| format!("invalid host {s:?}: unclosed '['"))?;
        match tail.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if tail.is_empty() => (h, None),
            None => bail!("invalid host {s:?}"),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let port = match port {
        None | Some("") => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .with_context(|| format!("invalid host {s:?}: invalid port {p:?}"))?,
    };
    let host = if host.is_empty() { "localhost" } else { host };
    Ok(Host::Tcp {
        host: host.to_string(),
        port,
    })
}

/// A bound listener.
pub enum Listener {
    Unix {
        listener: tokio::net::UnixListener,
        path: PathBuf,
    },
    Tcp {
        listener: tokio::net::TcpListener,
        addr: SocketAddr,
        tls: Option<TlsAcceptor>,
    },
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Listener {
    /// What `docker -H` would be given to reach it.
    pub fn describe(&self) -> String {
        match self {
            Listener::Unix { path, .. } => path.display().to_string(),
            Listener::Tcp { addr, tls, .. } => format!(
                "{addr} ({})",
                if tls.is_some() { "TLS" } else { "plain HTTP" }
            ),
        }
    }
}

/// A TCP host resolved, with the loopback rule checked.
struct TcpPlan {
    shown: String,
    addr: SocketAddr,
}

/// Checks everything, then binds every listener. `group` owns the UNIX sockets.
pub fn bind_all(cfg: &ListenConfig, group: Option<&str>) -> Result<Vec<Listener>> {
    let acceptor = match &cfg.tls {
        Some(files) if cfg.hosts.iter().any(|h| matches!(h, Host::Tcp { .. })) => {
            Some(tls_acceptor(files)?)
        }
        _ => None,
    };
    let mut plans = Vec::new();
    for host in &cfg.hosts {
        if let Host::Tcp { host: name, port } = host {
            let addrs: Vec<SocketAddr> = (name.as_str(), *port)
                .to_socket_addrs()
                .with_context(|| format!("resolving {host}"))?
                .collect();
            let Some(first) = addrs.first().copied() else {
                bail!("{host} resolves to no address");
            };
            if acceptor.is_none() && !addrs.iter().all(|a| a.ip().is_loopback()) {
                bail!(
                    "refusing to serve the API on {host} without TLS: anyone who can reach {} would get root on this machine. Use --tlsverify with --tlscacert, --tlscert and --tlskey (or listen on 127.0.0.1 or a unix:// socket)",
                    first.ip()
                );
            }
            if cfg.tls.as_ref().is_some_and(|t| !t.verify) && !first.ip().is_loopback() {
                tracing::warn!(host = %host, "TLS without --tlsverify: any client that reaches the API gets root on this machine");
                eprintln!(
                    "WARNING: {host} is served with --tls but without --tlsverify: any client that reaches it gets root on this machine"
                );
            }
            plans.push(TcpPlan {
                shown: host.to_string(),
                addr: first,
            });
        }
    }
    let mut out = Vec::new();
    let mut plans = plans.into_iter();
    for host in &cfg.hosts {
        match host {
            Host::Unix(path) => out.push(Listener::Unix {
                listener: bind_unix(path, group)?,
                path: path.clone(),
            }),
            Host::Tcp { .. } => {
                let Some(plan) = plans.next() else {
                    bail!("internal error: a tcp host was not resolved");
                };
                let std_listener = std::net::TcpListener::bind(plan.addr)
                    .with_context(|| format!("listening on {}", plan.shown))?;
                std_listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(std_listener)?;
                let addr = listener.local_addr()?;
                out.push(Listener::Tcp {
                    listener,
                    addr,
                    tls: acceptor.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// The TLS server side: our certificate and key, and with `verify` a client certificate
/// signed by the CA is required (rustls refuses the handshake otherwise).
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "reading the TLS certificate {} (--tlscert)",
                files.cert.display()
            )
        })?;
    if certs.is_empty() {
        bail!(
            "no certificate in {} (--tlscert): expected PEM",
            files.cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading the TLS key {} (--tlskey)", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?;
    let builder = if files.verify {
        let mut roots = rustls::RootCertStore::empty();
        let cas = CertificateDer::pem_file_iter(&files.ca)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .with_context(|| {
                format!(
                    "reading the CA certificate {} (--tlscacert)",
                    files.ca.display()
                )
            })?;
        for ca in cas {
            roots
                .add(ca)
                .with_context(|| format!("using the CA certificate {}", files.ca.display()))?;
        }
        if roots.is_empty() {
            bail!(
                "no certificate in {} (--tlscacert): expected PEM",
                files.ca.display()
            );
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .context("setting up client certificate verification")?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(certs, key).with_context(|| {
        format!(
            "the TLS key {} does not go with the certificate {}",
            files.key.display(),
            files.cert.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Binds the socket (replacing a stale one), mode 0660, group `group` (default `docker` when
/// that group exists, else root's).
fn bind_unix(path: &Path, group: Option<&str>) -> Result<tokio::net::UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("{} is in use by another process", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale {}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("listening on {}", path.display()))?;
    let gid = match group {
        Some(name) => Some(
            nix::unistd::Group::from_name(name)?
                .with_context(|| format!("group {name} does not exist"))?
                .gid,
        ),
        None => nix::unistd::Group::from_name("docker")?.map(|g| g.gid),
    };
    if let Some(gid) = gid {
        nix::unistd::chown(path, None, Some(gid))
            .with_context(|| format!("chown {}", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod {}", path.display()))?;
    Ok(listener)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_as_dockerd() {
        let tcp = |h: &str, p| Host::Tcp {
            host: h.to_string(),
            port: p,
        };
        assert_eq!(
            parse_host("unix:///x/e.sock", false).unwrap(),
            Host::Unix("/x/e.sock".into())
        );
        assert_eq!(
            parse_host("unix://", false).unwrap(),
            Host::Unix(DEFAULT_SOCKET.into())
        );
        assert_eq!(
            parse_host("tcp://0.0.0.0:2376", true).unwrap(),
            tcp("0.0.0.0", 2376)
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1", false).unwrap(),
            tcp("127.0.0.1", 2375)
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1", true).unwrap(),
            tcp("127.0.0.1", 2376)
        );
        assert_eq!(
            parse_host("tcp://:4243", false).unwrap(),
            tcp("localhost", 4243)
        );
        assert_eq!(parse_host("tcp://[::1]:9", false).unwrap(), tcp("::1", 9));
        for bad in [
            "fd://",
            "ssh://me@host",
            "127.0.0.1:2375",
            "tcp://h:x",
            "tcp://h:0",
            "tcp://h:2375/path",
            "tcp://[::1",
        ] {
            assert!(parse_host(bad, false).is_err(), "{bad} accepted");
        }
    }

    fn args(hosts: &[&str]) -> DaemonOptions {
        DaemonOptions {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            group: None,
            tls: false,
            tlsverify: false,
            tlscacert: None,
            tlscert: None,
            tlskey: None,
            api_header_timeout: None,
            api_max_connections: None,
        }
    }

    #[test]
    fn plain_tcp_is_served_on_loopback_only() {
        let cfg = config(&args(&["tcp://0.0.0.0:2375"]), &ApiFileSettings::default()).unwrap();
        let err = bind_all(&cfg, None).unwrap_err().to_string();
        assert!(
            err.contains("refusing to serve the API on tcp://0.0.0.0:2375 without TLS"),
            "{err}"
        );
        assert!(err.contains("--tlsverify"), "{err}");
    }

    #[test]
    fn a_setting_given_as_flag_and_in_the_file_is_an_error() {
        let file = ApiFileSettings {
            hosts: Some(vec!["unix:///a.sock".into()]),
            tlsverify: Some(true),
            ..ApiFileSettings::default()
        };
        let mut a = args(&["unix:///b.sock"]);
        a.tlsverify = true;
        let err = config(&a, &file).unwrap_err().to_string();
        assert!(err.contains("hosts: (from flag"), "{err}");
        assert!(
            err.contains("tlsverify: (from flag: true, from file: true)"),
            "{err}"
        );
        // From the file alone.
        let cfg = config(&args(&[]), &file).unwrap();
        assert_eq!(cfg.hosts, [Host::Unix("/a.sock".into())]);
        assert!(cfg.tls.unwrap().verify);
    }
}
