//! The last steps of a container process, run in the child after its namespaces and mounts are
//! in place: signal reset, capabilities, `no_new_privs`, user switch, working directory, PATH
//! lookup and `execve`. Shared by the container's init and by [`crate::exec`].

use std::ffi::CString;
use std::path::PathBuf;

use nix::unistd::{Gid, Uid};

use crate::caps::{self, CapSet};
use crate::lookup::{env_value, exec_error, find_command};
use crate::seccomp::Program;
use crate::spec::Rlimit;
use crate::spec::{DEFAULT_PATH, ProcessSpec, validate_process};
use crate::user::User;
use crate::{Error, IoContext, Result};

/// A [`ProcessSpec`] turned into what `execve` needs, built in the parent so the child does
/// little more than system calls.
#[derive(Debug)]
pub(crate) struct Prepared {
    argv: Vec<CString>,
    env: Vec<String>,
    envp: Vec<CString>,
    command: String,
    cwd: PathBuf,
    user: User,
    caps: CapSet,
    no_new_privs: bool,
    last_cap: u8,
    seccomp: Option<Program>,
    rlimits: Vec<Rlimit>,
    /// Run the command under a minimal PID 1 (`--init`).
    pub(crate) init: bool,
}

impl Prepared {
    pub(crate) fn new(p: &ProcessSpec) -> Result<Prepared> {
        validate_process(p)?;
        let mut env = p.env.clone();
        if env_value(&env, "PATH").is_none() {
            env.push(format!("PATH={DEFAULT_PATH}"));
        }
        if env_value(&env, "HOME").is_none() {
            let home = p.user.home.clone().unwrap_or_else(|| PathBuf::from("/"));
            env.push(format!("HOME={}", home.display()));
        }
        let cstrings = |v: &[String]| -> Result<Vec<CString>> {
            v.iter()
                .map(|s| {
                    CString::new(s.as_bytes())
                        .map_err(|_| Error::InvalidInput(format!("{s:?} contains a NUL byte")))
                })
                .collect()
        };
        let last_cap = caps::last_cap();
        // A capability the engine itself lacks cannot be given (`--privileged` in a
        // restricted host): the container gets what there is, as with runc.
        let available = caps::current_bounding(last_cap);
        let caps = p.capabilities.intersect(available);
        if caps != p.capabilities {
            tracing::debug!(
                missing = ?p.capabilities.difference(available),
                "capabilities the engine does not hold are left out"
            );
        }
        Ok(Prepared {
            argv: cstrings(&p.args)?,
            envp: cstrings(&env)?,
            env,
            command: p.args[0].clone(),
            cwd: p.cwd.clone(),
            user: p.user.clone(),
            caps,
            no_new_privs: p.no_new_privileges,
            last_cap,
            // Docker compiles against the bounding set: a rule for CAP_SYS_ADMIN applies when
            // the process may hold it.
            seccomp: p
                .seccomp
                .as_ref()
                .map(|profile| profile.compile(caps))
                .transpose()?,
            rlimits: p.rlimits.clone(),
            init: false,
        })
    }

    pub(crate) fn cwd(&self) -> &std::path::Path {
        &self.cwd
    }

    /// The uid the process runs as (its terminal is given to it).
    pub(crate) fn uid(&self) -> u32 {
        self.user.uid
    }

    /// In the child: becomes the process and `execve`s; returns only the reason it could not.
    /// With [`Prepared::init`], the calling process stays behind as a minimal init (it never
    /// returns then: it exits with the command's status).
    pub(crate) fn exec(&self) -> Error {
        match self.finalize() {
            Ok(path) => {
                if self.init
                    && let Err(e) = crate::reaper::fork_command()
                {
                    return e;
                }
                let _ = nix::unistd::execve(&path, &self.argv, &self.envp);
                exec_error(
                    &self.command,
                    std::io::Error::last_os_error()
                        .raw_os_error()
                        .unwrap_or(libc::EIO),
                )
            }
            Err(e) => e,
        }
    }

