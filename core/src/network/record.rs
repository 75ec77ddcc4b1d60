//! What is stored about one network (`<data-root>/networks/<id>.json`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::subnet::Subnet;

/// The name of the default bridge network.
pub const DEFAULT_BRIDGE_NETWORK: &str = "bridge";

/// The option that names a bridge network's interface (Docker's).
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";

/// One network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    /// Unique among networks.
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    /// RFC 3339.
    pub created: String,
    /// "bridge", or "host"/"null" for the predefined `host` and `none`.
    pub driver: String,
    /// The subnet (bridge networks).
    #[serde(with = "opt_subnet", default)]
    pub subnet: Option<Subnet>,
    /// The gateway: the bridge's own address, and the DNS server's on user-defined networks.
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// The subnet and gateway were given (`--subnet`, `--gateway`), not taken from a pool.
    #[serde(default)]
    pub ipam_given: bool,
    /// No route out, no published ports (`--internal`).
    #[serde(default)]
    pub internal: bool,
    /// `--attachable` (every local network is).
    #[serde(default)]
    pub attachable: bool,
    /// `--label`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `--opt`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The bridge interface on the host.
    #[serde(default)]
    pub bridge: String,
    /// Containers resolve each other's names through the network's DNS server (all but the
    /// default bridge, as in Docker).
    #[serde(default)]
    pub dns: bool,
}

impl Network {
    /// One of the networks every engine has: `bridge`, `host`, `none`.
    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    /// A bridge network (set up with netavark), as opposed to `host` and `none`.
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// Docker's short id.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

mod opt_subnet {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Subnet>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.serialize_some(&n.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Subnet>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}
