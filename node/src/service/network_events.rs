//! What the network brings, sent to the subsystem it belongs to: transaction gossip
//! (`tx_gossip`), consensus gossip (`consensus_gossip`), batch fetches (`batch_fetch`), block
//! sync (`block_sync`) and peer counts.

use libp2p::PeerId;
use libp2p::gossipsub::MessageId;

use super::Node;
use crate::network::{self, Command, Event, Verdict};

impl Node {
    pub(super) async fn on_network(&mut self, event: Event) {
        match event {
            Event::Gossip {
                topic: network::TX_TOPIC,
                data,
                from,
                id,
                source,
            } => self.on_tx_gossip(data, from, id, source).await,
            Event::Gossip {
                data,
                from,
                id,
                source,
                ..
            } => self.on_consensus_gossip(data, from, id, source).await,
            Event::BlocksRequested {
                request_id,
                request,
                channel,
            } => self.serve_blocks(request_id, request, channel),
            Event::Blocks { response, from } => self.on_blocks(response, from).await,
            Event::SyncFailed { from, lied } => self.on_sync_failed(from, lied).await,
            Event::BatchesRequested {
                request, channel, ..
            } => self.serve_batches(request, channel).await,
            Event::Batches { from, response } => self.on_batches(from, response).await,
            Event::BatchFetchFailed { from } => self.on_batch_fetch_failed(from).await,
            Event::Connected(_) => self.peers += 1,
            Event::Disconnected(peer) => {
                self.peers = self.peers.saturating_sub(1);
                self.sync.peers.forget(&peer);
                self.request_sync().await;
            }
        }
    }

    /// Tell gossipsub what a message proved: forward it, drop it, or penalise its sender.
    pub(super) async fn report(&mut self, id: MessageId, source: PeerId, verdict: Verdict) {
        if verdict == Verdict::Reject {
            self.metrics.gossip_rejected.inc();
            tracing::warn!(%source, "rejected a gossip message; the peer is penalised");
        }
        let _ = self
            .net
            .send(Command::Report {
                id,
                source,
                verdict,
            })
            .await;
    }
}
