//! One container from a mounted rootfs and a spec, hand-written on `nix` and `libc`.
//!
//! The runtime knows nothing of images or storage: the engine mounts a rootfs with its storage
//! driver, fills a [`ContainerSpec`], and calls [`Container::create`]. Everything else here
//! serves that one call and the container's life after it.
//!
//! # How a container starts
//!
//! 1. **Parent** ([`Container::create`]): validates the spec, creates the memory cgroup
//!    `engine/<id>` (cgroup v1 or v2, detected at run time: [`cgroup`]), a socket for the pty
//!    master when asked for a tty, computes the mount plan, and becomes a child subreaper.
//! 2. **Double fork** (`spawn.rs`): the first child is single-threaded, so it can join the
//!    cgroup and `unshare` the mount, PID, UTS, IPC and network namespaces; it forks the
//!    container's init (PID 1 in the new PID namespace), hands its pid to the parent and exits.
//!    The init is re-parented to the caller, which waits for it like any child.
//! 3. **Init** (the grandchild): resets signal dispositions, starts a new session, then the
//!    filesystem (`rootfs.rs`): rprivate, rootfs bound onto itself, /proc, /sys read-only, a
//!    tmpfs /dev with device nodes, devpts (`newinstance`), shm, mqueue, the /dev symlinks, the
//!    bind mounts; `pivot_root` and detach of the old root; with a tty, a pty of the
//!    container's own devpts as stdio, controlling terminal and /dev/console, its master sent
//!    to the parent over a socket (`console.rs`); Docker's masked and read-only paths. Then
//!    hostname and loopback, and the process steps shared with `exec` (`init.rs`): bounding
//!    set, user (setgroups/setgid/setuid), capabilities, `no_new_privs`, working directory,
//!    `PATH` lookup with the container's `PATH`, `execve`.
//! 4. **Errors** before `execve` travel back over a close-on-exec pipe: EOF means the command
//!    is running; bytes are an [`Error`], so `create` fails with the reason (Docker's
//!    `exec: "foo": executable file not found in $PATH`, [`Error::exit_code`] 127 or 126)
//!    instead of a silent exit.
//!
//! # After the start
//!
//! [`Container::kill`] signals PID 1; [`Container::wait`] reaps it, reports
//! [`ExitStatus`] (`code` is 128 + signal when killed, `oom_killed` from the cgroup's OOM
//! counter) and removes the cgroup. [`exec`] joins a running container's cgroups and
//! namespaces and starts another process the same way. [`publish_tcp`] proxies a host TCP
//! port into the container's network namespace. [`copy_pty`] is the host side of `-t`.
//!
//! # The privileged seam
//!
//! What decides is separated from what acts, so the decisions are unit-tested without root:
//! the mount plan (`rootfs::plan`), cgroup files under any root directory ([`cgroup`]), user
//! resolution on file contents ([`resolve_user`]), PATH lookup, capability sets, the error
//! report encoding. The acting code is small and is tested as root in `tests/` against a
//! busybox rootfs.
//!
//! Monitor processes, logs, restart policies and state files belong to the engine.

#![warn(missing_docs)]

mod caps;
pub mod cgroup;
mod console;
mod container;
pub mod devices;
mod error;
mod exec;
pub mod freezer;
mod init;
mod lookup;
mod process;
mod proxy;
mod pty;
mod reaper;
mod report;
mod rootfs;
mod seccomp;
mod securejoin;
mod spawn;
mod spec;
mod stdio;
mod user;

pub use caps::CapSet;
pub use cgroup::Resources;
pub use container::Container;
pub use devices::{DeviceKind, DeviceNode, DeviceRule};
pub use error::{Error, ErrorKind, IoContext, Result};
pub use exec::exec;
pub use process::{ExitStatus, Process, parse_signal};
pub use proxy::{ProxyHandle, publish_tcp};
pub use pty::{RawModeGuard, copy_pty, set_window_size, window_size};
pub use seccomp::{Profile as SeccompProfile, Program as SeccompProgram};
pub use securejoin::secure_join;
pub use spec::{
    BindMount, ContainerSpec, DEFAULT_MASKED_PATHS, DEFAULT_PATH, DEFAULT_READONLY_PATHS,
    MIN_MEMORY, Namespace, Namespaces, Network, ProcessSpec, Rlimit, TmpfsMount, sysctl_namespace,
};
pub use stdio::{Stdio, StdioSet};
pub use user::{User, add_groups, resolve_user};
