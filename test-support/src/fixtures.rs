//! The end-to-end fixtures: a data root with busybox imported, driven through the
//! `engine` binary, and cleaned up (processes, mounts, files) even when a test fails.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::rootfs::{BUSYBOX, busybox_tar};
use std::time::{Duration, Instant};

/// A data root with busybox imported, on one driver. Drop kills what the engine left running
/// (monitors and containers, by pid), unmounts everything under the root, then deletes it.
#[derive(Debug)]
pub struct Engine {
    /// The data root, deleted on drop.
    pub root: tempfile::TempDir,
    /// The storage driver every command is given.
    pub driver: &'static str,
    /// This engine's own addresses and bridge name, so tests never collide with each other
    /// or with a real docker0.
    pub net: TestNet,
    /// The registry client's credentials (`DOCKER_CONFIG`: `login` writes `config.json`
    /// there), the test's own, never the host's.
    pub docker_config: tempfile::TempDir,
    /// The registry client's CA certificates (`ENGINE_CERTS_DIR`: `<host:port>/ca.crt`), the
    /// test's own, never the host's /etc/engine/certs.d.
    pub certs: tempfile::TempDir,
    /// Global flags given to every command (`--insecure-registry HOST`, say).
    pub extra_flags: Vec<String>,
}

/// A /20 of 10.192.0.0/10 that no host route and no other engine of this process uses:
/// the default bridge is its first /24, the pool for networks without `--subnet` its
/// second /22 (4 /24s), and tests giving `--subnet` take [`TestNet::subnet`] from its
/// upper half.
#[derive(Debug, Clone)]
pub struct TestNet {
    /// The second and third octets of the block's base (10.A.B.0/20).
    pub a: u8,
    /// See `a`.
    pub b: u8,
    /// The default bridge's interface.
    pub bridge: String,
}

impl TestNet {
    fn pick() -> TestNet {
        static TAKEN: std::sync::Mutex<Vec<(u8, u8)>> = std::sync::Mutex::new(Vec::new());
        let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        let used: Vec<(u32, u32)> = routes
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let d = u32::from_str_radix(f.get(1)?, 16).ok()?;
                let m = u32::from_str_radix(f.get(7)?, 16).ok()?;
                let d = u32::from_be_bytes(d.to_ne_bytes());
                let m = u32::from_be_bytes(m.to_ne_bytes());
                (m != 0).then_some((d, m))
            })
            .collect();
        let mut taken = TAKEN.lock().unwrap();
        loop {
            let r: u16 = rand::random::<u16>() % 1024;
            let a = 192 + (r / 16) as u8;
            let b = ((r % 16) * 16) as u8;
            let base = u32::from_be_bytes([10, a, b, 0]);
            let block_mask = u32::MAX << 12;
            let clash = used.iter().any(|(d, m)| {
                let m = *m & block_mask;
                (d & m) == (base & m)
            });
            if clash || taken.contains(&(a, b)) {
                continue;
            }
            taken.push((a, b));
            let bridge = format!("et{:08x}", rand::random::<u32>());
            return TestNet { a, b, bridge };
        }
    }

    /// The default bridge's `--bip`.
    pub fn bip(&self) -> String {
        format!("10.{}.{}.1/24", self.a, self.b)
    }

    /// The pool for networks created without `--subnet`.
    pub fn pool(&self) -> String {
        format!("base=10.{}.{}.0/22,size=24", self.a, self.b + 4)
    }

    /// The `i`-th /24 (0..8) for `--subnet`.
    pub fn subnet(&self, i: u8) -> String {
        format!("10.{}.{}.0/24", self.a, self.b + 8 + i)
    }

    /// The gateway of the default bridge (the host's address on it).
    pub fn bridge_gateway(&self) -> String {
        format!("10.{}.{}.1", self.a, self.b)
    }
}

impl Engine {
    /// `None` (and SKIP printed) when the tier or the driver is not available.
    pub fn new(test: &str, driver: &'static str) -> Option<Engine> {
        Engine::with_image(test, driver, &busybox_tar())
    }

    /// [`Engine::new`] with `tar` imported as `busybox` instead of the busybox root
    /// filesystem.
    pub fn with_image(test: &str, driver: &'static str, tar: &[u8]) -> Option<Engine> {
        if !crate::tier::root_available(test) {
            return None;
        }
        if !Path::new(BUSYBOX).exists() {
            crate::tier::skip(
                test,
                "needs /bin/busybox (apt-get install -y busybox-static)",
            );
            return None;
        }
        let e = Engine {
            root: tempfile::Builder::new()
                .prefix("engine-run-")
                .tempdir()
                .unwrap(),
            driver,
            net: TestNet::pick(),
            docker_config: tempfile::tempdir().unwrap(),
            certs: tempfile::tempdir().unwrap(),
            extra_flags: Vec::new(),
        };
        let probe = e.engine(&["info"]);
        if !probe.status.success() {
            let err = String::from_utf8_lossy(&probe.stderr);
            if err.contains("unknown storage driver") || err.contains("not supported") {
                crate::tier::skip(
                    test,
                    &format!("this build has no usable {driver} driver: {err}"),
                );
                return None;
            }
            panic!("engine info failed: {err}");
        }
        let path = e.root.path().join("busybox.tar");
        std::fs::write(&path, tar).unwrap();
        e.ok(&["import", path.to_str().unwrap(), "busybox"]);
        std::fs::remove_file(&path).unwrap();
        Some(e)
    }

