//! Starting a process in new or existing namespaces: the double fork.
//!
//! The caller (possibly multi-threaded) `fork`s once; glibc's fork makes the child safe to
//! allocate in. That intermediate child is single-threaded, so it may `unshare`/`setns` freely,
//! join the cgroup, and `fork` again: the grandchild is the process we want, PID 1 of a new PID
//! namespace or a member of an existing one. The intermediate sends the grandchild's pid over
//! a pipe and exits; since the caller is a child subreaper, the grandchild is re-parented to
//! it and the caller can `waitpid` it like its own child.
//!
//! Errors before `execve` travel back over a close-on-exec pipe (see `report.rs`).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

use crate::{Error, IoContext, Result, report};

/// Makes the calling process a child subreaper (once): orphans of its children, among them
/// every container process, are re-parented to it rather than to the host's init.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot become a child subreaper");
        }
    });
}

/// Forks twice: `prepare` runs in the intermediate child (join cgroup, unshare or setns);
/// `init` in the grandchild, and returns only the error that kept it from `execve`. Returns the
/// grandchild's pid once it has exec'd, or the error it reported (after reaping it).
///
/// The intermediate first closes every inherited descriptor above 2 except `keep` (and its
/// pipes): other threads of the caller may have files open for writing (an executable being
/// copied: ETXTBSY) or pipes whose readers wait for EOF, and the children must not hold them
/// through the slow part before `execve`.
pub(crate) fn spawn(
    keep: &[RawFd],
    prepare: &dyn Fn() -> Result<()>,
    init: &dyn Fn() -> Error,
) -> Result<Pid> {
    become_subreaper();
    let (report_r, report_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).ctx("create pipe", "")?;
    let (pid_r, pid_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).ctx("create pipe", "")?;
    let parent = nix::unistd::getpid();
    // SAFETY: the child runs only `intermediate`, which ends in `_exit`; glibc's fork resets
    // the allocator's locks, so allocating there is safe even though other threads exist.
    match unsafe { nix::unistd::fork() }.ctx("fork", "")? {
        ForkResult::Child => {
            // A caller killed while its container is being set up (a build step's builder,
            // say) takes the setup with it: otherwise the intermediate would go on to create
            // the cgroup and start the command after the next start's sweep has looked.
            // SAFETY: prctl with these arguments only sets this process's parent-death signal.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
            if nix::unistd::getppid() != parent {
                // SAFETY: _exit ends the child without running the parent's atexit handlers.
                unsafe { libc::_exit(1) }
            }
            drop(report_r);
            drop(pid_r);
            let mut keep = keep.to_vec();
            keep.extend([report_w.as_raw_fd(), pid_w.as_raw_fd()]);
            close_fds_except(&mut keep);
            let code = catch_unwind(AssertUnwindSafe(|| {
                intermediate(report_w, pid_w, prepare, init)
            }))
            .unwrap_or(1);
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(report_w);
            drop(pid_w);
            let mut buf = [0u8; 4];
            let got_pid = File::from(pid_r).read_exact(&mut buf).is_ok();
            reap(child);
            let reported =
                report::receive(&mut File::from(report_r)).ctx("read child report", "")?;
            let pid = got_pid.then(|| Pid::from_raw(i32::from_le_bytes(buf)));
            match (pid, reported) {
                (Some(pid), None) => Ok(pid),
                (Some(pid), Some(err)) => {
                    reap(pid);
                    Err(err)
                }
                (None, Some(err)) => Err(err),
                (None, None) => Err(Error::io(
                    "start container process",
                    "",
                    std::io::Error::other("the intermediate process exited without a report"),
                )),
            }
        }
    }
}

fn intermediate(
    report_w: OwnedFd,
    pid_w: OwnedFd,
    prepare: &dyn Fn() -> Result<()>,
    init: &dyn Fn() -> Error,
) -> i32 {
    let mut report_w = File::from(report_w);
    if let Err(e) = prepare() {
        report::send(&mut report_w, &e);
        return 1;
    }
    // SAFETY: this process is single-threaded (a fresh fork child), so the second fork is
    // as safe as any; the grandchild ends in execve or _exit.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => {
            drop(pid_w);
            let err = catch_unwind(AssertUnwindSafe(init))
                .unwrap_or_else(|_| Error::InvalidInput("container init panicked".into()));
            report::send(&mut report_w, &err);
            // SAFETY: _exit ends the grandchild without running atexit handlers.
            unsafe { libc::_exit(err.exit_code().unwrap_or(1)) }
        }
        Ok(ForkResult::Parent { child }) => {
            let _ = File::from(pid_w).write_all(&child.as_raw().to_le_bytes());
            0
        }
        Err(e) => {
            report::send(&mut report_w, &Error::errno("fork", "", e as i32));
            1
        }
    }
}

/// Closes every descriptor above 2 that is not in `keep`.
fn close_fds_except(keep: &mut Vec<RawFd>) {
    keep.retain(|fd| *fd > 2);
    keep.sort_unstable();
    keep.dedup();
    let mut from: u32 = 3;
    for fd in keep.iter().map(|fd| *fd as u32).chain([u32::MAX]) {
        if fd > from {
            // SAFETY: close_range closes descriptors only; none in the range is used by this
            // single-threaded child.
            unsafe { libc::syscall(libc::SYS_close_range, from, fd - 1, 0u32) };
        }
        from = fd.saturating_add(1);
    }
}

/// Waits for a child to end, retrying on EINTR.
fn reap(pid: Pid) {
    loop {
        match waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => return,
        }
    }
}
