//! The container's filesystem view: a plan of steps computed from the spec (pure, unit-tested)
//! and the code that carries it out inside the new mount namespace (root only).
//!
//! Order: make every mount private, bind the rootfs onto itself, mount /proc, /sys (ro), a
//! tmpfs /dev with device nodes, devpts, shm, mqueue and the usual symlinks, the user's bind
//! mounts, then `pivot_root` and detach the old root, then mask and read-only paths (they are
//! paths of the new /proc and /sys).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::securejoin::secure_join;
use crate::spec::ContainerSpec;
use crate::{Error, IoContext, Result};

/// Size and mode options Docker uses for /dev and /dev/shm.
const DEV_OPTS: &str = "mode=755,size=65536k";
const SHM_OPTS: &str = "mode=1777,size=65536k";
const PTS_OPTS: &str = "newinstance,ptmxmode=0666,mode=0620,gid=5";

/// Device nodes every container gets: (name, major, minor).
const DEVICES: &[(&str, u64, u64)] = &[
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
        data: Option<&'static str>,
    },
    /// A character device node.
    Device {
        path: PathBuf,
        major: u64,
        minor: u64,
    },
    /// A symlink.
    Symlink { link: PathBuf, target: PathBuf },
    /// Mount a tmpfs with the user's flags and data (`--mount type=tmpfs`).
    Tmpfs {
        target: PathBuf,
        flags: MsFlags,
        data: String,
    },
    /// Bind a host path into the rootfs.
    Bind {
        source: PathBuf,
        target: PathBuf,
        readonly: bool,
    },
    /// `pivot_root` into the rootfs and detach the old root.
    PivotRoot,
    /// Hide a path (after the pivot): empty ro tmpfs on a directory, /dev/null on a file.
    Mask(PathBuf),
    /// Make a path read-only (after the pivot).
    ReadOnly(PathBuf),
}

/// The setup for `spec`; `console` is the pty slave to bind on /dev/console, if any.
pub(crate) fn plan(spec: &ContainerSpec, console: Option<&Path>) -> Vec<Step> {
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
            flags: nodev_noexec | MsFlags::MS_RDONLY,
            data: None,
        },
        Step::Fs {
            fstype: "tmpfs",
            target: "/dev".into(),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
            data: Some(DEV_OPTS),
        },
    ];
    for (name, major, minor) in DEVICES {
        steps.push(Step::Device {
            path: Path::new("/dev").join(name),
            major: *major,
            minor: *minor,
        });
    }
    steps.extend([
        Step::Fs {
            fstype: "devpts",
            target: "/dev/pts".into(),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            data: Some(PTS_OPTS),
        },
        Step::Fs {
            fstype: "tmpfs",
            target: "/dev/shm".into(),
            flags: nodev_noexec,
            data: Some(SHM_OPTS),
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
    if let Some(console) = console {
        steps.push(Step::Bind {
            source: console.to_path_buf(),
            target: "/dev/console".into(),
            readonly: false,
        });
    }
    // Parents before children whatever the kind, so no mount hides one made inside it;
    // the sort is stable, so mounts of one depth keep the spec's order.
    let mut user: Vec<(usize, Step)> = spec
        .mounts
        .iter()
        .map(|m| {
            (
                m.destination.components().count(),
                Step::Bind {
                    source: m.source.clone(),
                    target: m.destination.clone(),
                    readonly: m.readonly,
                },
            )
        })
        .collect();
    for t in &spec.tmpfs {
        let (flags, data) = tmpfs_options(&t.options);
        user.push((
            t.destination.components().count(),
            Step::Tmpfs {
                target: t.destination.clone(),
                flags,
                data,
            },
        ));
    }
    user.sort_by_key(|(depth, _)| *depth);
    steps.extend(user.into_iter().map(|(_, step)| step));
    steps.push(Step::PivotRoot);
    steps.extend(spec.masked_paths.iter().map(|p| Step::Mask(p.into())));
    steps.extend(spec.readonly_paths.iter().map(|p| Step::ReadOnly(p.into())));
    steps
}

/// Carries out `steps` for `rootfs` (inside the container's new mount namespace), then makes
/// sure `cwd` exists.
pub(crate) fn apply(rootfs: &Path, steps: &[Step], cwd: &Path) -> Result<()> {
    for step in steps {
        if *step == Step::PivotRoot {
            // The working directory is created in the rootfs while we can still see it.
            let dir = secure_join(rootfs, cwd)?;
            std::fs::create_dir_all(&dir).ctx("create working directory", &dir)?;
        }
        apply_one(rootfs, step)?;
    }
    Ok(())
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
            nix::mount::mount(Some(*fstype), &dir, Some(*fstype), *flags, *data)
                .map_err(|e| Error::errno(format!("mount {fstype} on"), &dir, e as i32))
        }
        Step::Tmpfs {
            target,
            flags,
            data,
        } => {
            let dir = secure_join(rootfs, target)?;
            std::fs::create_dir_all(&dir).ctx("create mount point", &dir)?;
            let data = (!data.is_empty()).then_some(data.as_str());
            nix::mount::mount(Some("tmpfs"), &dir, Some("tmpfs"), *flags, data)
                .map_err(|e| Error::errno("mount tmpfs on", &dir, e as i32))
        }
        Step::Device { path, major, minor } => make_device(rootfs, path, *major, *minor),
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
        Step::Mask(path) => mask(path),
        Step::ReadOnly(path) => readonly(path),
    }
}