    /// An `engine` command on this data root, driver and test network, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(crate::engine_bin());
        c.arg("--data-root")
            .arg(self.root.path())
            .arg("--storage-driver")
            .arg(self.driver)
            .arg("--bip")
            .arg(self.net.bip())
            .arg("--bridge")
            .arg(&self.net.bridge)
            .arg("--default-address-pool")
            .arg(self.net.pool())
            .args(&self.extra_flags)
            .args(args)
            .env("DOCKER_CONFIG", self.docker_config.path())
            .env("ENGINE_CERTS_DIR", self.certs.path())
            .env_remove("ENGINE_LOG");
        c
    }

    /// Runs `args` with `input` on standard input.
    pub fn with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs `args`, which must fail with exit status 1; returns standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.engine(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "engine {args:?} should fail with 1: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The credentials file `login` writes.
    pub fn credentials_file(&self) -> std::path::PathBuf {
        self.docker_config.path().join("config.json")
    }

    /// Runs `engine ARGS` with stdin closed and returns what it did.
    pub fn engine(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs `engine ARGS`, panics with its stderr unless it succeeded, returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.engine(args);
        assert!(
            out.status.success(),
            "engine {args:?} failed ({:?}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `engine inspect NAME`'s one object.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self.ok(&["inspect", name]);
        let mut v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        v.remove(0)
    }

    /// Polls `inspect` until `pred` holds (or panics after `secs`).
    pub fn wait_for(
        &self,
        name: &str,
        secs: u64,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.inspect(name);
            if pred(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting on {name}: {v:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The data root.
    pub fn path(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Monitors first (so none restarts a container), then the containers by their
        // recorded init pids, then their cgroups (no monitor is left to remove them), then
        // the mounts.
        kill_processes_mentioning(self.path());
        let mut ids = Vec::new();
        if let Ok(dirs) = std::fs::read_dir(self.path().join("containers")) {
            for d in dirs.flatten() {
                ids.push(d.file_name().to_string_lossy().into_owned());
                let Ok(text) = std::fs::read_to_string(d.path().join("config.json")) else {
                    continue;
                };
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                if let Some(pid) = v["State"]["Pid"].as_i64().filter(|p| *p > 0) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        remove_cgroups(&ids);
        teardown_networks(self.path());
        unmount_under(self.path());
    }
}

/// Removes `engine/<id>` in every cgroup hierarchy, retrying a moment while killed processes
/// leave.
pub fn remove_cgroups(ids: &[String]) {
    let root = Path::new("/sys/fs/cgroup");
    let mut bases = vec![root.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(root) {
        bases.extend(entries.flatten().map(|e| e.path()));
    }
    for id in ids {
        for base in &bases {
            let dir = base.join("engine").join(id);
            let deadline = Instant::now() + Duration::from_secs(2);
            while dir.exists() && std::fs::remove_dir(&dir).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The flock every engine takes around netavark (`/run/lock/engine-netavark.lock`), held
/// while the returned file lives; `None` when it cannot be taken.
fn host_netavark_lock() -> Option<std::fs::File> {
    std::fs::create_dir_all("/run/lock").ok()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/run/lock/engine-netavark.lock")
        .ok()?;
    file.lock().ok()?;
    Some(file)
}

/// Undoes every network namespace the engine set up under `root` (with the options it
/// recorded, as its own sweep does), then deletes any bridge of its networks still there.
pub fn teardown_networks(root: &Path) {
    let netns = root.join("netns");
    let netavark = Path::new("/usr/lib/podman/netavark");
    if let Ok(entries) = std::fs::read_dir(&netns) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let ns = path.with_extension("");
            if netavark.exists()
                && let Ok(options) = std::fs::File::open(&path)
            {
                // The engine's own host-wide lock: netavark's iptables changes race with the
                // setups other tests' engines run meanwhile ("No chain/target/match").
                let _host_lock = host_netavark_lock();
                let _ = Command::new(netavark)
                    .arg("--config")
                    .arg(netns.join("aardvark"))
                    .arg("--aardvark-binary")
                    .arg("/usr/lib/podman/aardvark-dns")
                    .arg("--rootless")
                    .arg("false")
                    .arg("teardown")
                    .arg(&ns)
                    .stdin(options)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = nix::mount::umount2(&ns, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    if let Ok(entries) = std::fs::read_dir(root.join("networks")) {
        for e in entries.flatten() {
            let v: serde_json::Value = std::fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            if let Some(bridge) = v["Bridge"].as_str().filter(|b| !b.is_empty())
                && Path::new("/sys/class/net").join(bridge).exists()
            {
                let _ = Command::new("ip")
                    .args(["link", "del", bridge])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// Kills every process with `root` on its command line (monitors, daemons, their helpers).
pub fn kill_processes_mentioning(root: &Path) {
    let root = root.to_string_lossy().into_owned();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&root) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Detaches every mount under `root`, deepest first.
pub fn unmount_under(root: &Path) {
    let root = root.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| mp.starts_with(&root))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for mp in points {
        let _ = nix::mount::umount2(mp, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The Python of a venv with Docker's SDK (made by the workspace's
/// scripts/client-venv.sh), or `None` after a skip when it cannot be installed.
pub fn sdk_python(test: &str) -> Option<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/client-venv.sh");
    let out = Command::new(script)
        .output()
        .expect("scripts/client-venv.sh");
    if !out.status.success() {
        crate::tier::skip(
            test,
            &format!(
                "cannot install Docker's Python SDK (pip install docker): {}",
                stderr(&out)
            ),
        );
        return None;
    }
    Some(stdout(&out).trim().to_string())
}

/// A loopback TCP port free at the time of the call.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command's stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `root_<name>_vfs` and `root_<name>_overlay2` running `body` on each driver.
#[macro_export]
macro_rules! on_both_drivers {
    ($name:ident) => {
        on_both_drivers!($name, $name);
    };
    ($name:ident, $body:ident) => {
        mod $name {
            #[test]
            fn root_vfs() {
                let test = concat!("root_", stringify!($name), "_vfs");
                if let Some(e) = super::Engine::new(test, "vfs") {
                    super::$body(&e);
                }
            }
            #[test]
            fn root_overlay2() {
                let test = concat!("root_", stringify!($name), "_overlay2");
                if let Some(e) = super::Engine::new(test, "overlay2") {
                    super::$body(&e);
                }
            }
        }
    };
}

/// The docker CLI (Debian's docker.io, or a newer one in /usr/local/bin), or a skip (a
/// failure under ENGINE_REQUIRE_ROOT_TESTS=1).
pub fn docker_cli(test: &str) -> Option<std::path::PathBuf> {
    let found = ["/usr/bin/docker", "/usr/local/bin/docker"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        crate::tier::skip(test, "needs the docker CLI (apt-get install docker.io)");
    }
    found
}

/// `engine daemon` on the engine's data root, serving a socket in it; killed on drop.
#[derive(Debug)]
pub struct Daemon {
    /// The `engine daemon` process.
    pub child: std::process::Child,
    /// The UNIX socket it serves.
    pub socket: std::path::PathBuf,
    /// The Docker CLI binary that drives it.
    pub docker: std::path::PathBuf,
    client_config: tempfile::TempDir,
}

impl Daemon {
    /// Starts the daemon and waits until `docker version` answers.
    pub fn start(e: &Engine, docker: std::path::PathBuf) -> Daemon {
        Daemon::start_with(e, docker, &[])
    }

    /// Starts the daemon with `extra` arguments after its UNIX socket's `-H`.
    pub fn start_with(e: &Engine, docker: std::path::PathBuf, extra: &[&str]) -> Daemon {
        let socket = e.path().join("engine.sock");
        let log = std::fs::File::create(e.path().join("daemon.log")).unwrap();
        let host = format!("unix://{}", socket.display());
        let mut args = vec!["daemon", "-H", host.as_str()];
        args.extend_from_slice(extra);
        let child = e
            .command(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Daemon {
            child,
            socket,
            docker,
            client_config: tempfile::tempdir().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "engine daemon did not answer: {}",
                std::fs::read_to_string(e.path().join("daemon.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    /// Takes over a daemon started by the caller on `socket`, once `docker version` answers.
    pub fn adopt(
        child: std::process::Child,
        socket: std::path::PathBuf,
        docker: std::path::PathBuf,
    ) -> Daemon {
        let d = Daemon {
            child,
            socket,
            docker,
            client_config: tempfile::tempdir().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.docker(&["version"]).status.success() {
            assert!(Instant::now() < deadline, "engine daemon did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    /// A docker CLI command pointed at the daemon.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.docker);
        c.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.client_config.path())
            .args(args);
        c
    }

    /// Runs `docker ARGS` against this daemon with stdin closed.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs docker and returns its stdout, failing the test on a non-zero exit.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({:?}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
