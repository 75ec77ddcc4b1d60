//! The container's filesystem view: a plan of steps computed from the spec (pure, unit-tested)
//! and the code that carries it out inside the new mount namespace (root only).
//!
//! Order: make every mount private, bind the rootfs onto itself, mount /proc, /sys (ro), a
//! tmpfs /dev with device nodes, devpts, shm, mqueue and the usual symlinks, the user's bind
//! mounts, then `pivot_root` and detach the old root, then (with `-t`) the terminal from the
//! container's own devpts, also bound on /dev/console, then mask and read-only paths (they are
//! paths of the new /proc and /sys).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::console;
use crate::devices::{DeviceKind, DeviceNode};
use crate::securejoin::secure_join;
use crate::spec::ContainerSpec;
use crate::{Error, IoContext, Result};

/// Size and mode options Docker uses for /dev and /dev/shm.
const DEV_OPTS: &str = "mode=755,size=65536k";
/// Docker's /dev/shm size when `--shm-size` is not given.
const SHM_DEFAULT_SIZE: u64 = 64 << 20;
const PTS_OPTS: &str = "newinstance,ptmxmode=0666,mode=0620,gid=5";

/// Device nodes every container gets: (name, major, minor).
const DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The symlinks in /dev: (link, target).
const DEV_LINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/core", "/proc/kcore"),
    ("/dev/ptmx", "pts/ptmx"),
];

/// One step of the filesystem setup. Container paths (`target`, `path`) are absolute paths
/// inside the container, resolved under the rootfs when the step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// `mount --make-rprivate /`: nothing we do propagates to the host.
    MakePrivate,
    /// Bind the rootfs onto itself so it is a mount point `pivot_root` accepts.
    BindRootfs,
    /// Mount a filesystem at a directory of the rootfs (created when missing).
    Fs {
        fstype: &'static str,
        target: PathBuf,
        flags: MsFlags,
        data: Option<String>,
    },
    /// A device node.
    Device(DeviceNode),
    /// A symlink.
    Symlink { link: PathBuf, target: PathBuf },
    /// Bind a host path into the rootfs.
    Bind {
        source: PathBuf,
        target: PathBuf,
        readonly: bool,
    },
    /// `pivot_root` into the rootfs and detach the old root.
    PivotRoot,
    /// The process's terminal from the container's devpts (after the pivot, so it is the
    /// container's /dev/pts/ptmx), bound on /dev/console as well, as Docker's is.
    Console,
    /// Hide a path (after the pivot): empty ro tmpfs on a directory, /dev/null on a file.
    Mask(PathBuf),
    /// Make a path read-only (after the pivot).
    ReadOnly(PathBuf),
    /// Remount the root read-only (after the pivot).
    ReadOnlyRoot,
    /// Write a sysctl under /proc/sys (after the pivot, before /proc/sys turns read-only).
    Sysctl { key: String, value: String },
}

/// The setup for `spec`; `console`: the process has a terminal (`-t`).
pub(crate) fn plan(spec: &ContainerSpec, console: bool) -> Vec<Step> {
    let nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let mut steps = vec![
        Step::MakePrivate,
        Step::BindRootfs,
        Step::Fs {
            fstype: "proc",
            target: "/proc".into(),
            flags: nodev_noexec,
            data: None,
        },
        Step::Fs {
            fstype: "sysfs",
            target: "/sys".into(),
            flags: if spec.writable_sysfs {
                nodev_noexec
            } else {
                nodev_noexec | MsFlags::MS_RDONLY
            },
            data: None,
        },
        Step::Fs {
            fstype: "tmpfs",
            target: "/dev".into(),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
            data: Some(DEV_OPTS.into()),
        },
    ];
    for (name, major, minor) in DEVICES {
        steps.push(Step::Device(DeviceNode {
            path: Path::new("/dev").join(name),
            kind: DeviceKind::Char,
            major: *major,
            minor: *minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        }));
    }
    for d in &spec.devices {
        if !DEVICES
            .iter()
            .any(|(name, _, _)| d.path == Path::new("/dev").join(name))
        {
            steps.push(Step::Device(d.clone()));
        }
    }
    steps.extend([
        Step::Fs {
            fstype: "devpts",
            target: "/dev/pts".into(),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: Some(PTS_OPTS.into()),
        },
        Step::Fs {
            fstype: "tmpfs",
            target: "/dev/shm".into(),
            flags: nodev_noexec,
            data: Some(format!(
                "mode=1777,size={}k",
                spec.shm_size.unwrap_or(SHM_DEFAULT_SIZE).div_ceil(1024)
            )),
        },
        Step::Fs {
            fstype: "mqueue",
            target: "/dev/mqueue".into(),
            flags: nodev_noexec,
            data: None,
        },
    ]);
    for (link, target) in DEV_LINKS {
        steps.push(Step::Symlink {
            link: link.into(),
            target: target.into(),
        });
    }
    // The user's mounts, parents before children whatever order they were given in.
    let mut user: Vec<(PathBuf, Step)> = Vec::new();
    for m in &spec.mounts {
        user.push((
            m.destination.clone(),
            Step::Bind {
                source: m.source.clone(),
                target: m.destination.clone(),
                readonly: m.readonly,
            },
        ));
    }
    for t in &spec.tmpfs {
        // validate() has checked the options.
        let (flags, data) =
            tmpfs_options(&t.options).unwrap_or((MsFlags::MS_NOSUID, String::new()));
        user.push((
            t.destination.clone(),
            Step::Fs {
                fstype: "tmpfs",
                target: t.destination.clone(),
                flags,
                data: (!data.is_empty()).then_some(data),
            },
        ));
    }
    user.sort_by_key(|(dest, _)| dest.components().count());
    steps.extend(user.into_iter().map(|(_, step)| step));
    steps.push(Step::PivotRoot);
    if console {
        steps.push(Step::Console);
    }
    if spec.readonly_rootfs {
        steps.push(Step::ReadOnlyRoot);
    }
    for (key, value) in &spec.sysctls {
        steps.push(Step::Sysctl {
            key: key.clone(),
            value: value.clone(),
        });
    }
    steps.extend(spec.masked_paths.iter().map(|p| Step::Mask(p.into())));
    steps.extend(spec.readonly_paths.iter().map(|p| Step::ReadOnly(p.into())));
    steps
}

