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
/// A peer that timed out or had nothing is asked again after this, doubling per failure in a
/// row up to `MAX_BACKOFF`: a silent liar costs one timeout, then ever fewer.
const BASE_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How a request to a peer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It sent blocks we stored.
    Served,
    /// An empty reply: it does not hold the height its own message claimed it decided.
    Empty,
    /// Timed out or the connection failed.
    Failed,
    /// Its reply did not verify (a body, parent or certificate, or blocks outside the range
    /// we asked for).
    Lied,
}

#[derive(Default)]
struct Backoff {
    failures: u32,
    until: Option<Instant>,
}

#[derive(Default)]
pub(crate) struct SyncPeers {
    /// Each validator peer's voting power, and the total (this validator's included).
    power: HashMap<PeerId, u64>,
    total_power: u64,
    /// Per peer, the highest height it showed (with a verified message) to have decided.
    decided: HashMap<PeerId, u64>,
    /// The request in flight: to whom, and what.
    in_flight: Option<(PeerId, SyncRequest)>,
    /// Peers whose last reply was a lie (a body, parent or certificate that did not check).
    shunned: HashMap<PeerId, Instant>,
    /// Peers that timed out or had nothing, and when they may be asked again.
    backoff: HashMap<PeerId, Backoff>,
    /// Peers that served us blocks, preferred over those never tried.
    served: std::collections::HashSet<PeerId>,
    /// The peer asked last, tried after the others when several are ahead.
    last_asked: Option<PeerId>,
}

impl SyncPeers {
    pub fn new(power: HashMap<PeerId, u64>, total_power: u64) -> Self {
        Self {
            power,
            total_power,
            ..Self::default()
        }
    }

    /// The highest height that peers holding more than a third of the voting power claim to
    /// have decided: at least one of them is honest, so it exists.
    fn believable(&self) -> u64 {
        let mut claims: Vec<(u64, u64)> = self
            .decided
            .iter()
            .map(|(p, h)| (*h, self.power.get(p).copied().unwrap_or(0)))
            .collect();
        claims.sort_unstable_by(|a, b| b.cmp(a));
        let mut backing = 0u64;
        for (height, power) in claims {
            backing += power;
            if 3 * backing > self.total_power {
                return height;
            }
        }
        0
    }

    /// `peer` showed, with a verified message for `height`, that it decided every height
    /// below it.
    pub fn saw(&mut self, peer: PeerId, height: u64) {
        let decided = self.decided.entry(peer).or_default();
        *decided = (*decided).max(height.saturating_sub(1));
    }

    pub fn forget(&mut self, peer: &PeerId) {
        self.decided.remove(peer);
        if self.in_flight.is_some_and(|(p, _)| p == *peer) {
            self.in_flight = None;
        }
    }

    pub fn is_syncing(&self) -> bool {
        self.in_flight.is_some()
    }

    /// What `peer` was asked, if the request in flight is to it.
    pub fn asked(&self, peer: &PeerId) -> Option<SyncRequest> {
        self.in_flight.filter(|(p, _)| p == peer).map(|(_, r)| r)
    }

    /// The highest height any peer is known to have decided.
    #[cfg(test)]
    pub fn target(&self) -> u64 {
        self.decided.values().copied().max().unwrap_or(0)
    }

    /// The next request, if none is in flight and a usable peer has decided `next` (the
    /// height this validator works on).
    ///
    /// A claim is believed only as far as peers holding more than a third of the voting
    /// power claim (so at least one honest one does): one validator that signed a vote at
    /// height 10^12 neither looks furthest ahead nor keeps an up-to-date node syncing.
    /// Among peers that may be asked (not shunned, not backed off), those that served us
    /// before come first, then any but the one asked last, then the most believable (the
    /// capped claim, then the smaller raw one).
    pub fn next_request(&mut self, next: u64, max_blocks: u64) -> Option<(PeerId, SyncRequest)> {
        if self.in_flight.is_some() {
            return None;
        }
        let now = Instant::now();
        self.shunned.retain(|_, until| *until > now);
        let cap = self.believable();
        let ready = |p: &PeerId| {
            !self.shunned.contains_key(p)
                && self
                    .backoff
                    .get(p)
                    .and_then(|b| b.until)
                    .is_none_or(|until| until <= now)
        };
        let (peer, decided) = self
            .decided
            .iter()
            .map(|(p, h)| (*p, *h, (*h).min(cap)))
            .filter(|(p, _, capped)| *capped >= next && ready(p))
            .max_by_key(|(p, raw, capped)| {
                (
                    self.served.contains(p),
                    Some(*p) != self.last_asked,
                    *capped,
                    std::cmp::Reverse(*raw),
                    *p,
                )
            })
            .map(|(p, _, capped)| (p, capped))?;
        let request = SyncRequest {
            from_height: next,
            to_height: decided.min(next.saturating_add(max_blocks - 1)),
        };
        self.in_flight = Some((peer, request));
        self.last_asked = Some(peer);
        Some((peer, request))
    }

