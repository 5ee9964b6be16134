//! The load: transfers signed before the timed window (signing here would steal CPU from the
//! validators), then sent open-loop at a fixed rate, one batch per validator per burst.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interface::now_ms;
use ledger::{Hash, Keypair, SignedTx, Transfer, TxBatch};
use tokio::time::Instant;

use crate::client::{Client, ClientError};

/// Every transaction of a run, in sending order.
pub struct Workload {
    pub txs: Vec<Vec<u8>>,
    pub hashes: Vec<Hash>,
    /// Index of each transaction's sender.
    pub sender: Vec<u32>,
    /// Encoded size of one transfer.
    pub tx_size: usize,
}

pub fn sender_key(i: usize) -> Keypair {
    Keypair::from_seed(&format!("bench-sender-{i}"))
}

/// Sign `count` transfers round-robin over `senders` accounts (each account's nonces in
/// sequence), padded with memo bytes to `tx_size`, on every core.
pub fn presign(chain_id: &str, count: usize, senders: usize, tx_size: usize) -> Workload {
    let keys: Vec<Keypair> = (0..senders).map(sender_key).collect();
    let transfer = |i: usize, memo: Vec<u8>| Transfer {
        chain_id: chain_id.into(),
        from: keys[i % senders].public(),
        to: keys[(i + 1) % senders].public(),
        amount: 1,
        nonce: (i / senders) as u64,
        memo,
    };
    let base = transfer(0, vec![]).sign(&keys[0]).encode().len();
    let memo_len = tx_size.saturating_sub(base).min(ledger::tx::MAX_MEMO_BYTES);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let mut txs: Vec<Vec<u8>> = vec![Vec::new(); count];
    std::thread::scope(|scope| {
        for (c, out) in txs.chunks_mut(chunk).enumerate() {
            let transfer = &transfer;
            let keys = &keys;
            scope.spawn(move || {
                for (k, slot) in out.iter_mut().enumerate() {
                    let i = c * chunk + k;
                    *slot = transfer(i, vec![b'.'; memo_len])
                        .sign(&keys[i % senders])
                        .encode();
                }
            });
        }
    });
    let hashes = txs.iter().map(|t| SignedTx::hash_bytes(t)).collect();
    Workload {
        tx_size: base + memo_len,
        hashes,
        sender: (0..count).map(|i| (i % senders) as u32).collect(),
        txs,
    }
}

/// What became of one transaction at submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    NotSent,
    Accepted,
    /// The node's refusal code (`mempool_full`, `stale_nonce`, ...).
    Rejected(String),
    /// No validator answered.
    Unreachable,
}

pub struct Sent {
    /// First send of each transaction.
    pub sent_ms: Vec<u64>,
    /// The last answer for each transaction.
    pub acks: Vec<Ack>,
    /// The client (index into `send`'s `nodes`) that gave the last answer; `bench` turns it
    /// into the validator's index.
    pub node: Vec<u16>,
    /// When the accepting answer came (0 if none).
    pub accepted_ms: Vec<u64>,
    /// Resubmissions of refused transactions.
    pub retries: usize,
}

/// How long a sender waits after a refusal before it sends again: doubled after each refusal in
/// a row, up to [`MAX_BACKOFF`], and back to this after an acceptance. It starts under the
/// node's Retry-After (1 s) because most refusals under load are brief (one block's room).
const BASE_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Most transactions in one request, well under the API's batch body limit whatever the
/// transaction size: retries pile up under overload and must not make a request too large.
const MAX_REQUEST_TXS: usize = 4096;

fn retryable(code: &interface::http::ErrorCode) -> bool {
    code.is_retryable()
}

/// What the generator holds for one sender that was refused, as a wallet would: its refused
/// transfers and every later one wait together until the backoff ends, then go out in nonce
/// order. Sending nonce n+1 while n waits would only be refused as gapped, and resending a
/// whole overload every few hundred milliseconds would take the CPU the validators drain with.
#[derive(Default)]
struct Held {
    txs: Vec<usize>,
    until: Option<Instant>,
    backoff: Duration,
}

/// Senders backing off, by sender index.
#[derive(Default)]
struct Backoffs {
    senders: HashMap<u32, Held>,
}

impl Backoffs {
    /// Transactions whose sender's backoff is over, in sending (= nonce) order.
    fn due(&mut self, now: Instant) -> Vec<usize> {
        let mut out = Vec::new();
        for held in self.senders.values_mut() {
            if held.until.is_some_and(|t| t <= now) {
                held.until = None;
                out.append(&mut held.txs);
            }
        }
        out.sort_unstable();
        out
    }

