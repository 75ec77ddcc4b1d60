//! Volumes, as Docker's `local` driver keeps them: `<data-root>/volumes/NAME/_data` with the
//! volume's metadata beside it, and how containers use them.
//!
//! - [`store`]: create, list, inspect, remove and prune volumes; which containers use one.
//! - [`local`]: the `local` driver's options (`type`, `device`, `o`): a volume with a `type`
//!   is a mount (tmpfs, a bind of a host directory, a device) made on `_data` while some
//!   process uses it; its users are counted in a file, so every engine process sees them.
//! - [`spec`]: Docker's mount specification (`HostConfig.Mounts`) and the parsing of `-v`
//!   and `--mount`.
//! - [`resolve`]: a container's mounts from its `-v`, `--mount`, `--volumes-from` and the
//!   image's `VOLUME`s, creating the volumes they name.
//! - [`populate`]: Docker's copy of the image's content into a new, empty volume.

pub(crate) mod local;
pub mod ops;
pub(crate) mod populate;
pub mod resolve;
pub mod spec;
pub mod store;

use crate::error::EngineError;

/// A volume that does not exist (404), in Docker's words.
pub fn no_such_volume(name: &str) -> EngineError {
    EngineError::not_found(format!("get {name}: no such volume"))
}
