//! What goes into the state machine, and why an input is refused.

use bincode::{Decode, Encode};
use ledger::{Block, CommitCertificate, Hash, PublicKey, SignedVote};
use serde::{Deserialize, Serialize};

use crate::messages::SignedProposal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub enum TimeoutKind {
    Propose,
    Prevote,
    Precommit,
    Rebroadcast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub struct Timeout {
    pub height: u64,
    pub round: u32,
    pub kind: TimeoutKind,
}

#[derive(Debug, Clone)]
pub enum Input {
    Proposal(SignedProposal),
    Vote(SignedVote),
    Timeout(Timeout),
    /// The block asked for by [`Effect::BuildBlock`].
    BlockToPropose {
        height: u64,
        round: u32,
        block: Block,
    },
    /// The application's judgement of a block asked for by [`Effect::ValidateBlock`].
    BlockVerdict {
        block_hash: Hash,
        valid: bool,
    },
    /// A block others decided, with its certificate (from block sync).
    SyncedBlock {
        block: Block,
        certificate: CommitCertificate,
    },
}

/// Why an input was refused. Nothing changed; the driver may count or penalise the sender.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("signer {0} is not a validator")]
    UnknownValidator(PublicKey),
    #[error("bad signature from {0}")]
    BadSignature(PublicKey),
    #[error("proposal for ({height}, {round}) from {got}, but the proposer is {expected}")]
    WrongProposer {
        height: u64,
        round: u32,
        expected: PublicKey,
        got: PublicKey,
    },
    #[error("proposal at height {height} carries a block of height {block_height}")]
    BlockHeightMismatch { height: u64, block_height: u64 },
    #[error("message for height {got}; this validator is at height {current}")]
    StaleHeight { current: u64, got: u64 },
    #[error("message for height {got} is too far ahead of height {current}; sync first")]
    FarFuture { current: u64, got: u64 },
    #[error("message for round {got} is too far ahead of round {current}")]
    FarFutureRound { current: u32, got: u32 },
    #[error("proposal for round {got} is too far behind round {current} to be kept")]
    FarPastRound { current: u32, got: u32 },
    #[error(
        "proposer {proposer} already sent two different proposals for round {round}; this one is refused"
    )]
    ExtraProposal { proposer: PublicKey, round: u32 },
    #[error(
        "validator {validator} already has messages in {limit} rounds above round {current}; round {got} is not kept"
    )]
    FutureRoundsFull {
        validator: PublicKey,
        current: u32,
        got: u32,
        limit: usize,
    },
    #[error("synced block: {0}")]
    BadCertificate(#[from] ledger::vote::CertificateError),
}

impl InputError {
    /// A short stable name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            InputError::UnknownValidator(_) => "unknown_validator",
            InputError::BadSignature(_) => "bad_signature",
            InputError::WrongProposer { .. } => "wrong_proposer",
            InputError::BlockHeightMismatch { .. } => "malformed",
            InputError::StaleHeight { .. } => "stale_height",
            InputError::FarFuture { .. } => "far_future_height",
            InputError::FarFutureRound { .. } => "far_future_round",
            InputError::FarPastRound { .. } => "far_past_round",
            InputError::ExtraProposal { .. } => "extra_proposal",
            InputError::FutureRoundsFull { .. } => "future_rounds_full",
            InputError::BadCertificate(_) => "bad_certificate",
        }
    }

    /// Whether the message proves its sender wrong (bad signature, non-validator signer, a
    /// proposal from the wrong proposer), as opposed to merely arriving late or early.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            InputError::UnknownValidator(_)
                | InputError::BadSignature(_)
                | InputError::WrongProposer { .. }
                | InputError::BlockHeightMismatch { .. }
                | InputError::BadCertificate(_)
                | InputError::ExtraProposal { .. }
        )
    }
}
