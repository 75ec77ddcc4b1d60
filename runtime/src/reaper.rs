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
    // Before the fork, so the command never runs while PID 1 still shows the engine (it
    // reads its own copy of nothing; its execve gives it its own arguments, environment and
    // dumpable flag).
    hide_the_engine();
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

/// This process is a fork of the engine (or its daemon) that never `execve`s, so its
/// memory, command line and environment are the engine's: its flags, the data root, the
/// environment it was started with. The container must see none of it, as it sees nothing
/// of Docker's `docker-init` but its own. Made non-dumpable, `/proc/1/environ`, `/proc/1/mem`
/// and ptrace need CAP_SYS_PTRACE; and the command line and environment themselves are
/// overwritten, so `ps` shows `init` and even a container given CAP_SYS_PTRACE reads no
/// host variable there.
fn hide_the_engine() {
    // SAFETY: PR_SET_DUMPABLE takes integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let Some([arg_start, arg_end, env_start, env_end]) = argv_and_environ() else {
        return;
    };
    // SAFETY: [arg_start, arg_end) and [env_start, env_end) are this process's argument and
    // environment strings, as the kernel reports them: mapped, writable stack memory. Nothing
    // in this process or the command it forks reads them again (supervise uses neither; the
    // command's execve takes its arguments and environment from the heap).
    unsafe {
        if env_end > env_start {
            std::ptr::write_bytes(env_start as *mut u8, 0, env_end - env_start);
        }
        if arg_end > arg_start {
            std::ptr::write_bytes(arg_start as *mut u8, 0, arg_end - arg_start);
            let name = b"init";
            if arg_end - arg_start > name.len() {
                std::ptr::copy_nonoverlapping(name.as_ptr(), arg_start as *mut u8, name.len());
            }
        }
    }
}

/// `arg_start`, `arg_end`, `env_start`, `env_end` of this process (fields 48 to 51 of
/// `/proc/self/stat`, counted after the command name, which may hold spaces).
fn argv_and_environ() -> Option<[usize; 4]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields from 3 (state) on; 48 is the 46th of them.
    let fields: Vec<usize> = after_name
        .split_whitespace()
        .skip(45)
        .take(4)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    fields.try_into().ok()
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
