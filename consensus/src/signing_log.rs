//! What a validator signed: the position of each signature (height, round, step) and the
//! record of it the driver makes durable before the message goes out.

use bincode::{Decode, Encode};
use ledger::{Block, Hash, SignedVote};
use serde::{Deserialize, Serialize};

use crate::messages::Message;

/// Where a round stands, and the third part of a signature's position.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize,
)]
pub enum Step {
    Propose,
    Prevote,
    Precommit,
}

/// One signature a validator made, with its lock at the time: the validator's write-ahead
/// log entry. Persisted before the signed message is sent. A restarted validator is rebuilt
/// from the records of its current height: it re-sends those messages (identical bytes) and
/// never signs anything that conflicts with them.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignRecord {
    pub height: u64,
    pub round: u32,
    pub step: Step,
    pub value: Option<Hash>,
    /// `(locked round, locked block)`.
    pub locked: Option<(u32, Hash)>,
    pub message: Message,
    /// On the record of the precommit that took a lock: the locked block and the quorum of
    /// prevotes behind it, so a restarted validator can still re-propose the block and prove
    /// its lock. Without them, locked validators that all restarted could never unlock.
    pub lock_proof: Option<LockProof>,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct LockProof {
    pub block: Block,
    pub prevotes: Vec<SignedVote>,
}

impl SignRecord {
    fn position(&self) -> (u64, u32, Step) {
        (self.height, self.round, self.step)
    }

    /// May a validator whose last signature is `self` send `next` at `next_position`? Only at
    /// a later position, or the identical message at the same position (ed25519 signatures are
    /// deterministic, so re-signing the same payload gives the same bytes). Comparing whole
    /// messages, not just the value, matters for proposals: the same block with another
    /// `pol_round` is a different signed statement.
    pub fn permits(&self, next_position: (u64, u32, Step), next: &Message) -> bool {
        next_position > self.position()
            || (next_position == self.position() && *next == self.message)
    }
}
