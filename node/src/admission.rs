//! The door in front of the node task: how many more transactions may enter, counting those
//! still being verified, so overload is refused at once (503 `mempool_full`) instead of
//! queueing in front of verification, where no bound would see it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct Admission {
    /// Room left in the mempool, published by the node task after every event.
    room: AtomicUsize,
    /// The part of it new client submissions may take (see [`Origin`]).
    client_room: AtomicUsize,
    /// Transactions reserved and not yet handed to the node task.
    verifying: AtomicUsize,
    /// Most transactions waiting for (or in) verification at once.
    max_verifying: usize,
}

impl Default for Admission {
    fn default() -> Self {
        Self::new(Self::MAX_VERIFYING)
    }
}

impl Admission {
    /// What the verifier may have queued: about a tenth of a second of work for two cores.
    /// More would only wait, holding the CPU the chain drains with to transactions that may
    /// never fit, and under overload every batch would wait behind all of it; past this the
    /// node refuses at once and the client comes back (Retry-After).
    pub const MAX_VERIFYING: usize = 8_192;

    pub fn new(max_verifying: usize) -> Self {
        Self {
            room: AtomicUsize::new(0),
            client_room: AtomicUsize::new(0),
            verifying: AtomicUsize::new(0),
            max_verifying,
        }
    }

    pub fn publish_room(&self, room: usize, client_room: usize) {
        self.room.store(room, Ordering::Relaxed);
        self.client_room
            .store(client_room.min(room), Ordering::Relaxed);
    }

    /// Reserve room for up to `n` transactions about to be verified: the first
    /// [`Reservation::len`] of them may go on, the rest are refused (as the mempool itself
    /// would refuse the tail of a batch); none if there is no room at all. The room comes
    /// back when the reservation is dropped, however its request ends (a client that hangs up
    /// must not leak it).
    pub fn try_reserve(self: &Arc<Self>, n: usize, origin: Origin) -> Option<Reservation> {
        let room = self.limit(origin);
        let before = self
            .verifying
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v < room && n > 0).then(|| v + n.min(room - v))
            })
            .ok()?;
        Some(Reservation {
            admission: self.clone(),
            n: n.min(room - before),
        })
    }

    /// Whether a reservation from `origin` would get anything now.
    pub fn has_room(&self, origin: Origin) -> bool {
        self.verifying.load(Ordering::Relaxed) < self.limit(origin)
    }

    /// How many transactions may be reserved in all, counting those verifying, for `origin`.
    fn limit(&self, origin: Origin) -> usize {
        let room = match origin {
            Origin::Client => &self.client_room,
            Origin::Peer => &self.room,
        };
        room.load(Ordering::Relaxed).min(self.max_verifying)
    }

    fn release(&self, n: usize) {
        let _ = self
            .verifying
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            });
    }

    pub fn verifying(&self) -> usize {
        self.verifying.load(Ordering::Relaxed)
    }
}

/// Where transactions come from. A peer's batch was already accepted (and verified) by the
/// validator that gossips it, which may propose it: refused here, it would wait in that one
/// mempool for that validator's turn (seconds, under overload). A client refused here just
/// comes back. So clients get only part of the room and peers the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Client,
    Peer,
}

/// Room held for transactions on their way to the node task.
#[derive(Debug)]
pub struct Reservation {
    admission: Arc<Admission>,
    n: usize,
}

impl Reservation {
    /// How many of the transactions asked for may go on.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.admission.release(self.n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_take_what_fits_and_come_back_when_dropped() {
        let a = Arc::new(Admission::default());
        assert!(
            a.try_reserve(1, Origin::Peer).is_none(),
            "no room published yet"
        );
        a.publish_room(10, 10);
        let six = a.try_reserve(6, Origin::Client).unwrap();
        let rest = a.try_reserve(5, Origin::Peer).unwrap();
        assert_eq!(
            (six.len(), rest.len()),
            (6, 4),
            "the tail that does not fit is refused"
        );
        assert!(a.try_reserve(1, Origin::Peer).is_none(), "full");
        drop(six);
        assert_eq!(a.verifying(), 4);
        let again = a.try_reserve(6, Origin::Client).unwrap();
        assert_eq!(again.len(), 6);
        drop((rest, again));
        assert_eq!(a.verifying(), 0);
    }

    #[test]
    fn what_waits_for_verification_is_bounded_whatever_the_room() {
        let a = Arc::new(Admission::new(100));
        a.publish_room(10_000, 10_000);
        let first = a.try_reserve(60, Origin::Peer).unwrap();
        let second = a.try_reserve(60, Origin::Peer).unwrap();
        assert_eq!(second.len(), 40, "only 100 may wait for verification");
        assert!(a.try_reserve(1, Origin::Peer).is_none());
        drop(first);
        assert_eq!(a.try_reserve(80, Origin::Peer).unwrap().len(), 60);
    }

    #[test]
    fn clients_get_only_their_part_of_the_room_and_peers_all_of_it() {
        let a = Arc::new(Admission::default());
        a.publish_room(100, 30);
        assert!(a.has_room(Origin::Client));
        let client = a.try_reserve(50, Origin::Client).unwrap();
        assert_eq!(client.len(), 30);
        assert!(a.try_reserve(1, Origin::Client).is_none());
        assert!(!a.has_room(Origin::Client) && a.has_room(Origin::Peer));
        assert_eq!(a.try_reserve(100, Origin::Peer).unwrap().len(), 70);
    }
}
