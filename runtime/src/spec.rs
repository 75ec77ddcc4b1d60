//! What to run: the container's configuration, with Docker's defaults.

use std::path::PathBuf;

use crate::caps::CapSet;
use crate::cgroup::Resources;
use crate::devices::{DeviceNode, DeviceRule};
use crate::seccomp::Profile;
use crate::user::User;

/// The `PATH` Docker gives a container whose environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Paths Docker hides from a container: directories get an empty read-only tmpfs, files
/// `/dev/null`.
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only in a container.
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// One process to start: the container's init, or one added by [`crate::exec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The command and its arguments; `args[0]` is looked up in the container's `PATH` unless it
    /// contains a `/`.
    pub args: Vec<String>,
    /// `KEY=value` pairs. When no `PATH` is given, [`DEFAULT_PATH`] is added; when no `HOME` is
    /// given, the user's home directory from the container's /etc/passwd (or `/`) is added.
    pub env: Vec<String>,
    /// The working directory inside the container; created when missing (as Docker does).
    pub cwd: PathBuf,
    /// Who runs it; see [`crate::resolve_user`].
    pub user: User,
    /// Give the process a new pseudo-terminal as its stdin/stdout/stderr and controlling
    /// terminal; the parent gets the master side.
    pub tty: bool,
    /// The terminal's initial size (rows, columns), so the process sees the client's size
    /// from its first instruction rather than 0x0 until a resize arrives.
    pub console_size: Option<(u16, u16)>,
    /// Keep stdin open. Without it the process reads /dev/null.
    pub stdin: bool,
    /// The bounding set and, for root, the effective and permitted sets.
    pub capabilities: CapSet,
    /// Set `no_new_privs`, so setuid binaries and file capabilities gain nothing
    /// (`--security-opt no-new-privileges`; off by default, as in Docker).
    pub no_new_privileges: bool,
    /// The seccomp profile, compiled against [`Self::capabilities`]; `None` is unconfined
    /// (`--privileged`, `--security-opt seccomp=unconfined`).
    pub seccomp: Option<Profile>,
    /// Resource limits (`--ulimit`), applied before the user switch.
    pub rlimits: Vec<Rlimit>,
}

/// One `--ulimit`: a resource and its soft and hard limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// `RLIMIT_*` number.
    pub resource: u32,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

impl Rlimit {
    /// Docker's `--ulimit` names (`nofile`, `nproc`, `core`, ...): the resource number.
    #[allow(clippy::unnecessary_cast)] // RLIMIT_* are u32 on glibc, i32 elsewhere
    pub fn resource_by_name(name: &str) -> Option<u32> {
        Some(match name {
            "as" => libc::RLIMIT_AS as u32,
            "core" => libc::RLIMIT_CORE,
            "cpu" => libc::RLIMIT_CPU,
            "data" => libc::RLIMIT_DATA,
            "fsize" => libc::RLIMIT_FSIZE,
            "locks" => libc::RLIMIT_LOCKS,
            "memlock" => libc::RLIMIT_MEMLOCK,
            "msgqueue" => libc::RLIMIT_MSGQUEUE,
            "nice" => libc::RLIMIT_NICE,
            "nofile" => libc::RLIMIT_NOFILE,
            "nproc" => libc::RLIMIT_NPROC,
            "rss" => libc::RLIMIT_RSS,
            "rtprio" => libc::RLIMIT_RTPRIO,
            "rttime" => libc::RLIMIT_RTTIME,
            "sigpending" => libc::RLIMIT_SIGPENDING,
            "stack" => libc::RLIMIT_STACK,
            _ => return None,
        })
    }

