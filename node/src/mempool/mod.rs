//! Admitted transactions waiting for a block: arrival order, per-sender nonce queues, and the
//! bounds that keep one sender, or a flood, from crowding everyone else out.

mod drain;
mod sender_queues;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use ledger::verify::Admitted;
use ledger::{Account, Address, Hash, SignedTx, State};

use crate::refusal::Refusal;
pub use drain::CommitRate;
pub use sender_queues::FUTURE_WINDOW;
use sender_queues::{QueueRefusal, SenderQueues};

/// How many transactions and bytes the mempool holds, and how long a gapped one waits.
#[derive(Debug, Clone)]
pub struct MempoolLimits {
    pub mempool_max_txs: usize,
    /// Bound on the encoded size of everything held.
    pub mempool_max_bytes: usize,
    /// Most transactions one sender may have waiting.
    pub mempool_max_per_sender: usize,
    /// Blocks a transfer may wait for an earlier nonce of its sender before it is dropped.
    pub mempool_gap_ttl_blocks: u64,
}

pub struct Mempool {
    limits: MempoolLimits,
    /// Admitted transactions in arrival order, with the height at which each arrived.
    entries: VecDeque<(Admitted, u64)>,
    pending: HashSet<Hash>,
    /// Each sender's waiting nonces and executable run.
    senders: SenderQueues,
    bytes: usize,
    /// Fewer transactions than `mempool_max_txs` while the chain drains slower than that
    /// (see `drain`).
    drain_cap: Option<usize>,
}

