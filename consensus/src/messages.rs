//! Messages validators exchange: signed proposals (carrying the block) and signed votes.

use bincode::{Decode, Encode};
use ledger::crypto::domain;
use ledger::{Block, Hash, Keypair, PublicKey, Signature, SignatureError, SignedVote};
use serde::{Deserialize, Serialize};

/// A proposer's offer of `block` for `(height, round)`. `pol_round` is the round in which the
/// proposer saw a quorum of prevotes for this block (a proof-of-lock), if it re-proposes one.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Proposal {
    pub height: u64,
    pub round: u32,
    pub pol_round: Option<u32>,
    pub block: Block,
    pub proposer: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignedProposal {
    pub proposal: Proposal,
    pub signature: Signature,
}

/// The bytes a proposal's signature covers. The block enters by its hash.
fn proposal_sign_bytes(chain_id: &str, p: &Proposal, block_hash: &Hash) -> Vec<u8> {
    ledger::encoding::encode(&(chain_id, p.height, p.round, p.pol_round, block_hash))
}

impl Proposal {
    pub fn sign(self, chain_id: &str, key: &Keypair) -> SignedProposal {
        let bytes = proposal_sign_bytes(chain_id, &self, &self.block.hash());
        let signature = key.sign(domain::PROPOSAL, &bytes);
        SignedProposal {
            proposal: self,
            signature,
        }
    }
}

impl SignedProposal {
    pub fn verify(&self, chain_id: &str) -> Result<(), SignatureError> {
        let p = &self.proposal;
        let bytes = proposal_sign_bytes(chain_id, p, &p.block.hash());
        p.proposer.verify(domain::PROPOSAL, &bytes, &self.signature)
    }
}

/// Everything consensus sends on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum Message {
    Proposal(Box<SignedProposal>),
    Vote(SignedVote),
}

impl Message {
    pub fn height(&self) -> u64 {
        match self {
            Message::Proposal(p) => p.proposal.height,
            Message::Vote(v) => v.vote.height,
        }
    }

    pub fn round(&self) -> u32 {
        match self {
            Message::Proposal(p) => p.proposal.round,
            Message::Vote(v) => v.vote.round,
        }
    }

    /// What kind of message this is, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Proposal(_) => "proposal",
            Message::Vote(v) => match v.vote.kind {
                ledger::VoteKind::Prevote => "prevote",
                ledger::VoteKind::Precommit => "precommit",
            },
        }
    }

    pub fn signer(&self) -> PublicKey {
        match self {
            Message::Proposal(p) => p.proposal.proposer,
            Message::Vote(v) => v.vote.validator,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        ledger::encoding::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ledger::encoding::DecodeError> {
        ledger::encoding::decode(bytes)
    }

    /// The height an encoded message claims, read without decoding it (both variants start
    /// with their height): a stale proposal is dropped before its block is decoded and
    /// bound to its header. Unchecked, so only ever a reason to do less.
    pub fn peek_height(bytes: &[u8]) -> Option<u64> {
        match ledger::encoding::peek_tag_and_u64(bytes)? {
            (0 | 1, height) => Some(height),
            _ => None,
        }
    }
}