fn make_device(rootfs: &Path, path: &Path, major: u64, minor: u64) -> Result<()> {
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    let at = secure_join(rootfs, path)?;
    let mode = Mode::from_bits_truncate(0o666);
    match mknod(&at, SFlag::S_IFCHR, mode, makedev(major, minor)) {
        Ok(()) => {
            // mknod honours the umask; the node must be 0666 whatever it is.
            nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                &at,
                mode,
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .ctx("chmod device", &at)
        }
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

/// mount(8)-style options split into flags and the filesystem's data; later ones win.
fn tmpfs_options(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data: Vec<&str> = Vec::new();
    for o in options.iter().flat_map(|o| o.split(',')) {
        let (set, clear) = match o {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "" => continue,
            other => {
                // A later size= or mode= replaces an earlier one.
                let key = other.split_once('=').map_or(other, |(k, _)| k);
                data.retain(|d| d.split_once('=').map_or(*d, |(k, _)| k) != key);
                data.push(other);
                continue;
            }
        };
        flags = (flags | set) - clear;
    }
    (flags, data.join(","))
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
        let steps = plan(&spec, Some(Path::new("/dev/pts/7")));
        let pos = |want: &dyn Fn(&Step) -> bool| steps.iter().position(want).unwrap();
        assert_eq!(steps[0], Step::MakePrivate);
        assert_eq!(steps[1], Step::BindRootfs);
        let dev = pos(&|s| matches!(s, Step::Fs { target, .. } if target == Path::new("/dev")));
        let null =
            pos(&|s| matches!(s, Step::Device { path, .. } if path == Path::new("/dev/null")));
        let pts = pos(&|s| {
            matches!(
                s,
                Step::Fs {
                    fstype: "devpts",
                    ..
                }
            )
        });
        let console =
            pos(&|s| matches!(s, Step::Bind { target, .. } if target == Path::new("/dev/console")));
        let data = pos(
            &|s| matches!(s, Step::Bind { target, readonly: true, .. } if target == Path::new("/data")),
        );
        let pivot = pos(&|s| *s == Step::PivotRoot);
        let kcore = pos(&|s| *s == Step::Mask("/proc/kcore".into()));
        let sys = pos(&|s| *s == Step::ReadOnly("/proc/sys".into()));
        assert!(dev < null && null < pts && pts < console && console < data && data < pivot);
        assert!(pivot < kcore && pivot < sys);
        // /sys is read-only and /dev keeps device nodes working (no nodev).
        assert!(steps.iter().any(|s| matches!(s, Step::Fs { fstype: "sysfs", flags, .. } if flags.contains(MsFlags::MS_RDONLY))));
        assert!(steps.iter().any(|s| matches!(s, Step::Fs { target, flags, .. } if target == Path::new("/dev") && !flags.contains(MsFlags::MS_NODEV))));
        let mut spec = ContainerSpec::new("c", "/r", vec!["sh".into()]);
        spec.mounts.push(BindMount {
            source: "/host/deep".into(),
            destination: "/t/deep".into(),
            readonly: false,
        });
        spec.tmpfs.push(crate::spec::TmpfsMount {
            destination: "/t".into(),
            options: vec!["noexec,size=1m".into(), "exec".into(), "size=2m".into()],
        });
        let steps2 = plan(&spec, None);
        let t = steps2
            .iter()
            .position(|s| matches!(s, Step::Tmpfs { target, flags, data } if target == Path::new("/t") && !flags.contains(MsFlags::MS_NOEXEC) && data == "size=2m"))
            .unwrap();
        let deep = steps2
            .iter()
            .position(|s| matches!(s, Step::Bind { target, .. } if target == Path::new("/t/deep")))
            .unwrap();
        assert!(
            t < deep,
            "the tmpfs parent is mounted before the bind inside it"
        );
        assert!(steps.contains(&Step::Symlink {
            link: "/dev/ptmx".into(),
            target: "pts/ptmx".into()
        }));
    }
}
