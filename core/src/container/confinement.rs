//! The security and resource part of a container's `HostConfig`: capabilities, devices,
//! seccomp and other `--security-opt`s, read-only root, tmpfs, pids/CPU/OOM limits, ulimits,
//! sysctls, `--init`, `--shm-size`.
//!
//! One struct, in Docker's JSON shape, serves the run flags, the API's create body and the
//! stored record; [`Confinement::validate`] checks it at create time with Docker's messages,
//! and [`Confinement::apply`] turns it into the runtime's spec at every start (and
//! [`Confinement::apply_process`] for `exec`). Every field is enforced or refused: nothing
//! here is accepted and then dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use runtime::{
    CapSet, ContainerSpec, DeviceNode, DeviceRule, ProcessSpec, Rlimit, SeccompProfile, TmpfsMount,
};
use serde::{Deserialize, Serialize};

/// Docker's `HostConfig` fields of confinement and resources (flattened into
/// [`super::record::HostConfig`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Confinement {
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add`.
    pub cap_add: Option<Vec<String>>,
    /// `--cap-drop`.
    pub cap_drop: Option<Vec<String>>,
    /// `--device`.
    pub devices: Option<Vec<DeviceMapping>>,
    /// `--device-cgroup-rule`.
    pub device_cgroup_rules: Option<Vec<String>>,
    /// `--security-opt` (a seccomp profile travels as its JSON text, as Docker's CLI sends it).
    pub security_opt: Option<Vec<String>>,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// `--tmpfs`: path -> options.
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `--pids-limit` (0 or -1: unlimited).
    pub pids_limit: Option<i64>,
    /// `--ulimit`.
    pub ulimits: Option<Vec<Ulimit>>,
    /// `--cpus` in billionths of a CPU.
    pub nano_cpus: i64,
    /// `--cpu-shares`.
    pub cpu_shares: i64,
    /// `--cpu-period` (microseconds).
    pub cpu_period: i64,
    /// `--cpu-quota` (microseconds).
    pub cpu_quota: i64,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: String,
    /// `--cpuset-mems`.
    pub cpuset_mems: String,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: Option<bool>,
    /// `--init`.
    pub init: Option<bool>,
    /// `--shm-size` in bytes (0: Docker's 64 MiB).
    pub shm_size: i64,
    /// `--sysctl`.
    pub sysctls: Option<BTreeMap<String, String>>,
    /// The paths masked in the container instead of Docker's default list, when given (an
    /// empty list is what Docker's CLI sends for `--security-opt systempaths=unconfined`).
    pub masked_paths: Option<Vec<String>>,
    /// The paths made read-only instead of Docker's default list, when given.
    pub readonly_paths: Option<Vec<String>>,
}

/// One `--device`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    /// The host's device node (or a directory of them).
    pub path_on_host: String,
    /// Where it appears in the container ("" = the same path).
    pub path_in_container: String,
    /// `rwm` letters.
    pub cgroup_permissions: String,
}

/// One `--ulimit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    /// `nofile`, `nproc`, ...
    pub name: String,
    /// Soft limit (-1: unlimited).
    pub soft: i64,
    /// Hard limit (-1: unlimited).
    pub hard: i64,
}

/// What the `--security-opt` list says.
#[derive(Debug, Default)]
struct SecurityOpts {
    no_new_privileges: bool,
    seccomp: Seccomp,
    unconfined_paths: bool,
}

#[derive(Debug, Default)]
enum Seccomp {
    #[default]
    Default,
    Unconfined,
    Profile(SeccompProfile),
}

impl DeviceMapping {
    /// Parses Docker's `--device HOST[:CONTAINER][:PERMISSIONS]`.
    pub fn parse(text: &str) -> Result<DeviceMapping> {
        let parts: Vec<&str> = text.split(':').collect();
        let is_mode = |s: &str| runtime::devices::parse_access(s).is_some();
        let (host, cont, perms) = match parts.as_slice() {
            [host] => (*host, *host, "rwm"),
            [host, mode] if is_mode(mode) => (*host, *host, *mode),
            [host, cont] => (*host, *cont, "rwm"),
            [host, cont, mode] if is_mode(mode) => (*host, *cont, *mode),
            _ => bail!("invalid device specification: {text}"),
        };
        if host.is_empty() || !cont.starts_with('/') {
            bail!("invalid device specification: {text}");
        }
        Ok(DeviceMapping {
            path_on_host: host.to_string(),
            path_in_container: cont.to_string(),
            cgroup_permissions: perms.to_string(),
        })
    }