    /// Parses Docker's `--ulimit NAME=SOFT[:HARD]` (`-1` is unlimited).
    pub fn parse(text: &str) -> crate::Result<Rlimit> {
        use crate::Error;
        let (name, values) = text
            .split_once('=')
            .ok_or_else(|| Error::InvalidInput(format!("invalid ulimit argument: {text}")))?;
        let resource = Rlimit::resource_by_name(name)
            .ok_or_else(|| Error::InvalidInput(format!("invalid ulimit type: {name}")))?;
        let (soft, hard) = values.split_once(':').unwrap_or((values, values));
        let num = |v: &str| -> crate::Result<u64> {
            match v.parse::<i64>() {
                Ok(-1) => Ok(libc::RLIM_INFINITY),
                Ok(n) if n >= 0 => Ok(n as u64),
                _ => Err(Error::InvalidInput(format!(
                    "invalid ulimit argument: {text}"
                ))),
            }
        };
        let (soft, hard) = (num(soft)?, num(hard)?);
        if soft > hard {
            return Err(Error::InvalidInput(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        Ok(Rlimit {
            resource,
            soft,
            hard,
        })
    }
}

/// A tmpfs mounted in the container (`--tmpfs PATH[:OPTIONS]`, `--mount type=tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsMount {
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// Mount options as `mount -o` takes them (`size=64m,mode=1777,noexec`); Docker's default
    /// `nosuid,nodev,noexec` applies unless an option says otherwise.
    pub options: String,
}

impl ProcessSpec {
    /// A process running `args` as root in `/`, with Docker's default capabilities.
    pub fn new(args: Vec<String>) -> ProcessSpec {
        ProcessSpec {
            args,
            env: Vec::new(),
            cwd: PathBuf::from("/"),
            user: User::root(),
            tty: false,
            console_size: None,
            stdin: false,
            capabilities: CapSet::docker_default(),
            no_new_privileges: false,
            seccomp: Some(Profile::docker_default()),
            rlimits: Vec::new(),
        }
    }
}

/// A host path bound into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// The host path (file or directory).
    pub source: PathBuf,
    /// The absolute path inside the container; created when missing.
    pub destination: PathBuf,
    /// Mount it read-only.
    pub readonly: bool,
}

/// Which network namespace the container gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Network {
    /// Its own network namespace with only loopback (`--network none`).
    None,
    /// The host's network namespace (`--network host`).
    Host,
    /// Its own network namespace with loopback up, the default network: published ports reach
    /// it through [`crate::publish_tcp`].
    #[default]
    Isolated,
    /// An existing network namespace, by path (a bind-mounted nsfs file the engine set up, or
    /// `/proc/PID/ns/net` of another container): `--network NAME` and `container:ID`. Its
    /// interfaces, loopback included, are whoever made it's business.
    Join(PathBuf),
}

/// Whether the container gets a new IPC, PID or UTS namespace, the host's, or another's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Namespace {
    /// A new one (Docker's default).
    #[default]
    Private,
    /// The caller's (`--ipc host`, `--pid host`, `--uts host`).
    Host,
    /// An existing one, by path (`/proc/PID/ns/ipc` of another container: `container:ID`).
    Join(PathBuf),
}

impl Namespace {
    /// Whether this is the caller's own `kind` namespace (`ipc`, `uts`): the host's, or
    /// another container's that is itself the host's (`--ipc container:X` of an X run with
    /// `--ipc host`). A sysctl written there would change the host's.
    pub fn is_callers(&self, kind: &str) -> bool {
        match self {
            Namespace::Private => false,
            Namespace::Host => true,
            Namespace::Join(path) => same_namespace(path, &format!("/proc/self/ns/{kind}")),
        }
    }
}

impl Network {
    /// Whether this is the caller's network namespace (see [`Namespace::is_callers`]).
    pub fn is_callers(&self) -> bool {
        match self {
            Network::Host => true,
            Network::Join(path) => same_namespace(path, "/proc/self/ns/net"),
            Network::None | Network::Isolated => false,
        }
    }
}

/// Whether two namespace files name the same namespace (same nsfs inode and device).
fn same_namespace(a: &std::path::Path, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// The IPC, PID and UTS namespaces: new unless shared (`--ipc`, `--pid`, `--uts`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Namespaces {
    /// `--ipc`.
    pub ipc: Namespace,
    /// `--pid`.
    pub pid: Namespace,
    /// `--uts`; the hostname is set only in a private one.
    pub uts: Namespace,
}

