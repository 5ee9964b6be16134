//! Consensus gossip: proposals and votes from peers, dropped by the height their bytes claim
//! before they are decoded, fed to the driver, and reported to gossipsub by what the driver
//! said of them (a message that proves its sender wrong penalises the peer). A message far
//! ahead is not taken in, but its signature is checked (once per distinct message) before it
//! points block sync at its sender.

use std::collections::HashSet;

use consensus::{Input, Message};
use libp2p::PeerId;
use libp2p::gossipsub::MessageId;

use super::Node;
use crate::batches::ConsensusWire;
use crate::network::{self, Command, Verdict};

/// Far-ahead consensus messages already verified, by content: a peer re-publishing one under
/// new gossip sequence numbers costs a hash, not a signature check.
#[derive(Default)]
pub(super) struct FarAheadVerified(HashSet<ledger::Hash>);

impl FarAheadVerified {
    /// Entries kept before it starts over.
    const MAX: usize = 4096;

    fn contains(&self, digest: &ledger::Hash) -> bool {
        self.0.contains(digest)
    }

    fn insert(&mut self, digest: ledger::Hash) {
        if self.0.len() >= Self::MAX {
            self.0.clear();
        }
        self.0.insert(digest);
    }
}

impl Node {
    pub(super) async fn on_consensus_gossip(
        &mut self,
        data: Vec<u8>,
        from: PeerId,
        id: MessageId,
        source: PeerId,
    ) {
        // A stale proposal may carry 16 MiB: drop it by the height its bytes claim,
        // before its block is decoded and bound to its header.
        let current = self.driver.consensus().height();
        if ConsensusWire::peek_height(&data).is_some_and(|h| h < current) {
            self.metrics.consensus_refused("stale_height");
            self.report(id, source, Verdict::Ignore).await;
            return;
        }
        let Ok(wire) = ConsensusWire::decode(&data) else {
            self.metrics.consensus_refused("undecodable");
            tracing::debug!(%from, "undecodable consensus message");
            self.report(id, source, Verdict::Reject).await;
            return;
        };
        if self.is_halted() {
            self.report(id, source, Verdict::Ignore).await;
            return;
        }
        let msg = match wire {
            ConsensusWire::Proposal(p) => Message::Proposal(p),
            ConsensusWire::Vote(v) => Message::Vote(v),
            // Far ahead: only its signature is checked below, which needs no body.
            ConsensusWire::Compact(c) if c.height > current + 1 => c.header_only(),
            ConsensusWire::Compact(c) => match self.take_compact(*c, from) {
                Ok(Some(msg)) => msg,
                // Signed by its proposer and waiting for batches: forwarded, so that peers
                // that hold them are not held up by us.
                Ok(None) => {
                    self.metrics.message(false, "proposal");
                    self.report(id, source, Verdict::Accept).await;
                    return;
                }
                Err(why) => {
                    self.metrics.consensus_refused("malformed");
                    tracing::warn!(%from, why, "malformed compact proposal");
                    self.report(id, source, Verdict::Reject).await;
                    return;
                }
            },
        };
        self.metrics.message(false, msg.kind());
        let height = msg.height();
        // A message more than a height ahead is not taken in, but its signature is
        // checked before it is believed: an unchecked one would let anyone point our
        // sync at a liar. Each distinct one is checked once.
        let far_ahead = height > current + 1;
        let relay = self.byzantine.as_ref().and_then(|liar| liar.relay(&msg));
        let result = if far_ahead {
            let digest = ledger::crypto::sha256(&[&data]);
            if self.far_ahead_verified.contains(&digest) {
                Ok(())
            } else {
                let checked =
                    tokio::task::block_in_place(|| self.driver.consensus().verify_foreign(&msg));
                if checked.is_ok() {
                    self.far_ahead_verified.insert(digest);
                }
                checked
            }
        } else {
            let input = match msg {
                Message::Proposal(p) => Input::Proposal(*p),
                Message::Vote(v) => Input::Vote(v),
            };
            self.input(input).await
        };
        let verdict = match &result {
            Ok(()) if far_ahead => Verdict::Ignore,
            Ok(()) => Verdict::Accept,
            Err(e) if e.is_misbehaviour() => Verdict::Reject,
            Err(_) => Verdict::Ignore,
        };
        if height > current && result.is_ok() {
            self.sync.peers.saw(from, height);
            self.request_sync().await;
        }
        if let Some(data) = relay {
            let topic = network::CONSENSUS_TOPIC;
            let _ = self.net.send(Command::Publish { topic, data }).await;
        }
        self.report(id, source, verdict).await;
    }
}
