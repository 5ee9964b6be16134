//! The door in front of the node task: how many more transactions may enter, counting those
//! still being verified, so overload is refused at once (503 `mempool_full`) instead of
//! queueing in front of verification, where no bound would see it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct Admission {
    /// Room left in the mempool, published by the node task after every event.
    room: AtomicUsize,
    /// Transactions reserved and not yet handed to the node task.
    verifying: AtomicUsize,
}

impl Admission {
    pub fn publish_room(&self, room: usize) {
        self.room.store(room, Ordering::Relaxed);
    }

    /// Reserve room for up to `n` transactions about to be verified: the first
    /// [`Reservation::len`] of them may go on, the rest are refused (as the mempool itself
    /// would refuse the tail of a batch); none if there is no room at all. The room comes
    /// back when the reservation is dropped, however its request ends (a client that hangs up
    /// must not leak it).
    pub fn try_reserve(self: &Arc<Self>, n: usize) -> Option<Reservation> {
        let room = self.room.load(Ordering::Relaxed);
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
        assert!(a.try_reserve(1).is_none(), "no room published yet");
        a.publish_room(10);
        let six = a.try_reserve(6).unwrap();
        let rest = a.try_reserve(5).unwrap();
        assert_eq!(
            (six.len(), rest.len()),
            (6, 4),
            "the tail that does not fit is refused"
        );
        assert!(a.try_reserve(1).is_none(), "full");
        drop(six);
        assert_eq!(a.verifying(), 4);
        let again = a.try_reserve(6).unwrap();
        assert_eq!(again.len(), 6);
        drop((rest, again));
        assert_eq!(a.verifying(), 0);
    }
}