/// Everything the runtime needs to start a container on an already-mounted rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The container id: names the cgroup (`engine/<id>`), must be a plain file name.
    pub id: String,
    /// The mounted root filesystem (the storage driver's `get` result).
    pub rootfs: PathBuf,
    /// The container's init process.
    pub process: ProcessSpec,
    /// The hostname inside the container (ignored with [`Network::Host`], as Docker does,
    /// when `None`); `None` leaves the UTS namespace's inherited name.
    pub hostname: Option<String>,
    /// Bind mounts, applied in order after /proc, /sys and /dev.
    pub mounts: Vec<BindMount>,
    /// The network namespace.
    pub network: Network,
    /// Memory limit in bytes (`-m`).
    pub memory_limit: Option<u64>,
    /// Memory plus swap limit in bytes (`--memory-swap`); `None` with a memory limit means twice
    /// the memory limit, as Docker does.
    pub memory_swap_limit: Option<u64>,
    /// Paths to hide; see [`DEFAULT_MASKED_PATHS`].
    pub masked_paths: Vec<String>,
    /// Paths to make read-only; see [`DEFAULT_READONLY_PATHS`].
    pub readonly_paths: Vec<String>,
    /// Limits besides memory and the device allowlist (Docker's default list:
    /// [`crate::devices::default_rules`]). [`ContainerSpec::memory_limit`] and
    /// [`ContainerSpec::memory_swap_limit`] override `resources.memory*`.
    pub resources: Resources,
    /// Device nodes created in /dev besides the standard ones (`--device`, `--privileged`);
    /// their cgroup rules are the caller's to add to `resources.devices`.
    pub devices: Vec<DeviceNode>,
    /// Mount the rootfs read-only (`--read-only`); /dev, /proc, the mounts stay as they are.
    pub readonly_rootfs: bool,
    /// tmpfs mounts, mounted with the bind mounts.
    pub tmpfs: Vec<TmpfsMount>,
    /// Size of /dev/shm in bytes (`--shm-size`; Docker's 64 MiB when `None`).
    pub shm_size: Option<u64>,
    /// Namespaced sysctls to set (`--sysctl`), e.g. `net.ipv4.ip_forward` = `1`.
    pub sysctls: Vec<(String, String)>,
    /// Mount /sys read-write (`--privileged`).
    pub writable_sysfs: bool,
    /// Run a minimal init as PID 1 that reaps zombies and forwards signals to the command
    /// (`--init`).
    pub init: bool,
    /// IPC, PID and UTS namespaces shared with the host or another container.
    pub namespaces: Namespaces,
    /// The NIS domain name in the container's own UTS namespace (`--domainname`).
    pub domainname: Option<String>,
    /// The init's OOM score adjustment, -1000..=1000 (`--oom-score-adj`); its children
    /// inherit it.
    pub oom_score_adj: Option<i32>,
    /// A cgroup namespace of its own, rooted at the container's cgroup (`--cgroupns
    /// private`); else the caller's. Either way the container's own cgroup is mounted
    /// read-only at /sys/fs/cgroup.
    pub private_cgroupns: bool,
}

/// Sysctls a container may set: those of its own IPC, UTS or network namespace (Docker's list).
pub fn sysctl_namespace(key: &str) -> Option<&'static str> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some("ipc")
    } else if key.starts_with("net.") {
        Some("net")
    } else if key == "kernel.domainname" {
        Some("uts")
    } else {
        None
    }
}