/// Adds the container's own cgroup at /sys/fs/cgroup, read-only unless `writable`, right
/// after /sys, as Docker does (JVMs and the like read their limits there): v2 with its own
/// namespace mounts cgroup2 (the namespace's root is the container's cgroup); otherwise each
/// controller's directory of the container is bound at /sys/fs/cgroup/<controller> (v1 on a
/// tmpfs, made read-only after the pivot) or /sys/fs/cgroup itself (v2).
pub(crate) fn add_cgroup_mounts(
    steps: &mut Vec<Step>,
    cgroup: &crate::cgroup::Cgroup,
    private_ns: bool,
    writable: bool,
) {
    let ro = if writable {
        MsFlags::empty()
    } else {
        MsFlags::MS_RDONLY
    };
    let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let root = PathBuf::from(crate::cgroup::CGROUP_ROOT);
    let mut add = Vec::new();
    let mut after_pivot = Vec::new();
    match cgroup.version() {
        crate::cgroup::CgroupVersion::V2 if private_ns => add.push(Step::Fs {
            fstype: "cgroup2",
            target: root,
            flags: base | ro,
            data: None,
        }),
        crate::cgroup::CgroupVersion::V2 => add.push(Step::Bind {
            source: cgroup.dirs()[0].1.clone(),
            target: root,
            readonly: !writable,
        }),
        crate::cgroup::CgroupVersion::V1 => {
            add.push(Step::Fs {
                fstype: "tmpfs",
                target: root.clone(),
                flags: base,
                data: Some("mode=755".into()),
            });
            for (controller, dir) in cgroup.dirs() {
                add.push(Step::Bind {
                    source: dir.clone(),
                    target: root.join(controller),
                    readonly: !writable,
                });
            }
            if !writable {
                after_pivot.push(Step::ReadOnly(root));
            }
        }
    }
    let sys = steps
        .iter()
        .position(|s| matches!(s, Step::Fs { target, .. } if target == Path::new("/sys")))
        .map_or(steps.len(), |i| i + 1);
    steps.splice(sys..sys, add);
    let pivot = steps
        .iter()
        .position(|s| *s == Step::PivotRoot)
        .map_or(steps.len(), |i| i + 1);
    steps.splice(pivot..pivot, after_pivot);
}

/// Carries out `steps` for `rootfs` (inside the container's new mount namespace), then makes
/// sure `cwd` exists. `console` is where [`Step::Console`] sends the pty master.
pub(crate) fn apply(
    rootfs: &Path,
    steps: &[Step],
    cwd: &Path,
    console: Option<&Console>,
) -> Result<()> {
    for step in steps {
        match step {
            Step::PivotRoot => {
                // The working directory is created in the rootfs while we can still see it.
                let dir = secure_join(rootfs, cwd)?;
                std::fs::create_dir_all(&dir).ctx("create working directory", &dir)?;
            }
            Step::Console => {
                let Some(c) = console else {
                    return Err(Error::InvalidInput(
                        "a terminal was planned without a console socket".into(),
                    ));
                };
                let slave = console::setup(c.socket, c.owner, c.size)?;
                bind(&slave, Path::new("/dev/console"), false)?;
                continue;
            }
            _ => {}
        }
        apply_one(rootfs, step)?;
    }
    Ok(())
}

