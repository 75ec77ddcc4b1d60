#![warn(missing_docs)]
//! Images in and out of the engine's stores.
//!
//! - [`registry`]: a registry v2 client (token auth, manifests and indexes, blobs), `pull`
//!   and `push`.
//! - [`archive`]: Docker's `save` format and OCI image layouts, read by `load` and written by
//!   `save`.
//! - [`ingest`]: the one path every image enters the stores through, whatever brought it:
//!   layers registered bottom-up with their diff ids checked, the image created and tagged,
//!   everything this ingest added rolled back if any step fails.
//! - [`owned`]: leases and scratch directories under the data root that a killed process's
//!   successor can tell from live work; [`progress`] and [`human`]: what users see meanwhile.
//!
//! The crate works on `graph`'s stores ([`Stores`]), never on the engine core above it.

pub mod archive;
pub mod human;
pub mod ingest;
pub mod owned;
pub mod progress;
pub mod registry;

pub use ingest::Stores;
