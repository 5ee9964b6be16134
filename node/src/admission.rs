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

    /// Reserve room for `n` transactions about to be verified; none if they would not fit.
    /// The room comes back when the reservation is dropped, however its request ends (a
    /// client that hangs up must not leak it).
    pub fn try_reserve(self: &Arc<Self>, n: usize) -> Option<Reservation> {
        let room = self.room.load(Ordering::Relaxed);
        self.verifying
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v + n <= room).then_some(v + n)
            })
            .ok()?;
        Some(Reservation {
            admission: self.clone(),
            n,
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

impl Drop for Reservation {
    fn drop(&mut self) {
        self.admission.release(self.n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stop_at_the_room_and_come_back_when_dropped() {
        let a = Arc::new(Admission::default());
        assert!(a.try_reserve(1).is_none(), "no room published yet");
        a.publish_room(10);
        let six = a.try_reserve(6).unwrap();
        assert!(a.try_reserve(5).is_none(), "6 + 5 > 10");
        let four = a.try_reserve(4).unwrap();
        drop(six);
        assert_eq!(a.verifying(), 4);
        let again = a.try_reserve(6);
        assert!(again.is_some());
        drop((four, again));
        assert_eq!(a.verifying(), 0);
    }
}