    /// The nodes to create (a directory gives every device under it).
    fn nodes(&self) -> Result<Vec<DeviceNode>> {
        let host = Path::new(&self.path_on_host);
        let cont = if self.path_in_container.is_empty() {
            host
        } else {
            Path::new(&self.path_in_container)
        };
        let meta = std::fs::metadata(host).with_context(|| {
            format!(
                "error gathering device information while adding custom device {:?}",
                self.path_on_host
            )
        })?;
        if meta.is_dir() {
            return Ok(DeviceNode::all_under(host, cont)?);
        }
        let node = DeviceNode::from_host(host, cont).with_context(|| {
            format!(
                "error gathering device information while adding custom device {:?}",
                self.path_on_host
            )
        })?;
        Ok(vec![node])
    }
}

impl Ulimit {
    /// Parses Docker's `--ulimit NAME=SOFT[:HARD]`.
    pub fn parse(text: &str) -> Result<Ulimit> {
        let r = Rlimit::parse(text)?;
        let (name, _) = text.split_once('=').unwrap_or((text, ""));
        let signed = |v: u64| {
            if v == libc::RLIM_INFINITY {
                -1
            } else {
                v as i64
            }
        };
        Ok(Ulimit {
            name: name.to_string(),
            soft: signed(r.soft),
            hard: signed(r.hard),
        })
    }

    fn rlimit(&self) -> Result<Rlimit> {
        Ok(Rlimit::parse(&format!(
            "{}={}:{}",
            self.name, self.soft, self.hard
        ))?)
    }
}

fn list<T>(v: &Option<Vec<T>>) -> &[T] {
    v.as_deref().unwrap_or(&[])
}

