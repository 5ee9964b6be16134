//! What comes out of the state machine: what must happen, in order, for one input.

use ledger::{Block, CommitCertificate, Hash, SignedVote};

use crate::input::Timeout;
use crate::messages::{Message, SignedProposal};
use crate::signing_log::SignRecord;

/// Two conflicting signed votes (or proposals) from one validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    DoubleVote {
        first: Box<SignedVote>,
        second: Box<SignedVote>,
    },
    DoubleProposal {
        first: Box<SignedProposal>,
        second: Box<SignedProposal>,
    },
}

/// One line for logs: who, where, and the two values by hash (never the blocks themselves,
/// which may be megabytes each).
impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = |v: &Option<Hash>| v.map_or("nil".to_string(), |h| h.to_string());
        match self {
            Evidence::DoubleVote { first, second } => write!(
                f,
                "validator {} signed two {:?}s at height {} round {}: {} and {}",
                first.vote.validator,
                first.vote.kind,
                first.vote.height,
                first.vote.round,
                value(&first.vote.block),
                value(&second.vote.block)
            ),
            Evidence::DoubleProposal { first, second } => write!(
                f,
                "proposer {} signed two proposals at height {} round {}: blocks {} and {}",
                first.proposal.proposer,
                first.proposal.height,
                first.proposal.round,
                first.proposal.block.hash(),
                second.proposal.block.hash()
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Effect {
    /// Make this record durable before executing any later effect.
    Persist(Box<SignRecord>),
    Broadcast(Message),
    ScheduleTimeout {
        timeout: Timeout,
        after_ms: u64,
    },
    /// This validator proposes at `(height, round)`: answer with [`Input::BlockToPropose`].
    BuildBlock {
        height: u64,
        round: u32,
    },
    /// Judge this block (structure, signatures, execution): answer with [`Input::BlockVerdict`].
    ValidateBlock {
        height: u64,
        block: Block,
    },
    /// `block` is decided at its height: commit it. Consensus has moved on to the next height.
    Decide {
        block: Block,
        certificate: CommitCertificate,
    },
    Evidence(Evidence),
}