impl Mempool {
    pub fn new(limits: MempoolLimits) -> Self {
        Self {
            limits,
            entries: VecDeque::new(),
            pending: HashSet::new(),
            senders: SenderQueues::default(),
            bytes: 0,
            drain_cap: None,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.pending.contains(hash)
    }

    /// The nonce a new transfer from `sender` should carry: past its committed `nonce` and
    /// the transfers held here that follow it without a gap.
    pub fn next_nonce(&self, sender: &Address, committed: u64) -> u64 {
        self.senders.next_missing(sender, committed)
    }

    /// The oldest `limit` transactions held (only `from`'s, if given); `committed` gives a
    /// sender's committed nonce, to tell the ready ones from those waiting for a gap.
    pub fn list(
        &self,
        limit: usize,
        from: Option<&Address>,
        committed: impl Fn(&Address) -> u64,
    ) -> Vec<interface::http::PendingTx> {
        self.entries
            .iter()
            .filter(|(a, _)| from.is_none_or(|f| a.tx.transfer.from == *f))
            .take(limit)
            .map(|(a, arrived)| {
                let t = &a.tx.transfer;
                interface::http::PendingTx {
                    hash: a.hash,
                    from: t.from,
                    to: t.to,
                    amount: t.amount,
                    nonce: t.nonce,
                    ready: t.nonce < self.senders.next_missing(&t.from, committed(&t.from)),
                    arrived_at_height: *arrived,
                }
            })
            .collect()
    }

    /// The byte bound (see [`Self::max_txs`] for the count).
    pub fn max_bytes(&self) -> usize {
        self.limits.mempool_max_bytes
    }

    /// Whether `extra` more bytes (and one more transaction) would overflow it.
    pub fn is_full(&self, extra: usize) -> bool {
        self.entries.len() >= self.max_txs() || self.bytes + extra > self.limits.mempool_max_bytes
    }

    /// How many transactions it admits now: the configured bound, or less while the chain
    /// would take longer than `mempool_max_drain_ms` to commit that many.
    pub fn max_txs(&self) -> usize {
        self.drain_cap.map_or(self.limits.mempool_max_txs, |cap| {
            cap.min(self.limits.mempool_max_txs)
        })
    }

    /// What a transaction that finds no room is told.
    pub fn full_refusal(&self) -> Refusal {
        Refusal::MempoolFull {
            txs: self.entries.len(),
            bytes: self.bytes,
        }
    }

    pub fn set_drain_cap(&mut self, cap: Option<usize>) {
        self.drain_cap = cap;
    }

    /// Admit a verified transaction from `sender` (its committed account), arriving while
    /// the chain is at `height`.
    pub fn admit(&mut self, a: Admitted, sender: &Account, height: u64) -> Result<Hash, Refusal> {
        if self.pending.contains(&a.hash) {
            return Err(Refusal::Duplicate(a.hash));
        }
        let (from, nonce) = (a.tx.transfer.from, a.tx.transfer.nonce);
        if nonce < sender.nonce {
            return Err(Refusal::StaleNonce {
                got: nonce,
                next: sender.nonce,
            });
        }
        // Against committed state: pending transfers may still change the balance, but a
        // sender that cannot cover the amount now almost surely never will.
        if a.tx.transfer.amount > sender.balance {
            return Err(Refusal::InsufficientFunds {
                balance: sender.balance,
                amount: a.tx.transfer.amount,
            });
        }
        // One account cannot crowd everyone else out, nor park transfers that wait for a
        // predecessor that may never come.
        match self.senders.check(
            &from,
            nonce,
            sender.nonce,
            self.limits.mempool_max_per_sender,
        ) {
            Ok(()) => {}
            Err(QueueRefusal::NoncePending) => return Err(Refusal::NoncePending { nonce }),
            Err(QueueRefusal::Gap { next }) => return Err(Refusal::NonceGap { got: nonce, next }),
            Err(QueueRefusal::Full { limit }) => return Err(Refusal::SenderLimit { limit }),
        }
        // Transactions waiting for a predecessor may take only a quarter of the mempool: a
        // mempool full of them would refuse the very transactions that fill their gaps.
        if !self.senders.is_executable(&from, nonce, sender.nonce)
            && self.senders.gapped() >= self.limits.mempool_max_txs / 4
        {
            let next = self.senders.next_missing(&from, sender.nonce);
            return Err(Refusal::NonceGap { got: nonce, next });
        }
        if self.is_full(a.size) {
            return Err(self.full_refusal());
        }
        self.senders.insert(from, nonce, sender.nonce);
        self.bytes += a.size;
        self.pending.insert(a.hash);
        let hash = a.hash;
        self.entries.push_back((a, height));
        Ok(hash)
    }

    /// The transactions of the next block, at most `max_txs` and `max_bytes`: arrival order,
    /// but each sender's transfers only in nonce sequence. One that arrives before its
    /// predecessor waits and follows it into the block; one whose predecessor never came
    /// stays here instead of failing in a block.
    pub fn select(
        &self,
        max_txs: usize,
        max_bytes: usize,
        state: &State,
    ) -> (Vec<Hash>, Vec<SignedTx>) {
        let mut next_nonce: HashMap<Address, u64> = HashMap::new();
        let mut deferred: HashMap<Address, BTreeMap<u64, usize>> = HashMap::new();
        let mut chosen: Vec<usize> = Vec::new();
        let mut bytes = 0;
        let fits = |chosen: &[usize], bytes: usize, size: usize| {
            chosen.len() < max_txs && bytes + size <= max_bytes
        };
        'fill: for (i, (a, _)) in self.entries.iter().enumerate() {
            let t = &a.tx.transfer;
            let next = next_nonce
                .entry(t.from)
                .or_insert_with(|| state.account(&t.from).nonce);
            if t.nonce > *next {
                deferred.entry(t.from).or_default().insert(t.nonce, i);
                continue;
            }
            if t.nonce < *next {
                continue;
            }
            if !fits(&chosen, bytes, a.size) {
                break;
            }
            chosen.push(i);
            bytes += a.size;
            *next += 1;
            let Some(waiting) = deferred.get_mut(&t.from) else {
                continue;
            };
            while let Some(&j) = waiting.get(next) {
                let size = self.entries[j].0.size;
                if !fits(&chosen, bytes, size) {
                    break 'fill;
                }
                waiting.remove(next);
                chosen.push(j);
                bytes += size;
                *next += 1;
            }
        }
        chosen
            .iter()
            .map(|&i| (self.entries[i].0.hash, self.entries[i].0.tx.clone()))
            .unzip()
    }

    /// After a commit (`state` already applied): drop what was committed, what can never
    /// execute (its nonce is used), what the sender can no longer pay for, and transfers
    /// that waited `mempool_gap_ttl_blocks` for a missing predecessor.
    pub fn after_commit(&mut self, committed: &HashSet<Hash>, state: &State) {
        self.entries.retain(|(a, _)| {
            let sender = state.account(&a.tx.transfer.from);
            !committed.contains(&a.hash)
                && a.tx.transfer.nonce >= sender.nonce
                && a.tx.transfer.amount <= sender.balance
        });
        self.rebuild_senders(state);
        let (ttl, height) = (self.limits.mempool_gap_ttl_blocks, state.height());
        let senders = &self.senders;
        let before = self.entries.len();
        self.entries.retain(|(a, since)| {
            !(height >= since + ttl && senders.is_gapped(&a.tx.transfer.from, a.tx.transfer.nonce))
        });
        if self.entries.len() != before {
            self.rebuild_senders(state);
        }
        self.pending = self.entries.iter().map(|(a, _)| a.hash).collect();
        self.bytes = self.entries.iter().map(|(a, _)| a.size).sum();
    }

    fn rebuild_senders(&mut self, state: &State) {
        self.senders.rebuild(
            self.entries
                .iter()
                .map(|(a, _)| (a.tx.transfer.from, a.tx.transfer.nonce)),
            |sender| state.account(sender).nonce,
        );
    }
}
