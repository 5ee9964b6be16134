//! What the network brings: transaction batches and consensus messages from gossip (each
//! checked before it is forwarded, and its sender penalised if it proves wrong), block sync
//! requests from peers (served off the node task) and sync replies (each block verified
//! before it is stored).

use consensus::{Input, Message};
use ledger::TxBatch;
use libp2p::PeerId;
use libp2p::gossipsub::MessageId;

use interface::http::ErrorCode;

use super::{Node, VerifiedGossip};
use crate::app::SubmitError;
use crate::network::{self, Command, Event, SyncResponse, Verdict};
use crate::sync::Outcome;

impl Node {
    async fn report(&mut self, id: MessageId, source: PeerId, verdict: Verdict) {
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

    /// A gossiped batch back from verification: the state checks, then its verdict.
    pub(super) async fn on_verified_gossip(&mut self, batch: VerifiedGossip) {
        let VerifiedGossip {
            id,
            source,
            verified,
            complete,
            malformed,
            reservation,
        } = batch;
        let results = self.admit(verified);
        drop(reservation);
        self.count_refusals(&results, true);
        // Forwarded unless it proves the sender wrong (duplicates and stale nonces are races
        // between submissions, not misbehaviour), and only if every transaction in it was
        // checked: a tail cut for want of room is neither relayed nor held against the peer.
        let verdict = if malformed
            || results
                .iter()
                .any(|r| matches!(r, Err(SubmitError::Invalid(_))))
        {
            Verdict::Reject
        } else if complete {
            Verdict::Accept
        } else {
            Verdict::Ignore
        };
        self.report(id, source, verdict).await;
    }

    pub(super) async fn on_network(&mut self, event: Event) {
        match event {
            Event::Gossip {
                topic: network::TX_TOPIC,
                data,
                id,
                source,
                ..
            } => {
                self.metrics.message(false, "tx_batch");
                // The count a batch claims, bounded by its bytes, is what it reserves: no
                // room is decided before a byte is decoded, and decoding happens off this task.
                let Some(claimed) = TxBatch::peek_len(&data) else {
                    self.report(id, source, Verdict::Reject).await;
                    return;
                };
                let n = usize::try_from(claimed)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                // What does not fit would not be kept, so it is not verified (and is no
                // misbehaviour); what is being verified counts against the room.
                let reservation = self
                    .admission
                    .try_reserve(n, crate::admission::Origin::Peer);
                let fits = reservation.as_ref().map_or(0, |r| r.len());
                self.metrics
                    .txs_refused(ErrorCode::MempoolFull.as_str(), n - fits);
                // Bytes this node did not check are not relayed: no room is no verdict.
                let Some(reservation) = reservation else {
                    self.report(id, source, Verdict::Ignore).await;
                    return;
                };
                // Verified off this task (consensus runs here); the verdict waits for it.
                let (verifier, back) = (self.app.verifier(), self.verified_gossip.clone());
                tokio::task::spawn_blocking(move || {
                    let (verified, complete, malformed) = match TxBatch::decode(&data) {
                        Ok(mut batch) => {
                            let complete = fits >= batch.txs.len();
                            batch.txs.truncate(fits);
                            (verifier.admit(&batch.txs), complete, false)
                        }
                        Err(_) => (vec![], false, true),
                    };
                    let _ = back.blocking_send(VerifiedGossip {
                        id,
                        source,
                        verified,
                        complete,
                        malformed,
                        reservation,
                    });
                });
            }
            Event::Gossip {
                data,
                from,
                id,
                source,
                ..
            } => {
                // A stale proposal may carry 16 MiB: drop it by the height its bytes claim,
                // before its block is decoded and bound to its header.
                let current = self.driver.consensus().height();
                if Message::peek_height(&data).is_some_and(|h| h < current) {
                    self.metrics.consensus_refused("stale_height");
                    self.report(id, source, Verdict::Ignore).await;
                    return;
                }
                let Ok(msg) = Message::decode(&data) else {
                    self.metrics.consensus_refused("undecodable");
                    tracing::debug!(%from, "undecodable consensus message");
                    self.report(id, source, Verdict::Reject).await;
                    return;
                };
                if self.is_halted() {
                    self.report(id, source, Verdict::Ignore).await;
                    return;
                }
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
                        let checked = tokio::task::block_in_place(|| {
                            self.driver.consensus().verify_foreign(&msg)
                        });
                        if checked.is_ok() {
                            if self.far_ahead_verified.len() >= super::FAR_AHEAD_VERIFIED {
                                self.far_ahead_verified.clear();
                            }
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
                    self.sync.saw(from, height);
                    self.request_sync().await;
                }
                if let Some(data) = relay {
                    let topic = network::CONSENSUS_TOPIC;
                    let _ = self.net.send(Command::Publish { topic, data }).await;
                }
                self.report(id, source, verdict).await;
            }
            Event::BlocksRequested {
                request_id,
                request,
                channel,
            } => {
                self.metrics.message(false, "sync_request");
                // Read off this task, so serving a peer never holds up consensus, and at most
                // `SYNC_SERVERS` replies at a time, each about `SYNC_REPLY_BUDGET_BYTES`, from
                // the read until libp2p has written it: a peer that reads slowly holds its
                // permit, not more memory (the rest wait; libp2p bounds how many may wait,
                // and its request timeout ends a reader that stalls).
                let (store, net) = (self.app.store().clone(), self.net.clone());
                let (liar, servers) = (self.sync_liar.clone(), self.sync_servers.clone());
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
            Event::Blocks { response, from } => {
                self.metrics.message(false, "sync_reply");
                let before = self.driver.consensus().height();
                let outcome = match self.sync.asked(&from) {
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
                self.sync.finished(from, outcome);
                // Keep fetching batches while a peer is known to be ahead, rather than waiting
                // for its next consensus message to remind us; after a reply that brought
                // nothing, that peer is backed off and another may be asked.
                self.request_sync().await;
            }
            Event::SyncFailed { from, lied } => {
                self.metrics.message(false, "sync_reply");
                if lied {
                    self.metrics.sync_rejected.inc();
                    tracing::warn!(peer = %from, "a sync reply was malformed or its blocks did not match their headers");
                }
                let outcome = if lied { Outcome::Lied } else { Outcome::Failed };
                self.sync.finished(from, outcome);
                self.request_sync().await;
            }
            Event::Connected(_) => self.peers += 1,
            Event::Disconnected(peer) => {
                self.peers = self.peers.saturating_sub(1);
                self.sync.forget(&peer);
                self.request_sync().await;
            }
        }
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

    async fn request_sync(&mut self) {
        if self.is_halted() {
            return;
        }
        let next = self.driver.consensus().height();
        if let Some((peer, request)) = self.sync.next_request(next, network::SYNC_BATCH) {
            tracing::debug!(%peer, from = request.from_height, to = request.to_height, "requesting blocks");
            self.metrics.message(true, "sync_request");
            let _ = self
                .net
                .send(Command::RequestBlocks { peer, request })
                .await;
        }
    }
}
