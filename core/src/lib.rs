//! The engine core: everything `engine` does, under the CLI and the API alike.
//!
//! [`engine::Engine`] opens a data root: it resolves the storage driver from the explicit
//! [`drivers`] table (selection itself lives in `graph`), opens the layer and image stores over
//! it and sweeps what killed processes left behind ([`sweep`]). Around it:
//!
//! - [`container`]: records and their store, create (the one [`container::create::Request`]
//!   the CLI's flags and the API's body both become), the monitor process that owns a running
//!   container, lifecycle (start, stop, kill, pause, remove), logs, attach, exec, stats, cp.
//! - [`image`]: image queries (list, inspect, history), tag, remove and prune.
//! - [`volume`], [`network`]: Docker's local volumes and bridge networks (netavark).
//! - [`build`]: the Dockerfile builder, running its steps as containers.
//! - [`registry`]: pull/push/login over `distribution`, which owns the wire formats and the
//!   one ingest path every image arrives through.
//!
//! Errors cross the boundary as [`error::EngineError`], whose [`error::ErrorKind`] the CLI
//! maps to exit codes and the API to HTTP statuses.

// The API's JSON documents (`/info`, inspect) are large `json!` literals.
#![recursion_limit = "256"]

pub mod build;
pub mod changes;
pub mod config;
pub mod container;
pub mod drivers;
pub mod engine;
pub mod error;
pub mod events;
pub mod image;
pub mod info;
pub(crate) mod inspect_fields;
pub mod network;
pub mod prune;
pub mod registry;
pub mod reserve;
pub mod sweep;
pub mod transfer;
pub mod volume;

pub use engine::Engine;
pub use error::{EngineError, ErrorKind};
