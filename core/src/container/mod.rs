//! Containers: the store (`<data-root>/containers/<id>/`), creation from an image and the run
//! flags, the per-container monitor that owns a running container, json-file logs, restart
//! policies, random names, and the built-in hello-world image.

pub mod attach;
pub mod confinement;
pub mod copy;
pub mod create;
pub mod filters;
pub mod health;
pub mod hello;
pub mod host_options;
pub mod inspect;
pub mod lifecycle;
pub mod list;
pub mod log;
pub mod log_read;
pub mod monitor;
pub mod names;
pub mod ops;
pub mod ports;
pub mod record;
pub mod restart;
pub(crate) mod share;
pub mod spawn;
pub mod spec;
pub mod stats;
pub mod store;
pub mod update;

use std::fmt;

/// An error with the exit code the CLI should end with (Docker's 125/126/127).
#[derive(Debug)]
pub struct ExitError {
    /// The exit code.
    pub code: i32,
    /// What to print.
    pub message: String,
}

impl ExitError {
    /// An error ending the CLI with `code`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        ExitError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitError {}

/// The image to create a container from is not here (the API answers 404, the CLI explains
/// how to get it).
#[derive(Debug)]
pub struct NoSuchImage(pub String);

impl fmt::Display for NoSuchImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "No such image: {}", self.0)
    }
}

impl std::error::Error for NoSuchImage {}
