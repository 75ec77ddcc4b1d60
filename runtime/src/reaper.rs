//! `--init`: a minimal PID 1 for commands that do not expect to be one.
//!
//! A command run as PID 1 of a PID namespace gets no default signal actions (SIGTERM does
//! nothing unless it installs a handler) and inherits every orphan as a zombie to reap. With
//! `--init` the container's first process forks: the child goes on to `execve` the command,
//! the parent stays as PID 1, forwards every signal it receives to the child, reaps whatever
//! ends, and exits with the child's status (128 + signal when the child was killed), as
//! Docker's `docker-init` (tini) does. It is the engine's own code, so no binary has to exist
//! in the image.

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use crate::{IoContext, Result};

/// Forks. Returns `Ok` in the child, which is to become the command. The parent never
/// returns: it is PID 1 until the child ends.
pub(crate) fn fork_command() -> Result<()> {
    // SAFETY: the caller is single-threaded (the container's init after the double fork).
    match unsafe { nix::unistd::fork() }.ctx("fork the command under --init", "")? {
        ForkResult::Child => Ok(()),
        ForkResult::Parent { child } => {
            // Keep nothing but stdio: the start-up report pipe in particular must close
            // here, so the engine learns of the command's execve (or failure) from the child.
            // SAFETY: close_range closes descriptors only; this process uses none above 2.
            unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
            let code = supervise(child);
            // SAFETY: _exit ends PID 1 without running anything inherited from the engine.
            unsafe { libc::_exit(code) }
        }
    }
}

fn supervise(child: Pid) -> i32 {
    // Blocked signals are queued even for PID 1 (which the kernel otherwise spares signals it
    // has no handler for), and sigwaitinfo takes them one by one.
    // SAFETY: an initialised sigset passed to sigfillset, sigprocmask and sigwaitinfo.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        if libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut()) != 0 {
            return 125;
        }
        loop {
            let sig = libc::sigwaitinfo(&all, std::ptr::null_mut());
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                // The command may already be gone; nothing to do then.
                libc::kill(child.as_raw(), sig);
                continue;
            }
            if let Some(code) = reap(child) {
                return code;
            }
        }
    }
}

/// Reaps every ended child; the exit code once `child` is among them.
fn reap(child: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => result = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                result = Some(128 + sig as i32);
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => {}
        }
    }
}
