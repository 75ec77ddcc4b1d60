//! A started container process: its pid, pty master, signals and exit status.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::{Error, Result};

/// How a container process ended, as Docker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, or 128 + the signal number when a signal killed it (137 for SIGKILL).
    pub code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// The kernel's OOM killer killed a process of the container (`OOMKilled` in inspect).
    pub oom_killed: bool,
}

impl ExitStatus {
    fn from_wait(status: WaitStatus) -> Option<ExitStatus> {
        match status {
            WaitStatus::Exited(_, code) => Some(ExitStatus {
                code,
                signal: None,
                oom_killed: false,
            }),
            WaitStatus::Signaled(_, sig, _) => Some(ExitStatus {
                code: 128 + sig as i32,
                signal: Some(sig as i32),
                oom_killed: false,
            }),
            _ => None,
        }
    }
}

/// Parses a signal as `docker kill -s` takes it: "KILL", "SIGKILL", "kill" or "9".
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n)
            .map(|sig| sig as i32)
            .map_err(|_| Error::InvalidInput(format!("invalid signal: {s}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| Error::InvalidInput(format!("invalid signal: {s}")))
}

/// A process started by the runtime: a container's init or an exec'd process. It is a child
/// of the calling process, which must reap it with [`Process::wait`]; dropping an unreaped
/// `Process` kills it with SIGKILL and reaps it.
#[derive(Debug)]
pub struct Process {
    pid: Pid,
    pty_master: Option<OwnedFd>,
    status: Option<ExitStatus>,
}

impl Process {
    pub(crate) fn new(pid: Pid) -> Process {
        Process {
            pid,
            pty_master: None,
            status: None,
        }
    }

    /// Gives the process its pty master, received once it had started.
    pub(crate) fn set_pty_master(&mut self, pty_master: OwnedFd) {
        self.pty_master = Some(pty_master);
    }

    /// The host pid.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// The pty master, when the process was started with a tty.
    pub fn pty_master(&self) -> Option<BorrowedFd<'_>> {
        self.pty_master.as_ref().map(|fd| fd.as_fd())
    }

    /// Takes ownership of the pty master (to hand it to a copier thread or another process).
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty_master.take()
    }

    /// Sends `signal` (a number, see [`parse_signal`]). As in Docker, PID 1 of a container
    /// ignores signals it installed no handler for, except SIGKILL.
    pub fn kill(&self, signal: i32) -> Result<()> {
        if self.status.is_some() {
            return Err(Error::errno(
                "signal process",
                format!("pid {}", self.pid),
                libc::ESRCH,
            ));
        }
        let sig = Signal::try_from(signal)
            .map_err(|_| Error::InvalidInput(format!("invalid signal: {signal}")))?;
        nix::sys::signal::kill(self.pid, sig)
            .map_err(|e| Error::errno("signal process", format!("pid {}", self.pid), e as i32))
    }

    /// Waits for the process to end (returns the same status on later calls).
    pub fn wait(&mut self) -> Result<ExitStatus> {
        loop {
            if let Some(s) = self.status {
                return Ok(s);
            }
            match waitpid(self.pid, None) {
                Ok(ws) => self.status = ExitStatus::from_wait(ws),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    return Err(Error::errno(
                        "wait for process",
                        format!("pid {}", self.pid),
                        e as i32,
                    ));
                }
            }
        }
    }

    /// The status if the process has ended, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(ws) => self.status = ExitStatus::from_wait(ws),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    return Err(Error::errno(
                        "wait for process",
                        format!("pid {}", self.pid),
                        e as i32,
                    ));
                }
            }
        }
        Ok(self.status)
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.status.is_some()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
            let _ = self.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_docker_kill() {
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn exit_status_from_signal_is_128_plus() {
        let s = ExitStatus::from_wait(WaitStatus::Signaled(
            Pid::from_raw(1),
            Signal::SIGKILL,
            false,
        ))
        .unwrap();
        assert_eq!((s.code, s.signal), (137, Some(9)));
        let s = ExitStatus::from_wait(WaitStatus::Exited(Pid::from_raw(1), 3)).unwrap();
        assert_eq!((s.code, s.signal), (3, None));
    }
}
