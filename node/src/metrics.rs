//! Prometheus metrics, kept in atomics the node task updates and `/metrics` renders.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub height: AtomicU64,
    pub round: AtomicU64,
    pub peers: AtomicU64,
    pub mempool_txs: AtomicU64,
    pub txs_committed: AtomicU64,
    pub blocks_committed: AtomicU64,
    pub txs_refused: AtomicU64,
    pub consensus_messages_refused: AtomicU64,
    pub gossip_rejected: AtomicU64,
    pub verify_cache_hits: AtomicU64,
    pub verify_cache_misses: AtomicU64,
    pub last_commit_micros: AtomicU64,
    pub sync_rejected: AtomicU64,
    pub halted: AtomicU64,
    pub api_connections: AtomicU64,
    pub api_connections_refused: AtomicU64,
}

impl Metrics {
    pub fn set(&self, gauge: &AtomicU64, value: u64) {
        gauge.store(value, Ordering::Relaxed);
    }

    pub fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 15] = [
            (
                "lantau_api_connections",
                "gauge",
                "HTTP API connections open",
                &self.api_connections,
            ),
            (
                "lantau_api_connections_refused_total",
                "counter",
                "HTTP API connections closed on arrival because the cap (api_max_connections) was reached",
                &self.api_connections_refused,
            ),
            (
                "lantau_halted",
                "gauge",
                "1 once this validator stopped taking part because it could not commit a decided block or persist a signature (see /v1/status)",
                &self.halted,
            ),
            (
                "lantau_sync_replies_rejected_total",
                "counter",
                "Block sync replies that did not verify (malformed, body not matching its header, wrong parent or certificate); their senders are not asked again for a while",
                &self.sync_rejected,
            ),
            (
                "lantau_height",
                "gauge",
                "Height consensus is working on",
                &self.height,
            ),
            (
                "lantau_round",
                "gauge",
                "Consensus round at the current height",
                &self.round,
            ),
            (
                "lantau_peers",
                "gauge",
                "Connected validator peers",
                &self.peers,
            ),
            (
                "lantau_mempool_txs",
                "gauge",
                "Transactions waiting in the mempool",
                &self.mempool_txs,
            ),
            (
                "lantau_txs_committed_total",
                "counter",
                "Transactions committed",
                &self.txs_committed,
            ),
            (
                "lantau_blocks_committed_total",
                "counter",
                "Blocks committed",
                &self.blocks_committed,
            ),
            (
                "lantau_txs_refused_total",
                "counter",
                "Submitted or gossiped transactions refused",
                &self.txs_refused,
            ),
            (
                "lantau_consensus_messages_refused_total",
                "counter",
                "Consensus messages refused (bad signature, unknown signer, stale, malformed)",
                &self.consensus_messages_refused,
            ),
            (
                "lantau_gossip_rejected_total",
                "counter",
                "Gossip messages rejected as misbehaviour (malformed, bad signature, non-validator signer); their senders are penalised",
                &self.gossip_rejected,
            ),
            (
                "lantau_verify_cache_hits_total",
                "counter",
                "Signature checks answered by the verified-once cache",
                &self.verify_cache_hits,
            ),
            (
                "lantau_verify_cache_misses_total",
                "counter",
                "Signature checks that had to verify",
                &self.verify_cache_misses,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let micros = self.last_commit_micros.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP lantau_last_block_commit_seconds Time to execute and persist the last block\n# TYPE lantau_last_block_commit_seconds gauge\nlantau_last_block_commit_seconds {:.6}",
            micros as f64 / 1e6
        );
        out
    }
}
