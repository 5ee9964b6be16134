//! Deliberate misbehaviour, for research testnets only (`lantau start --byzantine`): a
//! validator that lies in one chosen way, so a testnet shows what honest validators do about
//! it. It signs with its own validator key and bypasses its own consensus guards on purpose;
//! honest code never constructs a [`Byzantine`].

use std::collections::HashMap;
use std::sync::Arc;

use consensus::{Message, Proposal, SignedProposal};
use ledger::{
    Block, CommitCertificate, Hash, Keypair, PublicKey, SignedTx, Transfer, ValidatorSet, Vote,
    VoteKind,
};

pub use interface::byzantine::{Behaviour, is_test_chain};

/// Where an outgoing consensus message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The consensus topic: every validator.
    All,
    /// The direct topics of these validators only.
    Only(Vec<PublicKey>),
}

/// Proposals for future rounds sent per height by `flood-rounds`.
const FLOOD_ROUNDS: u32 = 400;

/// Alters honest sync replies (`tamper-sync`).
#[derive(Clone)]
pub struct SyncLiar {
    key: Arc<Keypair>,
    chain_id: String,
}

impl SyncLiar {
    /// Other bodies under the certified headers and, where a block has no transactions to
    /// swap, a wrong parent.
    pub fn tamper(&self, blocks: &mut [(Block, CommitCertificate)]) {
        for (block, _) in blocks.iter_mut() {
            if block.txs.is_empty() {
                block.header.prev_hash = Hash([0xee; 32]);
            } else {
                tamper_body(block, &self.key, &self.chain_id);
            }
        }
    }
}

pub struct Byzantine {
    behaviour: Behaviour,
    key: Keypair,
    chain_id: String,
    validators: ValidatorSet,
    /// The alternative value `equivocate` votes for in each (height, round).
    alternatives: HashMap<(u64, u32), Hash>,
    /// The last height `flood-rounds` flooded.
    flooded: u64,
}

impl Byzantine {
    pub fn new(
        behaviour: Behaviour,
        key: Keypair,
        chain_id: String,
        validators: ValidatorSet,
    ) -> Self {
        Self {
            behaviour,
            key,
            chain_id,
            validators,
            alternatives: HashMap::new(),
            flooded: 0,
        }
    }

    /// What to send in place of one of our own consensus messages.
    pub fn outgoing(&mut self, msg: Message) -> Vec<(Route, Message)> {
        self.alternatives.retain(|(h, _), _| *h + 1 >= msg.height());
        match self.behaviour {
            Behaviour::Silent => vec![],
            Behaviour::Equivocate => self.equivocate(msg),
            Behaviour::Withhold => match &msg {
                Message::Vote(v) if v.vote.kind == VoteKind::Precommit => {
                    let me = self.key.public();
                    let others: Vec<PublicKey> = self
                        .validators
                        .validators()
                        .iter()
                        .map(|v| v.public_key)
                        .filter(|k| *k != me)
                        .collect();
                    let half = others[..others.len().div_ceil(2)].to_vec();
                    vec![(Route::Only(half), msg)]
                }
                _ => vec![(Route::All, msg)],
            },
            Behaviour::FloodRounds => {
                let mut out = vec![(Route::All, msg.clone())];
                if let Message::Proposal(p) = &msg
                    && self.flooded < p.proposal.height
                {
                    self.flooded = p.proposal.height;
                    out.extend(self.flood(&p.proposal));
                }
                out
            }
            Behaviour::FakePol => match msg {
                Message::Proposal(p) if p.proposal.pol_round.is_none() => {
                    let mut lie = p.proposal.clone();
                    // A round it never saw a quorum of prevotes in (and, in round 0, a round
                    // that cannot be a proof-of-lock at all).
                    lie.pol_round = Some(lie.round.saturating_sub(1));
                    vec![(Route::All, self.signed(lie))]
                }
                other => vec![(Route::All, other)],
            },
            Behaviour::TamperRelay
            | Behaviour::TamperSync
            | Behaviour::HideBatches
            | Behaviour::BadBatches
            | Behaviour::PhantomBatches => vec![(Route::All, msg)],
        }
    }

    /// A consensus message from another validator that we accepted: what `tamper-relay`
    /// publishes as if relaying it (the proposer's signed header over other transactions).
    /// Returned as bytes: such a message must not exist as a decoded value.
    pub fn relay(&self, msg: &Message) -> Option<Vec<u8>> {
        let Message::Proposal(p) = msg else {
            return None;
        };
        if self.behaviour != Behaviour::TamperRelay || p.proposal.proposer == self.key.public() {
            return None;
        }
        let mut tampered: SignedProposal = (**p).clone();
        tamper_body(&mut tampered.proposal.block, &self.key, &self.chain_id);
        Some(Message::Proposal(Box::new(tampered)).encode())
    }

    /// Whether this validator's transaction batches stay unpublished (`hide-batches`,
    /// `bad-batches`).
    pub fn hides_batches(&self) -> bool {
        matches!(
            self.behaviour,
            Behaviour::HideBatches | Behaviour::BadBatches
        )
    }

    /// What `bad-batches` answers a batch fetch with: each batch with a byte changed, so
    /// nothing it sends matches a digest asked for.
    pub fn corrupt_batches(&self, batches: &mut [Vec<u8>]) {
        if self.behaviour == Behaviour::BadBatches {
            for bytes in batches {
                if let Some(last) = bytes.last_mut() {
                    *last ^= 0x01;
                }
            }
        }
    }

