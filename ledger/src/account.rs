//! An account: what the state holds for one address, and what the state tree commits to.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Account {
    pub balance: u64,
    /// Nonce the next transfer from this account must carry.
    pub nonce: u64,
}
