//! What to run: the container's configuration, with Docker's defaults.

use std::path::PathBuf;

use crate::caps::CapSet;
use crate::user::User;

/// The `PATH` Docker gives a container whose environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Paths Docker hides from a container: directories get an empty read-only tmpfs, files
/// `/dev/null`.
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
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
    /// Keep stdin open. Without it the process reads /dev/null.
    pub stdin: bool,
    /// The bounding set and, for root, the effective and permitted sets.
    pub capabilities: CapSet,
    /// Set `no_new_privs`, so setuid binaries and file capabilities gain nothing.
    pub no_new_privileges: bool,
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
            stdin: false,
            capabilities: CapSet::docker_default(),
            no_new_privileges: true,
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

/// A tmpfs mounted in the container (`--mount type=tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsMount {
    /// The absolute path inside the container; created when missing.
    pub destination: PathBuf,
    /// Options as mount(8) takes them: flags (`ro`, `nosuid`, `nodev`, `noexec` and their
    /// opposites) and tmpfs data (`size=`, `mode=`, ...); later ones win.
    pub options: Vec<String>,
}

/// Which network namespace the container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Its own network namespace with only loopback (`--network none`).
    None,
    /// The host's network namespace (`--network host`).
    Host,
    /// Its own network namespace with loopback up, the default network: published ports reach
    /// it through [`crate::publish_tcp`].
    #[default]
    Isolated,
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
    /// Tmpfs mounts; with the bind mounts, mounted parents before children (fewer path
    /// components first), as Docker orders them.
    pub tmpfs: Vec<TmpfsMount>,
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
            tmpfs: Vec::new(),
            network: Network::Isolated,
            memory_limit: None,
            memory_swap_limit: None,
            masked_paths: DEFAULT_MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
            readonly_paths: DEFAULT_READONLY_PATHS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
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
        for t in &self.tmpfs {
            if !t.destination.is_absolute() {
                return Err(Error::InvalidInput(format!(
                    "tmpfs {}: the path must be absolute",
                    t.destination.display()
                )));
            }
        }
        if let Some(h) = &self.hostname
            && (h.is_empty() || h.len() > 64 || h.contains('\0'))
        {
            return Err(Error::InvalidInput(format!("invalid hostname {h:?}")));
        }
        if let Some(limit) = self.memory_limit
            && limit < MIN_MEMORY
        {
            return Err(Error::InvalidInput(format!(
                "minimum memory limit allowed is 6MB, got {limit} bytes"
            )));
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
