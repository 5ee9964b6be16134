//! Prometheus metrics, kept in atomics the node task updates and `/metrics` renders.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why consensus refused a message: the `reason` label of
/// `lantau_consensus_messages_refused_total` (`consensus::InputError::reason`, and
/// `undecodable` for bytes that are no message). `stale_height` is normal: votes for a height
/// that arrive after this validator decided it.
pub const REFUSAL_REASONS: [&str; 10] = [
    "bad_certificate",
    "bad_signature",
    "far_future_height",
    "far_future_round",
    "future_rounds_full",
    "malformed",
    "stale_height",
    "undecodable",
    "unknown_validator",
    "wrong_proposer",
];

#[derive(Default)]
pub struct Metrics {
    pub height: AtomicU64,
    pub round: AtomicU64,
    pub peers: AtomicU64,
    pub mempool_txs: AtomicU64,
    pub txs_committed: AtomicU64,
    pub blocks_committed: AtomicU64,
    pub txs_refused: AtomicU64,
    /// By [`REFUSAL_REASONS`].
    pub consensus_messages_refused: [AtomicU64; REFUSAL_REASONS.len()],
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

    /// Count a refused consensus message under its reason (one of [`REFUSAL_REASONS`]).
    pub fn consensus_refused(&self, reason: &str) {
        let i = REFUSAL_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or_else(|| {
                debug_assert!(false, "unlisted refusal reason {reason}");
                REFUSAL_REASONS.len() - 1
            });
        self.add(&self.consensus_messages_refused[i], 1);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 14] = [
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
        let name = "lantau_consensus_messages_refused_total";
        let _ = writeln!(
            out,
            "# HELP {name} Consensus messages refused, by reason (stale_height: late votes for a height already decided, normal)\n# TYPE {name} counter"
        );
        for (reason, value) in REFUSAL_REASONS.iter().zip(&self.consensus_messages_refused) {
            let _ = writeln!(
                out,
                "{name}{{reason=\"{reason}\"}} {}",
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

#[cfg(test)]
mod tests {
    use super::*;
    use consensus::InputError;
    use ledger::Keypair;

    #[test]
    fn refused_consensus_messages_are_counted_by_reason() {
        let m = Metrics::default();
        m.consensus_refused(InputError::StaleHeight { current: 2, got: 1 }.reason());
        m.consensus_refused(InputError::StaleHeight { current: 3, got: 2 }.reason());
        m.consensus_refused("undecodable");
        let text = m.render();
        let line = |reason: &str, n: u64| {
            format!("lantau_consensus_messages_refused_total{{reason=\"{reason}\"}} {n}")
        };
        assert!(text.contains(&line("stale_height", 2)), "{text}");
        assert!(text.contains(&line("undecodable", 1)), "{text}");
        assert!(text.contains(&line("bad_signature", 0)), "{text}");
        // Every reason consensus gives has its own label.
        let key = Keypair::from_seed("k").public();
        for e in [
            InputError::UnknownValidator(key),
            InputError::BadSignature(key),
            InputError::WrongProposer {
                height: 1,
                round: 0,
                expected: key,
                got: key,
            },
            InputError::BlockHeightMismatch {
                height: 1,
                block_height: 2,
            },
            InputError::FarFuture { current: 1, got: 9 },
            InputError::FarFutureRound { current: 1, got: 9 },
            InputError::FutureRoundsFull {
                validator: key,
                current: 0,
                got: 9,
                limit: 4,
            },
        ] {
            assert!(REFUSAL_REASONS.contains(&e.reason()), "{e}");
        }
    }
}
