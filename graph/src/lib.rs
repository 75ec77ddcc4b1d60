//! The image graph: everything between a layer tarball and a storage driver.
//!
//! - [`Driver`] is the contract every copy-on-write storage driver (overlay2, vfs,
//!   devicemapper) implements: create layers on parents, mount them ref-counted, and
//!   diff/apply them as tar streams. The diff methods default to [`naive`] implementations that
//!   compare mounted trees; drivers with a cheaper native diff override them.
//! - [`select_driver`] picks the driver as Docker does: explicit name, else the driver that
//!   already has state under the data root, else the first one the host supports.
//! - [`archive`] applies layer tars safely (no entry reaches outside the layer) with Docker/OCI
//!   whiteouts, and writes them back, streaming and hashing as it goes.
//! - [`LayerStore`] keeps layers content-addressed like Docker's layerdb: diff id = sha256 of
//!   the uncompressed tar, chain id by the OCI rule, reference counts so layers in use stay.
//!   Every metadata write is atomic and every mutation runs under a cross-process lock.
//! - [`image::ImageStore`] keeps image configs by digest and Docker's `repositories.json` tags.
//! - With feature `testsuite`, [`testsuite`] is the conformance suite each driver's tests run.
#![warn(missing_docs)]

pub mod archive;
pub mod atomic_file;
mod driver;
mod error;
mod id;
pub mod image;
pub mod layer_store;
pub mod naive;
pub mod options;
pub mod refcount;
mod select;
pub mod store_lock;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;

pub use driver::{Change, ChangeKind, CreateOpts, Driver};
pub use error::{Error, ErrorKind, IoContext, Result};
pub use id::{ChainId, DiffId, Digest, LayerId, chain_id};
pub use layer_store::{Layer, LayerStore, Locked, Note, Noted, RwLayer};
pub use select::{DriverConfig, DriverEntry, select_driver};
