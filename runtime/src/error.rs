//! The runtime crate's error type.
//!
//! Every error says what failed and on what; callers branch on [`Error::kind`], never on text.
//! Errors raised inside the container's init before `execve` travel back to the parent over a
//! pipe (see `report.rs`) and arrive here as the same variants.

use std::borrow::Cow;
use std::io;
use std::path::PathBuf;

/// What class of failure an [`Error`] is, for callers that must react differently to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A file, user, group or process does not exist.
    NotFound,
    /// The spec or an argument is malformed.
    InvalidInput,
    /// The command is not in the container (Docker exits 127).
    CommandNotFound,
    /// The command exists but cannot be executed (Docker exits 126).
    NotExecutable,
    /// A host address to publish on is already taken.
    AddrInUse,
    /// The caller lacks a privilege (not root, or a capability is missing).
    PermissionDenied,
    /// The kernel lacks a feature (a namespace, a cgroup controller).
    NotSupported,
    /// Any other operating-system failure.
    Io,
}

/// The runtime crate's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system call on a path failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation, in a few words ("mount proc", "pivot_root").
        op: Cow<'static, str>,
        /// The path it was done on (may be empty for calls without one).
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The spec or an argument is malformed.
    #[error("{0}")]
    InvalidInput(String),
    /// A user or group named in the spec is not in the container's /etc/passwd or /etc/group.
    #[error("unable to find {what}: no matching entries in {file} file")]
    UserNotFound {
        /// "user app" or "group staff".
        what: String,
        /// "passwd" or "group".
        file: &'static str,
    },
    /// The command could not be found; the message is Docker's.
    #[error("exec: \"{command}\": {reason}")]
    CommandNotFound {
        /// The command as given (`args[0]`).
        command: String,
        /// "executable file not found in $PATH" or "stat /x: no such file or directory".
        reason: String,
    },
    /// The command exists but is not executable.
    #[error("exec: \"{command}\": {reason}")]
    NotExecutable {
        /// The command as given (`args[0]`).
        command: String,
        /// "permission denied", "exec format error", ...
        reason: String,
    },
    /// The host address of a published port is taken.
    #[error("cannot publish on {addr}: port is already allocated")]
    AddrInUse {
        /// The host address.
        addr: std::net::SocketAddr,
    },
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } => io_kind(source),
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::UserNotFound { .. } => ErrorKind::NotFound,
            Error::CommandNotFound { .. } => ErrorKind::CommandNotFound,
            Error::NotExecutable { .. } => ErrorKind::NotExecutable,
            Error::AddrInUse { .. } => ErrorKind::AddrInUse,
        }
    }

    /// The exit code Docker reports when a container fails this way before its command ran:
    /// 127 when the command is missing, 126 when it cannot be executed, `None` otherwise (the
    /// CLI then uses its own code for a daemon error, 125).
    pub fn exit_code(&self) -> Option<i32> {
        match self.kind() {
            ErrorKind::CommandNotFound => Some(127),
            ErrorKind::NotExecutable => Some(126),
            _ => None,
        }
    }

    /// Wraps an I/O error with the operation and the path it was done on.
    pub fn io(
        op: impl Into<Cow<'static, str>>,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> Self {
        Error::Io {
            op: op.into(),
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Io`] from a raw errno value.
    pub(crate) fn errno(
        op: impl Into<Cow<'static, str>>,
        path: impl Into<PathBuf>,
        errno: i32,
    ) -> Self {
        Error::io(op, path, io::Error::from_raw_os_error(errno))
    }
}

fn io_kind(err: &io::Error) -> ErrorKind {
    match err.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ESRCH) => ErrorKind::NotFound,
        Some(libc::EPERM) | Some(libc::EACCES) => ErrorKind::PermissionDenied,
        Some(libc::EADDRINUSE) => ErrorKind::AddrInUse,
        Some(libc::EINVAL) => ErrorKind::InvalidInput,
        Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) | Some(libc::ENODEV) => ErrorKind::NotSupported,
        _ => ErrorKind::Io,
    }
}

/// Extension to attach an operation and a path to `io::Result`s and `nix::Result`s.
pub trait IoContext<T> {
    /// Maps the error to [`Error::Io`] with `op` and `path`.
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::errno(op, path, e as i32))
    }
}

/// The runtime crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_docker() {
        let nf = Error::CommandNotFound {
            command: "foo".into(),
            reason: "executable file not found in $PATH".into(),
        };
        assert_eq!(nf.exit_code(), Some(127));
        assert_eq!(
            nf.to_string(),
            "exec: \"foo\": executable file not found in $PATH"
        );
        let ne = Error::NotExecutable {
            command: "/etc/passwd".into(),
            reason: "permission denied".into(),
        };
        assert_eq!(ne.exit_code(), Some(126));
        assert_eq!(Error::errno("mount", "/x", libc::ENOENT).exit_code(), None);
        assert_eq!(
            Error::errno("mount", "/x", libc::ENOENT).kind(),
            ErrorKind::NotFound
        );
    }
}
