//! Networks, Docker's model on Podman's network stack.
//!
//! The engine owns the records: networks (`store`, `<data-root>/networks/<id>.json`) and
//! each container's endpoints (in its own record: `NetworkSettings.Networks`, address
//! reserved from create or connect until rm or disconnect). netavark does the rest: bridges,
//! veths, addresses, NAT, port forwarding (`netavark setup|teardown NETNS` with the
//! container's networks as JSON), and aardvark-dns, which it starts, answers container names
//! and aliases on each user-defined network.
//!
//! - [`subnet`]: CIDR arithmetic and address allocation.
//! - [`record`], [`store`]: the networks, the predefined `bridge` (from `bip`/`bridge`),
//!   `host`, `none`, and user-defined ones with subnets from `default-address-pools`.
//! - [`netavark`]: the JSON netavark reads and writes, and running it.
//! - [`sandbox`]: a container's network namespace (a bind-mounted nsfs file under
//!   `<data-root>/netns/`), set up at start and torn down at stop; live connect and
//!   disconnect; the sweep that tears down what a killed monitor left.
//! - [`etc`]: /etc/hosts and /etc/resolv.conf as Docker writes them.
//! - [`endpoints`]: which networks a container is on, and reserving its addresses.

pub(crate) mod endpoints;
pub(crate) mod etc;
pub(crate) mod netavark;
pub mod ops;
pub mod record;
pub(crate) mod sandbox;
pub mod store;
pub mod subnet;

use crate::error::EngineError;

/// A network that is not there: Docker's "network NAME not found" (404).
pub fn no_such_network(name: &str) -> EngineError {
    EngineError::not_found(format!("network {name} not found"))
}
