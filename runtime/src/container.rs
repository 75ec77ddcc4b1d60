//! A running container: its init process in new namespaces, on the rootfs, in its cgroup.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sched::CloneFlags;

use crate::cgroup::{CGROUP_ROOT, Cgroup};
use crate::console::ConsoleSocket;
use crate::init::{Prepared, loopback_up, reset_signals};
use crate::process::{ExitStatus, Process};
use crate::spec::{ContainerSpec, Namespace, Network};
use crate::stdio::{ChildStdio, StdioSet};
use crate::{Error, IoContext, Result, rootfs, spawn};

/// A container whose init process is running (or has ended and awaits [`Container::wait`]).
///
/// The calling process is its parent (a child subreaper) and must call [`Container::wait`];
/// dropping a container that was not waited for kills it with SIGKILL, reaps it and removes
/// its cgroup. The caller must not reap with `waitpid(-1)` elsewhere, or it takes the status
/// away from [`Container::wait`]. Someone must drain the container's output (the pipes given
/// in [`StdioSet`], or the pty master, e.g. with [`crate::copy_pty`]), or the container blocks
/// once the kernel buffer is full.
#[derive(Debug)]
pub struct Container {
    id: String,
    process: Process,
    cgroup: Option<Cgroup>,
    status: Option<ExitStatus>,
}

impl Container {
    /// Starts the container's init: new mount, PID, UTS, IPC (and, unless the network is the
    /// host's, network) namespaces; the rootfs, /proc, /sys, /dev and bind mounts; pivot_root;
    /// masked and read-only paths; hostname; loopback; capabilities, user, working directory;
    /// then `execve` of the command. Returns once the command is running. A failure before
    /// that (command not found, bad mount, ...) is returned as an error and nothing is left
    /// behind; [`Error::exit_code`] gives Docker's 127/126 for a missing or non-executable
    /// command.
    pub fn create(spec: &ContainerSpec, stdio: StdioSet) -> Result<Container> {
        spec.validate()?;
        let rootfs = &spec.rootfs;
        if !rootfs.is_dir() {
            return Err(Error::errno("open rootfs", rootfs, libc::ENOENT));
        }
        let mut prepared = Prepared::new(&spec.process)?;
        prepared.init = spec.init;
        let tty = if spec.process.tty {
            Some(ConsoleSocket::new()?)
        } else {
            None
        };
        let console = tty.as_ref().map(|t| rootfs::Console {
            socket: t.child_fd(),
            owner: prepared.uid(),
            size: spec.process.console_size,
        });
        let child_stdio = ChildStdio::prepare(stdio, spec.process.stdin, tty.is_some())?;
        let mut steps = rootfs::plan(spec, tty.is_some());
        // Another's hostname is not ours to change.
        let hostname = spec
            .hostname
            .clone()
            .filter(|_| spec.namespaces.uts == Namespace::Private);
        let network = spec.network.clone();

        let mut flags = CloneFlags::CLONE_NEWNS;
        // Namespaces to enter (opened here, entered in the intermediate child before its
        // fork, so a joined PID namespace is the init's own) and namespaces to make.
        let mut joins = Vec::new();
        for (ns, flag) in [
            (&spec.namespaces.pid, CloneFlags::CLONE_NEWPID),
            (&spec.namespaces.uts, CloneFlags::CLONE_NEWUTS),
            (&spec.namespaces.ipc, CloneFlags::CLONE_NEWIPC),
        ] {
            match ns {
                Namespace::Private => flags |= flag,
                Namespace::Host => {}
                Namespace::Join(path) => {
                    let file = std::fs::File::open(path).ctx("open namespace", path)?;
                    joins.push((file, flag, path.clone()));
                }
            }
        }
        match &network {
            Network::Host => {}
            Network::Join(path) => {
                let file = std::fs::File::open(path).ctx("open network namespace", path)?;
                joins.push((file, CloneFlags::CLONE_NEWNET, path.clone()));
            }
            Network::None | Network::Isolated => flags |= CloneFlags::CLONE_NEWNET,
        }
        let mut resources = spec.resources.clone();
        resources.memory = spec.memory_limit.or(resources.memory);
        resources.memory_swap = spec.memory_swap_limit.or(resources.memory_swap);
        // The device allowlist and every limit are enforced or the start fails: a container
        // is never less confined than asked.
        let cgroup = Cgroup::create(Path::new(CGROUP_ROOT), &spec.id, &resources)?;
        let procs = cgroup.as_ref().map(|c| c.procs_files()).unwrap_or_default();
        if spec.private_cgroupns {
            // Unshared in the intermediate after it joined the cgroups: the namespace's root
            // is the container's cgroup.
            flags |= CloneFlags::CLONE_NEWCGROUP;
        }
        if let Some(cg) = &cgroup {
            rootfs::add_cgroup_mounts(&mut steps, cg, spec.private_cgroupns, spec.writable_sysfs);
        }
        let domainname = spec
            .domainname
            .clone()
            .filter(|_| spec.namespaces.uts == Namespace::Private);
        let oom_score_adj = spec.oom_score_adj;

        let prepare = || -> Result<()> {
            let me = std::process::id().to_string();
            for file in &procs {
                std::fs::write(file, &me).ctx("join cgroup", file)?;
            }
            for (file, flag, path) in &joins {
                nix::sched::setns(file, *flag).ctx("join namespace", path)?;
            }
            nix::sched::unshare(flags).ctx("unshare namespaces", "")
        };
        let init = || -> Error {
            reset_signals();
            let run = || -> Result<()> {
                child_stdio.install()?;
                if let Some(adj) = oom_score_adj {
                    // Still the host's /proc here; inherited by everything the init starts.
                    std::fs::write("/proc/self/oom_score_adj", adj.to_string())
                        .ctx("set oom_score_adj", "/proc/self/oom_score_adj")?;
                }
                rootfs::apply(rootfs, &steps, prepared.cwd(), console.as_ref())?;
                if let Some(name) = &hostname {
                    nix::unistd::sethostname(name).ctx("sethostname", "")?;
                }
                if let Some(name) = &domainname {
                    set_domainname(name)?;
                }
                if matches!(network, Network::None | Network::Isolated) {
                    loopback_up()?;
                }
                Ok(())
            };
            match run() {
                Ok(()) => prepared.exec(),
                Err(e) => e,
            }
        };
        let mut keep = child_stdio.fds();
        keep.extend(joins.iter().map(|(file, _, _)| file.as_raw_fd()));
        keep.extend(console.map(|c| c.socket));
        let pid = match spawn::spawn(&keep, &prepare, &init) {
            Ok(pid) => pid,
            Err(e) => {
                if let Some(cg) = &cgroup {
                    cg.remove();
                }
                return Err(e);
            }
        };
        drop(child_stdio);
        // Dropped (killed, reaped, its cgroup removed) if its terminal cannot be had.
        let mut container = Container {
            id: spec.id.clone(),
            process: Process::new(pid),
            cgroup,
            status: None,
        };
        // The init sent its pty master before its execve, which spawn has waited for.
        if let Some(tty) = tty {
            container.process.set_pty_master(tty.receive()?);
        }
        tracing::debug!(id = %spec.id, pid = pid.as_raw(), "container started");
        Ok(container)
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host pid of the container's init (PID 1 inside).
    pub fn pid(&self) -> i32 {
        self.process.pid()
    }

    /// The cgroup directory, when the host has a memory controller.
    pub fn cgroup_path(&self) -> Option<&Path> {
        self.cgroup.as_ref().map(|c| c.path())
    }

    /// The pty master, when started with a tty.
    pub fn pty_master(&self) -> Option<BorrowedFd<'_>> {
        self.process.pty_master()
    }

