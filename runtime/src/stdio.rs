//! Standard streams of a container process: pass-through descriptors or /dev/null. With a tty
//! the streams are the pty's slave, installed later by the process itself (`console.rs`).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::{IoContext, Result};

/// Where one standard stream of a container process goes.
#[derive(Debug, Default)]
pub enum Stdio {
    /// The caller's own stream (fd 0, 1 or 2).
    #[default]
    Inherit,
    /// /dev/null.
    Null,
    /// This descriptor (a pipe, a log file, a socket).
    Fd(OwnedFd),
}

/// The three standard streams; ignored when the process has a tty.
#[derive(Debug, Default)]
pub struct StdioSet {
    /// Standard input; replaced by /dev/null unless the spec says `stdin`.
    pub stdin: Stdio,
    /// Standard output.
    pub stdout: Stdio,
    /// Standard error.
    pub stderr: Stdio,
}

/// The descriptors the child installs as 0, 1, 2 (`None`: keep the inherited one), kept open by
/// the parent until the child has them.
#[derive(Debug)]
pub(crate) struct ChildStdio {
    fds: [Option<RawFd>; 3],
    _keep: Vec<OwnedFd>,
}

impl ChildStdio {
    /// Prepares the streams in the parent: the given ones, or none with a `tty` (the process
    /// opens its terminal inside the container, see `console.rs`).
    pub(crate) fn prepare(set: StdioSet, stdin_open: bool, tty: bool) -> Result<Self> {
        if tty {
            return Ok(ChildStdio {
                fds: [None; 3],
                _keep: Vec::new(),
            });
        }
        let mut keep = Vec::new();
        let mut fds = [None; 3];
        let stdin = if stdin_open { set.stdin } else { Stdio::Null };
        for (i, s) in [stdin, set.stdout, set.stderr].into_iter().enumerate() {
            let fd = match s {
                Stdio::Inherit => continue,
                Stdio::Null => std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                    .ctx("open", "/dev/null")?
                    .into(),
                Stdio::Fd(fd) => fd,
            };
            fds[i] = Some(fd.as_raw_fd());
            keep.push(fd);
        }
        Ok(ChildStdio { fds, _keep: keep })
    }

    /// The descriptors the child needs open until it installs them.
    pub(crate) fn fds(&self) -> Vec<RawFd> {
        self.fds.iter().flatten().copied().collect()
    }

    /// In the child: a new session (a tty becomes its controlling terminal later) and the
    /// streams on 0, 1, 2.
    pub(crate) fn install(&self) -> Result<()> {
        nix::unistd::setsid().ctx("setsid", "")?;
        // Move every source above 2 first, so installing one never clobbers another.
        let mut high = [None; 3];
        for (i, fd) in self.fds.iter().enumerate() {
            if let Some(fd) = fd {
                // SAFETY: F_DUPFD_CLOEXEC duplicates a descriptor we hold; no memory is touched.
                let dup = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
                if dup < 0 {
                    return Err(last_error("duplicate stdio descriptor"));
                }
                high[i] = Some(dup);
            }
        }
        for (i, fd) in high.iter().enumerate() {
            if let Some(fd) = fd {
                // SAFETY: dup2 onto 0..=2 replaces the process's own standard streams, which is
                // the point; the source is a descriptor we just duplicated.
                if unsafe { libc::dup2(*fd, i as RawFd) } < 0 {
                    return Err(last_error("install stdio descriptor"));
                }
                // SAFETY: closing our own temporary duplicate.
                unsafe { libc::close(*fd) };
            }
        }
        Ok(())
    }
}

fn last_error(op: &'static str) -> crate::Error {
    crate::Error::io(op, "", std::io::Error::last_os_error())
}
