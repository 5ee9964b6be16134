//! Per-sender view of the mempool: which nonces each account has waiting, and where its run
//! of executable nonces (no gap from the committed nonce) ends. Transfers past that end wait
//! for a predecessor; only a few may, so a client that lost one transfer cannot fill the
//! mempool with transfers that will never execute.

use std::collections::{BTreeSet, HashMap};

use ledger::Address;

/// How far past its executable run a sender's transfer may be admitted: room for transfers
/// that arrive slightly out of order (concurrent requests, gossip).
pub const FUTURE_WINDOW: u64 = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueRefusal {
    /// This nonce already has a transfer waiting.
    NoncePending,
    /// Too far past the executable run (`next` is the first missing nonce).
    Gap { next: u64 },
    /// The sender already has `limit` transfers waiting.
    Full { limit: usize },
}

#[derive(Default)]
struct Queue {
    nonces: BTreeSet<u64>,
    /// First nonce at or above the committed one that has no transfer waiting.
    ready_end: u64,
}

#[derive(Default)]
pub struct SenderQueues {
    queues: HashMap<Address, Queue>,
    /// Waiting transfers past their sender's executable run, in all queues.
    gapped: usize,
}

impl SenderQueues {
    /// Rebuild from the mempool's (sender, nonce) pairs and the committed nonces.
    pub fn rebuild(
        &mut self,
        waiting: impl IntoIterator<Item = (Address, u64)>,
        committed_nonce: impl Fn(&Address) -> u64,
    ) {
        self.queues.clear();
        self.gapped = 0;
        for (sender, nonce) in waiting {
            self.queues.entry(sender).or_default().nonces.insert(nonce);
        }
        for (sender, q) in &mut self.queues {
            q.ready_end = committed_nonce(sender);
            while q.nonces.contains(&q.ready_end) {
                q.ready_end += 1;
            }
            self.gapped += q.nonces.range(q.ready_end..).count();
        }
    }

    /// Whether `sender` may add a transfer with `nonce` (already checked not to be below the
    /// committed nonce `committed`).
    pub fn check(
        &self,
        sender: &Address,
        nonce: u64,
        committed: u64,
        limit: usize,
    ) -> Result<(), QueueRefusal> {
        let Some(q) = self.queues.get(sender) else {
            return if nonce >= committed + FUTURE_WINDOW {
                Err(QueueRefusal::Gap { next: committed })
            } else {
                Ok(())
            };
        };
        if q.nonces.contains(&nonce) {
            return Err(QueueRefusal::NoncePending);
        }
        if q.nonces.len() >= limit {
            return Err(QueueRefusal::Full { limit });
        }
        let ready_end = q.ready_end.max(committed);
        if nonce >= ready_end + FUTURE_WINDOW {
            return Err(QueueRefusal::Gap { next: ready_end });
        }
        Ok(())
    }

    /// Record an admitted transfer.
    pub fn insert(&mut self, sender: Address, nonce: u64, committed: u64) {
        let q = self.queues.entry(sender).or_default();
        q.nonces.insert(nonce);
        q.ready_end = q.ready_end.max(committed);
        if nonce > q.ready_end {
            self.gapped += 1;
            return;
        }
        // It extends the run, and may join it to transfers that were waiting for it.
        while q.nonces.contains(&q.ready_end) {
            if q.ready_end != nonce {
                self.gapped -= 1;
            }
            q.ready_end += 1;
        }
    }

    /// The first nonce `sender` has no transfer waiting for, at or above `committed`.
    pub fn next_missing(&self, sender: &Address, committed: u64) -> u64 {
        self.queues
            .get(sender)
            .map_or(committed, |q| q.ready_end.max(committed))
    }

    /// Whether the transfer would extend its sender's executable run.
    pub fn is_executable(&self, sender: &Address, nonce: u64, committed: u64) -> bool {
        nonce == self.next_missing(sender, committed)
    }

    /// Waiting transfers that wait for a predecessor, across senders.
    pub fn gapped(&self) -> usize {
        self.gapped
    }

    /// Whether the transfer waits for a missing predecessor.
    pub fn is_gapped(&self, sender: &Address, nonce: u64) -> bool {
        self.queues.get(sender).is_some_and(|q| nonce > q.ready_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::Keypair;

    #[test]
    fn runs_gaps_and_windows() {
        let alice = Keypair::from_seed("alice").public();
        let mut q = SenderQueues::default();
        q.rebuild([(alice, 5), (alice, 6), (alice, 9)], |_| 5);
        assert!(!q.is_gapped(&alice, 6));
        assert!(q.is_gapped(&alice, 9), "7 and 8 are missing");
        assert_eq!(q.gapped(), 1);
        assert!(q.is_executable(&alice, 7, 5) && !q.is_executable(&alice, 8, 5));
        assert_eq!(q.check(&alice, 6, 5, 100), Err(QueueRefusal::NoncePending));
        assert_eq!(
            q.check(&alice, 7 + FUTURE_WINDOW, 5, 100),
            Err(QueueRefusal::Gap { next: 7 })
        );
        assert_eq!(q.check(&alice, 7, 5, 100), Ok(()));
        q.insert(alice, 8, 5);
        assert_eq!(q.gapped(), 2);
        q.insert(alice, 7, 5);
        assert!(!q.is_gapped(&alice, 9), "the gap filled");
        assert_eq!(q.gapped(), 0);
        assert_eq!(
            q.check(&alice, 10, 5, 5),
            Err(QueueRefusal::Full { limit: 5 })
        );
        q.insert(alice, 12, 5);
        assert_eq!(q.gapped(), 1);
        assert_eq!(q.next_missing(&alice, 5), 10);
        let bob = Keypair::from_seed("bob").public();
        assert_eq!(
            q.check(&bob, FUTURE_WINDOW, 0, 5),
            Err(QueueRefusal::Gap { next: 0 })
        );
        assert_eq!(q.check(&bob, FUTURE_WINDOW - 1, 0, 5), Ok(()));
    }
}
