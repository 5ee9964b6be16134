//! Transaction batches by digest: the store of recent gossiped batches, and proposals in their
//! compact wire form, which name the batches that hold their transactions instead of carrying
//! them (the Narwhal/hotstuff mempool design). A transaction therefore crosses the wire, and is
//! decoded and hashed, once per validator; the proposal adds a 12-byte reference.
//!
//! Consensus, storage, block sync and proofs still see whole blocks: a compact proposal is
//! turned back into the `SignedProposal` it was made from before anything else looks at it,
//! and its body is checked against the signed header's `tx_root` on the way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use bincode::{Decode, Encode};
use consensus::{Message, Proposal, SignedProposal};
use ledger::verify::Admitted;
use ledger::{
    Block, BlockHeader, Hash, PublicKey, Signature, SignedTx, SignedVote, TxBatch, TxError,
};
use libp2p::PeerId;

/// A batch as the store keeps it: its bytes as sent (what a fetch is answered with, and what
/// its digest covers), and the transactions decoded once, with their ids.
pub struct StoredBatch {
    pub encoded: Arc<Vec<u8>>,
    pub txs: Arc<Vec<(Hash, SignedTx)>>,
    author: PeerId,
}

impl StoredBatch {
    /// Decode an encoded batch whose every transaction decodes (signatures are not checked
    /// here: a block that names the batch is verified like any other). `None` for bytes no
    /// correct validator sends.
    pub fn decode(encoded: Vec<u8>, author: PeerId) -> Option<(Hash, StoredBatch)> {
        let digest = TxBatch::digest(&encoded);
        let batch = TxBatch::decode(&encoded).ok()?;
        let txs = batch
            .txs
            .iter()
            .map(|raw| {
                let tx = SignedTx::decode(raw).ok()?;
                Some((SignedTx::hash_bytes(raw), tx))
            })
            .collect::<Option<Vec<_>>>()?;
        Some((digest, Self::new(encoded, txs, author)))
    }

    /// [`Self::decode`] for a batch the admission pipeline already decoded
    /// (`TxVerifier::decode` of its transactions, in order): `None` unless every one of them
    /// decoded and is on this chain.
    pub fn from_decoded(
        encoded: Vec<u8>,
        author: PeerId,
        decoded: &[Result<Admitted, TxError>],
    ) -> Option<(Hash, StoredBatch)> {
        let txs = decoded
            .iter()
            .map(|d| d.as_ref().ok().map(|a| (a.hash, a.tx.clone())))
            .collect::<Option<Vec<_>>>()?;
        Some((TxBatch::digest(&encoded), Self::new(encoded, txs, author)))
    }

    fn new(encoded: Vec<u8>, txs: Vec<(Hash, SignedTx)>, author: PeerId) -> Self {
        StoredBatch {
            encoded: Arc::new(encoded),
            txs: Arc::new(txs),
            author,
        }
    }
}

/// Recent batches by digest, bounded in bytes per author: a validator that floods batches
/// evicts only its own oldest ones. Evicted batches can still be fetched from whoever holds
/// them; a proposer whose batch nobody holds any more loses its round.
pub struct BatchStore {
    batches: HashMap<Hash, StoredBatch>,
    /// Arrival order per author, for eviction.
    order: HashMap<PeerId, VecDeque<Hash>>,
    bytes: HashMap<PeerId, usize>,
    /// Where each stored transaction sits: `(batch digest, index)`, for compacting proposals.
    places: HashMap<Hash, (Hash, u32)>,
    max_bytes_per_author: usize,
}

impl BatchStore {
    /// Encoded bytes kept per author by default: at 165-byte transfers about 200,000
    /// transactions, several seconds of this machine's peak rate.
    pub const DEFAULT_BYTES_PER_AUTHOR: usize = 32 * 1024 * 1024;

