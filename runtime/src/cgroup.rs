//! The container's cgroup: cgroup v1 (a directory in each mounted controller) or v2 (unified),
//! detected at run time, under `<hierarchy>/engine/<id>`: memory, pids and CPU limits, and the
//! device allowlist (v1 `devices.allow`, v2 a BPF device program).
//!
//! Everything takes the cgroup filesystem root as a parameter (normally `/sys/fs/cgroup`), so
//! the logic runs against a plain directory in unit tests.

use std::fs;
use std::io::ErrorKind as IoErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::devices::DeviceRule;
use crate::{Error, IoContext, Result};

/// Where the kernel mounts cgroup filesystems.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The parent cgroup of every container.
const PARENT: &str = "engine";

/// Which cgroup interface governs memory on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// The legacy per-controller hierarchy (`memory.limit_in_bytes`).
    V1,
    /// The unified hierarchy (`memory.max`).
    V2,
}

/// Finds the hierarchy that has the memory controller: pure v2 at the root, v1's `memory`,
/// or hybrid v2 at `unified` when it holds memory. Returns its version and directory.
pub fn detect(root: &Path) -> Option<(CgroupVersion, PathBuf)> {
    let has_memory = |controllers: &Path| {
        fs::read_to_string(controllers)
            .map(|s| s.split_whitespace().any(|c| c == "memory"))
            .unwrap_or(false)
    };
    // A cgroup2 filesystem at the root: the unified hierarchy alone, whatever it enables.
    if root.join("cgroup.controllers").exists() {
        return Some((CgroupVersion::V2, root.to_path_buf()));
    }
    let v1 = root.join("memory");
    if v1.join("memory.limit_in_bytes").exists() {
        return Some((CgroupVersion::V1, v1));
    }
    let unified = root.join("unified");
    if has_memory(&unified.join("cgroup.controllers")) {
        return Some((CgroupVersion::V2, unified));
    }
    None
}

/// The limits and device policy of one container's cgroup (Docker's `HostConfig` resources).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Memory limit in bytes (`-m`).
    pub memory: Option<u64>,
    /// Memory plus swap in bytes (`--memory-swap`); `None` with a memory limit: twice memory.
    pub memory_swap: Option<u64>,
    /// Keep the OOM killer away (`--oom-kill-disable`, cgroup v1 only).
    pub oom_kill_disable: bool,
    /// Most tasks (`--pids-limit`).
    pub pids_limit: Option<u64>,
    /// Relative CPU weight (`--cpu-shares`, 2..=262144).
    pub cpu_shares: Option<u64>,
    /// CFS quota per period in microseconds (`--cpus`, `--cpu-quota`).
    pub cpu_quota: Option<u64>,
    /// CFS period in microseconds (`--cpu-period`; 100000 when only a quota is given).
    pub cpu_period: Option<u64>,
    /// CPUs the container may run on (`--cpuset-cpus`, e.g. `0-1`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes (`--cpuset-mems`).
    pub cpuset_mems: Option<String>,
    /// How eagerly the kernel swaps the container's anonymous pages, 0..=100
    /// (`--memory-swappiness`, cgroup v1 only).
    pub memory_swappiness: Option<u64>,
    /// The soft limit in bytes the kernel reclaims down to under pressure
    /// (`--memory-reservation`: v1 `memory.soft_limit_in_bytes`, v2 `memory.low`).
    pub memory_reservation: Option<u64>,
    /// The device allowlist, checked last rule first; empty denies every device.
    pub devices: Vec<DeviceRule>,
}

/// v1 controllers a container gets a directory in (those the host mounts).
const V1_CONTROLLERS: &[&str] = &[
    "memory", "pids", "devices", "cpu", "cpuacct", "cpuset", "freezer", "blkio",
];

/// One container's cgroup: a directory per v1 controller, or one v2 directory.
#[derive(Debug)]
pub struct Cgroup {
    version: CgroupVersion,
    /// (controller, directory); v2 has one entry named "".
    dirs: Vec<(String, PathBuf)>,
}

