//! What goes in and out of the state machine: configuration, inputs, effects, the signing
//! record a driver persists, and the errors for refused inputs.

use bincode::{Decode, Encode};
use ledger::{Block, CommitCertificate, Hash, PublicKey, SignedVote};
use serde::{Deserialize, Serialize};

use crate::messages::{Message, SignedProposal};

pub use ledger::timeouts::Timeouts;

/// A deliberately broken protocol rule, used only by tests proving the simulator's checker
/// catches it. Compiled only with the `sim` feature. "Rule N" is the line of Algorithm 1 in
/// the Tendermint paper.
#[cfg(feature = "sim")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Mutation {
    #[default]
    None,
    /// Count 2f voting power as a quorum instead of 2f+1.
    WeakQuorum,
    /// Rules 22 and 28 prevote for a valid proposal whatever the lock.
    IgnoreLocks,
    /// Rule 28 believes a proposal's `pol_round` without a quorum of prevotes for it there.
    TrustPolRound,
    /// A restarted validator does not restore its lock from its signing log.
    ForgetLockOnRestart,
    /// No signing guard: a validator may sign anything at a position it already signed.
    NoSigningGuard,
    /// No round skip (rule 55): f+1 validators in a higher round do not pull us there.
    NoRoundSkip,
    /// A proposer with a valid value proposes a fresh block instead (rule 16).
    ValidNotReproposed,
    /// Rule 28 releases a lock on a proof-of-lock from a round below the lock's round.
    UnlockOnLowerPol,
    /// Rule 36 precommits (and locks) on f+1 prevotes instead of 2f+1.
    PrecommitWithoutPolka,
}

#[cfg(feature = "sim")]
impl Mutation {
    /// Every mutation, for the mutation score.
    pub const ALL: [Mutation; 9] = [
        Mutation::WeakQuorum,
        Mutation::IgnoreLocks,
        Mutation::TrustPolRound,
        Mutation::ForgetLockOnRestart,
        Mutation::NoSigningGuard,
        Mutation::NoRoundSkip,
        Mutation::ValidNotReproposed,
        Mutation::UnlockOnLowerPol,
        Mutation::PrecommitWithoutPolka,
    ];
}

#[derive(Debug, Clone)]
pub struct Config {
    pub chain_id: String,
    pub timeouts: Timeouts,
    #[cfg(feature = "sim")]
    pub mutation: Mutation,
}

impl Config {
    pub fn new(chain_id: impl Into<String>) -> Self {
        Self {
            chain_id: chain_id.into(),
            timeouts: Timeouts::default(),
            #[cfg(feature = "sim")]
            mutation: Mutation::None,
        }
    }
}

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
