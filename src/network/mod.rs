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

pub mod endpoints;
pub mod etc;
pub mod netavark;
pub mod record;
pub mod sandbox;
pub mod store;
pub mod subnet;

use std::fmt;

/// A network that is not there: Docker's "network NAME not found" (404).
#[derive(Debug)]
pub struct NoSuchNetwork(pub String);

impl fmt::Display for NoSuchNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "network {} not found", self.0)
    }
}

impl std::error::Error for NoSuchNetwork {}

/// An operation Docker forbids (removing a predefined network, an overlapping pool): 403.
#[derive(Debug)]
pub struct Forbidden(pub String);

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Forbidden {}
