//! Block sync: serving peers' requests (off the node task, a bounded number at a time) and
//! catching up from theirs (each block verified before it is stored; a reply that lies backs
//! its peer off).

use std::sync::Arc;

use consensus::Input;
use libp2p::PeerId;
use libp2p::request_response::{InboundRequestId, ResponseChannel};
use tokio::sync::Semaphore;

use super::Node;
use crate::byzantine::SyncLiar;
use crate::network::{self, Command, SyncRequest, SyncResponse};
use crate::sync::{Outcome, SyncPeers};

/// What the node task keeps for block sync.
pub(super) struct BlockSync {
    /// Who claims which height, who is being asked, who is backed off.
    pub(super) peers: SyncPeers,
    /// Permits to serve a sync reply (see `sync::SYNC_SERVERS`).
    pub(super) servers: Arc<Semaphore>,
    /// Tampers with the blocks this node serves (research testnets only).
    pub(super) liar: Option<SyncLiar>,
    /// The height this node was at when it found itself behind, while it catches up.
    pub(super) behind_from: Option<u64>,
}

impl BlockSync {
    /// Log when this node starts catching up and where it got to: an operator's view of a
    /// validator that fell behind (after a cut link, a restart, a pause).
    pub(super) fn note_progress(&mut self, height: u64) {
        match (self.peers.is_syncing(), self.behind_from) {
            (true, None) => {
                tracing::debug!(height, "asking a peer for blocks");
                self.behind_from = Some(height);
            }
            (false, Some(from)) => {
                // A peer a height ahead is routine (it decided first); more is falling behind.
                if height > from + 1 {
                    tracing::info!(from, to = height, "caught up by block sync");
                }
                self.behind_from = None;
            }
            _ => {}
        }
    }
}

impl Node {
    pub(super) fn serve_blocks(
        &mut self,
        request_id: InboundRequestId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        self.metrics.message(false, "sync_request");
        // Read off this task, so serving a peer never holds up consensus, and at most
        // `SYNC_SERVERS` replies at a time, each about `SYNC_REPLY_BUDGET_BYTES`, from
        // the read until libp2p has written it: a peer that reads slowly holds its
        // permit, not more memory (the rest wait; libp2p bounds how many may wait,
        // and its request timeout ends a reader that stalls).
        let (store, net) = (self.app.store().clone(), self.net.clone());
        let (liar, servers) = (self.sync.liar.clone(), self.sync.servers.clone());
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            let Ok(permit) = servers.acquire_owned().await else {
                return;
            };
            let read = tokio::task::spawn_blocking(move || {
                let mut blocks = crate::sync::serve(&store, &request);
                if let Some(liar) = liar {
                    liar.tamper(&mut blocks);
                }
                blocks
            });
            if let Ok(blocks) = read.await {
                metrics.message(true, "sync_reply");
                let response = SyncResponse { blocks };
                let respond = Command::RespondBlocks {
                    request_id,
                    channel,
                    response,
                    permit,
                };
                let _ = net.send(respond).await;
            }
        });
    }

    pub(super) async fn on_blocks(&mut self, response: SyncResponse, from: PeerId) {
        self.metrics.message(false, "sync_reply");
        let before = self.driver.consensus().height();
        let outcome = match self.sync.peers.asked(&from) {
            // Blocks outside the range asked for are a lie, whatever they hold.
            Some(asked)
                if !response.blocks.iter().all(|(b, _)| {
                    (asked.from_height..=asked.to_height).contains(&b.header.height)
                }) =>
            {
                Outcome::Lied
            }
            _ if self.apply_synced(response).await => Outcome::Lied,
            _ if self.driver.consensus().height() > before => Outcome::Served,
            _ => Outcome::Empty,
        };
        if outcome == Outcome::Lied {
            self.metrics.sync_rejected.inc();
            tracing::warn!(peer = %from, "a sync reply did not verify; asking another peer");
        }
        self.sync.peers.finished(from, outcome);
        // Keep fetching batches while a peer is known to be ahead, rather than waiting
        // for its next consensus message to remind us; after a reply that brought
        // nothing, that peer is backed off and another may be asked.
        self.request_sync().await;
    }

    pub(super) async fn on_sync_failed(&mut self, from: PeerId, lied: bool) {
        self.metrics.message(false, "sync_reply");
        if lied {
            self.metrics.sync_rejected.inc();
            tracing::warn!(peer = %from, "a sync reply was malformed or its blocks did not match their headers");
        }
        let outcome = if lied { Outcome::Lied } else { Outcome::Failed };
        self.sync.peers.finished(from, outcome);
        self.request_sync().await;
    }

    /// Apply the blocks of a sync reply in order, each only after it checks out: the next
    /// height, the parent we hold, a certificate from a quorum (in consensus). The bodies were
    /// bound to their headers when the reply was decoded. True if the reply lied.
    async fn apply_synced(&mut self, response: SyncResponse) -> bool {
        for (block, certificate) in response.blocks {
            if self.is_halted() {
                return false;
            }
            let height = self.driver.consensus().height();
            if block.header.height < height {
                continue; // decided here meanwhile
            }
            let parent = match self.app.tip() {
                Ok(tip) => tip.block_hash,
                Err(e) => {
                    self.halt(format!("cannot read the tip: {e}"));
                    return false;
                }
            };
            if block.header.height != height || block.header.prev_hash != parent {
                tracing::debug!(
                    height = block.header.height,
                    "sync reply out of order or off our chain"
                );
                return true;
            }
            if let Err(e) = self.input(Input::SyncedBlock { block, certificate }).await {
                tracing::debug!(error = %e, "synced block refused");
                return true;
            }
        }
        // An empty or short reply is not a lie (the peer may have answered before committing
        // what its consensus message showed it decided): an empty one backs the peer off
        // and withdraws its claim (see `sync::Outcome`).
        false
    }

    pub(super) async fn request_sync(&mut self) {
        if self.is_halted() {
            return;
        }
        let next = self.driver.consensus().height();
        if let Some((peer, request)) = self.sync.peers.next_request(next, network::SYNC_BATCH) {
            tracing::debug!(%peer, from = request.from_height, to = request.to_height, "requesting blocks");
            self.metrics.message(true, "sync_request");
            let _ = self
                .net
                .send(Command::RequestBlocks { peer, request })
                .await;
        }
    }
}
