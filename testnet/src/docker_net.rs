//! Where a docker testnet's containers live (recorded in its manifest; see [`crate::docker`]).

use serde::{Deserialize, Serialize};

/// The network a docker testnet's containers share, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerNet {
    /// The compose project: container and network names start with it.
    pub project: String,
    /// The first three octets of the /24 subnet, e.g. `172.28.7`.
    pub subnet_prefix: String,
}

impl DockerNet {
    /// The address of validator `i`.
    pub fn ip(&self, i: usize) -> String {
        format!("{}.{}", self.subnet_prefix, 10 + i)
    }

    pub fn subnet(&self) -> String {
        format!("{}.0/24", self.subnet_prefix)
    }
}
