//! Which peer to fetch blocks from, and when. Peers are believed to be ahead only on a
//! verified consensus message (a validator's signature at a later height), requests time out
//! quickly, a peer that fails or lies is set aside and the next one known to be ahead is
//! asked, so one silent or lying peer can neither steer nor stall a validator's catch-up.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ledger::storage::Store;
use ledger::{Block, CommitCertificate};
use libp2p::PeerId;

use crate::network::{SYNC_BATCH, SYNC_REPLY_BUDGET_BYTES, SyncRequest};

/// Sync replies read and held at once (each up to [`SYNC_REPLY_BUDGET_BYTES`]).
pub(crate) const SYNC_SERVERS: usize = 4;

/// The blocks (with certificates) a peer asked for, from the store: at most [`SYNC_BATCH`]
/// of them and about [`SYNC_REPLY_BUDGET_BYTES`], stopping at the first height not stored.
/// Runs off the node task: serving a peer never holds up consensus.
pub(crate) fn serve(store: &Store, request: &SyncRequest) -> Vec<(Block, CommitCertificate)> {
    let mut blocks = Vec::new();
    let to = request
        .to_height
        .min(request.from_height.saturating_add(SYNC_BATCH - 1));
    let mut bytes = 0;
    for h in request.from_height..=to {
        if bytes >= SYNC_REPLY_BUDGET_BYTES {
            break;
        }
        match (store.block_sized(h), store.certificate(h)) {
            (Ok(Some((b, size))), Ok(Some(c))) => {
                bytes += size;
                blocks.push((b, c));
            }
            _ => break,
        }
    }
    blocks
}

/// How long a peer that sent a reply we could not use is not asked again.
const SHUN_FOR: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(crate) struct SyncPeers {
    /// Per peer, the highest height it showed (with a verified message) to have decided.
    decided: HashMap<PeerId, u64>,
    /// The request in flight: to whom.
    in_flight: Option<PeerId>,
    /// Peers whose last reply was a lie (a body, parent or certificate that did not check).
    shunned: HashMap<PeerId, Instant>,
    /// The peer asked last, tried after the others when several are ahead.
    last_asked: Option<PeerId>,
}

impl SyncPeers {
    /// `peer` showed, with a verified message for `height`, that it decided every height
    /// below it.
    pub fn saw(&mut self, peer: PeerId, height: u64) {
        let decided = self.decided.entry(peer).or_default();
        *decided = (*decided).max(height.saturating_sub(1));
    }

    pub fn forget(&mut self, peer: &PeerId) {
        self.decided.remove(peer);
        if self.in_flight == Some(*peer) {
            self.in_flight = None;
        }
    }

    pub fn is_syncing(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The highest height any peer is known to have decided.
    #[cfg(test)]
    pub fn target(&self) -> u64 {
        self.decided.values().copied().max().unwrap_or(0)
    }

    /// The next request, if none is in flight and a usable peer has decided `next` (the
    /// height this validator works on). Prefers the peer furthest ahead, other than the one
    /// asked last.
    pub fn next_request(&mut self, next: u64, max_blocks: u64) -> Option<(PeerId, SyncRequest)> {
        if self.in_flight.is_some() {
            return None;
        }
        let now = Instant::now();
        self.shunned.retain(|_, until| *until > now);
        let candidates = self
            .decided
            .iter()
            .filter(|(p, h)| **h >= next && !self.shunned.contains_key(p));
        let (peer, decided) = candidates
            .max_by_key(|(p, h)| (Some(**p) != self.last_asked, **h, **p))
            .map(|(p, h)| (*p, *h))?;
        self.in_flight = Some(peer);
        self.last_asked = Some(peer);
        let to_height = decided.min(next.saturating_add(max_blocks - 1));
        Some((
            peer,
            SyncRequest {
                from_height: next,
                to_height,
            },
        ))
    }

    /// The request to `peer` ended: answered usefully, failed (timeout, connection), or
    /// answered with something that did not verify (`lied`).
    pub fn finished(&mut self, peer: PeerId, lied: bool) {
        if self.in_flight == Some(peer) {
            self.in_flight = None;
        }
        if lied {
            self.shunned.insert(peer, Instant::now() + SHUN_FOR);
            self.decided.remove(&peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lying_peer_is_set_aside_and_the_next_one_asked() {
        let (liar, honest) = (PeerId::random(), PeerId::random());
        let mut s = SyncPeers::default();
        assert!(
            s.next_request(5, 256).is_none(),
            "nobody is known to be ahead"
        );
        s.saw(liar, 1_000_000);
        s.saw(honest, 40);
        let (first, req) = s.next_request(5, 256).unwrap();
        assert_eq!((first, req.from_height, req.to_height), (liar, 5, 260));
        assert!(s.next_request(5, 256).is_none(), "one request at a time");
        s.finished(liar, true);
        let (second, req) = s.next_request(5, 256).unwrap();
        assert_eq!((second, req.to_height), (honest, 39));
        s.finished(honest, false);
        // The liar's claim is forgotten, and it is not asked again for a while.
        assert_eq!(s.target(), 39);
        s.saw(liar, 2_000_000);
        assert_eq!(s.next_request(40, 256).map(|r| r.0), None);
    }

    #[test]
    fn a_peer_that_fails_is_tried_after_the_others() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut s = SyncPeers::default();
        s.saw(a, 100);
        s.saw(b, 100);
        let (first, _) = s.next_request(1, 256).unwrap();
        s.finished(first, false);
        let (second, _) = s.next_request(1, 256).unwrap();
        assert_ne!(first, second, "rotates after a failure");
        s.finished(second, false);
        s.forget(&first);
        assert_eq!(s.next_request(1, 256).unwrap().0, second);
    }
}