impl Confinement {
    /// Checks every field as Docker does at create; returns warnings to print. Nothing is
    /// stored when this fails.
    /// Refuses a sysctl of the IPC or UTS namespace when that namespace is the host's: it
    /// would change the host's kernel settings (runc's rule, Docker's message).
    pub fn check_sysctl_namespaces(&self, ipc_mode: &str, uts_mode: &str) -> Result<()> {
        for key in self.sysctls.iter().flatten().map(|(k, _)| k) {
            match runtime::sysctl_namespace(key) {
                Some("ipc") if ipc_mode == "host" => {
                    bail!("sysctl '{key}' is not allowed in the host's ipc namespace")
                }
                Some("uts") if uts_mode == "host" => {
                    bail!("sysctl '{key}' is not allowed in the host's uts namespace")
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn validate(&self, network_mode: &str, memory: i64) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        self.capabilities()?;
        self.security_opts()?;
        for d in list(&self.devices) {
            d.nodes()?;
            if runtime::devices::parse_access(&d.cgroup_permissions).is_none() {
                bail!("invalid device mode: {}", d.cgroup_permissions);
            }
        }
        for r in list(&self.device_cgroup_rules) {
            DeviceRule::parse(r)?;
        }
        for (field, paths) in [
            ("MaskedPaths", &self.masked_paths),
            ("ReadonlyPaths", &self.readonly_paths),
        ] {
            if let Some(bad) = list(paths).iter().find(|p| !p.starts_with('/')) {
                bail!("invalid {field} entry {bad:?}: the path must be absolute");
            }
        }
        for (path, opts) in self.tmpfs.iter().flatten() {
            if !path.starts_with('/') {
                bail!("invalid mount path for --tmpfs {path:?}: the path must be absolute");
            }
            if path == "/" {
                bail!("invalid --tmpfs {path:?}: cannot mount a tmpfs on /");
            }
            let spec = TmpfsMount {
                destination: PathBuf::from(path),
                options: opts.clone(),
            };
            let mut probe = ContainerSpec::new("probe", "/", vec!["true".into()]);
            probe.tmpfs.push(spec);
            probe
                .validate()
                .with_context(|| format!("invalid --tmpfs {path}:{opts}"))?;
        }
        for u in list(&self.ulimits) {
            u.rlimit()?;
        }
        for key in self.sysctls.iter().flatten().map(|(k, _)| k) {
            match runtime::sysctl_namespace(key) {
                None => bail!("sysctl '{key}' is not whitelisted"),
                Some("net") if network_mode == "host" => {
                    bail!("sysctl '{key}' is not allowed in the host network namespace")
                }
                Some(_) => {}
            }
        }
        let ncpu = online_cpus();
        if self.nano_cpus < 0 {
            bail!("invalid value {} for --cpus", self.nano_cpus);
        }
        if self.nano_cpus > 0 && (self.cpu_period > 0 || self.cpu_quota > 0) {
            bail!("Conflicting options: Nano CPUs and CPU Period cannot both be set");
        }
        if self.nano_cpus > 0
            && (self.nano_cpus < 10_000_000 || self.nano_cpus > ncpu.len() as i64 * 1_000_000_000)
        {
            bail!(
                "Range of CPUs is from 0.01 to {}.00, as there are only {} CPUs available",
                ncpu.len(),
                ncpu.len()
            );
        }
        if self.cpu_period != 0 && !(1000..=1_000_000).contains(&self.cpu_period) {
            bail!(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
            );
        }
        if self.cpu_quota != 0 && self.cpu_quota != -1 && self.cpu_quota < 1000 {
            bail!("CPU cfs quota can not be less than 1ms (i.e. 1000)");
        }
        if self.cpu_shares < 0 {
            bail!("invalid CPU shares {}", self.cpu_shares);
        }
        if !self.cpuset_cpus.is_empty() {
            let want = parse_cpu_list(&self.cpuset_cpus)
                .with_context(|| format!("invalid value {} for cpuset cpus", self.cpuset_cpus))?;
            if want.iter().any(|c| !ncpu.contains(c)) {
                bail!(
                    "Requested CPUs are not available - requested {}, available: {}",
                    self.cpuset_cpus,
                    std::fs::read_to_string("/sys/devices/system/cpu/online")
                        .unwrap_or_default()
                        .trim()
                );
            }
        }
        if !self.cpuset_mems.is_empty() {
            parse_cpu_list(&self.cpuset_mems)
                .with_context(|| format!("invalid value {} for cpuset mems", self.cpuset_mems))?;
        }
        if self.shm_size < 0 {
            bail!("SHM size can not be less than 0");
        }
        if self.oom_kill_disable == Some(true) && memory == 0 {
            warnings.push("WARNING: Disabling the OOM killer on containers without setting a '-m/--memory' limit may be dangerous.".into());
        }
        Ok(warnings)
    }

    /// The capability set: Docker's default tweaked by `--cap-add`/`--cap-drop` (`ALL` in
    /// either), or every capability when privileged.
    pub fn capabilities(&self) -> Result<CapSet> {
        if self.privileged {
            return Ok(CapSet::all());
        }
        let parse = |names: &[String], flag: &str| -> Result<(bool, Vec<u8>)> {
            let mut all = false;
            let mut caps = Vec::new();
            for n in names {
                if n.eq_ignore_ascii_case("ALL") || n.eq_ignore_ascii_case("CAP_ALL") {
                    all = true;
                } else {
                    caps.push(CapSet::parse_name(n).map_err(|_| {
                        anyhow::anyhow!("invalid {flag}: unknown capability: {n:?}")
                    })?);
                }
            }
            Ok((all, caps))
        };
        let (add_all, add) = parse(list(&self.cap_add), "CapAdd")?;
        let (drop_all, drop) = parse(list(&self.cap_drop), "CapDrop")?;
        let mut set = if add_all {
            CapSet::all()
        } else if drop_all {
            CapSet::empty()
        } else {
            CapSet::docker_default()
        };
        if add_all {
            for c in drop {
                set.remove(c);
            }
        } else {
            for c in drop {
                set.remove(c);
            }
            for c in add {
                set.insert(c);
            }
        }
        Ok(set)
    }

    fn security_opts(&self) -> Result<SecurityOpts> {
        let mut out = SecurityOpts::default();
        for opt in list(&self.security_opt) {
            // Docker accepts `key=value` and the older `key:value`.
            let (key, value) = match opt.split_once('=') {
                Some(kv) => kv,
                None => opt.split_once(':').unwrap_or((opt.as_str(), "")),
            };
            match (key, value) {
                ("no-new-privileges", "" | "true") => out.no_new_privileges = true,
                ("no-new-privileges", "false") => out.no_new_privileges = false,
                ("seccomp", "unconfined") => out.seccomp = Seccomp::Unconfined,
                ("seccomp", "builtin" | "default") => out.seccomp = Seccomp::Default,
                ("seccomp", json) if json.trim_start().starts_with('{') => {
                    out.seccomp = Seccomp::Profile(SeccompProfile::from_json(json)?);
                }
                ("seccomp", other) => bail!(
                    "invalid --security-opt seccomp={other}: want unconfined or a profile's JSON (the CLI reads a file path for you)"
                ),
                ("systempaths", "unconfined") => out.unconfined_paths = true,
                // This engine has no AppArmor or SELinux: unconfined and disabled are what it
                // does already; a profile or label it cannot apply is refused.
                ("apparmor", "unconfined") | ("label", "disable") => {}
                ("apparmor", p) => bail!(
                    "invalid --security-opt apparmor={p}: AppArmor is not supported by this engine"
                ),
                ("label", l) => bail!(
                    "invalid --security-opt label={l}: SELinux labels are not supported by this engine"
                ),
                _ => bail!("Invalid --security-opt: {opt:?}"),
            }
        }
        Ok(out)
    }

    /// Applies the process-level settings (capabilities, seccomp, no_new_privs, ulimits):
    /// the container's init and every `exec` in it.
    pub fn apply_process(&self, p: &mut ProcessSpec) -> Result<()> {
        let opts = self.security_opts()?;
        p.capabilities = self.capabilities()?;
        p.no_new_privileges = opts.no_new_privileges;
        p.seccomp = match opts.seccomp {
            _ if self.privileged => None,
            Seccomp::Unconfined => None,
            Seccomp::Default => Some(SeccompProfile::docker_default()),
            Seccomp::Profile(profile) => Some(profile),
        };
        p.rlimits = list(&self.ulimits)
            .iter()
            .map(Ulimit::rlimit)
            .collect::<Result<_>>()?;
        Ok(())
    }

    /// Applies everything to a container's spec (its process included).
    pub fn apply(&self, spec: &mut ContainerSpec) -> Result<()> {
        self.apply_process(&mut spec.process)?;
        if self.privileged {
            spec.make_privileged()?;
        }
        if self.security_opts()?.unconfined_paths {
            spec.masked_paths.clear();
            spec.readonly_paths.clear();
        }
        // --privileged sees every path whatever the lists say, as with Docker.
        if !self.privileged {
            if let Some(paths) = &self.masked_paths {
                spec.masked_paths = paths.clone();
            }
            if let Some(paths) = &self.readonly_paths {
                spec.readonly_paths = paths.clone();
            }
        }
        for d in list(&self.devices) {
            let access = runtime::devices::parse_access(&d.cgroup_permissions).unwrap_or(
                runtime::devices::READ | runtime::devices::WRITE | runtime::devices::MKNOD,
            );
            for node in d.nodes()? {
                // The node is made inside the container's device cgroup: creating it needs
                // mknod of that one device (Docker allows mknod of every device).
                spec.resources
                    .devices
                    .push(node.rule(access | runtime::devices::MKNOD));
                spec.devices.retain(|n| n.path != node.path);
                spec.devices.push(node);
            }
        }
        for r in list(&self.device_cgroup_rules) {
            spec.resources.devices.push(DeviceRule::parse(r)?);
        }
        spec.readonly_rootfs = self.readonly_rootfs;
        spec.tmpfs = self
            .tmpfs
            .iter()
            .flatten()
            .map(|(path, options)| TmpfsMount {
                destination: PathBuf::from(path),
                options: options.clone(),
            })
            .collect();
        spec.shm_size = (self.shm_size > 0).then_some(self.shm_size as u64);
        spec.sysctls = self
            .sysctls
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        spec.init = self.init == Some(true);
        let res = &mut spec.resources;
        res.pids_limit = self.pids_limit.filter(|n| *n > 0).map(|n| n as u64);
        res.oom_kill_disable = self.oom_kill_disable == Some(true);
        res.cpu_shares = (self.cpu_shares > 0).then_some(self.cpu_shares as u64);
        if self.nano_cpus > 0 {
            res.cpu_period = Some(100_000);
            res.cpu_quota = Some((self.nano_cpus as u64).saturating_mul(100_000) / 1_000_000_000);
        } else {
            res.cpu_period = (self.cpu_period > 0).then_some(self.cpu_period as u64);
            res.cpu_quota = (self.cpu_quota > 0).then_some(self.cpu_quota as u64);
        }
        res.cpuset_cpus = Some(self.cpuset_cpus.clone()).filter(|s| !s.is_empty());
        res.cpuset_mems = Some(self.cpuset_mems.clone()).filter(|s| !s.is_empty());
        Ok(())
    }
}

/// `0-3,5` -> [0, 1, 2, 3, 5].
fn parse_cpu_list(text: &str) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for part in text.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse()?, b.parse()?);
                if a > b {
                    bail!("invalid range {part}");
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse()?),
        }
    }
    Ok(out)
}