    pub fn new(max_bytes_per_author: usize) -> Self {
        Self {
            batches: HashMap::new(),
            order: HashMap::new(),
            bytes: HashMap::new(),
            places: HashMap::new(),
            max_bytes_per_author,
        }
    }

    pub fn get(&self, digest: &Hash) -> Option<&StoredBatch> {
        self.batches.get(digest)
    }

    pub fn contains(&self, digest: &Hash) -> bool {
        self.batches.contains_key(digest)
    }

    pub fn len(&self) -> usize {
        self.batches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Encoded bytes held for `author`.
    pub fn bytes_of(&self, author: &PeerId) -> usize {
        self.bytes.get(author).copied().unwrap_or(0)
    }

    pub fn insert(&mut self, digest: Hash, batch: StoredBatch) {
        if self.batches.contains_key(&digest) || batch.encoded.len() > self.max_bytes_per_author {
            return;
        }
        let author = batch.author;
        for (i, (id, _)) in batch.txs.iter().enumerate() {
            self.places.insert(*id, (digest, i as u32));
        }
        *self.bytes.entry(author).or_default() += batch.encoded.len();
        self.order.entry(author).or_default().push_back(digest);
        self.batches.insert(digest, batch);
        while self.bytes_of(&author) > self.max_bytes_per_author {
            let Some(oldest) = self.order.get_mut(&author).and_then(VecDeque::pop_front) else {
                break;
            };
            self.evict(&oldest);
        }
    }

    fn evict(&mut self, digest: &Hash) {
        let Some(batch) = self.batches.remove(digest) else {
            return;
        };
        if let Some(bytes) = self.bytes.get_mut(&batch.author) {
            *bytes -= batch.encoded.len();
        }
        for (id, _) in batch.txs.iter() {
            if self.places.get(id).is_some_and(|(d, _)| d == digest) {
                self.places.remove(id);
            }
        }
    }

    /// The compact form of `proposal`: each transaction by its place in a stored batch, or
    /// inline when no stored batch holds it (one admitted here and not yet gossiped).
    pub fn compact(&self, proposal: &SignedProposal) -> CompactProposal {
        let p = &proposal.proposal;
        let mut slots: HashMap<Hash, u32> = HashMap::new();
        let mut batches = vec![];
        let txs = p
            .block
            .txs
            .iter()
            .map(|tx| match self.places.get(&tx.hash()) {
                Some(&(digest, index)) => {
                    let batch = *slots.entry(digest).or_insert_with(|| {
                        batches.push(digest);
                        batches.len() as u32 - 1
                    });
                    TxRef::Batched { batch, index }
                }
                None => TxRef::Inline(tx.clone()),
            })
            .collect();
        CompactProposal {
            height: p.height,
            round: p.round,
            pol_round: p.pol_round,
            header: p.block.header.clone(),
            proposer: p.proposer,
            signature: proposal.signature,
            batches,
            txs,
        }
    }

    /// The proposal a compact one was made from, if every batch it names is here; otherwise
    /// the digests to fetch. A reference outside its batches, or a body other than the one
    /// the header's `tx_root` names, is `Malformed`: no correct proposer sends it.
    pub fn resolve(&self, compact: &CompactProposal) -> Result<SignedProposal, Unresolved> {
        if compact.txs.len() > ledger::block::MAX_BLOCK_TXS {
            return Err(Unresolved::Malformed(
                "more transactions than a block may hold",
            ));
        }
        let distinct: HashSet<&Hash> = compact.batches.iter().collect();
        if distinct.len() != compact.batches.len() {
            return Err(Unresolved::Malformed("a batch is named twice"));
        }
        let missing: Vec<Hash> = compact
            .batches
            .iter()
            .filter(|d| !self.contains(d))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(Unresolved::Missing(missing));
        }
        let named: Vec<&StoredBatch> = compact.batches.iter().map(|d| &self.batches[d]).collect();
        let mut used = vec![false; named.len()];
        let mut ids = Vec::with_capacity(compact.txs.len());
        let mut txs = Vec::with_capacity(compact.txs.len());
        for r in &compact.txs {
            match r {
                TxRef::Batched { batch, index } => {
                    let (id, tx) = named
                        .get(*batch as usize)
                        .and_then(|b| b.txs.get(*index as usize))
                        .ok_or(Unresolved::Malformed("a reference outside its batch"))?;
                    used[*batch as usize] = true;
                    ids.push(*id);
                    txs.push(tx.clone());
                }
                TxRef::Inline(tx) => {
                    ids.push(tx.hash());
                    txs.push(tx.clone());
                }
            }
        }
        if used.contains(&false) {
            return Err(Unresolved::Malformed("a batch is named but not used"));
        }
        if Block::compute_tx_root(&ids) != compact.header.tx_root {
            return Err(Unresolved::Malformed(
                "the body is not the one tx_root names",
            ));
        }
        Ok(SignedProposal {
            proposal: Proposal {
                height: compact.height,
                round: compact.round,
                pol_round: compact.pol_round,
                block: Block {
                    header: compact.header.clone(),
                    txs,
                },
                proposer: compact.proposer,
            },
            signature: compact.signature,
        })
    }
}