impl Cgroup {
    /// Creates `engine/<id>` in every hierarchy under `root` and applies `res`. Returns
    /// `Ok(None)` only when the host has no cgroup hierarchy at all and nothing was asked
    /// that needs one (a privileged container without limits); a limit whose controller is
    /// missing is an error naming it, and so is a device allowlist nothing can enforce.
    pub fn create(root: &Path, id: &str, res: &Resources) -> Result<Option<Cgroup>> {
        let Some((version, base)) = detect(root) else {
            if let Some(what) = first_limit(res) {
                return Err(Error::io(
                    format!("apply {what}: find the cgroup controller under"),
                    root,
                    std::io::Error::from_raw_os_error(libc::ENODEV),
                ));
            }
            tracing::warn!(root = %root.display(), "no cgroup hierarchy; running without a cgroup");
            return Ok(None);
        };
        let mut cg = Cgroup {
            version,
            dirs: Vec::new(),
        };
        let made = match version {
            CgroupVersion::V1 => cg.make_v1(root, id),
            CgroupVersion::V2 => cg.make_v2(&base, id),
        };
        if let Err(e) = made.and_then(|()| cg.apply(res)) {
            cg.remove();
            return Err(e);
        }
        Ok(Some(cg))
    }

    fn make_v1(&mut self, root: &Path, id: &str) -> Result<()> {
        let mut seen: Vec<PathBuf> = Vec::new();
        for c in V1_CONTROLLERS {
            let mount = root.join(c);
            if !mount.join("cgroup.procs").exists() && !mount.join("tasks").exists() {
                // A plain directory standing in for a hierarchy in unit tests has neither;
                // the memory one is recognised by its limit file, as detect() does.
                if !(*c == "memory" && mount.join("memory.limit_in_bytes").exists()) {
                    continue;
                }
            }
            // cpu and cpuacct are often one hierarchy under two names.
            let real = mount.canonicalize().unwrap_or_else(|_| mount.clone());
            if seen.contains(&real) {
                continue;
            }
            seen.push(real);
            let parent = mount.join(PARENT);
            fs::create_dir_all(&parent).ctx("create cgroup", &parent)?;
            if *c == "cpuset" {
                // A cpuset cgroup takes no task until cpus and mems are set: inherit them.
                inherit_cpuset(&mount, &parent)?;
            }
            let dir = fresh_dir(&parent.join(id))?;
            self.dirs.push((c.to_string(), dir.clone()));
            if *c == "cpuset" {
                inherit_cpuset(&parent, &dir)?;
            }
        }
        Ok(())
    }

    fn make_v2(&mut self, base: &Path, id: &str) -> Result<()> {
        let parent = base.join(PARENT);
        fs::create_dir_all(&parent).ctx("create cgroup", &parent)?;
        // Let children of the root and of engine/ have the controllers' files; best effort,
        // apply() checks the files it needs.
        for dir in [base, parent.as_path()] {
            for c in ["memory", "pids", "cpu", "cpuset", "io"] {
                let _ = fs::write(dir.join("cgroup.subtree_control"), format!("+{c}"));
            }
        }
        let dir = fresh_dir(&parent.join(id))?;
        self.dirs.push((String::new(), dir));
        Ok(())
    }

    fn apply(&self, res: &Resources) -> Result<()> {
        self.apply_limits(res)?;
        self.set_devices(&res.devices)
    }

    /// Finds the cgroup [`Cgroup::create`] made for `id` under `root` (a running
    /// container's), for [`Cgroup::update`]; `None` when it has none.
    pub fn open(root: &Path, id: &str) -> Option<Cgroup> {
        let (version, base) = detect(root)?;
        let dirs: Vec<(String, PathBuf)> = match version {
            CgroupVersion::V1 => V1_CONTROLLERS
                .iter()
                .map(|c| (c.to_string(), root.join(c).join(PARENT).join(id)))
                .filter(|(_, d)| d.is_dir())
                .collect(),
            CgroupVersion::V2 => {
                let d = base.join(PARENT).join(id);
                if d.is_dir() {
                    vec![(String::new(), d)]
                } else {
                    Vec::new()
                }
            }
        };
        // cpu and cpuacct may be one hierarchy under two names: keep one.
        let mut seen = Vec::new();
        let dirs = dirs
            .into_iter()
            .filter(|(_, d)| {
                let real = d.canonicalize().unwrap_or_else(|_| d.clone());
                let new = !seen.contains(&real);
                seen.push(real);
                new
            })
            .collect::<Vec<_>>();
        (!dirs.is_empty()).then_some(Cgroup { version, dirs })
    }

    /// Changes the limits of a live cgroup (`docker update`): every limit `res` sets is
    /// written, the device allowlist is left as it is. A limit the kernel refuses (memory
    /// below what is in use) is an error naming the file.
    pub fn update(&self, res: &Resources) -> Result<()> {
        self.apply_limits(res)
    }

