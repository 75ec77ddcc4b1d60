//! Running another process in a running container (`engine exec`): join its cgroups and its
//! IPC, UTS, network, PID and mount namespaces, then start the process as the init was.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;

use crate::cgroup::CGROUP_ROOT;
use crate::console::{self, ConsoleSocket};
use crate::init::{Prepared, reset_signals};
use crate::process::Process;
use crate::spec::ProcessSpec;
use crate::stdio::{ChildStdio, StdioSet};
use crate::{Error, IoContext, Result, spawn};

/// The namespaces joined, in the order `nsenter` joins them (mount last: after it, /proc is
/// the container's).
const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Starts `process` inside the container whose init has host pid `container_pid`. The new
/// process is a child of the caller; `process.cwd` must exist in the container.
pub fn exec(container_pid: i32, process: &ProcessSpec, stdio: StdioSet) -> Result<Process> {
    let prepared = Prepared::new(process)?;
    let proc_dir = PathBuf::from(format!("/proc/{container_pid}"));
    let mut namespaces = Vec::new();
    for (name, flag) in NAMESPACES {
        let path = proc_dir.join("ns").join(name);
        let file = File::open(&path).ctx("open namespace", &path)?;
        namespaces.push((file, *flag, path));
    }
    // The root the container's init sees. Joining the mount namespace alone gives the
    // namespace's root, which is the container's only when the engine itself is not chrooted
    // (it is in the VM tier), so the process enters it explicitly, as `nsenter --root` does.
    let root_path = proc_dir.join("root");
    let root = nix::fcntl::open(
        &root_path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx("open container root", &root_path)?;
    let cgroups = cgroups_to_join(container_pid)?;
    let tty = if process.tty {
        Some(ConsoleSocket::new()?)
    } else {
        None
    };
    let console = tty.as_ref().map(ConsoleSocket::child_fd);
    let console_size = process.console_size;
    let child_stdio = ChildStdio::prepare(stdio, process.stdin, tty.is_some())?;

    let prepare = || -> Result<()> {
        let me = std::process::id().to_string();
        for procs in &cgroups {
            std::fs::write(procs, &me).ctx("join cgroup", procs)?;
        }
        for (file, flag, path) in &namespaces {
            nix::sched::setns(file, *flag).ctx("join namespace", path)?;
        }
        nix::unistd::fchdir(&root).ctx("enter container root", &root_path)?;
        nix::unistd::chroot(".").ctx("chroot into container root", &root_path)?;
        Ok(())
    };
    let init = || -> Error {
        reset_signals();
        let run = || -> Result<()> {
            child_stdio.install()?;
            // In the container's root: the pty is one of its own /dev/pts.
            if let Some(socket) = console {
                console::setup(socket, prepared.uid(), console_size)?;
            }
            Ok(())
        };
        match run() {
            Ok(()) => prepared.exec(),
            Err(e) => e,
        }
    };
    let mut keep = child_stdio.fds();
    keep.extend(namespaces.iter().map(|(file, _, _)| file.as_raw_fd()));
    keep.push(root.as_raw_fd());
    keep.extend(console);
    let pid = spawn::spawn(&keep, &prepare, &init)?;
    drop(child_stdio);
    // Dropped (killed and reaped) if its terminal cannot be had.
    let mut proc = Process::new(pid);
    // The process sent its pty master before its execve, which spawn has waited for.
    if let Some(tty) = tty {
        proc.set_pty_master(tty.receive()?);
    }
    Ok(proc)
}

/// The `cgroup.procs` files of the container's cgroups that differ from ours.
fn cgroups_to_join(pid: i32) -> Result<Vec<PathBuf>> {
    let theirs_path = format!("/proc/{pid}/cgroup");
    let theirs = std::fs::read_to_string(&theirs_path).ctx("read", &theirs_path)?;
    let ours = std::fs::read_to_string("/proc/self/cgroup").ctx("read", "/proc/self/cgroup")?;
    Ok(differing_cgroups(Path::new(CGROUP_ROOT), &theirs, &ours)
        .into_iter()
        .filter(|p| p.exists())
        .collect())
}

/// For each hierarchy line (`id:controllers:path`) where the container's path differs from
/// ours, the `cgroup.procs` file under `root`.
fn differing_cgroups(root: &Path, theirs: &str, ours: &str) -> Vec<PathBuf> {
    let parse = |text: &str| -> Vec<(String, String)> {
        text.lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, ':');
                let _id = f.next()?;
                Some((f.next()?.to_string(), f.next()?.to_string()))
            })
            .collect()
    };
    let ours = parse(ours);
    let mut out = Vec::new();
    for (controllers, path) in parse(theirs) {
        if ours.iter().any(|(c, p)| *c == controllers && *p == path) {
            continue;
        }
        let mount = if controllers.is_empty() {
            // The unified hierarchy: its own mount in hybrid mode, the root in pure v2.
            if root.join("unified/cgroup.procs").exists() {
                root.join("unified")
            } else {
                root.to_path_buf()
            }
        } else {
            root.join(controllers.trim_start_matches("name="))
        };
        out.push(
            mount
                .join(path.trim_start_matches('/'))
                .join("cgroup.procs"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_only_differing_hierarchies() {
        let theirs = "4:memory:/engine/c1\n3:cpu,cpuacct:/\n9:name=systemd:/x\n0::/\n";
        let ours = "4:memory:/\n3:cpu,cpuacct:/\n9:name=systemd:/\n0::/\n";
        let got = differing_cgroups(Path::new("/sys/fs/cgroup"), theirs, ours);
        assert_eq!(
            got,
            vec![
                PathBuf::from("/sys/fs/cgroup/memory/engine/c1/cgroup.procs"),
                PathBuf::from("/sys/fs/cgroup/systemd/x/cgroup.procs"),
            ]
        );
    }
}