    /// Whether `sender` is backing off (a fresh transfer of it must wait too).
    fn hold(&mut self, sender: u32, tx: usize) -> bool {
        match self.senders.get_mut(&sender) {
            Some(held) if held.until.is_some() => {
                held.txs.push(tx);
                true
            }
            _ => false,
        }
    }

    fn refused(&mut self, sender: u32, tx: usize, now: Instant) {
        let held = self.senders.entry(sender).or_default();
        if held.until.is_none() {
            held.backoff = (held.backoff * 2).clamp(BASE_BACKOFF, MAX_BACKOFF);
            held.until = Some(now + held.backoff);
        }
        held.txs.push(tx);
    }

    fn accepted(&mut self, sender: u32) {
        if let Some(held) = self.senders.get_mut(&sender) {
            held.backoff = Duration::ZERO;
            if held.until.is_none() && held.txs.is_empty() {
                self.senders.remove(&sender);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.senders.values().all(|h| h.txs.is_empty())
    }
}

/// Send `workload` at `rate` tx/s to `nodes` (API clients; sender s goes to node s mod n),
/// one batch per node every `burst`. Requests overlap: the generator never waits for answers
/// (open loop). A request that finds its node unreachable is tried once on the next node.
/// Refusals that a real client would retry (full mempool, per-sender limit, a nonce gap behind
/// a retried one) hold their sender back (see [`Held`]), for up to `retry_for` after the last
/// new transaction; latency still counts from the first send. `progress` gets the number of
/// new transactions sent so far, about every second.
pub async fn send(
    workload: &Workload,
    nodes: &[Client],
    rate: u64,
    burst: Duration,
    retry_for: Duration,
    mut progress: impl FnMut(usize),
) -> Sent {
    let total = workload.txs.len();
    let sent = Arc::new(Mutex::new(Sent {
        sent_ms: vec![0; total],
        acks: vec![Ack::NotSent; total],
        node: vec![0; total],
        accepted_ms: vec![0; total],
        retries: 0,
    }));
    let backoffs: Arc<Mutex<Backoffs>> = Arc::default();
    let senders: Arc<[u32]> = workload.sender.clone().into();
    let started = Instant::now();
    let mut next = 0;
    let mut tick = 0u32;
    let mut requests: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let mut last_progress = Instant::now();
    let mut all_sent_at: Option<Instant> = None;
    loop {
        tick += 1;
        let at = started + burst * tick;
        tokio::time::sleep_until(at).await;
        let due = ((rate as f64 * (burst * tick).as_secs_f64()) as usize).min(total);
        let stamp = now_ms();
        let fresh = next..due;
        // Lock order, here and in the requests: `sent`, then `backoffs`.
        let mut s = sent.lock().expect("lock");
        let mut b = backoffs.lock().expect("lock");
        // Retries first: they hold the earlier nonces.
        let mut todo = b.due(Instant::now());
        s.retries += todo.len();
        for i in fresh {
            s.sent_ms[i] = stamp;
            if !b.hold(senders[i], i) {
                todo.push(i);
            }
        }
        drop((s, b));
        next = due;
        let mut per_node: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for i in todo {
            per_node[senders[i] as usize % nodes.len()].push(i);
        }
        let requests_now = per_node.into_iter().enumerate().flat_map(|(n, indices)| {
            indices
                .chunks(MAX_REQUEST_TXS)
                .map(|c| (n, c.to_vec()))
                .collect::<Vec<_>>()
        });
        for (n, indices) in requests_now {
            if indices.is_empty() {
                continue;
            }
            let batch = TxBatch {
                txs: indices.iter().map(|&i| workload.txs[i].clone()).collect(),
            };
            let clients = [nodes[n].clone(), nodes[(n + 1) % nodes.len()].clone()];
            let (sent, backoffs, senders) = (sent.clone(), backoffs.clone(), senders.clone());
            let node_count = nodes.len();
            requests.push(tokio::spawn(async move {
                let mut outcome = clients[0].submit_batch(&batch).await;
                let mut answered_by = n;
                if matches!(outcome, Err(ClientError::Unreachable { .. })) && nodes_differ(&clients)
                {
                    outcome = clients[1].submit_batch(&batch).await;
                    answered_by = (n + 1) % node_count;
                }
                let answered_ms = now_ms();
                let mut retry = Vec::new();
                let mut s = sent.lock().expect("lock");
                for &i in &indices {
                    s.node[i] = answered_by as u16;
                }
                match outcome {
                    Ok(answer) => {
                        for &i in &indices {
                            s.acks[i] = Ack::Accepted;
                            s.accepted_ms[i] = answered_ms;
                        }
                        for r in answer.rejected {
                            if let Some(&i) = indices.get(r.index) {
                                if retryable(&r.code) {
                                    retry.push(i);
                                }
                                s.acks[i] = Ack::Rejected(r.code.to_string());
                                s.accepted_ms[i] = 0;
                            }
                        }
                    }
                    Err(ClientError::Api { error, .. }) => {
                        for &i in &indices {
                            s.acks[i] = Ack::Rejected(error.code.to_string());
                        }
                        if retryable(&error.code) {
                            retry.extend(&indices);
                        }
                    }
                    Err(_) => {
                        for &i in &indices {
                            s.acks[i] = Ack::Unreachable;
                        }
                        retry.extend(&indices);
                    }
                }
                let mut b = backoffs.lock().expect("lock");
                let now = Instant::now();
                for &i in &indices {
                    if s.acks[i] == Ack::Accepted {
                        b.accepted(senders[i]);
                    }
                }
                for i in retry {
                    b.refused(senders[i], i, now);
                }
            }));
        }
        requests.retain(|r| !r.is_finished());
        if last_progress.elapsed() >= Duration::from_secs(1) {
            progress(next);
            last_progress = Instant::now();
        }
        if next == total {
            let done_at = *all_sent_at.get_or_insert_with(Instant::now);
            let idle = requests.is_empty() && backoffs.lock().expect("lock").is_empty();
            if idle || done_at.elapsed() >= retry_for {
                break;
            }
        }
    }
    for r in requests {
        let _ = r.await;
    }
    progress(total);
    Arc::try_unwrap(sent)
        .ok()
        .expect("every request finished")
        .into_inner()
        .expect("lock")
}

fn nodes_differ(clients: &[Client; 2]) -> bool {
    clients[0].url() != clients[1].url()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_sender_waits_with_its_later_transfers_and_backs_off_longer_each_time() {
        let t0 = Instant::now();
        let mut b = Backoffs::default();
        assert!(!b.hold(7, 0), "a sender never refused sends at once");
        b.refused(7, 3, t0);
        b.refused(7, 1, t0);
        assert!(b.hold(7, 5), "a later transfer waits with the refused ones");
        assert!(!b.hold(8, 6), "other senders are not held");
        assert!(b.due(t0 + BASE_BACKOFF / 2).is_empty());
        assert_eq!(b.due(t0 + BASE_BACKOFF), vec![1, 3, 5], "in nonce order");
        assert!(b.is_empty(), "nothing is held once it went out");
        // Refused again: twice the wait, up to the cap.
        let t1 = t0 + BASE_BACKOFF;
        b.refused(7, 1, t1);
        assert!(b.due(t1 + BASE_BACKOFF).is_empty());
        assert_eq!(b.due(t1 + 2 * BASE_BACKOFF), vec![1]);
        for _ in 0..10 {
            b.refused(7, 1, t1);
            b.due(t1 + MAX_BACKOFF);
        }
        assert_eq!(b.senders[&7].backoff, MAX_BACKOFF);
        // An acceptance resets it.
        b.accepted(7);
        assert!(b.is_empty());
        b.refused(7, 2, t1);
        assert_eq!(b.due(t1 + BASE_BACKOFF), vec![2]);
    }

    #[test]
    fn presigned_transfers_have_the_asked_size_and_nonce_sequences() {
        let w = presign("bench", 10, 3, 200);
        assert_eq!(w.txs.len(), 10);
        assert!(w.txs.iter().all(|t| t.len() == 200));
        assert_eq!(w.tx_size, 200);
        let decoded: Vec<SignedTx> = w.txs.iter().map(|t| SignedTx::decode(t).unwrap()).collect();
        // Sender 1 sends txs 1, 4, 7 with nonces 0, 1, 2.
        let nonces: Vec<u64> = [1, 4, 7]
            .iter()
            .map(|&i| decoded[i].transfer.nonce)
            .collect();
        assert_eq!(nonces, [0, 1, 2]);
        assert_eq!(w.hashes[4], decoded[4].hash());
        let smallest = presign("bench", 1, 1, 0);
        assert!(smallest.tx_size < 200 && smallest.txs[0].len() == smallest.tx_size);
    }
}