    /// Each controller's directory: (controller, directory); v2 has one entry named "".
    pub fn dirs(&self) -> &[(String, PathBuf)] {
        &self.dirs
    }

    fn apply_limits(&self, res: &Resources) -> Result<()> {
        self.set_memory(res.memory, res.memory_swap)?;
        if let Some(s) = res.memory_swappiness {
            match self.version {
                CgroupVersion::V1 => self.write("memory", "memory.swappiness", &s.to_string())?,
                CgroupVersion::V2 => {
                    return Err(Error::InvalidInput(
                        "--memory-swappiness is not supported on cgroup v2".into(),
                    ));
                }
            }
        }
        if let Some(r) = res.memory_reservation {
            match self.version {
                CgroupVersion::V1 => {
                    self.write("memory", "memory.soft_limit_in_bytes", &r.to_string())?
                }
                CgroupVersion::V2 => self.write("memory", "memory.low", &r.to_string())?,
            }
        }
        if res.oom_kill_disable {
            match self.version {
                CgroupVersion::V1 => self.write("memory", "memory.oom_control", "1")?,
                CgroupVersion::V2 => {
                    return Err(Error::InvalidInput(
                        "--oom-kill-disable is not supported on cgroup v2".into(),
                    ));
                }
            }
        }
        if let Some(n) = res.pids_limit {
            // u64::MAX: no limit (an update lifting it).
            let value = if n == u64::MAX {
                "max".to_string()
            } else {
                n.to_string()
            };
            self.write("pids", "pids.max", &value)?;
        }
        match self.version {
            CgroupVersion::V1 => {
                if let Some(s) = res.cpu_shares {
                    self.write("cpu", "cpu.shares", &s.to_string())?;
                }
                if let Some(p) = res.cpu_period {
                    self.write("cpu", "cpu.cfs_period_us", &p.to_string())?;
                }
                if let Some(q) = res.cpu_quota {
                    self.write("cpu", "cpu.cfs_quota_us", &q.to_string())?;
                }
            }
            CgroupVersion::V2 => {
                if let Some(s) = res.cpu_shares {
                    // runc's mapping of shares (2..262144) onto weight (1..10000).
                    let weight = 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142;
                    self.write("cpu", "cpu.weight", &weight.to_string())?;
                }
                if res.cpu_quota.is_some() || res.cpu_period.is_some() {
                    let quota = res.cpu_quota.map_or("max".to_string(), |q| q.to_string());
                    let period = res.cpu_period.unwrap_or(100_000);
                    self.write("cpu", "cpu.max", &format!("{quota} {period}"))?;
                }
            }
        }
        if let Some(cpus) = &res.cpuset_cpus {
            self.write("cpuset", "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = &res.cpuset_mems {
            self.write("cpuset", "cpuset.mems", mems)?;
        }
        Ok(())
    }

    fn set_devices(&self, rules: &[DeviceRule]) -> Result<()> {
        match self.version {
            CgroupVersion::V1 => {
                let dir = self.dir("devices").ok_or_else(|| {
                    Error::InvalidInput(
                        "the host has no devices cgroup controller: cannot confine devices".into(),
                    )
                })?;
                if rules.iter().any(|r| *r == DeviceRule::allow_all()) {
                    let path = dir.join("devices.allow");
                    return fs::write(&path, "a *:* rwm").ctx("write cgroup file", path);
                }
                let deny = dir.join("devices.deny");
                fs::write(&deny, "a").ctx("write cgroup file", &deny)?;
                for r in rules {
                    let file = dir.join(if r.allow {
                        "devices.allow"
                    } else {
                        "devices.deny"
                    });
                    fs::write(&file, r.to_string()).ctx("write cgroup file", &file)?;
                }
                Ok(())
            }
            CgroupVersion::V2 => {
                let dir = &self.dirs[0].1;
                attach_device_program(dir, &crate::devices::bpf::program(rules))
            }
        }
    }

    fn set_memory(&self, memory: Option<u64>, memory_swap: Option<u64>) -> Result<()> {
        let Some(mem) = memory else { return Ok(()) };
        // Docker: without --memory-swap the container may use as much swap as memory.
        let total = memory_swap.unwrap_or(mem.saturating_mul(2));
        match self.version {
            CgroupVersion::V1 => {
                // The kernel keeps memory <= memory+swap at every write: raising memory above
                // the old memory+swap (an update) needs memory+swap first, lowering it the
                // other order. Try memory first; when refused, memory+swap then memory.
                let dir = self.dir("memory").unwrap_or(&self.dirs[0].1).to_path_buf();
                let old = fs::read_to_string(dir.join("memory.limit_in_bytes")).ok();
                let first = self.write("memory", "memory.limit_in_bytes", &mem.to_string());
                if dir.join("memory.memsw.limit_in_bytes").exists()
                    && let Err(e) =
                        self.write("memory", "memory.memsw.limit_in_bytes", &total.to_string())
                {
                    // Refused (usage above it): the memory limit goes back to what it was,
                    // so a failed update changes nothing.
                    if first.is_ok()
                        && let Some(old) = old
                    {
                        let _ = self.write("memory", "memory.limit_in_bytes", old.trim());
                    }
                    return Err(e);
                }
                if first.is_err() {
                    self.write("memory", "memory.limit_in_bytes", &mem.to_string())?;
                }
            }
            CgroupVersion::V2 => {
                self.write("memory", "memory.max", &mem.to_string())?;
                if self.dirs[0].1.join("memory.swap.max").exists() {
                    self.write("memory", "memory.swap.max", &(total - mem).to_string())?;
                }
            }
        }
        Ok(())
    }

    /// Writes `file` of `controller`; a missing controller or file is an error naming it
    /// (a limit is never dropped).
    fn write(&self, controller: &str, file: &str, value: &str) -> Result<()> {
        let dir = self.dir(controller).ok_or_else(|| {
            Error::InvalidInput(format!(
                "cannot set {file}: the host has no {controller} cgroup controller"
            ))
        })?;
        let path = dir.join(file);
        if self.version == CgroupVersion::V2 && !path.exists() {
            return Err(Error::io(
                format!("enable the {controller} controller for"),
                dir,
                std::io::Error::from_raw_os_error(libc::ENODEV),
            ));
        }
        fs::write(&path, value).ctx("write cgroup file", path)
    }

    /// The directory of `controller` (v2: the one directory).
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        match self.version {
            CgroupVersion::V2 => self.dirs.first().map(|(_, d)| d.as_path()),
            CgroupVersion::V1 => self
                .dirs
                .iter()
                .find(|(c, _)| c == controller)
                .map(|(_, d)| d.as_path()),
        }
    }