/// Where the container's terminal goes: the socket its master is sent on, and the uid that
/// owns the slave.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Console {
    pub(crate) socket: std::os::fd::RawFd,
    pub(crate) owner: u32,
    pub(crate) size: Option<(u16, u16)>,
}

fn apply_one(rootfs: &Path, step: &Step) -> Result<()> {
    match step {
        Step::MakePrivate => nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .ctx("make mounts private", "/"),
        Step::BindRootfs => nix::mount::mount(
            Some(rootfs),
            rootfs,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx("bind rootfs onto itself", rootfs),
        Step::Fs {
            fstype,
            target,
            flags,
            data,
        } => {
            let dir = secure_join(rootfs, target)?;
            std::fs::create_dir_all(&dir).ctx("create mount point", &dir)?;
            nix::mount::mount(Some(*fstype), &dir, Some(*fstype), *flags, data.as_deref())
                .map_err(|e| Error::errno(format!("mount {fstype} on"), &dir, e as i32))
        }
        Step::Device(node) => make_device(rootfs, node),
        Step::Symlink { link, target } => {
            let at = secure_join(rootfs, link)?;
            match std::os::unix::fs::symlink(target, &at) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    Err(Error::io("create symlink", at, e))
                }
                _ => Ok(()),
            }
        }
        Step::Bind {
            source,
            target,
            readonly,
        } => bind(source, &secure_join(rootfs, target)?, *readonly),
        Step::PivotRoot => pivot_root(rootfs),
        // Carried out by `apply`, which holds the socket.
        Step::Console => Ok(()),
        Step::Mask(path) => mask(path),
        Step::ReadOnly(path) => readonly(path),
        Step::ReadOnlyRoot => remount_readonly(Path::new("/")),
        Step::Sysctl { key, value } => {
            let path = Path::new("/proc/sys").join(key.replace('.', "/"));
            std::fs::write(&path, value).ctx("set sysctl", path)
        }
    }
}

/// Parses tmpfs mount options (`--tmpfs /run:rw,size=64m,mode=1777`) into mount flags and
/// filesystem data. Docker's defaults (`nosuid,nodev,noexec`) hold unless an option turns one
/// off (`exec`, `suid`, `dev`).
pub(crate) fn tmpfs_options(options: &str) -> Result<(MsFlags, String)> {
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let mut data: Vec<&str> = Vec::new();
    for opt in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let (key, value) = opt.split_once('=').unwrap_or((opt, ""));
        match key {
            "rw" => flags.remove(MsFlags::MS_RDONLY),
            "ro" => flags.insert(MsFlags::MS_RDONLY),
            "exec" => flags.remove(MsFlags::MS_NOEXEC),
            "noexec" => flags.insert(MsFlags::MS_NOEXEC),
            "suid" => flags.remove(MsFlags::MS_NOSUID),
            "nosuid" => flags.insert(MsFlags::MS_NOSUID),
            "dev" => flags.remove(MsFlags::MS_NODEV),
            "nodev" => flags.insert(MsFlags::MS_NODEV),
            "sync" => flags.insert(MsFlags::MS_SYNCHRONOUS),
            "async" => flags.remove(MsFlags::MS_SYNCHRONOUS),
            "dirsync" => flags.insert(MsFlags::MS_DIRSYNC),
            "noatime" => flags.insert(MsFlags::MS_NOATIME),
            "atime" => flags.remove(MsFlags::MS_NOATIME),
            "nodiratime" => flags.insert(MsFlags::MS_NODIRATIME),
            "diratime" => flags.remove(MsFlags::MS_NODIRATIME),
            "relatime" => flags.insert(MsFlags::MS_RELATIME),
            "strictatime" => flags.insert(MsFlags::MS_STRICTATIME),
            "size" | "mode" | "uid" | "gid" | "nr_inodes" | "nr_blocks" | "huge" | "mpol"
                if !value.is_empty() =>
            {
                data.push(opt)
            }
            _ => {
                return Err(Error::InvalidInput(format!("invalid tmpfs option {opt:?}")));
            }
        }
    }
    Ok((flags, data.join(",")))
}