impl ContainerSpec {
    /// A spec with Docker's defaults: isolated network, masked and read-only paths, default
    /// capabilities, no limits, no mounts.
    pub fn new(id: impl Into<String>, rootfs: impl Into<PathBuf>, args: Vec<String>) -> Self {
        ContainerSpec {
            id: id.into(),
            rootfs: rootfs.into(),
            process: ProcessSpec::new(args),
            hostname: None,
            mounts: Vec::new(),
            network: Network::Isolated,
            memory_limit: None,
            memory_swap_limit: None,
            masked_paths: DEFAULT_MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
            readonly_paths: DEFAULT_READONLY_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            resources: Resources {
                devices: crate::devices::default_rules(),
                ..Resources::default()
            },
            devices: Vec::new(),
            readonly_rootfs: false,
            tmpfs: Vec::new(),
            shm_size: None,
            sysctls: Vec::new(),
            writable_sysfs: false,
            init: false,
            namespaces: Namespaces::default(),
            domainname: None,
            oom_score_adj: None,
            private_cgroupns: false,
        }
    }

    /// `--privileged`: every capability, every host device, no seccomp, /sys read-write,
    /// nothing masked.
    pub fn make_privileged(&mut self) -> crate::Result<()> {
        self.process.capabilities = CapSet::all();
        self.process.seccomp = None;
        self.resources.devices = vec![DeviceRule::allow_all()];
        let host =
            DeviceNode::all_under(std::path::Path::new("/dev"), std::path::Path::new("/dev"))?;
        for d in host {
            if !self.devices.iter().any(|x| x.path == d.path) {
                self.devices.push(d);
            }
        }
        self.writable_sysfs = true;
        self.masked_paths.clear();
        self.readonly_paths.clear();
        Ok(())
    }

    /// Checks what can be checked without touching the system.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::Error;
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 128
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            && !self.id.starts_with('.');
        if !id_ok {
            return Err(Error::InvalidInput(format!(
                "invalid container id {:?}: use letters, digits, '_', '-', '.'",
                self.id
            )));
        }
        if !self.rootfs.is_absolute() {
            return Err(Error::InvalidInput(format!(
                "rootfs {} must be an absolute path",
                self.rootfs.display()
            )));
        }
        validate_process(&self.process)?;
        for m in &self.mounts {
            if !m.destination.is_absolute() || !m.source.is_absolute() {
                return Err(Error::InvalidInput(format!(
                    "bind mount {}:{}: both paths must be absolute",
                    m.source.display(),
                    m.destination.display()
                )));
            }
        }
        if let Some(h) = &self.hostname
            && (h.is_empty() || h.len() > 64 || h.contains('\0'))
        {
            return Err(Error::InvalidInput(format!("invalid hostname {h:?}")));
        }
        if let Some(d) = &self.domainname
            && (d.len() > 64 || d.contains('\0'))
        {
            return Err(Error::InvalidInput(format!("invalid domainname {d:?}")));
        }
        if let Some(adj) = self.oom_score_adj
            && !(-1000..=1000).contains(&adj)
        {
            return Err(Error::InvalidInput(format!(
                "Invalid value {adj}, range for oom score adj is [-1000, 1000]"
            )));
        }
        if let Some(limit) = self.memory_limit
            && limit < MIN_MEMORY
        {
            return Err(Error::InvalidInput(format!(
                "minimum memory limit allowed is 6MB, got {limit} bytes"
            )));
        }
        for (key, _) in &self.sysctls {
            match sysctl_namespace(key) {
                None => {
                    return Err(Error::InvalidInput(format!(
                        "sysctl {key:?} is not allowed: only namespaced sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*, kernel.domainname) can be set"
                    )));
                }
                Some("net") if self.network.is_callers() => {
                    return Err(Error::InvalidInput(format!(
                        "sysctl {key:?} is not allowed in the host network namespace"
                    )));
                }
                Some("ipc") if self.namespaces.ipc.is_callers("ipc") => {
                    return Err(Error::InvalidInput(format!(
                        "sysctl {key:?} is not allowed in the host's ipc namespace"
                    )));
                }
                Some("uts") if self.namespaces.uts.is_callers("uts") => {
                    return Err(Error::InvalidInput(format!(
                        "sysctl {key:?} is not allowed in the host's uts namespace"
                    )));
                }
                Some(_) => {}
            }
        }
        for t in &self.tmpfs {
            if !t.destination.is_absolute() {
                return Err(Error::InvalidInput(format!(
                    "tmpfs destination {} must be an absolute path",
                    t.destination.display()
                )));
            }
            crate::rootfs::tmpfs_options(&t.options)?;
        }
        if let (Some(mem), Some(swap)) = (self.memory_limit, self.memory_swap_limit)
            && swap < mem
        {
            return Err(Error::InvalidInput(
                "minimum memoryswap limit should be larger than memory limit".into(),
            ));
        }
        Ok(())
    }
}