/// Why a compact proposal could not be turned back into a proposal.
#[derive(Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// Batches this node does not hold (yet).
    Missing(Vec<Hash>),
    /// References no correct proposer makes.
    Malformed(&'static str),
}

/// One transaction of a compact proposal.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum TxRef {
    /// The `index`-th transaction of the proposal's `batch`-th named batch.
    Batched { batch: u32, index: u32 },
    /// A transaction no gossiped batch holds yet.
    Inline(SignedTx),
}

/// A proposal as it travels: the signed header and the names of the batches holding its body.
/// The signature is the proposal's own (over the header's hash), so it checks without the body.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct CompactProposal {
    pub height: u64,
    pub round: u32,
    pub pol_round: Option<u32>,
    pub header: BlockHeader,
    pub proposer: PublicKey,
    pub signature: Signature,
    pub batches: Vec<Hash>,
    pub txs: Vec<TxRef>,
}

impl CompactProposal {
    /// The proposal with an empty body: enough to check its signature, which covers the
    /// header's hash only. Never handed to consensus.
    pub fn header_only(&self) -> Message {
        Message::Proposal(Box::new(SignedProposal {
            proposal: Proposal {
                height: self.height,
                round: self.round,
                pol_round: self.pol_round,
                block: Block {
                    header: self.header.clone(),
                    txs: vec![],
                },
                proposer: self.proposer,
            },
            signature: self.signature,
        }))
    }
}

/// The consensus topic's messages. Tags 0 and 1 encode exactly as `consensus::Message`'s
/// variants, so a full proposal is still understood; honest validators send proposals compact.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum ConsensusWire {
    Proposal(Box<SignedProposal>),
    Vote(SignedVote),
    Compact(Box<CompactProposal>),
}

impl ConsensusWire {
    pub fn encode(&self) -> Vec<u8> {
        ledger::encoding::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, ledger::encoding::DecodeError> {
        ledger::encoding::decode(bytes)
    }

    /// The height an encoded message claims, read without decoding it (every variant starts
    /// with its height). Unchecked, so only ever a reason to do less.
    pub fn peek_height(bytes: &[u8]) -> Option<u64> {
        match ledger::encoding::peek_tag_and_u64(bytes)? {
            (2, height) => Some(height),
            _ => Message::peek_height(bytes),
        }
    }
}

impl From<Message> for ConsensusWire {
    fn from(msg: Message) -> Self {
        match msg {
            Message::Proposal(p) => ConsensusWire::Proposal(p),
            Message::Vote(v) => ConsensusWire::Vote(v),
        }
    }
}

#[cfg(test)]
mod tests;