fn make_device(rootfs: &Path, node: &DeviceNode) -> Result<()> {
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    let path = node.path.as_path();
    let at = secure_join(rootfs, path)?;
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent).ctx("create device directory", parent)?;
    }
    let mode = Mode::from_bits_truncate(node.mode);
    let kind = match node.kind {
        DeviceKind::Block => SFlag::S_IFBLK,
        _ => SFlag::S_IFCHR,
    };
    let dev = makedev(u64::from(node.major), u64::from(node.minor));
    match mknod(&at, kind, mode, dev) {
        Ok(()) => {
            // mknod honours the umask; the node must have its mode whatever it is.
            nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                &at,
                mode,
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .ctx("chmod device", &at)?;
            nix::unistd::chown(
                &at,
                Some(nix::unistd::Uid::from_raw(node.uid)),
                Some(nix::unistd::Gid::from_raw(node.gid)),
            )
            .ctx("chown device", &at)
        }
        Err(nix::errno::Errno::EEXIST) => Ok(()),
        // No CAP_MKNOD (a restricted parent): bind the host's node instead, as Docker does in
        // user namespaces.
        Err(nix::errno::Errno::EPERM) => {
            std::fs::File::create(&at).ctx("create device placeholder", &at)?;
            bind(path, &at, false)
        }
        Err(e) => Err(Error::errno("mknod", at, e as i32)),
    }
}

fn bind(source: &Path, target: &Path, readonly: bool) -> Result<()> {
    let meta = std::fs::metadata(source).ctx("stat bind mount source", source)?;
    if meta.is_dir() {
        std::fs::create_dir_all(target).ctx("create bind mount target", target)?;
    } else if !target.exists() {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).ctx("create bind mount target", parent)?;
        }
        std::fs::File::create(target).ctx("create bind mount target", target)?;
    }
    nix::mount::mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx("bind mount", target)?;
    if readonly {
        remount_readonly(target)?;
    }
    Ok(())
}

/// Remounts a bind mount read-only, keeping its nosuid/nodev/noexec flags.
fn remount_readonly(target: &Path) -> Result<()> {
    use nix::sys::statvfs::{FsFlags, statvfs};
    let st = statvfs(target).ctx("statvfs", target)?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    for (have, keep) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if st.flags().contains(have) {
            flags |= keep;
        }
    }
    nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .ctx("remount read-only", target)
}

fn pivot_root(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).ctx("chdir", rootfs)?;
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching the top
    // mount leaves the new root alone, without needing a put_old directory in the image.
    nix::unistd::pivot_root(".", ".").ctx("pivot_root", rootfs)?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).ctx("detach old root", "/")?;
    nix::unistd::chdir("/").ctx("chdir", "/")
}

fn mask(path: &Path) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("stat masked path", path, e)),
    };
    if meta.is_dir() {
        nix::mount::mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .ctx("mask directory", path)
    } else {
        nix::mount::mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx("mask file", path)
    }
}

fn readonly(path: &Path) -> Result<()> {
    match nix::mount::mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    ) {
        Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::errno("bind read-only path", path, e as i32)),
        Ok(()) => remount_readonly(path),
    }
}

/// A C string of a path, for the few raw calls made in children.
pub(crate) fn cpath(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidInput(format!("path {} contains a NUL byte", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::BindMount;

    #[test]
    fn plan_orders_mounts_like_docker() {
        let mut spec = ContainerSpec::new("c", "/r", vec!["sh".into()]);
        spec.mounts.push(BindMount {
            source: "/host/data".into(),
            destination: "/data".into(),
            readonly: true,
        });
        let steps = plan(&spec, true);
        let pos = |want: &dyn Fn(&Step) -> bool| steps.iter().position(want).unwrap();
        assert_eq!(steps[0], Step::MakePrivate);
        assert_eq!(steps[1], Step::BindRootfs);
        let dev = pos(&|s| matches!(s, Step::Fs { target, .. } if target == Path::new("/dev")));
        let null = pos(&|s| matches!(s, Step::Device(d) if d.path == Path::new("/dev/null")));
        let pts = pos(&|s| {
            matches!(
                s,
                Step::Fs {
                    fstype: "devpts",
                    ..
                }
            )
        });
        let console = pos(&|s| *s == Step::Console);
        let data = pos(
            &|s| matches!(s, Step::Bind { target, readonly: true, .. } if target == Path::new("/data")),
        );
        let pivot = pos(&|s| *s == Step::PivotRoot);
        let kcore = pos(&|s| *s == Step::Mask("/proc/kcore".into()));
        let sys = pos(&|s| *s == Step::ReadOnly("/proc/sys".into()));
        assert!(dev < null && null < pts && pts < data && data < pivot);
        // The terminal is opened in the container's own root, before anything is masked.
        assert!(pivot < console && console < kcore && console < sys);
        assert!(!plan(&spec, false).contains(&Step::Console));
        // /sys is read-only and /dev keeps device nodes working (no nodev).
        assert!(steps.iter().any(|s| matches!(s, Step::Fs { fstype: "sysfs", flags, .. } if flags.contains(MsFlags::MS_RDONLY))));
        assert!(steps.iter().any(|s| matches!(s, Step::Fs { target, flags, .. } if target == Path::new("/dev") && !flags.contains(MsFlags::MS_NODEV))));
        assert!(steps.contains(&Step::Symlink {
            link: "/dev/ptmx".into(),
            target: "pts/ptmx".into()
        }));
    }
}