    /// The made-up batch `phantom-batches` names in its proposals.
    pub fn phantom_batch(&self) -> Option<Hash> {
        (self.behaviour == Behaviour::PhantomBatches).then_some(Hash([0xba; 32]))
    }

    /// `tamper-sync`'s liar, handed to the task that serves sync replies.
    pub fn sync_liar(&self) -> Option<SyncLiar> {
        (self.behaviour == Behaviour::TamperSync).then(|| SyncLiar {
            key: Arc::new(Keypair::from_secret(self.key.secret_bytes())),
            chain_id: self.chain_id.clone(),
        })
    }

    fn signed(&self, proposal: Proposal) -> Message {
        Message::Proposal(Box::new(proposal.sign(&self.chain_id, &self.key)))
    }

    fn equivocate(&mut self, msg: Message) -> Vec<(Route, Message)> {
        let second = match &msg {
            Message::Proposal(p) => {
                let mut other = p.proposal.clone();
                other.block.header.timestamp_ms = other.block.header.timestamp_ms.wrapping_add(1);
                self.alternatives
                    .insert((other.height, other.round), other.block.hash());
                self.signed(other)
            }
            Message::Vote(v) => {
                let key = (v.vote.height, v.vote.round);
                let alternative = *self.alternatives.entry(key).or_insert_with(|| {
                    ledger::crypto::sha256(&[
                        b"equivocate",
                        &key.0.to_le_bytes(),
                        &key.1.to_le_bytes(),
                    ])
                });
                let value = match v.vote.block {
                    Some(h) if h == alternative => None,
                    Some(_) => Some(alternative),
                    None => Some(alternative),
                };
                let vote = Vote {
                    block: value,
                    ..v.vote.clone()
                };
                Message::Vote(vote.sign(&self.chain_id, &self.key))
            }
        };
        vec![(Route::All, msg), (Route::All, second)]
    }

    fn flood(&self, p: &Proposal) -> Vec<(Route, Message)> {
        let me = self.key.public();
        (p.round + 1..)
            .take_while(|r| *r <= p.round + consensus::state_machine::MAX_ROUNDS_AHEAD)
            .filter(|&r| consensus::proposer::proposer(&self.validators, p.height, r) == me)
            .take(FLOOD_ROUNDS as usize)
            .map(|round| {
                let mut block = p.block.clone();
                block.header.round = round;
                let proposal = Proposal {
                    round,
                    block,
                    ..p.clone()
                };
                (Route::All, self.signed(proposal))
            })
            .collect()
    }
}

/// Swap a block's first transaction for a forgery under the same header: a transfer from
/// that transaction's sender (an account the liar holds no key for) to the liar, "signed" with
/// the liar's key, so its signature cannot verify. It is what a forger would want committed,
/// and what the bench audit looks for on honest validators.
fn tamper_body(block: &mut Block, key: &Keypair, chain_id: &str) {
    let victim = block
        .txs
        .first()
        .map_or(key.public(), |tx| tx.transfer.from);
    let transfer = Transfer {
        chain_id: chain_id.to_string(),
        from: victim,
        to: key.public(),
        amount: u64::MAX / 2,
        nonce: 0,
        memo: b"forged".to_vec(),
    };
    let signature = key.sign(
        ledger::crypto::domain::TX,
        &ledger::encoding::encode(&transfer),
    );
    let forged = SignedTx {
        transfer,
        signature,
    };
    match block.txs.first_mut() {
        Some(first) => *first = forged,
        None => block.txs.push(forged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_parse_from_their_names() {
        for b in Behaviour::ALL {
            assert_eq!(b.name().parse::<Behaviour>(), Ok(b));
        }
        assert!(
            "lie"
                .parse::<Behaviour>()
                .unwrap_err()
                .contains("equivocate")
        );
        assert!(is_test_chain("lantau-testnet"));
        assert!(is_test_chain("lantau-testnet-3f9a2c"));
        assert!(is_test_chain("bench-4v"));
        assert!(is_test_chain("app_test"));
        assert!(!is_test_chain("fintech-hub-mainnet"));
        // Marks inside other words do not count.
        assert!(!is_test_chain("latest-payments"));
        assert!(!is_test_chain("attestation"));
        assert!(!is_test_chain("benchmark-bank"));
    }

    #[test]
    fn a_tampered_body_carries_a_transfer_whose_signature_fails_and_does_not_decode() {
        let liar = Keypair::from_seed("liar");
        let victim = Keypair::from_seed("victim");
        let honest = Transfer {
            chain_id: "test-chain".into(),
            from: victim.public(),
            to: victim.public(),
            amount: 1,
            nonce: 0,
            memo: vec![],
        }
        .sign(&victim);
        let ids = [honest.hash()];
        let mut block = Block {
            header: ledger::BlockHeader {
                chain_id: "test-chain".into(),
                height: 1,
                round: 0,
                prev_hash: Hash::ZERO,
                proposer: liar.public(),
                timestamp_ms: 0,
                tx_root: ledger::merkle::merkle_root(&ids),
                state_root: Hash::ZERO,
            },
            txs: vec![honest],
        };
        let hash = block.hash();
        tamper_body(&mut block, &liar, "test-chain");
        assert_eq!(block.hash(), hash, "same header");
        assert_eq!(block.txs[0].transfer.from, victim.public());
        assert!(block.txs[0].verify().is_err());
        assert!(ledger::encoding::decode::<Block>(&ledger::encoding::encode(&block)).is_err());
    }
}
