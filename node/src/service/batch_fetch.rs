//! Proposals by digest: compact proposals out, and in, turned back into whole proposals from
//! the batch store. One that names batches this node lacks waits (a short grace first: the
//! batch is usually still being decoded) and the missing batches are fetched, from the
//! proposer first and then from every other validator in turn, each reply checked against the
//! digests asked for. A peer whose reply matches none is set aside; a proposal no peer can
//! complete is given up, and its proposer loses only its round (the propose timeout).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use consensus::{Input, Message};
use ledger::Hash;
use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Node;
use crate::batches::{BatchStore, CompactProposal, ConsensusWire, StoredBatch, Unresolved};
use crate::network::{
    BatchRequest, BatchResponse, Command, MAX_BATCH_RESPONSE_BYTES, MAX_BATCHES_PER_REQUEST,
};

/// Compact proposals waiting for batches at once, per proposer; more evict that proposer's
/// oldest (so a validator flooding proposals cannot push out another's).
const MAX_PENDING_PER_PROPOSER: usize = 2;
/// How long a proposal waits for its batches to arrive by gossip before they are fetched.
const GRACE: Duration = Duration::from_millis(30);
/// How long a peer whose reply matched no digest is not asked again.
const SET_ASIDE: Duration = Duration::from_secs(60);

/// Per peer: batch requests not yet ended, and the digests they named. A reply is judged
/// against these, even when the proposal that asked was completed by gossip meanwhile (an
/// honest peer answering late is not a liar).
#[derive(Default)]
struct Asked(HashMap<PeerId, (usize, HashSet<Hash>)>);

impl Asked {
    fn ask(&mut self, peer: PeerId, digests: &[Hash]) {
        let (open, named) = self.0.entry(peer).or_default();
        *open += 1;
        named.extend(digests.iter().copied());
    }

    fn named(&self, peer: &PeerId, digest: &Hash) -> bool {
        self.0
            .get(peer)
            .is_some_and(|(_, named)| named.contains(digest))
    }

    /// One request to `peer` ended (answered or failed).
    fn ended(&mut self, peer: &PeerId) {
        if let Some((open, _)) = self.0.get_mut(peer) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                self.0.remove(peer);
            }
        }
    }
}

struct Pending {
    compact: CompactProposal,
    /// The proposer's peer, asked first.
    proposer: PeerId,
    /// Peers asked so far.
    tried: HashSet<PeerId>,
    /// The peer asked now, if a request is out.
    asking: Option<PeerId>,
}

/// What the node task keeps for proposals by digest.
pub(super) struct BatchFetch {
    pub(super) store: BatchStore,
    pending: Vec<Pending>,
    asked: Asked,
    set_aside: HashMap<PeerId, Instant>,
    /// Batches decoded off the node task (gossip, our own sealed ones) come back here.
    pub(super) stored: mpsc::Sender<(Hash, StoredBatch)>,
    /// Wakes [`Node::fetch_missing`] after the grace.
    ticks: mpsc::Sender<()>,
    /// This node's own peer id: the author of its batches, never asked for one.
    pub(super) me: PeerId,
}

impl BatchFetch {
    pub(super) fn new(
        stored: mpsc::Sender<(Hash, StoredBatch)>,
        ticks: mpsc::Sender<()>,
        me: PeerId,
    ) -> Self {
        Self {
            store: BatchStore::new(BatchStore::DEFAULT_BYTES_PER_AUTHOR),
            pending: vec![],
            asked: Asked::default(),
            set_aside: HashMap::new(),
            stored,
            ticks,
            me,
        }
    }

    fn missing(&self, p: &Pending) -> Vec<Hash> {
        p.compact
            .batches
            .iter()
            .filter(|d| !self.store.contains(d))
            .take(MAX_BATCHES_PER_REQUEST)
            .copied()
            .collect()
    }
}