    /// The memory cgroup's directory (v2: the one directory).
    pub fn path(&self) -> &Path {
        self.dir("memory").unwrap_or(&self.dirs[0].1)
    }

    /// Which interface it uses.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// The files a process writes its pid to to join, one per hierarchy.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|(_, d)| d.join("cgroup.procs"))
            .collect()
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup: v1 `oom_kill` in
    /// `memory.oom_control` (older kernels: `memory.failcnt` > 0), v2 `oom_kill` in
    /// `memory.events`.
    pub fn oom_killed(&self) -> bool {
        let dir = self.path();
        let counter = |file: &str, key: &str| -> Option<u64> {
            let text = fs::read_to_string(dir.join(file)).ok()?;
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == key).then(|| v.trim().parse().ok()).flatten()
            })
        };
        match self.version {
            CgroupVersion::V1 => match counter("memory.oom_control", "oom_kill") {
                Some(n) => n > 0,
                None => fs::read_to_string(dir.join("memory.failcnt"))
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0),
            },
            CgroupVersion::V2 => counter("memory.events", "oom_kill").is_some_and(|n| n > 0),
        }
    }

    /// Removes the directories, retrying for a moment while exiting processes leave them.
    pub fn remove(&self) {
        for (_, dir) in &self.dirs {
            remove_dir(dir);
        }
    }
}

/// The first limit in `res` that needs a cgroup, named as the flag that sets it.
fn first_limit(res: &Resources) -> Option<&'static str> {
    [
        (res.memory.is_some(), "--memory"),
        (res.memory_swappiness.is_some(), "--memory-swappiness"),
        (res.memory_reservation.is_some(), "--memory-reservation"),
        (res.oom_kill_disable, "--oom-kill-disable"),
        (res.pids_limit.is_some(), "--pids-limit"),
        (res.cpu_shares.is_some(), "--cpu-shares"),
        (res.cpu_quota.is_some(), "--cpus"),
        (res.cpuset_cpus.is_some(), "--cpuset-cpus"),
        (res.cpuset_mems.is_some(), "--cpuset-mems"),
        (
            !res.devices.contains(&DeviceRule::allow_all()),
            "the device allowlist",
        ),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
}

