//! The core's errors, by kind: the CLI maps a kind to an exit status, the API to an HTTP
//! status, and neither ever looks at an error's text.
//!
//! Operations return `anyhow::Result` so that each layer can add what it was doing to the
//! chain ("removing container web: unmounting ...: Device or resource busy"). The kind of a
//! failure is carried by a typed cause somewhere in that chain: an [`EngineError`] raised by
//! the core itself, a `graph::Error` from the stores, or an I/O error; [`kind_of`] finds it.

use std::fmt;

/// What went wrong, in the terms a caller acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The container, image, volume, network, exec instance or path does not exist (404).
    NotFound,
    /// The object's state refuses the request: running, in use, name taken (409).
    Conflict,
    /// The request itself is malformed or names impossible options (400).
    InvalidArgument,
    /// Docker forbids the operation (removing a predefined network) (403).
    Forbidden,
    /// The registry refused the credentials (401).
    Unauthorized,
    /// The data root or a thin pool is out of space.
    NoSpace,
    /// The command to run in a container cannot be run: not found or not executable
    /// (Docker's 127 and 126, a 400 from the API).
    NotRunnable,
    /// Anything else: a failure of the engine or the host (500).
    Internal,
}

/// An error the core raises itself, with its kind and the message a user sees.
#[derive(Debug)]
pub struct EngineError {
    kind: ErrorKind,
    message: String,
}

impl EngineError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        EngineError {
            kind,
            message: message.into(),
        }
    }

    /// Something named does not exist (`No such container: web`).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// The object's state refuses the request.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// The request is malformed.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// Docker forbids it.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// The registry refused the credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EngineError {}

/// The kind of `e`: that of the first typed cause in its chain, outermost first.
pub fn kind_of(e: &anyhow::Error) -> ErrorKind {
    use crate::container::copy::NoSuchPath;
    use crate::container::{ExitError, NoSuchImage};
    for cause in e.chain() {
        if let Some(e) = cause.downcast_ref::<EngineError>() {
            return e.kind();
        }
        if cause.is::<NoSuchImage>() || cause.is::<NoSuchPath>() {
            return ErrorKind::NotFound;
        }
        if let Some(x) = cause.downcast_ref::<ExitError>()
            && matches!(x.code, 126 | 127)
        {
            return ErrorKind::NotRunnable;
        }
        if cause.is::<distribution::registry::ManifestUnknown>() {
            return ErrorKind::NotFound;
        }
        if let Some(g) = cause.downcast_ref::<graph::Error>() {
            return match g.kind() {
                graph::ErrorKind::NotFound => ErrorKind::NotFound,
                graph::ErrorKind::AlreadyExists | graph::ErrorKind::Busy => ErrorKind::Conflict,
                graph::ErrorKind::InvalidInput => ErrorKind::InvalidArgument,
                graph::ErrorKind::NoSpace => ErrorKind::NoSpace,
                _ => ErrorKind::Internal,
            };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.raw_os_error() == Some(libc::ENOSPC)
        {
            return ErrorKind::NoSpace;
        }
    }
    ErrorKind::Internal
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn the_kind_survives_added_context() {
        let e = anyhow::Error::new(EngineError::not_found("No such container: web"))
            .context("removing web");
        assert_eq!(kind_of(&e), ErrorKind::NotFound);
        assert_eq!(format!("{e:#}"), "removing web: No such container: web");
    }

    #[test]
    fn untyped_errors_are_internal_whatever_they_say() {
        let e = anyhow::anyhow!("No such container: web (but only in words)");
        assert_eq!(kind_of(&e), ErrorKind::Internal);
    }

    #[test]
    fn a_full_disk_is_no_space() {
        let e: anyhow::Error = Err::<(), _>(std::io::Error::from_raw_os_error(libc::ENOSPC))
            .context("writing layer")
            .unwrap_err();
        assert_eq!(kind_of(&e), ErrorKind::NoSpace);
    }

    #[test]
    fn the_stores_kinds_map_over() {
        let e = anyhow::Error::new(graph::Error::Busy("layer in use".to_string()));
        assert_eq!(kind_of(&e), ErrorKind::Conflict);
    }
}