impl Node {
    /// The bytes a consensus message goes out as: proposals compact.
    pub(super) fn wire_bytes(&self, msg: Message) -> Vec<u8> {
        match msg {
            Message::Proposal(p) => {
                let mut compact = self.batches.store.compact(&p);
                if let Some(phantom) = self.byzantine.as_ref().and_then(|b| b.phantom_batch()) {
                    compact.batches.push(phantom);
                }
                ConsensusWire::Compact(Box::new(compact)).encode()
            }
            vote => ConsensusWire::from(vote).encode(),
        }
    }

    /// A compact proposal from gossip, at most one height ahead: the whole proposal if its
    /// batches are here; otherwise, once its signature checks, it waits for them (`Ok(None)`).
    pub(super) fn take_compact(
        &mut self,
        compact: CompactProposal,
        proposer: PeerId,
    ) -> Result<Option<Message>, &'static str> {
        match self.batches.store.resolve(&compact) {
            Ok(p) => Ok(Some(Message::Proposal(Box::new(p)))),
            Err(Unresolved::Malformed(why)) => Err(why),
            Err(Unresolved::Missing(_)) => {
                // Checked before anything is fetched for it (consensus checks it again once
                // the proposal is whole: one signature per waiting proposal, not per tx).
                let c = self.driver.consensus();
                let header_only = compact.header_only();
                if tokio::task::block_in_place(|| c.verify_foreign(&header_only)).is_err() {
                    return Err("bad signature");
                }
                let key = (compact.height, compact.round, compact.proposer);
                let pending = &mut self.batches.pending;
                pending.retain(|p| (p.compact.height, p.compact.round, p.compact.proposer) != key);
                let theirs = pending
                    .iter()
                    .filter(|p| p.compact.proposer == key.2)
                    .count();
                if theirs >= MAX_PENDING_PER_PROPOSER
                    && let Some(oldest) = pending.iter().position(|p| p.compact.proposer == key.2)
                {
                    pending.remove(oldest);
                }
                pending.push(Pending {
                    compact,
                    proposer,
                    tried: HashSet::new(),
                    asking: None,
                });
                let ticks = self.batches.ticks.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(GRACE).await;
                    let _ = ticks.send(()).await;
                });
                Ok(None)
            }
        }
    }

    /// A batch decoded off this task: stored, and any proposal it completes goes to consensus.
    pub(super) async fn on_batch_stored(&mut self, digest: Hash, batch: StoredBatch) {
        self.batches.store.insert(digest, batch);
        if self
            .batches
            .pending
            .iter()
            .any(|p| p.compact.batches.contains(&digest))
        {
            self.complete_pending().await;
        }
    }

    /// Hand every pending proposal whose batches are all here to consensus.
    async fn complete_pending(&mut self) {
        let store = &self.batches.store;
        let (ready, waiting): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.batches.pending)
                .into_iter()
                .partition(|p| p.compact.batches.iter().all(|d| store.contains(d)));
        self.batches.pending = waiting;
        for p in ready {
            match self.batches.store.resolve(&p.compact) {
                Ok(proposal) => {
                    let _ = self.input(Input::Proposal(proposal)).await;
                }
                Err(e) => {
                    self.metrics.consensus_refused("malformed");
                    tracing::warn!(proposer = %p.proposer, reason = ?e, "compact proposal does not resolve");
                }
            }
        }
    }

    /// The grace after a proposal started waiting has passed.
    pub(super) async fn on_fetch_tick(&mut self) {
        self.complete_pending().await;
        self.fetch_missing().await;
    }

    /// Ask for what pending proposals still lack, one peer at a time each; give up on those
    /// that every peer was asked for, or that consensus has moved past.
    pub(super) async fn fetch_missing(&mut self) {
        let height = self.driver.consensus().height();
        let now = Instant::now();
        self.batches.set_aside.retain(|_, until| *until > now);
        let peers: Vec<PeerId> = self.validator_peers.values().copied().collect();
        let mut requests = vec![];
        let mut given_up = 0;
        let fetch = &mut self.batches;
        let mut keep = vec![];
        for mut p in std::mem::take(&mut fetch.pending) {
            if p.compact.height < height {
                continue;
            }
            if p.asking.is_some() {
                keep.push(p);
                continue;
            }
            let missing = fetch.missing(&p);
            if missing.is_empty() {
                keep.push(p);
                continue;
            }
            let untried = |peer: &PeerId| {
                !p.tried.contains(peer) && *peer != fetch.me && !fetch.set_aside.contains_key(peer)
            };
            let next = std::iter::once(p.proposer)
                .chain(peers.iter().copied())
                .find(|peer| untried(peer));
            match next {
                Some(peer) => {
                    p.tried.insert(peer);
                    p.asking = Some(peer);
                    requests.push((peer, missing));
                    keep.push(p);
                }
                None => {
                    given_up += 1;
                    tracing::warn!(
                        height = p.compact.height,
                        round = p.compact.round,
                        proposer = %p.proposer,
                        "no peer holds the batches a proposal names: giving it up (its round is lost)"
                    );
                }
            }
        }
        fetch.pending = keep;
        self.metrics.proposals_unresolved.inc_by(given_up);
        for (peer, digests) in requests {
            self.batches.asked.ask(peer, &digests);
            let request = BatchRequest { digests };
            let _ = self
                .net
                .send(Command::RequestBatches { peer, request })
                .await;
        }
    }

    /// A peer's reply: every batch must be one asked of it, else the peer is set aside.
    pub(super) async fn on_batches(&mut self, from: PeerId, response: BatchResponse) {
        for encoded in response.batches {
            let digest = ledger::TxBatch::digest(&encoded);
            let batch = (self.batches.asked)
                .named(&from, &digest)
                .then(|| StoredBatch::decode(encoded, from))
                .flatten();
            let Some((digest, batch)) = batch else {
                self.metrics.batch_replies_rejected.inc();
                tracing::warn!(%from, "a batch reply matches no digest asked for: the peer is set aside");
                self.batches
                    .set_aside
                    .insert(from, Instant::now() + SET_ASIDE);
                break;
            };
            self.metrics.batches_fetched.inc();
            self.batches.store.insert(digest, batch);
        }
        self.on_batch_fetch_failed(from).await;
    }

    /// A request to `from` ended (answered or not): what is still missing is asked elsewhere.
    pub(super) async fn on_batch_fetch_failed(&mut self, from: PeerId) {
        self.batches.asked.ended(&from);
        for p in &mut self.batches.pending {
            if p.asking == Some(from) {
                p.asking = None;
            }
        }
        self.complete_pending().await;
        self.fetch_missing().await;
    }

    /// Answer a peer with the batches it asks for that are here, up to the reply limit.
    pub(super) async fn serve_batches(
        &mut self,
        request: BatchRequest,
        channel: ResponseChannel<BatchResponse>,
    ) {
        let mut response = BatchResponse::default();
        let mut bytes = 0;
        for digest in request.digests.iter().take(MAX_BATCHES_PER_REQUEST) {
            if let Some(b) = self.batches.store.get(digest) {
                if bytes + b.encoded.len() + 64 > MAX_BATCH_RESPONSE_BYTES {
                    break;
                }
                bytes += b.encoded.len() + 8;
                response.batches.push(b.encoded.to_vec());
            }
        }
        if let Some(liar) = &self.byzantine {
            liar.corrupt_batches(&mut response.batches);
        }
        let _ = self
            .net
            .send(Command::RespondBatches { channel, response })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_judged_against_every_open_request_to_its_peer() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let (d1, d2, d3) = (Hash([1; 32]), Hash([2; 32]), Hash([3; 32]));
        let mut asked = Asked::default();
        asked.ask(a, &[d1]);
        asked.ask(a, &[d2]);
        asked.ask(b, &[d3]);
        assert!(asked.named(&a, &d1) && asked.named(&a, &d2));
        assert!(!asked.named(&a, &d3), "asked of another peer");
        // The first reply ends one request; the second still holds both names.
        asked.ended(&a);
        assert!(asked.named(&a, &d2) && asked.named(&a, &d1));
        asked.ended(&a);
        assert!(!asked.named(&a, &d2), "nothing is open with a any more");
        assert!(asked.named(&b, &d3));
        asked.ended(&a);
        assert!(!asked.named(&a, &d1));
    }
}