/// Creates `dir`, replacing an empty leftover of a crashed run.
fn fresh_dir(dir: &Path) -> Result<PathBuf> {
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == IoErrorKind::AlreadyExists => {
            fs::remove_dir(dir).ctx("remove stale cgroup", dir)?;
            fs::create_dir(dir).ctx("create cgroup", dir)?;
        }
        Err(e) => return Err(Error::io("create cgroup", dir, e)),
    }
    Ok(dir.to_path_buf())
}

/// Copies `cpuset.cpus` and `cpuset.mems` from `from` into `to` where `to`'s are empty.
fn inherit_cpuset(from: &Path, to: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let have = fs::read_to_string(to.join(file)).unwrap_or_default();
        if !have.trim().is_empty() {
            continue;
        }
        let Ok(value) = fs::read_to_string(from.join(file)) else {
            continue;
        };
        let path = to.join(file);
        fs::write(&path, value.trim()).ctx("write cgroup file", path)?;
    }
    Ok(())
}

fn remove_dir(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == IoErrorKind::NotFound => return,
            Err(e) if Instant::now() < deadline && e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                tracing::warn!(cgroup = %dir.display(), error = %e, "cannot remove cgroup");
                return;
            }
        }
    }
}

/// Loads `program` as a cgroup device program and attaches it to the v2 cgroup `dir`.
pub fn attach_device_program(dir: &Path, program: &[crate::devices::bpf::Insn]) -> Result<()> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_ATTACH: libc::c_long = 8;
    const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
    const BPF_CGROUP_DEVICE: u32 = 6;
    const BPF_F_ALLOW_MULTI: u32 = 2;
    #[repr(C)]
    #[derive(Default)]
    struct LoadAttr {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
    }
    #[repr(C)]
    #[derive(Default)]
    struct AttachAttr {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        replace_bpf_fd: u32,
    }
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..7].copy_from_slice(b"devices");
    let load = LoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: program.len() as u32,
        insns: program.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    // SAFETY: bpf(2) reads `load` (and the instructions and license it points to, alive for
    // the call) and returns a new descriptor, owned right away.
    let prog = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &load as *const LoadAttr,
            std::mem::size_of::<LoadAttr>(),
        )
    };
    if prog < 0 {
        return Err(Error::io(
            "load the device cgroup program for",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `prog` is a descriptor bpf(2) just returned to us.
    let prog =
        unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(prog as i32) };
    let target = fs::File::open(dir).ctx("open cgroup", dir)?;
    let attach = AttachAttr {
        target_fd: std::os::fd::AsRawFd::as_raw_fd(&target) as u32,
        attach_bpf_fd: std::os::fd::AsRawFd::as_raw_fd(&prog) as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: bpf(2) reads `attach`; both descriptors are open for the call. The attachment
    // keeps the program alive after our descriptor closes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attach as *const AttachAttr,
            std::mem::size_of::<AttachAttr>(),
        )
    };
    if rc != 0 {
        return Err(Error::io(
            "attach the device cgroup program to",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_layout() {
        let d = tempfile::tempdir().unwrap();
        assert!(detect(d.path()).is_none());
        fs::create_dir_all(d.path().join("unified")).unwrap();
        fs::write(d.path().join("unified/cgroup.controllers"), "hugetlb\n").unwrap();
        assert!(detect(d.path()).is_none());
        fs::create_dir_all(d.path().join("memory")).unwrap();
        fs::write(d.path().join("memory/memory.limit_in_bytes"), "max").unwrap();
        assert_eq!(detect(d.path()).unwrap().0, CgroupVersion::V1);
        fs::write(d.path().join("cgroup.controllers"), "cpu memory io\n").unwrap();
        assert_eq!(
            detect(d.path()).unwrap(),
            (CgroupVersion::V2, d.path().to_path_buf())
        );
    }

    /// A v1 layout in a plain directory: hierarchies named as the kernel names them.
    fn v1_root(controllers: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let mem = d.path().join("memory");
        fs::create_dir_all(&mem).unwrap();
        fs::write(mem.join("memory.limit_in_bytes"), "").unwrap();
        for c in controllers {
            fs::create_dir_all(d.path().join(c)).unwrap();
            fs::write(d.path().join(c).join("cgroup.procs"), "").unwrap();
        }
        d
    }

    #[test]
    fn v1_limits_devices_and_oom_on_a_plain_directory() {
        let d = v1_root(&["devices", "pids", "cpu"]);
        let mut res = Resources {
            pids_limit: Some(50),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            devices: crate::devices::default_rules(),
            ..Default::default()
        };
        let cg = Cgroup::create(d.path(), "c1", &res).unwrap().unwrap();
        assert_eq!(cg.version(), CgroupVersion::V1);
        assert_eq!(cg.path(), d.path().join("memory/engine/c1"));
        let read = |c: &str, f: &str| fs::read_to_string(cg.dir(c).unwrap().join(f)).unwrap();
        assert_eq!(read("pids", "pids.max"), "50");
        assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
        // A plain file keeps only the last write: the last rule of the allowlist.
        assert_eq!(read("devices", "devices.deny"), "a");
        assert_eq!(read("devices", "devices.allow"), "c 136:* rwm");
        assert_eq!(cg.procs_files().len(), 4);
        // A plain directory has no control files; create the memsw one as the kernel would.
        fs::write(cg.path().join("memory.memsw.limit_in_bytes"), "").unwrap();
        cg.set_memory(Some(32 << 20), None).unwrap();
        assert_eq!(
            read("memory", "memory.limit_in_bytes"),
            (32u64 << 20).to_string()
        );
        assert_eq!(
            read("memory", "memory.memsw.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        assert!(!cg.oom_killed());
        fs::write(
            cg.path().join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        )
        .unwrap();
        assert!(cg.oom_killed());
        cg.remove();

        // A limit whose controller the host lacks is refused, naming it.
        res.cpuset_cpus = Some("0".into());
        let err = Cgroup::create(d.path(), "c2", &res)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cpuset"), "{err}");
        assert!(!d.path().join("memory/engine/c2").exists());
    }

    #[test]
    fn v1_without_a_devices_controller_refuses_to_run() {
        let d = v1_root(&[]);
        let res = Resources {
            devices: crate::devices::default_rules(),
            ..Default::default()
        };
        let err = Cgroup::create(d.path(), "c1", &res)
            .unwrap_err()
            .to_string();
        assert!(err.contains("devices"), "{err}");
    }

    #[test]
    fn v2_limits_on_a_plain_directory() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("engine/c2");
        fs::create_dir_all(&dir).unwrap();
        let cg = Cgroup {
            version: CgroupVersion::V2,
            dirs: vec![(String::new(), dir)],
        };
        // Without memory.max the controller is not enabled: a limit is an error, not ignored.
        assert!(cg.set_memory(Some(1 << 30), None).is_err());
        fs::write(cg.path().join("memory.max"), "").unwrap();
        fs::write(cg.path().join("memory.swap.max"), "").unwrap();
        cg.set_memory(Some(1 << 30), Some(3 << 30)).unwrap();
        assert_eq!(
            fs::read_to_string(cg.path().join("memory.max")).unwrap(),
            (1u64 << 30).to_string()
        );
        assert_eq!(
            fs::read_to_string(cg.path().join("memory.swap.max")).unwrap(),
            (2u64 << 30).to_string()
        );
        fs::write(cg.path().join("cpu.max"), "").unwrap();
        fs::write(cg.path().join("cpu.weight"), "").unwrap();
        cg.apply(&Resources {
            cpu_quota: Some(150_000),
            cpu_shares: Some(1024),
            devices: vec![],
            ..Default::default()
        })
        .map_err(|e| e.to_string())
        .unwrap_err(); // the device program needs a real cgroup
        assert_eq!(
            fs::read_to_string(cg.path().join("cpu.max")).unwrap(),
            "150000 100000"
        );
        assert_eq!(
            fs::read_to_string(cg.path().join("cpu.weight")).unwrap(),
            "39"
        );
        assert!(
            cg.apply(&Resources {
                oom_kill_disable: true,
                ..Default::default()
            })
            .is_err()
        );
        fs::write(
            cg.path().join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n",
        )
        .unwrap();
        assert!(!cg.oom_killed());
        fs::write(cg.path().join("memory.events"), "oom 1\noom_kill 2\n").unwrap();
        assert!(cg.oom_killed());
    }

    #[test]
    fn a_limit_without_a_controller_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let none = Resources {
            devices: vec![DeviceRule::allow_all()],
            ..Default::default()
        };
        assert!(Cgroup::create(d.path(), "c3", &none).unwrap().is_none());
        let confined = Resources::default();
        let err = Cgroup::create(d.path(), "c3", &confined)
            .unwrap_err()
            .to_string();
        assert!(err.contains("device allowlist"), "{err}");
        let limited = Resources {
            pids_limit: Some(10),
            ..Default::default()
        };
        let err = Cgroup::create(d.path(), "c3", &limited)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--pids-limit"), "{err}");
    }
}
