//! From a container record to the runtime's spec.

use std::path::{Path, PathBuf};

use anyhow::Result;
use runtime::{BindMount, ContainerSpec, Network, ProcessSpec, TmpfsMount};

use super::record::Record;

/// The runtime spec for `record` on the mounted `rootfs`.
pub fn build(record: &Record, rootfs: &Path) -> Result<ContainerSpec> {
    let mut args = vec![record.path.clone()];
    args.extend(record.args.iter().cloned());
    let mut spec = ContainerSpec::new(record.id.clone(), rootfs, args);
    spec.process = process(record, rootfs, record.config.tty, record.config.open_stdin)?;
    spec.process.console_size = match record.host_config.console_size {
        [rows, cols] if rows > 0 && cols > 0 => Some((rows, cols)),
        _ => None,
    };
    spec.process.args = std::iter::once(record.path.clone())
        .chain(record.args.iter().cloned())
        .collect();
    spec.network = match record.host_config.network_mode.as_str() {
        "host" => Network::Host,
        "none" => Network::None,
        _ => Network::Isolated,
    };
    spec.hostname = match spec.network {
        Network::Host => None,
        _ => Some(record.config.hostname.clone()),
    };
    // `--mount type=tmpfs`, added after the confinement's `--tmpfs` list is set.
    let mut mount_tmpfs = Vec::new();
    for m in &record.mounts {
        if m.kind == "tmpfs" {
            // The runtime starts from Docker's nosuid,nodev,noexec; size= and mode= follow.
            let mut options = m.tmpfs_options.clone();
            if !m.rw {
                options.push("ro".into());
            }
            mount_tmpfs.push(TmpfsMount {
                destination: PathBuf::from(&m.destination),
                options: options.join(","),
            });
            continue;
        }
        spec.mounts.push(BindMount {
            source: PathBuf::from(&m.source),
            destination: PathBuf::from(&m.destination),
            readonly: !m.rw,
        });
    }
    for (file, dest) in [
        (&record.resolv_conf_path, "/etc/resolv.conf"),
        (&record.hostname_path, "/etc/hostname"),
        (&record.hosts_path, "/etc/hosts"),
    ] {
        // A volume over /etc/... wins, as in Docker.
        if record.mounts.iter().any(|m| m.destination == dest) {
            continue;
        }
        spec.mounts.push(BindMount {
            source: PathBuf::from(file),
            destination: PathBuf::from(dest),
            readonly: false,
        });
    }
    let hc = &record.host_config;
    hc.confinement.apply(&mut spec)?;
    hc.options.apply(&mut spec);
    spec.domainname = Some(record.config.domainname.clone()).filter(|d| !d.is_empty());
    spec.tmpfs.extend(mount_tmpfs);
    spec.memory_limit = (hc.memory > 0).then_some(hc.memory as u64);
    spec.memory_swap_limit = match hc.memory_swap {
        s if s > 0 => Some(s as u64),
        // Unlimited swap: a limit no machine reaches.
        -1 if hc.memory > 0 => Some(i64::MAX as u64),
        _ => None,
    };
    Ok(spec)
}

/// The process settings shared by the init and `exec`: environment, working directory, user
/// (resolved in the container's own /etc/passwd under `rootfs`).
pub fn process(record: &Record, rootfs: &Path, tty: bool, stdin: bool) -> Result<ProcessSpec> {
    let mut p = ProcessSpec::new(Vec::new());
    p.env = record.config.env.clone();
    if tty && !p.env.iter().any(|e| e.starts_with("TERM=")) {
        p.env.push("TERM=xterm".into());
    }
    if !p.env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        p.env.push(format!("HOSTNAME={}", record.config.hostname));
    }
    p.cwd = match record.config.working_dir.as_str() {
        "" => PathBuf::from("/"),
        w => PathBuf::from(w),
    };
    p.user = runtime::resolve_user(rootfs, &record.config.user)?;
    p.tty = tty;
    p.stdin = stdin;
    record.host_config.confinement.apply_process(&mut p)?;
    record.host_config.options.apply_process(rootfs, &mut p)?;
    Ok(p)
}

/// `exec --privileged`: every capability for that one process (the container's seccomp
/// profile stays, compiled against them), as Docker does.
pub fn privileged_exec(p: &mut ProcessSpec, privileged: bool) {
    if privileged {
        p.capabilities = runtime::CapSet::all();
    }
}