    /// Takes ownership of the pty master.
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.process.take_pty_master()
    }

    /// Sends a signal to the container's PID 1.
    pub fn kill(&self, signal: i32) -> Result<()> {
        self.process.kill(signal)
    }

    /// Waits for PID 1 to end; then reads the OOM state and removes the cgroup. Later calls
    /// return the same status.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        let status = self.process.wait()?;
        Ok(self.finish(status))
    }

    /// The status if PID 1 has ended, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        Ok(self.process.try_wait()?.map(|s| self.finish(s)))
    }

    fn finish(&mut self, mut status: ExitStatus) -> ExitStatus {
        if let Some(cg) = self.cgroup.take() {
            status.oom_killed = cg.oom_killed();
            cg.remove();
        }
        tracing::debug!(id = %self.id, code = status.code, oom = status.oom_killed, "container exited");
        self.status = Some(status);
        status
    }
}

/// setdomainname(2) in the calling process's UTS namespace.
fn set_domainname(name: &str) -> Result<()> {
    // SAFETY: setdomainname reads `len` bytes from the pointer, valid for the call.
    let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if rc != 0 {
        return Err(Error::io(
            "setdomainname",
            "",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.status.is_none() && !self.process.has_exited() {
            let _ = self.process.kill(libc::SIGKILL);
        }
        if self.status.is_none() {
            let _ = self.wait();
        }
    }
}