    /// The request to `peer` ended.
    pub fn finished(&mut self, peer: PeerId, outcome: Outcome) {
        if self.in_flight.is_some_and(|(p, _)| p == peer) {
            self.in_flight = None;
        }
        match outcome {
            Outcome::Served => {
                self.backoff.remove(&peer);
                self.served.insert(peer);
            }
            Outcome::Empty | Outcome::Failed => {
                let b = self.backoff.entry(peer).or_default();
                b.failures = b.failures.saturating_add(1);
                let wait = BASE_BACKOFF
                    .saturating_mul(1 << (b.failures - 1).min(16))
                    .min(MAX_BACKOFF);
                b.until = Some(Instant::now() + wait);
                self.served.remove(&peer);
                if outcome == Outcome::Empty {
                    // It showed it does not hold what it claimed: believe it no more.
                    self.decided.remove(&peer);
                }
            }
            Outcome::Lied => {
                self.shunned.insert(peer, Instant::now() + SHUN_FOR);
                self.decided.remove(&peer);
                self.served.remove(&peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four equal validators: these three peers and this one.
    fn four(peers: [PeerId; 3]) -> SyncPeers {
        SyncPeers::new(peers.iter().map(|p| (*p, 1)).collect(), 4)
    }

    #[test]
    fn a_lying_peer_is_set_aside_and_the_next_one_asked() {
        let (liar, a, b) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut s = four([liar, a, b]);
        assert!(
            s.next_request(5, 256).is_none(),
            "nobody is known to be ahead"
        );
        s.saw(liar, 50);
        s.saw(a, 40);
        s.saw(b, 40);
        let (first, req) = s.next_request(5, 256).unwrap();
        assert_ne!(first, liar, "the honest claim is believed first");
        assert_eq!((req.from_height, req.to_height), (5, 39));
        assert!(s.next_request(5, 256).is_none(), "one request at a time");
        assert_eq!(s.asked(&first), Some(req));
        s.finished(first, Outcome::Lied);
        // The liar's claim is forgotten, and it is not asked again for a while.
        assert_eq!(s.target(), 49);
        s.saw(first, 2_000_000);
        let (second, _) = s.next_request(5, 256).unwrap();
        assert_ne!(second, first);
    }

    /// One validator that signed a vote at a huge height and never answers: its claim is
    /// capped by the honest ones, so it is never asked first and never keeps an up-to-date
    /// node syncing; when it is asked (it claims what the others do) and times out, it
    /// backs off exponentially while the honest peers serve.
    #[test]
    fn a_peer_claiming_far_ahead_is_believed_only_as_far_as_others() {
        let (liar, a, b) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut s = four([liar, a, b]);
        // Its claim alone is not believed: nothing to sync.
        s.saw(liar, 1_000_000_000_000);
        assert!(s.next_request(1, 256).is_none());
        assert!(!s.is_syncing());
        s.saw(a, 2_001);
        s.saw(b, 2_001);
        for next in (1..2_000).step_by(256) {
            let (peer, req) = s.next_request(next, 256).unwrap();
            assert_ne!(peer, liar, "asked the liar at {next}");
            assert!(req.to_height <= 2_000);
            s.finished(peer, Outcome::Served);
        }
        // Up to date: no one's claim (the liar's capped) is above ours.
        assert!(s.next_request(2_001, 256).is_none());
        assert!(!s.is_syncing());
        // A liar that claims what the others do may be asked; silence backs it off.
        let mut t = four([liar, a, b]);
        for p in [liar, a, b] {
            t.saw(p, 101);
        }
        t.finished(a, Outcome::Failed);
        t.finished(b, Outcome::Failed);
        let (asked, _) = t.next_request(1, 256).unwrap();
        assert_eq!(asked, liar, "the only peer not backed off");
        t.finished(liar, Outcome::Failed);
        assert!(t.next_request(1, 256).is_none(), "all backed off");
        let waits: Vec<u32> = [liar, a].iter().map(|p| t.backoff[p].failures).collect();
        assert_eq!(waits, vec![1, 1]);
        t.backoff.get_mut(&liar).unwrap().until = None;
        t.finished(liar, Outcome::Failed);
        let wait = t.backoff[&liar].until.unwrap() - Instant::now();
        assert!(wait > BASE_BACKOFF, "doubles: {wait:?}");
    }

    /// A heavy validator alone may be more than a third of the power: its claim stands.
    #[test]
    fn claims_are_weighed_by_voting_power() {
        let (big, small) = (PeerId::random(), PeerId::random());
        let mut s = SyncPeers::new([(big, 10), (small, 1)].into(), 12);
        s.saw(small, 50);
        assert!(s.next_request(1, 256).is_none(), "1 of 12 is no proof");
        s.saw(big, 30);
        let (peer, req) = s.next_request(1, 256).unwrap();
        assert_eq!((peer, req.to_height), (big, 29));
    }

    #[test]
    fn an_empty_reply_withdraws_the_claim() {
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut s = four([a, b, c]);
        s.saw(a, 100);
        s.saw(b, 100);
        s.saw(c, 100);
        let (first, _) = s.next_request(1, 256).unwrap();
        s.finished(first, Outcome::Empty);
        let (second, _) = s.next_request(1, 256).unwrap();
        assert_ne!(first, second);
        s.finished(second, Outcome::Served);
        assert!(!s.decided.contains_key(&first));
        assert_eq!(s.next_request(1, 256).unwrap().0, second);
    }
}
