//! The graph crate's error type.
//!
//! Every error says what failed and on what; callers branch on [`Error::kind`], never on text.

use std::io;
use std::path::PathBuf;

/// What class of failure an [`Error`] is, for callers that must react differently to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The layer, image or file does not exist.
    NotFound,
    /// Something with that id already exists.
    AlreadyExists,
    /// The kernel or the backing filesystem lacks a feature the driver needs.
    NotSupported,
    /// The object is in use (mounted, referenced by a child layer, image or container).
    Busy,
    /// The backing store is out of space.
    NoSpace,
    /// The input (an archive, an option, an id) is malformed or hostile.
    InvalidInput,
    /// Stored metadata is damaged or inconsistent.
    Corrupt,
    /// Any other operating-system failure.
    Io,
}

/// The graph crate's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a path failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation, in a few words ("create directory", "mount overlay").
        op: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The layer or object does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. "layer sha256:...".
        what: String,
    },
    /// The id is taken.
    #[error("{what} already exists")]
    AlreadyExists {
        /// What already exists.
        what: String,
    },
    /// A feature is missing.
    #[error("{0}")]
    NotSupported(String),
    /// The object is in use.
    #[error("{0}")]
    Busy(String),
    /// Out of space.
    #[error("{0}")]
    NoSpace(String),
    /// A layer archive was rejected.
    #[error("invalid layer archive: entry {entry:?}: {reason}")]
    BadArchive {
        /// The tar entry path, as it stood in the archive.
        entry: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A malformed argument, id or option.
    #[error("{0}")]
    InvalidInput(String),
    /// Stored metadata is damaged.
    #[error("corrupt store at {path}: {reason}")]
    Corrupt {
        /// The damaged file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } => io_kind(source),
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::NotSupported(_) => ErrorKind::NotSupported,
            Error::Busy(_) => ErrorKind::Busy,
            Error::NoSpace(_) => ErrorKind::NoSpace,
            Error::BadArchive { .. } | Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
        }
    }

    /// Wraps an I/O error with the operation and the path it was done on.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A rejected archive entry.
    pub fn bad_archive(entry: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::BadArchive {
            entry: entry.into(),
            reason: reason.into(),
        }
    }

    /// A missing object.
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }
}

fn io_kind(err: &io::Error) -> ErrorKind {
    match err.raw_os_error() {
        Some(libc::ENOENT) => ErrorKind::NotFound,
        Some(libc::EEXIST) => ErrorKind::AlreadyExists,
        Some(libc::EBUSY) => ErrorKind::Busy,
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => ErrorKind::NoSpace,
        Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) | Some(libc::ENODEV) => ErrorKind::NotSupported,
        _ => ErrorKind::Io,
    }
}

/// Extension to attach an operation and a path to `io::Result`s.
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
        self.map_err(|e| Error::io(op, path, io::Error::from(e)))
    }
}

/// The graph crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
