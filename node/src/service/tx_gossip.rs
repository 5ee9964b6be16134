//! Transaction gossip: batches from peers are reserved room by the count their bytes claim,
//! decoded and verified off the node task, checked against the state here and only then
//! forwarded (or their sender penalised); what this node admits goes out in batches.

use std::time::Duration;

use interface::http::ErrorCode;
use ledger::TxBatch;
use libp2p::PeerId;
use libp2p::gossipsub::MessageId;
use tokio::sync::mpsc;

use super::Node;
use crate::admission::{Origin, Reservation};
use crate::batches::StoredBatch;
use crate::network::{self, Command, Verdict};
use crate::refusal::Refusal;

/// A gossiped transaction batch, decoded and verified off the node task, waiting for the
/// state checks and for its verdict to be reported to gossipsub.
pub(crate) struct VerifiedGossip {
    id: MessageId,
    source: PeerId,
    verified: Vec<Result<ledger::verify::Admitted, ledger::TxError>>,
    /// Whether every transaction of the message was verified (none cut for want of room).
    complete: bool,
    /// The bytes were no batch at all (a correct validator never sends that).
    malformed: bool,
    reservation: Reservation,
}

/// Transactions admitted here, gossiped together: one gossipsub message (one libp2p signature,
/// one validation round trip) per batch instead of per transaction.
#[derive(Default)]
pub(super) struct TxOutbox {
    batch: TxBatch,
    bytes: usize,
}

impl TxOutbox {
    const MAX_TXS: usize = 4096;
    const MAX_BYTES: usize = 1024 * 1024;
    /// How long an admitted transaction may wait for companions.
    pub(super) const LINGER: Duration = Duration::from_millis(10);

    pub(super) fn push(&mut self, raw: Vec<u8>) {
        self.bytes += raw.len();
        self.batch.txs.push(raw);
    }

    pub(super) fn is_full(&self) -> bool {
        self.batch.txs.len() >= Self::MAX_TXS || self.bytes >= Self::MAX_BYTES
    }

    fn take(&mut self) -> Option<TxBatch> {
        if self.batch.txs.is_empty() {
            return None;
        }
        self.bytes = 0;
        Some(std::mem::take(&mut self.batch))
    }
}

/// What the node task keeps for transaction gossip.
pub(super) struct TxGossip {
    /// Admitted transactions waiting to be gossiped as one batch.
    pub(super) outbox: TxOutbox,
    /// Gossiped transaction batches come back here once verified off the node task.
    pub(super) verified: mpsc::Sender<VerifiedGossip>,
}

impl Node {
    /// A batch from gossip: reserve room by its claimed count, then verify it off this task.
    pub(super) async fn on_tx_gossip(
        &mut self,
        data: Vec<u8>,
        from: PeerId,
        id: MessageId,
        source: PeerId,
    ) {
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
        let reservation = self.admission.try_reserve(n, Origin::Peer);
        let fits = reservation.as_ref().map_or(0, |r| r.len());
        self.metrics
            .txs_refused(ErrorCode::MempoolFull.as_str(), n - fits);
        let stored = self.batches.stored.clone();
        // Bytes this node did not check are not relayed: no room is no verdict. The batch is
        // still kept by digest, since a proposal may name it.
        let Some(reservation) = reservation else {
            tokio::task::spawn_blocking(move || {
                if let Some(batch) = StoredBatch::decode(data, from) {
                    let _ = stored.blocking_send(batch);
                }
            });
            self.report(id, source, Verdict::Ignore).await;
            return;
        };
        // Decoded and verified off this task (consensus runs here); stored by digest first,
        // so that a proposal naming it is not held up by its verification; the verdict waits.
        let (verifier, back) = (self.app.verifier(), self.txs.verified.clone());
        // Each transaction is decoded and hashed once, for the store and admission both.
        tokio::task::spawn_blocking(move || {
            let (verified, complete, malformed) = match TxBatch::decode(&data) {
                Ok(mut batch) => {
                    let mut decoded = verifier.decode(&batch.txs);
                    if let Some(batch) = StoredBatch::from_decoded(data, from, &decoded) {
                        let _ = stored.blocking_send(batch);
                    }
                    let complete = fits >= batch.txs.len();
                    batch.txs.truncate(fits);
                    decoded.truncate(fits);
                    (
                        verifier.verify_decoded(&batch.txs, decoded),
                        complete,
                        false,
                    )
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
                .any(|r| matches!(r, Err(Refusal::Invalid(_))))
        {
            Verdict::Reject
        } else if complete {
            Verdict::Accept
        } else {
            Verdict::Ignore
        };
        self.report(id, source, verdict).await;
    }

    /// Seal what this node admitted into a batch: kept by digest at once (our next proposal
    /// names it, so our own transactions never travel inside a proposal) and gossiped.
    pub(super) async fn flush_outbox(&mut self) {
        let Some(batch) = self.txs.outbox.take() else {
            return;
        };
        let data = batch.encode();
        if let Some((digest, stored)) = StoredBatch::decode(data.clone(), self.batches.me) {
            self.batches.store.insert(digest, stored);
        }
        if self.byzantine.as_ref().is_some_and(|b| b.hides_batches()) {
            return;
        }
        self.metrics.message(true, "tx_batch");
        let _ = self
            .net
            .send(Command::Publish {
                topic: network::TX_TOPIC,
                data,
            })
            .await;
    }

    /// Count refused transactions by their API code. From gossip, a transaction we already
    /// hold (an echo) is not a refusal; one that is malformed or badly signed is.
    pub(super) fn count_refusals(&self, results: &[Result<ledger::Hash, Refusal>], gossip: bool) {
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            // Gossip races the blocks: a batch that arrives after the block holding its
            // transactions finds them stale (or already held). That is the protocol working,
            // not a refusal an operator should see; a client's stale nonce still counts.
            if !(gossip && matches!(e, Refusal::Duplicate(_) | Refusal::StaleNonce { .. })) {
                self.metrics.tx_refused(e.code().as_str());
            }
        }
    }

    /// Admit transactions (from a client or gossip); a proposer waiting for its first
    /// transaction builds at once.
    pub(super) fn admit(
        &mut self,
        verified: Vec<Result<ledger::verify::Admitted, ledger::TxError>>,
    ) -> Vec<Result<ledger::Hash, Refusal>> {
        let results = self.app.admit_verified(verified);
        if results.iter().any(Result::is_ok) {
            self.proposing.wake();
        }
        results
    }
}