/// The host's online CPUs.
fn online_cpus() -> Vec<u32> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(&s).ok())
        .unwrap_or_else(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (0..n as u32).collect()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(add: &[&str], drop: &[&str]) -> Result<CapSet> {
        Confinement {
            cap_add: Some(add.iter().map(|s| s.to_string()).collect()),
            cap_drop: Some(drop.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
        .capabilities()
    }

    #[test]
    fn capabilities_follow_dockers_rules() {
        let default = CapSet::docker_default();
        assert_eq!(caps(&[], &[]).unwrap(), default);
        assert_eq!(caps(&[], &["ALL"]).unwrap(), CapSet::empty());
        let net_admin = CapSet::parse_name("NET_ADMIN").unwrap();
        let chown = CapSet::parse_name("CHOWN").unwrap();
        let only = caps(&["NET_ADMIN"], &["ALL"]).unwrap();
        assert!(only.contains(net_admin) && !only.contains(chown));
        let all_but = caps(&["ALL"], &["cap_chown"]).unwrap();
        assert!(all_but.contains(net_admin) && !all_but.contains(chown));
        let err = caps(&["CAP_NOPE"], &[]).unwrap_err().to_string();
        assert!(err.contains("unknown capability: \"CAP_NOPE\""), "{err}");
    }

    #[test]
    fn flags_parse_like_dockers() {
        let d = DeviceMapping::parse("/dev/loop0:/dev/xvda:r").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/xvda", "r")
        );
        let d = DeviceMapping::parse("/dev/loop0:rw").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/loop0", "rw")
        );
        assert!(DeviceMapping::parse("/dev/loop0:rel/path").is_err());
        let u = Ulimit::parse("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (1024, 2048));
        assert!(Ulimit::parse("nofile=2048:1024").is_err());
        assert!(Ulimit::parse("bogus=1").is_err());
        assert_eq!(parse_cpu_list("0-2,5").unwrap(), vec![0, 1, 2, 5]);
    }

    #[test]
    fn validate_refuses_with_dockers_messages() {
        let bad = |c: Confinement, want: &str| {
            let err = c.validate("bridge", 0).unwrap_err().to_string();
            assert!(err.contains(want), "{err} does not contain {want}");
        };
        bad(
            Confinement {
                security_opt: Some(vec!["bogus".into()]),
                ..Default::default()
            },
            "Invalid --security-opt",
        );
        bad(
            Confinement {
                security_opt: Some(vec!["apparmor=docker-default".into()]),
                ..Default::default()
            },
            "AppArmor",
        );
        bad(
            Confinement {
                sysctls: Some([("kernel.panic".to_string(), "1".to_string())].into()),
                ..Default::default()
            },
            "not whitelisted",
        );
        bad(
            Confinement {
                nano_cpus: 1_000_000_000,
                cpu_period: 100_000,
                ..Default::default()
            },
            "Conflicting options",
        );
        bad(
            Confinement {
                nano_cpus: 1_000_000_000_000,
                ..Default::default()
            },
            "Range of CPUs",
        );
        bad(
            Confinement {
                cpuset_cpus: "0-4095".into(),
                ..Default::default()
            },
            "Requested CPUs are not available",
        );
        bad(
            Confinement {
                devices: Some(vec![DeviceMapping::parse("/dev/does-not-exist").unwrap()]),
                ..Default::default()
            },
            "/dev/does-not-exist",
        );
        bad(
            Confinement {
                tmpfs: Some([("/run".to_string(), "size=1m,bogus".to_string())].into()),
                ..Default::default()
            },
            "--tmpfs",
        );
        let ok = Confinement {
            security_opt: Some(vec![
                "no-new-privileges".into(),
                "seccomp=unconfined".into(),
                "label=disable".into(),
            ]),
            ..Default::default()
        };
        assert!(ok.validate("bridge", 0).unwrap().is_empty());
    }
}
