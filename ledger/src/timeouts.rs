//! Consensus timing, in one type shared by the consensus crate and the validator's
//! `config.toml` (which must not link consensus to describe it).

use serde::{Deserialize, Serialize};

/// Timeouts in milliseconds: `base + delta * round`, so they grow until they exceed the
/// network's actual delay and the round can succeed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    pub propose_base_ms: u64,
    pub propose_delta_ms: u64,
    pub prevote_base_ms: u64,
    pub prevote_delta_ms: u64,
    pub precommit_base_ms: u64,
    pub precommit_delta_ms: u64,
    /// How often a validator re-sends its votes of the height, its current proposal and the
    /// proof-of-lock of its valid block, so messages lost before the network stabilised
    /// cannot stall the height.
    pub rebroadcast_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            propose_base_ms: 1000,
            propose_delta_ms: 500,
            prevote_base_ms: 500,
            prevote_delta_ms: 500,
            precommit_base_ms: 500,
            precommit_delta_ms: 500,
            rebroadcast_ms: 2000,
        }
    }
}
