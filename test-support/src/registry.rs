//! A registry to pull from and push to: Debian's `docker-registry` (distribution 2.x) serving
//! a temp directory on a free port, with basic auth or TLS when asked; killed, and its storage
//! removed, on drop, even when the test fails. The client side (each test's own credentials
//! file and certs dir) is the [`crate::Engine`]'s.

use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::rootfs::BUSYBOX;

/// The registry binary (Debian's `docker-registry`).
pub const REGISTRY: &str = "/usr/bin/docker-registry";

/// Whether `tool` is on the PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether a registry test can run: root, busybox, the registry binary and `tools`; else
/// SKIP (a failure under `ENGINE_REQUIRE_ROOT_TESTS=1`).
pub fn registry_available(test: &str, tools: &[&str]) -> bool {
    if !crate::tier::root_available(test) {
        return false;
    }
    if !Path::new(BUSYBOX).exists() {
        return crate::tier::skip(test, "needs /bin/busybox (busybox-static)");
    }
    if !Path::new(REGISTRY).exists() {
        return crate::tier::skip(
            test,
            "needs docker-registry (apt-get install docker-registry)",
        );
    }
    for tool in tools {
        if !have(tool) {
            return crate::tier::skip(test, &format!("needs {tool}"));
        }
    }
    true
}

/// A port nobody listens on at `ip` (now).
pub fn free_port_on(ip: IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How a [`Registry`] serves.
#[derive(Debug, Default)]
pub struct RegistryOpts {
    /// An htpasswd line: basic auth with it.
    pub htpasswd: Option<String>,
    /// (certificate, key) paths: HTTPS with them.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The address to listen on (127.0.0.1 unless given).
    pub ip: Option<IpAddr>,
}

/// A `docker-registry serve` on a free port, killed and its storage removed on drop.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `IP:PORT`.
    pub host: String,
}

impl Registry {
    /// Starts it and waits until it accepts connections.
    pub fn start(opts: RegistryOpts) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("engine-registry-")
            .tempdir()
            .unwrap();
        let ip = opts.ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let port = free_port_on(ip);
        let host = format!("{ip}:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = &opts.tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some(entry) = &opts.htpasswd {
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, entry).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let r = Registry { child, dir, host };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&r.host).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// Its directory: `data/` holds what it stores (blobs under
    /// `data/docker/registry/v2/blobs`).
    pub fn storage(&self) -> &Path {
        self.dir.path()
    }

    /// What the registry logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
