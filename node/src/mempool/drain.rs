//! Admission by time, not only by count: the mempool takes what the chain can commit within
//! `mempool_max_drain_ms` at the rate it has been committing. Past that, a transaction would
//! only wait (and its sender with it); refusing it early keeps the latency of the admitted
//! ones bounded and leaves the CPU to draining, so overload becomes refusals, not queueing.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Transactions committed per second over the recent past.
#[derive(Debug, Default)]
pub struct CommitRate {
    /// (when, transactions) of recent commits, oldest first.
    commits: VecDeque<(Instant, usize)>,
}

impl CommitRate {
    /// How far back the rate looks: a few blocks, so it follows a change of load within
    /// seconds without jumping at every block.
    pub const WINDOW: Duration = Duration::from_secs(3);

    pub fn record(&mut self, at: Instant, txs: usize) {
        self.commits.push_back((at, txs));
        while let Some(&(t, _)) = self.commits.front() {
            if at.duration_since(t) > Self::WINDOW {
                self.commits.pop_front();
            } else {
                break;
            }
        }
    }

    /// Transactions per second from the first recorded commit of the window to the last;
    /// none until the window spans half a second (a rate from one block is noise).
    pub fn per_sec(&self) -> Option<f64> {
        let (&(first, _), &(last, _)) = (self.commits.front()?, self.commits.back()?);
        let span = last.duration_since(first).as_secs_f64();
        if span < 0.5 {
            return None;
        }
        // The first commit opens the window; what it carried was admitted before it.
        let txs: usize = self.commits.iter().skip(1).map(|&(_, n)| n).sum();
        Some(txs as f64 / span)
    }

    /// The mempool size that drains in `max_drain` at the current rate, never below one
    /// block's worth (`floor`) so a quiet chain still fills its next block; none while the
    /// rate is unknown or the bound is off (`max_drain` zero).
    pub fn cap(&self, max_drain: Duration, floor: usize) -> Option<usize> {
        if max_drain.is_zero() {
            return None;
        }
        let rate = self.per_sec()?;
        Some(((rate * max_drain.as_secs_f64()) as usize).max(floor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_what_drains_in_time_at_the_recent_rate() {
        let t0 = Instant::now();
        let mut rate = CommitRate::default();
        let drain = Duration::from_millis(1500);
        rate.record(t0, 4_000);
        assert_eq!(rate.cap(drain, 1_000), None, "one block gives no rate");
        // 10 blocks of 2,000 over 2.5 s after the first: 8,000 tx/s.
        for k in 1..=10 {
            rate.record(t0 + Duration::from_millis(250 * k), 2_000);
        }
        assert_eq!(rate.per_sec(), Some(8_000.0));
        assert_eq!(rate.cap(drain, 1_000), Some(12_000));
        assert_eq!(rate.cap(Duration::ZERO, 1_000), None, "0 turns it off");
        // A quiet chain: the floor (one block) still applies.
        for k in 11..=30 {
            rate.record(t0 + Duration::from_millis(250 * k), 10);
        }
        assert_eq!(rate.cap(drain, 1_000), Some(1_000));
        // Old commits leave the window.
        assert!(rate.commits.len() <= 13, "{}", rate.commits.len());
    }
}