/// Docker's smallest accepted memory limit (6 MiB).
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;

pub(crate) fn validate_process(p: &ProcessSpec) -> crate::Result<()> {
    use crate::Error;
    if p.args.is_empty() || p.args[0].is_empty() {
        return Err(Error::InvalidInput("no command specified".into()));
    }
    if p.args.iter().chain(p.env.iter()).any(|a| a.contains('\0')) {
        return Err(Error::InvalidInput(
            "arguments and environment must not contain NUL bytes".into(),
        ));
    }
    if let Some(bad) = p
        .env
        .iter()
        .find(|e| !e.contains('=') || e.starts_with('='))
    {
        return Err(Error::InvalidInput(format!(
            "invalid environment entry {bad:?}: want KEY=value"
        )));
    }
    if !p.cwd.is_absolute() {
        return Err(Error::InvalidInput(format!(
            "the working directory {} must be absolute",
            p.cwd.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec::new("c1", "/tmp/rootfs", vec!["true".into()])
    }

    #[test]
    fn defaults_are_dockers() {
        let s = spec();
        assert!(s.masked_paths.iter().any(|p| p == "/proc/kcore"));
        assert!(s.readonly_paths.iter().any(|p| p == "/proc/sys"));
        assert_eq!(s.network, Network::Isolated);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn sysctls_of_the_callers_namespaces_are_refused() {
        let with = |key: &str, f: &dyn Fn(&mut ContainerSpec)| {
            let mut s = spec();
            s.sysctls.push((key.into(), "1".into()));
            f(&mut s);
            s.validate()
        };
        assert!(with("kernel.shmmax", &|_| {}).is_ok());
        let err = with("kernel.shmmax", &|s| s.namespaces.ipc = Namespace::Host).unwrap_err();
        assert!(err.to_string().contains("host's ipc namespace"), "{err}");
        // Joining a namespace that is the caller's own is the same as sharing the host's.
        let own = Namespace::Join("/proc/self/ns/ipc".into());
        assert!(with("kernel.sem", &|s| s.namespaces.ipc = own.clone()).is_err());
        let err = with("kernel.domainname", &|s| s.namespaces.uts = Namespace::Host).unwrap_err();
        assert!(err.to_string().contains("host's uts namespace"), "{err}");
        assert!(with("kernel.domainname", &|s| s.namespaces.ipc = Namespace::Host).is_ok());
        let net = Network::Join("/proc/self/ns/net".into());
        assert!(with("net.ipv4.ip_forward", &|s| s.network = net.clone()).is_err());
        assert!(with("net.ipv4.ip_forward", &|s| s.network = Network::Host).is_err());
    }

    #[test]
    fn validate_rejects_bad_input() {
        let mut s = spec();
        s.id = "../x".into();
        assert!(s.validate().is_err());
        let mut s = spec();
        s.process.args.clear();
        assert!(s.validate().is_err());
        let mut s = spec();
        s.process.env.push("NOEQUALS".into());
        assert!(s.validate().is_err());
        let mut s = spec();
        s.memory_limit = Some(1024);
        assert!(s.validate().is_err());
        let mut s = spec();
        s.process.cwd = "rel".into();
        assert!(s.validate().is_err());
        let mut s = spec();
        s.mounts.push(BindMount {
            source: "rel".into(),
            destination: "/x".into(),
            readonly: false,
        });
        assert!(s.validate().is_err());
    }
}