    fn finalize(&self) -> Result<CString> {
        let cap_err = |(op, errno): (&'static str, i32)| Error::errno(op, "", errno);
        caps::drop_bounding(self.caps, self.last_cap).map_err(cap_err)?;
        nix::unistd::chdir(&self.cwd).ctx("chdir to working directory", &self.cwd)?;
        join_new_session_keyring()?;
        for r in &self.rlimits {
            let lim = libc::rlimit {
                rlim_cur: r.soft,
                rlim_max: r.hard,
            };
            // SAFETY: setrlimit reads the struct we pass.
            if unsafe { libc::setrlimit(r.resource as _, &lim) } != 0 {
                return Err(Error::io("set ulimit", "", std::io::Error::last_os_error()));
            }
        }
        let load_seccomp = |when: &str| -> Result<()> {
            match &self.seccomp {
                Some(prog) => prog.load().map_err(|errno| {
                    Error::errno(format!("load seccomp filter ({when})"), "", errno)
                }),
                None => Ok(()),
            }
        };
        if !self.no_new_privs {
            // Without no_new_privs the filter needs CAP_SYS_ADMIN, which only the process we
            // are before the user switch has; the filter must then allow what follows (the
            // default profile does), as in runc.
            load_seccomp("before the user switch")?;
        }
        let groups: Vec<Gid> = self
            .user
            .additional_gids
            .iter()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).ctx("setgroups", "")?;
        nix::unistd::setgid(Gid::from_raw(self.user.gid)).ctx("setgid", "")?;
        // Leaving uid 0 clears the permitted and effective sets (no SECBIT_KEEP_CAPS), which is
        // what Docker gives a non-root user: only the bounding set remains.
        nix::unistd::setuid(Uid::from_raw(self.user.uid)).ctx("setuid", "")?;
        let effective = if self.user.uid == 0 {
            self.caps
        } else {
            CapSet::empty()
        };
        caps::set_process_caps(effective).map_err(cap_err)?;
        if self.no_new_privs {
            // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return Err(Error::io(
                    "set no_new_privs",
                    "",
                    std::io::Error::last_os_error(),
                ));
            }
            load_seccomp("last before exec")?;
        }
        close_other_fds();
        let path_env = env_value(&self.env, "PATH").unwrap_or(DEFAULT_PATH);
        let path = find_command(&self.command, path_env)?;
        crate::rootfs::cpath(&path)
    }
}

/// Gives the process a new, anonymous session keyring, so the keys of whoever started the
/// container (the host's session keyring) are out of reach, as runc does.
fn join_new_session_keyring() -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING, NULL) takes no memory from us.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        // A kernel without keys (or a filter from a parent engine) has no keyring to hide.
        if matches!(err.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) {
            return Ok(());
        }
        return Err(Error::io("join a new session keyring", "", err));
    }
    Ok(())
}

/// Marks every descriptor above 2 close-on-exec, so nothing the parent process happened to
/// have open (another thread's pipe, a listening socket) leaks into the container.
fn close_other_fds() {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags; no memory is passed.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if rc != 0 {
        // Kernels before 5.11: walk the table instead.
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            let fds: Vec<i32> = dir
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect();
            for fd in fds.into_iter().filter(|fd| *fd > 2) {
                // SAFETY: FD_CLOEXEC on a descriptor number; a stale number just fails.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
    }
}

/// Puts every signal back to its default disposition and unblocks all: the parent (Rust's
/// runtime ignores SIGPIPE, a CLI may block signals) must not pass its choices on.
pub(crate) fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: setting SIG_DFL installs no handler code; invalid numbers just fail.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: an empty, initialised sigset passed to sigprocmask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Brings the loopback interface of the current network namespace up.
pub(crate) fn loopback_up() -> Result<()> {
    // SAFETY: a plain socket(2) call; the descriptor is wrapped right away.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(Error::io(
            "open socket for",
            "lo",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `sock` is a descriptor we just opened and own.
    let _sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(sock) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills the flags of the ifreq we pass.
    if unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(Error::io(
            "read flags of",
            "lo",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: the union member ifru_flags is the one SIOCGIFFLAGS just wrote.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads the ifreq we pass.
    if unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(Error::io("bring up", "lo", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_gets_path_and_home() {
        let mut p = ProcessSpec::new(vec!["sh".into()]);
        p.user = User {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![],
            home: Some("/home/app".into()),
        };
        let prep = Prepared::new(&p).unwrap();
        assert!(prep.env.contains(&format!("PATH={DEFAULT_PATH}")));
        assert!(prep.env.contains(&"HOME=/home/app".to_string()));

        p.env = vec!["PATH=/x".into(), "HOME=/h".into()];
        let prep = Prepared::new(&p).unwrap();
        assert_eq!(prep.env, vec!["PATH=/x".to_string(), "HOME=/h".into()]);
    }
}
